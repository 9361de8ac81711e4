//! An in-memory NetBox for the engine's tests: plans are written into it through the same
//! [`apply`](super::apply) as into the real one, and stages plan again from what it holds.
//! It keeps each object as NetBox answers it (related objects nested as `{"id": …}`, choices
//! as `{"value": …}`), so the models read it exactly as they read NetBox.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use proxbox_netbox::models::Model;
use proxbox_netbox::{BulkOutcome, NbError};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::target::Target;

/// Fields that name a related object by id in a write and nest it in a read.
const RELATED: &[&str] = &[
    "cluster",
    "site",
    "device",
    "role",
    "platform",
    "virtual_machine_type",
    "device_type",
    "virtual_machine",
    "tenant",
    "untagged_vlan",
    "primary_mac_address",
    "primary_ip4",
    "primary_ip6",
    "manufacturer",
    "type",
    "group",
    "vrf",
    "vlan",
    "l2vpn",
];
/// Fields written as a value and read as a choice.
const CHOICES: &[&str] = &["status", "mode", "start_on_boot", "type", "role"];

#[derive(Default)]
pub struct MemoryNetbox {
    objects: Mutex<HashMap<&'static str, BTreeMap<u64, Value>>>,
    next_id: AtomicU64,
    /// Objects written (created, updated or deleted).
    pub writes: AtomicU64,
    /// Ids whose updates are refused, as NetBox refuses an object it finds invalid.
    pub refuse_updates: Mutex<std::collections::HashSet<u64>>,
    pub chunk_size: usize,
}

/// A write body as NetBox would answer it.
fn as_read(body: Value) -> Map<String, Value> {
    let Value::Object(fields) = body else {
        return Map::new();
    };
    fields
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                Value::Number(id) if RELATED.contains(&key.as_str()) => json!({ "id": id }),
                Value::String(v) if CHOICES.contains(&key.as_str()) => json!({ "value": v }),
                Value::Array(tags) if key == "tags" => Value::Array(
                    tags.into_iter()
                        .map(|tag| json!({ "id": 0, "slug": tag["slug"] }))
                        .collect(),
                ),
                other => other,
            };
            (key, value)
        })
        .collect()
}

/// A stored object as its model; a write the model cannot read back is a bug of the test.
fn read<M: Model>(stored: &Value) -> M {
    serde_json::from_value(stored.clone())
        .unwrap_or_else(|e| panic!("{}: cannot read back {stored}: {e}", M::PATH))
}

impl MemoryNetbox {
    pub fn new(chunk_size: usize) -> MemoryNetbox {
        MemoryNetbox {
            next_id: AtomicU64::new(1),
            chunk_size,
            ..Default::default()
        }
    }

    /// Stores an object as NetBox answers it (seeding a state); returns its id.
    pub fn seed<M: Model>(&self, mut object: Value) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        object["id"] = json!(id);
        self.lock().entry(M::PATH).or_default().insert(id, object);
        id
    }

    /// Every object of a model.
    pub fn all<M: Model>(&self) -> Vec<M> {
        self.lock()
            .get(M::PATH)
            .map(|objects| objects.values().map(read::<M>).collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, BTreeMap<u64, Value>>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates or updates objects, as NetBox's bulk write does.
    pub fn write<M: Model, W: Serialize>(&self, bodies: &[&W], create: bool) -> BulkOutcome<M> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let refused = self
            .refuse_updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut objects = self.lock();
        let table = objects.entry(M::PATH).or_default();
        for (index, body) in bodies.iter().enumerate() {
            let fields = as_read(serde_json::to_value(body).expect("write bodies serialise"));
            let id = if create {
                self.next_id.fetch_add(1, Ordering::Relaxed)
            } else {
                fields["id"].as_u64().expect("an update names its id")
            };
            if !create && refused.contains(&id) {
                failed.push(proxbox_netbox::ItemFailure {
                    index,
                    error: NbError::new(
                        proxbox_netbox::ErrorKind::Validation,
                        format!("{} {id}: refused", M::PATH),
                        "Fix the object in NetBox.",
                    ),
                });
                continue;
            }
            let stored = table.entry(id).or_insert_with(|| json!({ "id": id }));
            for (key, value) in fields {
                if key == "custom_fields" {
                    let mut merged = stored["custom_fields"]
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    merged.extend(value.as_object().cloned().unwrap_or_default());
                    stored["custom_fields"] = Value::Object(merged);
                } else {
                    stored[key.as_str()] = value;
                }
            }
            stored["id"] = json!(id);
            self.writes.fetch_add(1, Ordering::Relaxed);
            done.push((index, read::<M>(stored)));
        }
        BulkOutcome { done, failed }
    }
}

impl Target for MemoryNetbox {
    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    fn create<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send {
        let outcome = self.write::<M, W>(bodies, true);
        async move { Ok(outcome) }
    }

    fn update<M: Model, W: Serialize + Sync>(
        &self,
        bodies: &[&W],
    ) -> impl Future<Output = Result<BulkOutcome<M>, NbError>> + Send {
        let outcome = self.write::<M, W>(bodies, false);
        async move { Ok(outcome) }
    }

    fn delete<M: Model>(
        &self,
        ids: &[u64],
    ) -> impl Future<Output = Result<BulkOutcome<u64>, NbError>> + Send {
        let mut objects = self.lock();
        let table = objects.entry(M::PATH).or_default();
        let done = ids
            .iter()
            .enumerate()
            .filter_map(|(index, id)| table.remove(id).map(|_| (index, *id)))
            .collect();
        self.writes.fetch_add(ids.len() as u64, Ordering::Relaxed);
        async move {
            Ok(BulkOutcome {
                done,
                failed: Vec::new(),
            })
        }
    }
}
