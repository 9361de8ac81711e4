//! The SDN and HA paths: zones, VNets and their subnets (shapes from the `returns` of each
//! path in the official schema; a subnet's, which the schema leaves open, as real servers
//! answer it: `mask` a string, `dhcp-range` a list of `{start-address, end-address}`), and
//! the HA resources and manager status. A zone, and its VNets and subnets, are listed only
//! to a token with `SDN.Audit` on it, as Proxmox filters them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{data, flag, pve_error};
use crate::SimState;

/// A fixed digest, as Proxmox adds one to every configuration list.
const DIGEST: &str = "0f2a1c6d3b5e7a9c1e3f5a7c9e1b3d5f7a9c1e3f";

#[derive(Deserialize)]
pub(super) struct ZoneFilter {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Which zones the token may see (read once per answer, not once per zone).
async fn auditor(sim: &SimState) -> impl Fn(&str) -> bool {
    let (privileges, major) = sim.access().await;
    move |zone: &str| privileges.holds_any(&format!("/sdn/zones/{zone}"), &["SDN.Audit"], major)
}

/// `GET /cluster/sdn/zones[?type=]` → `[{zone, type, bridge?, tag?, controller?, vrf-vxlan?, peers?, ipam?, digest}]`.
pub(super) async fn zones(
    State(sim): State<Arc<SimState>>,
    Query(filter): Query<ZoneFilter>,
) -> Response {
    let audits = auditor(&sim).await;
    let c = sim.cluster.read().await;
    let mut out = Vec::new();
    for z in &c.sdn.zones {
        if filter.kind.as_ref().is_some_and(|k| *k != z.kind) || !audits(&z.zone) {
            continue;
        }
        let mut v = json!({"zone": z.zone, "type": z.kind, "digest": DIGEST});
        if let Some(bridge) = &z.bridge {
            v["bridge"] = json!(bridge);
        }
        if let Some(tag) = z.tag {
            v["tag"] = json!(tag);
        }
        if let Some(controller) = &z.controller {
            v["controller"] = json!(controller);
        }
        if let Some(vni) = z.vrf_vxlan {
            v["vrf-vxlan"] = json!(vni);
        }
        if let Some(peers) = &z.peers {
            v["peers"] = json!(peers);
        }
        if let Some(ipam) = &z.ipam {
            v["ipam"] = json!(ipam);
        }
        out.push(v);
    }
    data(Value::Array(out))
}

/// `GET /cluster/sdn/vnets` → `[{vnet, zone, type: "vnet", tag?, alias?, digest}]` (no `tag`
/// on a VNet of a simple zone).
pub(super) async fn vnets(State(sim): State<Arc<SimState>>) -> Response {
    let audits = auditor(&sim).await;
    let c = sim.cluster.read().await;
    let mut out = Vec::new();
    for v in &c.sdn.vnets {
        if !audits(&v.zone) {
            continue;
        }
        let mut row = json!({"vnet": v.vnet, "zone": v.zone, "type": "vnet", "digest": DIGEST});
        if let Some(tag) = v.tag {
            row["tag"] = json!(tag);
        }
        if let Some(alias) = &v.alias {
            row["alias"] = json!(alias);
        }
        out.push(row);
    }
    data(Value::Array(out))
}

/// `GET /cluster/sdn/vnets/{vnet}/subnets` → `[{subnet, cidr, network, mask, zone, vnet,
/// type: "subnet", gateway?, snat?, dhcp-range, digest}]`.
pub(super) async fn subnets(
    State(sim): State<Arc<SimState>>,
    Path(vnet): Path<String>,
) -> Response {
    let audits = auditor(&sim).await;
    let c = sim.cluster.read().await;
    let Some(zone) = c.sdn.zone_of(&vnet) else {
        return pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("sdn '{vnet}' does not exist"),
        );
    };
    if !audits(&zone.zone) {
        return pve_error(
            StatusCode::FORBIDDEN,
            &format!(
                "Permission check failed (/sdn/zones/{}, SDN.Audit)",
                zone.zone
            ),
        );
    }
    let out: Vec<Value> = c
        .sdn
        .subnets
        .iter()
        .filter(|s| s.vnet == vnet)
        .map(|s| {
            let (network, mask) = s.cidr.split_once('/').unwrap_or((&s.cidr, "32"));
            let ranges: Vec<Value> = s
                .dhcp_ranges
                .iter()
                .map(|r| json!({"start-address": r.start, "end-address": r.end}))
                .collect();
            let mut row = json!({
                "subnet": s.id(&zone.zone), "cidr": s.cidr, "network": network, "mask": mask,
                "zone": zone.zone, "vnet": s.vnet, "type": "subnet", "dhcp-range": ranges,
                "digest": DIGEST
            });
            if let Some(gateway) = &s.gateway {
                row["gateway"] = json!(gateway);
            }
            if s.snat {
                row["snat"] = flag(true);
            }
            row
        })
        .collect();
    data(Value::Array(out))
}

/// `GET /cluster/ha/resources` → `[{sid, type, state, group?, max_restart, max_relocate, digest}]`.
pub(super) async fn ha_resources(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let out: Vec<Value> =
        c.ha.iter()
            .map(|r| {
                let kind = r.sid.split_once(':').map_or("vm", |(k, _)| k);
                let mut row = json!({
                    "sid": r.sid, "type": kind, "state": r.state, "max_restart": r.max_restart,
                    "max_relocate": r.max_relocate, "digest": DIGEST
                });
                if let Some(group) = &r.group {
                    row["group"] = json!(group);
                }
                if let Some(comment) = &r.comment {
                    row["comment"] = json!(comment);
                }
                row
            })
            .collect();
    data(Value::Array(out))
}

/// `GET /cluster/ha/status/current` → the quorum, the manager, each node's LRM and each
/// resource's service entry (`{id, type, sid, node, state, crm_state, request_state, status}`).
pub(super) async fn ha_status(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let first = c.nodes.first().map(|n| n.name.clone()).unwrap_or_default();
    let mut out = vec![
        json!({"id": "quorum", "type": "quorum", "node": first, "quorate": 1, "status": "OK"}),
        json!({"id": "master", "type": "master", "node": first, "status": format!("{first} (active, {})", c.now), "timestamp": c.now}),
    ];
    for n in &c.nodes {
        out.push(json!({
            "id": format!("lrm:{}", n.name), "type": "lrm", "node": n.name,
            "status": format!("{} ({}, {})", n.name, if n.online { "active" } else { "old timestamp - dead?" }, c.now),
            "timestamp": c.now
        }));
    }
    for r in &c.ha {
        let Some((_, vmid)) = r.sid.split_once(':') else {
            continue;
        };
        let node = c
            .guests
            .values()
            .find(|g| g.vmid.to_string() == vmid)
            .map(|g| g.node.clone())
            .unwrap_or_default();
        out.push(json!({
            "id": format!("service:{vmid}"), "type": "service", "sid": r.sid, "node": node,
            "state": r.state, "crm_state": r.state, "request_state": r.state,
            "status": format!("{} ({node}, {})", r.sid, r.state),
            "max_restart": r.max_restart, "max_relocate": r.max_relocate
        }));
    }
    data(Value::Array(out))
}
