//! What a cluster keeps besides its guests: storages, backups, snapshots' timing, task
//! history, replication and backup jobs. Generated with the shapes operators meet: several
//! storage types (local, thin LVM, shared NFS, Proxmox Backup Server, a disabled one),
//! backups with notes, protection, encryption and verification, snapshot chains with RAM
//! state, thousands of tasks per node, backup jobs that select by vmid, by pool and `all`
//! with exclusions — and one guest, `odd-config` (vmid 103), left out of every enabled job.

use serde::{Deserialize, Serialize};

use super::{Cluster, Kind, Rng, SnapshotSpec};

/// How much history to generate per guest; `None` varies it from guest to guest (some
/// guests without any backup, some whose newest backup is days old).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySpec {
    #[serde(default)]
    pub backups: Option<usize>,
    #[serde(default)]
    pub snapshots: Option<usize>,
    /// Tasks per guest, its backup and snapshot tasks included.
    #[serde(default)]
    pub tasks: Option<usize>,
    /// The simulated "now" of backup and task times (Unix seconds); default: the hour the
    /// cluster is generated in, so that retention and "backup older than N days" behave as
    /// they would today.
    #[serde(default)]
    pub now: Option<i64>,
}

/// The vmid no enabled backup job selects (excluded from the `all` job, in no pool).
pub const UNPROTECTED_VMID: u64 = 103;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSpec {
    pub name: String,
    /// The storage plugin: `dir`, `lvmthin`, `nfs`, `pbs`.
    pub kind: String,
    pub content: String,
    pub shared: bool,
    pub enabled: bool,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    pub volid: String,
    pub vmid: u64,
    #[serde(default = "qemu")]
    pub kind: Kind,
    pub ctime: i64,
    pub size: u64,
    pub format: String,
    /// The node the backup was taken on (a local storage lists it there only).
    pub node: String,
    #[serde(default = "local")]
    pub storage: String,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub protected: bool,
    /// The key fingerprint of an encrypted Proxmox Backup Server backup.
    #[serde(default)]
    pub encrypted: Option<String>,
    /// Proxmox Backup Server verification: `ok` or `failed`.
    #[serde(default)]
    pub verification: Option<String>,
}

fn qemu() -> Kind {
    Kind::Qemu
}

