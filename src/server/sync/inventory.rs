//! The stages that keep Proxmox's inventory in Proxbox's own database (storage, backups,
//! snapshots, task history, replications, backup routines) share this: a record per
//! Proxmox object, a pure plan of what to store, change, remove or mark stale against what
//! is stored, and one way to apply it — one transaction per stage and endpoint, an
//! `item_progress` per record (or per group, for the task history), `would_*` in a dry
//! run. A resync with nothing changed in Proxmox writes no record.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::context::SyncContext;
use super::failure::StageError;
use super::plan::Label;
use super::report::StageReport;
use crate::events::{Item, ItemStatus, StepStatus};
use crate::models::RecordKind;
use crate::server::infra::db::inventory::{InventoryChanges, RecordRow, StoredRecord};

/// One Proxmox object as the stage wants it stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub row: RecordRow,
    pub label: Label,
    /// Records reported together as one item (a guest's new tasks), by this name.
    pub group: Option<String>,
}

impl Record {
    /// A record of `body`, found again by `key`.
    pub fn new<T: Serialize>(
        kind: RecordKind,
        key: impl Into<String>,
        name: impl Into<String>,
        body: &T,
    ) -> Record {
        Record {
            row: RecordRow {
                key: key.into(),
                node: None,
                vmid: None,
                at: None,
                // Serialising the inventory's own structs cannot fail.
                body: serde_json::to_string(body).unwrap_or_default(),
            },
            label: Label::new(name, kind.as_str(), kind.what()),
            group: None,
        }
    }

    pub fn on(mut self, node: Option<&str>, vmid: Option<u64>, at: Option<i64>) -> Record {
        self.row.node = node.map(str::to_string);
        self.row.vmid = vmid.map(|v| v as i64);
        self.row.at = at;
        self
    }

    pub fn grouped(mut self, group: impl Into<String>) -> Record {
        self.group = Some(group.into());
        self
    }
}

/// What happens to a stored record Proxmox no longer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenGone {
    /// Removed (a backup deleted, a snapshot removed).
    Remove,
    /// Kept and marked stale with when it was last seen (a backup or replication job: an
    /// operator wants to know that a routine vanished).
    MarkStale,
    /// Left: the stage reads only what is new (the task history) and removes by age.
    Keep,
    /// Marked stale when first found gone, removed by the first run after the grace: a
    /// storage that answers an empty list once (unmounted, a token briefly without rights)
    /// loses nothing, and a backup that comes back is the one stored, not a new one.
    /// Records stale since before `remove_stale_since_before` (milliseconds) are removed.
    StaleThenRemove { remove_stale_since_before: i64 },
}

/// What a stage changes in one endpoint's records of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPlan {
    pub kind: RecordKind,
    pub endpoint_id: i64,
    pub creates: Vec<Record>,
    pub updates: Vec<Record>,
    pub removes: Vec<(String, Label)>,
    pub stale: Vec<(String, Label)>,
    pub unchanged: Vec<Label>,
    pub expire_before: Option<i64>,
}

impl RecordPlan {
    pub fn writes_nothing(&self) -> bool {
        self.creates.is_empty()
            && self.updates.is_empty()
            && self.removes.is_empty()
            && self.stale.is_empty()
    }

    /// How many records Proxmox listed (stored, changed or unchanged).
    pub fn listed(&self) -> usize {
        self.creates.len() + self.updates.len() + self.unchanged.len()
    }

    pub fn summary(&self) -> String {
        let what = self.kind.what();
        let mut words = format!(
            "{} {what} records to store, {} to update, {} to remove",
            self.creates.len(),
            self.updates.len(),
            self.removes.len()
        );
        if !self.stale.is_empty() {
            words.push_str(&format!(
                ", {} gone from Proxmox to mark stale",
                self.stale.len()
            ));
        }
        words
    }
}

