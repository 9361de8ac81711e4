//! `/backups` and `/storage` as the pages show them: backup routines and replication jobs
//! (stale ones marked), the backup coverage report, and storage usage per node.

use serde::{Deserialize, Serialize};

use super::guests::{backup_older_than, GuestRow};
use super::inventory::{BackupRoutineRecord, ReplicationRecord, StorageRecord};

/// A job Proxbox keeps of an endpoint, with when it was found gone from Proxmox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept<T> {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub record: T,
    /// Milliseconds: first found gone from Proxmox (kept, marked stale).
    pub stale_since: Option<i64>,
    /// Milliseconds: the last read that still found it.
    pub last_seen: Option<i64>,
}

/// A guest the coverage report names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncoveredGuest {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub vmid: u64,
    pub name: String,
    pub node: String,
    pub netbox_id: u64,
    /// Unix seconds.
    pub newest_backup: Option<i64>,
}

/// Which guests are not backed up as an operator would expect.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coverage {
    /// "Older than" threshold of `stale`.
    pub days: u32,
    /// Guests no enabled, current routine of their endpoint selects.
    pub no_routine: Vec<UncoveredGuest>,
    /// Guests whose newest backup is older than `days`.
    pub stale: Vec<UncoveredGuest>,
    /// Guests with no backup at all.
    pub no_backup: Vec<UncoveredGuest>,
}

/// Default "older than" of the coverage report, in days.
pub const COVERAGE_DAYS: u32 = 2;

/// The report's "older than" days as a page or a CSV request gives them (`?days=`), else
/// [`COVERAGE_DAYS`].
pub fn days_of(raw: Option<String>) -> u32 {
    raw.and_then(|d| d.trim().parse().ok())
        .unwrap_or(COVERAGE_DAYS)
}

/// The coverage report of `guests` (templates left out: they are not run, so an operator
/// does not expect them backed up) against the routines, at `now` (Unix seconds).
pub fn coverage(
    guests: &[GuestRow],
    routines: &[Kept<BackupRoutineRecord>],
    days: u32,
    now: i64,
) -> Coverage {
    let mut report = Coverage {
        days,
        ..Default::default()
    };
    for row in guests.iter().filter(|r| !r.guest.template) {
        let g = &row.guest;
        let uncovered = UncoveredGuest {
            endpoint_id: row.endpoint_id,
            endpoint: row.endpoint.clone(),
            vmid: g.vmid,
            name: g.name.clone(),
            node: g.node.clone(),
            netbox_id: g.netbox_id,
            newest_backup: row.newest_backup,
        };
        let selected = routines.iter().any(|r| {
            r.endpoint_id == row.endpoint_id
                && r.stale_since.is_none()
                && r.record.enabled
                && r.record
                    .selection
                    .selects(g.vmid, &g.node, g.pool.as_deref())
        });
        if !selected {
            report.no_routine.push(uncovered.clone());
        }
        match row.newest_backup {
            None => report.no_backup.push(uncovered),
            Some(_) if backup_older_than(row.newest_backup, days, now) => {
                report.stale.push(uncovered)
            }
            Some(_) => {}
        }
    }
    report
}

impl Coverage {
    /// The report as CSV: one line per guest and finding.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("finding,endpoint,vmid,name,node,newest_backup\n");
        let sections = [
            ("no-routine", &self.no_routine),
            ("backup-older-than-days", &self.stale),
            ("no-backup", &self.no_backup),
        ];
        for (finding, guests) in sections {
            for g in guests {
                let newest = g
                    .newest_backup
                    .map(|at| super::format_utc(at * 1000))
                    .unwrap_or_default();
                let fields = [
                    finding.to_string(),
                    g.endpoint.clone(),
                    g.vmid.to_string(),
                    g.name.clone(),
                    g.node.clone(),
                    newest,
                ];
                csv.push_str(&fields.map(|f| csv_field(&f)).join(","));
                csv.push('\n');
            }
        }
        csv
    }
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed with
/// `'` so that a spreadsheet does not run a guest's name as a formula.
fn csv_field(raw: &str) -> String {
    let safe = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if safe.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe
    }
}

/// `/backups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BackupsView {
    pub routines: Vec<Kept<BackupRoutineRecord>>,
    pub replications: Vec<Kept<ReplicationRecord>>,
    pub coverage: Coverage,
}

/// The storages of one endpoint, per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStorage {
    pub endpoint_id: i64,
    pub endpoint: String,
    /// Milliseconds: when the storage stage last read it.
    pub read_at: Option<i64>,
    /// By node, then storage name.
    pub storages: Vec<StorageRecord>,
}

/// How full a storage is, in percent, when Proxmox says.
pub fn used_percent(storage: &StorageRecord) -> Option<f64> {
    match (storage.used, storage.total) {
        (Some(used), Some(total)) if total > 0 => Some(used as f64 * 100.0 / total as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{GuestRecord, Selection};

    fn row(vmid: u64, newest_backup: Option<i64>, template: bool) -> GuestRow {
        GuestRow {
            endpoint_id: 1,
            endpoint: "lab".into(),
            newest_backup,
            guest: GuestRecord {
                vmid,
                kind: "qemu".into(),
                name: format!("vm-{vmid}"),
                node: "pve1".into(),
                cluster: "lab".into(),
                status: "running".into(),
                onboot: false,
                agent: false,
                template,
                tags: vec![],
                pool: None,
                vcpus: None,
                memory: None,
                disks: vec![],
                nics: vec![],
                netbox_id: vmid,
                ha: None,
            },
        }
    }

    fn routine(selection: Selection, enabled: bool, stale: bool) -> Kept<BackupRoutineRecord> {
        Kept {
            endpoint_id: 1,
            endpoint: "lab".into(),
            stale_since: stale.then_some(1),
            last_seen: None,
            record: BackupRoutineRecord {
                id: "job".into(),
                schedule: None,
                storage: None,
                selection,
                enabled,
                mode: None,
                compress: None,
                prune_backups: None,
                notes_template: None,
                comment: None,
                next_run: None,
            },
        }
    }

    #[test]
    fn coverage_names_each_gap() {
        let now = 10 * 86_400;
        let guests = [
            row(100, Some(now - 3600), false),
            row(101, Some(now - 3 * 86_400), false),
            row(102, None, false),
            row(103, Some(now), false),
            row(900, None, true),
        ];
        let all_but_103 = Selection {
            all: true,
            exclude: vec![103],
            ..Default::default()
        };
        let only_103 = Selection {
            vmids: vec![103],
            ..Default::default()
        };
        let routines = [
            routine(all_but_103, true, false),
            routine(only_103.clone(), false, false),
            routine(only_103, true, true),
        ];
        let report = coverage(&guests, &routines, 2, now);
        let vmids = |list: &[UncoveredGuest]| list.iter().map(|g| g.vmid).collect::<Vec<_>>();
        assert_eq!(
            vmids(&report.no_routine),
            vec![103],
            "disabled and stale routines do not count"
        );
        assert_eq!(vmids(&report.stale), vec![101]);
        assert_eq!(
            vmids(&report.no_backup),
            vec![102],
            "templates are left out"
        );
        assert_eq!(
            vmids(&coverage(&guests, &routines, 5, now).stale),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut report = Coverage::default();
        let mut guest = row(103, Some(0), false);
        guest.guest.name = "=cmd,\"x\"".into();
        report.no_routine = coverage(&[guest], &[], 2, 0).no_routine;
        let csv = report.to_csv();
        let line = csv.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "no-routine,lab,103,\"'=cmd,\"\"x\"\"\",pve1,1970-01-01 00:00:00 UTC"
        );
    }
}
