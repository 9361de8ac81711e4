//! Applying a stage's plan: bulk writes in chunks, the stop signal checked between chunks,
//! an `item_progress` per object. A dry run goes through the same code and only reports
//! what it would do, so that its plan is exactly what a real run does.

use proxbox_netbox::models::{Model, Slugged};
use serde::Serialize;

use super::context::{StageError, SyncContext};
use super::report::StageReport;
use crate::events::ItemStatus;

/// How an object appears in its `item_progress` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub name: String,
    /// The item `type` (`node`, `qemu`, `disk`…).
    pub kind: String,
    /// The object in words, for messages (`virtual machine`).
    pub what: &'static str,
    /// Fields that could not be read from Proxmox and were left out.
    pub warning: Option<String>,
}

impl Label {
    pub fn new(name: impl Into<String>, kind: impl Into<String>, what: &'static str) -> Label {
        Label {
            name: name.into(),
            kind: kind.into(),
            what,
            warning: None,
        }
    }

    pub fn warned(mut self, warning: Option<String>) -> Label {
        self.warning = warning;
        self
    }
}

/// One planned write: what to send, and for an update the id it goes to.
#[derive(Debug, Clone)]
pub struct Write<W> {
    pub label: Label,
    pub id: Option<u64>,
    pub body: W,
}

impl StageReport<'_> {
    pub fn labeled(
        &mut self,
        label: &Label,
        status: ItemStatus,
        id: Option<u64>,
        error: Option<StageError>,
    ) {
        self.item_warned(
            &label.name,
            &label.kind,
            label.what,
            status,
            id,
            error,
            label.warning.clone(),
        );
    }
}

/// Creates the objects; returns the NetBox id of each (a planned id in a dry run), `None`
/// where NetBox refused it (reported as `failed`, the rest go on).
pub async fn create<M: Model, W: Serialize>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    writes: &[Write<W>],
) -> Result<Vec<Option<u64>>, StageError> {
    bulk::<M, W>(ctx, report, writes, Bulk::Create).await
}

/// Updates the objects (each body carries its id); `None` where NetBox refused it.
pub async fn update<M: Model, W: Serialize>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    writes: &[Write<W>],
) -> Result<Vec<Option<u64>>, StageError> {
    bulk::<M, W>(ctx, report, writes, Bulk::Update).await
}

/// Updates objects this run created a moment ago, to link them to objects that needed
/// their id first (an interface's primary MAC). Part of the create the item already
/// reported: only failures are reported.
pub async fn link_created<M: Model, W: Serialize>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    writes: &[Write<W>],
) -> Result<(), StageError> {
    bulk::<M, W>(ctx, report, writes, Bulk::Link)
        .await
        .map(|_| ())
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
}

async fn bulk<M: Model, W: Serialize>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    writes: &[Write<W>],
    kind: Bulk,
) -> Result<Vec<Option<u64>>, StageError> {
    let dry_run = ctx.options.dry_run;
    let mut ids = vec![None; writes.len()];
    if dry_run {
        for (write, id) in writes.iter().zip(ids.iter_mut()) {
            *id = Some(write.id.unwrap_or_else(|| ctx.planned_id()));
            if let Some(planned) = kind.reported(true) {
                report.labeled(&write.label, planned, write.id, None);
            }
        }
        return Ok(ids);
    }
    let size = ctx.netbox.options().chunk_size.max(1);
    for (chunk_index, chunk) in writes.chunks(size).enumerate() {
        ctx.check_stop()?;
        let first = chunk_index * size;
        let bodies: Vec<&W> = chunk.iter().map(|w| &w.body).collect();
        let outcome = if kind == Bulk::Create {
            ctx.netbox.create::<M, _>(&bodies).await?
        } else {
            ctx.netbox.update::<M, _>(&bodies).await?
        };
        for (index, object) in outcome.done {
            ids[first + index] = Some(object.id());
            if let Some(status) = kind.reported(false) {
                report.labeled(&chunk[index].label, status, Some(object.id()), None);
            }
        }
        for failure in outcome.failed {
            report.labeled(
                &chunk[failure.index].label,
                ItemStatus::Failed,
                chunk[failure.index].id,
                Some(failure.error.into()),
            );
        }
    }
    Ok(ids)
}

/// Deletes the objects by id; returns whether each is gone.
pub async fn delete<M: Model>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    targets: &[(Label, u64)],
) -> Result<Vec<bool>, StageError> {
    let mut gone = vec![false; targets.len()];
    if ctx.options.dry_run {
        for (label, id) in targets {
            report.labeled(label, ItemStatus::WouldDelete, Some(*id), None);
        }
        return Ok(gone);
    }
    let size = ctx.netbox.options().chunk_size.max(1);
    for (chunk_index, chunk) in targets.chunks(size).enumerate() {
        ctx.check_stop()?;
        let first = chunk_index * size;
        let ids: Vec<u64> = chunk.iter().map(|(_, id)| *id).collect();
        let outcome = ctx.netbox.delete::<M>(&ids).await?;
        for (index, id) in outcome.done {
            gone[first + index] = true;
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
