//! What changed in a Proxmox cluster between two looks at it: the guests and nodes of
//! `/cluster/resources` then and now, and the tasks `/cluster/tasks` lists that were not
//! there before. Each difference is one [`Watched`] change — a guest created, removed,
//! renamed, moved to another node, started, stopped, resized, retagged, backed up or
//! snapshotted; a node gone offline or back — with the Proxmox task that caused it where
//! the task list names one, so that NetBox's change log can say who did it. A pure function
//! of what was read: the watcher (which reads, and turns the changes into a sync) is tested
//! apart.

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

/// A cluster at one look: its guests by kind and VMID, and whether each node is online.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Look {
    pub guests: BTreeMap<(GuestKind, u64), GuestLook>,
    pub nodes: BTreeMap<String, bool>,
}

/// The guests and nodes of a `/cluster/resources` answer (storage and pools are not
/// watched: the inventory stages of the full update keep them).
pub fn look(resources: &[ClusterResource]) -> Look {
    let mut look = Look::default();
    for r in resources {
        if r.kind == "node" {
            if let Some(node) = &r.node {
                look.nodes
                    .insert(node.clone(), r.status.as_deref() == Some("online"));
            }
            continue;
        }
        let (Some(kind), Some(vmid)) = (r.guest_kind(), r.vmid) else {
            continue;
        };
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
        look.guests.insert((kind, vmid), guest);
    }
    look
}

/// What a change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    Guest {
        kind: GuestKind,
        vmid: u64,
    },
    Node {
        name: String,
    },
    /// The cluster as a whole: a backup job's `vzdump` names no guest.
    Cluster,
}

/// One change of one guest or node.
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
    NodeOnline,
    NodeOffline,
}

/// Task types that create a guest under another guest's VMID (the clone's source).
const CLONE_TASKS: [&str; 2] = ["qmclone", "vzclone"];

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
                &["qmconfig", "vzconfig", "qmresize", "vzresize"]
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
            Change::NodeOnline | Change::NodeOffline => &[],
        }
    }

    fn words(&self) -> String {
        match self {
            Change::Created => "created".into(),
            Change::Removed => "removed".into(),
            Change::Renamed { from } => format!("renamed from {from}"),
            Change::Migrated { from, to } => format!("moved {from} → {to}"),
            Change::Started => "started".into(),
            Change::Stopped => "stopped".into(),
            Change::Resized => "resized".into(),
            Change::Retagged => "retagged".into(),
            Change::BackedUp => "backed up".into(),
            Change::Snapshots => "snapshots changed".into(),
            Change::NodeOnline => "came online".into(),
            Change::NodeOffline => "went offline".into(),
        }
    }

    /// The one stage that alone covers this change where there is one: backups and
    /// snapshots leave the VM as it is, and a guest's removal is the virtual-machines
    /// stage's orphan rules (which also drop its card).
    fn only_stage(&self) -> Option<Stage> {
        match self {
            Change::BackedUp => Some(Stage::Backups),
            Change::Snapshots => Some(Stage::Snapshots),
            Change::Removed => Some(Stage::VirtualMachines),
            _ => None,
        }
    }
}

/// A change, and the task that made it when the task list says.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    pub subject: Subject,
    /// The guest's name now (before, for a removed one), or the node's.
    pub name: String,
    pub change: Change,
    pub task: Option<Task>,
}

impl Watched {
    /// For people: `web-1 moved pve1 → pve2 by alice@pve`.
    pub fn describe(&self) -> String {
        let what = self.change.words();
        let who = match &self.subject {
            Subject::Cluster => "a backup job".to_string(),
            _ => self.name.clone(),
        };
        match &self.task {
            Some(task) => format!("{who} {what} by {}", task.user),
            None => format!("{who} {what}"),
        }
    }

