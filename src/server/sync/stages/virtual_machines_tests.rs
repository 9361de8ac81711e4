use super::*;
use crate::events::ErrorCategory;
use crate::server::sync::overwrite::Overwrite;
use crate::server::sync::stages::fixtures::{managed, model, recorded};
use serde_json::json;

fn wanted(name: &str, kind: GuestKind, vmid: u64) -> Guest {
    Guest {
        identity: guest_identity("lab", kind, vmid),
        endpoint_id: 1,
        name: name.into(),
        kind,
        status: "active",
        cluster: 10,
        device: Some(5),
        site: 20,
        vcpus: Some(2.0),
        memory: Some(2048),
        disk: Some(10240),
        ostype: None,
        description: format!("Proxmox VM {vmid} of cluster lab"),
        disks: Vec::new(),
        nets: Vec::new(),
        node: "pve1".into(),
        vmid,
        running: true,
        agent: false,
        warning: None,
    }
}

/// The VM NetBox holds for `wanted` after Proxbox created it, with `changes` on top.
fn vm(id: u64, guest: &Guest, changes: serde_json::Value) -> VirtualMachine {
    let mut value = json!({
        "id": id, "name": guest.name, "status": {"value": "active"}, "cluster": {"id": 10},
        "device": {"id": 5}, "site": {"id": 20}, "role": {"id": 30}, "platform": null,
        "vcpus": 2.0, "memory": 2048, "disk": 10240, "description": guest.description,
        "tags": managed(), "custom_fields": recorded(&guest.identity),
    });
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        value[key] = change;
    }
    model(value)
}

fn inputs(guests: Vec<Guest>, existing: Vec<VirtualMachine>) -> Inputs {
    Inputs {
        present: guests.iter().map(|g| g.identity.clone()).collect(),
        guests,
        existing,
        qemu_role: 30,
        lxc_role: 31,
        identity_field: true,
        now_ms: 1_000_000,
        ..Default::default()
    }
}

fn mapped(
    identity: &str,
    netbox_id: u64,
    missing_since: Option<i64>,
) -> HashMap<i64, HashMap<String, Mapped>> {
    [(
        1,
        [(
            identity.to_string(),
            Mapped {
                netbox_id: netbox_id as i64,
                missing_since,
            },
        )]
        .into(),
    )]
    .into()
}

fn planned(inputs: &Inputs) -> VmPlan {
    plan(inputs, &OverwritePolicy::default(), &RunOptions::default())
}

#[test]
fn a_new_guest_is_created_with_its_role_and_identity() {
    let web = wanted("web", GuestKind::Lxc, 100);
    let plan = planned(&inputs(vec![web], Vec::new())).plan;
    assert_eq!(plan.creates.len(), 1);
    let body = &plan.creates[0].body;
    assert_eq!(body.role, Some(Some(31)), "LXC role");
    assert_eq!(body.custom_fields[IDENTITY_FIELD], json!("lab/lxc/100"));
    assert_eq!(body.tags.as_ref().map(Vec::len), Some(1));
}

#[test]
fn an_unchanged_guest_is_a_skip_and_a_changed_one_updates_only_what_changed() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let same = inputs(vec![web.clone()], vec![vm(7, &web, json!({}))]);
    let unchanged = planned(&same).plan;
    assert!(unchanged.writes_nothing(), "{unchanged:?}");
    assert_eq!(unchanged.skips[0].key, Some(0));

    let mut bigger = web.clone();
    bigger.memory = Some(4096);
    bigger.status = "offline";
    let plan = planned(&inputs(vec![bigger], vec![vm(7, &web, json!({}))])).plan;
    assert_eq!(plan.updates[0].changed, ["memory", "status"]);
}

#[test]
fn fields_an_operator_edited_stay_unless_proxbox_owns_them() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let edited = vm(
        7,
        &web,
        json!({"description": "the shop's web server", "role": {"id": 99}, "memory": 1}),
    );
    let plan = planned(&inputs(vec![web.clone()], vec![edited.clone()])).plan;
    assert_eq!(
        plan.updates[0].changed,
        ["memory"],
        "role and description are set on create only; memory is Proxmox's"
    );
    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Memory, Overwrite::OnCreate);
    let left = plan_with(&inputs(vec![web], vec![edited]), &policy);
    assert!(left.writes_nothing());
}

fn plan_with(inputs: &Inputs, policy: &OverwritePolicy) -> Plan<VirtualMachineWrite, usize> {
    plan(inputs, policy, &RunOptions::default()).plan
}

