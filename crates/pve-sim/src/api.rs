//! The Proxmox VE API paths the simulator serves. Each payload follows the `returns`
//! schema of the path in the official API documentation
//! (https://pve.proxmox.com/pve-docs/api-viewer/, copy in shared/data/pve-api.json.gz),
//! with Proxmox's own JSON habits: booleans as 0/1, and strings where Proxmox sends strings.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::model::{Cluster, Guest, Kind, Shape};
use crate::SimState;

mod inventory;
mod sdn;
pub use inventory::CLUSTER_TASKS_PER_NODE;
mod shapes;
use inventory::*;

/// Proxmox's envelope: every answer is `{"data": …}`.
fn data(value: Value) -> Response {
    Json(json!({ "data": value })).into_response()
}

/// Proxmox's error answer: the status, and the message in the body (and reason phrase).
pub fn pve_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "data": null, "message": format!("{message}\n") })),
    )
        .into_response()
}

fn flag(b: bool) -> Value {
    json!(if b { 1 } else { 0 })
}

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/version", get(version))
        .route("/cluster/status", get(cluster_status))
        .route("/cluster/resources", get(cluster_resources))
        .route("/cluster/replication", get(replication))
        .route("/cluster/backup", get(backup_jobs))
        .route("/storage", get(storage_list))
        .route("/nodes", get(nodes))
        .route("/nodes/{node}/network", get(node_network))
        .route("/nodes/{node}/storage", get(node_storage))
        .route(
            "/nodes/{node}/storage/{storage}/content",
            get(storage_content),
        )
        .route("/nodes/{node}/tasks", get(node_tasks))
        .route("/cluster/tasks", get(inventory::cluster_tasks))
        .route("/cluster/sdn/zones", get(sdn::zones))
        .route("/cluster/sdn/vnets", get(sdn::vnets))
        .route("/cluster/sdn/vnets/{vnet}/subnets", get(sdn::subnets))
        .route("/cluster/ha/resources", get(sdn::ha_resources))
        .route("/cluster/ha/status/current", get(sdn::ha_status))
        .route("/nodes/{node}/{kind}", get(guest_list))
        .route("/nodes/{node}/{kind}/{vmid}/config", get(guest_config))
        .route("/nodes/{node}/{kind}/{vmid}/snapshot", get(guest_snapshots))
        .route("/nodes/{node}/qemu/{vmid}/agent/{command}", get(agent))
        .route("/access/permissions", get(access_permissions))
}

/// `GET /access/permissions` → `{path: {privilege: 1}}`: the token's own.
async fn access_permissions(State(sim): State<Arc<SimState>>) -> Response {
    let (privileges, major) = sim.access().await;
    data(privileges.answer(major))
}

/// `GET /version` → `{version, release, repoid}`.
async fn version(State(sim): State<Arc<SimState>>) -> Response {
    let cluster = sim.cluster.read().await;
    let release = cluster
        .version
        .rsplit_once('.')
        .map_or(cluster.version.clone(), |(r, _)| r.to_string());
    data(json!({ "version": cluster.version, "release": release, "repoid": "3ef14b9d" }))
}

/// `GET /cluster/status` → the cluster entry and one entry per node.
async fn cluster_status(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let mut out = vec![json!({
        "type": "cluster", "id": "cluster", "name": c.name, "nodes": c.nodes.len(),
        "quorate": 1, "version": 7
    })];
    for (i, node) in c.nodes.iter().enumerate() {
        out.push(json!({
            "type": "node", "id": format!("node/{}", node.name), "name": node.name, "ip": node.ip,
            "nodeid": i + 1, "online": flag(node.online), "local": flag(i == 0), "level": ""
        }));
    }
    data(Value::Array(out))
}

