//! Coming from another tool, in a terminal: `proxbox sync --dry-run` previews the takeover
//! and the real run does what it listed; `proxbox import netbox-proxbox` makes Proxbox
//! endpoints of the plugin's, and refuses clearly where there is no plugin.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use proxbox::models::{NetboxEndpointInput, TakeoverReport};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;
use serde_json::{json, Value};

use crate::cli_sync::{configured, proxbox_with};
use crate::support::*;
use crate::sync_support::*;
use crate::takeover_fixtures::by_hand;

/// The `takeover` of the last line of `proxbox sync --output json`.
fn takeover_of(stdout: &str) -> TakeoverReport {
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    serde_json::from_value(last["result"]["takeover"].clone()).unwrap()
}

#[tokio::test]
async fn proxbox_sync_dry_run_previews_the_takeover_the_real_run_then_does() {
    let (netbox, name, sim) = scenario("clitk", 45, 1, 4).await;
    let c = sim.state.cluster.read().await.clone();
    let filled = by_hand(&netbox, &c).await;
    let dir = configured(&sim).await;

    let (code, _, text) = proxbox_with(&dir, &["sync", "--dry-run"], &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Takeover preview (a dry run: nothing was written"),
        "{text}"
    );
    assert!(text.contains("adopted by name in its cluster: "), "{text}");
    assert!(
        text.contains("adopted by MAC address on its VM: "),
        "{text}"
    );

    let (code, preview, err) =
        proxbox_with(&dir, &["sync", "--dry-run", "--output", "json"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let preview = takeover_of(&preview);
    // The oracle: the fill made one VM per guest, the cluster and a device per node.
    let vms = preview.kinds.get("qemu").map_or(0, |k| k.adopted)
        + preview.kinds.get("lxc").map_or(0, |k| k.adopted);
    assert_eq!(vms as usize, c.guests.len(), "{preview:?}");
    assert_eq!(preview.kinds["node"].adopted as usize, c.nodes.len());
    assert_eq!(preview.kinds["cluster"].adopted, 1);

    let (code, done, err) = proxbox_with(&dir, &["sync", "--output", "json"], &[]).await;
    assert_eq!(code, 0, "{err}");
    let done = takeover_of(&done);
    assert_eq!(
        preview.adoptions, done.adoptions,
        "the run adopted what the preview listed"
    );
    assert_eq!(preview.kinds, done.kinds);

    // Taken over, there is nothing left to take over.
    let (_, again, _) = proxbox_with(&dir, &["sync", "--output", "json"], &[]).await;
    assert!(!takeover_of(&again).took_over_anything());
    cleanup(&netbox, &name).await;
    for (path, id) in filled.others {
        let _ = netbox
            .request(reqwest::Method::DELETE, &format!("{path}{id}/"), &[], None)
            .await;
    }
    sim.stop().await;
}

/// The plugin's endpoint list as netbox-proxbox 0.0.15.post2 renders it
/// (`netbox_proxbox/api/serializers/endpoints.py:33-116`; `password` and `token_value` are
/// write-only, so never in it), served where NetBox serves plugin APIs. The plugin is not
/// on PyPI (only its 2021 predecessor is), so no NetBox of ours can run it: this stands in
/// for the one route the import reads, and records the token it was asked with.
async fn plugin_api(seen: Arc<Mutex<Vec<String>>>) -> String {
    async fn endpoints(
        State(seen): State<Arc<Mutex<Vec<String>>>>,
        headers: HeaderMap,
    ) -> Json<Value> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push(token);
        let row = |id: u64,
                   name: Value,
                   domain: Value,
                   address: Value,
                   port: u16,
                   token: &str,
                   verify: bool| {
            json!({
                "id": id, "url": format!("https://netbox.example.com/api/plugins/proxbox/endpoints/proxmox/{id}/"),
                "display": "x", "name": name, "ip_address": address, "domain": domain, "port": port,
                "mode": {"value": "cluster", "label": "Cluster"}, "environment": null, "version": "8.3.2",
                "repoid": "3e76eec2", "username": "root@pam", "token_name": token, "verify_ssl": verify,
                "timeout": null, "max_retries": null, "retry_backoff": null,
                "default_role_qemu": null, "default_role_lxc": null, "overwrite_vm_tags": null,
                "site": null, "tenant": null, "tags": [], "custom_fields": {},
                "created": "2026-05-16T19:40:38.123456Z", "last_updated": "2026-05-16T19:40:38.123456Z"
            })
        };
        let address = json!({"id": 42, "url": "https://netbox.example.com/api/ipam/ip-addresses/42/",
            "display_url": "https://netbox.example.com/ipam/ip-addresses/42/", "display": "10.0.0.10/24",
            "family": 4, "address": "10.0.0.10/24"});
        Json(
            json!({"count": 2, "next": null, "previous": null, "results": [
                row(1, json!("pve-lab"), json!("pve.example.com"), address.clone(), 8006, "proxbox", false),
                row(2, json!("pve-edge"), Value::Null, address, 8443, "", true),
            ]}),
        )
    }
    let app = Router::new()
        .route("/api/plugins/proxbox/endpoints/proxmox/", get(endpoints))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A data directory whose NetBox endpoint is `url`, with no Proxmox endpoint.
async fn with_netbox(url: &str, token: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("proxbox.db").display()
    ))
    .await
    .unwrap();
    let input = NetboxEndpointInput {
        url: url.into(),
        token: Some(token.into()),
        verify_tls: true,
        ca_pem: None,
        timeout_secs: 10,
    };
    db.save_netbox_endpoint(&input, &SecretBox::from_key_text(TEST_KEY).unwrap())
        .await
        .unwrap();
    db.close().await;
    dir
}

#[tokio::test]
async fn proxbox_import_netbox_proxbox_makes_endpoints_of_the_plugins() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = plugin_api(seen.clone()).await;
    let token = "0123456789abcdef0123456789abcdef01234567";
    let dir = with_netbox(&url, token).await;
    let secrets = [
        ("LAB_SECRET", "lab-token-secret"),
        ("EDGE_PASSWORD", "edge-password"),
    ];
    let args = [
        "import",
        "netbox-proxbox",
        "--secret-env",
        "pve-lab=LAB_SECRET",
        "--secret-env",
        "EDGE_PASSWORD",
    ];

    let (code, out, err) = proxbox_with(&dir, &[&args[..2], &["--dry-run"]].concat(), &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("would create Proxmox endpoint \"pve-lab\": https://pve.example.com:8006, API token root@pam!proxbox"), "{out}");
    let (_, list, _) = proxbox_with(&dir, &["endpoint", "list", "--json"], &[]).await;
    assert!(
        !list.contains("pve-lab"),
        "a dry run creates nothing: {list}"
    );

    let (code, out, err) = proxbox_with(&dir, &args, &secrets).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created Proxmox endpoint \"pve-lab\""),
        "{out}"
    );
    assert!(
        out.contains("created Proxmox endpoint \"pve-edge\""),
        "{out}"
    );
    assert!(
        seen.lock().unwrap().iter().all(|h| h.contains(token)),
        "read with Proxbox's NetBox token"
    );
    assert!(
        !out.contains("lab-token-secret") && !err.contains("edge-password"),
        "secrets are never printed"
    );

    let (_, list, _) = proxbox_with(&dir, &["endpoint", "list", "--json"], &[]).await;
    let rows: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lab = rows.iter().find(|r| r["name"] == "pve-lab").unwrap();
    assert_eq!(lab["url"], "https://pve.example.com:8006");
    assert_eq!(lab["token_id"], "root@pam!proxbox");
    assert_eq!(lab["verify_tls"], false);
    let edge = rows.iter().find(|r| r["name"] == "pve-edge").unwrap();
    assert_eq!(
        edge["url"], "https://10.0.0.10:8443",
        "no domain: its address"
    );
    assert_eq!(
        edge["username"], "root@pam",
        "no token name: a password login"
    );
    assert!(!list.contains("lab-token-secret") && !list.contains("edge-password"));

    // Again: what Proxbox has is left as it is.
    let (code, out, _) = proxbox_with(&dir, &args, &secrets).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("\"pve-lab\" exists already: left as it is"),
        "{out}"
    );

    // A secret that is not given skips its endpoint, and says how to give it.
    let fresh = with_netbox(&url, token).await;
    let (code, out, err) = proxbox_with(&fresh, &args[..4], &secrets).await;
    assert_ne!(code, 0);
    assert!(
        out.contains("skipped \"pve-edge\": no secret: give it with --secret-env pve-edge=VAR"),
        "{out}"
    );
    assert!(
        err.contains("1 of the plugin's endpoints were not imported"),
        "{err}"
    );
}