/// Plans the records a stage read against those stored. Stored records that `covered`
/// rejects are outside what the stage could read this time (a node that was offline, a
/// guest whose snapshots failed to load) and are left alone, never treated as gone.
pub fn plan_records(
    kind: RecordKind,
    endpoint_id: i64,
    when_gone: WhenGone,
    stored: &[StoredRecord],
    wanted: Vec<Record>,
    covered: impl Fn(&StoredRecord) -> bool,
) -> RecordPlan {
    let mut by_key: HashMap<&str, &StoredRecord> =
        stored.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut plan = RecordPlan {
        kind,
        endpoint_id,
        creates: Vec::new(),
        updates: Vec::new(),
        removes: Vec::new(),
        stale: Vec::new(),
        unchanged: Vec::new(),
        expire_before: None,
    };
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    for record in wanted {
        // Proxmox may list one object twice (a shared storage through every node).
        if !seen.insert(record.row.key.clone()) {
            continue;
        }
        match by_key.remove(record.row.key.as_str()) {
            None => plan.creates.push(record),
            Some(current) => {
                let same = current.body == record.row.body
                    && current.node == record.row.node
                    && current.vmid == record.row.vmid
                    && current.at == record.row.at
                    && current.stale_since.is_none();
                if same {
                    plan.unchanged.push(record.label);
                } else {
                    plan.updates.push(record);
                }
            }
        }
    }
    let mut gone: Vec<&StoredRecord> = by_key.into_values().filter(|r| covered(r)).collect();
    gone.sort_by(|a, b| a.key.cmp(&b.key));
    for record in gone {
        let label = stored_label(kind, record);
        match when_gone {
            WhenGone::Remove => plan.removes.push((record.key.clone(), label)),
            WhenGone::MarkStale | WhenGone::StaleThenRemove { .. }
                if record.stale_since.is_none() =>
            {
                plan.stale.push((record.key.clone(), label))
            }
            WhenGone::StaleThenRemove {
                remove_stale_since_before,
            } if record
                .stale_since
                .is_some_and(|since| since < remove_stale_since_before) =>
            {
                plan.removes.push((record.key.clone(), label))
            }
            WhenGone::MarkStale | WhenGone::StaleThenRemove { .. } | WhenGone::Keep => {}
        }
    }
    plan
}

/// How a stored record appears in events: its key, which names it (`local:backup/…`).
fn stored_label(kind: RecordKind, record: &StoredRecord) -> Label {
    Label::new(record.key.clone(), kind.as_str(), kind.what())
}

/// Reports the plan's records and writes it in one transaction (only reports, in a dry
/// run). Returns how many rows changed.
pub async fn apply(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    plan: &RecordPlan,
) -> Result<u64, StageError> {
    let changed = store(ctx, report, plan).await?;
    report_items(ctx, report, plan);
    Ok(changed)
}

/// Writes the plan in one transaction (nothing in a dry run) without an item per record:
/// for records kept beside what a stage reports itself (the guests' cards of the
/// virtual-machines stage). Returns how many rows changed.
pub async fn store(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    plan: &RecordPlan,
) -> Result<u64, StageError> {
    ctx.check_stop()?;
    let changed = if ctx.options.dry_run {
        0
    } else if plan.writes_nothing() && plan.expire_before.is_none() {
        // Still record the read: pages show how current the inventory is.
        ctx.db
            .write_inventory(plan.endpoint_id, plan.kind, &InventoryChanges::default())
            .await?
    } else {
        report.substep(
            "write-records",
            StepStatus::Started,
            format!("Storing {}", plan.summary()),
        );
        let changes = InventoryChanges {
            upserts: plan
                .creates
                .iter()
                .chain(&plan.updates)
                .map(|r| &r.row)
                .collect(),
            removes: plan.removes.iter().map(|(key, _)| key.as_str()).collect(),
            stale: plan.stale.iter().map(|(key, _)| key.as_str()).collect(),
            expire_before: plan.expire_before,
        };
        let changed = ctx
            .db
            .write_inventory(plan.endpoint_id, plan.kind, &changes)
            .await?;
        report.substep(
            "write-records",
            StepStatus::Completed,
            format!("{changed} {} records changed", plan.kind.what()),
        );
        changed
    };
    Ok(changed)
}

