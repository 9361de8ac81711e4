//! Every payload the simulator serves, checked against the `returns` schema of its path in
//! the official Proxmox VE API documentation (schema/pve-api.json.gz): no field the
//! documentation does not list, every required field present, every value of its type
//! (booleans as 0/1, as Proxmox's JSON has them).

use std::io::Read;

use proxbox_pve::{Credentials, GuestKind, PveClient, PveOptions};
use pve_sim::{start, ClusterSpec, SimOptions};
use serde_json::Value;

fn schema() -> Value {
    let file = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/pve-api.json.gz"
    ))
    .unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The schema property for `key`, including indexed ones such as `net[n]`.
fn property<'a>(props: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    props.get(key).or_else(|| {
        let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
        (stem.len() < key.len())
            .then(|| props.get(&format!("{stem}[n]")))
            .flatten()
    })
}

fn check(schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let expected = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let ok = match expected {
        "array" => value.is_array(),
        "object" => value.is_object(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean() || matches!(value.as_i64(), Some(0 | 1)),
        "null" => value.is_null(),
        _ => true,
    };
    if !ok {
        problems.push(format!("{at}: expected {expected}, got {value}"));
        return;
    }
    match (expected, value) {
        ("array", Value::Array(items)) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{at}[{i}]"), problems);
                }
            }
        }
        ("object", Value::Object(object)) => {
            // Rows the schema leaves open (`properties: {}`, as for SDN subnets) are
            // checked for their type only.
            let Some(props) = schema
                .get("properties")
                .and_then(Value::as_object)
                .filter(|props| !props.is_empty())
            else {
                return;
            };
            for (key, v) in object {
                match property(props, key) {
                    Some(p) => check(p, v, &format!("{at}.{key}"), problems),
                    None => problems.push(format!("{at}.{key}: not in the documented returns")),
                }
            }
            for (key, p) in props {
                let optional = p
                    .get("optional")
                    .is_some_and(|o| o.as_i64() == Some(1) || o.as_bool() == Some(true));
                if !optional && !key.contains("[n]") && !object.contains_key(key) {
                    problems.push(format!("{at}.{key}: required but missing"));
                }
            }
        }
        _ => {}
    }
}