/// `GET /nodes` → `[{node, status, cpu, maxcpu, mem, maxmem, uptime, …}]`.
async fn nodes(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let out: Vec<Value> = c
        .nodes
        .iter()
        .map(|n| {
            shapes::node_entry(json!({
                "node": n.name, "status": if n.online { "online" } else { "offline" },
                "cpu": 0.042, "maxcpu": n.cpus, "mem": n.memory_bytes / 4,
                "maxmem": n.memory_bytes, "uptime": 864_000, "level": "",
                "ssl_fingerprint": "AB:CD:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC"
            }), &c.shapes)
        })
        .collect();
    data(Value::Array(out))
}

fn resource_of(g: &Guest) -> Value {
    let mut v = json!({
        "id": format!("{}/{}", g.kind.as_str(), g.vmid), "type": g.kind.as_str(), "vmid": g.vmid,
        "name": g.name, "node": g.node, "status": if g.running { "running" } else { "stopped" },
        "template": u8::from(g.template), "maxcpu": g.cores * g.sockets, "maxmem": g.memory_mib << 20, "maxdisk": g.disk_bytes(),
        "cpu": if g.running { 0.01 } else { 0.0 }, "mem": if g.running { (g.memory_mib << 20) / 3 } else { 0 },
        "disk": 0, "diskread": 0, "diskwrite": 0, "netin": 0, "netout": 0,
        "uptime": if g.running { 3600 } else { 0 }
    });
    if !g.tags.is_empty() {
        v["tags"] = json!(g.tags.join(";"));
    }
    if let Some(pool) = &g.pool {
        v["pool"] = json!(pool);
    }
    v
}

#[derive(Deserialize)]
struct ResourceQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// `GET /cluster/resources[?type=vm|node|storage]`.
async fn cluster_resources(
    State(sim): State<Arc<SimState>>,
    Query(q): Query<ResourceQuery>,
) -> Response {
    let (privileges, major) = sim.access().await;
    let c = sim.cluster.read().await;
    let want = |t: &str| q.kind.as_deref().is_none_or(|k| k == t);
    let mut out = Vec::with_capacity(c.guests.len() + c.nodes.len() * 3);
    // Proxmox leaves out, without a word, what the token may not audit.
    if want("vm") {
        out.extend(
            c.guests
                .values()
                .filter(|g| privileges.holds_any(&format!("/vms/{}", g.vmid), &["VM.Audit"], major))
                .map(resource_of),
        );
    }
    if want("node") {
        for n in &c.nodes {
            out.push(json!({
                "id": format!("node/{}", n.name), "type": "node", "node": n.name,
                "status": if n.online { "online" } else { "offline" }, "maxcpu": n.cpus, "maxmem": n.memory_bytes,
                "cpu": 0.05, "mem": n.memory_bytes / 4, "maxdisk": 100u64 << 30, "disk": 10u64 << 30, "uptime": 864_000,
                "level": "", "cgroup-mode": 2
            }));
        }
    }
    if want("storage") {
        for n in &c.nodes {
            let auditable = |s: &&crate::model::StorageSpec| {
                privileges.holds_any(&format!("/storage/{}", s.name), &["Datastore.Audit"], major)
            };
            for s in c.storages.iter().filter(|s| s.enabled).filter(auditable) {
                out.push(json!({
                    "id": format!("storage/{}/{}", n.name, s.name), "type": "storage", "node": n.name,
                    "storage": s.name, "plugintype": s.kind, "content": s.content, "shared": flag(s.shared),
                    "status": "available", "maxdisk": s.total, "disk": c.storage_used(s, &n.name)
                }));
            }
        }
    }
    data(Value::Array(out))
}

fn node_or_404(c: &Cluster, node: &str) -> Result<(), Response> {
    match c.node(node) {
        Some(_) => Ok(()),
        None => Err(pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("hostname lookup '{node}' failed - failed to get address info for: {node}"),
        )),
    }
}

