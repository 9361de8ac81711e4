//! NetBox's change log (`/api/core/object-changes/`): what changed since a known entry, so
//! that a copy of NetBox's objects can be kept current without reading them all again.

use reqwest::Method;
use serde_json::Value;

use crate::client::NetboxClient;
use crate::error::NbError;

const PATH: &str = "core/object-changes/";
const FIELDS: &str = "id,time,request_id,action,changed_object_type,changed_object_id";

/// One entry of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: u64,
    /// The `X-Request-ID` of the request that made the change.
    pub request_id: Option<String>,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `app_label.model`, e.g. `virtualization.virtualmachine`.
    pub object_type: String,
    pub object_id: u64,
    /// When NetBox logged it (ISO 8601, as NetBox writes it).
    pub time: Option<String>,
}

impl Change {
    fn from_json(value: &Value) -> Option<Change> {
        let action = value.get("action")?;
        Some(Change {
            id: value.get("id")?.as_u64()?,
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .map(str::to_string),
            action: action
                .get("value")
                .or(Some(action))
                .and_then(Value::as_str)?
                .to_string(),
            object_type: value.get("changed_object_type")?.as_str()?.to_string(),
            object_id: value.get("changed_object_id")?.as_u64()?,
            time: value
                .get("time")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

impl NetboxClient {
    /// The id of the newest change log entry (0 for an empty log).
    pub async fn latest_change_id(&self) -> Result<u64, NbError> {
        let query = [
            ("ordering".to_string(), "-id".to_string()),
            ("limit".to_string(), "1".to_string()),
            ("fields".to_string(), "id".to_string()),
        ];
        let page = self.request(Method::GET, PATH, &query, None).await?;
        let results = page
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| NbError::malformed(self.base_url(), PATH, "no results"))?;
        Ok(results
            .first()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(0))
    }

    /// The entries with these ids that exist (ids a transaction took but had not committed
    /// when a later entry was read).
    pub async fn changes_with_ids(&self, ids: &[u64]) -> Result<Vec<Change>, NbError> {
        let mut out = Vec::new();
        for group in ids.chunks(crate::client::IDS_PER_REQUEST) {
            let query: Vec<(String, String)> = group
                .iter()
                .map(|id| ("id".to_string(), id.to_string()))
                .chain([
                    ("limit".to_string(), group.len().to_string()),
                    ("fields".to_string(), FIELDS.to_string()),
                ])
                .collect();
            let page = self.request(Method::GET, PATH, &query, None).await?;
            out.extend(self.entries(&page)?);
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    fn entries(&self, page: &Value) -> Result<Vec<Change>, NbError> {
        page.get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| NbError::malformed(self.base_url(), PATH, "no results"))?
            .iter()
            .map(|value| {
                Change::from_json(value).ok_or_else(|| {
                    NbError::malformed(self.base_url(), PATH, format!("unreadable entry {value}"))
                })
            })
            .collect()
    }

    /// Every entry after `after`, oldest first, up to `at_most` (more answers `None`: the
    /// caller is better off reading its objects again than following that many changes).
    pub async fn changes_after(
        &self,
        after: u64,
        at_most: usize,
    ) -> Result<Option<Vec<Change>>, NbError> {
        let mut out: Vec<Change> = Vec::new();
        let mut last = after;
        let limit = self.options().page_size.max(1);
        loop {
            let query = [
                ("id__gt".to_string(), last.to_string()),
                ("ordering".to_string(), "id".to_string()),
                ("limit".to_string(), limit.to_string()),
                ("fields".to_string(), FIELDS.to_string()),
            ];
            let page = self.request(Method::GET, PATH, &query, None).await?;
            let entries = self.entries(&page)?;
            let empty = entries.is_empty();
            for change in entries {
                last = last.max(change.id);
                out.push(change);
            }
            if out.len() > at_most {
                return Ok(None);
            }
            let more = page.get("next").is_some_and(|n| !n.is_null());
            if !more || empty {
                return Ok(Some(out));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Change;
    use serde_json::json;

    #[test]
    fn entries_read_as_netbox_47_answers_them() {
        let entry = json!({"id": 812, "time": "2026-12-07T05:40:12.345678+00:00",
            "request_id": "5b0c7f4e-2f7e-4b8e-9d4a-1c2d3e4f5a6b",
            "action": {"value": "update", "label": "Updated"},
            "changed_object_type": "virtualization.virtualmachine", "changed_object_id": 77});
        assert_eq!(
            Change::from_json(&entry),
            Some(Change {
                id: 812,
                request_id: Some("5b0c7f4e-2f7e-4b8e-9d4a-1c2d3e4f5a6b".into()),
                action: "update".into(),
                object_type: "virtualization.virtualmachine".into(),
                object_id: 77,
                time: Some("2026-12-07T05:40:12.345678+00:00".into()),
            })
        );
        assert_eq!(Change::from_json(&json!({"id": 1})), None);
    }
}
