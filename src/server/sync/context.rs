//! What a run works with: its Proxmox clusters, its NetBox, its rules, its event sink.

pub use crate::server::sync::stages::networks::seen::SeenPrefixes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxbox_netbox::{NbError, NetboxClient};
use proxbox_pve::PveClient;

use super::failure::StageError;
use super::mapping::MappingRules;
use super::mirror::Mirror;
use super::overwrite::OverwritePolicy;
use super::plan::PLANNED_ID_BASE;
use super::sink::EventSink;
pub use super::stop::{StopReason, StopSignal};
use super::target::Writer;
use crate::models::SyncTarget;
use crate::server::infra::db::Db;

/// One Proxmox endpoint of a run.
pub struct ClusterSource {
    pub endpoint_id: i64,
    pub endpoint_name: String,
    pub pve: PveClient,
}

/// What every NetBox write of a run says in NetBox's change log: who ran it and what
/// (`Proxbox job 42: full-update of lab`), so that the log tells which run changed an
/// object. NetBox keeps 200 characters of it.
pub fn changelog_message(origin: &str, title: &str, sources: &[ClusterSource]) -> String {
    let endpoints: Vec<&str> = sources.iter().map(|s| s.endpoint_name.as_str()).collect();
    format!("{origin}: {title} of {}", endpoints.join(", "))
}

pub struct SyncContext<'a> {
    pub db: &'a Db,
    /// The run's NetBox client: its writes keep [`SyncContext::mirror`] current.
    pub netbox: NetboxClient,
    pub mirror: Arc<Mirror>,
    pub sources: Vec<ClusterSource>,
    pub policy: OverwritePolicy,
    pub sink: &'a dyn EventSink,
    pub options: RunOptions,
    pub stop: StopSignal,
    /// Ids handed out for objects a dry run would create (see [`PLANNED_ID_BASE`]).
    pub(crate) planned_ids: AtomicU64,
}

impl<'a> SyncContext<'a> {
    pub fn new(
        db: &'a Db,
        netbox: &'a NetboxClient,
        sources: Vec<ClusterSource>,
        sink: &'a dyn EventSink,
    ) -> SyncContext<'a> {
        let mirror = Arc::new(Mirror::default());
        SyncContext {
            db,
            netbox: netbox.observed_by(mirror.clone()),
            mirror,
            sources,
            policy: OverwritePolicy::default(),
            sink,
            options: RunOptions::default(),
            stop: StopSignal::default(),
            planned_ids: AtomicU64::new(PLANNED_ID_BASE),
        }
    }

    /// Fails with a `cancelled` (or `timeout`) error once the run was asked to stop (see
    /// [`StopSignal::check`]).
    pub fn check_stop(&self) -> Result<(), StageError> {
        self.stop.check()
    }

    /// Writes plans into this run's NetBox (or only reports them, in a dry run).
    pub fn writer(&self) -> Writer<'_, NetboxClient> {
        Writer {
            target: &self.netbox,
            dry_run: self.options.dry_run,
            stop: &self.stop,
            planned_ids: &self.planned_ids,
        }
    }

    /// The objects of a model the mirror keeps whose `field` is one of `values`, from the
    /// copy where it covers them (see `sync::mirror`), else from NetBox.
    pub async fn read_in<M: super::mirror::Mirrored>(
        &self,
        field: &str,
        values: &[u64],
    ) -> Result<Vec<M>, NbError> {
        self.mirror.list_in(&self.netbox, field, values).await
    }

    /// An id for an object a dry run would create, so that later stages can plan against it.
    pub fn planned_id(&self) -> u64 {
        self.planned_ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// The default of [`RunOptions::task_read_cap`].
pub const TASK_READ_CAP: usize = 50_000;

/// How a run behaves, beyond what it syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// Compute and report the plan (`would_create`…) without writing anything.
    pub dry_run: bool,
    /// Delete NetBox objects whose guest is gone from Proxmox (default off).
    pub delete_orphans: bool,
    /// How long a guest must be gone before its objects are deleted.
    pub orphan_grace: Duration,
    /// How long the copy of NetBox (see `sync::mirror`) may go without being rebuilt from
    /// full reads; `None` reads NetBox in full every run.
    pub mirror_max_age: Option<Duration>,
    pub templates: Templates,
    /// How long Proxmox tasks are kept in Proxbox's database (and how far back they are read).
    pub task_retention: Duration,
    /// At most this many tasks are read per node and window in one sync (the rest follow
    /// in the next ones).
    pub task_read_cap: usize,
    /// The tenant, role and platform of matching guests, the site of matching clusters.
    pub mapping: MappingRules,
    /// One node or guest of the run's one endpoint; `None`: everything.
    pub target: Option<SyncTarget>,
    /// Proxbox's address for operators: NetBox's VMs get a custom link to their panel.
    pub public_url: Option<String>,
    /// Which networks of the addresses Proxbox writes get a prefix.
    pub seen_prefixes: SeenPrefixes,
}

/// What a sync does with Proxmox templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Templates {
    /// Synced as VMs, offline and tagged `proxmox-template`.
    #[default]
    Mark,
    /// Left out of NetBox; each is reported as skipped with the reason.
    Skip,
}

impl Templates {
    /// `mark` or `skip`, as flags, variables and the settings page write it (any case).
    pub fn parse(text: &str) -> Result<Templates, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "mark" => Ok(Templates::Mark),
            "skip" => Ok(Templates::Skip),
            _ => Err(format!("templates are mark or skip; {text:?} is neither")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Templates::Mark => "mark",
            Templates::Skip => "skip",
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            dry_run: false,
            delete_orphans: false,
            orphan_grace: Duration::from_secs(24 * 3600),
            mirror_max_age: Some(Duration::from_secs(24 * 3600)),
            templates: Templates::Mark,
            task_retention: Duration::from_secs(30 * 86_400),
            task_read_cap: TASK_READ_CAP,
            mapping: MappingRules::default(),
            target: None,
            public_url: None,
            seen_prefixes: SeenPrefixes::default(),
        }
    }
}
