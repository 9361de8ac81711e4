//! `task-history`: each node's tasks (`/nodes/{node}/tasks`), read incrementally — only
//! tasks that started at or after the newest one stored for that node (or, while a stored
//! task still runs, after the oldest such), paged with `start` / `limit`, one request in
//! flight per node — and kept for the retention period (`PROXBOX_TASK_RETENTION_DAYS`,
//! default 30): older tasks are neither read nor kept, whatever Proxmox answers. A read
//! stops at its cap (50,000 tasks); the older tasks inside the retention are read by the
//! next syncs, from how far back the stored history is complete down to the cutoff. A task is tied to its guest by the
//! task's id (the vmid of guest tasks). The old system read every node's whole history on
//! every sync and timed out on large clusters.

use std::collections::HashMap;

use proxbox_pve::{Task, TaskFilter};

use crate::events::StepStatus;
use crate::models::{RecordKind, TaskRecord};
use crate::server::infra::db::inventory::StoredRecord;
use crate::server::sync::cluster_view::{cluster_view, ClusterView};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{
    self, plan_records, report_unread, Record, RecordPlan, WhenGone,
};
use crate::server::sync::plan::Label;
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

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
    let now = crate::server::infra::db::now_ms() / 1000;
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
    let mut reaches: Vec<(i64, Vec<(String, i64)>)> = Vec::new();
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
        // A node's history is complete back to its reach; a guest's run reads only what is
        // new of that guest and leaves the reach alone.
        let reach = match for_guest {
            true => HashMap::new(),
            false => ctx.db.task_history_reach(source.endpoint_id).await?,
        };
        let cap = ctx.options.task_read_cap;
        let mut reads = tokio::task::JoinSet::new();
        for node in view.online_nodes() {
            let stored_of_node = per_node.get(node).map_or(&[][..], Vec::as_slice);
            let windows = if for_guest {
                NodeWindows {
                    top: Window {
                        since: read_since(stored_of_node, cutoff),
                        until: None,
                    },
                    gap: None,
                }
            } else {
                node_windows(stored_of_node, reach.get(node).copied(), cutoff)
            };
            let (pve, node, vmid) = (source.pve.clone(), node.to_string(), scope.vmid);
            reads.spawn(async move {
                let read = |window: Window| {
                    let filter = TaskFilter {
                        since: Some(window.since),
                        until: window.until,
                        vmid,
                    };
                    pve.node_tasks(&node, filter, cap)
                };
                let top = read(windows.top).await;
                let gap = match windows.gap {
                    Some(gap) => Some(read(gap).await),
                    None => None,
                };
                (node.clone(), windows, top, gap)
            });
        }
        let mut wanted = Vec::new();
        // Per node: the windows whose read answered, and the reach after this run.
        let mut read_windows: HashMap<String, Vec<Window>> = HashMap::new();
        let mut reach_after: Vec<(String, i64)> = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let Ok((node, windows, top, gap)) = joined else {
                continue;
            };
            let unread = |report: &mut StageReport<'_>, e: proxbox_pve::PveError| {
                report_unread(
                    report,
                    Label::new(format!("{node} tasks"), "node", "node"),
                    "the node's tasks could not be read; the next sync reads them",
                    e,
                )
            };
            let top = match top {
                Ok(tasks) => tasks.value,
                Err(e) => {
                    unread(report, e);
                    continue;
                }
            };
            let gap = match gap {
                Some(Ok(tasks)) => Some(tasks.value),
                Some(Err(e)) => {
                    unread(report, e);
                    None
                }
                None => None,
            };
            fetched += top.len() + gap.as_ref().map_or(0, Vec::len);
            let mut answered = vec![windows.top];
            if gap.is_some() {
                answered.extend(windows.gap);
            }
            if !for_guest {
                if let Some(next) = reach_after_reads(&windows, &top, gap.as_deref(), cap, cutoff) {
                    reach_after.push((node.clone(), next));
                }
            }
            let read_tasks = top.iter().filter(|t| windows.top.holds(t.starttime)).chain(
                gap.iter()
                    .flatten()
                    .filter(|t| windows.gap.is_some_and(|w| w.holds(t.starttime))),
            );
            wanted.extend(read_tasks.filter_map(|t| {
                record(t, &view, for_guest && !node_read.contains(t.upid.as_str()))
            }));
            read_windows.insert(node, answered);
        }
        wanted.sort_by(|a, b| a.row.key.cmp(&b.row.key));
        // Proxmox may list one task twice (the top and the gap meet at a second).
        wanted.dedup_by(|a, b| a.row.key == b.row.key);
        // Compare only against the stored tasks the reads could have returned again.
        let comparable: Vec<StoredRecord> = parsed
            .iter()
            .filter(|(_, t)| {
                scope.has_guest(t.vmid)
                    && read_windows
                        .get(&t.node)
                        .is_some_and(|windows| windows.iter().any(|w| w.holds(Some(t.started))))
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
        reaches.push((source.endpoint_id, reach_after));
    }
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{fetched} tasks read"),
    );
    inventory::discover_and_apply(ctx, report, "task histories", &plans).await?;
    // Moved on only once what the reads found is stored.
    if !ctx.options.dry_run {
        for (endpoint_id, nodes) in reaches {
            for (node, complete_from) in nodes {
                ctx.db
                    .set_task_history_reach(endpoint_id, &node, complete_from)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Tasks started in `[since, until]` (Unix seconds; no `until`: up to now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: i64,
    pub until: Option<i64>,
}

impl Window {
    /// Whether a task that started at `started` is one this window asked for (Proxmox
    /// may answer more: a replay of recorded answers ignores `since`).
    fn holds(self, started: Option<i64>) -> bool {
        started.is_some_and(|s| s >= self.since && self.until.is_none_or(|until| s <= until))
    }
}

/// What one sync reads of a node's tasks: the new ones, and the gap between the retention
/// cutoff and how far back the stored history is complete, while there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeWindows {
    pub top: Window,
    pub gap: Option<Window>,
}

/// The windows of a node whose stored tasks are `stored` and whose history is complete back
/// to `reach` (none recorded: back to its oldest stored task, as far as anyone knows).
pub fn node_windows(stored: &[&TaskRecord], reach: Option<i64>, cutoff: i64) -> NodeWindows {
    let reach = reach
        .or_else(|| stored.iter().map(|t| t.started).min())
        .unwrap_or(cutoff);
    NodeWindows {
        top: Window {
            since: read_since(stored, cutoff),
            until: None,
        },
        gap: (reach > cutoff).then_some(Window {
            since: cutoff,
            until: Some(reach),
        }),
    }
}

/// Where a newest-first read of `window` that stopped at its cap (`cap` tasks answered)
/// left off: its oldest task, while that is still inside the window (tasks of that second
/// may be cut, and are read again); `None` when the read covered the window.
fn cut_short_at(window: Window, tasks: &[Task], cap: usize) -> Option<i64> {
    let oldest = tasks.iter().filter_map(|t| t.starttime).min()?;
    let inside = oldest >= window.since;
    (tasks.len() >= cap && inside).then(|| window.until.map_or(oldest, |until| oldest.min(until)))
}

/// How far back the node's history is complete after reads that answered: `top` and, when
/// one was read, `gap` (each newest first, at most `cap`). A read cut short is complete only
/// down to where it left off. `None`: unchanged.
pub fn reach_after_reads(
    windows: &NodeWindows,
    top: &[Task],
    gap: Option<&[Task]>,
    cap: usize,
    cutoff: i64,
) -> Option<i64> {
    if let Some(left_off) = cut_short_at(windows.top, top, cap) {
        return Some(left_off);
    }
    match (windows.gap, gap) {
        // The gap was to be read and was not: as it was.
        (Some(_), None) => None,
        (Some(window), Some(gap)) => Some(cut_short_at(window, gap, cap).unwrap_or(cutoff)),
        (None, _) => Some(cutoff),
    }
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

    fn listed(starts: &[i64]) -> Vec<Task> {
        starts
            .iter()
            .map(|s| Task {
                upid: format!("UPID:{s}"),
                node: "pve1".into(),
                kind: "qmstart".into(),
                id: "100".into(),
                user: "root@pam".into(),
                starttime: Some(*s),
                endtime: Some(s + 1),
                status: Some("OK".into()),
            })
            .collect()
    }

    #[test]
    fn a_gap_below_the_complete_history_is_read_until_the_cutoff() {
        let stored = [task(500, Some("OK")), task(900, Some("OK"))];
        let stored: Vec<&TaskRecord> = stored.iter().collect();
        // Complete back to 400: the gap is [100, 400], the new tasks from 900 on.
        let windows = node_windows(&stored, Some(400), 100);
        assert_eq!(
            windows.top,
            Window {
                since: 900,
                until: None
            }
        );
        assert_eq!(
            windows.gap,
            Some(Window {
                since: 100,
                until: Some(400)
            })
        );
        // Complete back to the cutoff (or below it, as time passes): no gap.
        assert_eq!(node_windows(&stored, Some(100), 100).gap, None);
        assert_eq!(node_windows(&stored, Some(50), 100).gap, None);
        // No reach recorded (stored before reaches were): from the oldest stored task.
        assert_eq!(
            node_windows(&stored, None, 100).gap,
            Some(Window {
                since: 100,
                until: Some(500)
            })
        );
        assert_eq!(
            node_windows(&[], None, 100).gap,
            None,
            "nothing stored: no gap"
        );
    }

    #[test]
    fn a_read_that_stops_at_its_cap_leaves_the_rest_to_the_next_sync() {
        let first = node_windows(&[], None, 100);
        // Newest first, cut at 3: complete down to the oldest read.
        let top = listed(&[990, 980, 970]);
        assert_eq!(reach_after_reads(&first, &top, None, 3, 100), Some(970));
        // Not cut: complete down to the cutoff.
        assert_eq!(
            reach_after_reads(&first, &top[..2], None, 3, 100),
            Some(100)
        );
        // A gap read cut at its cap, then one that is not.
        let stored = [task(970, Some("OK"))];
        let stored: Vec<&TaskRecord> = stored.iter().collect();
        let second = node_windows(&stored, Some(970), 100);
        let gap = listed(&[970, 960, 950]);
        assert_eq!(
            reach_after_reads(&second, &[], Some(&gap), 3, 100),
            Some(950)
        );
        assert_eq!(
            reach_after_reads(&second, &[], Some(&gap[..1]), 3, 100),
            Some(100)
        );
        // The gap's read failed: the reach stays.
        assert_eq!(reach_after_reads(&second, &[], None, 3, 100), None);
        // A replay that ignores the window answers newer tasks than the gap asked for: they
        // prove nothing about the gap, and the reach never moves up.
        let replayed = listed(&[990, 980, 970]);
        assert_eq!(
            reach_after_reads(&second, &[], Some(&replayed), 3, 100),
            Some(970)
        );
        // Nor does a top read that reached below its window.
        let covering = listed(&[990, 980, 50]);
        assert_eq!(
            reach_after_reads(&first, &covering, None, 3, 100),
            Some(100)
        );
    }

    #[test]
    fn tasks_outside_the_window_asked_for_are_not_taken() {
        let window = Window {
            since: 100,
            until: Some(400),
        };
        let table = [
            (Some(99), false),
            (Some(100), true),
            (Some(400), true),
            (Some(401), false),
            (None, false),
        ];
        for (started, expected) in table {
            assert_eq!(window.holds(started), expected, "{started:?}");
        }
        assert!(Window {
            since: 100,
            until: None
        }
        .holds(Some(i64::MAX)));
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