/// On a fresh Proxbox, the NetBox the plugin runs in is given on the command line: read
/// from, and, the plugin found, saved as Proxbox's NetBox endpoint.
#[tokio::test]
async fn proxbox_import_netbox_proxbox_on_a_fresh_proxbox_takes_the_plugins_netbox_too() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = plugin_api(seen.clone()).await;
    let token = "0123456789abcdef0123456789abcdef01234567";
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("NB_TOKEN", token),
        ("LAB_SECRET", "lab-token-secret"),
        ("EDGE_PASSWORD", "edge-password"),
    ];
    let args = [
        "import",
        "netbox-proxbox",
        "--netbox-url",
        &url,
        "--netbox-token-env",
        "NB_TOKEN",
        "--secret-env",
        "pve-lab=LAB_SECRET",
        "--secret-env",
        "EDGE_PASSWORD",
    ];
    let (code, out, err) = proxbox_with(&dir, &args, &env).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("saved NetBox endpoint {url} (Proxbox had none)")),
        "{out}"
    );
    assert!(
        out.contains("created Proxmox endpoint \"pve-lab\""),
        "{out}"
    );
    assert!(seen.lock().unwrap().iter().all(|h| h.contains(token)));
    let (_, list, _) = proxbox_with(&dir, &["endpoint", "list", "--json"], &[]).await;
    let rows: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let netbox = rows
        .iter()
        .find(|r| r["kind"] == "netbox")
        .expect("a NetBox endpoint");
    assert_eq!(
        netbox["url"].as_str().map(|u| u.trim_end_matches('/')),
        Some(url.as_str())
    );
    assert!(!list.contains(token), "the token is never listed");
}

