//! `/metrics`, in the Prometheus text format (the Prometheus project's `prometheus-client`):
//! what runs record as they go (job and stage durations, objects by kind and outcome, peer
//! requests and their errors, open streams), and what a scrape reads from the database
//! (jobs by status, each endpoint's last successful sync, pool use).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use proxbox_peer::observe::{Peer, RequestObserver};
use proxbox_peer::ErrorKind;

use crate::events::{StepStatus, SyncEvent};
use crate::models::JobStatus;
use crate::server::infra::db::{Db, DbError};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerErrorLabels {
    peer: String,
    category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    pool: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn durations() -> Histogram {
    // 0.5 s to about 4.5 h.
    Histogram::new(exponential_buckets(0.5, 3.0, 10))
}

fn latencies() -> Histogram {
    // 5 ms to about 20 s.
    Histogram::new(exponential_buckets(0.005, 2.5, 10))
}

/// The metrics this process records. Cheap to clone (the families are shared).
#[derive(Clone)]
pub struct Metrics {
    job_durations: Histograms<StatusLabel>,
    stage_durations: Histograms<StageLabel>,
    objects: Family<ObjectLabels, Counter>,
    peer_latency: Histograms<PeerLabel>,
    peer_errors: Family<PeerErrorLabels, Counter>,
    sse_clients: Gauge,
    ws_clients: Gauge,
    /// Per endpoint: the watcher's looks that failed in a row (0: it sees the cluster).
    watch_failures: Family<EndpointLabel, Gauge>,
    /// Per endpoint: changes the watcher saw in Proxmox.
    watched_changes: Family<EndpointLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            job_durations: Family::new_with_constructor(durations),
            stage_durations: Family::new_with_constructor(durations),
            objects: Family::default(),
            peer_latency: Family::new_with_constructor(latencies),
            peer_errors: Family::default(),
            sse_clients: Gauge::default(),
            ws_clients: Gauge::default(),
            watch_failures: Family::default(),
            watched_changes: Family::default(),
        }
    }
}

impl Metrics {
    /// The watcher looked at `endpoint`: `failures` in a row so far (0: this look worked),
    /// and the changes it saw.
    pub fn watch_looked(&self, endpoint: &str, failures: u32, changes: usize) {
        let label = EndpointLabel {
            endpoint: endpoint.into(),
        };
        self.watch_failures
            .get_or_create(&label)
            .set(i64::from(failures));
        self.watched_changes
            .get_or_create(&label)
            .inc_by(changes as u64);
    }

    pub fn job_ended(&self, status: JobStatus, took: Duration) {
        self.job_durations
            .get_or_create(&StatusLabel {
                status: status.as_str().into(),
            })
            .observe(took.as_secs_f64());
    }

