//! `task-history`: each node's tasks (`/nodes/{node}/tasks`), read incrementally — only
//! tasks that started at or after the newest one stored for that node (or, while a stored
//! task still runs, after the oldest such), paged with `start` / `limit`, one request in
//! flight per node — and kept for the retention period (`PROXBOX_TASK_RETENTION_DAYS`,
//! default 30): older tasks are neither read nor kept. A task is tied to its guest by the
//! task's id (the vmid of guest tasks). The old system read every node's whole history on
//! every sync and timed out on large clusters.

use std::collections::HashMap;

use proxbox_pve::{Task, TaskFilter};

use crate::events::StepStatus;
use crate::models::{RecordKind, TaskRecord};
use crate::server::db::inventory::StoredRecord;
use crate::server::sync::cluster_view::{cluster_view, ClusterView};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{
    self, plan_records, report_unread, Record, RecordPlan, WhenGone,
};
use crate::server::sync::plan::Label;
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

/// At most this many tasks are read per node and sync (the rest follow in the next one).
const MAX_TASKS_PER_NODE: usize = 50_000;

/// Where to start reading a node's tasks: the newest stored start, or the start of the
/// oldest stored task still running (its end must be read too); `cutoff` when nothing is
/// stored.
pub fn read_since(stored: &[&TaskRecord], cutoff: i64) -> i64 {
    let newest = stored.iter().map(|t| t.started).max();
    let oldest_running = stored
        .iter()
        .filter(|t| t.status.is_none())
        .map(|t| t.started)
        .min();
    match (newest, oldest_running) {
        (_, Some(running)) => running.max(cutoff),
        (Some(newest), None) => newest.max(cutoff),
        (None, None) => cutoff,
    }
}

pub fn record(task: &Task, view: &ClusterView, read_for_guest: bool) -> Option<Record> {
    let started = task.starttime?;
    let vmid = task.id.parse::<u64>().ok();
    let body = TaskRecord {
        upid: task.upid.clone(),
        node: task.node.clone(),
        kind: task.kind.clone(),
        vmid,
        user: task.user.clone(),
        started,
        ended: task.endtime,
        status: task.status.clone(),
        read_for_guest,
    };
    let group = match vmid.and_then(|v| view.guest(v, None)) {
        Some(guest) => guest.name.clone(),
        None => match vmid {
            Some(v) => format!("vmid {v}"),
            None => format!("node {}", task.node),
        },
    };
    let name = format!("{} {}", task.kind, task.upid);
    Some(
        Record::new(RecordKind::Task, task.upid.clone(), name, &body)
            .on(Some(&task.node), vmid, Some(started))
            .grouped(group),
    )
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    let now = crate::server::db::now_ms() / 1000;
    let cutoff = now - ctx.options.task_retention.as_secs() as i64;
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        format!(
            "Reading each node's new tasks from Proxmox (kept {} days)",
            ctx.options.task_retention.as_secs() / 86_400
        ),
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    let mut fetched = 0;
    for source in &ctx.sources {
        let view = cluster_view(state, source).await?;
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::Task, Some(cutoff))
            .await?;
        let parsed: Vec<(&StoredRecord, TaskRecord)> = stored
            .iter()
            .filter_map(|r| Some((r, r.parse::<TaskRecord>()?)))
            .collect();
        // A node's read continues from the node's own reads; a guest's from that guest's
        // tasks, asking Proxmox for its tasks only.
        let scope = &state.scope;
        let for_guest = scope.vmid.is_some();
        // A guest's read leaves a task a node's read stored as the node's.
        let node_read: std::collections::HashSet<&str> = parsed
            .iter()
            .filter(|(_, t)| !t.read_for_guest)
            .map(|(r, _)| r.key.as_str())
            .collect();
        let mut per_node: HashMap<&str, Vec<&TaskRecord>> = HashMap::new();
        for (_, task) in &parsed {
            let counts = if for_guest {
                scope.has_guest(task.vmid)
            } else {
                !task.read_for_guest
            };
            if counts {
                per_node.entry(task.node.as_str()).or_default().push(task);
            }
        }
        let mut reads = tokio::task::JoinSet::new();
        let mut since_of: HashMap<String, i64> = HashMap::new();
        for node in view.online_nodes() {
            let since = read_since(per_node.get(node).map_or(&[][..], Vec::as_slice), cutoff);
            since_of.insert(node.to_string(), since);
            let (pve, node) = (source.pve.clone(), node.to_string());
            let filter = TaskFilter {
                since: Some(since),
                vmid: scope.vmid,
            };
            reads.spawn(async move {
                let tasks = pve.node_tasks(&node, filter, MAX_TASKS_PER_NODE).await;
                (node, tasks)
            });
        }
        let mut wanted = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let Ok((node, result)) = joined else { continue };
            match result {
                Ok(tasks) => {
                    fetched += tasks.value.len();
                    wanted.extend(tasks.value.iter().filter_map(|t| {
                        record(t, &view, for_guest && !node_read.contains(t.upid.as_str()))
                    }));
                }
                Err(e) => {
                    since_of.remove(&node);
                    report_unread(
                        report,
                        Label::new(format!("{node} tasks"), "node", "node"),
                        "the node's tasks could not be read; the next sync reads them",
                        e,
                    );
                }
            }
        }
        wanted.sort_by(|a, b| a.row.key.cmp(&b.row.key));
        // Compare only against the stored tasks the read could have returned again.
        let comparable: Vec<StoredRecord> = parsed
            .iter()
            .filter(|(_, t)| {
                scope.has_guest(t.vmid)
                    && since_of
                        .get(&t.node)
                        .is_some_and(|since| t.started >= *since)
            })
            .map(|(r, _)| (*r).clone())
            .collect();
        let mut plan = plan_records(
            RecordKind::Task,
            source.endpoint_id,
            WhenGone::Keep,
            &comparable,
            wanted,
            |_| false,
        );
        // Unchanged tasks are the boundary of the incremental read, not items of their own.
        plan.unchanged.clear();
        // Expiry is the whole history's housekeeping, not one guest's.
        plan.expire_before = scope.is_whole().then_some(cutoff);
        plans.push(plan);
    }
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{fetched} tasks read"),
    );
    inventory::discover_and_apply(ctx, report, "task histories", &plans).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(started: i64, status: Option<&str>) -> TaskRecord {
        TaskRecord {
            upid: format!("UPID:{started}"),
            node: "pve1".into(),
            kind: "qmstart".into(),
            vmid: Some(100),
            user: "root@pam".into(),
            started,
            ended: status.map(|_| started + 1),
            status: status.map(str::to_string),
            read_for_guest: false,
        }
    }

    #[test]
    fn reads_from_the_newest_task_or_the_oldest_still_running() {
        let (done, newer) = (task(100, Some("OK")), task(200, Some("OK")));
        assert_eq!(
            read_since(&[], 50),
            50,
            "nothing stored: the retention cutoff"
        );
        assert_eq!(read_since(&[&done, &newer], 50), 200);
        let running = task(150, None);
        assert_eq!(read_since(&[&done, &running, &newer], 50), 150);
        assert_eq!(read_since(&[&done], 120), 120, "never before the cutoff");
    }
}
