//! Answers recorded from real Proxmox VE servers (PVE 6.0 to 9.0, collected by public
//! projects for their own tests; `../shared/data/real-pve/` beside the repository, never
//! copied into it) served as recorded, path by path, and read through the client's own
//! reads: no read fails and nothing is dropped — every node, guest, interface, storage,
//! task and snapshot the body lists is read (a field that cannot be read is kept out with a
//! warning, and the object stays). Bodies of paths Proxbox never reads are named in a table
//! with the read that covers what they hold. A new body is a new case: the cases are the
//! README's table of files, and each failure names its file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use proxbox_pve::{Credentials, GuestKind, PveClient, PveOptions, TaskFilter};
use pve_sim::recorded::{cases, recorded_dir, Case};
use serde_json::Value;

/// Paths whose bodies Proxbox never asks for, and what it reads instead.
const NOT_READ: [(&str, &str); 7] = [
    (
        "GET /nodes/{node}/qemu",
        "guests are listed by /cluster/resources",
    ),
    (
        "GET /nodes/{node}/lxc",
        "guests are listed by /cluster/resources",
    ),
    (
        "GET /nodes/{node}/status",
        "a node's state comes from /nodes and /cluster/status",
    ),
    (
        "GET /nodes/{node}/version",
        "the version is read once, from /version",
    ),
    (
        "GET /nodes/{node}/qemu/{vmid}/status/current",
        "a guest's status comes from /cluster/resources",
    ),
    (
        "GET /nodes/{node}/lxc/{vmid}/interfaces",
        "a container's addresses come from its config",
    ),
    (
        "GET /cluster/ha/status/current",
        "HA state is not synced yet",
    ),
];

