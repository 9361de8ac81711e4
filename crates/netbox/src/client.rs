//! HTTP side of the NetBox client: tokens, bounded concurrency, retries, complete
//! paginated reads, chunked bulk writes that isolate the objects NetBox refuses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proxbox_peer::body::{read_capped, BodyError, MAX_BODY_BYTES};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{ErrorKind, NbError};
use crate::models::Model;

/// The largest page NetBox serves by default (`MAX_PAGE_SIZE`).
pub const PAGE_SIZE: usize = 1000;
/// At most this many `id=` filters in one request (keeps URLs well under server limits).
pub const IDS_PER_REQUEST: usize = 100;
/// Longest query string a list request sends: NetBox behind gunicorn refuses request
/// lines over 4,094 bytes, and the path, `ordering`, `limit`, `id__gt` and `fields` share it.
pub const MAX_QUERY_BYTES: usize = 3_500;

#[derive(Clone)]
pub struct NetboxOptions {
    /// NetBox's base URL, e.g. `https://netbox.example.com` (`/api` is added).
    pub url: String,
    /// v1 (40 characters, sent as `Token …`) or v2 (`nbt_<key>.<secret>`, sent as `Bearer …`).
    pub token: String,
    pub verify_tls: bool,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Objects per bulk request.
    pub chunk_size: usize,
    /// Objects per page of a list (NetBox's `MAX_PAGE_SIZE` caps it; 1000 by default).
    pub page_size: usize,
    pub attempts: u32,
    pub backoff: Duration,
}

impl std::fmt::Debug for NetboxOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetboxOptions")
            .field("url", &self.url)
            .field("token", &"***")
            .finish_non_exhaustive()
    }
}