#[test]
fn qemu_100_and_lxc_100_of_one_name_are_two_vms() {
    let qemu = wanted("app", GuestKind::Qemu, 100);
    let lxc = wanted("app", GuestKind::Lxc, 100);
    let existing = vec![vm(7, &qemu, json!({}))];
    let plan = planned(&inputs(vec![qemu, lxc], existing)).plan;
    assert_eq!(plan.skips.len(), 1, "QEMU 100 keeps its VM");
    assert_eq!(plan.creates.len(), 1, "LXC 100 gets its own");
    assert_eq!(plan.creates[0].key, 1);
}

#[test]
fn a_lost_database_readopts_by_recorded_identity_then_by_the_only_unrecorded_name() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let db = wanted("db", GuestKind::Qemu, 101);
    let by_hand = vm(8, &db, json!({"custom_fields": {}, "tags": []}));
    let plan = planned(&inputs(
        vec![web.clone(), db],
        vec![vm(7, &web, json!({"name": "web-renamed"})), by_hand],
    ))
    .plan;
    assert!(plan.creates.is_empty(), "{plan:?}");
    let ids: Vec<(usize, Option<u64>)> = plan.updates.iter().map(|w| (w.key, w.id)).collect();
    assert_eq!(ids, [(0, Some(7)), (1, Some(8))]);
    assert_eq!(
        plan.updates[1].changed,
        ["custom_fields"],
        "the identity recorded"
    );
}

#[test]
fn a_hand_made_vm_of_the_same_name_beside_proxboxs_own_is_left_alone() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let ours = vm(7, &web, json!({}));
    let theirs = vm(
        8,
        &web,
        json!({"custom_fields": {}, "tags": [], "memory": 1}),
    );
    let mut inputs = inputs(vec![web.clone()], vec![theirs, ours]);
    inputs.mapped = mapped(&web.identity, 7, None);
    let plan = planned(&inputs).plan;
    assert!(plan.writes_nothing(), "{plan:?}");
    assert_eq!(plan.skips[0].id, Some(7));
}

#[test]
fn an_orphan_is_deleted_only_with_orphan_deletion_on_after_its_grace() {
    let gone = wanted("old", GuestKind::Qemu, 200);
    let mut inputs = inputs(Vec::new(), vec![vm(9, &gone, json!({}))]);
    inputs.mapped = mapped(&gone.identity, 9, Some(1_000_000 - 3_600_000));
    assert_eq!(absent(&inputs), [(1, vec![gone.identity.clone()])]);
    assert!(
        planned(&inputs).plan.deletes.is_empty(),
        "orphan deletion is off by default"
    );
    let on = |hours: u64| RunOptions {
        delete_orphans: true,
        orphan_grace: std::time::Duration::from_secs(hours * 3600),
        ..RunOptions::default()
    };
    assert!(
        plan(&inputs, &OverwritePolicy::default(), &on(2))
            .plan
            .deletes
            .is_empty(),
        "within grace"
    );
    let due = plan(&inputs, &OverwritePolicy::default(), &on(1));
    assert_eq!(
        due.plan.deletes,
        [(Label::new("old", "qemu", "virtual machine"), 9)]
    );
    assert_eq!(due.orphans[0].identity, gone.identity);
}

#[test]
fn an_unreadable_guest_fails_and_is_never_an_orphan() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let mut inputs = inputs(Vec::new(), vec![vm(7, &web, json!({}))]);
    inputs.present.insert(web.identity.clone());
    inputs.mapped = mapped(&web.identity, 7, Some(0));
    inputs.unreadable.push((
        Label::new("web", "qemu", "virtual machine"),
        StageError {
            category: ErrorCategory::Timeout,
            message: "config read timed out".into(),
            detail: String::new(),
            suggestion: String::new(),
        },
    ));
    let options = RunOptions {
        delete_orphans: true,
        orphan_grace: std::time::Duration::ZERO,
        ..RunOptions::default()
    };
    let plan = plan(&inputs, &OverwritePolicy::default(), &options);
    assert_eq!(plan.plan.failures.len(), 1);
    assert!(plan.plan.deletes.is_empty());
    assert!(absent(&inputs).is_empty());
}

#[test]
fn settled_guests_carry_their_vm_and_its_primary_addresses() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let db = wanted("db", GuestKind::Qemu, 101);
    let inputs = inputs(
        vec![web.clone(), db],
        vec![vm(7, &web, json!({"primary_ip4": {"id": 70}}))],
    );
    let applied = Applied {
        created: vec![(1, Some(8))],
        updated: Vec::new(),
        refused: Vec::new(),
        unchanged: vec![(0, 7)],
        deleted: Vec::new(),
    };
    let guests = settle(&inputs, &applied);
    assert_eq!(guests.len(), 2);
    assert_eq!(
        (guests[0].vm_id, guests[0].primary_ips),
        (7, (Some(70), None))
    );
    assert_eq!((guests[1].name.as_str(), guests[1].vm_id), ("db", 8));
}
