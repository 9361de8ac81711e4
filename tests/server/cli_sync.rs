//! `proxbox sync` as an operator runs it: the real binary, endpoints from its database,
//! the simulator and the real NetBox; its output and exit code.

use proxbox::server::infra::db::Db;

use crate::support::*;
use crate::sync_support::*;

/// A data directory whose database knows the simulator and the test NetBox.
pub(crate) async fn configured(sim: &pve_sim::RunningSim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proxbox.db").display());
    let db = Db::connect(&url).await.unwrap();
    store_endpoints(&db, sim, "lab").await;
    db.close().await;
    dir
}

/// `proxbox sync …`: exit code and what it printed on stderr.
async fn proxbox_sync(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = proxbox(dir, &[&["sync"], args].concat()).await;
    (code, stderr)
}

/// Runs the binary off the test's runtime thread, which must keep serving the simulator.
async fn proxbox(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String, String) {
    proxbox_with(dir, args, &[]).await
}

/// [`proxbox`] with more environment variables.
pub(crate) async fn proxbox_with(
    dir: &tempfile::TempDir,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"));
    command.envs(env.iter().copied());
    command
        .args(args)
        .env("PROXBOX_DATA_DIR", dir.path())
        .env("PROXBOX_SECRET_KEY", TEST_KEY)
        .env("PROXBOX_LOG", "warn")
        .env_remove("PROXBOX_DATABASE_URL");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn proxbox_schedule_sets_lists_and_removes_an_endpoint_schedule() {
    let sim = simulator(&unique("sched"), 84, 1, 1).await;
    let dir = configured(&sim).await;
    let (code, out, err) = proxbox(
        &dir,
        &[
            "schedule",
            "set",
            "lab",
            "--every-minutes",
            "30",
            "--stage",
            "vm-disks",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    // The stage's old name is an alias: the schedule holds its name now.
    assert!(out.contains("virtual-disks every 30 min"), "{out}");
    let (_, out, _) = proxbox(&dir, &["schedule", "list"]).await;
    assert!(
        out.contains("lab: virtual-disks every 30 minutes, enabled, last job none"),
        "{out}"
    );

    let (code, _, err) = proxbox(&dir, &["schedule", "set", "nope", "--every-minutes", "5"]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no Proxmox endpoint named \"nope\"; the endpoints are: lab"),
        "{err}"
    );
    let (code, _, err) = proxbox(
        &dir,
        &[
            "schedule",
            "set",
            "lab",
            "--every-minutes",
            "5",
            "--stage",
            "vms",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("unknown stage \"vms\""), "{err}");

    let (code, _, _) = proxbox(&dir, &["schedule", "delete", "lab"]).await;
    assert_eq!(code, 0);
    let (_, out, _) = proxbox(&dir, &["schedule", "list"]).await;
    assert!(out.trim().is_empty(), "{out}");
    sim.stop().await;
}

#[tokio::test]
async fn proxbox_sync_shows_each_stage_and_exits_by_the_outcome() {
    let (netbox, name, sim) = scenario("cli", 61, 1, 5).await;
    let dir = configured(&sim).await;

    let (code, text) = proxbox_sync(&dir, &["--stage", "virtual-machines"]).await;
    assert_eq!(code, 0, "{text}");
    for stage in ["devices", "virtual-machines"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(stage) && l.contains(" created, ")),
            "{stage} summary in:\n{text}"
        );
    }
    assert!(text.contains("Full update sync completed"), "{text}");

    // A bad stage name: told which ones exist, nothing run.
    let (code, text) = proxbox_sync(&dir, &["--stage", "vms"]).await;
    assert_eq!(code, 1);
    assert!(text.contains("virtual-machines"), "{text}");

    // Proxmox refuses the token: exit 1 with the category and what to do; no secret shown.
    sim.add_fault(pve_sim::Fault {
        path: "/cluster/resources".into(),
        kind: pve_sim::FaultKind::Unauthorized,
        times: None,
    })
    .await;
    let (code, text) = proxbox_sync(&dir, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error (authentication)") && text.contains("what to do:"),
        "{text}"
    );
    assert!(!text.contains(&sim.credentials().token_secret), "{text}");

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

/// The lines of `--output json`: each parses; the last is the result.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

#[tokio::test]
async fn proxbox_sync_output_json_is_one_object_per_event_then_the_result() {
    let (netbox, name, sim) = scenario("clijson", 113, 1, 3).await;
    let dir = configured(&sim).await;

    let (code, stdout, _) =
        proxbox(&dir, &["sync", "--stage", "devices", "--output", "json"]).await;
    assert_eq!(code, 0, "{stdout}");
    let lines = json_lines(&stdout);
    let (result, events) = lines.split_last().unwrap();
    assert_eq!(events[0]["event"], "discovery");
    assert!(
        events
            .iter()
            .all(|e| e["event"].is_string() && e["data"].is_object()),
        "{stdout}"
    );
    assert_eq!(events.last().unwrap()["event"], "complete");
    assert!(events
        .iter()
        .any(|e| e["event"] == "item_progress" && e["data"]["status"] == "created"));
    assert_eq!(result["result"]["exit_code"], 0);
    assert_eq!(result["result"]["ok"], true);
    assert!(
        result["result"]["stages"]["devices"]["created"]
            .as_u64()
            .unwrap()
            >= 1,
        "{result}"
    );

    // A failed run: the same shape, and the exit code in the result is the process's.
    sim.add_fault(pve_sim::Fault {
        path: "/cluster/resources".into(),
        kind: pve_sim::FaultKind::Unauthorized,
        times: None,
    })
    .await;
    let (code, stdout, _) = proxbox(&dir, &["sync", "--output", "json"]).await;
    assert_eq!(code, 1, "{stdout}");
    let lines = json_lines(&stdout);
    let result = &lines.last().unwrap()["result"];
    assert_eq!(result["exit_code"], 1);
    assert_eq!(result["ok"], false);
    assert_eq!(result["error"]["category"], "authentication", "{result}");
    assert!(lines.iter().any(|e| e["event"] == "error"), "{stdout}");
    assert!(!stdout.contains(&sim.credentials().token_secret));

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn proxbox_endpoint_adds_lists_tests_and_removes_without_showing_a_secret() {
    let (_, _, sim) = scenario("cliep", 114, 1, 1).await;
    let dir = configured(&sim).await;
    let url = sim.http_url.clone().unwrap();
    let secret = sim.credentials().token_secret.clone();
    let token_id = sim.credentials().token_id.clone();
    let add = |name: &'static str, url: String| {
        let token_id = token_id.clone();
        let secret = secret.clone();
        let dir = &dir;
        async move {
            proxbox_with(
                dir,
                &[
                    "endpoint",
                    "add",
                    "--name",
                    name,
                    "--url",
                    &url,
                    "--token-id",
                    &token_id,
                    "--secret-env",
                    "PVE_SECRET",
                ],
                &[("PVE_SECRET", &secret)],
            )
            .await
        }
    };

    let (code, out, err) = add("second", url.clone()).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("added Proxmox endpoint \"second\""), "{out}");

    let (code, table, _) = proxbox(&dir, &["endpoint", "list"]).await;
    assert_eq!(code, 0);
    assert!(
        table
            .lines()
            .any(|l| l.contains("second") && l.contains(&url) && l.contains(&token_id)),
        "{table}"
    );
    let (_, json, _) = proxbox(&dir, &["endpoint", "list", "--json"]).await;
    let second: serde_json::Value = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["name"] == "second")
        .expect("the added endpoint is listed");
    assert_eq!(second["has_secret"], true);
    for listing in [&table, &json] {
        assert!(
            !listing.contains(&secret),
            "no secret in the listing: {listing}"
        );
    }

    let (code, out, err) = proxbox(&dir, &["endpoint", "test", "second"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");

    // The form's checks, with its messages: a second endpoint of that name, a bad URL,
    // a secret nowhere to be found.
    let (code, _, err) = add("second", url.clone()).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("name: An endpoint named \"second\" already exists"),
        "{err}"
    );
    let (code, _, err) = add("third", "ftp://pve".into()).await;
    assert_eq!(code, 1);
    assert!(err.contains("url: "), "{err}");
    let (code, _, err) = proxbox(
        &dir,
        &[
            "endpoint",
            "add",
            "--name",
            "x",
            "--url",
            &url,
            "--token-id",
            &token_id,
            "--secret-env",
            "UNSET_VAR_FOR_TEST",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(
        err.contains("UNSET_VAR_FOR_TEST (--secret-env) is not set"),
        "{err}"
    );

    let (code, out, _) = proxbox(&dir, &["endpoint", "remove", "second"]).await;
    assert_eq!(code, 0, "{out}");
    let (_, table, _) = proxbox(&dir, &["endpoint", "list"]).await;
    assert!(!table.contains("second"), "{table}");
    let (code, _, err) = proxbox(&dir, &["endpoint", "remove", "second"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no Proxmox endpoint named \"second\"; the endpoints are: lab"),
        "{err}"
    );
    sim.stop().await;
}
