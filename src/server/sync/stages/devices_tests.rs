use super::*;
use crate::events::Takeover;
use crate::server::sync::overwrite::Overwrite;
use crate::server::sync::stages::fixtures::{managed, model, recorded, slugs};
use serde_json::json;

const PREREQUISITES: Prerequisites = Prerequisites {
    cluster_type: 1,
    role: 2,
    device_type: 3,
    identity_field: true,
};

fn inputs(nodes: &[(&str, bool)]) -> Inputs {
    Inputs {
        clusters: vec![ProxmoxCluster {
            endpoint_id: 1,
            name: "lab".into(),
            nodes: nodes.iter().map(|(n, on)| (n.to_string(), *on)).collect(),
            site: site_slug("lab"),
        }],
        sites: HashMap::new(),
        netbox_clusters: HashMap::new(),
        cluster_tags: HashMap::new(),
        cluster_sites: HashMap::new(),
        devices: Vec::new(),
        mapped: HashMap::new(),
        prerequisites: PREREQUISITES,
    }
}

/// The lab cluster exists in NetBox (id 10) with its site (id 20).
fn existing(mut inputs: Inputs, devices: Vec<Device>) -> Inputs {
    inputs.sites.insert(site_slug("lab"), 20);
    inputs.netbox_clusters.insert("lab".into(), 10);
    inputs.devices = devices;
    inputs
}

fn device(id: u64, name: &str, status: &str, fields: serde_json::Value) -> Device {
    model(json!({
        "id": id, "name": name, "device_type": {"id": 3}, "role": {"id": 2}, "site": {"id": 20},
        "cluster": {"id": 10}, "status": {"value": status}, "tags": managed(), "custom_fields": fields,
    }))
}

fn ids(inputs: &Inputs) -> (HashMap<String, u64>, HashMap<String, u64>) {
    (inputs.sites.clone(), inputs.netbox_clusters.clone())
}

#[test]
fn a_new_cluster_gets_a_site_a_cluster_and_a_device_per_node() {
    let inputs = inputs(&[("pve1", true), ("pve2", false)]);
    let sites = plan_sites(&inputs);
    assert_eq!(sites.creates.len(), 1);
    assert_eq!(sites.creates[0].body.slug, "proxmox-lab");
    let site_ids: HashMap<String, u64> = [("proxmox-lab".to_string(), 20)].into();
    let clusters = plan_clusters(&inputs, &site_ids);
    assert_eq!(clusters.creates[0].body.scope_id, Some(20));
    assert_eq!(clusters.creates[0].body.cluster_type, Some(1));
    let cluster_ids: HashMap<String, u64> = [("lab".to_string(), 10)].into();
    let plan = plan_devices(
        &inputs,
        &site_ids,
        &cluster_ids,
        &OverwritePolicy::default(),
    );
    let bodies: Vec<_> = plan.creates.iter().map(|w| &w.body).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0].name.as_deref(), Some("pve1"));
    assert_eq!(bodies[1].status.as_deref(), Some("offline"));
    assert_eq!(
        bodies[0].custom_fields[IDENTITY_FIELD],
        json!("lab/node/pve1")
    );
    assert_eq!(plan.creates[1].key, (0, "pve2".to_string()));
}

#[test]
fn an_unchanged_node_is_a_skip_and_existing_sites_and_clusters_are_not_planned() {
    let inputs = existing(
        inputs(&[("pve1", true)]),
        vec![device(5, "pve1", "active", recorded("lab/node/pve1"))],
    );
    assert!(plan_sites(&inputs).creates.is_empty());
    let (sites, clusters) = ids(&inputs);
    assert!(plan_clusters(&inputs, &sites).creates.is_empty());
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert!(plan.writes_nothing(), "{plan:?}");
    assert_eq!(plan.skips.len(), 1);
    assert_eq!(plan.skips[0].id, Some(5));
}

#[test]
fn a_node_that_went_offline_is_updated_in_its_status_only() {
    let inputs = existing(
        inputs(&[("pve1", false)]),
        vec![device(5, "pve1", "active", recorded("lab/node/pve1"))],
    );
    let (sites, clusters) = ids(&inputs);
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].changed, ["status"]);
    assert_eq!(plan.updates[0].body.status.as_deref(), Some("offline"));
}

#[test]
fn an_operators_status_stays_when_status_is_set_on_create_only() {
    let inputs = existing(
        inputs(&[("pve1", true)]),
        vec![device(5, "pve1", "planned", recorded("lab/node/pve1"))],
    );
    let (sites, clusters) = ids(&inputs);
    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Status, Overwrite::OnCreate);
    assert!(plan_devices(&inputs, &sites, &clusters, &policy).writes_nothing());
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert_eq!(
        plan.updates[0].changed,
        ["status"],
        "Proxbox owns status by default"
    );
}