#[tokio::test]
async fn proxbox_import_netbox_proxbox_refuses_a_netbox_without_the_plugin() {
    let (url, token) = netbox_env();
    // Given on the command line to a fresh Proxbox: refused, and nothing is saved.
    let fresh = tempfile::tempdir().unwrap();
    let args = [
        "import",
        "netbox-proxbox",
        "--netbox-url",
        &url,
        "--netbox-token-env",
        "NB_TOKEN",
    ];
    let (code, _, err) = proxbox_with(&fresh, &args, &[("NB_TOKEN", token.as_str())]).await;
    assert_ne!(code, 0);
    assert!(err.contains("has no netbox-proxbox plugin"), "{err}");
    let (_, list, _) = proxbox_with(&fresh, &["endpoint", "list", "--json"], &[]).await;
    assert!(list.trim().is_empty(), "nothing saved: {list}");

    let dir = with_netbox(&url, &token).await;
    let (code, out, err) = proxbox_with(
        &dir,
        &["import", "netbox-proxbox", "--secret-env", "X"],
        &[],
    )
    .await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("has no netbox-proxbox plugin") && err.contains("proxbox endpoint add"),
        "says why and what to do instead: {err}"
    );
    let (_, list, _) = proxbox_with(&dir, &["endpoint", "list", "--json"], &[]).await;
    assert!(
        !list.contains("\"kind\":\"proxmox\""),
        "nothing imported: {list}"
    );
}
