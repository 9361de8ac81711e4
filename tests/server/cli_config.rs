//! `proxbox config apply` as an operator keeping Proxbox's configuration in git runs it: the
//! real binary, a `proxbox.toml` with secrets from the environment and a file, the
//! simulator and the real NetBox's address.

use crate::cli_sync::proxbox_with;
use crate::support::*;
use crate::sync_support::*;

struct Setup {
    dir: tempfile::TempDir,
    file: std::path::PathBuf,
    env: Vec<(String, String)>,
}

impl Setup {
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        proxbox_with(&self.dir, args, &env).await
    }

    fn write(&self, text: &str) {
        std::fs::write(&self.file, text).unwrap();
    }
}

fn declaration(sim: &pve_sim::RunningSim, second: bool, lab_b_timeout: u32) -> String {
    let (netbox_url, _) = netbox_env();
    let url = sim.http_url.clone().unwrap();
    let token_id = &sim.credentials().token_id;
    let mut text = format!(
        r#"# Proxbox as kept in git
[netbox]
url = "{netbox_url}"
token_env = "TEST_NETBOX_TOKEN"

[[proxmox]]
name = "lab-a"
url = "{url}"
token_id = "{token_id}"
token_secret_env = "TEST_PVE_SECRET"

[[schedule]]
endpoint = "lab-a"
stages = ["devices"]
every_minutes = 30

[settings]
workers = 3
"#
    );
    if second {
        text.push_str(&format!(
            r#"
[[proxmox]]
name = "lab-b"
url = "{url}"
token_id = "{token_id}"
token_secret_file = "pve-secret"
timeout_secs = {lab_b_timeout}
"#
        ));
    }
    text
}

async fn setup(sim: &pve_sim::RunningSim) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxbox.toml");
    let secret = sim.credentials().token_secret.clone();
    std::fs::write(dir.path().join("pve-secret"), format!("{secret}\n")).unwrap();
    let (_, token) = netbox_env();
    let env = vec![
        ("PROXBOX_CONFIG".to_string(), file.display().to_string()),
        ("TEST_NETBOX_TOKEN".to_string(), token),
        ("TEST_PVE_SECRET".to_string(), secret),
    ];
    Setup { dir, file, env }
}

#[tokio::test]
async fn a_declared_file_applied_twice_changes_nothing_the_second_time() {
    let sim = simulator(&unique("cfg"), 115, 1, 1).await;
    let setup = setup(&sim).await;
    setup.write(&declaration(&sim, true, 20));

    let (code, out, err) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 0, "{out}{err}");
    for expected in [
        "add the NetBox endpoint ",
        "add Proxmox endpoint \"lab-a\"",
        "add Proxmox endpoint \"lab-b\"",
        "add a schedule for lab-a (devices): every 30 minutes",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(expected)),
            "{expected:?} in:\n{out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("set workers: ") && l.ends_with("→ 3")),
        "{out}"
    );

    let (code, again, err) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        again,
        format!("{}: nothing to change\n", setup.file.display())
    );

    // Declared endpoints are the file's: listed as managed by it, refused to the CLI's remove.
    let (_, listing, _) = setup.run(&["endpoint", "list", "--json"]).await;
    let managed: Vec<serde_json::Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(managed.len(), 3, "{listing}");
    assert!(
        managed
            .iter()
            .all(|e| e["managed_by"] == setup.file.display().to_string()),
        "{listing}"
    );
    let (code, _, err) = setup.run(&["endpoint", "remove", "lab-a"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("declared in") && err.contains("proxbox config apply"),
        "{err}"
    );

    // A dry run says what would change and changes nothing.
    setup.write(&declaration(&sim, true, 25));
    let (code, plan, _) = setup.run(&["config", "apply", "--dry-run"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        plan,
        "would update Proxmox endpoint \"lab-b\": timeout_secs\n"
    );
    let (_, plan_again, _) = setup.run(&["config", "apply", "--dry-run"]).await;
    assert_eq!(plan_again, plan, "the dry run changed nothing");

    // An endpoint the file no longer declares goes; the other stays as it is.
    setup.write(&declaration(&sim, false, 25));
    let (code, out, _) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "remove Proxmox endpoint \"lab-b\" (no longer in the file)\n"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_secret_in_the_file_or_a_bad_field_is_refused_with_file_line_and_field() {
    let sim = simulator(&unique("cfgbad"), 116, 1, 1).await;
    let setup = setup(&sim).await;
    let secret = sim.credentials().token_secret.clone();
    let path = setup.file.display().to_string();

    let inline = declaration(&sim, false, 20).replace(
        "token_secret_env = \"TEST_PVE_SECRET\"",
        &format!("token_secret = \"{secret}\""),
    );
    setup.write(&inline);
    let (code, out, err) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains(&format!(
            "{path}:10: token_secret: a secret does not belong in the file"
        )),
        "{err}"
    );
    assert!(
        !err.contains(&secret),
        "the refusal does not repeat the secret: {err}"
    );

    setup.write(&declaration(&sim, false, 20).replace("every_minutes = 30", "every_minutes = 0"));
    let (code, _, err) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{path}:15: every_minutes: ")),
        "{err}"
    );

    let bad_url = declaration(&sim, false, 20).replace(&sim.http_url.clone().unwrap(), "ftp://pve");
    setup.write(&bad_url);
    let (code, _, err) = setup.run(&["config", "apply"]).await;
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{path}:8: url: ")), "{err}");

    // Nothing of a refused file was applied.
    let (_, listing, _) = setup.run(&["endpoint", "list"]).await;
    assert!(!listing.contains("lab-a"), "{listing}");
    sim.stop().await;
}

