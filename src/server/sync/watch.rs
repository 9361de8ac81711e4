//! What changed in a Proxmox cluster between two looks at it: the guests of
//! `/cluster/resources` then and now, and the tasks `/cluster/tasks` lists that were not
//! there before. Each difference is one [`Watched`] change of one guest — created, removed,
//! renamed, moved to another node, started, stopped, resized, retagged, backed up or
//! snapshotted — with the Proxmox task that caused it where the task list names one, so
//! that NetBox's change log can say who did it. A pure function of what was read: the
//! watcher (which reads, and turns the changes into a sync) is tested apart.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use proxbox_pve::{ClusterResource, GuestKind, Task};

use super::stage::Stage;

/// A guest as `/cluster/resources` shows it: what a change there can be seen in.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestLook {
    pub name: String,
    pub node: String,
    pub running: bool,
    pub maxcpu: Option<f64>,
    pub maxmem: Option<u64>,
    pub maxdisk: Option<u64>,
    /// Proxmox's tag list as written (`;`-separated).
    pub tags: String,
    pub template: bool,
}

/// A cluster's guests at one look, by kind and VMID.
pub type Look = BTreeMap<(GuestKind, u64), GuestLook>;

/// The guests of a `/cluster/resources` answer (entries of another type, or without a
/// VMID, are not guests).
pub fn look(resources: &[ClusterResource]) -> Look {
    resources
        .iter()
        .filter_map(|r| {
            let kind = r.guest_kind()?;
            let vmid = r.vmid?;
            let guest = GuestLook {
                name: r.name.clone().unwrap_or_else(|| vmid.to_string()),
                node: r.node.clone().unwrap_or_default(),
                running: r.status.as_deref() == Some("running"),
                maxcpu: r.maxcpu,
                maxmem: r.maxmem,
                maxdisk: r.maxdisk,
                tags: r.tags.clone().unwrap_or_default(),
                template: r.template,
            };
            Some(((kind, vmid), guest))
        })
        .collect()
}

/// One change of one guest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Created,
    Removed,
    Renamed {
        from: String,
    },
    Migrated {
        from: String,
        to: String,
    },
    Started,
    Stopped,
    /// Its CPUs, memory or disk size (or its template flag).
    Resized,
    Retagged,
    /// A backup of it was taken (`vzdump`).
    BackedUp,
    /// A snapshot of it was taken, removed or rolled back to.
    Snapshots,
}

impl Change {
    /// The task types that make this change: `/cluster/tasks` names the one that did it.
    fn task_types(&self) -> &'static [&'static str] {
        match self {
            Change::Created => &[
                "qmcreate",
                "qmclone",
                "qmrestore",
                "vzcreate",
                "vzclone",
                "vzrestore",
            ],
            Change::Removed => &["qmdestroy", "vzdestroy"],
            Change::Migrated { .. } => &["qmigrate", "vzmigrate"],
            Change::Started => &["qmstart", "vzstart"],
            Change::Stopped => &["qmstop", "qmshutdown", "vzstop", "vzshutdown"],
            Change::Renamed { .. } | Change::Resized | Change::Retagged => {
                &["qmconfig", "vzconfig"]
            }
            Change::BackedUp => &["vzdump"],
            Change::Snapshots => &[
                "qmsnapshot",
                "qmdelsnapshot",
                "qmrollback",
                "vzsnapshot",
                "vzdelsnapshot",
                "vzrollback",
            ],
        }
    }
}

/// A change of one guest, and the task that made it when the task list says.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub kind: GuestKind,
    pub vmid: u64,
    /// The guest's name now (before, for a removed one).
    pub name: String,
    pub change: Change,
    pub task: Option<Task>,
}