/// A server that answers the one recorded body at its API path, and 404 elsewhere.
async fn replay(path: String, body: String) -> String {
    let answers = Arc::new(HashMap::from([(format!("/api2/json{path}"), body)]));
    let app = axum::Router::new()
        .fallback(
            |State(answers): State<Arc<HashMap<String, String>>>, uri: Uri| async move {
                match answers.get(uri.path()) {
                    Some(body) => (
                        StatusCode::OK,
                        [("content-type", "application/json;charset=UTF-8")],
                        body.clone(),
                    )
                        .into_response(),
                    None => (
                        StatusCode::NOT_FOUND,
                        format!("no recorded answer for {uri}"),
                    )
                        .into_response(),
                }
            },
        )
        .with_state(answers);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn client(url: &str) -> PveClient {
    let mut options = PveOptions::new(url, Credentials::token("root@pam!recorded", Some("-")));
    options.timeout = Duration::from_secs(5);
    options.attempts = 1;
    PveClient::new(options).unwrap()
}

/// The request path with the names this test gives the placeholders.
fn request_path(endpoint: &str) -> String {
    let path = endpoint
        .trim_start_matches("GET ")
        .split([' ', '?'])
        .next()
        .unwrap_or_default();
    path.replace("{node}", "pve1").replace("{vmid}", "100")
}

/// The entries of a list body (`data` of the envelope).
fn listed(body: &Value) -> Vec<&Value> {
    body["data"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The field of an entry, as text whether it came as a string or a number.
fn text(entry: &Value, field: &str) -> Option<String> {
    match &entry[field] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `case` through the client and checks what was read against the body; the read's
/// warnings are returned (fields kept out, each with its reason).
async fn read(case: &Case, body: &Value, pve: &PveClient) -> Result<Vec<String>, String> {
    let endpoint = case.endpoint.as_str();
    let entries = listed(body);
    let count = |what: &str, read: usize, expected: usize| {
        (read == expected)
            .then_some(())
            .ok_or(format!("{read} {what} read of the {expected} listed"))
    };
    let warnings = |w: &[proxbox_pve::FieldWarning]| w.iter().map(ToString::to_string).collect();
    let fail = |e: proxbox_pve::PveError| format!("the read failed: {e}");
    if endpoint.starts_with("GET /version") {
        let read = pve.version().await.map_err(fail)?;
        let expected = text(&body["data"], "version");
        if Some(&read.value.version) != expected.as_ref() {
            return Err(format!(
                "version {:?}, the body says {expected:?}",
                read.value.version
            ));
        }
        return Ok(warnings(&read.warnings));
    }
    if endpoint.starts_with("GET /cluster/status") {
        let read = pve.cluster_status().await.map_err(fail)?;
        count("status entries", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint == "GET /nodes" {
        let read = pve.nodes().await.map_err(fail)?;
        count("nodes", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint.starts_with("GET /cluster/resources") {
        let read = pve.cluster_resources().await.map_err(fail)?;
        count("resources", read.value.len(), entries.len())?;
        let guests = entries
            .iter()
            .filter(|e| matches!(e["type"].as_str(), Some("qemu" | "lxc")))
            .count();
        let read_guests = read
            .value
            .iter()
            .filter(|r| r.guest_kind().is_some() && r.vmid.is_some())
            .count();
        count("guests", read_guests, guests)?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint.ends_with("/config") {
        let kind = if endpoint.contains("/lxc/") {
            GuestKind::Lxc
        } else {
            GuestKind::Qemu
        };
        let read = pve.guest_config("pve1", kind, 100).await.map_err(fail)?;
        let data = &body["data"];
        let nets = data
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| {
                        k.strip_prefix("net")
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .count()
            })
            .unwrap_or(0);
        count("network devices", read.value.nets.len(), nets)?;
        let name = text(data, "name").or_else(|| text(data, "hostname"));
        if read.value.name != name {
            return Err(format!(
                "name {:?}, the body says {name:?}",
                read.value.name
            ));
        }
        // `template` arrives as 1, "1", true, or "" / 0 / absent for none.
        let template = matches!(&data["template"], Value::Bool(true))
            || text(data, "template").is_some_and(|t| t == "1");
        if read.value.template != template {
            return Err(format!(
                "template {}, the body says {:?}",
                read.value.template, data["template"]
            ));
        }
        return Ok(warnings(&read.warnings));
    }
    if endpoint.starts_with("GET /nodes/{node}/network") {
        let read = pve.node_network("pve1").await.map_err(fail)?;
        count("interfaces", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint == "GET /nodes/{node}/storage" {
        let read = pve.node_storages("pve1").await.map_err(fail)?;
        count("storages", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint.contains("/storage/") && endpoint.contains("/content") {
        let storage = request_path(endpoint)
            .split('/')
            .nth(4)
            .unwrap_or_default()
            .to_string();
        let read = pve
            .storage_content("pve1", &storage, None, None)
            .await
            .map_err(fail)?;
        count("volumes", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint.ends_with("/snapshot") {
        let read = pve
            .snapshots("pve1", GuestKind::Qemu, 100)
            .await
            .map_err(fail)?;
        // `current` is the guest's state now, listed beside its snapshots.
        let snapshots = entries.iter().filter(|e| e["name"] != "current").count();
        count("snapshots", read.value.len(), snapshots)?;
        return Ok(warnings(&read.warnings));
    }
    if endpoint.starts_with("GET /nodes/{node}/tasks") {
        let read = pve
            .node_tasks("pve1", TaskFilter::default(), 10_000)
            .await
            .map_err(fail)?;
        count("tasks", read.value.len(), entries.len())?;
        return Ok(warnings(&read.warnings));
    }
    Err(format!("no read of the client is matched to {endpoint:?}"))
}

#[tokio::test]
async fn every_recorded_answer_is_read_whole() {
    let dir = recorded_dir();
    let cases = cases(&dir);
    assert!(cases.len() >= 40, "the README lists {} bodies", cases.len());
    let mut failures = Vec::new();
    let mut read_cases = 0;
    for case in &cases {
        let endpoint = case.endpoint.trim_end_matches(" (extra)");
        let endpoint = endpoint.trim_end_matches(" (no type filter)");
        if let Some((_, instead)) = NOT_READ.iter().find(|(path, _)| *path == endpoint) {
            println!("{}: not read by Proxbox ({instead})", case.file);
            continue;
        }
        let text = std::fs::read_to_string(dir.join(&case.file))
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let body: Value = match serde_json::from_str(&text) {
            Ok(body) => body,
            Err(e) => {
                failures.push(format!("{}: not JSON: {e}", case.file));
                continue;
            }
        };
        let url = replay(request_path(endpoint), text).await;
        let case = Case {
            endpoint: endpoint.to_string(),
            ..case.clone()
        };
        match read(&case, &body, &client(&url)).await {
            Ok(warnings) => {
                read_cases += 1;
                println!("{}: read ({} fields skipped)", case.file, warnings.len());
                for warning in warnings {
                    println!("  {warning}");
                }
            }
            Err(why) => failures.push(format!("{} ({}): {why}", case.file, case.endpoint)),
        }
    }
    assert!(
        failures.is_empty(),
        "recorded answers not read whole:\n{}",
        failures.join("\n")
    );
    assert!(read_cases >= 30, "{read_cases} bodies read");
}