/// Instances that start on one PostgreSQL apply the same file at the same moment: each
/// start succeeds, and the file's endpoints and schedules exist once.
#[tokio::test]
async fn instances_applying_one_file_at_once_all_succeed() {
    use proxbox::server::services::declared;
    let test_db = TestDb::new(Backend::Postgres).await;
    let first = proxbox::server::infra::db::Db::connect(&test_db.url)
        .await
        .unwrap();
    let second = proxbox::server::infra::db::Db::connect(&test_db.url)
        .await
        .unwrap();
    let secrets = proxbox::server::infra::crypto::SecretBox::from_key_text(TEST_KEY).unwrap();
    let base = proxbox::server::services::settings::JobSettings::default();
    let env =
        |var: &str| (var == "SECRET").then(|| "11111111-2222-3333-4444-555555555555".to_string());
    // Several rounds, each adding endpoints, so that the two meet on an insert.
    for round in 0..6 {
        let mut text = String::new();
        for n in 0..=round {
            text.push_str(&format!(
                "[[proxmox]]\nname = \"lab-{n}\"\nurl = \"https://pve{n}.example.com:8006\"\n\
                 token_id = \"root@pam!proxbox\"\ntoken_secret_env = \"SECRET\"\n\n\
                 [[schedule]]\nendpoint = \"lab-{n}\"\nstages = [\"devices\"]\nevery_minutes = 30\n\n"
            ));
        }
        let Ok(file) = declared::read("proxbox.toml", &text, std::path::Path::new("."), &env)
        else {
            panic!("the file is refused:\n{text}")
        };
        let (a, b) = tokio::join!(
            declared::apply::apply(&first, &secrets, &base, &file, false),
            declared::apply::apply(&second, &secrets, &base, &file, false),
        );
        assert!(
            a.is_ok() && b.is_ok(),
            "round {round}: {:?} / {:?}",
            a.err(),
            b.err()
        );
        let endpoints = first.proxmox_endpoints().await.unwrap();
        assert_eq!(endpoints.len(), round + 1, "round {round}");
        assert_eq!(
            first.schedules().await.unwrap().len(),
            round + 1,
            "round {round}"
        );
    }
    first.close().await;
    second.close().await;
    test_db.drop_db().await;
}
