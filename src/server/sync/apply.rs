//! Applying a stage's plan: the one mechanism every stage writes through. Bulk writes in
//! chunks sized by NetBox's pace, a `substep` per chunk with its timing, the stop signal checked between chunks,
//! the objects NetBox refuses isolated (reported `failed`, the rest go on), an
//! `item_progress` per object. A dry run goes through the same code and reports `would_*`
//! instead of writing, so its events are exactly those of the real run.

use std::time::{Duration, Instant};

use proxbox_netbox::models::{Model, Slugged};
use serde::Serialize;

use super::context::SyncContext;
use super::failure::StageError;
use super::plan::{Label, Plan, Write};
use super::report::{Remarks, StageReport};
pub use super::target::{Target, Writer};
use crate::events::{ItemStatus, StepStatus, Timing};

/// What NetBox holds after a plan was applied, by the stage's keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<K> {
    /// Each create's key and the id NetBox gave it (a planned id in a dry run); `None`
    /// where NetBox refused it.
    pub created: Vec<(K, Option<u64>)>,
    /// Each update's key and its id; `None` where NetBox refused it.
    pub updated: Vec<(K, Option<u64>)>,
    /// The key and id of each update NetBox refused: the object is still there, as it was.
    pub refused: Vec<(K, u64)>,
    /// The key and id of each object left as it was.
    pub unchanged: Vec<(K, u64)>,
    /// Each delete's id and whether the object is gone (never in a dry run).
    pub deleted: Vec<(u64, bool)>,
}

impl<K> Applied<K> {
    /// The key and id of every object of the plan that exists in NetBox now (or would, in
    /// a dry run): unchanged, updated — also those whose update NetBox refused — and
    /// created. What a stage hands on to the objects that hang on these.
    pub fn existing(&self) -> impl Iterator<Item = (&K, u64)> {
        self.settled()
            .chain(self.refused.iter().map(|(key, id)| (key, *id)))
    }

    /// The key and id of every object NetBox holds as the plan wants it: unchanged, and
    /// created or updated without a refusal.
    pub fn settled(&self) -> impl Iterator<Item = (&K, u64)> {
        self.unchanged.iter().map(|(key, id)| (key, *id)).chain(
            self.created
                .iter()
                .chain(&self.updated)
                .filter_map(|(key, id)| id.map(|id| (key, id))),
        )
    }
}

impl StageReport<'_> {
    pub fn labeled(
        &mut self,
        label: &Label,
        status: ItemStatus,
        id: Option<u64>,
        error: Option<StageError>,
    ) {
        self.item_noted(
            &label.name,
            &label.kind,
            label.what,
            status,
            id,
            error,
            Remarks {
                warning: label.warning.clone(),
                takeover: label.takeover.clone(),
            },
        );
    }
}

/// Writes the plan into NetBox (see [`write`]).
pub async fn apply<M: Model, W: Serialize + Sync, K: Clone>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    plan: &Plan<W, K>,
) -> Result<Applied<K>, StageError> {
    write::<M, W, K, _>(&ctx.writer(), report, plan).await
}

/// Writes the plan: its skips and failures are reported, then deletes (a freed name or
/// address may be the one a create needs), creates, updates and links, in chunks.
pub async fn write<M: Model, W: Serialize + Sync, K: Clone, T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    plan: &Plan<W, K>,
) -> Result<Applied<K>, StageError> {
    report.expect_more(plan.items());
    let mut unchanged = Vec::new();
    for skip in &plan.skips {
        report.labeled(&skip.label, ItemStatus::Skipped, skip.id, None);
        if let (Some(key), Some(id)) = (&skip.key, skip.id) {
            unchanged.push((key.clone(), id));
        }
    }
    for failure in &plan.failures {
        report.labeled(
            &failure.label,
            ItemStatus::Failed,
            failure.id,
            Some(failure.error.clone()),
        );
    }
    let mut chunks = Chunks::new(writer.target.chunk_size(), plan.what);
    let deleted = delete::<M, W, K, T>(writer, report, plan, &mut chunks).await?;
    let created =
        bulk::<M, W, K, T>(writer, report, &plan.creates, Bulk::Create, &mut chunks).await?;
    let updated =
        bulk::<M, W, K, T>(writer, report, &plan.updates, Bulk::Update, &mut chunks).await?;
    bulk::<M, W, K, T>(writer, report, &plan.links, Bulk::Link, &mut chunks).await?;
    let refused = plan
        .updates
        .iter()
        .zip(&updated)
        .filter_map(|(write, (_, id))| match (id, write.id) {
            (None, Some(target)) => Some((write.key.clone(), target)),
            _ => None,
        })
        .collect();
    Ok(Applied {
        created,
        updated,
        refused,
        unchanged,
        deleted,
    })
}

/// How long one chunk of writes should take: short enough that a run is never long
/// without an event (NetBox takes from ~10 ms to over 100 ms per object, by model and
/// database size), long enough that requests stay few.
const CHUNK_TARGET: Duration = Duration::from_millis(2500);

