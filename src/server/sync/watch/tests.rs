use super::*;
use crate::models::SyncTarget;

fn guest(name: &str, node: &str, running: bool) -> GuestLook {
    GuestLook {
        name: name.into(),
        node: node.into(),
        running,
        maxcpu: Some(2.0),
        maxmem: Some(2 << 30),
        maxdisk: Some(32 << 30),
        tags: "prod".into(),
        template: false,
    }
}

fn task_on(kind: &str, id: &str, user: &str, start: i64) -> Task {
    Task {
        upid: format!("UPID:pve1:0000:0000:{start:08X}:{kind}:{id}:{user}:"),
        node: "pve1".into(),
        kind: kind.into(),
        id: id.into(),
        user: user.into(),
        starttime: Some(start),
        endtime: Some(start + 1),
        status: Some("OK".into()),
    }
}

fn task(kind: &str, id: u64, user: &str, start: i64) -> Task {
    task_on(kind, &id.to_string(), user, start)
}

fn guests(list: &[((GuestKind, u64), GuestLook)]) -> Look {
    Look {
        guests: list.iter().cloned().collect(),
        nodes: [("pve1".to_string(), true), ("pve2".to_string(), true)].into(),
    }
}

fn summary(found: &[Watched]) -> Vec<(Subject, Change, Option<&str>)> {
    found
        .iter()
        .map(|w| {
            (
                w.subject.clone(),
                w.change.clone(),
                w.task.as_ref().map(|t| t.user.as_str()),
            )
        })
        .collect()
}

const Q: GuestKind = GuestKind::Qemu;

fn q(vmid: u64) -> Subject {
    Subject::Guest { kind: Q, vmid }
}

#[test]
fn nothing_changed_is_no_change() {
    let look = guests(&[((Q, 100), guest("web", "pve1", true))]);
    assert!(changes(&look, &look, &[]).is_empty());
}

/// Every kind of change, each with the task that made it (where one did), written by
/// hand from what the two looks and the task list hold.
#[test]
fn each_difference_is_a_change_with_its_task() {
    let before = guests(&[
        ((Q, 100), guest("web", "pve1", true)),
        ((Q, 101), guest("db", "pve1", true)),
        ((Q, 102), guest("old", "pve2", false)),
        ((GuestKind::Lxc, 103), guest("ct", "pve2", false)),
        ((Q, 104), guest("app", "pve1", true)),
    ]);
    let mut after = before.clone();
    let g = &mut after.guests;
    g.remove(&(Q, 102));
    g.get_mut(&(Q, 100)).unwrap().node = "pve2".into();
    g.get_mut(&(Q, 101)).unwrap().name = "db-1".into();
    g.get_mut(&(Q, 101)).unwrap().maxmem = Some(4 << 30);
    g.get_mut(&(GuestKind::Lxc, 103)).unwrap().running = true;
    g.get_mut(&(Q, 104)).unwrap().tags = "prod;web".into();
    g.insert((Q, 105), guest("new", "pve1", false));
    g.insert((Q, 106), guest("copy", "pve1", false));
    after.nodes.insert("pve2".into(), false);
    let tasks = [
        task("qmigrate", 100, "alice@pve", 10),
        task("qmdestroy", 102, "bob@pve", 11),
        task("vzstart", 103, "carol@pve", 12),
        task("qmcreate", 105, "dave@pve", 13),
        task("vzdump", 104, "root@pam", 14),
        task("aptupdate", 0, "root@pam", 15),
        // A clone's task names its source (100), not the new guest.
        task("qmclone", 100, "erin@pve", 16),
        task_on("vzdump", "", "root@pam", 17),
    ];
    assert_eq!(
        summary(&changes(&before, &after, &tasks)),
        [
            (
                q(100),
                Change::Migrated {
                    from: "pve1".into(),
                    to: "pve2".into()
                },
                Some("alice@pve")
            ),
            (q(101), Change::Renamed { from: "db".into() }, None),
            (q(101), Change::Resized, None),
            (q(102), Change::Removed, Some("bob@pve")),
            (
                Subject::Guest {
                    kind: GuestKind::Lxc,
                    vmid: 103
                },
                Change::Started,
                Some("carol@pve")
            ),
            (q(104), Change::Retagged, None),
            (q(104), Change::BackedUp, Some("root@pam")),
            (q(105), Change::Created, Some("dave@pve")),
            (q(106), Change::Created, Some("erin@pve")),
            (
                Subject::Node {
                    name: "pve2".into()
                },
                Change::NodeOffline,
                None
            ),
            (Subject::Cluster, Change::BackedUp, Some("root@pam")),
        ]
    );
}

