//! One sync run: discovery, then each stage between its `step` events, then `complete`.
//! A failed item is reported and its stage goes on; a failed stage stops the run.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::context::{is_planned, StageError, SyncContext};
use super::report::StageReport;
use super::stage::{plan_stages, Stage};
use super::stages::{
    devices, ip_addresses, virtual_machines, vm_disks, vm_interfaces, SyncedCluster, SyncedGuest,
    SyncedInterface,
};
use crate::events::*;

/// What the stages of one run hand each other.
#[derive(Debug, Default)]
pub struct RunState {
    /// Whether NetBox has the `proxbox_identity` custom field (see `devices`).
    pub identity_field: bool,
    pub clusters: Vec<SyncedCluster>,
    pub guests: Vec<SyncedGuest>,
    pub interfaces: Vec<SyncedInterface>,
    /// `/cluster/resources` of each endpoint as discovery read it (nodes and guests).
    pub resources: BTreeMap<i64, Vec<proxbox_pve::ClusterResource>>,
}

/// The ids that exist in NetBox, without those a dry run only planned (NetBox cannot be
/// asked about them).
fn stored(ids: impl Iterator<Item = u64>) -> Vec<u64> {
    ids.filter(|id| !is_planned(*id)).collect()
}

impl RunState {
    /// NetBox ids of the run's clusters.
    pub fn cluster_ids(&self) -> Vec<u64> {
        stored(self.clusters.iter().map(|c| c.netbox_cluster))
    }

    /// NetBox ids of the synced guests' VMs.
    pub fn vm_ids(&self) -> Vec<u64> {
        stored(self.guests.iter().map(|g| g.vm_id))
    }

    /// NetBox ids of the synced guests' interfaces.
    pub fn interface_ids(&self) -> Vec<u64> {
        stored(self.interfaces.iter().map(|i| i.netbox_id))
    }
}

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

/// The phase name of a run in events, as the plugin knows it.
pub const RUN_PHASE: &str = "full-update";

fn title(stage: Stage) -> &'static str {
    match stage {
        Stage::Devices => "Devices",
        Stage::VirtualMachines => "Virtual machines",
        Stage::VmDisks => "Virtual disks",
        Stage::VmInterfaces => "VM interfaces",
        Stage::IpAddresses => "IP addresses",
    }
}

