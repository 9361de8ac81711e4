//! The copy of NetBox a sync keeps (`sync::mirror`): a resync asks NetBox only what changed,
//! follows what operators changed in between, and stores the copy only over the state it
//! started from.

use proxbox::events::ItemStatus;
use proxbox::server::infra::db::mirror::MirrorChanges;
use proxbox::server::sync::context::RunOptions;
use proxbox_netbox::models::*;

use crate::support::*;
use crate::sync_support::*;

/// How the run read NetBox, as its setting (the substep after discovery) says.
fn netbox_reads(ran: &Ran) -> String {
    proxbox::server::sync::run::netbox_reads(&ran.events)
        .expect("the run's setting names how NetBox is read")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_reads_only_what_changed_and_follows_edits_made_in_netbox() {
    let (netbox, name, sim) = scenario("mirror", 86, 1, 10).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;

    let first = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert!(
        netbox_reads(&first).starts_with("full reads"),
        "{}",
        netbox_reads(&first)
    );

    // Nothing changed: the same answer (nothing written, all skipped) without listing any
    // of the objects the copy keeps, where a run that reads NetBox in full lists each.
    // (Objects other tests change meanwhile in the shared NetBox are read by id.)
    let kept = [
        (VirtualMachine::PATH, "cluster_id"),
        (VirtualDisk::PATH, "virtual_machine_id"),
        (VmInterface::PATH, "virtual_machine_id"),
        (MacAddress::PATH, "vminterface_id"),
        (IpAddress::PATH, "vminterface_id"),
    ];
    let reads_of_kept = || kept.map(|(path, filter)| netbox.reads_of(path, Some(filter)));
    let before = reads_of_kept();
    let followed = assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert_eq!(
        reads_of_kept(),
        before,
        "no VM, disk, interface, MAC or address read"
    );
    assert!(
        netbox_reads(&followed).starts_with("changes since the last sync"),
        "{}",
        netbox_reads(&followed)
    );
    let full_options = RunOptions {
        mirror_max_age: None,
        ..RunOptions::default()
    };
    let (_, writes_before) = netbox.request_counts();
    let full = run_on(&db, &netbox, &sim, endpoint_id, &[], full_options).await;
    assert!(full.outcome.ok, "{:?}", full.outcome.error);
    assert_eq!(full.changes(), vec![]);
    assert_eq!(netbox.request_counts().1, writes_before);
    for (((path, filter), after), before) in kept.iter().zip(reads_of_kept()).zip(before) {
        assert!(after > before, "a full run lists {path} by {filter}");
    }

    // An operator edits NetBox between two syncs: renames a VM (Proxbox owns names),
    // deletes an interface and a disk. The copy must not hide any of it.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let vm_ids: Vec<u64> = vms.iter().map(|v| v.id).collect();
    let renamed = &vms[0];
    netbox
        .update::<VirtualMachine, _>(&[VirtualMachineWrite {
            id: Some(renamed.id),
            name: Some(format!("{}-edited", renamed.name)),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let interface = netbox
        .list_in::<VmInterface, _>("virtual_machine_id", &vm_ids)
        .await
        .unwrap()
        .remove(0);
    let disk = netbox
        .list_in::<VirtualDisk, _>("virtual_machine_id", &vm_ids)
        .await
        .unwrap()
        .remove(0);
    netbox.delete::<VmInterface>(&[interface.id]).await.unwrap();
    netbox.delete::<VirtualDisk>(&[disk.id]).await.unwrap();

    let mended = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert!(netbox_reads(&mended).starts_with("changes since the last sync"));
    let of = |phase: &str, kind: Option<&str>| -> Vec<ItemStatus> {
        mended
            .changes()
            .into_iter()
            .filter(|(p, k, ..)| p == phase && kind.is_none_or(|kind| k == kind))
            .map(|(.., status)| status)
            .collect()
    };
    assert_eq!(
        of("virtual-machines", None),
        [ItemStatus::Updated],
        "the name put back"
    );
    assert_eq!(
        of("virtual-disks", None),
        [ItemStatus::Created],
        "the disk made again"
    );
    assert_eq!(
        of("vm-interfaces", Some("interface")),
        [ItemStatus::Created],
        "the interface made again"
    );
    assert_eq!(
        netbox.get::<VirtualMachine>(renamed.id).await.unwrap().name,
        renamed.name
    );
    // The copy now agrees with NetBox again.
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;

    // A copy kept by a Proxbox that read other fields (an upgrade) is rebuilt, not trusted.
    sqlx::query("UPDATE netbox_mirror_state SET shape = 'virtualization.virtualmachine:id,name'")
        .execute(db.pool())
        .await
        .unwrap();
    let upgraded = assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert!(
        netbox_reads(&upgraded).contains("rebuilt"),
        "{}",
        netbox_reads(&upgraded)
    );
    let followed = assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert!(netbox_reads(&followed).starts_with("changes since the last sync"));
    cleanup(&netbox, &name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_is_saved_only_over_the_state_its_run_started_from() {
    const VM: &str = "virtualization.virtualmachine";
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::new(backend).await;
        let db = proxbox::server::infra::db::Db::connect(&test_db.url)
            .await
            .unwrap();
        let url = "http://netbox.example";
        assert!(db.load_mirror(url).await.unwrap().is_none());
        let state = |settled: i64| proxbox::server::infra::db::mirror::MirrorState {
            settled_change: settled,
            recent_changes: "[[11,12,5]]".into(),
            full_read_at: 1,
            version: 0,
            shape: "virtualization.virtualmachine:id,name".into(),
            cursor_entry: format!("{settled} 2026-12-07T05:40:12+00:00"),
        };
        let rebuilt = MirrorChanges {
            rebuilt: true,
            state: state(10),
            upserts: vec![(VM.into(), 5, r#"{"id":5}"#.into())],
            removals: vec![],
            coverage: vec![(VM.into(), "cluster_id".into(), "3".into())],
        };
        assert!(db.save_mirror(url, None, &rebuilt).await.unwrap());
        assert!(
            !db.save_mirror(url, None, &rebuilt).await.unwrap(),
            "a second run that also started from nothing stored loses"
        );
        let stored = db.load_mirror(url).await.unwrap().unwrap();
        assert_eq!((stored.state.version, stored.state.settled_change), (1, 10));
        assert_eq!(stored.state.recent_changes, "[[11,12,5]]");
        assert_eq!(stored.state.shape, "virtualization.virtualmachine:id,name");
        assert_eq!(
            stored.objects,
            vec![(VM.to_string(), 5, r#"{"id":5}"#.to_string())]
        );
        assert_eq!(stored.coverage.len(), 1);

        // Two runs that both started from version 1: the first to finish is stored.
        let followed = MirrorChanges {
            rebuilt: false,
            state: state(20),
            upserts: vec![(VM.into(), 6, r#"{"id":6}"#.into())],
            removals: vec![(VM.into(), 5)],
            coverage: vec![],
        };
        assert!(db.save_mirror(url, Some(1), &followed).await.unwrap());
        assert!(!db.save_mirror(url, Some(1), &rebuilt).await.unwrap());
        let stored = db.load_mirror(url).await.unwrap().unwrap();
        assert_eq!((stored.state.version, stored.state.settled_change), (2, 20));
        assert_eq!(
            stored.objects,
            vec![(VM.to_string(), 6, r#"{"id":6}"#.to_string())]
        );
        assert_eq!(stored.coverage.len(), 1, "coverage is kept until a rebuild");
    }
}
