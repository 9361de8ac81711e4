//! The guest fields NetBox 4.7 has a place for, Proxmox tags and templates, against the
//! simulator and the real NetBox.

use std::collections::BTreeSet;

use proxbox::events::ItemStatus;
use proxbox::server::sync::context::{RunOptions, Templates};
use proxbox::server::sync::mapping::MappingRules;
use proxbox::server::sync::overwrite::OverwritePolicy;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{
    DeviceRole, NewDeviceRole, NewNamed, NewSite, NewTag, Site, Tag, TagRef, Tenant,
    VirtualMachine, VirtualMachineWrite,
};
use pve_sim::Kind;

use crate::support::*;
use crate::sync_support::*;

const VMS: &[Stage] = &[Stage::VirtualMachines];

fn tag_slugs(vm: &VirtualMachine) -> BTreeSet<String> {
    vm.tags.iter().filter_map(|t| t.slug.clone()).collect()
}

async fn vm_named(
    netbox: &proxbox_netbox::NetboxClient,
    cluster: &str,
    name: &str,
) -> VirtualMachine {
    let (_, vms) = cluster_and_vms(netbox, cluster).await;
    vms.into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no VM {name}"))
}

#[tokio::test]
async fn guests_carry_their_type_boot_serial_notes_and_tags_and_operator_tags_survive() {
    let (netbox, name, sim) = scenario("fields", 12, 2, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    {
        let mut c = sim.state.cluster.write().await;
        let app = c.guests.get_mut(&(Kind::Qemu, 101)).unwrap();
        app.tags = vec!["web".into(), "Team.EU+1".into()];
        app.description = "# App\n\nOwned by **ops**.\n".into();
        let odd = c.guests.get_mut(&(Kind::Qemu, 103)).unwrap();
        odd.template = true;
        odd.running = false;
        c.guests.get_mut(&(Kind::Lxc, 100)).unwrap().running = false;
    }
    sync(&db, &netbox, &sim, endpoint_id, VMS).await;

    let app = vm_named(&netbox, &name, "app-shared").await;
    let slug = |r: &Option<proxbox_netbox::models::Ref>| r.as_ref().and_then(|r| r.slug.clone());
    assert_eq!(
        slug(&app.virtual_machine_type).as_deref(),
        Some("proxmox-qemu")
    );
    assert_eq!(app.role, None, "the role is left to the operator");
    assert_eq!(
        app.start_on_boot.as_ref().map(|c| c.value.as_str()),
        Some("on")
    );
    assert_eq!(app.serial, "00000000-0000-4000-8000-000000000065");
    assert_eq!(app.comments, "# App\n\nOwned by **ops**.");
    assert_eq!(
        tag_slugs(&app),
        ["proxbox", "team-eu-1", "web"].map(String::from).into()
    );
    let tags = netbox
        .list::<Tag>(&[("slug", "team-eu-1".into())])
        .await
        .unwrap();
    assert_eq!(tags[0].name, "Team.EU+1", "the tag keeps its Proxmox name");

    let lxc = vm_named(&netbox, &name, "special-lxc-100").await;
    assert_eq!(
        slug(&lxc.virtual_machine_type).as_deref(),
        Some("proxmox-lxc")
    );
    assert_eq!(
        lxc.start_on_boot.as_ref().map(|c| c.value.as_str()),
        Some("off")
    );
    assert_eq!(lxc.serial, "", "containers have no SMBIOS UUID");

    let template = vm_named(&netbox, &name, "odd-config").await;
    assert_eq!(template.status.value, "offline");
    assert!(tag_slugs(&template).contains("proxmox-template"));

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, VMS).await;

    // An operator tags the VM by hand, also with a tag Proxmox will get and then lose.
    let owner = netbox
        .ensure::<Tag, _>("owner-ops", || NewTag {
            name: "owner-ops".into(),
            slug: "owner-ops".into(),
            color: "2196f3".into(),
            description: String::new(),
        })
        .await
        .unwrap();
    let mut by_hand = tag_slugs(&app);
    by_hand.insert(owner.slug.clone());
    netbox
        .update::<VirtualMachine, _>(&[VirtualMachineWrite {
            id: Some(app.id),
            tags: Some(
                by_hand
                    .iter()
                    .map(|slug| TagRef { slug: slug.clone() })
                    .collect(),
            ),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    // In Proxmox: "web" removed, the notes edited, the template made a VM again.
    {
        let mut c = sim.state.cluster.write().await;
        let app = c.guests.get_mut(&(Kind::Qemu, 101)).unwrap();
        app.tags = vec!["Team.EU+1".into()];
        app.description = "Moved to rack 4".into();
        c.guests.get_mut(&(Kind::Qemu, 103)).unwrap().template = false;
    }
    let ran = sync(&db, &netbox, &sim, endpoint_id, VMS).await;
    let updated: BTreeSet<String> = ran
        .all("virtual-machines")
        .into_iter()
        .filter(|(_, s)| *s == ItemStatus::Updated)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        updated,
        ["app-shared", "odd-config"].map(String::from).into()
    );
    let app = netbox.get::<VirtualMachine>(app.id).await.unwrap();
    assert_eq!(
        tag_slugs(&app),
        ["owner-ops", "proxbox", "team-eu-1"]
            .map(String::from)
            .into(),
        "Proxbox's web tag went with Proxmox's; the operator's stays"
    );
    assert_eq!(app.comments, "Moved to rack 4");
    let template = netbox.get::<VirtualMachine>(template.id).await.unwrap();
    assert!(!tag_slugs(&template).contains("proxmox-template"));
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, VMS).await;

    // With comments set on create only, notes typed into NetBox stay.
    netbox
        .update::<VirtualMachine, _>(&[VirtualMachineWrite {
            id: Some(app.id),
            comments: Some("Ticket OPS-7: keep running".into()),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let collect = proxbox::server::sync::sink::CollectSink::default();
    let mut ctx = proxbox::server::sync::context::SyncContext::new(
        &db,
        &netbox,
        vec![source(&sim, endpoint_id)],
        &collect,
    );
    ctx.policy = OverwritePolicy::parse("comments=on_create").unwrap();
    let outcome = proxbox::server::sync::run::run_sync(&ctx, VMS, "policy").await;
    assert!(outcome.ok, "{:?}", outcome.error);
    assert_eq!(
        netbox.get::<VirtualMachine>(app.id).await.unwrap().comments,
        "Ticket OPS-7: keep running"
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn templates_are_left_out_when_the_setting_says_skip() {
    let (netbox, name, sim) = scenario("tmpl", 13, 1, 5).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    {
        let mut c = sim.state.cluster.write().await;
        let odd = c.guests.get_mut(&(Kind::Qemu, 103)).unwrap();
        odd.template = true;
        odd.running = false;
    }
    let options = RunOptions {
        templates: Templates::Skip,
        ..RunOptions::default()
    };
    let ran = run_on(&db, &netbox, &sim, endpoint_id, VMS, options).await;
    assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
    let item = ran
        .items("virtual-machines")
        .into_iter()
        .find(|i| i.name == "odd-config")
        .expect("the template is listed");
    assert_eq!(item.status, ItemStatus::Skipped);
    let reason = item.warning.unwrap_or_default();
    assert!(reason.contains("PROXBOX_TEMPLATES=skip"), "{reason}");
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(vms.len(), 4, "every guest but the template");
    assert!(vms.iter().all(|v| v.name != "odd-config"));

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn mapping_rules_choose_the_clusters_site_and_guests_tenant_and_role() {
    let (netbox, name, sim) = scenario("map", 15, 1, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let named = |slug: String| NewNamed {
        name: slug.clone(),
        slug,
        description: String::new(),
        tags: Vec::new(),
    };
    let site_slug = format!("{name}-east");
    let site = netbox
        .ensure::<Site, _>(&site_slug, || NewSite {
            name: site_slug.clone(),
            slug: site_slug.clone(),
            status: "active".into(),
            tags: Vec::new(),
        })
        .await
        .unwrap();
    let tenant = netbox
        .ensure::<Tenant, _>(&format!("{name}-shop"), || named(format!("{name}-shop")))
        .await
        .unwrap();
    let role_slug = format!("{name}-web");
    let role = netbox
        .ensure::<DeviceRole, _>(&role_slug, || NewDeviceRole {
            name: role_slug.clone(),
            slug: role_slug.clone(),
            color: "2196f3".into(),
            vm_role: true,
            tags: Vec::new(),
        })
        .await
        .unwrap();
    sim.state
        .cluster
        .write()
        .await
        .guests
        .get_mut(&(Kind::Qemu, 101))
        .unwrap()
        .tags = vec!["web".into()];
    let rules = format!(
        r#"[{{"name": "east", "match": {{"cluster": "{name}"}}, "site": "{site_slug}"}},
            {{"name": "web by tag", "match": {{"tag": "web"}}, "role": "{role_slug}"}},
            {{"name": "specials by name", "match": {{"name": "^special-"}}, "tenant": "{}"}}]"#,
        tenant.slug
    );
    let options = RunOptions {
        mapping: MappingRules::parse(&rules).unwrap(),
        ..RunOptions::default()
    };
    let ran = run_on(&db, &netbox, &sim, endpoint_id, VMS, options).await;
    assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
    ran.assert_no_failed_items();

    let (cluster, vms) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(
        cluster.scope_id,
        Some(site.id),
        "the rule's site scopes the cluster"
    );
    let by_name = |n: &str| vms.iter().find(|v| v.name == n).unwrap();
    let id = |r: &Option<proxbox_netbox::models::Ref>| r.as_ref().map(|r| r.id);
    assert_eq!(id(&by_name("app-shared").role), Some(role.id), "by tag");
    assert_eq!(id(&by_name("app-shared").site), Some(site.id));
    for special in ["special-qemu-100", "special-lxc-100"] {
        assert_eq!(
            id(&by_name(special).tenant),
            Some(tenant.id),
            "{special} by name"
        );
    }
    assert_eq!(
        id(&by_name("odd-config").tenant),
        None,
        "no rule: no tenant"
    );

    // A rule that names a site NetBox lacks stops a run before it writes anything.
    let other_sim = simulator(&unique("mapx"), 16, 1, 5).await;
    let (_other_db, other_db, other_endpoint) = proxbox_db(Backend::Sqlite).await;
    let missing = RunOptions {
        mapping: MappingRules::parse(r#"[{"name": "typo", "site": "no-such-site-anywhere"}]"#)
            .unwrap(),
        ..RunOptions::default()
    };
    let (_, writes_before) = netbox.request_counts();
    let refused = run_on(&other_db, &netbox, &other_sim, other_endpoint, &[], missing).await;
    assert!(!refused.outcome.ok);
    let error = refused.outcome.error.unwrap();
    assert!(
        error.message.contains("\"typo\"") && error.message.contains("no-such-site-anywhere"),
        "{error:?}"
    );
    assert_eq!(netbox.request_counts().1, writes_before, "nothing written");

    cleanup(&netbox, &name).await;
    netbox.delete::<DeviceRole>(&[role.id]).await.unwrap();
    netbox.delete::<Tenant>(&[tenant.id]).await.unwrap();
    netbox.delete::<Site>(&[site.id]).await.unwrap();
    sim.stop().await;
    other_sim.stop().await;
}