/// Sizes the plan's chunks by NetBox's pace: each chunk as many objects as the last one's
/// time per object says fit in [`CHUNK_TARGET`], at most twice the last one (NetBox's pace
/// swings threefold from one request to the next on a busy database; measured 2026-12-02)
/// and never more than the client's chunk size. The first chunk is a quarter of that, to
/// take the pace.
struct Chunks {
    max: usize,
    next: usize,
    what: &'static str,
}

impl Chunks {
    fn new(max: usize, what: &'static str) -> Chunks {
        let max = max.max(1);
        Chunks {
            max,
            next: max.div_ceil(4),
            what,
        }
    }

    /// Announces the chunk `first..first + len` of `total` objects; returns its message and
    /// when it started.
    fn start(
        &self,
        report: &StageReport<'_>,
        verb: &str,
        first: usize,
        len: usize,
        total: usize,
    ) -> (String, Instant) {
        let message = format!(
            "{verb} {} {}–{} of {total}",
            self.what,
            first + 1,
            first + len
        );
        report.substep("write-chunk", StepStatus::Started, message.clone());
        (message, Instant::now())
    }

    /// Reports the chunk's end with its timing, and sizes the next one by its pace.
    fn finish(
        &mut self,
        report: &StageReport<'_>,
        (message, started): (String, Instant),
        len: usize,
    ) {
        let took = started.elapsed();
        report.substep_timed(
            "write-chunk",
            StepStatus::Completed,
            message,
            Timing {
                elapsed_ms: took.as_millis() as u64,
            },
        );
        let per_object = took.as_secs_f64() / len.max(1) as f64;
        let fits = (CHUNK_TARGET.as_secs_f64() / per_object.max(1e-6)) as usize;
        self.next = fits.clamp(1, self.max).min(len.max(1) * 2);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Create,
    Update,
    /// An update that completes a create: its successes are not items of their own.
    Link,
}

impl Bulk {
    /// The status of a written object's item, or `None` when it is not reported.
    fn reported(self, dry_run: bool) -> Option<ItemStatus> {
        match (self, dry_run) {
            (Bulk::Link, _) => None,
            (Bulk::Create, false) => Some(ItemStatus::Created),
            (Bulk::Create, true) => Some(ItemStatus::WouldCreate),
            (Bulk::Update, false) => Some(ItemStatus::Updated),
            (Bulk::Update, true) => Some(ItemStatus::WouldUpdate),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Bulk::Create => "creating",
            Bulk::Update | Bulk::Link => "updating",
        }
    }
}

async fn bulk<M: Model, W: Serialize + Sync, K: Clone, T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    writes: &[Write<W, K>],
    kind: Bulk,
    chunks: &mut Chunks,
) -> Result<Vec<(K, Option<u64>)>, StageError> {
    let mut ids: Vec<(K, Option<u64>)> = writes.iter().map(|w| (w.key.clone(), None)).collect();
    if writer.dry_run {
        for (write, (_, id)) in writes.iter().zip(ids.iter_mut()) {
            *id = Some(write.id.unwrap_or_else(|| writer.planned_id()));
            if let Some(planned) = kind.reported(true) {
                report.labeled(&write.label, planned, write.id, None);
            }
        }
        return Ok(ids);
    }
    let mut first = 0;
    while first < writes.len() {
        writer.stop.check()?;
        let chunk = &writes[first..(first + chunks.next).min(writes.len())];
        let started = chunks.start(report, kind.verb(), first, chunk.len(), writes.len());
        let bodies: Vec<&W> = chunk.iter().map(|w| &w.body).collect();
        let outcome = if kind == Bulk::Create {
            writer.target.create::<M, W>(&bodies).await?
        } else {
            writer.target.update::<M, W>(&bodies).await?
        };
        chunks.finish(report, started, chunk.len());
        for (index, object) in outcome.done {
            ids[first + index].1 = Some(object.id());
            if let Some(status) = kind.reported(false) {
                report.labeled(&chunk[index].label, status, Some(object.id()), None);
            }
        }
        for failure in outcome.failed {
            let label = &chunk[failure.index].label;
            report.labeled(
                label,
                ItemStatus::Failed,
                chunk[failure.index].id,
                Some(label.refusal(failure.error.into())),
            );
        }
        first += chunk.len();
    }
    Ok(ids)
}

async fn delete<M: Model, W, K, T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    plan: &Plan<W, K>,
    chunks: &mut Chunks,
) -> Result<Vec<(u64, bool)>, StageError> {
    let targets = &plan.deletes;
    let mut gone: Vec<(u64, bool)> = targets.iter().map(|(_, id)| (*id, false)).collect();
    if writer.dry_run {
        for (label, id) in targets {
            report.labeled(label, ItemStatus::WouldDelete, Some(*id), None);
        }
        return Ok(gone);
    }
    let mut first = 0;
    while first < targets.len() {
        writer.stop.check()?;
        let chunk = &targets[first..(first + chunks.next).min(targets.len())];
        let started = chunks.start(report, "deleting", first, chunk.len(), targets.len());
        let ids: Vec<u64> = chunk.iter().map(|(_, id)| *id).collect();
        let outcome = writer.target.delete::<M>(&ids).await?;
        chunks.finish(report, started, chunk.len());
        for (index, id) in outcome.done {
            gone[first + index].1 = true;
            report.labeled(&chunk[index].0, ItemStatus::Deleted, Some(id), None);
        }
        for failure in outcome.failed {
            let (label, id) = &chunk[failure.index];
            report.labeled(
                label,
                ItemStatus::Failed,
                Some(*id),
                Some(failure.error.into()),
            );
        }
        first += chunk.len();
    }
    Ok(gone)
}