#[test]
fn changes_read_as_people_and_the_change_log_want_them() {
    let before = guests(&[((Q, 105), guest("web-1", "pve1", true))]);
    let mut after = before.clone();
    after.guests.get_mut(&(Q, 105)).unwrap().node = "pve2".into();
    let tasks = [task("qmigrate", 105, "alice@pve", 7)];
    let found = changes(&before, &after, &tasks);
    assert_eq!(found[0].describe(), "web-1 moved pve1 → pve2 by alice@pve");
    assert_eq!(
        found[0].provenance(),
        "qmigrate of 105 by alice@pve, UPID:pve1:0000:0000:00000007:qmigrate:105:alice@pve:"
    );
    let unseen = changes(&before, &after, &[]);
    assert_eq!(unseen[0].provenance(), "web-1 moved pve1 → pve2");
    let job = changes(&before, &before, &[task_on("vzdump", "", "root@pam", 9)]);
    assert_eq!(job[0].describe(), "a backup job backed up by root@pam");
    assert_eq!(
        job[0].provenance(),
        "vzdump by root@pam, UPID:pve1:0000:0000:00000009:vzdump::root@pam:"
    );
    let mut down = before.clone();
    down.nodes.insert("pve2".into(), false);
    assert_eq!(
        changes(&before, &down, &[])[0].describe(),
        "pve2 went offline"
    );
    assert_eq!(
        changes(&down, &before, &[])[0].describe(),
        "pve2 came online"
    );
}

fn watched(vmid: u64, change: Change) -> Watched {
    Watched {
        subject: q(vmid),
        name: format!("vm{vmid}"),
        change,
        task: None,
    }
}

#[test]
fn the_covering_sync_is_one_guests_run_one_nodes_or_one_cluster_run() {
    assert_eq!(covering_sync(&[]), None, "nothing changed, nothing runs");
    let one = covering_sync(&[watched(7, Change::Started), watched(7, Change::Resized)]).unwrap();
    assert_eq!(
        (one.target, one.stages.clone()),
        (Some(SyncTarget::Guest { vmid: 7 }), vec![]),
        "every stage of guest 7"
    );
    assert_eq!(one.title, "vm7 started (and 1 more)");
    let backup = covering_sync(&[watched(7, Change::BackedUp)]).unwrap();
    assert_eq!(
        (backup.target, backup.stages),
        (Some(SyncTarget::Guest { vmid: 7 }), vec![Stage::Backups])
    );
    let evacuated: Vec<Watched> = (100..180)
        .map(|vmid| {
            watched(
                vmid,
                Change::Migrated {
                    from: "pve1".into(),
                    to: "pve2".into(),
                },
            )
        })
        .collect();
    let all = covering_sync(&evacuated).unwrap();
    assert_eq!(
        (all.target, all.stages.clone()),
        (None, vec![]),
        "80 migrations, one full run"
    );
    assert_eq!(all.title, "vm100 moved pve1 → pve2 (and 79 more)");
    let gone = covering_sync(&[watched(9, Change::Removed), watched(10, Change::Removed)]).unwrap();
    assert_eq!(
        (gone.target, gone.stages),
        (None, vec![Stage::VirtualMachines]),
        "a removal is the orphan rules' to decide, over the cluster"
    );
    let mixed =
        covering_sync(&[watched(9, Change::Removed), watched(10, Change::Started)]).unwrap();
    assert_eq!(
        (mixed.target, mixed.stages),
        (None, vec![]),
        "with other changes: every stage"
    );
    let inventory =
        covering_sync(&[watched(1, Change::BackedUp), watched(2, Change::Snapshots)]).unwrap();
    assert_eq!(
        (inventory.target, inventory.stages),
        (None, vec![Stage::Backups, Stage::Snapshots]),
        "backups and snapshots of several guests: those two stages over the cluster"
    );
    let node = Watched {
        subject: Subject::Node {
            name: "pve2".into(),
        },
        name: "pve2".into(),
        change: Change::NodeOffline,
        task: None,
    };
    let down = covering_sync(std::slice::from_ref(&node)).unwrap();
    assert_eq!(
        (down.target, down.stages),
        (
            Some(SyncTarget::Node {
                name: "pve2".into()
            }),
            vec![]
        ),
        "a node's run"
    );
    let container = Watched {
        subject: Subject::Guest {
            kind: GuestKind::Lxc,
            vmid: 7,
        },
        ..watched(7, Change::BackedUp)
    };
    let shared = covering_sync(&[watched(7, Change::BackedUp), container]).unwrap();
    assert_eq!(
        (shared.target, shared.stages),
        (Some(SyncTarget::Guest { vmid: 7 }), vec![Stage::Backups]),
        "a VM and a container of one VMID: that VMID's run"
    );
    let mixed = covering_sync(&[node, watched(3, Change::Started)]).unwrap();
    assert_eq!(mixed.target, None, "a node and a guest: the cluster");
    let job = Watched {
        subject: Subject::Cluster,
        name: String::new(),
        change: Change::BackedUp,
        task: None,
    };
    let backups = covering_sync(&[job]).unwrap();
    assert_eq!(
        (backups.target, backups.stages),
        (None, vec![Stage::Backups]),
        "a backup job: the backups stage over the cluster"
    );
}

