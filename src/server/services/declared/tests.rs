use std::path::Path;

use super::*;
use crate::server::infra::db::endpoints::ProxmoxEndpointRow;

const FILE: &str = r#"# Proxbox, as kept in git
[netbox]
url = "https://netbox.example.com"
token_env = "NETBOX_TOKEN"

[[proxmox]]
name = "lab"
url = "https://pve1.example.com:8006"
token_id = "root@pam!proxbox"
token_secret_env = "LAB_SECRET"

[[proxmox]]
name = "edge"
url = "https://pve9.example.com:8006"
username = "sync@pve"
password_env = "EDGE_PASSWORD"
verify_tls = false

[[schedule]]
endpoint = "lab"
stages = ["devices"]
every_minutes = 30

[settings]
workers = 3
"#;

fn env(var: &str) -> Option<String> {
    match var {
        "NETBOX_TOKEN" => Some("0123456789abcdef0123456789abcdef01234567".into()),
        "LAB_SECRET" => Some("11111111-2222-3333-4444-555555555555".into()),
        "EDGE_PASSWORD" => Some("edge password".into()),
        _ => None,
    }
}

fn read_text(text: &str) -> Result<Declared, Refused> {
    read("proxbox.toml", text, Path::new("."), &env)
}

/// The refusal of `text` (a `Declared` holds secrets: it has no `Debug` to unwrap with).
fn refusal_of(text: &str) -> Refused {
    match read_text(text) {
        Err(refused) => refused,
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

#[test]
fn a_file_declares_endpoints_a_schedule_and_settings_with_secrets_from_the_environment() {
    let Ok(declared) = read_text(FILE) else {
        panic!("the example is refused: {}", refusal_of(FILE));
    };
    assert_eq!(declared.proxmox.len(), 2);
    assert_eq!(declared.proxmox[0].name, "lab");
    assert!(matches!(
        &declared.proxmox[0].credentials,
        crate::models::ProxmoxCredentials::Token { secret: Some(s), .. } if s.starts_with("1111")
    ));
    assert!(matches!(
        &declared.proxmox[1].credentials,
        crate::models::ProxmoxCredentials::Password { username, password: Some(_) } if username == "sync@pve"
    ));
    assert!(!declared.proxmox[1].verify_tls);
    assert_eq!(declared.schedules[0].stages, "devices");
    assert_eq!(declared.settings["workers"], "3");
    assert_eq!(declared.setting_lines["workers"], 25);
    assert!(declared.netbox.unwrap().token.is_some());
}

#[test]
fn a_secret_written_in_the_file_is_refused_at_its_line() {
    let text = FILE.replace(
        "token_secret_env = \"LAB_SECRET\"",
        "token_secret = \"11111111-2222-3333-4444-555555555555\"",
    );
    let refused = refusal_of(&text);
    assert_eq!(refused.refusals.len(), 1, "{refused}");
    let message = refused.to_string();
    assert!(
        message.starts_with("proxbox.toml:10: token_secret: a secret does not belong in the file"),
        "{message}"
    );
    assert!(message.contains("token_secret_env"), "{message}");
    assert!(
        !message.contains("11111111"),
        "the refusal does not repeat the secret: {message}"
    );
}

#[test]
fn bad_fields_name_the_file_line_and_field_with_the_forms_messages() {
    let text = FILE
        .replace("https://pve9.example.com:8006", "ftp://pve9")
        .replace("every_minutes = 30", "cron = \"61 * * * *\"")
        .replace("EDGE_PASSWORD", "NOT_SET_ANYWHERE");
    let refused = refusal_of(&text);
    let lines: Vec<(usize, &str)> = refused
        .refusals
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![(14, "url"), (16, "password_env"), (22, "cron")],
        "{refused}"
    );
    assert!(
        refused.to_string().contains("NOT_SET_ANYWHERE is not set"),
        "{refused}"
    );
}

#[test]
fn an_unknown_key_or_a_schedule_of_an_undeclared_endpoint_is_refused() {
    let refused = refusal_of(&FILE.replace("verify_tls = false", "verify_tsl = false"));
    assert_eq!(refused.refusals[0].line, 17, "{refused}");
    assert!(refused.to_string().contains("verify_tsl"), "{refused}");

    let refused = refusal_of(&FILE.replace("endpoint = \"lab\"", "endpoint = \"lba\""));
    assert_eq!(
        (refused.refusals[0].line, refused.refusals[0].field.as_str()),
        (20, "endpoint"),
        "{refused}"
    );
}

#[test]
fn key_lines_stay_inside_their_table() {
    let text = "[[proxmox]]\nname = \"a\"\n\n[[proxmox]]\nname = \"b\"\nurl = \"x\"\n";
    let second = text.find("[[proxmox]]\nname = \"b\"").unwrap();
    assert_eq!(line_of_key(text, second..text.len(), "url"), 6);
    assert_eq!(
        line_of_key(text, 0..second, "url"),
        1,
        "not the next table's url"
    );
}

#[test]
fn the_example_shipped_in_the_release_archive_is_accepted() {
    let text = include_str!("../../../../dist/proxbox.toml");
    let env = |var: &str| match var {
        "NETBOX_TOKEN" => Some("0123456789abcdef0123456789abcdef01234567".to_string()),
        "PVE_LAB_SECRET" => Some("11111111-2222-3333-4444-555555555555".to_string()),
        _ => None,
    };
    match read("dist/proxbox.toml", text, Path::new("dist"), &env) {
        Ok(declared) => {
            assert_eq!(declared.proxmox.len(), 1);
            assert_eq!(declared.schedules.len(), 1);
            assert!(declared.netbox.is_some());
        }
        Err(refused) => panic!("{refused}"),
    }
}

/// A stored Proxmox endpoint as the plan reads it.
fn stored_endpoint(
    id: i64,
    name: &str,
    url: &str,
    managed_by: Option<&str>,
) -> (ProxmoxEndpointRow, Option<String>) {
    let row = ProxmoxEndpointRow {
        id,
        name: name.into(),
        url: url.into(),
        auth_kind: "token".into(),
        token_id: "root@pam!proxbox".into(),
        token_secret_enc: None,
        username: String::new(),
        password_enc: None,
        verify_tls: 1,
        ca_pem: String::new(),
        timeout_secs: 30,
        enabled: 1,
        watch: 1,
        managed_by: managed_by.map(str::to_string),
    };
    (row, Some("11111111-2222-3333-4444-555555555555".into()))
}

fn current_with(proxmox: Vec<(ProxmoxEndpointRow, Option<String>)>) -> plan::Current {
    plan::Current {
        proxmox,
        netbox: None,
        schedules: Vec::new(),
        settings: crate::server::services::settings::JobSettings::default(),
    }
}

/// A file that declares one Proxmox endpoint, at pve1, under `name`.
fn one_endpoint_named(name: &str) -> Declared {
    let text = format!(
        "[[proxmox]]\nname = \"{name}\"\nurl = \"https://pve1.example.com:8006\"\n\
         token_id = \"root@pam!proxbox\"\ntoken_secret_env = \"LAB_SECRET\"\n"
    );
    match read_text(&text) {
        Ok(declared) => declared,
        Err(_) => panic!("{}", refusal_of(&text)),
    }
}

#[test]
fn only_what_this_file_declared_is_removed() {
    let declared = one_endpoint_named("lab");
    let current = current_with(vec![
        stored_endpoint(
            1,
            "lab",
            "https://pve1.example.com:8006",
            Some("proxbox.toml"),
        ),
        stored_endpoint(
            2,
            "gone",
            "https://pve2.example.com:8006",
            Some("proxbox.toml"),
        ),
        stored_endpoint(
            3,
            "theirs",
            "https://pve3.example.com:8006",
            Some("/etc/other.toml"),
        ),
        stored_endpoint(4, "by-hand", "https://pve4.example.com:8006", None),
    ]);
    let Ok(changes) = plan::plan(&declared, &current) else {
        panic!("refused")
    };
    let lines: Vec<String> = changes.iter().map(plan::Change::describe).collect();
    assert_eq!(
        lines,
        ["remove Proxmox endpoint \"gone\" (no longer in the file)"],
        "another file's endpoint and one made by hand stay"
    );
}

#[test]
fn a_rename_is_said_to_be_a_removal_and_an_add() {
    let declared = one_endpoint_named("lab-renamed");
    let current = current_with(vec![stored_endpoint(
        1,
        "lab",
        "https://pve1.example.com:8006",
        Some("proxbox.toml"),
    )]);
    let Ok(changes) = plan::plan(&declared, &current) else {
        panic!("refused")
    };
    let lines: Vec<String> = changes.iter().map(plan::Change::describe).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], "add Proxmox endpoint \"lab-renamed\"");
    assert!(
        lines[1].starts_with("remove Proxmox endpoint \"lab\"")
            && lines[1].contains("a rename is a removal and an add")
            && lines[1].contains("identity map, inventory and schedules"),
        "{}",
        lines[1]
    );
}

#[test]
fn an_endpoint_is_followed_live_unless_the_file_says_not() {
    let text = FILE.replace(
        "verify_tls = false\n",
        "verify_tls = false\nwatch = false\n",
    );
    let Ok(declared) = read_text(&text) else {
        panic!("refused: {}", refusal_of(&text));
    };
    assert!(declared.proxmox[0].watch, "lab says nothing: followed");
    assert!(!declared.proxmox[1].watch, "edge says watch = false");
}