/// `GET /nodes/{node}/network` → `[{iface, type, active, autostart, address, netmask, cidr, …}]`.
async fn node_network(State(sim): State<Arc<SimState>>, Path(node): Path<String>) -> Response {
    let c = sim.cluster.read().await;
    if let Err(e) = node_or_404(&c, &node) {
        return e;
    }
    let n = c.node(&node).expect("checked");
    let out: Vec<Value> = n
        .interfaces
        .iter()
        .map(|i| {
            let mut v = json!({
                "iface": i.iface, "type": i.kind, "active": flag(i.active), "autostart": flag(i.active),
                "families": if i.address6.is_some() { json!(["inet", "inet6"]) } else { json!(["inet"]) },
                "method": if i.address.is_some() { "static" } else { "manual" },
                "method6": if i.address6.is_some() { "static" } else { "manual" }, "priority": 3
            });
            if let Some(mtu) = i.mtu {
                v["mtu"] = json!(mtu);
            }
            if let Some(comments) = &i.comments {
                v["comments"] = json!(comments);
            }
            if let (Some(addr), Some(mask)) = (&i.address, &i.netmask) {
                let prefix: u32 = mask.split('.').map(|o| o.parse::<u8>().unwrap_or(0).count_ones()).sum();
                v["address"] = json!(addr);
                v["netmask"] = json!(mask);
                v["cidr"] = json!(format!("{addr}/{prefix}"));
            }
            if let Some(gw) = &i.gateway {
                v["gateway"] = json!(gw);
            }
            if let Some(bridge) = &i.ovs_bridge {
                v["ovs_bridge"] = json!(bridge);
            }
            if let Some(tag) = i.ovs_tag {
                v["ovs_tag"] = json!(tag);
            }
            if let Some(options) = &i.ovs_options {
                v["ovs_options"] = json!(options);
            }
            if let Some(a6) = &i.address6 {
                v["address6"] = json!(a6);
                v["netmask6"] = json!(64);
                v["cidr6"] = json!(format!("{a6}/64"));
            }
            match i.kind.as_str() {
                "bridge" => {
                    v["bridge_ports"] = json!(i.ports.clone().unwrap_or_default());
                }
                "bond" => {
                    v["slaves"] = json!(i.ports.clone().unwrap_or_default());
                    v["bond_mode"] = json!("802.3ad");
                    v["bond_xmit_hash_policy"] = json!("layer3+4");
                }
                "OVSBridge" => {
                    v["ovs_ports"] = json!(i.ports.clone().unwrap_or_default());
                }
                "OVSBond" => {
                    v["ovs_bonds"] = json!(i.ports.clone().unwrap_or_default());
                    v["bond_mode"] = json!("balance-slb");
                }
                "vlan" => {
                    v["vlan-id"] = json!(i.vlan_id.unwrap_or(0));
                    let raw = i
                        .raw_device
                        .clone()
                        .unwrap_or_else(|| i.iface.split('.').next().unwrap_or_default().into());
                    v["vlan-raw-device"] = json!(raw);
                }
                "OVSIntPort" => {}
                _ => {
                    v["exists"] = json!(1);
                }
            }
            v
        })
        .collect();
    let changes = format!(
        "--- /etc/network/interfaces\t2026-11-01 00:00:00\n+++ /etc/network/interfaces.new\t2026-11-01 00:05:00\n@@ -1 +1,2 @@\n # {node}\n+# pending edit\n"
    );
    Json(shapes::list_envelope(
        Value::Array(out),
        Some(("changes", json!(changes))),
        Shape::NetworkChanges,
        &c.shapes,
    ))
    .into_response()
}

async fn guest_or_error(
    sim: &SimState,
    node: &str,
    kind: &str,
    vmid: u64,
) -> Result<Guest, Response> {
    let Some(kind) = Kind::parse(kind) else {
        return Err(pve_error(
            StatusCode::NOT_IMPLEMENTED,
            &format!("Method 'GET /nodes/{node}/{kind}/{vmid}' not implemented"),
        ));
    };
    let c = sim.cluster.read().await;
    node_or_404(&c, node)?;
    match c.guests.get(&(kind, vmid)) {
        Some(g) if g.node == node => Ok(g.clone()),
        _ => {
            let dir = if kind == Kind::Qemu {
                "qemu-server"
            } else {
                "lxc"
            };
            Err(pve_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Configuration file 'nodes/{node}/{dir}/{vmid}.conf' does not exist"),
            ))
        }
    }
}