    /// An event of a running job: objects are counted, stages timed ([`StageClock`]).
    pub fn observe_event(&self, event: &SyncEvent, clock: &StageClock) {
        match event {
            SyncEvent::ItemProgress(item) => {
                self.objects
                    .get_or_create(&ObjectLabels {
                        kind: item.item.kind.clone(),
                        outcome: item.status.as_str().into(),
                    })
                    .inc();
            }
            SyncEvent::Step(step) => {
                let mut started = clock.0.lock().unwrap_or_else(|p| p.into_inner());
                match step.status {
                    StepStatus::Started => {
                        started.insert(step.step.clone(), Instant::now());
                    }
                    StepStatus::Completed | StepStatus::Failed => {
                        if let Some(at) = started.remove(&step.step) {
                            self.stage_durations
                                .get_or_create(&StageLabel {
                                    stage: step.step.clone(),
                                })
                                .observe(at.elapsed().as_secs_f64());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Counts an open event stream or socket until the guard is dropped.
    pub fn stream_opened(&self, socket: bool) -> OpenClient {
        let gauge = if socket {
            self.ws_clients.clone()
        } else {
            self.sse_clients.clone()
        };
        gauge.inc();
        OpenClient(gauge)
    }

    /// The page: what was recorded, and what the database says now.
    pub async fn render(&self, db: &Db) -> Result<String, DbError> {
        let mut registry = Registry::with_prefix("proxbox");
        registry.register(
            "job_duration_seconds",
            "How long finished jobs ran, by how they ended",
            self.job_durations.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "How long sync stages ran",
            self.stage_durations.clone(),
        );
        registry.register(
            "objects",
            "Objects synced, by kind and outcome (created, updated, deleted, skipped, failed, would_*)",
            self.objects.clone(),
        );
        registry.register(
            "peer_request_duration_seconds",
            "Latency of requests to Proxmox and NetBox (each attempt of a retried one)",
            self.peer_latency.clone(),
        );
        registry.register(
            "peer_request_errors",
            "Failed requests to Proxmox and NetBox, by error category",
            self.peer_errors.clone(),
        );
        registry.register(
            "sse_clients",
            "Open job event streams",
            self.sse_clients.clone(),
        );
        registry.register(
            "websocket_clients",
            "Open WebSockets",
            self.ws_clients.clone(),
        );
        registry.register(
            "watch_failures",
            "The watcher's looks at each Proxmox endpoint that failed in a row (0: it sees the cluster)",
            self.watch_failures.clone(),
        );
        registry.register(
            "watched_changes",
            "Changes the watcher saw in each Proxmox endpoint's cluster",
            self.watched_changes.clone(),
        );

        let jobs: Family<StatusLabel, Gauge> = Family::default();
        // Every status, also those no job has now: a series that vanishes breaks alerts.
        for status in JobStatus::ALL {
            jobs.get_or_create(&StatusLabel {
                status: status.as_str().into(),
            })
            .set(0);
        }
        for (status, count) in db.job_counts().await? {
            jobs.get_or_create(&StatusLabel { status }).set(count);
        }
        registry.register("jobs", "Jobs in the database, by status", jobs);

        let last_sync: Family<EndpointLabel, Gauge> = Family::default();
        for (endpoint, at_ms) in db.last_completed_sync_by_endpoint().await? {
            last_sync
                .get_or_create(&EndpointLabel { endpoint })
                .set(at_ms / 1000);
        }
        registry.register(
            "last_successful_sync_timestamp_seconds",
            "When each Proxmox endpoint's last completed sync ended (Unix time), for alerting",
            last_sync,
        );

        let connections: Family<PoolLabel, Gauge> = Family::default();
        let idle: Family<PoolLabel, Gauge> = Family::default();
        for (name, pool) in [("writers", db.pool()), ("readers", db.readers())] {
            let label = PoolLabel { pool: name.into() };
            connections
                .get_or_create(&label)
                .set(i64::from(pool.size()));
            idle.get_or_create(&label).set(pool.num_idle() as i64);
            if db.backend() == crate::server::infra::db::Backend::Postgres {
                break; // one pool on PostgreSQL
            }
        }
        registry.register(
            "db_pool_connections",
            "Open database connections per pool",
            connections,
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections per pool",
            idle,
        );

        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String does not fail");
        Ok(text)
    }
}

impl RequestObserver for Metrics {
    fn finished(&self, peer: Peer, elapsed: Duration, error: Option<ErrorKind>) {
        self.peer_latency
            .get_or_create(&PeerLabel {
                peer: peer.as_str().into(),
            })
            .observe(elapsed.as_secs_f64());
        if let Some(kind) = error {
            self.peer_errors
                .get_or_create(&PeerErrorLabels {
                    peer: peer.as_str().into(),
                    category: kind.as_str().into(),
                })
                .inc();
        }
    }
}

/// When each stage of one job started (a job's stages are timed by its sink).
#[derive(Default)]
pub struct StageClock(Mutex<HashMap<String, Instant>>);

/// An open stream or socket, counted while it lives.
pub struct OpenClient(Gauge);

impl Drop for OpenClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The process's metrics, shared by the jobs, the streams and the peer clients.
pub fn process_metrics() -> Arc<Metrics> {
    static METRICS: std::sync::OnceLock<Arc<Metrics>> = std::sync::OnceLock::new();
    METRICS
        .get_or_init(|| {
            let metrics = Arc::new(Metrics::default());
            proxbox_peer::observe::observe_requests(Box::new(metrics.as_ref().clone()));
            metrics
        })
        .clone()
}