    /// For NetBox's change log: `qmigrate of 105 by alice@pve, UPID:…` (or the change in
    /// words when no task names it).
    pub fn provenance(&self) -> String {
        match &self.task {
            Some(task) if task.id.is_empty() => {
                format!("{} by {}, {}", task.kind, task.user, task.upid)
            }
            Some(task) => format!(
                "{} of {} by {}, {}",
                task.kind, task.id, task.user, task.upid
            ),
            None => self.describe(),
        }
    }

    /// The guest's VMID, for a guest's change.
    pub fn vmid(&self) -> Option<u64> {
        match self.subject {
            Subject::Guest { vmid, .. } => Some(vmid),
            _ => None,
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

/// Every change between two looks, each with the newest new task that made it; a guest
/// whose look did not change but whose new tasks took a backup or changed its snapshots;
/// and a backup job's run (a `vzdump` naming no guest). Guests in VMID order, then nodes.
pub fn changes(before: &Look, after: &Look, tasks: &[Task]) -> Vec<Watched> {
    let mut found = guest_changes(before, after, tasks);
    for (name, online) in &after.nodes {
        let change = match before.nodes.get(name) {
            Some(was) if was != online && *online => Change::NodeOnline,
            Some(was) if was != online => Change::NodeOffline,
            _ => continue,
        };
        found.push(Watched {
            subject: Subject::Node { name: name.clone() },
            name: name.clone(),
            change,
            task: None,
        });
    }
    let backup_job = tasks
        .iter()
        .filter(|t| t.id.is_empty() && Change::BackedUp.task_types().contains(&t.kind.as_str()))
        .max_by_key(|t| t.starttime);
    if let Some(task) = backup_job {
        found.push(Watched {
            subject: Subject::Cluster,
            name: String::new(),
            change: Change::BackedUp,
            task: Some(task.clone()),
        });
    }
    found
}

fn guest_changes(before: &Look, after: &Look, tasks: &[Task]) -> Vec<Watched> {
    let mut found = Vec::new();
    let mut keys: Vec<&(GuestKind, u64)> = before
        .guests
        .keys()
        .chain(after.guests.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by_key(|(kind, vmid)| (*vmid, *kind));
    for key in keys {
        let (kind, vmid) = *key;
        let mut push = |name: &str, change: Change| {
            found.push(Watched {
                subject: Subject::Guest { kind, vmid },
                name: name.to_string(),
                change,
                task: None,
            })
        };
        match (before.guests.get(key), after.guests.get(key)) {
            (None, Some(now)) => push(&now.name, Change::Created),
            (Some(then), None) => push(&then.name, Change::Removed),
            (Some(then), Some(now)) => {
                for change in look_changes(then, now) {
                    push(&now.name, change);
                }
            }
            (None, None) => {}
        }
        // Tasks that leave no trace in the resources: backups and snapshots.
        if let Some(now) = after.guests.get(key) {
            for change in [Change::BackedUp, Change::Snapshots] {
                if task_of(tasks, kind, vmid, &change).is_some() {
                    push(&now.name, change);
                }
            }
        }
    }
    for watched in &mut found {
        let Subject::Guest { kind, vmid } = watched.subject else {
            continue;
        };
        watched.task = task_of(tasks, kind, vmid, &watched.change).or_else(|| {
            // A clone's task names the guest it was cloned from.
            (watched.change == Change::Created)
                .then(|| newest_clone(tasks, kind))
                .flatten()
        });
    }
    found
}

/// How one guest's look changed, in a fixed order.
fn look_changes(then: &GuestLook, now: &GuestLook) -> Vec<Change> {
    let mut found = Vec::new();
    if then.name != now.name {
        found.push(Change::Renamed {
            from: then.name.clone(),
        });
    }
    if then.node != now.node {
        found.push(Change::Migrated {
            from: then.node.clone(),
            to: now.node.clone(),
        });
    }
    match (then.running, now.running) {
        (false, true) => found.push(Change::Started),
        (true, false) => found.push(Change::Stopped),
        _ => {}
    }
    let size = |g: &GuestLook| (g.maxcpu.map(f64::to_bits), g.maxmem, g.maxdisk, g.template);
    if size(then) != size(now) {
        found.push(Change::Resized);
    }
    if then.tags != now.tags {
        found.push(Change::Retagged);
    }
    found
}

/// The newest of `tasks` on guest `vmid` of `kind` that makes `change`.
fn task_of(tasks: &[Task], kind: GuestKind, vmid: u64, change: &Change) -> Option<Task> {
    let id = vmid.to_string();
    let types = change.task_types();
    tasks
        .iter()
        .filter(|t| t.id == id && types.contains(&t.kind.as_str()) && runs_on(kind, &t.kind))
        .max_by_key(|t| t.starttime)
        .cloned()
}

/// Whether a task of this type works on guests of `kind`: `qm…` on QEMU VMs, `vz…` on
/// containers, and `vzdump` (the backup) on both.
fn runs_on(kind: GuestKind, task_type: &str) -> bool {
    match kind {
        GuestKind::Qemu => task_type.starts_with("qm") || task_type == "vzdump",
        GuestKind::Lxc => task_type.starts_with("vz"),
    }
}

fn newest_clone(tasks: &[Task], kind: GuestKind) -> Option<Task> {
    let prefix = match kind {
        GuestKind::Qemu => "qm",
        GuestKind::Lxc => "vz",
    };
    tasks
        .iter()
        .filter(|t| CLONE_TASKS.contains(&t.kind.as_str()) && t.kind.starts_with(prefix))
        .max_by_key(|t| t.starttime)
        .cloned()
}

/// The smallest sync that covers one look's changes of one endpoint, and why it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CoveringSync {
    /// The stages to run; empty: every stage the scope has something for.
    pub stages: Vec<Stage>,
    /// The one guest or node it is limited to; `None`: the whole cluster.
    pub target: Option<crate::models::SyncTarget>,
    /// For people (the job's title, the live feed): the first change, and how many more.
    pub title: String,
    /// For NetBox's change log: the first change's task, and how many more.
    pub provenance: String,
}

/// One guest's changes are its own run (only the backups or snapshots stage when nothing
/// else of it changed), one node's its node's run; changes of several guests or nodes, or a
/// guest gone (whose VM the orphan rules decide about), are one run of the whole cluster,
/// so that a node evacuated (80 migrations) is one job, not 80. Backups, snapshots and
/// removals alone run their stages only, over the cluster when they touch several guests
/// (a removal always: the orphan rules decide over the cluster).
pub fn covering_sync(changes: &[Watched]) -> Option<CoveringSync> {
    use crate::models::SyncTarget;

    let first = changes.first()?;
    let more = |text: String| match changes.len() {
        1 => text,
        n => format!("{text} (and {} more)", n - 1),
    };
    let only: BTreeSet<Stage> = changes
        .iter()
        .map(|w| w.change.only_stage())
        .collect::<Option<_>>()
        .unwrap_or_default();
    let one_subject = changes.iter().all(|w| w.subject == first.subject);
    // A guest's run is by VMID, which also covers a container sharing it (Proxmox keeps
    // VMIDs unique; a task names the VMID only).
    let one_vmid = changes
        .iter()
        .all(|w| w.vmid().is_some() && w.vmid() == first.vmid());
    let target = match &first.subject {
        Subject::Guest { vmid, .. }
            if one_vmid && changes.iter().all(|w| w.change != Change::Removed) =>
        {
            Some(SyncTarget::Guest { vmid: *vmid })
        }
        Subject::Node { name } if one_subject => Some(SyncTarget::Node { name: name.clone() }),
        _ => None,
    };
    Some(CoveringSync {
        stages: only.into_iter().collect(),
        target,
        title: more(first.describe()),
        provenance: more(first.provenance()),
    })
}

#[cfg(test)]
mod tests;
