//! `pve-sim`: a Proxmox VE API simulator to sync from in tests, benchmarks and demos.
//!
//! It serves the paths Proxbox reads with the payload shapes of the official API
//! documentation, over plain HTTP and over HTTPS (a certificate from its own CA), checks
//! API tokens and tickets for real, and lets tests change the cluster and inject faults
//! through `/_sim/…`.

// Handlers return early with a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod control;
pub mod faults;
pub mod model;
pub mod permissions;
pub mod recorded;
mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::routing::post;
use axum::{middleware, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, RwLock};
use tokio::task::{JoinHandle, JoinSet};

pub use auth::SimCredentials;
pub use faults::{Fault, FaultKind};
pub use model::{Cluster, ClusterSpec, Kind, Shape};
pub use permissions::{all_privileges, Privileges};

/// Shared state of one simulated cluster.
pub struct SimState {
    pub cluster: RwLock<Cluster>,
    pub credentials: SimCredentials,
    pub tickets: Mutex<HashMap<String, auth::IssuedTicket>>,
    pub faults: Mutex<Vec<Fault>>,
    pub ca_pem: String,
    /// Every API request served, as `GET /nodes/pve1/tasks?since=…` (for tests that count
    /// what a sync asked).
    pub requests: std::sync::Mutex<Vec<String>>,
    /// The faults that hit a request, in order (a fault armed but never hit is not here).
    pub fault_hits: std::sync::Mutex<Vec<FaultKind>>,
    /// What the API token may do (every privilege unless a test takes some away).
    pub privileges: std::sync::RwLock<Privileges>,
    /// Makes tickets of different runs differ.
    nonce: u64,
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub spec: ClusterSpec,
    pub credentials: SimCredentials,
    /// Plain HTTP listener (port 0 picks a free one).
    pub http: Option<SocketAddr>,
    /// HTTPS listener.
    pub https: Option<SocketAddr>,
}

impl SimOptions {
    /// A cluster on loopback with free ports for HTTP and HTTPS and the default credentials.
    pub fn local(spec: ClusterSpec) -> SimOptions {
        SimOptions {
            spec,
            credentials: default_credentials(),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            https: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }
}

pub fn default_credentials() -> SimCredentials {
    SimCredentials {
        token_id: "root@pam!proxbox".into(),
        token_secret: "5e1f0c2a-9d3b-4c7e-8a61-2f4b6d8e0a13".into(),
        username: "root@pam".into(),
        password: "proxmox-sim".into(),
    }
}

/// A running simulator. Dropping it leaves it running; [`RunningSim::stop`] stops it and
/// breaks every open connection (as a powered-off node would).
pub struct RunningSim {
    pub http_url: Option<String>,
    pub https_url: Option<String>,
    pub state: Arc<SimState>,
    servers: Vec<JoinHandle<()>>,
}

impl RunningSim {
    pub fn ca_pem(&self) -> &str {
        &self.state.ca_pem
    }

    pub fn credentials(&self) -> &SimCredentials {
        &self.state.credentials
    }

    pub async fn add_fault(&self, fault: Fault) {
        self.state.faults.lock().await.push(fault);
    }

    /// The faults that hit a request since the last call.
    pub fn take_fault_hits(&self) -> Vec<FaultKind> {
        let mut hits = self
            .state
            .fault_hits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *hits)
    }

    /// The API requests served since the last [`take_requests`](Self::take_requests)
    /// (paths as Proxmox sees them, `/nodes/…`, with their query).
    pub fn take_requests(&self) -> Vec<String> {
        let mut requests = self
            .state
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::take(&mut *requests)
            .into_iter()
            .map(|line| line.replacen("/api2/json", "", 1))
            .collect()
    }

    pub async fn clear_faults(&self) {
        self.state.faults.lock().await.clear();
    }

    pub async fn stop(self) {
        for server in &self.servers {
            server.abort();
        }
        for server in self.servers {
            let _ = server.await;
        }
    }
}

impl SimState {
    /// The Proxmox VE major version the cluster runs (`8` of `8.3.2`).
    pub async fn major_version(&self) -> u32 {
        let cluster = self.cluster.read().await;
        cluster
            .version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(8)
    }

    /// The token's privileges now, and the version they are read for.
    pub async fn access(&self) -> (Privileges, u32) {
        let privileges = self
            .privileges
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        (privileges, self.major_version().await)
    }

    /// Gives the token only these privileges (path → privileges, each on its path and below).
    pub fn restrict(&self, acl: BTreeMap<String, BTreeSet<String>>) {
        *self
            .privileges
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Privileges::granted(acl);
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    let api = api::routes()
        .route("/access/ticket", post(auth::ticket))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            permissions::check,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), auth::check))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request,
        ));
    Router::new()
        .nest("/api2/json", api)
        .merge(control::routes())
        .with_state(state)
}

async fn record_request(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let uri = request.uri();
    let line = format!(
        "{} {}",
        request.method(),
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    state
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(line);
    next.run(request).await
}

pub async fn start(options: SimOptions) -> std::io::Result<RunningSim> {
    let cluster = Cluster::generate(&options.spec);
    let tls = tls::generate(&options.spec.name);
    let state = Arc::new(SimState {
        cluster: RwLock::new(cluster),
        credentials: options.credentials,
        tickets: Mutex::new(HashMap::new()),
        faults: Mutex::new(Vec::new()),
        ca_pem: tls.ca_pem.clone(),
        requests: std::sync::Mutex::new(Vec::new()),
        fault_hits: std::sync::Mutex::new(Vec::new()),
        privileges: std::sync::RwLock::new(Privileges::default()),
        nonce: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    });
    let app = router(state.clone());
    let mut servers = Vec::new();
    let mut http_url = None;
    let mut https_url = None;
    if let Some(addr) = options.http {
        let listener = TcpListener::bind(addr).await?;
        http_url = Some(format!("http://{}", listener.local_addr()?));
        servers.push(tokio::spawn(serve(listener, app.clone(), None)));
    }
    if let Some(addr) = options.https {
        let listener = TcpListener::bind(addr).await?;
        https_url = Some(format!("https://{}", listener.local_addr()?));
        servers.push(tokio::spawn(serve(
            listener,
            app,
            Some(tokio_rustls::TlsAcceptor::from(tls.config)),
        )));
    }
    Ok(RunningSim {
        http_url,
        https_url,
        state,
        servers,
    })
}

/// Accepts connections until aborted; the connections live in a JoinSet so that aborting
/// the server also breaks them.
async fn serve(listener: TcpListener, app: Router, tls: Option<tokio_rustls::TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let tls = tls.clone();
        connections.spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                    Err(_) => return, // the client refused our certificate: nothing to serve
                },
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
}
