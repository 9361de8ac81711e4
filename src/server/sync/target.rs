//! Where a plan is written: the [`Target`] (NetBox, or an in-memory NetBox in the engine's
//! property tests) and the [`Writer`] that writes into it for one run.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use proxbox_netbox::models::Model;
use proxbox_netbox::{BulkOutcome, NbError, NetboxClient};
use serde::Serialize;

use super::stop::StopSignal;

/// Where plans are written: NetBox, or an in-memory NetBox in the engine's property tests.
pub trait Target: Sync {
    /// Objects per bulk request.
    fn chunk_size(&self) -> usize;
    fn create<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send;
    fn update<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send;
    fn delete<M: Model>(
        &self,
        ids: &[u64],
    ) -> impl Future<Output = Result<BulkOutcome<u64>, NbError>> + Send;
}

impl Target for NetboxClient {
    fn chunk_size(&self) -> usize {
        self.options().chunk_size
    }

    fn create<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send {
        NetboxClient::create::<M, _>(self, bodies)
    }

    fn update<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send {
        NetboxClient::update::<M, _>(self, bodies)
    }

    fn delete<M: Model>(
        &self,
        ids: &[u64],
    ) -> impl Future<Output = Result<BulkOutcome<u64>, NbError>> + Send {
        NetboxClient::delete::<M>(self, ids)
    }
}

/// A plan's writer: where it writes, whether it only plans (`would_*`), when to stop, and
/// the ids a dry run hands out for what it would create.
pub struct Writer<'a, T: Target> {
    pub target: &'a T,
    pub dry_run: bool,
    pub stop: &'a StopSignal,
    pub planned_ids: &'a AtomicU64,
}

impl<T: Target> Writer<'_, T> {
    pub fn planned_id(&self) -> u64 {
        self.planned_ids.fetch_add(1, Ordering::Relaxed)
    }
}