impl Watched {
    /// For people: `web-1 moved pve1 → pve2 by alice@pve`.
    pub fn describe(&self) -> String {
        let what = match &self.change {
            Change::Created => "created".to_string(),
            Change::Removed => "removed".to_string(),
            Change::Renamed { from } => format!("renamed from {from}"),
            Change::Migrated { from, to } => format!("moved {from} → {to}"),
            Change::Started => "started".to_string(),
            Change::Stopped => "stopped".to_string(),
            Change::Resized => "resized".to_string(),
            Change::Retagged => "retagged".to_string(),
            Change::BackedUp => "backed up".to_string(),
            Change::Snapshots => "snapshots changed".to_string(),
        };
        match &self.task {
            Some(task) => format!("{} {what} by {}", self.name, task.user),
            None => format!("{} {what}", self.name),
        }
    }

    /// For NetBox's change log: `qmigrate of 105 by alice@pve, UPID:…` (or the change in
    /// words when no task names it).
    pub fn provenance(&self) -> String {
        match &self.task {
            Some(task) => format!(
                "{} of {} by {}, {}",
                task.kind, self.vmid, task.user, task.upid
            ),
            None => self.describe(),
        }
    }
}

/// The tasks of `listed` not seen before (by UPID), oldest first.
pub fn new_tasks(listed: &[Task], seen: &HashSet<String>) -> Vec<Task> {
    let mut fresh: Vec<Task> = listed
        .iter()
        .filter(|t| !seen.contains(&t.upid))
        .cloned()
        .collect();
    fresh.sort_by_key(|t| t.starttime);
    fresh
}

/// Every change between two looks, each with the newest new task of its guest that makes
/// it; and a guest whose look did not change but whose new tasks took a backup or changed
/// its snapshots. In VMID order.
pub fn changes(before: &Look, after: &Look, tasks: &[Task]) -> Vec<Watched> {
    let mut found = Vec::new();
    let mut keys: Vec<&(GuestKind, u64)> = before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by_key(|(kind, vmid)| (*vmid, *kind));
    for key in keys {
        let (kind, vmid) = *key;
        let mut push = |name: &str, change: Change| {
            found.push(Watched {
                kind,
                vmid,
                name: name.to_string(),
                change,
                task: None,
            })
        };
        match (before.get(key), after.get(key)) {
            (None, Some(now)) => push(&now.name, Change::Created),
            (Some(then), None) => push(&then.name, Change::Removed),
            (Some(then), Some(now)) => {
                if then.name != now.name {
                    push(
                        &now.name,
                        Change::Renamed {
                            from: then.name.clone(),
                        },
                    );
                }
                if then.node != now.node {
                    let (from, to) = (then.node.clone(), now.node.clone());
                    push(&now.name, Change::Migrated { from, to });
                }
                match (then.running, now.running) {
                    (false, true) => push(&now.name, Change::Started),
                    (true, false) => push(&now.name, Change::Stopped),
                    _ => {}
                }
                let size =
                    |g: &GuestLook| (g.maxcpu.map(f64::to_bits), g.maxmem, g.maxdisk, g.template);
                if size(then) != size(now) {
                    push(&now.name, Change::Resized);
                }
                if then.tags != now.tags {
                    push(&now.name, Change::Retagged);
                }
            }
            (None, None) => {}
        }
        // Tasks that leave no trace in the resources: backups and snapshots.
        if let Some(now) = after.get(key) {
            let of_guest = |types: &[&str]| {
                tasks
                    .iter()
                    .any(|t| t.id == vmid.to_string() && types.contains(&t.kind.as_str()))
            };
            for change in [Change::BackedUp, Change::Snapshots] {
                if of_guest(change.task_types()) {
                    found.push(Watched {
                        kind,
                        vmid,
                        name: now.name.clone(),
                        change,
                        task: None,
                    });
                }
            }
        }
    }
    for watched in &mut found {
        let id = watched.vmid.to_string();
        let types = watched.change.task_types();
        watched.task = tasks
            .iter()
            .filter(|t| t.id == id && types.contains(&t.kind.as_str()))
            .max_by_key(|t| t.starttime)
            .cloned();
    }
    found
}