/// The id of the shared object with this slug (tag, role, type…), created when missing.
/// A dry run only looks it up, planning an id for a missing one.
pub async fn ensure<M: Slugged, W: Serialize>(
    ctx: &SyncContext<'_>,
    slug: &str,
    new: impl FnOnce() -> W,
) -> Result<u64, StageError> {
    if ctx.options.dry_run {
        let found = ctx.netbox.find_slug::<M>(slug).await?;
        return Ok(found.map_or_else(|| ctx.planned_id(), |m| m.id()));
    }
    Ok(ctx.netbox.ensure::<M, W>(slug, new).await?.id())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use proxbox_netbox::models::{VirtualDisk, VirtualDiskWrite};
    use serde_json::json;

    use super::*;
    use crate::events::SyncEvent;
    use crate::server::sync::memory::MemoryNetbox;
    use crate::server::sync::plan::PLANNED_ID_BASE;
    use crate::server::sync::sink::CollectSink;
    use crate::server::sync::stop::StopSignal;

    /// Writes a plan of virtual disks into the memory NetBox: the outcome, the counts and
    /// the events reported.
    async fn written<K: Clone>(
        netbox: &MemoryNetbox,
        plan: &Plan<VirtualDiskWrite, K>,
        stop: &StopSignal,
    ) -> (
        Result<Applied<K>, StageError>,
        crate::events::Counts,
        Vec<SyncEvent>,
    ) {
        let (sink, ids) = (CollectSink::default(), AtomicU64::new(PLANNED_ID_BASE));
        let writer = Writer {
            target: netbox,
            dry_run: false,
            stop,
            planned_ids: &ids,
        };
        let mut report = StageReport::new(&sink, "virtual-disks");
        let applied = write::<VirtualDisk, _, _, _>(&writer, &mut report, plan).await;
        (applied, report.counts, sink.events())
    }

    fn disk(size: u64) -> VirtualDiskWrite {
        VirtualDiskWrite {
            virtual_machine: Some(1),
            name: Some("scsi0".into()),
            size: Some(size),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_refused_update_fails_its_item_and_its_object_still_exists() {
        let netbox = MemoryNetbox::new(2);
        let seed = |size: u64| {
            netbox.seed::<VirtualDisk>(
                json!({"virtual_machine": {"id": 1}, "name": "scsi0", "size": size}),
            )
        };
        let (kept, refused, grown) = (seed(1), seed(2), seed(3));
        netbox.refuse_updates.lock().unwrap().insert(refused);
        let mut plan: Plan<VirtualDiskWrite, &str> = Plan::new("virtual disks");
        let label = |name: &str| Label::new(name, "disk", "virtual disk");
        plan.skip("kept", label("kept"), kept);
        for (key, id) in [("refused", refused), ("grown", grown)] {
            let patch = VirtualDiskWrite {
                id: Some(id),
                size: Some(9),
                ..Default::default()
            };
            plan.update(key, label(key), id, patch);
        }
        for n in 0..3 {
            plan.create("new", label("new"), disk(n));
        }
        let (applied, counts, events) = written(&netbox, &plan, &StopSignal::default()).await;
        let applied = applied.unwrap();
        let settled: Vec<&str> = applied.settled().map(|(k, _)| *k).collect();
        assert_eq!(settled, ["kept", "new", "new", "new", "grown"]);
        let existing: Vec<(&str, u64)> = applied.existing().map(|(k, id)| (*k, id)).collect();
        assert!(existing.contains(&("refused", refused)), "{existing:?}");
        assert_eq!(counts.failed, 1);
        assert_eq!(counts.total, 6);
        let chunks: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                SyncEvent::Substep(s) if s.status == StepStatus::Started => Some(s.message.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            chunks,
            [
                "creating virtual disks 1–1 of 3",
                "creating virtual disks 2–3 of 3",
                "updating virtual disks 1–2 of 2"
            ],
            "a first chunk to take NetBox's pace, then as many as fit, up to the chunk size"
        );
    }

    #[tokio::test]
    async fn a_stop_between_chunks_ends_the_write_with_its_reason() {
        let netbox = MemoryNetbox::new(1);
        let mut plan: Plan<VirtualDiskWrite> = Plan::new("virtual disks");
        plan.create((), Label::new("a", "disk", "virtual disk"), disk(1));
        let stop = StopSignal::default();
        stop.cancel();
        let error = written(&netbox, &plan, &stop).await.0.unwrap_err();
        assert_eq!(error.category, crate::events::ErrorCategory::Cancelled);
        assert!(netbox.all::<VirtualDisk>().is_empty(), "nothing written");
    }
}