#[test]
fn a_lost_database_readopts_by_name_and_records_the_identity() {
    let inputs = existing(
        inputs(&[("pve1", true)]),
        vec![device(5, "pve1", "active", json!({}))],
    );
    let (sites, clusters) = ids(&inputs);
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert!(plan.creates.is_empty(), "adopted, not duplicated");
    assert_eq!(plan.updates[0].id, Some(5));
    assert_eq!(plan.updates[0].changed, ["custom_fields"]);
}

#[test]
fn two_unrecorded_devices_of_one_name_adopt_neither() {
    let inputs = existing(
        inputs(&[("pve1", true)]),
        vec![
            device(5, "pve1", "active", json!({})),
            device(6, "pve1", "active", json!({})),
        ],
    );
    let (sites, clusters) = ids(&inputs);
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert!(
        plan.creates.is_empty() && plan.updates.is_empty(),
        "the adoption rule devices share with VMs: neither is taken, none is made"
    );
    match &plan.skips[0].label.takeover {
        Some(Takeover::Conflict(why)) => assert!(why.contains("5, 6"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_node_entered_by_hand_in_no_cluster_is_taken_over_and_tagged() {
    let mut by_hand = device(5, "pve1", "active", json!({}));
    by_hand.cluster = None;
    by_hand.tags = Vec::new();
    let inputs = existing(inputs(&[("pve1", true)]), vec![by_hand]);
    let (sites, clusters) = ids(&inputs);
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert!(plan.creates.is_empty());
    let update = &plan.updates[0];
    assert_eq!(update.id, Some(5));
    assert_eq!(update.body.cluster, Some(10), "into its cluster");
    assert_eq!(slugs(&update.body.tags), ["proxbox"]);
    assert_eq!(
        update.label.takeover,
        Some(Takeover::Adopted("by name, in no cluster".into()))
    );
}

#[test]
fn the_identity_map_wins_over_a_renamed_device() {
    let mut inputs = existing(
        inputs(&[("pve1", true)]),
        vec![device(
            7,
            "renamed-by-hand",
            "active",
            recorded("lab/node/pve1"),
        )],
    );
    inputs.mapped.insert(
        1,
        [(
            "lab/node/pve1".to_string(),
            Mapped {
                netbox_id: 7,
                missing_since: None,
                ..Default::default()
            },
        )]
        .into(),
    );
    let (sites, clusters) = ids(&inputs);
    let plan = plan_devices(&inputs, &sites, &clusters, &OverwritePolicy::default());
    assert_eq!(plan.updates[0].id, Some(7));
    assert_eq!(
        plan.updates[0].body.name.as_deref(),
        Some("pve1"),
        "Proxbox owns the name"
    );
}

#[test]
fn nodes_of_a_cluster_netbox_refused_fail_with_a_reason() {
    let inputs = inputs(&[("pve1", true), ("pve2", true)]);
    let plan = plan_devices(
        &inputs,
        &HashMap::new(),
        &HashMap::new(),
        &OverwritePolicy::default(),
    );
    assert_eq!(plan.failures.len(), 2);
    assert!(plan.failures[0].error.message.contains("cluster lab"));
    assert!(plan.writes_nothing());
}

#[test]
fn a_rules_site_scopes_a_new_cluster_and_an_existing_cluster_keeps_its_own() {
    let mut ruled = inputs(&[("pve1", true)]);
    ruled.clusters[0].site = "dc-east".into();
    ruled.sites.insert("dc-east".into(), 30);
    assert!(
        plan_sites(&ruled).creates.is_empty(),
        "the rule's site is the operator's: never created"
    );
    let clusters = plan_clusters(&ruled, &ruled.sites);
    assert_eq!(clusters.creates[0].body.scope_id, Some(30));
    let devices = plan_devices(
        &ruled,
        &ruled.sites,
        &[("lab".to_string(), 10)].into(),
        &OverwritePolicy::default(),
    );
    assert_eq!(devices.creates[0].body.site, Some(30));

    // The cluster already exists, scoped to site 20: its devices stay where it is.
    ruled.cluster_sites.insert("lab".into(), 20);
    let devices = plan_devices(
        &ruled,
        &ruled.sites,
        &[("lab".to_string(), 10)].into(),
        &OverwritePolicy::default(),
    );
    assert_eq!(devices.creates[0].body.site, Some(20));
}