/// Runs the requested stages (and what they depend on) and reports everything into the
/// context's sink, ending with `complete`. Never panics on bad input; every failure ends as
/// `error_detail`, `error`, `complete ok=false`.
pub async fn run_sync(
    ctx: &SyncContext<'_>,
    requested: &[Stage],
    operation_id: &str,
) -> RunOutcome {
    let stages = plan_stages(requested);
    let sink = ctx.sink;
    let mut outcome = RunOutcome {
        ok: false,
        stages: Vec::new(),
        error: None,
    };
    let mut state = RunState::default();
    // Proxmox's inventory and the change log of NetBox do not depend on each other.
    let (discovered, netbox_reads) = tokio::join!(
        discover(ctx, &mut state, &stages, operation_id),
        ctx.mirror
            .begin(ctx.db, &ctx.netbox, ctx.options.mirror_max_age)
    );
    match discovered {
        Ok(mut discovery) => {
            discovery
                .metadata
                .insert("netbox_reads".into(), json!(netbox_reads));
            sink.emit(SyncEvent::Discovery(discovery))
        }
        Err(error) => {
            fail(ctx, "discovery", None, &error);
            outcome.error = Some(error);
            return outcome;
        }
    }
    for stage in stages.iter().copied() {
        let name = stage.name();
        sink.emit(SyncEvent::Step(Step {
            step: name.into(),
            status: StepStatus::Started,
            message: format!("{RUN_PHASE}: {} synchronization started.", title(stage)),
            result: None,
        }));
        let mut report = StageReport::new(sink, name);
        let result = match ctx.check_stop() {
            Err(e) => Err(e),
            Ok(()) => run_stage(ctx, stage, &mut report, &mut state).await,
        };
        outcome.stages.push((stage, report.counts));
        if let Err(error) = result {
            fail(ctx, name, Some(&report), &error);
            outcome.error = Some(error);
            return outcome;
        }
        sink.emit(report.summary(
            StepStatus::Completed,
            format!("{RUN_PHASE}: {} synchronization finished.", title(stage)),
        ));
        sink.emit(SyncEvent::Step(Step {
            step: name.into(),
            status: StepStatus::Completed,
            message: format!("{RUN_PHASE}: {} synchronization finished.", title(stage)),
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

async fn run_stage(
    ctx: &SyncContext<'_>,
    stage: Stage,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    match stage {
        Stage::Devices => devices::run(ctx, report, state).await,
        Stage::VirtualMachines => virtual_machines::run(ctx, report, state).await,
        Stage::VmDisks => vm_disks::run(ctx, report, state).await,
        Stage::VmInterfaces => vm_interfaces::run(ctx, report, state).await,
        Stage::IpAddresses => ip_addresses::run(ctx, report, state).await,
    }
}

/// The nodes and guests of every endpoint: the run's items and the total of its progress.
async fn discover(
    ctx: &SyncContext<'_>,
    state: &mut RunState,
    stages: &[Stage],
    operation_id: &str,
) -> Result<Discovery, StageError> {
    let mut items = Vec::new();
    for source in &ctx.sources {
        ctx.check_stop()?;
        let resources = source.pve.cluster_resources().await?.value;
        for resource in &resources {
            let kind = resource.kind.as_str();
            let name = match kind {
                "node" => resource.node.clone(),
                "qemu" | "lxc" => resource
                    .name
                    .clone()
                    .or_else(|| resource.vmid.map(|vmid| format!("{kind}-{vmid}"))),
                _ => None,
            };
            if let Some(name) = name {
                items.push(Item::new(name, kind));
            }
        }
        state.resources.insert(source.endpoint_id, resources);
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("operation_id".to_string(), json!(operation_id));
    metadata.insert(
        "stages".to_string(),
        json!(stages.iter().map(|s| s.name()).collect::<Vec<_>>()),
    );
    metadata.insert("dry_run".to_string(), json!(ctx.options.dry_run));
    let endpoints: Vec<&str> = ctx
        .sources
        .iter()
        .map(|s| s.endpoint_name.as_str())
        .collect();
    metadata.insert("endpoints".to_string(), json!(endpoints));
    Ok(Discovery::new(
        RUN_PHASE,
        format!(
            "{RUN_PHASE}: Discovered {} nodes and guests on {}",
            items.len(),
            endpoints.join(", ")
        ),
        items,
        metadata,
    ))
}

/// The end of a failed run: `error_detail`, the stage's summary and failed step, `error`,
/// `complete ok=false`.
fn fail(ctx: &SyncContext<'_>, phase: &str, report: Option<&StageReport<'_>>, error: &StageError) {
    let sink = ctx.sink;
    let [detail, error_event, complete] = failure_ending(phase, error);
    match report {
        Some(report) => {
            sink.emit(detail);
            sink.emit(report.summary(StepStatus::Failed, format!("{phase}: {}", error.message)));
            sink.emit(SyncEvent::Step(Step {
                step: phase.into(),
                status: StepStatus::Failed,
                message: error.message.clone(),
                result: None,
            }));
        }
        None => sink.emit(detail),
    }
    sink.emit(error_event);
    sink.emit(complete);
}

/// `error_detail`, `error` and `complete ok=false` for a run that failed in `phase`: how
/// every failed stream ends, also those that fail before or outside the engine (a job
/// interrupted by a restart, cancelled while waiting, or whose endpoints are gone).
pub fn failure_ending(phase: &str, error: &StageError) -> [SyncEvent; 3] {
    [
        SyncEvent::ErrorDetail(error.detail_event(phase, None)),
        SyncEvent::Error(ErrorEvent::new(
            phase,
            error.message.clone(),
            error.detail.clone(),
        )),
        SyncEvent::Complete(Complete {
            ok: false,
            message: format!("{RUN_PHASE}: {}", error.message),
            result: None,
            errors: Some(vec![json!({
                "phase": phase,
                "category": error.category,
                "message": error.message,
                "detail": error.detail,
                "suggestion": error.suggestion,
            })]),
        }),
    ]
}