fn report_items(ctx: &SyncContext<'_>, report: &mut StageReport<'_>, plan: &RecordPlan) {
    let dry_run = ctx.options.dry_run;
    let status = |real: ItemStatus, planned: ItemStatus| if dry_run { planned } else { real };
    report.expect_more(items(plan));
    let mut groups: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (records, is_create) in [(&plan.creates, true), (&plan.updates, false)] {
        for record in records {
            match &record.group {
                Some(group) => {
                    let counts = groups.entry(group.as_str()).or_default();
                    if is_create {
                        counts.0 += 1;
                    } else {
                        counts.1 += 1;
                    }
                }
                None if is_create => report.labeled(
                    &record.label,
                    status(ItemStatus::Created, ItemStatus::WouldCreate),
                    None,
                    None,
                ),
                None => report.labeled(
                    &record.label,
                    status(ItemStatus::Updated, ItemStatus::WouldUpdate),
                    None,
                    None,
                ),
            }
        }
    }
    for (group, (created, updated)) in groups {
        let what = plan.kind.what();
        let name = match (created, updated) {
            (c, 0) => format!("{group}: {c} new {what}s"),
            (0, u) => format!("{group}: {u} {what}s changed"),
            (c, u) => format!("{group}: {c} new {what}s, {u} changed"),
        };
        let label = Label::new(name, plan.kind.as_str(), what);
        let planned = if created > 0 {
            status(ItemStatus::Created, ItemStatus::WouldCreate)
        } else {
            status(ItemStatus::Updated, ItemStatus::WouldUpdate)
        };
        report.labeled(&label, planned, None, None);
    }
    for (_, label) in &plan.removes {
        report.labeled(
            label,
            status(ItemStatus::Deleted, ItemStatus::WouldDelete),
            None,
            None,
        );
    }
    for (_, label) in &plan.stale {
        let label = label.clone().warned(Some(
            "gone from Proxmox: kept and marked stale with when it was last seen".into(),
        ));
        report.labeled(
            &label,
            status(ItemStatus::Updated, ItemStatus::WouldUpdate),
            None,
            None,
        );
    }
    for label in &plan.unchanged {
        report.labeled(label, ItemStatus::Skipped, None, None);
    }
}

/// A stage's discovery from its plans, then each plan applied: how every inventory stage
/// ends.
pub async fn discover_and_apply(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    what: &str,
    plans: &[RecordPlan],
) -> Result<(), StageError> {
    report.discover(what, discovered(plans));
    for plan in plans {
        apply(ctx, report, plan).await?;
    }
    Ok(())
}

/// Reports what a stage could not read (a node, a storage, a guest): failed, with why the
/// records stored for it are kept.
pub fn report_unread(
    report: &mut StageReport<'_>,
    label: Label,
    kept: &str,
    error: impl Into<StageError>,
) {
    report.labeled(
        &label.warned(Some(kept.to_string())),
        ItemStatus::Failed,
        None,
        Some(error.into()),
    );
}

/// The items [`apply`] reports for a plan.
fn items(plan: &RecordPlan) -> usize {
    let grouped: std::collections::HashSet<&str> = plan
        .creates
        .iter()
        .chain(&plan.updates)
        .filter_map(|r| r.group.as_deref())
        .collect();
    let single = plan
        .creates
        .iter()
        .chain(&plan.updates)
        .filter(|r| r.group.is_none())
        .count();
    grouped.len() + single + plan.removes.len() + plan.stale.len() + plan.unchanged.len()
}

