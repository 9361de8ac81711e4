//! HTTP side of the NetBox client: tokens, bounded concurrency, retries, complete
//! paginated reads, chunked bulk writes that isolate the objects NetBox refuses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{ErrorKind, NbError};
use crate::models::Model;

/// `?fields=` for a model: the fields it reads.
fn fields_param<M: Model>() -> Option<String> {
    crate::fields::fields_of::<M>().map(|f| f.join(","))
}

/// `values` cut into groups of at most [`IDS_PER_REQUEST`] whose `field=value` filters,
/// URL-encoded, fit the query budget beside the model's `fields` (MAC and IP addresses
/// encode to far more bytes than ids).
fn filter_groups<'a, M: Model>(field: &str, values: &'a [String]) -> Vec<&'a [String]> {
    let encoded = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .map(str::len)
            .sum::<usize>()
    };
    let reserved = fields_param::<M>().map_or(0, |f| encoded(&f) + 8) + 80;
    let budget = MAX_QUERY_BYTES.saturating_sub(reserved).max(1);
    let mut groups = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, value) in values.iter().enumerate() {
        let cost = encoded(field) + encoded(value) + 2;
        if i > start && (i - start == IDS_PER_REQUEST || used + cost > budget) {
            groups.push(&values[start..i]);
            (start, used) = (i, 0);
        }
        used += cost;
    }
    if start < values.len() {
        groups.push(&values[start..]);
    }
    groups
}

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

#[derive(Clone)]
pub struct NetboxClient {
    http: reqwest::Client,
    base: String,
    api: String,
    auth: HeaderValue,
    options: Arc<NetboxOptions>,
    permits: Arc<Semaphore>,
    counts: Arc<RequestCounts>,
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
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn options(&self) -> &NetboxOptions {
        &self.options
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
        // A POST that reached NetBox may have created objects even if the answer was lost:
        // repeat it only when it provably did not arrive (connection refused, 503).
        let retryable = |e: &NbError| match method {
            Method::POST => e.never_arrived,
            _ => e.is_transient(),
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
    ) -> Result<Value, NbError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let counter = if method == Method::GET {
            &self.counts.reads
        } else {
            &self.counts.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
        let text = response
            .text()
            .await
            .map_err(|e| NbError::from_transport(&e, &self.base, method.as_str(), path, timeout))?;
        if !status.is_success() {
            return Err(NbError::from_status(
                status.as_u16(),
                method.as_str(),
                &self.base,
                path,
                &text,
            ));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null); // 204 of a delete
        }
        serde_json::from_str(&text).map_err(|e| NbError::malformed(&self.base, path, e))
    }

