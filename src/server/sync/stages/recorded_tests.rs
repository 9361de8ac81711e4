//! Every recorded answer of a real Proxmox VE server (`../shared/data/real-pve/`, read from
//! there, never copied) that feeds a stage goes through that stage's plan against an empty
//! NetBox: no panic, no guest, disk, NIC or interface dropped, no failure, and guests of one
//! name get names NetBox accepts. The client's reads of the same bodies are checked in
//! `crates/pve-sim/tests/recorded.rs`; a new body in the README's table is a new case here.

use std::collections::{HashMap, HashSet};

use proxbox_pve::lenient::{parse_list, parse_object, Parsed};
use proxbox_pve::{ClusterResource, FieldWarning, GuestConfig, GuestKind, NodeInterface};
use pve_sim::recorded::{bodies, recorded_dir, Case};
use serde_json::Value;

use crate::server::sync::context::RunOptions;
use crate::server::sync::overwrite::OverwritePolicy;
use crate::server::sync::stages::node_interfaces::{self, network::wanted_interfaces, NodeNetwork};
use crate::server::sync::stages::virtual_machines::names::names_of;
use crate::server::sync::stages::virtual_machines::{self as vms, desired, Guest};
use crate::server::sync::stages::{virtual_disks, vm_interfaces};
use crate::server::sync::state::{SyncedCluster, SyncedGuest};

fn cluster() -> SyncedCluster {
    SyncedCluster {
        endpoint_id: 1,
        name: "recorded".into(),
        netbox_cluster: 10,
        site: 20,
        devices: HashMap::new(),
    }
}

/// The guests a list body names, as `/cluster/resources` entries: a node's guest list
/// (`/nodes/{node}/qemu|lxc`) gets the type and node its path gives.
fn listed_guests(case: &Case, body: &Value) -> Option<Vec<ClusterResource>> {
    let endpoint = case.endpoint.as_str();
    let kind = if endpoint.starts_with("GET /cluster/resources") {
        None
    } else if endpoint.starts_with("GET /nodes/{node}/qemu") && !endpoint.contains("{vmid}") {
        Some("qemu")
    } else if endpoint.starts_with("GET /nodes/{node}/lxc") && !endpoint.contains("{vmid}") {
        Some("lxc")
    } else {
        return None;
    };
    let mut entries = body["data"].clone();
    if let (Some(kind), Some(list)) = (kind, entries.as_array_mut()) {
        for entry in list.iter_mut() {
            entry["type"] = Value::from(kind);
            if entry.get("node").is_none() {
                entry["node"] = Value::from("pve1");
            }
        }
    }
    let parsed: Parsed<Vec<ClusterResource>> =
        parse_list(&entries, &case.file).unwrap_or_else(|e| panic!("{}: {e}", case.file));
    Some(parsed.value)
}

/// A guest list through the VM plan: one VM per guest, each under a name no other has.
fn plan_guest_list(case: &Case, resources: &[ClusterResource]) -> Result<(), String> {
    let guests: Vec<(&ClusterResource, GuestKind, u64)> = resources
        .iter()
        .filter_map(|r| Some((r, r.guest_kind()?, r.vmid?)))
        .collect();
    let expected = resources
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "qemu" | "lxc"))
        .count();
    if guests.len() != expected {
        return Err(format!("{} guests identified of {expected}", guests.len()));
    }
    let netbox_names = names_of(
        guests
            .iter()
            .map(|(r, kind, vmid)| (r.name.as_deref(), *kind, *vmid)),
    );
    let wanted: Vec<Guest> = guests
        .iter()
        .zip(netbox_names)
        .map(|((r, kind, vmid), named)| Guest {
            name: named.name,
            ..desired(&cluster(), r, *kind, *vmid, None)
        })
        .collect();
    let inputs = vms::Inputs {
        present: wanted.iter().map(|g| g.identity.clone()).collect(),
        guests: wanted,
        ..Default::default()
    };
    let plan = vms::plan(&inputs, &OverwritePolicy::default(), &RunOptions::default()).plan;
    if !plan.failures.is_empty() || plan.creates.len() != guests.len() {
        return Err(format!(
            "{} VMs planned for {} guests, failures {:?}",
            plan.creates.len(),
            guests.len(),
            plan.failures
        ));
    }
    let mut seen = HashSet::new();
    for create in &plan.creates {
        let name = create.body.name.clone().unwrap_or_default().to_lowercase();
        if !seen.insert(name.clone()) {
            return Err(format!(
                "two VMs named {name:?} in one cluster ({})",
                case.file
            ));
        }
    }
    Ok(())
}