impl NetboxOptions {
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> NetboxOptions {
        NetboxOptions {
            url: url.into(),
            token: token.into(),
            verify_tls: true,
            ca_pem: None,
            timeout: Duration::from_secs(120),
            concurrency: 4,
            chunk_size: 100,
            page_size: PAGE_SIZE,
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Requests made so far, for benchmarks and for proving that a no-change sync writes nothing.
#[derive(Debug, Default)]
pub struct RequestCounts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    /// Reads per API path (`virtualization/virtual-machines/`), to show which were asked.
    reads_by_path: std::sync::Mutex<HashMap<String, u64>>,
}

impl RequestCounts {
    fn reads_by_path(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.reads_by_path
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The result of a bulk write: what NetBox stored, and the objects it refused.
#[derive(Debug)]
pub struct BulkOutcome<T> {
    /// Stored objects, each with the index of its input.
    pub done: Vec<(usize, T)>,
    pub failed: Vec<ItemFailure>,
}

impl<T> BulkOutcome<T> {
    fn empty() -> Self {
        BulkOutcome {
            done: Vec::new(),
            failed: Vec::new(),
        }
    }

    pub fn into_result(self) -> Result<Vec<T>, NbError> {
        match self.failed.into_iter().next() {
            Some(failure) => Err(failure.error),
            None => {
                let mut done = self.done;
                done.sort_by_key(|(i, _)| *i);
                Ok(done.into_iter().map(|(_, t)| t).collect())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ItemFailure {
    /// Index of the object in the input.
    pub index: usize,
    pub error: NbError,
}

/// Told about every write NetBox confirmed, with the request id NetBox logs it under
/// (`X-Request-ID`, the `request_id` of its change log), so that a copy of NetBox's objects
/// can follow its own writes without reading them back.
pub trait WriteObserver: Send + Sync {
    /// Objects NetBox stored (full representation), by a create when `created`.
    fn stored(&self, path: &str, created: bool, request_id: Option<&str>, objects: &[Value]);
    /// Objects that are gone (deleted now, or found already gone).
    fn deleted(&self, path: &str, request_id: Option<&str>, ids: &[u64]);
}

#[derive(Clone)]
pub struct NetboxClient {
    http: reqwest::Client,
    base: String,
    api: String,
    auth: HeaderValue,
    options: Arc<NetboxOptions>,
    permits: Arc<Semaphore>,
    counts: Arc<RequestCounts>,
    observer: Option<Arc<dyn WriteObserver>>,
    /// Said with every write (NetBox ≥ 4.4 keeps it as the change record's message).
    changelog_message: Option<Arc<str>>,
}

/// The longest change log message NetBox keeps.
pub const CHANGELOG_MESSAGE_MAX: usize = 200;

/// A successful answer and the id NetBox gave the request.
/// What a token may write of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteRights {
    pub add: bool,
    pub change: bool,
}

struct Reply {
    body: Value,
    request_id: Option<String>,
}

impl std::fmt::Debug for NetboxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetboxClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` header for a token: `Bearer nbt_…` (v2) or `Token …` (v1).
pub fn authorization(token: &str) -> String {
    let token = token.trim();
    if token.starts_with("nbt_") {
        format!("Bearer {token}")
    } else {
        format!("Token {token}")
    }
}

impl NetboxClient {
    pub fn new(options: NetboxOptions) -> Result<NetboxClient, NbError> {
        let base = options
            .url
            .trim()
            .trim_end_matches('/')
            .trim_end_matches("/api")
            .to_string();
        let auth = HeaderValue::from_str(&authorization(&options.token)).map_err(|_| {
            NbError::new(
                ErrorKind::Validation,
                "the NetBox token holds characters that cannot be sent",
                "Enter the token again.",
            )
        })?;
        let http = proxbox_peer::http_client(
            &format!("NetBox at {base}"),
            options.verify_tls,
            options.ca_pem.as_deref(),
            options.timeout,
            options.concurrency,
        )
        .map_err(|e| NbError::new(e.kind, e.message, e.suggestion))?;
        Ok(NetboxClient {
            http,
            api: format!("{base}/api"),
            base,
            auth,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            options: Arc::new(options),
            counts: Arc::new(RequestCounts::default()),
            observer: None,
            changelog_message: None,
        })
    }

    /// This client (sharing connections, limits and counts) reporting its writes to
    /// `observer`.
    pub fn observed_by(&self, observer: Arc<dyn WriteObserver>) -> NetboxClient {
        NetboxClient {
            observer: Some(observer),
            ..self.clone()
        }
    }

    /// This client (sharing connections, limits and counts) saying `message` with every
    /// write, cut to what NetBox keeps: NetBox's change log then tells which job, and why,
    /// changed an object. NetBox before 4.4 ignores it.
    pub fn with_changelog_message(&self, message: &str) -> NetboxClient {
        let cut = message
            .char_indices()
            .nth(CHANGELOG_MESSAGE_MAX)
            .map_or(message, |(end, _)| &message[..end]);
        NetboxClient {
            changelog_message: Some(cut.into()),
            ..self.clone()
        }
    }

    /// A write body's objects with the change log message, when there is one.
    fn with_message(&self, mut object: Value) -> Value {
        if let (Some(message), Some(fields)) = (&self.changelog_message, object.as_object_mut()) {
            fields.insert("changelog_message".into(), Value::from(&**message));
        }
        object
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn options(&self) -> &NetboxOptions {
        &self.options
    }

    /// Reads made so far of the model at `path` (below `/api/`, e.g.
    /// `virtualization/virtual-machines`) whose first filter is `filter` (`cluster_id`,
    /// `id`…; `None`: any), lists and single objects alike.
    pub fn reads_of(&self, path: &str, filter: Option<&str>) -> u64 {
        self.counts
            .reads_by_path()
            .iter()
            .filter(|(key, _)| {
                let (p, first) = key.split_once('?').unwrap_or((key.as_str(), ""));
                p.trim_end_matches('/')
                    .split('/')
                    .take(2)
                    .eq(path.split('/'))
                    && filter.is_none_or(|f| f == first)
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// (reads, writes) made by this client and its clones.
    pub fn request_counts(&self) -> (u64, u64) {
        (
            self.counts.reads.load(Ordering::Relaxed),
            self.counts.writes.load(Ordering::Relaxed),
        )
    }

    /// One request, retried while transient. `path` is below `/api/` and ends with `/`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, NbError> {
        Ok(self.request_reply(method, path, query, body).await?.body)
    }

    async fn request_reply(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Reply, NbError> {
        // A POST that reached NetBox may have created objects even if the answer was lost:
        // repeat it only when it provably changed nothing (connection refused, 503, a
        // deadlock NetBox's database rolled back).
        let retryable = |e: &NbError| match method {
            Method::POST => e.never_arrived,
            _ => e.never_arrived || e.is_transient(),
        };
        let o = &self.options;
        proxbox_peer::with_retries(o.attempts, o.backoff, retryable, || {
            self.request_once(method.clone(), path, query, body)
        })
        .await
    }

    async fn request_once(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Reply, NbError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        // Timed once it may go: NetBox's latency, not the wait for a permit.
        proxbox_peer::observe::timed(
            proxbox_peer::observe::Peer::Netbox,
            |e: &NbError| e.kind,
            self.exchange(method, path, query, body),
        )
        .await
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Reply, NbError> {
        if method == Method::GET || method == Method::OPTIONS {
            self.counts.reads.fetch_add(1, Ordering::Relaxed);
            let first_filter = query.first().map_or("", |(k, _)| k.as_str());
            *self
                .counts
                .reads_by_path()
                .entry(format!("{path}?{first_filter}"))
                .or_default() += 1;
        } else {
            self.counts.writes.fetch_add(1, Ordering::Relaxed);
        }
        let url = format!("{}/{}", self.api, path.trim_start_matches('/'));
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.options.timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let timeout = self.options.timeout.as_secs();
        let response = request
            .send()
            .await
            .map_err(|e| NbError::from_transport(&e, &self.base, method.as_str(), path, timeout))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(response, MAX_BODY_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => {
                    NbError::from_transport(&e, &self.base, method.as_str(), path, timeout)
                }
                too_large => NbError::malformed(&self.base, path, too_large.describe()),
            })?;
        let text = String::from_utf8_lossy(&bytes);
        if !status.is_success() {
            return Err(NbError::from_status(
                status.as_u16(),
                method.as_str(),
                &self.base,
                path,
                &text,
            ));
        }
        let body = if text.trim().is_empty() {
            Value::Null // 204 of a delete
        } else {
            serde_json::from_str(&text).map_err(|e| NbError::malformed(&self.base, path, e))?
        };
        Ok(Reply { body, request_id })
    }

    /// What the token may write of a model (`path`: `virtualization/virtual-machines`):
    /// NetBox's `OPTIONS` on the list lists `POST` only to a token that may add, `PUT` only
    /// to one that may change (model-level grants; a read-only token gets neither).
    /// Whether it may delete no request tells without deleting.
    pub async fn write_rights(&self, path: &str) -> Result<WriteRights, NbError> {
        let answer = self
            .request(
                Method::OPTIONS,
                &format!("{}/", path.trim_matches('/')),
                &[],
                None,
            )
            .await?;
        let actions = answer.get("actions");
        Ok(WriteRights {
            add: actions.and_then(|a| a.get("POST")).is_some(),
            change: actions.and_then(|a| a.get("PUT")).is_some(),
        })
    }

    /// Whether the token may read a model's list: `Some(false)` when NetBox refuses,
    /// `None` when this NetBox has no such list (a model of a later version).
    pub async fn may_read(&self, path: &str) -> Result<Option<bool>, NbError> {
        let query = [
            ("limit".to_string(), "1".to_string()),
            ("brief".to_string(), "1".to_string()),
        ];
        match self
            .request(
                Method::GET,
                &format!("{}/", path.trim_matches('/')),
                &query,
                None,
            )
            .await
        {
            Ok(_) => Ok(Some(true)),
            Err(e) if e.kind == ErrorKind::Permission => Ok(Some(false)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/status/`: NetBox's version, proving URL and token in one request.
    pub async fn status(&self) -> Result<String, NbError> {
        let status = self.request(Method::GET, "status/", &[], None).await?;
        status
            .get("netbox-version")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                NbError::malformed(&self.base, "status/", "no netbox-version: is this NetBox?")
            })
    }

    pub async fn get<M: Model>(&self, id: u64) -> Result<M, NbError> {
        let path = format!("{}/{id}/", M::PATH);
        let value = self.request(Method::GET, &path, &[], None).await?;
        serde_json::from_value(value).map_err(|e| NbError::malformed(&self.base, &path, e))
    }

    /// The object with this slug, created from `new` when there is none.
    pub async fn ensure<M: crate::models::Slugged, W: Serialize>(
        &self,
        slug: &str,
        new: impl FnOnce() -> W,
    ) -> Result<M, NbError> {
        if let Some(found) = self.find_slug::<M>(slug).await? {
            return Ok(found);
        }
        let refused = match self.create::<M, W>(&[new()]).await {
            Ok(outcome) => match outcome.into_result() {
                Ok(mut created) => return Ok(created.remove(0)),
                Err(refused) => refused,
            },
            Err(failed) => failed,
        };
        // Another client (a sync of another cluster, another Proxbox) created it between
        // our look and our create: NetBox refuses the duplicate slug — as a validation
        // error, or, when both inserts race inside the database, as a 500 IntegrityError.
        match refused.kind {
            ErrorKind::Validation | ErrorKind::Internal => {
                self.find_slug::<M>(slug).await?.ok_or(refused)
            }
            _ => Err(refused),
        }
    }

    /// The object of `M` with this slug, if NetBox has one.
    pub async fn find_slug<M: crate::models::Slugged>(
        &self,
        slug: &str,
    ) -> Result<Option<M>, NbError> {
        Ok(self
            .list::<M>(&[("slug", slug.to_string())])
            .await?
            .into_iter()
            .find(|m| m.slug() == slug))
    }

    /// Creates objects in chunks; refused objects are reported, the rest are written.
    pub async fn create<M: Model, W: Serialize>(
        &self,
        items: &[W],
    ) -> Result<BulkOutcome<M>, NbError> {
        self.bulk(Method::POST, items).await
    }

    /// Updates objects (each item carries its `id`) in chunks, with PATCH semantics.
    pub async fn update<M: Model, W: Serialize>(
        &self,
        items: &[W],
    ) -> Result<BulkOutcome<M>, NbError> {
        self.bulk(Method::PATCH, items).await
    }

    /// Deletes objects by id, in chunks.
    pub async fn delete<M: Model>(&self, ids: &[u64]) -> Result<BulkOutcome<u64>, NbError> {
        let mut outcome = BulkOutcome::empty();
        let path = format!("{}/", M::PATH);
        for (chunk_index, chunk) in ids.chunks(self.options.chunk_size.max(1)).enumerate() {
            let body = Value::Array(
                chunk
                    .iter()
                    .map(|id| self.with_message(serde_json::json!({ "id": id })))
                    .collect(),
            );
            let first = chunk_index * self.options.chunk_size.max(1);
            match self
                .request_reply(Method::DELETE, &path, &[], Some(&body))
                .await
            {
                Ok(reply) => {
                    self.observe_deleted(M::PATH, reply.request_id.as_deref(), chunk);
                    outcome
                        .done
                        .extend(chunk.iter().enumerate().map(|(i, id)| (first + i, *id)))
                }
                // An id already gone, or a protected object (409), fails the whole chunk:
                // delete one by one to find it; a gone one counts as deleted.
                Err(e) if matches!(e.status, Some(400 | 404 | 409)) => {
                    for (i, id) in chunk.iter().enumerate() {
                        let body = self
                            .changelog_message
                            .as_ref()
                            .map(|_| self.with_message(serde_json::json!({})));
                        match self
                            .request_reply(
                                Method::DELETE,
                                &format!("{}/{id}/", M::PATH),
                                &[],
                                body.as_ref(),
                            )
                            .await
                        {
                            Ok(reply) => {
                                self.observe_deleted(M::PATH, reply.request_id.as_deref(), &[*id]);
                                outcome.done.push((first + i, *id))
                            }
                            Err(error) if error.kind == ErrorKind::NotFound => {
                                self.observe_deleted(M::PATH, None, &[*id]);
                                outcome.done.push((first + i, *id))
                            }
                            Err(error) => outcome.failed.push(ItemFailure {
                                index: first + i,
                                error,
                            }),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    fn observe_stored(
        &self,
        path: &str,
        created: bool,
        request_id: Option<&str>,
        objects: &[Value],
    ) {
        if let Some(observer) = &self.observer {
            observer.stored(path, created, request_id, objects);
        }
    }

    fn observe_deleted(&self, path: &str, request_id: Option<&str>, ids: &[u64]) {
        if let Some(observer) = &self.observer {
            observer.deleted(path, request_id, ids);
        }
    }

    async fn bulk<M: Model, W: Serialize>(
        &self,
        method: Method,
        items: &[W],
    ) -> Result<BulkOutcome<M>, NbError> {
        let values: Vec<Value> = items
            .iter()
            .map(|item| {
                serde_json::to_value(item)
                    .map(|v| self.with_message(v))
                    .map_err(|e| {
                        NbError::new(
                            ErrorKind::Internal,
                            format!("cannot encode an object: {e}"),
                            "Report this as a bug.",
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let mut outcome = BulkOutcome::empty();
        let size = self.options.chunk_size.max(1);
        for (chunk_index, chunk) in values.chunks(size).enumerate() {
            let indexed: Vec<(usize, &Value)> = chunk
                .iter()
                .enumerate()
                .map(|(i, v)| (chunk_index * size + i, v))
                .collect();
            self.write_isolating::<M>(&method, indexed, &mut outcome)
                .await?;
        }
        Ok(outcome)
    }

    /// Writes a chunk. When NetBox refuses it with 400, nothing of it was stored (NetBox
    /// writes a bulk request in one transaction): the refused objects are set aside —
    /// named by NetBox's per-object errors, or found by halving — and the rest is written.
    async fn write_isolating<M: Model>(
        &self,
        method: &Method,
        chunk: Vec<(usize, &Value)>,
        outcome: &mut BulkOutcome<M>,
    ) -> Result<(), NbError> {
        let mut pending = vec![chunk];
        while let Some(chunk) = pending.pop() {
            if chunk.is_empty() {
                continue;
            }
            let path = format!("{}/", M::PATH);
            let body = Value::Array(chunk.iter().map(|(_, v)| (*v).clone()).collect());
            match self
                .request_reply(method.clone(), &path, &[], Some(&body))
                .await
            {
                Ok(Reply {
                    body: Value::Array(stored),
                    request_id,
                }) if stored.len() == chunk.len() => {
                    self.observe_stored(
                        M::PATH,
                        *method == Method::POST,
                        request_id.as_deref(),
                        &stored,
                    );
                    let mut objects = Vec::with_capacity(stored.len());
                    for value in stored {
                        let object: M = serde_json::from_value(value)
                            .map_err(|e| NbError::malformed(&self.base, &path, e))?;
                        objects.push(object);
                    }
                    // A bulk update answers in the model's ordering (VMs by name), not in
                    // the order sent: pair each object with its input by id. A bulk create
                    // answers in the order sent.
                    if *method == Method::PATCH {
                        let mut by_id: HashMap<u64, M> =
                            objects.into_iter().map(|o| (o.id(), o)).collect();
                        for (index, value) in &chunk {
                            let id = value.get("id").and_then(Value::as_u64);
                            match id.and_then(|id| by_id.remove(&id)) {
                                Some(object) => outcome.done.push((*index, object)),
                                None => {
                                    return Err(NbError::malformed(
                                        &self.base,
                                        &path,
                                        format!("no object with id {id:?} in the answer"),
                                    ))
                                }
                            }
                        }
                    } else {
                        for ((index, _), object) in chunk.iter().zip(objects) {
                            outcome.done.push((*index, object));
                        }
                    }
                }
                Ok(other) => {
                    return Err(NbError::malformed(
                        &self.base,
                        &path,
                        format!("expected {} objects back, got {}", chunk.len(), other.body),
                    ))
                }
                // Only a 400 means "nothing of this chunk was stored"; a 2xx with an unreadable
                // body did store it, and must not be sent again.
                Err(error) if error.status == Some(400) => {
                    let offenders = error.fields.as_ref().and_then(|f| {
                        per_object_errors(f, &chunk.iter().map(|(_, v)| *v).collect::<Vec<_>>())
                    });
                    match offenders {
                        Some(offenders) if !offenders.is_empty() => {
                            let mut rest = Vec::new();
                            for (position, item) in chunk.into_iter().enumerate() {
                                match offenders.iter().find(|(i, _)| *i == position) {
                                    Some((_, fields)) => {
                                        let mut e = error.clone();
                                        e.message = format!(
                                            "NetBox refused the {} data: {fields}",
                                            crate::error::model_label(M::PATH)
                                        );
                                        e.fields = Some(fields.clone());
                                        outcome.failed.push(ItemFailure {
                                            index: item.0,
                                            error: e,
                                        });
                                    }
                                    None => rest.push(item),
                                }
                            }
                            pending.push(rest);
                        }
                        _ if chunk.len() == 1 => outcome.failed.push(ItemFailure {
                            index: chunk[0].0,
                            error,
                        }),
                        _ => {
                            let mut chunk = chunk;
                            let second = chunk.split_off(chunk.len() / 2);
                            pending.push(second);
                            pending.push(chunk);
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// The refused objects of a 400 answer to a bulk write, by position in the chunk, with
/// their field errors. NetBox 4.7 answers `{"detail": …, "errors": [{"index": 2, "errors":
/// {…}}]}` to a create and names objects by `"id"` instead of `"index"` for an update;
/// older versions a list aligned with the input (`[{}, {"name": […]}, {}]`); a one-object
/// write may answer the field errors alone.
fn per_object_errors(body: &Value, chunk: &[&Value]) -> Option<Vec<(usize, Value)>> {
    let chunk_len = chunk.len();
    let non_empty = |v: &Value| v.as_object().is_some_and(|o| !o.is_empty());
    if let Some(listed) = body.get("errors").and_then(Value::as_array) {
        let position = |e: &Value| match (e.get("index").and_then(Value::as_u64), e.get("id")) {
            (Some(index), _) => Some(index as usize),
            (None, Some(id)) => chunk.iter().position(|item| item.get("id") == Some(id)),
            (None, None) => None,
        };
        let found: Vec<(usize, Value)> = listed
            .iter()
            .filter_map(|e| Some((position(e)?, e.get("errors")?.clone())))
            .filter(|(i, _)| *i < chunk_len)
            .collect();
        return (!found.is_empty()).then_some(found);
    }
    if let Some(aligned) = body.as_array().filter(|a| a.len() == chunk_len) {
        let found: Vec<(usize, Value)> = aligned
            .iter()
            .enumerate()
            .filter(|(_, e)| non_empty(e))
            .map(|(i, e)| (i, e.clone()))
            .collect();
        return (!found.is_empty()).then_some(found);
    }
    (chunk_len == 1 && non_empty(body) && body.get("detail").is_none())
        .then(|| vec![(0, body.clone())])
}

#[cfg(test)]
mod tests {
    use super::per_object_errors;
    use serde_json::json;

    #[test]
    fn refused_objects_are_found_in_every_answer_shape() {
        let v47 = json!({"detail": "2 of 5 objects could not be created.",
                          "errors": [{"index": 1, "errors": {"status": ["bad"]}}, {"index": 4, "errors": {"name": ["taken"]}}]});
        let five: Vec<serde_json::Value> = (0..5).map(|i| json!({"name": i})).collect();
        let refs: Vec<&serde_json::Value> = five.iter().collect();
        let found = per_object_errors(&v47, &refs).unwrap();
        assert_eq!(found.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(found[1].1, json!({"name": ["taken"]}));
        let aligned = json!([{}, {"slug": ["taken"]}, {}]);
        assert_eq!(
            per_object_errors(&aligned, &refs[..3]).unwrap(),
            vec![(1, json!({"slug": ["taken"]}))]
        );
        assert_eq!(
            per_object_errors(&json!({"name": ["required"]}), &refs[..1]).unwrap(),
            vec![(0, json!({"name": ["required"]}))]
        );
        assert_eq!(
            per_object_errors(&json!({"detail": "bad request"}), &refs[..3]),
            None
        );
        // Updates are named by id (NetBox 4.7).
        let patches = [json!({"id": 31, "size": 1}), json!({"id": 32, "size": -1})];
        let patch_refs: Vec<&serde_json::Value> = patches.iter().collect();
        let by_id = json!({"detail": "1 of 2 objects could not be updated.", "errors": [{"id": 32, "errors": {"size": ["bad"]}}]});
        assert_eq!(
            per_object_errors(&by_id, &patch_refs).unwrap(),
            vec![(1, json!({"size": ["bad"]}))]
        );
    }
}