/// `GET /nodes/{node}/qemu` and `GET /nodes/{node}/lxc` → guests of that node.
async fn guest_list(
    State(sim): State<Arc<SimState>>,
    Path((node, kind)): Path<(String, String)>,
) -> Response {
    let Some(kind) = Kind::parse(&kind) else {
        return pve_error(
            StatusCode::NOT_IMPLEMENTED,
            &format!("Method 'GET /nodes/{node}/{kind}' not implemented"),
        );
    };
    let c = sim.cluster.read().await;
    if let Err(e) = node_or_404(&c, &node) {
        return e;
    }
    let out: Vec<Value> = c
        .guests
        .values()
        .filter(|g| g.kind == kind && g.node == node)
        .map(|g| {
            shapes::guest_entry(json!({
                "vmid": g.vmid, "name": g.name, "status": if g.running { "running" } else { "stopped" },
                "cpus": g.cores * g.sockets, "maxmem": g.memory_mib << 20, "maxdisk": g.disk_bytes(),
                "uptime": if g.running { 3600 } else { 0 }
            }), g, &c.shapes)
        })
        .collect();
    data(Value::Array(out))
}

/// The `config` object of a guest, as `GET /nodes/{node}/{qemu|lxc}/{vmid}/config` returns it.
pub fn config_of(g: &Guest) -> Value {
    let mut m = Map::new();
    m.insert("digest".into(), json!(format!("{:040x}", g.vmid * 7919)));
    m.insert("cores".into(), json!(g.cores));
    m.insert("ostype".into(), json!(g.ostype));
    m.insert("onboot".into(), flag(g.running));
    if g.template {
        m.insert("template".into(), json!(1));
    }
    if !g.tags.is_empty() {
        // Proxmox writes `;`, but configs edited by hand or by older tools use `,` or spaces.
        let separator = [";", ",", " "][(g.vmid % 3) as usize];
        m.insert("tags".into(), json!(g.tags.join(separator)));
    }
    if !g.description.is_empty() {
        m.insert("description".into(), json!(g.description));
    }
    match g.kind {
        Kind::Qemu => {
            m.insert("name".into(), json!(g.name));
            m.insert("sockets".into(), json!(g.sockets));
            // PVE ≥ 8.1 documents `memory` as a property string (`[current=]<MiB>`).
            m.insert("memory".into(), json!(g.memory_mib.to_string()));
            m.insert("scsihw".into(), json!("virtio-scsi-single"));
            m.insert("boot".into(), json!("order=scsi0;net0"));
            m.insert(
                "smbios1".into(),
                json!(format!("uuid=00000000-0000-4000-8000-{:012x}", g.vmid)),
            );
            m.insert(
                "vmgenid".into(),
                json!(format!("00000000-0000-4000-9000-{:012x}", g.vmid)),
            );
            m.insert("ide2".into(), json!("none,media=cdrom"));
            if g.agent {
                m.insert("agent".into(), json!("1,fstrim_cloned_disks=1"));
            }
            for (i, nic) in g.nics.iter().enumerate() {
                let mut value = format!("virtio={},bridge={},firewall=1", nic.mac, nic.bridge);
                if let Some(tag) = nic.tag {
                    value.push_str(&format!(",tag={tag}"));
                }
                m.insert(format!("net{i}"), json!(value));
            }
            for (i, d) in g.disks.iter().enumerate() {
                m.insert(
                    d.key.clone(),
                    json!(format!(
                        "{}:vm-{}-disk-{i},iothread=1,size={}G",
                        d.storage, g.vmid, d.size_gib
                    )),
                );
            }
        }
        Kind::Lxc => {
            m.insert("hostname".into(), json!(g.name));
            m.insert("memory".into(), json!(g.memory_mib));
            m.insert("swap".into(), json!(512));
            m.insert("arch".into(), json!("amd64"));
            m.insert("unprivileged".into(), json!(1));
            for (i, nic) in g.nics.iter().enumerate() {
                let mut value = format!(
                    "name=eth{i},bridge={},firewall=1,hwaddr={},type=veth",
                    nic.bridge, nic.mac
                );
                match &nic.ip {
                    Some(ip) => value.push_str(&format!(",ip={ip}")),
                    None => value.push_str(",ip=dhcp"),
                }
                if let Some(ip6) = &nic.ip6 {
                    value.push_str(&format!(",ip6={ip6}"));
                }
                if let Some(tag) = nic.tag {
                    value.push_str(&format!(",tag={tag}"));
                }
                m.insert(format!("net{i}"), json!(value));
            }
            for (i, d) in g.disks.iter().enumerate() {
                let mut value =
                    format!("{}:vm-{}-disk-{i},size={}G", d.storage, g.vmid, d.size_gib);
                if d.key.starts_with("mp") {
                    value = format!("{value},mp=/srv/data{i}");
                }
                m.insert(d.key.clone(), json!(value));
            }
        }
    }
    for (key, value) in &g.extra_config {
        m.insert(key.clone(), json!(value));
    }
    Value::Object(m)
}