/// A guest config through the VM, VM-interface and virtual-disk plans.
fn plan_config(case: &Case, body: &Value) -> Result<Vec<FieldWarning>, String> {
    let kind = if case.endpoint.contains("/lxc/") {
        GuestKind::Lxc
    } else {
        GuestKind::Qemu
    };
    let object = body["data"]
        .as_object()
        .ok_or_else(|| "the config is not an object".to_string())?;
    let mut warnings = Vec::new();
    let config = GuestConfig::parse(kind, object, &case.file, &mut warnings);
    let entry = serde_json::json!({"id": format!("{}/100", kind.as_str()), "type": kind.as_str(), "vmid": 100, "node": "pve1"});
    let resource: ClusterResource = parse_object(&entry, "resource")
        .map_err(|e| e.to_string())?
        .value;
    let guest = desired(&cluster(), &resource, kind, 100, Some(&config));
    let inputs = vms::Inputs {
        present: [guest.identity.clone()].into(),
        guests: vec![guest.clone()],
        ..Default::default()
    };
    let vm_plan = vms::plan(&inputs, &OverwritePolicy::default(), &RunOptions::default()).plan;
    if vm_plan.creates.len() != 1 || !vm_plan.failures.is_empty() {
        return Err(format!("VM plan {:?}", vm_plan.failures));
    }
    let synced = SyncedGuest {
        name: guest.name.clone(),
        kind,
        vm_id: 500,
        disks: guest.disks.clone(),
        nets: guest.nets.clone(),
        endpoint_id: 1,
        node: "pve1".into(),
        vmid: 100,
        running: false,
        agent: guest.agent,
        primary_ips: (None, None),
        vrf: None,
    };
    let vlan_ids: HashMap<u16, u64> = guest
        .nets
        .iter()
        .filter_map(|n| n.vlan)
        .map(|vid| (vid, 1000 + u64::from(vid)))
        .collect();
    let guests = [synced];
    let nics = vm_interfaces::plan_interfaces(
        &guests,
        &[],
        &[],
        &vlan_ids,
        &Default::default(),
        &OverwritePolicy::default(),
    );
    if nics.creates.len() != guest.nets.len() || !nics.failures.is_empty() {
        return Err(format!(
            "{} interfaces planned for {} NICs, failures {:?}",
            nics.creates.len(),
            guest.nets.len(),
            nics.failures
        ));
    }
    let disks = virtual_disks::plan(&guests, &[], &OverwritePolicy::default());
    if disks.creates.len() != guest.disks.len() || !disks.failures.is_empty() {
        return Err(format!(
            "{} disks planned for {}, failures {:?}",
            disks.creates.len(),
            guest.disks.len(),
            disks.failures
        ));
    }
    Ok(warnings)
}

/// A node network through the node-interfaces plan: one interface per entry.
fn plan_network(case: &Case, body: &Value) -> Result<(), String> {
    let parsed: Parsed<Vec<NodeInterface>> =
        parse_list(&body["data"], &case.file).map_err(|e| format!("not a list: {e}"))?;
    let interfaces = wanted_interfaces(&parsed.value);
    let vlan_ids: HashMap<u16, u64> = interfaces
        .iter()
        .filter_map(|i| i.vid)
        .map(|vid| (vid, 1000 + u64::from(vid)))
        .collect();
    let inputs = node_interfaces::Inputs {
        nodes: vec![NodeNetwork {
            node: "pve1".into(),
            device: 5,
            interfaces,
            address: None,
            vrf: None,
        }],
        ..Default::default()
    };
    let plan = node_interfaces::plan_interfaces(&inputs, &vlan_ids, &OverwritePolicy::default());
    if plan.creates.len() != parsed.value.len() || !plan.failures.is_empty() {
        return Err(format!(
            "{} interfaces planned for {} entries, failures {:?}",
            plan.creates.len(),
            parsed.value.len(),
            plan.failures
        ));
    }
    Ok(())
}

#[test]
fn every_recorded_body_a_stage_reads_goes_through_its_plan() {
    let dir = recorded_dir();
    let mut planned = 0;
    let mut failures = Vec::new();
    for (case, body) in bodies(&dir) {
        let outcome = if let Some(resources) = listed_guests(&case, &body) {
            Some(plan_guest_list(&case, &resources))
        } else if case.endpoint.ends_with("/config") {
            Some(plan_config(&case, &body).map(|warnings| {
                for warning in warnings {
                    println!("{}: skipped {warning}", case.file);
                }
            }))
        } else if case.endpoint.starts_with("GET /nodes/{node}/network") {
            Some(plan_network(&case, &body))
        } else {
            None
        };
        match outcome {
            Some(Ok(())) => {
                planned += 1;
                println!("{}: planned", case.file);
            }
            Some(Err(why)) => failures.push(format!("{} ({}): {why}", case.file, case.endpoint)),
            None => println!("{}: no stage plans from {}", case.file, case.endpoint),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(planned >= 20, "{planned} bodies planned");
}
