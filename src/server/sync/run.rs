//! One sync run: the discovery of its stages, then each stage between its `step` events,
//! then `complete`. A failed item is reported and its stage goes on; a failed stage stops
//! the run.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cluster_view::whole_cluster;
use super::context::SyncContext;
use super::failure::{failure_ending, StageError, RUN_PHASE};
use super::mapping;
use super::privileges;
use super::report::StageReport;
use super::stage::{plan_stages, Stage};
use super::state::{RunState, Scope};
use crate::events::*;
use crate::models::SyncTarget;

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub ok: bool,
    /// Counts per stage that ran, in order.
    pub stages: Vec<(Stage, Counts)>,
    /// Why the run stopped, when it failed.
    pub error: Option<StageError>,
}

impl RunOutcome {
    pub fn failed_items(&self) -> u64 {
        self.stages.iter().map(|(_, c)| c.failed).sum()
    }
}

/// The first event of a run: the stages it will run, in order, as the system we replace
/// announces them (`Discovered 12 sync stage(s) for full update`).
pub fn run_discovery(stages: &[Stage], operation_id: &str) -> Discovery {
    let mut metadata = BTreeMap::new();
    metadata.insert("operation_id".to_string(), json!(operation_id));
    let scope = if stages == Stage::ALL {
        "full update".to_string()
    } else {
        stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Discovery::new(
        RUN_PHASE,
        format!("Discovered {} sync stage(s) for {scope}", stages.len()),
        stages.iter().map(|s| Item::stage(s.name())).collect(),
        metadata,
    )
}

/// Runs the requested stages (and what they depend on) and reports everything into the
/// context's sink, ending with `complete`. Never panics on bad input; every failure ends as
/// `error_detail`, `error`, `complete ok=false`.
pub async fn run_sync(
    ctx: &SyncContext<'_>,
    requested: &[Stage],
    operation_id: &str,
) -> RunOutcome {
    let mut stages = plan_stages(requested);
    if let Some(target) = &ctx.options.target {
        stages.retain(|stage| stage.serves(target));
    }
    let sink = ctx.sink;
    let mut outcome = RunOutcome {
        ok: false,
        stages: Vec::new(),
        error: None,
    };
    sink.emit(SyncEvent::Discovery(run_discovery(&stages, operation_id)));
    let netbox_reads = ctx
        .mirror
        .begin(ctx.db, &ctx.netbox, ctx.options.mirror_max_age)
        .await;
    sink.emit(run_setting(ctx, netbox_reads));
    let mut state = RunState::default();
    // A rule naming an object NetBox lacks, or a node or guest Proxmox does not list,
    // stops the run before it writes anything.
    let prepared = async {
        state.mapping = mapping::resolve(&ctx.netbox, &ctx.options.mapping).await?;
        state.scope = resolve_scope(ctx, &mut state).await?;
        Ok::<_, StageError>(())
    };
    match prepared.await {
        Ok(()) => privileges::announce_missing(ctx, &stages, &mut state).await,
        Err(error) => {
            for event in failure_ending(RUN_PHASE, &error) {
                sink.emit(event);
            }
            outcome.error = Some(error);
            return outcome;
        }
    }
    for stage in stages.iter().copied() {
        let name = stage.name();
        sink.emit(SyncEvent::Step(Step {
            step: name.into(),
            status: StepStatus::Started,
            message: format!("{RUN_PHASE}: {} synchronization started.", stage.title()),
            result: None,
        }));
        let mut report = StageReport::new(sink, name);
        let result = match ctx.check_stop() {
            Err(e) => Err(e),
            Ok(()) => stage.run(ctx, &mut report, &mut state).await,
        };
        outcome.stages.push((stage, report.counts));
        if let Err(error) = result {
            fail(ctx, name, &report, &error);
            outcome.error = Some(error);
            return outcome;
        }
        let finished = format!("{RUN_PHASE}: {} synchronization finished.", stage.title());
        sink.emit(report.summary(StepStatus::Completed, finished.clone()));
        sink.emit(SyncEvent::Step(Step {
            step: name.into(),
            status: StepStatus::Completed,
            message: finished,
            result: Some(serde_json::to_value(report.counts).unwrap_or(Value::Null)),
        }));
    }
    ctx.mirror.save(ctx.db, &ctx.netbox).await;
    outcome.ok = true;
    let failed = outcome.failed_items();
    let result: BTreeMap<&str, Counts> = outcome
        .stages
        .iter()
        .map(|(stage, counts)| (stage.name(), *counts))
        .collect();
    sink.emit(SyncEvent::Complete(Complete {
        ok: true,
        message: if failed == 0 {
            format!("{RUN_PHASE}: Full update sync completed.")
        } else {
            format!("{RUN_PHASE}: Full update sync completed; {failed} objects failed (see the errors).")
        },
        result: Some(json!({ "stages": result, "dry_run": ctx.options.dry_run })),
        errors: None,
    }));
    outcome
}

/// The node or guest the run is limited to, as Proxmox lists it (a guest with its node).
async fn resolve_scope(ctx: &SyncContext<'_>, state: &mut RunState) -> Result<Scope, StageError> {
    let Some(target) = &ctx.options.target else {
        return Ok(Scope::default());
    };
    let [source] = ctx.sources.as_slice() else {
        return Err(StageError::new(
            ErrorCategory::Validation,
            format!(
                "A sync of {} needs exactly one Proxmox endpoint",
                target.describe()
            ),
            format!("This run has {} endpoints.", ctx.sources.len()),
            "Start it from the guest's or node's page, or name one endpoint.",
        ));
    };
    let view = whole_cluster(state, source).await?;
    let missing = |what: String| {
        StageError::new(
            ErrorCategory::NotFound,
            format!("{what} is not in Proxmox endpoint {}", source.endpoint_name),
            "Proxmox's /cluster/resources does not list it: it was removed, migrated to another cluster, or renumbered.",
            "Run a full update to bring NetBox in step with what the cluster has now.",
        )
    };
    match target {
        SyncTarget::Node { name } => {
            if !view.nodes.iter().any(|(node, _)| node == name) {
                return Err(missing(format!("Node {name}")));
            }
            Ok(Scope {
                node: Some(name.clone()),
                vmid: None,
            })
        }
        SyncTarget::Guest { vmid } => {
            let guest = view
                .guest(*vmid, None)
                .ok_or_else(|| missing(format!("Guest {vmid}")))?;
            Ok(Scope {
                node: Some(guest.node.clone()),
                vmid: Some(*vmid),
            })
        }
    }
}

/// What the run works with, after its discovery: the endpoints, whether it only plans, and
/// how it reads NetBox (its change log since the last sync, or everything).
fn run_setting(ctx: &SyncContext<'_>, netbox_reads: String) -> SyncEvent {
    let endpoints: Vec<&str> = ctx
        .sources
        .iter()
        .map(|s| s.endpoint_name.as_str())
        .collect();
    let dry_run = ctx.options.dry_run;
    SyncEvent::Substep(Substep {
        event: "substep".into(),
        phase: RUN_PHASE.into(),
        substep: "setting".into(),
        status: StepStatus::Completed,
        message: format!(
            "{RUN_PHASE}: Syncing {}{}; NetBox: {netbox_reads}",
            endpoints.join(", "),
            if dry_run {
                " as a dry run (nothing is written)"
            } else {
                ""
            }
        ),
        item: None,
        timing: None,
        result: Some(json!({
            "endpoints": endpoints,
            "dry_run": dry_run,
            "netbox_reads": netbox_reads,
        })),
    })
}

/// How a run read NetBox (its change log since the last sync, or everything), as its
/// setting substep says.
pub fn netbox_reads(events: &[SyncEvent]) -> Option<&str> {
    events.iter().find_map(|e| match e {
        SyncEvent::Substep(s) if s.phase == RUN_PHASE && s.substep == "setting" => {
            s.result.as_ref()?.get("netbox_reads")?.as_str()
        }
        _ => None,
    })
}

/// The end of a failed run: `error_detail`, the stage's summary and failed step, `error`,
/// `complete ok=false`.
fn fail(ctx: &SyncContext<'_>, phase: &str, report: &StageReport<'_>, error: &StageError) {
    let sink = ctx.sink;
    let [detail, error_event, complete] = failure_ending(phase, error);
    sink.emit(detail);
    sink.emit(report.summary(StepStatus::Failed, format!("{phase}: {}", error.message)));
    sink.emit(SyncEvent::Step(Step {
        step: phase.into(),
        status: StepStatus::Failed,
        message: error.message.clone(),
        result: None,
    }));
    sink.emit(error_event);
    sink.emit(complete);
}
