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
        agent_os: None,
        agent_unheard: false,
        description: format!("Proxmox VM {vmid} of cluster lab"),
        disks: Vec::new(),
        nets: Vec::new(),
        node: "pve1".into(),
        vmid,
        running: true,
        agent: false,
        start_on_boot: true,
        serial: Some(format!("00000000-0000-4000-8000-{vmid:012x}")),
        notes: String::new(),
        tags: Vec::new(),
        template: false,
        pool: None,
        mapped: Resolved::default(),
        warning: None,
        ha: Default::default(),
    }
}

/// The VM NetBox holds for `wanted` after Proxbox created it, with `changes` on top.
fn vm(id: u64, guest: &Guest, changes: serde_json::Value) -> VirtualMachine {
    let mut value = json!({
        "id": id, "name": guest.name, "status": {"value": "active"}, "cluster": {"id": 10},
        "device": {"id": 5}, "site": {"id": 20}, "role": {"id": 30}, "platform": null,
        "vcpus": 2.0, "memory": 2048, "disk": 10240, "description": guest.description,
        "virtual_machine_type": {"id": if guest.kind == GuestKind::Qemu { 30 } else { 31 }},
        "start_on_boot": {"value": "on", "label": "On"}, "serial": guest.serial,
        "comments": guest.notes,
        "tags": managed(), "custom_fields": recorded(&guest.identity),
    });
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        // `null` drops the field, as a NetBox that lacks it answers.
        if change.is_null() {
            value.as_object_mut().map(|fields| fields.remove(&key));
        } else {
            value[key] = change;
        }
    }
    model(value)
}

fn inputs(guests: Vec<Guest>, existing: Vec<VirtualMachine>) -> Inputs {
    Inputs {
        present: guests.iter().map(|g| g.identity.clone()).collect(),
        guests,
        existing,
        vm_types: Some(VmTypes { qemu: 30, lxc: 31 }),
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
                ..Default::default()
            },
        )]
        .into(),
    )]
    .into()
}

fn planned(inputs: &Inputs) -> VmPlan {
    plan(inputs, &OverwritePolicy::default(), &RunOptions::default())
}

fn slugs(tags: &Option<Vec<TagRef>>) -> Vec<&str> {
    tags.iter().flatten().map(|t| t.slug.as_str()).collect()
}

#[test]
fn a_new_guest_gets_its_vm_type_start_on_boot_serial_notes_tags_and_identity() {
    let mut web = wanted("web", GuestKind::Lxc, 100);
    web.start_on_boot = false;
    web.notes = "# Web\n\n*owned by* ops".into();
    web.tags = vec!["Prod".into(), "unknown-to-netbox".into()];
    let mut inputs = inputs(vec![web], Vec::new());
    inputs.tag_slugs = [("prod".to_string(), "production".to_string())].into();
    let plan = planned(&inputs);
    let body = &plan.plan.creates[0].body;
    assert_eq!(body.virtual_machine_type, Some(Some(31)), "LXC type");
    assert_eq!(body.role, None, "the role is the operator's");
    assert_eq!(body.start_on_boot.as_deref(), Some("off"));
    assert_eq!(
        body.serial.as_deref(),
        Some("00000000-0000-4000-8000-000000000064")
    );
    assert_eq!(body.comments.as_deref(), Some("# Web\n\n*owned by* ops"));
    assert_eq!(body.custom_fields[IDENTITY_FIELD], json!("lab/lxc/100"));
    assert_eq!(slugs(&body.tags), ["production", "proxbox"]);
    assert_eq!(
        plan.added_tags,
        [(0, ["production".to_string()].into())],
        "proxbox's own tag is not a Proxmox tag"
    );
}

#[test]
fn the_new_fields_are_corrected_only_where_the_policy_owns_them() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let netbox = vm(7, &web, json!({}));
    let mut changed = web.clone();
    changed.start_on_boot = false;
    changed.notes = "moved to the new rack".into();
    changed.serial = Some("6d1b7a2e-0f0c-4a57-9a0e-1f2b3c4d5e6f".into());
    let plan = planned(&inputs(vec![changed.clone()], vec![netbox.clone()])).plan;
    assert_eq!(
        plan.updates[0].changed,
        ["comments", "serial", "start_on_boot"]
    );
    let mut policy = OverwritePolicy::default();
    for field in [Field::Comments, Field::Serial, Field::StartOnBoot] {
        policy.0.insert(field, Overwrite::OnCreate);
    }
    assert!(plan_with(&inputs(vec![changed], vec![netbox]), &policy).writes_nothing());
}