fn local() -> String {
    "local".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub upid: String,
    pub node: String,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub starttime: i64,
    pub endtime: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replication {
    pub guest: u64,
    pub jobnum: u64,
    pub source: String,
    pub target: String,
    pub schedule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJobSpec {
    pub id: String,
    pub schedule: String,
    pub storage: String,
    pub enabled: bool,
    #[serde(default)]
    pub all: bool,
    /// Comma-separated vmids.
    #[serde(default)]
    pub vmid: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    /// Comma-separated vmids the `all` job leaves out.
    #[serde(default)]
    pub exclude: Option<String>,
    pub mode: String,
    #[serde(default)]
    pub compress: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub notes_template: Option<String>,
    /// `prune-backups`: keep-last, keep-daily…
    #[serde(default)]
    pub prune: Vec<(String, u64)>,
    pub next_run: i64,
}

/// The storages of every generated cluster.
pub fn generate_storages() -> Vec<StorageSpec> {
    let storage =
        |name: &str, kind: &str, content: &str, shared: bool, total_gib: u64| StorageSpec {
            name: name.into(),
            kind: kind.into(),
            content: content.into(),
            shared,
            enabled: true,
            total: total_gib << 30,
        };
    let mut old = storage("old-nfs", "nfs", "backup", true, 0);
    old.enabled = false;
    vec![
        storage("local", "dir", "iso,vztmpl,backup,snippets", false, 100),
        storage("local-lvm", "lvmthin", "images,rootdir", false, 2048),
        storage("backup-nfs", "nfs", "backup,iso", true, 4096),
        storage("pbs-backup", "pbs", "backup", true, 8192),
        old,
    ]
}

/// Now, in Unix seconds (as Proxmox dates tasks, backups and snapshots).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The current hour, as generated history's "now".
fn this_hour() -> i64 {
    let now = unix_now();
    now - now.rem_euclid(3600)
}

const DAY: i64 = 86_400;

impl Cluster {
    pub(super) fn generate_history(&mut self, rng: &mut Rng, spec: &HistorySpec) {
        let now = spec.now.unwrap_or_else(this_hour);
        self.now = now;
        self.storages = generate_storages();
        let guests: Vec<(Kind, u64, String, String)> = self
            .guests
            .values()
            .map(|g| (g.kind, g.vmid, g.node.clone(), g.name.clone()))
            .collect();
        let mut pid = 0u64;
        for (n, (kind, vmid, node, name)) in guests.iter().enumerate() {
            let mut tasks = Vec::new();
            let backups = spec.backups.unwrap_or(match n % 4 {
                3 => 0,
                _ => 1 + n % 3,
            });
            // Some guests' newest backup is days old: what a coverage report must find.
            let newest_age = if n % 7 == 2 {
                5 * DAY
            } else {
                3600 * rng.range(1, 30) as i64
            };
            for b in 0..backups {
                let ctime = now - newest_age - DAY * b as i64;
                let backup = self.new_backup(*kind, *vmid, node, name, ctime, n, b, rng);
                tasks.push((ctime - 120, ctime, "vzdump", "OK".to_string()));
                self.backups.push(backup);
            }
            let guest = self.guests.get_mut(&(*kind, *vmid)).expect("listed");
            let snapshots = spec.snapshots.unwrap_or(guest.snapshots.len());
            guest.snapshots = (0..snapshots)
                .map(|i| SnapshotSpec {
                    name: format!("before-upgrade-{i}"),
                    description: if i % 2 == 1 {
                        "taken by the simulator\nwith RAM state".into()
                    } else {
                        "taken by the simulator".into()
                    },
                    snaptime: now - DAY * (snapshots - i) as i64 * 3,
                    vmstate: *kind == Kind::Qemu && i % 2 == 1,
                })
                .collect();
            let snapshot_task = match kind {
                Kind::Qemu => "qmsnapshot",
                Kind::Lxc => "vzsnapshot",
            };
            for s in &guest.snapshots {
                tasks.push((s.snaptime, s.snaptime + 4, snapshot_task, "OK".to_string()));
            }
            let wanted = spec.tasks.unwrap_or(tasks.len() + 3 + n % 5);
            let kinds: &[&str] = match kind {
                Kind::Qemu => &["qmstart", "qmstop", "qmreboot", "vncproxy", "qmigrate"],
                Kind::Lxc => &["vzstart", "vzstop", "vzreboot", "vncproxy"],
            };
            let mut filler = 0usize;
            while tasks.len() < wanted {
                let kind = kinds[filler % kinds.len()];
                // One guest in four has a task older than the default 30-day retention.
                let start = if filler == 0 && n % 4 == 1 {
                    now - 40 * DAY
                } else {
                    now - 60 * rng.range(10, 60 * 24 * 25) as i64
                };
                let status = if filler % 13 == 12 {
                    format!("command '{kind}' failed: exit code 1")
                } else {
                    "OK".to_string()
                };
                tasks.push((start, start + rng.range(1, 90) as i64, kind, status));
                filler += 1;
            }
            tasks.truncate(wanted);
            for (start, end, kind, status) in tasks {
                pid += 1;
                self.tasks.push(task(
                    node,
                    kind,
                    &vmid.to_string(),
                    start,
                    end,
                    &status,
                    pid,
                ));
            }
        }
        // Node tasks, tied to no guest.
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        for node in &nodes {
            for day in 0..3 {
                pid += 1;
                let start = now - DAY * day - 1800;
                self.tasks
                    .push(task(node, "aptupdate", "", start, start + 40, "OK", pid));
            }
        }
        if self.nodes.len() > 1 {
            for (n, (_, vmid, node, _)) in guests.iter().enumerate().filter(|(n, _)| n % 10 == 4) {
                let target = self
                    .nodes
                    .iter()
                    .find(|x| &x.name != node)
                    .map(|x| x.name.clone())
                    .unwrap_or_default();
                self.replications.push(Replication {
                    guest: *vmid,
                    jobnum: 0,
                    source: node.clone(),
                    target,
                    schedule: if n % 20 == 4 {
                        "*/15".into()
                    } else {
                        "*/30".into()
                    },
                });
            }
        }
        self.backup_jobs = self.generate_backup_jobs(now);
        self.sort_tasks();
    }

    /// Everything besides the guests, as JSON (`/_sim/history`): what a sync of the
    /// inventory must end up with.
    pub fn history(&self) -> serde_json::Value {
        let snapshots: Vec<serde_json::Value> = self
            .guests
            .values()
            .flat_map(|g| {
                g.snapshots.iter().map(move |s| {
                    serde_json::json!({"kind": g.kind, "vmid": g.vmid, "node": g.node, "name": s.name, "vmstate": s.vmstate})
                })
            })
            .collect();
        serde_json::json!({
            "now": self.now, "storages": self.storages, "backups": self.backups, "tasks": self.tasks,
            "replications": self.replications, "backup_jobs": self.backup_jobs, "snapshots": snapshots,
        })
    }

    /// Newest first, as Proxmox lists them.
    pub fn sort_tasks(&mut self) {
        self.tasks
            .sort_by(|a, b| b.starttime.cmp(&a.starttime).then(b.upid.cmp(&a.upid)));
    }

    #[allow(clippy::too_many_arguments)]
    fn new_backup(
        &self,
        kind: Kind,
        vmid: u64,
        node: &str,
        name: &str,
        ctime: i64,
        n: usize,
        b: usize,
        rng: &mut Rng,
    ) -> Backup {
        let storage = match (kind, n % 2) {
            (Kind::Lxc, _) => "backup-nfs",
            (Kind::Qemu, 0) => "pbs-backup",
            (Kind::Qemu, _) => "local",
        };
        let (prefix, ext) = match kind {
            Kind::Qemu => ("qemu", "vma.zst"),
            Kind::Lxc => ("lxc", "tar.zst"),
        };
        let pbs = storage == "pbs-backup";
        let volid = if pbs {
            let group = if kind == Kind::Qemu { "vm" } else { "ct" };
            format!("{storage}:backup/{group}/{vmid}/{}", iso(ctime))
        } else {
            format!(
                "{storage}:backup/vzdump-{prefix}-{vmid}-{}.{ext}",
                stamp(ctime)
            )
        };
        Backup {
            volid,
            vmid,
            kind,
            ctime,
            size: rng.range(1 << 28, 1 << 33),
            format: if pbs {
                format!("pbs-{}", if kind == Kind::Qemu { "vm" } else { "ct" })
            } else {
                ext.to_string()
            },
            node: node.into(),
            storage: storage.into(),
            notes: Some(format!("{name} nightly")),
            protected: (n + b).is_multiple_of(5),
            encrypted: (pbs && n.is_multiple_of(4))
                .then(|| format!("3f:a1:{:02x}:{:02x}:9c:d2:77:e0", self.index, vmid % 256)),
            verification: pbs.then(|| {
                if (n + b).is_multiple_of(9) {
                    "failed"
                } else {
                    "ok"
                }
                .into()
            }),
        }
    }

    fn generate_backup_jobs(&self, now: i64) -> Vec<BackupJobSpec> {
        let mut excluded: Vec<String> = vec![UNPROTECTED_VMID.to_string()];
        excluded.extend(
            self.guests
                .keys()
                .filter(|(_, vmid)| vmid % 50 == 13)
                .map(|(_, vmid)| vmid.to_string()),
        );
        let prod: Vec<String> = self
            .guests
            .values()
            .filter(|g| g.tags.iter().any(|t| t == "prod"))
            .map(|g| g.vmid.to_string())
            .collect();
        let job = |id: &str, schedule: &str, storage: &str, next_run: i64| BackupJobSpec {
            id: id.into(),
            schedule: schedule.into(),
            storage: storage.into(),
            enabled: true,
            all: false,
            vmid: None,
            pool: None,
            exclude: None,
            mode: "snapshot".into(),
            compress: Some("zstd".into()),
            comment: None,
            notes_template: None,
            prune: Vec::new(),
            next_run,
        };
        let next_night = now - now.rem_euclid(DAY) + DAY + 2 * 3600;
        vec![
            BackupJobSpec {
                all: true,
                exclude: Some(excluded.join(",")),
                comment: Some("every guest, nightly".into()),
                notes_template: Some("{{guestname}} nightly".into()),
                prune: vec![("keep-daily".into(), 7), ("keep-weekly".into(), 4)],
                ..job("backup-nightly", "02:00", "pbs-backup", next_night)
            },
            BackupJobSpec {
                pool: Some("customers".into()),
                mode: "stop".into(),
                prune: vec![("keep-last".into(), 3)],
                ..job(
                    "backup-customers",
                    "sat 03:00",
                    "backup-nfs",
                    next_night + DAY,
                )
            },
            BackupJobSpec {
                vmid: Some(prod.join(",")),
                enabled: false,
                comment: Some("paused during the migration".into()),
                ..job("backup-prod-hourly", "hourly", "local", now + 3600)
            },
        ]
    }

    /// Bytes used on a storage as seen from a node: the guest disks a node-local storage
    /// holds there, the backups a backup storage holds (everywhere for a shared one).
    pub fn storage_used(&self, storage: &StorageSpec, node: &str) -> u64 {
        if storage.content.contains("images") {
            return self
                .guests
                .values()
                .filter(|g| storage.shared || g.node == node)
                .flat_map(|g| &g.disks)
                .filter(|d| d.storage == storage.name)
                .map(|d| d.size_gib << 30)
                .sum::<u64>()
                .min(storage.total);
        }
        let backups: u64 = self
            .backups
            .iter()
            .filter(|b| b.storage == storage.name && (storage.shared || b.node == node))
            .map(|b| b.size)
            .sum();
        // The installation and ISO images on a node's own disk.
        let base = if storage.shared { 0 } else { 12 << 30 };
        (backups + base).min(storage.total)
    }

    /// A task that starts now (for tests of incremental task reads).
    pub fn add_task(&mut self, node: &str, kind: &str, id: &str, status: &str) -> TaskSpec {
        self.add_task_by(node, kind, id, status, "root@pam")
    }

    /// A task of `user` (`alice@pve`) run now, as Proxmox records one: its UPID names the
    /// node, the type, the object and the user.
    pub fn add_task_by(
        &mut self,
        node: &str,
        kind: &str,
        id: &str,
        status: &str,
        user: &str,
    ) -> TaskSpec {
        let start = unix_now();
        let pid = self.tasks.len() as u64 + 1_000_000;
        let mut t = task(node, kind, id, start, start + 1, status, pid);
        t.upid = t.upid.replace(":root@pam:", &format!(":{user}:"));
        t.user = user.into();
        self.tasks.push(t.clone());
        self.sort_tasks();
        t
    }

    /// A backup of a guest taken now, on the storage the guest's backups go to.
    pub fn add_backup(
        &mut self,
        kind: Kind,
        vmid: u64,
        storage: &str,
        by: Option<&str>,
    ) -> Result<Backup, String> {
        let guest = self
            .guests
            .get(&(kind, vmid))
            .ok_or_else(|| format!("no {} {vmid}", kind.as_str()))?;
        if !self
            .storages
            .iter()
            .any(|s| s.name == storage && s.content.contains("backup"))
        {
            return Err(format!("no backup storage {storage:?}"));
        }
        let (node, name) = (guest.node.clone(), guest.name.clone());
        let ctime = unix_now();
        let mut rng = Rng::new(vmid ^ ctime as u64);
        let n = if storage == "pbs-backup" { 0 } else { 1 };
        let mut backup = self.new_backup(kind, vmid, &node, &name, ctime, n, 1, &mut rng);
        if backup.storage != storage {
            backup.volid = backup.volid.replacen(&backup.storage, storage, 1);
            backup.storage = storage.into();
        }
        self.backups.push(backup.clone());
        self.add_task_by(
            &node,
            "vzdump",
            &vmid.to_string(),
            "OK",
            by.unwrap_or("root@pam"),
        );
        Ok(backup)
    }
}

pub(super) fn task(
    node: &str,
    kind: &str,
    id: &str,
    start: i64,
    end: i64,
    status: &str,
    pid: u64,
) -> TaskSpec {
    TaskSpec {
        upid: format!(
            "UPID:{node}:{:08X}:{:08X}:{:08X}:{kind}:{id}:root@pam:",
            1000 + pid,
            5000 + pid,
            start
        ),
        node: node.into(),
        kind: kind.into(),
        id: id.into(),
        user: "root@pam".into(),
        starttime: start,
        endtime: end,
        status: status.into(),
    }
}

/// (year, month, day, seconds of the day) of a Unix time.
fn civil(unix: i64) -> (i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs)
}

/// `2026_11_01-00_00_00` as in vzdump file names.
pub(super) fn stamp(unix: i64) -> String {
    let (y, m, d, secs) = civil(unix);
    format!(
        "{y:04}_{m:02}_{d:02}-{:02}_{:02}_{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `2026-11-01T00:00:00Z` as in Proxmox Backup Server snapshot names.
fn iso(unix: i64) -> String {
    let (y, m, d, secs) = civil(unix);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ClusterSpec;

    const EPOCH: i64 = 1_793_491_200;

    #[test]
    fn vzdump_and_pbs_stamps() {
        assert_eq!(stamp(EPOCH), "2026_11_01-00_00_00");
        assert_eq!(stamp(EPOCH + 3661), "2026_11_01-01_01_01");
        assert_eq!(iso(EPOCH + 3661), "2026-11-01T01:01:01Z");
    }

    #[test]
    fn one_guest_is_in_no_enabled_job_and_some_have_no_backup() {
        let c = Cluster::generate(&ClusterSpec {
            history: HistorySpec {
                now: Some(EPOCH),
                ..Default::default()
            },
            ..ClusterSpec::small("c0", 40)
        });
        let all = &c.backup_jobs[0];
        assert!(all.all && all.enabled);
        assert!(all
            .exclude
            .as_deref()
            .unwrap()
            .split(',')
            .any(|v| v == UNPROTECTED_VMID.to_string()));
        assert!(c.guests.values().any(|g| g.vmid == UNPROTECTED_VMID));
        assert!(c
            .guests
            .values()
            .any(|g| !c.backups.iter().any(|b| b.vmid == g.vmid)));
        let volids: std::collections::HashSet<&str> =
            c.backups.iter().map(|b| b.volid.as_str()).collect();
        assert_eq!(volids.len(), c.backups.len(), "volids are unique");
        let upids: std::collections::HashSet<&str> =
            c.tasks.iter().map(|t| t.upid.as_str()).collect();
        assert_eq!(upids.len(), c.tasks.len(), "upids are unique");
    }

    #[test]
    fn fixed_counts_per_guest() {
        let c = Cluster::generate(&ClusterSpec {
            history: HistorySpec {
                backups: Some(3),
                snapshots: Some(2),
                tasks: Some(20),
                now: Some(EPOCH),
            },
            ..ClusterSpec::small("c0", 30)
        });
        assert_eq!(c.backups.len(), 3 * 30);
        assert!(c.guests.values().all(|g| g.snapshots.len() == 2));
        let guest_tasks = c.tasks.iter().filter(|t| !t.id.is_empty()).count();
        assert_eq!(guest_tasks, 20 * 30);
    }
}