/// (schema path, concrete path, query) of one request.
type Served = (String, String, Vec<(&'static str, String)>);

#[tokio::test]
async fn every_served_payload_follows_the_official_schema() {
    let schema = schema();
    let sim = start(SimOptions::local(ClusterSpec {
        seed: 5,
        name: "schema".into(),
        index: 0,
        nodes: 2,
        guests: 30,
        history: Default::default(),
    }))
    .await
    .unwrap();
    // The real servers' shapes the generated cluster lacks, served too (but those that
    // break the schema on purpose, which `client.rs` reads).
    for shape in pve_sim::Shape::ALL
        .into_iter()
        .filter(|s| s.follows_schema())
    {
        sim.state.cluster.write().await.turn_on(shape);
    }
    let c = sim.credentials();
    let pve = PveClient::new(PveOptions::new(
        sim.http_url.clone().unwrap(),
        Credentials::token(&c.token_id, Some(&c.token_secret)),
    ))
    .unwrap();

    let node = pve.nodes().await.unwrap().value[0].node.clone();
    let guests = pve.guests().await.unwrap().value;
    let mut served: Vec<Served> = vec![
        ("/version".into(), "/version".into(), vec![]),
        ("/cluster/status".into(), "/cluster/status".into(), vec![]),
        (
            "/cluster/resources".into(),
            "/cluster/resources".into(),
            vec![],
        ),
        (
            "/cluster/resources".into(),
            "/cluster/resources".into(),
            vec![("type", "vm".into())],
        ),
        (
            "/cluster/replication".into(),
            "/cluster/replication".into(),
            vec![],
        ),
        ("/cluster/backup".into(), "/cluster/backup".into(), vec![]),
        // The schema documents only `upid` for the cluster's task list; its rows are the
        // nodes' task index rows, which `/nodes/{node}/tasks` documents field by field.
        (
            "/nodes/{node}/tasks".into(),
            "/cluster/tasks".into(),
            vec![],
        ),
        ("/storage".into(), "/storage".into(), vec![]),
        (
            "/cluster/sdn/zones".into(),
            "/cluster/sdn/zones".into(),
            vec![],
        ),
        (
            "/cluster/sdn/vnets".into(),
            "/cluster/sdn/vnets".into(),
            vec![],
        ),
        (
            "/cluster/sdn/vnets/{vnet}/subnets".into(),
            "/cluster/sdn/vnets/vnet10/subnets".into(),
            vec![],
        ),
        (
            "/cluster/ha/status/current".into(),
            "/cluster/ha/status/current".into(),
            vec![],
        ),
        ("/nodes".into(), "/nodes".into(), vec![]),
        (
            "/access/permissions".into(),
            "/access/permissions".into(),
            vec![],
        ),
        (
            "/nodes/{node}/network".into(),
            format!("/nodes/{node}/network"),
            vec![],
        ),
        (
            "/nodes/{node}/storage".into(),
            format!("/nodes/{node}/storage"),
            vec![],
        ),
        (
            "/nodes/{node}/storage/{storage}/content".into(),
            format!("/nodes/{node}/storage/local/content"),
            vec![],
        ),
        (
            "/nodes/{node}/storage/{storage}/content".into(),
            format!("/nodes/{node}/storage/pbs-backup/content"),
            vec![("content", "backup".into())],
        ),
        (
            "/nodes/{node}/storage/{storage}/content".into(),
            format!("/nodes/{node}/storage/backup-nfs/content"),
            vec![("content", "backup".into())],
        ),
        (
            "/nodes/{node}/tasks".into(),
            format!("/nodes/{node}/tasks"),
            vec![("since", "0".into()), ("limit", "5000".into())],
        ),
        (
            "/nodes/{node}/storage/{storage}/content".into(),
            format!("/nodes/{node}/storage/local-lvm/content"),
            vec![],
        ),
        (
            "/nodes/{node}/tasks".into(),
            format!("/nodes/{node}/tasks"),
            vec![("limit", "1000".into())],
        ),
        (
            "/nodes/{node}/qemu".into(),
            format!("/nodes/{node}/qemu"),
            vec![],
        ),
        (
            "/nodes/{node}/lxc".into(),
            format!("/nodes/{node}/lxc"),
            vec![],
        ),
    ];
    for g in &guests {
        let (n, kind, vmid) = (
            g.node.clone().unwrap(),
            g.guest_kind().unwrap().as_str(),
            g.vmid.unwrap(),
        );
        // Guest 103 deliberately carries config keys no Proxmox version documents.
        if vmid != 103 {
            served.push((
                format!("/nodes/{{node}}/{kind}/{{vmid}}/config"),
                format!("/nodes/{n}/{kind}/{vmid}/config"),
                vec![],
            ));
        }
        served.push((
            format!("/nodes/{{node}}/{kind}/{{vmid}}/snapshot"),
            format!("/nodes/{n}/{kind}/{vmid}/snapshot"),
            vec![],
        ));
    }

    let mut problems = Vec::new();
    for (template, path, query) in &served {
        let returns = &schema["paths"][template.as_str()]["GET"]["returns"];
        assert!(!returns.is_null(), "{template} is not in the schema");
        let data = pve
            .get_data(path, query)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        check(returns, &data, path, &mut problems);
    }
    let with_agent: Vec<u64> = sim
        .state
        .cluster
        .read()
        .await
        .guests
        .values()
        .filter(|g| g.agent && g.running)
        .map(|g| g.vmid)
        .collect();
    let agent_guest = guests
        .iter()
        .find(|g| g.guest_kind() == Some(GuestKind::Qemu) && with_agent.contains(&g.vmid.unwrap()));
    let g = agent_guest.expect("a running VM with the guest agent");
    {
        for command in ["network-get-interfaces", "get-host-name", "get-osinfo"] {
            let template = format!("/nodes/{{node}}/qemu/{{vmid}}/agent/{command}");
            let path = format!(
                "/nodes/{}/qemu/{}/agent/{command}",
                g.node.as_deref().unwrap(),
                g.vmid.unwrap()
            );
            let returns = &schema["paths"][template.as_str()]["GET"]["returns"];
            assert!(!returns.is_null(), "{template} GET is not in the schema");
            let data = pve.agent_data(&path).await.unwrap();
            check(returns, &data, &path, &mut problems);
        }
    }
    // The schema documents only `sid` for the HA resource list; each row is the resource
    // that `/cluster/ha/resources/{sid}` documents field by field.
    let one = &schema["paths"]["/cluster/ha/resources/{sid}"]["GET"]["returns"];
    let resources = pve.get_data("/cluster/ha/resources", &[]).await.unwrap();
    let rows = resources.as_array().expect("a list");
    assert!(!rows.is_empty(), "the cluster has HA resources");
    for (i, row) in rows.iter().enumerate() {
        check(
            one,
            row,
            &format!("/cluster/ha/resources[{i}]"),
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    sim.stop().await;
}