#[test]
fn proxmox_tags_join_the_operators_and_leave_only_when_proxbox_added_them() {
    let mut web = wanted("web", GuestKind::Qemu, 100);
    web.tags = vec!["web".into()];
    let netbox = vm(
        7,
        &web,
        json!({"tags": [{"id": 1, "slug": "proxbox"}, {"id": 2, "slug": "owner-ops"}, {"id": 3, "slug": "db"}]}),
    );
    let mut inputs = inputs(vec![web.clone()], vec![netbox]);
    inputs.tag_slugs = [("web", "web"), ("db", "db")]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .into();
    inputs.mapped = mapped(&web.identity, 7, None);
    inputs
        .mapped
        .get_mut(&1)
        .unwrap()
        .get_mut(&web.identity)
        .unwrap()
        .added_tags = vec!["db".into()];
    let plan = planned(&inputs);
    let update = &plan.plan.updates[0];
    assert_eq!(update.changed, ["tags"]);
    assert_eq!(
        slugs(&update.body.tags),
        ["owner-ops", "proxbox", "web"],
        "db was Proxbox's and is gone from Proxmox; owner-ops is the operator's"
    );
    assert_eq!(plan.added_tags, [(0, ["web".to_string()].into())]);

    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Tags, Overwrite::OnCreate);
    assert!(plan_with(&inputs, &policy).writes_nothing());
}

#[test]
fn templates_are_marked_offline_or_left_out_by_the_setting() {
    let mut base = wanted("base-image", GuestKind::Qemu, 9000);
    base.template = true;
    base.status = "offline";
    let mut inputs = inputs(vec![base], Vec::new());
    inputs.tag_slugs = [(
        tags::TEMPLATE_TAG.to_string(),
        tags::TEMPLATE_TAG.to_string(),
    )]
    .into();
    let marked = planned(&inputs).plan;
    let body = &marked.creates[0].body;
    assert_eq!(body.status.as_deref(), Some("offline"));
    assert_eq!(slugs(&body.tags), ["proxbox", "proxmox-template"]);

    let skip = RunOptions {
        templates: Templates::Skip,
        ..RunOptions::default()
    };
    let skipped = plan(&inputs, &OverwritePolicy::default(), &skip).plan;
    assert!(skipped.writes_nothing());
    assert_eq!(skipped.skips.len(), 1);
    let reason = skipped.skips[0]
        .label
        .warning
        .as_deref()
        .unwrap_or_default();
    assert!(reason.contains("PROXBOX_TEMPLATES=skip"), "{reason}");
}