    /// Every object of a model matching `filters`, page by page while NetBox announces a
    /// `next` page. Pages are cut by id (`ordering=id`, `id__gt=<last id>`), not by offset, so
    /// that a write elsewhere cannot shift an object out of view; and every page's `count`
    /// of what remains must agree with what was read so far. Anything else means NetBox
    /// changed during the read, which is an error, never partial data: partial data would
    /// make the sync create duplicates.
    pub async fn list<M: Model>(&self, filters: &[(&str, String)]) -> Result<Vec<M>, NbError> {
        let path = format!("{}/", M::PATH);
        // Only the fields the model reads: NetBox skips serialising (and fetching) the rest.
        let fields = fields_param::<M>().map(|f| ("fields".to_string(), f));
        let base_query: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .chain([
                ("ordering".to_string(), "id".to_string()),
                ("limit".into(), self.options.page_size.max(1).to_string()),
            ])
            .chain(fields)
            .collect();
        let mut out: Vec<M> = Vec::new();
        let mut total: Option<u64> = None;
        let mut last_id: Option<u64> = None;
        loop {
            let mut query = base_query.clone();
            if let Some(id) = last_id {
                query.push(("id__gt".into(), id.to_string()));
            }
            let page = self.request(Method::GET, &path, &query, None).await?;
            let remaining = page
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| NbError::malformed(&self.base, &path, "no count"))?;
            let results = page
                .get("results")
                .and_then(Value::as_array)
                .ok_or_else(|| NbError::malformed(&self.base, &path, "no results"))?;
            let total = *total.get_or_insert(remaining);
            if remaining != total - (out.len() as u64).min(total) {
                return Err(changed_while_reading(&self.base, M::PATH, out.len(), total));
            }
            for item in results {
                let object: M = serde_json::from_value(item.clone())
                    .map_err(|e| NbError::malformed(&self.base, &path, e))?;
                if last_id.is_some_and(|last| object.id() <= last) {
                    return Err(changed_while_reading(&self.base, M::PATH, out.len(), total));
                }
                last_id = Some(object.id());
                out.push(object);
            }
            let more = page.get("next").is_some_and(|n| !n.is_null());
            if !more || results.is_empty() {
                break;
            }
        }
        if out.len() as u64 != total.unwrap_or(0) {
            return Err(changed_while_reading(
                &self.base,
                M::PATH,
                out.len(),
                total.unwrap_or(0),
            ));
        }
        Ok(out)
    }

    /// The objects with these ids, in groups of at most [`IDS_PER_REQUEST`].
    pub async fn list_by_ids<M: Model>(&self, ids: &[u64]) -> Result<Vec<M>, NbError> {
        self.list_in::<M, u64>("id", ids).await
    }

    /// The objects whose `field` (e.g. `virtual_machine_id`) is one of `values`, asked in
    /// groups of at most [`IDS_PER_REQUEST`] that fit [`MAX_QUERY_BYTES`].
    pub async fn list_in<M: Model, V: ToString>(
        &self,
        field: &str,
        values: &[V],
    ) -> Result<Vec<M>, NbError> {
        // The groups are independent: read them side by side (the client's concurrency
        // limit still applies), then put them back in order.
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        let mut reads = tokio::task::JoinSet::new();
        for (index, group) in filter_groups::<M>(field, &values).into_iter().enumerate() {
            let filters: Vec<(String, String)> = group
                .iter()
                .map(|v| (field.to_string(), v.clone()))
                .collect();
            let client = self.clone();
            reads.spawn(async move {
                let filters: Vec<(&str, String)> = filters
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                (index, client.list::<M>(&filters).await)
            });
        }
        let mut groups: Vec<(usize, Vec<M>)> = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let (index, result) = joined.map_err(|e| {
                NbError::new(
                    ErrorKind::Internal,
                    format!("a NetBox read stopped unexpectedly: {e}"),
                    "Report this as a bug.",
                )
            })?;
            groups.push((index, result?));
        }
        groups.sort_by_key(|(index, _)| *index);
        Ok(groups.into_iter().flat_map(|(_, group)| group).collect())
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
        if let Some(found) = self
            .list::<M>(&[("slug", slug.to_string())])
            .await?
            .into_iter()
            .find(|m| m.slug() == slug)
        {
            return Ok(found);
        }
        let mut created = self.create::<M, W>(&[new()]).await?.into_result()?;
        Ok(created.remove(0))
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
                    .map(|id| serde_json::json!({ "id": id }))
                    .collect(),
            );
            let first = chunk_index * self.options.chunk_size.max(1);
            match self.request(Method::DELETE, &path, &[], Some(&body)).await {
                Ok(_) => outcome
                    .done
                    .extend(chunk.iter().enumerate().map(|(i, id)| (first + i, *id))),
                // An id already gone, or a protected object (409), fails the whole chunk:
                // delete one by one to find it; a gone one counts as deleted.
                Err(e) if matches!(e.status, Some(400 | 404 | 409)) => {
                    for (i, id) in chunk.iter().enumerate() {
                        match self
                            .request(Method::DELETE, &format!("{}/{id}/", M::PATH), &[], None)
                            .await
                        {
                            Ok(_) => outcome.done.push((first + i, *id)),
                            Err(error) if error.kind == ErrorKind::NotFound => {
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

    async fn bulk<M: Model, W: Serialize>(
        &self,
        method: Method,
        items: &[W],
    ) -> Result<BulkOutcome<M>, NbError> {
        let values: Vec<Value> = items
            .iter()
            .map(|item| {
                serde_json::to_value(item).map_err(|e| {
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
            match self.request(method.clone(), &path, &[], Some(&body)).await {
                Ok(Value::Array(stored)) if stored.len() == chunk.len() => {
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
                        format!("expected {} objects back, got {other}", chunk.len()),
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

fn changed_while_reading(base: &str, path: &str, got: usize, count: u64) -> NbError {
    NbError::new(
        ErrorKind::Internal,
        format!("NetBox at {base} changed {path} while Proxbox read it ({got} objects read, {count} announced)"),
        "Someone or something wrote to NetBox during the read; run the sync again.",
    )
}

#[cfg(test)]
mod tests {
    use super::{fields_param, filter_groups, per_object_errors, IDS_PER_REQUEST, MAX_QUERY_BYTES};
    use crate::models::{MacAddress, VirtualMachine};
    use serde_json::json;

    #[test]
    fn filter_groups_keep_the_query_within_the_request_line_limit() {
        let ids: Vec<String> = (100_000..100_250).map(|i| i.to_string()).collect();
        let groups = filter_groups::<VirtualMachine>("cluster_id", &ids);
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let macs: Vec<String> = (0..300)
            .map(|i| format!("BC:24:11:00:{:02X}:{:02X}", i / 256, i % 256))
            .collect();
        let groups = filter_groups::<MacAddress>("mac_address", &macs);
        assert_eq!(groups.concat(), macs, "every value once, in order");
        let fields = fields_param::<MacAddress>().unwrap();
        for group in groups {
            assert!(group.len() <= IDS_PER_REQUEST);
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(group.iter().map(|m| ("mac_address", m.as_str())))
                .append_pair("fields", &fields)
                .append_pair("ordering", "id")
                .append_pair("limit", "1000")
                .append_pair("id__gt", "123456789")
                .finish();
            assert!(query.len() <= MAX_QUERY_BYTES, "{} bytes", query.len());
        }
        assert!(filter_groups::<MacAddress>("mac_address", &[]).is_empty());
    }

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