#[derive(Deserialize)]
struct GuestPath {
    node: String,
    kind: String,
    vmid: u64,
}

/// `GET /nodes/{node}/{qemu|lxc}/{vmid}/config`.
async fn guest_config(State(sim): State<Arc<SimState>>, Path(p): Path<GuestPath>) -> Response {
    match guest_or_error(&sim, &p.node, &p.kind, p.vmid).await {
        Ok(g) => {
            let shapes = sim.cluster.read().await.shapes.clone();
            data(shapes::config(config_of(&g), &g, &shapes))
        }
        Err(e) => e,
    }
}

/// `GET /nodes/{node}/qemu/{vmid}/agent/{network-get-interfaces|get-host-name|get-osinfo}`: answers
/// like the guest agent when it is configured and the VM runs, else Proxmox's 500.
async fn agent(
    State(sim): State<Arc<SimState>>,
    Path((node, vmid, command)): Path<(String, u64, String)>,
) -> Response {
    let g = match guest_or_error(&sim, &node, "qemu", vmid).await {
        Ok(g) => g,
        Err(e) => return e,
    };
    if !g.agent {
        return pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("No QEMU guest agent configured for VM {vmid}"),
        );
    }
    if !g.running {
        return pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("VM {vmid} is not running"),
        );
    }
    match command.as_str() {
        "network-get-interfaces" => {
            let mut result = vec![json!({
                "name": "lo", "hardware-address": "00:00:00:00:00:00",
                "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                                 {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}],
                "statistics": {"rx-bytes": 0, "tx-bytes": 0}
            })];
            for (i, nic) in g.nics.iter().enumerate() {
                let ips: Vec<Value> = g
                    .agent_ips
                    .get(i)
                    .into_iter()
                    .flatten()
                    .filter_map(|cidr| cidr.split_once('/'))
                    .map(|(ip, prefix)| {
                        json!({"ip-address": ip, "ip-address-type": if ip.contains(':') { "ipv6" } else { "ipv4" },
                               "prefix": prefix.parse::<u8>().unwrap_or(24)})
                    })
                    .collect();
                result.push(json!({
                    "name": format!("ens{}", 18 + i), "hardware-address": nic.mac.to_ascii_lowercase(),
                    "ip-addresses": ips, "statistics": {"rx-bytes": 1024, "tx-bytes": 2048}
                }));
            }
            data(json!({ "result": result }))
        }
        "get-host-name" => {
            data(json!({ "result": { "host-name": g.host_name.as_deref().unwrap_or(&g.name) } }))
        }
        "get-osinfo" => data(json!({
            "result": g.agent_os().unwrap_or_else(|| json!({
                "error": {"class": "CommandNotFound", "desc": "The command guest-get-osinfo has not been found"}
            }))
        })),
        other => pve_error(
            StatusCode::NOT_IMPLEMENTED,
            &format!("Method 'GET /nodes/{node}/qemu/{vmid}/agent/{other}' not implemented"),
        ),
    }
}
