//! What Proxbox keeps of each Proxmox cluster in its own database (docs/syncing.md: the
//! storage, backups, snapshots, task-history, replications and backup-routines stages), as
//! the pages show it. One record type per kind; the database stores each as JSON beside
//! the columns pages filter on (node, vmid, time).

use serde::{Deserialize, Serialize};

/// The kinds of inventory record, one per stage that keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    /// A guest's card (its config as the virtual-machines stage read it).
    Guest,
    Storage,
    Backup,
    Snapshot,
    Task,
    Replication,
    BackupRoutine,
}

impl RecordKind {
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Guest,
        RecordKind::Storage,
        RecordKind::Backup,
        RecordKind::Snapshot,
        RecordKind::Task,
        RecordKind::Replication,
        RecordKind::BackupRoutine,
    ];

    /// The name in the database and in `item_progress` events (`backup`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Guest => "guest",
            RecordKind::Storage => "storage",
            RecordKind::Backup => "backup",
            RecordKind::Snapshot => "snapshot",
            RecordKind::Task => "task",
            RecordKind::Replication => "replication",
            RecordKind::BackupRoutine => "backup-routine",
        }
    }

    pub fn parse(raw: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// In words, for messages (`backup routine`).
    pub fn what(self) -> &'static str {
        match self {
            RecordKind::Guest => "guest card",
            RecordKind::Storage => "storage",
            RecordKind::Backup => "backup",
            RecordKind::Snapshot => "snapshot",
            RecordKind::Task => "task",
            RecordKind::Replication => "replication job",
            RecordKind::BackupRoutine => "backup routine",
        }
    }
}

/// A storage as one node sees it (`/nodes/{node}/storage`): a shared storage appears once
/// per node, with the same usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageRecord {
    pub storage: String,
    pub node: String,
    /// The storage plugin: `dir`, `lvmthin`, `nfs`, `pbs`, `rbd`…
    pub kind: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub enabled: bool,
    pub active: bool,
    /// Bytes; absent on a disabled or unreachable storage.
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub avail: Option<u64>,
}

/// A backup volume of a guest (`…/storage/{s}/content?content=backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub volid: String,
    pub storage: String,
    /// The node whose storage holds it; `None` on a shared storage (every node's).
    pub node: Option<String>,
    pub vmid: Option<u64>,
    /// `qemu` or `lxc` when the volume says (`vzdump-qemu-…`, `backup/ct/…`).
    pub guest_kind: Option<String>,
    pub format: Option<String>,
    pub size: Option<u64>,
    /// Unix seconds.
    pub created: Option<i64>,
    pub notes: Option<String>,
    pub protected: bool,
    /// Encrypted (Proxmox Backup Server, with a key).
    pub encrypted: bool,
    /// Proxmox Backup Server verification state: `ok`, `failed`, or none yet.
    pub verification: Option<String>,
}

/// A snapshot of a guest (`…/{qemu|lxc}/{vmid}/snapshot`, without `current`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub name: String,
    pub node: String,
    pub vmid: u64,
    pub guest_kind: String,
    pub parent: Option<String>,
    pub description: String,
    /// Unix seconds.
    pub taken: Option<i64>,
    /// Taken with the VM's RAM.
    pub vmstate: bool,
}

/// A task of a node (`/nodes/{node}/tasks`), tied to a guest by the task's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub upid: String,
    pub node: String,
    /// `vzdump`, `qmstart`, `qmigrate`…
    pub kind: String,
    pub vmid: Option<u64>,
    pub user: String,
    /// Unix seconds.
    pub started: i64,
    pub ended: Option<i64>,
    /// `OK`, `WARNINGS: n`, an error message, or none while it runs.
    pub status: Option<String>,
    /// Read by a guest's own sync, not yet by a read of its node: the node's next read
    /// starts from its own newest task, not from this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_for_guest: bool,
}

/// A storage replication job (`/cluster/replication`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationRecord {
    pub id: String,
    pub guest: Option<u64>,
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub schedule: Option<String>,
    /// MB/s limit.
    pub rate: Option<f64>,
    pub disabled: bool,
    pub comment: Option<String>,
}

/// Which guests a backup routine backs up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Selection {
    /// Every guest (of `node`, when set), less `exclude`.
    pub all: bool,
    pub vmids: Vec<u64>,
    pub pool: Option<String>,
    pub exclude: Vec<u64>,
    /// Only the guests on this node.
    pub node: Option<String>,
}

impl Selection {
    /// Whether a guest (its vmid, node and pool) is selected.
    pub fn selects(&self, vmid: u64, node: &str, pool: Option<&str>) -> bool {
        if self.node.as_deref().is_some_and(|n| n != node) {
            return false;
        }
        if self.all {
            return !self.exclude.contains(&vmid);
        }
        self.vmids.contains(&vmid) || (self.pool.is_some() && self.pool.as_deref() == pool)
    }

    /// In words: `all guests except 103, 113`, `pool customers`, `guests 100, 101`.
    pub fn describe(&self) -> String {
        let list = |vmids: &[u64]| {
            vmids
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut words = if self.all {
            if self.exclude.is_empty() {
                "all guests".to_string()
            } else {
                format!("all guests except {}", list(&self.exclude))
            }
        } else if let Some(pool) = &self.pool {
            format!("pool {pool}")
        } else if self.vmids.is_empty() {
            "no guests".to_string()
        } else {
            format!("guests {}", list(&self.vmids))
        };
        if let Some(node) = &self.node {
            words.push_str(&format!(" on {node}"));
        }
        words
    }
}

/// A scheduled backup job (`/cluster/backup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRoutineRecord {
    pub id: String,
    pub schedule: Option<String>,
    pub storage: Option<String>,
    pub selection: Selection,
    pub enabled: bool,
    pub mode: Option<String>,
    pub compress: Option<String>,
    /// Retention as Proxmox writes it: `keep-daily=7,keep-weekly=4`.
    pub prune_backups: Option<String>,
    pub notes_template: Option<String>,
    pub comment: Option<String>,
    /// Unix seconds.
    pub next_run: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_by_all_pool_or_vmids() {
        let all = Selection {
            all: true,
            exclude: vec![103],
            ..Default::default()
        };
        assert!(all.selects(100, "pve1", None));
        assert!(!all.selects(103, "pve1", None));
        assert_eq!(all.describe(), "all guests except 103");
        let pool = Selection {
            pool: Some("customers".into()),
            node: Some("pve2".into()),
            ..Default::default()
        };
        assert!(pool.selects(5, "pve2", Some("customers")));
        assert!(!pool.selects(5, "pve1", Some("customers")));
        assert!(!pool.selects(5, "pve2", None));
        let listed = Selection {
            vmids: vec![100, 101],
            ..Default::default()
        };
        assert!(listed.selects(101, "x", None) && !listed.selects(102, "x", None));
        assert_eq!(listed.describe(), "guests 100, 101");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