#[test]
fn a_netbox_before_4_7_gets_no_vm_type_start_on_boot_or_serial() {
    let web = wanted("web", GuestKind::Qemu, 100);
    let mut old = inputs(vec![web.clone()], Vec::new());
    old.vm_types = None;
    let body = &planned(&old).plan.creates[0].body;
    assert_eq!(
        (
            &body.virtual_machine_type,
            &body.start_on_boot,
            &body.serial
        ),
        (&None, &None, &None)
    );
    // NetBox 4.6 answers without those fields (null here drops them): a resync must not
    // try to write them.
    let answered = vm(
        7,
        &web,
        json!({"virtual_machine_type": null, "start_on_boot": null, "serial": null}),
    );
    old.existing = vec![answered];
    assert!(planned(&old).plan.writes_nothing());
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
        ["custom_fields", "tags"],
        "the identity recorded, the proxbox tag added"
    );
    assert_eq!(
        plan.updates[1].label.takeover,
        Some(crate::events::Takeover::Adopted(
            "by name in its cluster".into()
        ))
    );
    assert_eq!(
        plan.updates[0].label.takeover, None,
        "its own VM, by its identity"
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
fn no_vm_is_gone_while_its_cluster_listed_guests_it_could_not_identify() {
    // The soak's cycle 53: a VMID of a shape no Proxmox sends left every guest out of the
    // list, and orphan deletion removed every VM; the next sync made them again.
    let gone = wanted("old", GuestKind::Qemu, 200);
    let mut inputs = inputs(Vec::new(), vec![vm(9, &gone, json!({}))]);
    inputs.mapped = mapped(&gone.identity, 9, Some(0));
    inputs.incomplete.insert(1);
    let options = RunOptions {
        delete_orphans: true,
        orphan_grace: std::time::Duration::ZERO,
        ..RunOptions::default()
    };
    assert!(absent(&inputs).is_empty(), "nothing is marked missing");
    let kept = plan(&inputs, &OverwritePolicy::default(), &options);
    assert!(kept.plan.deletes.is_empty(), "{:?}", kept.plan.deletes);
    inputs.incomplete.clear();
    let deleted = plan(&inputs, &OverwritePolicy::default(), &options);
    assert_eq!(
        deleted.plan.deletes.len(),
        1,
        "a complete list still deletes the orphan"
    );
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

#[test]
fn mapping_rules_set_tenant_role_and_platform_on_create_and_then_only_where_owned() {
    let mut web = wanted("web", GuestKind::Qemu, 100);
    web.mapped = Resolved {
        site: None,
        tenant: Some(40),
        role: Some(41),
        platform: Some(42),
        vrf: None,
    };
    let created = planned(&inputs(vec![web.clone()], Vec::new())).plan;
    let body = &created.creates[0].body;
    assert_eq!(
        (body.tenant, body.role, body.platform),
        (Some(Some(40)), Some(Some(41)), Some(Some(42)))
    );
    // An existing VM: the platform is Proxmox's (always), tenant and role set on create only.
    let existing = vm(7, &web, json!({"role": {"id": 99}}));
    let plan = planned(&inputs(vec![web.clone()], vec![existing.clone()])).plan;
    assert_eq!(plan.updates[0].changed, ["platform"]);
    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Role, Overwrite::Always);
    policy.0.insert(Field::Tenant, Overwrite::Always);
    let owned = plan_with(&inputs(vec![web.clone()], vec![existing.clone()]), &policy);
    assert_eq!(owned.updates[0].changed, ["platform", "role", "tenant"]);
    // Without a rule, role=always leaves the operator's role alone.
    let plain = wanted("web", GuestKind::Qemu, 100);
    assert!(plan_with(&inputs(vec![plain], vec![existing]), &policy).writes_nothing());
}

#[test]
fn an_agent_not_heard_leaves_the_platform_netbox_has_and_a_heard_one_sets_its_os() {
    let platforms: HashMap<String, u64> = [
        ("ubuntu-22-04-4-lts".to_string(), 7),
        ("proxmox-l26".to_string(), 8),
    ]
    .into();
    let mut stopped = wanted("db", GuestKind::Qemu, 101);
    stopped.ostype = Some("l26".into());
    stopped.agent = true;
    stopped.agent_unheard = true;
    let mut heard = stopped.clone();
    heard.agent_unheard = false;
    heard.agent_os = Some("Ubuntu 22.04.4 LTS".into());
    let in_netbox = vm(50, &stopped, json!({"platform": {"id": 7}}));

    let mut unheard_inputs = inputs(vec![stopped.clone()], vec![in_netbox.clone()]);
    unheard_inputs.platforms = platforms.clone();
    unheard_inputs.mapped = mapped(&stopped.identity, 50, None);
    assert!(
        planned(&unheard_inputs).plan.updates.is_empty(),
        "platform 7 stays"
    );

    // A new VM of an unheard agent starts on its ostype's platform.
    let mut new_vm = inputs(vec![stopped.clone()], Vec::new());
    new_vm.platforms = platforms.clone();
    assert_eq!(
        planned(&new_vm).plan.creates[0].body.platform,
        Some(Some(8))
    );

    // Heard without an OS (an agent too old for get-osinfo): the ostype's platform.
    let mut silent = heard.clone();
    silent.agent_os = None;
    let mut silent_inputs = inputs(vec![silent], vec![in_netbox.clone()]);
    silent_inputs.platforms = platforms.clone();
    silent_inputs.mapped = mapped(&stopped.identity, 50, None);
    let update = &planned(&silent_inputs).plan.updates[0];
    assert_eq!(update.changed, ["platform"]);
    assert_eq!(update.body.platform, Some(Some(8)));

    let mut heard_inputs = inputs(
        vec![heard],
        vec![vm(50, &stopped, json!({"platform": {"id": 8}}))],
    );
    heard_inputs.platforms = platforms;
    heard_inputs.mapped = mapped(&stopped.identity, 50, None);
    assert_eq!(
        planned(&heard_inputs).plan.updates[0].body.platform,
        Some(Some(7))
    );
}

#[test]
fn a_guest_under_ha_carries_its_state_and_group_in_proxmox_ha() {
    let mut web = wanted("web", GuestKind::Qemu, 100);
    web.ha = Ha::On(crate::models::HaRecord {
        state: "started".into(),
        group: Some("prefer-first".into()),
    });
    let mut inputs = inputs(vec![web.clone()], Vec::new());
    inputs.ha_field = true;
    let plan = planned(&inputs);
    assert_eq!(
        plan.plan.creates[0].body.custom_fields[HA_FIELD],
        json!("started, group prefer-first")
    );
    // HA let go of it in Proxmox: the field is cleared on its VM, nothing else changes.
    web.ha = Ha::Off;
    let mut vm_json = json!({
        "id": 7, "name": "web", "status": {"value": "active"}, "cluster": {"id": 10},
        "tags": [{"id": 1, "slug": "proxbox"}],
        "custom_fields": {IDENTITY_FIELD: "lab/qemu/100", HA_FIELD: "started, group prefer-first"},
    });
    let vm: VirtualMachine = model(vm_json.clone());
    let mut inputs = inputs_with_vm(web.clone(), vm);
    inputs.ha_field = true;
    let plan = planned(&inputs);
    let update = plan.plan.updates.iter().find(|u| u.id == Some(7)).unwrap();
    assert_eq!(update.body.custom_fields[HA_FIELD], serde_json::Value::Null);
    // Unread HA (the token may not audit /): the field stays as NetBox has it.
    web.ha = Ha::Unread;
    vm_json["custom_fields"][HA_FIELD] = json!("stopped");
    let mut inputs = inputs_with_vm(web, model(vm_json));
    inputs.ha_field = true;
    let plan = planned(&inputs);
    assert!(plan
        .plan
        .updates
        .iter()
        .all(|u| !u.body.custom_fields.contains_key(HA_FIELD)));
}

/// A guest and the VM Proxbox made for it, mapped by its identity.
fn inputs_with_vm(guest: Guest, vm: VirtualMachine) -> Inputs {
    let identity = guest.identity.clone();
    let id = vm.id;
    let mut inputs = inputs(vec![guest], vec![vm]);
    inputs.mapped = mapped(&identity, id, None);
    inputs
}