/// A task names a VMID only; its type says whether it ran on a VM (`qm…`) or a container
/// (`vz…`), and a backup (`vzdump`) may be of either.
#[test]
fn a_task_is_matched_to_the_guest_kind_it_runs_on() {
    let before = guests(&[
        ((Q, 100), guest("vm", "pve1", false)),
        ((GuestKind::Lxc, 100), guest("ct", "pve1", false)),
    ]);
    let mut after = before.clone();
    for g in after.guests.values_mut() {
        g.running = true;
    }
    let tasks = [
        task("vzstart", 100, "ct@pve", 1),
        task("qmstart", 100, "vm@pve", 2),
        task("vzdump", 100, "root@pam", 3),
    ];
    let ct = Subject::Guest {
        kind: GuestKind::Lxc,
        vmid: 100,
    };
    assert_eq!(
        summary(&changes(&before, &after, &tasks)),
        [
            (q(100), Change::Started, Some("vm@pve")),
            (q(100), Change::BackedUp, Some("root@pam")),
            (ct.clone(), Change::Started, Some("ct@pve")),
            (ct, Change::BackedUp, Some("root@pam")),
        ]
    );
}

#[test]
fn only_tasks_not_seen_before_are_new() {
    let listed = [
        task("qmstart", 1, "a@pve", 5),
        task("qmstop", 1, "a@pve", 3),
    ];
    let seen: HashSet<String> = [listed[0].upid.clone()].into();
    let fresh = new_tasks(&listed, &seen);
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].kind, "qmstop");
    let both = new_tasks(&listed, &HashSet::new());
    assert_eq!(both[0].starttime, Some(3), "oldest first");
}

#[test]
fn the_look_keeps_guests_and_nodes() {
    let resource = |kind: &str, vmid: Option<u64>, status: &str| ClusterResource {
        id: format!("{kind}/{}", vmid.unwrap_or(0)),
        kind: kind.into(),
        node: Some("pve1".into()),
        vmid,
        name: Some("x".into()),
        status: Some(status.into()),
        template: false,
        maxcpu: None,
        maxmem: None,
        maxdisk: None,
        tags: None,
        pool: None,
        storage: None,
        uptime: None,
    };
    let look = look(&[
        resource("qemu", Some(100), "running"),
        resource("node", None, "offline"),
        resource("lxc", Some(101), "stopped"),
        resource("storage", None, "available"),
    ]);
    assert_eq!(
        look.guests.keys().copied().collect::<Vec<_>>(),
        [(Q, 100), (GuestKind::Lxc, 101)]
    );
    assert!(look.guests[&(Q, 100)].running);
    assert_eq!(look.nodes, [("pve1".to_string(), false)].into());
}
