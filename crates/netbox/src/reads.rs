//! Complete paginated list reads: typed (`list`, `list_in`) for the sync's models, and raw
//! (`list_raw`, `list_in_raw`) for callers that keep NetBox's JSON, such as Proxbox's mirror
//! of NetBox.

use reqwest::Method;
use serde_json::Value;

use crate::client::{NetboxClient, IDS_PER_REQUEST, MAX_QUERY_BYTES};
use crate::error::{ErrorKind, NbError};
use crate::models::Model;

/// `?fields=` for a model: the fields it reads.
pub fn fields_param<M: Model>() -> Option<String> {
    crate::fields::fields_of::<M>().map(|f| f.join(","))
}

/// `values` cut into groups of at most [`IDS_PER_REQUEST`] whose `field=value` filters,
/// URL-encoded, fit the query budget beside `fields` (MAC and IP addresses encode to far
/// more bytes than ids).
fn filter_groups<'a>(field: &str, values: &'a [String], fields: Option<&str>) -> Vec<&'a [String]> {
    let encoded = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .map(str::len)
            .sum::<usize>()
    };
    let reserved = fields.map_or(0, |f| encoded(f) + 8) + 80;
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

fn decode<M: Model>(base: &str, values: Vec<Value>) -> Result<Vec<M>, NbError> {
    values
        .into_iter()
        .map(|value| {
            serde_json::from_value(value).map_err(|e| NbError::malformed(base, M::PATH, e))
        })
        .collect()
}

impl NetboxClient {
    /// Every object of a model matching `filters`, page by page while NetBox announces a
    /// `next` page. Pages are cut by id (`ordering=id`, `id__gt=<last id>`), not by offset, so
    /// that a write elsewhere cannot shift an object out of view; and every page's `count`
    /// of what remains must agree with what was read so far. Anything else means NetBox
    /// changed during the read, which is an error, never partial data: partial data would
    /// make the sync create duplicates.
    pub async fn list<M: Model>(&self, filters: &[(&str, String)]) -> Result<Vec<M>, NbError> {
        // Only the fields the model reads: NetBox skips serialising (and fetching) the rest.
        let fields = fields_param::<M>();
        let values = self.list_raw(M::PATH, filters, fields.as_deref()).await?;
        decode(self.base_url(), values)
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
        let values: Vec<String> = values.iter().map(ToString::to_string).collect();
        let fields = fields_param::<M>();
        let raw = self
            .list_in_raw(M::PATH, field, &values, fields.as_deref())
            .await?;
        decode(self.base_url(), raw)
    }

    /// [`NetboxClient::list`] for the model at `path` (below `/api/`), as NetBox's JSON,
    /// with only `fields` (comma-separated) when given.
    pub async fn list_raw(
        &self,
        path: &str,
        filters: &[(&str, String)],
        fields: Option<&str>,
    ) -> Result<Vec<Value>, NbError> {
        let url_path = format!("{path}/");
        let base_query: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .chain([
                ("ordering".to_string(), "id".to_string()),
                ("limit".into(), self.options().page_size.max(1).to_string()),
            ])
            .chain(fields.map(|f| ("fields".to_string(), f.to_string())))
            .collect();
        let mut out: Vec<Value> = Vec::new();
        let mut total: Option<u64> = None;
        let mut last_id: Option<u64> = None;
        let base = self.base_url();
        loop {
            let mut query = base_query.clone();
            if let Some(id) = last_id {
                query.push(("id__gt".into(), id.to_string()));
            }
            let mut page = self.request(Method::GET, &url_path, &query, None).await?;
            let remaining = page
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| NbError::malformed(base, &url_path, "no count"))?;
            let more = page.get("next").is_some_and(|n| !n.is_null());
            let Some(Value::Array(results)) = page.get_mut("results").map(Value::take) else {
                return Err(NbError::malformed(base, &url_path, "no results"));
            };
            let total = *total.get_or_insert(remaining);
            if remaining != total - (out.len() as u64).min(total) {
                return Err(changed_while_reading(base, path, out.len(), total));
            }
            let empty = results.is_empty();
            for item in results {
                let id = item
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| NbError::malformed(base, &url_path, "an object without id"))?;
                if last_id.is_some_and(|last| id <= last) {
                    return Err(changed_while_reading(base, path, out.len(), total));
                }
                last_id = Some(id);
                out.push(item);
            }
            if !more || empty {
                break;
            }
        }
        if out.len() as u64 != total.unwrap_or(0) {
            return Err(changed_while_reading(
                base,
                path,
                out.len(),
                total.unwrap_or(0),
            ));
        }
        Ok(out)
    }

    /// [`NetboxClient::list_in`] for the model at `path`, as NetBox's JSON.
    pub async fn list_in_raw(
        &self,
        path: &str,
        field: &str,
        values: &[String],
        fields: Option<&str>,
    ) -> Result<Vec<Value>, NbError> {
        // The groups are independent: read them side by side (the client's concurrency
        // limit still applies), then put them back in order.
        let mut reads = tokio::task::JoinSet::new();
        for (index, group) in filter_groups(field, values, fields).into_iter().enumerate() {
            let filters: Vec<(String, String)> = group
                .iter()
                .map(|v| (field.to_string(), v.clone()))
                .collect();
            let (client, path, fields) =
                (self.clone(), path.to_string(), fields.map(str::to_string));
            reads.spawn(async move {
                let filters: Vec<(&str, String)> = filters
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                (
                    index,
                    client.list_raw(&path, &filters, fields.as_deref()).await,
                )
            });
        }
        let mut groups: Vec<(usize, Vec<Value>)> = Vec::new();
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
    use super::{fields_param, filter_groups, IDS_PER_REQUEST, MAX_QUERY_BYTES};
    use crate::models::{MacAddress, VirtualMachine};

    #[test]
    fn filter_groups_keep_the_query_within_the_request_line_limit() {
        let ids: Vec<String> = (100_000..100_250).map(|i| i.to_string()).collect();
        let groups = filter_groups(
            "cluster_id",
            &ids,
            fields_param::<VirtualMachine>().as_deref(),
        );
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let macs: Vec<String> = (0..300)
            .map(|i| format!("BC:24:11:00:{:02X}:{:02X}", i / 256, i % 256))
            .collect();
        let fields = fields_param::<MacAddress>().unwrap();
        let groups = filter_groups("mac_address", &macs, Some(&fields));
        assert_eq!(groups.concat(), macs, "every value once, in order");
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
        assert!(filter_groups("mac_address", &[], Some(&fields)).is_empty());
    }
}