/// The objects a stage's plans hold, for its discovery: each record, or each group of
/// grouped records (a guest's new tasks).
pub fn discovered(plans: &[RecordPlan]) -> Vec<Item> {
    let mut items = Vec::new();
    let mut groups: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for plan in plans {
        for record in plan.creates.iter().chain(&plan.updates) {
            match &record.group {
                Some(group) if groups.insert(group.as_str()) => {
                    items.push(Item::new(group.clone(), record.label.kind.clone()))
                }
                Some(_) => {}
                None => items.push(Item::new(
                    record.label.name.clone(),
                    record.label.kind.clone(),
                )),
            }
        }
        items.extend(
            plan.unchanged
                .iter()
                .map(|l| Item::new(l.name.clone(), l.kind.clone())),
        );
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: &str, body: &str) -> StoredRecord {
        StoredRecord {
            key: key.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    fn record(key: &str, body: &str) -> Record {
        let mut r = Record::new(RecordKind::Backup, key, key, &());
        r.row.body = body.into();
        r
    }

    #[test]
    fn new_changed_unchanged_and_gone_records() {
        let current = [stored("a", "1"), stored("b", "2"), stored("c", "3")];
        let wanted = vec![
            record("a", "1"),
            record("b", "20"),
            record("d", "4"),
            record("d", "4"),
        ];
        let plan = plan_records(
            RecordKind::Backup,
            1,
            WhenGone::Remove,
            &current,
            wanted,
            |_| true,
        );
        assert_eq!(
            plan.creates.len(),
            1,
            "a record listed twice is stored once"
        );
        assert_eq!(plan.creates[0].row.key, "d");
        assert_eq!(plan.updates[0].row.key, "b");
        assert_eq!(plan.unchanged.len(), 1);
        assert_eq!(plan.removes[0].0, "c");
        let nothing = plan_records(
            RecordKind::Backup,
            1,
            WhenGone::Remove,
            &current,
            vec![record("a", "1"), record("b", "2"), record("c", "3")],
            |_| true,
        );
        assert!(nothing.writes_nothing());
    }

    #[test]
    fn a_gone_job_is_marked_stale_once_and_comes_back_fresh() {
        let mut job = stored("backup-nightly", "{}");
        let plan = plan_records(
            RecordKind::BackupRoutine,
            1,
            WhenGone::MarkStale,
            &[job.clone()],
            vec![],
            |_| true,
        );
        assert_eq!(plan.stale.len(), 1);
        assert!(plan.removes.is_empty());
        job.stale_since = Some(5);
        let again = plan_records(
            RecordKind::BackupRoutine,
            1,
            WhenGone::MarkStale,
            &[job.clone()],
            vec![],
            |_| true,
        );
        assert!(again.writes_nothing(), "already stale: nothing to write");
        let back = plan_records(
            RecordKind::BackupRoutine,
            1,
            WhenGone::MarkStale,
            &[job],
            vec![record("backup-nightly", "{}")],
            |_| true,
        );
        assert_eq!(
            back.updates.len(),
            1,
            "a job back in Proxmox is no longer stale"
        );
    }

    #[test]
    fn a_vanished_backup_is_kept_stale_through_the_grace_then_removed() {
        let grace_ends = |at: i64| WhenGone::StaleThenRemove {
            remove_stale_since_before: at,
        };
        let mut backup = stored("nfs:backup/vzdump-qemu-100.vma.zst", "{}");
        let first = plan_records(
            RecordKind::Backup,
            1,
            grace_ends(1_000),
            &[backup.clone()],
            vec![],
            |_| true,
        );
        assert_eq!(first.stale.len(), 1, "first found gone: stale");
        assert!(first.removes.is_empty(), "not removed at once");
        backup.stale_since = Some(5_000);
        let inside = plan_records(
            RecordKind::Backup,
            1,
            grace_ends(5_000),
            &[backup.clone()],
            vec![],
            |_| true,
        );
        assert!(inside.writes_nothing(), "inside the grace: kept as it is");
        let after = plan_records(
            RecordKind::Backup,
            1,
            grace_ends(5_001),
            &[backup.clone()],
            vec![],
            |_| true,
        );
        assert_eq!(after.removes.len(), 1, "after the grace: removed");
        let back = plan_records(
            RecordKind::Backup,
            1,
            grace_ends(5_001),
            &[backup],
            vec![record("nfs:backup/vzdump-qemu-100.vma.zst", "{}")],
            |_| true,
        );
        assert!(
            back.creates.is_empty(),
            "a backup back is the one stored, not new"
        );
        assert_eq!(back.updates.len(), 1, "and no longer stale");
    }

    #[test]
    fn what_the_stage_could_not_read_is_not_gone() {
        let mut on_offline_node = stored("pve2/local", "{}");
        on_offline_node.node = Some("pve2".into());
        let plan = plan_records(
            RecordKind::Storage,
            1,
            WhenGone::Remove,
            &[on_offline_node],
            vec![],
            |r| r.node.as_deref() != Some("pve2"),
        );
        assert!(plan.writes_nothing());
    }
}