/// The smallest sync that covers one look's changes of one endpoint, and why it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CoveringSync {
    /// The stages to run; empty: every stage the scope has something for.
    pub stages: Vec<Stage>,
    /// The one guest it is limited to; `None`: the whole cluster.
    pub guest: Option<u64>,
    /// For people (the job's title, the live feed): the first change, and how many more.
    pub title: String,
    /// For NetBox's change log: the first change's task, and how many more.
    pub provenance: String,
}

/// One guest's changes are its own run — only the backups or snapshots stage when nothing
/// else of it changed; changes of several guests, or a guest gone (whose VM the orphan
/// rules decide about), are one run of the whole cluster, so that a node evacuated (80
/// migrations) is one job, not 80.
pub fn covering_sync(changes: &[Watched]) -> Option<CoveringSync> {
    let first = changes.first()?;
    let more = |text: String| match changes.len() {
        1 => text,
        n => format!("{text} (and {} more)", n - 1),
    };
    let inventory_only: BTreeSet<Stage> = changes
        .iter()
        .map(|w| match w.change {
            Change::BackedUp => Some(Stage::Backups),
            Change::Snapshots => Some(Stage::Snapshots),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    let one_guest = changes
        .iter()
        .all(|w| (w.kind, w.vmid) == (first.kind, first.vmid) && w.change != Change::Removed);
    Some(CoveringSync {
        stages: inventory_only.into_iter().collect(),
        guest: one_guest.then_some(first.vmid),
        title: more(first.describe()),
        provenance: more(first.provenance()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn task(kind: &str, id: u64, user: &str, start: i64) -> Task {
        Task {
            upid: format!("UPID:pve1:0000:0000:{start:08X}:{kind}:{id}:{user}:"),
            node: "pve1".into(),
            kind: kind.into(),
            id: id.to_string(),
            user: user.into(),
            starttime: Some(start),
            endtime: Some(start + 1),
            status: Some("OK".into()),
        }
    }

    fn summary(found: &[Watched]) -> Vec<(u64, Change, Option<&str>)> {
        found
            .iter()
            .map(|w| {
                (
                    w.vmid,
                    w.change.clone(),
                    w.task.as_ref().map(|t| t.user.as_str()),
                )
            })
            .collect()
    }

    const Q: GuestKind = GuestKind::Qemu;

    #[test]
    fn nothing_changed_is_no_change() {
        let look: Look = [((Q, 100), guest("web", "pve1", true))].into();
        assert!(changes(&look, &look, &[]).is_empty());
    }

    /// Every kind of change, each with the task that made it (where one did), written by
    /// hand from what the two looks and the task list hold.
    #[test]
    fn each_difference_is_a_change_with_its_task() {
        let before: Look = [
            ((Q, 100), guest("web", "pve1", true)),
            ((Q, 101), guest("db", "pve1", true)),
            ((Q, 102), guest("old", "pve2", false)),
            ((GuestKind::Lxc, 103), guest("ct", "pve2", false)),
            ((Q, 104), guest("app", "pve1", true)),
        ]
        .into();
        let mut after = before.clone();
        after.remove(&(Q, 102));
        after.get_mut(&(Q, 100)).unwrap().node = "pve2".into();
        after.get_mut(&(Q, 101)).unwrap().name = "db-1".into();
        after.get_mut(&(Q, 101)).unwrap().maxmem = Some(4 << 30);
        after.get_mut(&(GuestKind::Lxc, 103)).unwrap().running = true;
        after.get_mut(&(Q, 104)).unwrap().tags = "prod;web".into();
        after.insert((Q, 105), guest("new", "pve1", false));
        let tasks = [
            task("qmigrate", 100, "alice@pve", 10),
            task("qmdestroy", 102, "bob@pve", 11),
            task("vzstart", 103, "carol@pve", 12),
            task("qmclone", 105, "dave@pve", 13),
            task("vzdump", 104, "root@pam", 14),
            task("aptupdate", 0, "root@pam", 15),
        ];
        assert_eq!(
            summary(&changes(&before, &after, &tasks)),
            [
                (
                    100,
                    Change::Migrated {
                        from: "pve1".into(),
                        to: "pve2".into()
                    },
                    Some("alice@pve")
                ),
                (101, Change::Renamed { from: "db".into() }, None),
                (101, Change::Resized, None),
                (102, Change::Removed, Some("bob@pve")),
                (103, Change::Started, Some("carol@pve")),
                (104, Change::Retagged, None),
                (104, Change::BackedUp, Some("root@pam")),
                (105, Change::Created, Some("dave@pve")),
            ]
        );
    }

    #[test]
    fn changes_read_as_people_and_the_change_log_want_them() {
        let before: Look = [((Q, 105), guest("web-1", "pve1", true))].into();
        let mut after = before.clone();
        after.get_mut(&(Q, 105)).unwrap().node = "pve2".into();
        let tasks = [task("qmigrate", 105, "alice@pve", 7)];
        let found = changes(&before, &after, &tasks);
        assert_eq!(found[0].describe(), "web-1 moved pve1 → pve2 by alice@pve");
        assert_eq!(
            found[0].provenance(),
            "qmigrate of 105 by alice@pve, UPID:pve1:0000:0000:00000007:qmigrate:105:alice@pve:"
        );
        let unseen = changes(&before, &after, &[]);
        assert_eq!(unseen[0].provenance(), "web-1 moved pve1 → pve2");
    }

    fn watched(vmid: u64, change: Change) -> Watched {
        Watched {
            kind: Q,
            vmid,
            name: format!("vm{vmid}"),
            change,
            task: None,
        }
    }

    #[test]
    fn the_covering_sync_is_one_guests_run_or_one_cluster_run() {
        assert_eq!(covering_sync(&[]), None, "nothing changed, nothing runs");
        let one =
            covering_sync(&[watched(7, Change::Started), watched(7, Change::Resized)]).unwrap();
        assert_eq!(
            (one.guest, one.stages.clone()),
            (Some(7), vec![]),
            "every stage of guest 7"
        );
        assert_eq!(one.title, "vm7 started (and 1 more)");
        let backup = covering_sync(&[watched(7, Change::BackedUp)]).unwrap();
        assert_eq!(
            (backup.guest, backup.stages),
            (Some(7), vec![Stage::Backups])
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
            (all.guest, all.stages.clone()),
            (None, vec![]),
            "80 migrations, one full run"
        );
        assert_eq!(all.title, "vm100 moved pve1 → pve2 (and 79 more)");
        let gone = covering_sync(&[watched(9, Change::Removed)]).unwrap();
        assert_eq!(
            gone.guest, None,
            "a removal is the orphan rules' to decide, over the cluster"
        );
        let inventory =
            covering_sync(&[watched(1, Change::BackedUp), watched(2, Change::Snapshots)]).unwrap();
        assert_eq!(
            (inventory.guest, inventory.stages),
            (None, vec![Stage::Backups, Stage::Snapshots]),
            "backups and snapshots of several guests: those two stages over the cluster"
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
    fn the_look_keeps_guests_only() {
        let resource = |kind: &str, vmid: Option<u64>| ClusterResource {
            id: format!("{kind}/{}", vmid.unwrap_or(0)),
            kind: kind.into(),
            node: Some("pve1".into()),
            vmid,
            name: Some("x".into()),
            status: Some("running".into()),
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
            resource("qemu", Some(100)),
            resource("node", None),
            resource("lxc", Some(101)),
            resource("storage", None),
        ]);
        assert_eq!(
            look.keys().copied().collect::<Vec<_>>(),
            [(Q, 100), (GuestKind::Lxc, 101)]
        );
        assert!(look[&(Q, 100)].running);
    }
}
