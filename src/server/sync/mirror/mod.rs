//! Proxbox's copy of the NetBox objects a sync reads at scale — VMs, virtual disks, VM
//! interfaces, MAC and IP addresses — kept current through NetBox's change log.
//!
//! Reading those objects is what a sync with nothing to do spends its time on (NetBox
//! serialises about a millisecond per object). With the copy, a run asks NetBox only what
//! changed since the last run (`/api/core/object-changes/`), reads those objects by id, and
//! answers the stages' list filters from the copy. The copy follows Proxbox's own writes
//! from NetBox's answers; the change log entries of those writes are recognised by their
//! request id (`X-Request-ID`) and not read back.
//!
//! The copy is only a cache, and everything uncertain falls back to reading NetBox: a
//! filter value never read completely is read (and then covered); the copy is rebuilt when
//! older than `PROXBOX_NETBOX_MIRROR_HOURS`, when the change log went backwards or was
//! rewritten (a NetBox restored from a backup: the newest entry followed is gone or another
//! now, although later entries may have taken its id) or has too much to follow; a NetBox whose change log cannot be read is read in
//! full every run. It is saved only by a run that succeeded, and only over the state that
//! run started from, so a crash or a concurrent run costs reads, never a wrong copy.

mod kinds;
mod log_position;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use proxbox_netbox::models::Model;
use proxbox_netbox::{Change, NbError, NetboxClient, WriteObserver};
use serde_json::Value;

use crate::server::infra::db::mirror::{MirrorChanges, MirrorState};
use crate::server::infra::db::{now_ms, Db};

pub use kinds::Mirrored;
use kinds::{kind_of_path, kind_of_type, kinds, pruned, Kind};
use log_position::{add_ranges, settle, unread_ids, CursorEntry, MOST_GAPS};

/// More change log entries than this are not worth paging through…
const MOST_CHANGES: usize = 200_000;
/// …and more objects changed by others than this cost more to read by id than reading
/// everything again (Proxbox's own changes cost nothing to follow).
const MOST_FOREIGN_CHANGES: usize = 20_000;

/// Which objects a key names: (object type, id).
type Key = (&'static str, u64);

#[derive(Default)]
struct Inner {
    /// Off: not begun, disabled, or given up; reads go to NetBox.
    on: bool,
    netbox: String,
    base_version: Option<i64>,
    rebuilt: bool,
    settled: u64,
    /// Entries above `settled` already folded in: (from, to, read at).
    recent: Vec<(u64, u64, i64)>,
    full_read_at: i64,
    /// Each object as compact JSON text: a tenth of its size as a `Value` tree, and
    /// read into the caller's model in one pass.
    objects: HashMap<&'static str, HashMap<u64, Box<str>>>,
    coverage: HashSet<(&'static str, String, u64)>,
    dirty: HashSet<Key>,
    removed: HashSet<Key>,
    new_coverage: HashSet<(&'static str, String, u64)>,
    /// This run's writes, by the request id NetBox logged them under.
    ours: HashMap<String, HashSet<Key>>,
    /// Objects whose copy may be behind without a change log entry (see `Kind::parent`).
    stale: HashSet<Key>,
    /// The newest change log entry followed: its id and time.
    cursor: Option<CursorEntry>,
}

impl Inner {
    fn put(&mut self, kind: &'static Kind, object: &Value) -> Option<u64> {
        let id = object.get("id")?.as_u64()?;
        self.objects
            .entry(kind.object_type)
            .or_default()
            .insert(id, pruned(kind, object).to_string().into_boxed_str());
        self.dirty.insert((kind.object_type, id));
        self.removed.remove(&(kind.object_type, id));
        Some(id)
    }

    fn remove(&mut self, object_type: &'static str, id: u64) -> Option<Value> {
        self.dirty.remove(&(object_type, id));
        self.removed.insert((object_type, id));
        let body = self.objects.get_mut(object_type)?.remove(&id)?;
        serde_json::from_str(&body).ok()
    }

    /// Object `id` of `object_type` as a JSON tree.
    fn value(&self, object_type: &str, id: u64) -> Option<Value> {
        let body = self.objects.get(object_type)?.get(&id)?;
        serde_json::from_str(body).ok()
    }

    fn cover(&mut self, object_type: &'static str, field: &str, id: u64) {
        let key = (object_type, field.to_string(), id);
        if self.coverage.insert(key.clone()) {
            self.new_coverage.insert(key);
        }
    }

    fn is_recent(&self, id: u64) -> bool {
        self.recent
            .iter()
            .any(|(from, to, _)| (*from..=*to).contains(&id))
    }

    /// Records a write of this run, so that its change log entry is not read back.
    fn mark_ours(&mut self, request_id: Option<&str>, key: Key) {
        if let Some(request) = request_id {
            self.ours
                .entry(request.to_string())
                .or_default()
                .insert(key);
        }
    }

    fn mark_parent_stale(&mut self, kind: &Kind, object: &Value) {
        if let Some(parent) = (kind.parent)(object) {
            self.stale.insert(parent);
        }
    }

    fn state(&self) -> MirrorState {
        MirrorState {
            settled_change: self.settled as i64,
            recent_changes: serde_json::to_string(&self.recent).unwrap_or_else(|_| "[]".into()),
            full_read_at: self.full_read_at,
            version: self.base_version.unwrap_or(0),
            shape: kinds::shape(),
            cursor_entry: self
                .cursor
                .as_ref()
                .map(CursorEntry::text)
                .unwrap_or_default(),
        }
    }

    fn start_over(&mut self, latest_change: u64, now: i64) {
        self.objects.clear();
        self.coverage.clear();
        self.dirty.clear();
        self.removed.clear();
        self.new_coverage.clear();
        self.recent.clear();
        self.settled = latest_change;
        self.full_read_at = now;
        self.rebuilt = true;
    }
}

/// The copy of one run; see the module documentation.
#[derive(Default)]
pub struct Mirror {
    inner: Mutex<Inner>,
}

impl Mirror {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The kept model at `path` and the copy, when this run keeps a copy and the model.
    fn following(&self, path: &str) -> Option<(&'static Kind, std::sync::MutexGuard<'_, Inner>)> {
        let kind = kind_of_path(path)?;
        let inner = self.lock();
        inner.on.then_some((kind, inner))
    }

    /// Loads the copy of `netbox` and brings it up to date with the change log. Answers
    /// how this run reads NetBox, for the run's discovery event. Never fails the run: a copy
    /// that cannot be used leaves the run reading NetBox in full.
    pub async fn begin(&self, db: &Db, netbox: &NetboxClient, max_age: Option<Duration>) -> String {
        let Some(max_age) = max_age.filter(|age| !age.is_zero()) else {
            return "full reads (PROXBOX_NETBOX_MIRROR_HOURS=0)".into();
        };
        match self.try_begin(db, netbox, max_age).await {
            Ok(note) => {
                self.lock().on = true;
                note
            }
            Err(reason) => {
                tracing::warn!(%reason, "reading NetBox in full this run");
                *self.lock() = Inner::default();
                format!("full reads ({reason})")
            }
        }
    }

    async fn try_begin(
        &self,
        db: &Db,
        netbox: &NetboxClient,
        max_age: Duration,
    ) -> Result<String, String> {
        let url = netbox.base_url().to_string();
        let stored = db.load_mirror(&url).await.map_err(|e| e.to_string())?;
        let latest = netbox.latest_change_id().await.map_err(|e| {
            format!("NetBox's change log is not readable: {}; give the token the permission core.view_objectchange to sync incrementally", e.message)
        })?;
        let now = now_ms();
        let mut inner = Inner {
            netbox: url,
            ..Inner::default()
        };
        inner.base_version = stored.as_ref().map(|s| s.state.version);
        let reuse = stored.filter(|s| {
            now - s.state.full_read_at < max_age.as_millis() as i64
                && latest >= s.state.settled_change as u64
                && s.state.shape == kinds::shape()
        });
        let Some(stored) = reuse else {
            return self
                .rebuild(
                    netbox,
                    inner,
                    latest,
                    now,
                    "the copy of NetBox is being rebuilt",
                )
                .await;
        };
        let remembered = CursorEntry::parse(&stored.state.cursor_entry);
        if let Some(remembered) = &remembered {
            if entry_at(netbox, remembered.id).await?.as_ref() != Some(remembered) {
                tracing::warn!(
                    entry = remembered.id,
                    "NetBox's change log was rewritten (restored from a backup?): rebuilding the copy, re-adopting by what NetBox holds now"
                );
                return self
                    .rebuild(
                        netbox,
                        inner,
                        latest,
                        now,
                        "NetBox's change log was rewritten, as by a restore from a backup",
                    )
                    .await;
            }
        }
        inner.cursor = remembered;
        inner.settled = stored.state.settled_change as u64;
        inner.recent = serde_json::from_str(&stored.state.recent_changes).unwrap_or_default();
        inner.full_read_at = stored.state.full_read_at;
        for (object_type, id, body) in stored.objects {
            // Checked as JSON without building it: a row that is not is left out.
            let valid = serde_json::from_str::<serde::de::IgnoredAny>(&body).is_ok();
            let (Some(kind), true) = (kind_of_type(&object_type), valid) else {
                continue;
            };
            inner
                .objects
                .entry(kind.object_type)
                .or_default()
                .insert(id as u64, body.into_boxed_str());
        }
        for (object_type, field, value) in stored.coverage {
            if let (Some(kind), Ok(id)) = (kind_of_type(&object_type), value.parse()) {
                inner.coverage.insert((kind.object_type, field, id));
            }
        }
        *self.lock() = inner;
        match self.follow_changes(netbox).await? {
            Some(followed) => Ok(format!(
                "changes since the last sync ({followed} log entries)"
            )),
            None => {
                self.lock().start_over(latest, now);
                Ok("full reads (too many changes in NetBox since the last sync)".into())
            }
        }
    }

    /// Starts the copy over from full reads, remembering the newest change log entry.
    async fn rebuild(
        &self,
        netbox: &NetboxClient,
        mut inner: Inner,
        latest: u64,
        now: i64,
        why: &str,
    ) -> Result<String, String> {
        inner.start_over(latest, now);
        inner.cursor = match latest {
            0 => None,
            id => entry_at(netbox, id).await?,
        };
        *self.lock() = inner;
        Ok(format!("full reads ({why})"))
    }

    /// Folds the change log since the copy's position into the copy: objects others
    /// changed are read by id, deleted ones dropped, this run's own writes skipped.
    /// Answers the number of entries followed, or `None` when there were too many.
    async fn follow_changes(&self, netbox: &NetboxClient) -> Result<Option<usize>, String> {
        let unreadable =
            |e: NbError| format!("NetBox's change log could not be read: {}", e.message);
        // Entries already folded are not read again: only what came after them, and the
        // ids between them that a slow transaction may still have filled in since.
        let (settled, newest, gaps) = {
            let inner = self.lock();
            let newest = inner
                .recent
                .iter()
                .map(|(_, to, _)| *to)
                .fold(inner.settled, u64::max);
            (
                inner.settled,
                newest,
                unread_ids(inner.settled, &inner.recent, MOST_GAPS + 1),
            )
        };
        let (after, gaps) = if gaps.len() > MOST_GAPS {
            (settled, Vec::new())
        } else {
            (newest, gaps)
        };
        let Some(mut changes) = netbox
            .changes_after(after, MOST_CHANGES)
            .await
            .map_err(unreadable)?
        else {
            return Ok(None);
        };
        if !gaps.is_empty() {
            changes.extend(netbox.changes_with_ids(&gaps).await.map_err(unreadable)?);
            changes.sort_by_key(|c| c.id);
        }
        let now = now_ms();
        let mut refetch: HashSet<Key> = HashSet::new();
        {
            let mut inner = self.lock();
            let fresh: Vec<&Change> = changes.iter().filter(|c| !inner.is_recent(c.id)).collect();
            for change in &fresh {
                let Some(kind) = kind_of_type(&change.object_type) else {
                    continue;
                };
                let key = (kind.object_type, change.object_id);
                let ours = change
                    .request_id
                    .as_ref()
                    .and_then(|r| inner.ours.get(r))
                    .is_some_and(|keys| keys.contains(&key));
                if ours {
                    continue;
                }
                if let Some(old) = inner.value(kind.object_type, change.object_id) {
                    inner.mark_parent_stale(kind, &old);
                }
                if change.action == "delete" {
                    inner.remove(kind.object_type, change.object_id);
                    refetch.remove(&key);
                } else {
                    refetch.insert(key);
                }
            }
            let ids: Vec<u64> = fresh.iter().map(|c| c.id).collect();
            add_ranges(&mut inner.recent, &ids, now);
            inner.cursor = CursorEntry::newest(inner.cursor.take(), &changes);
            let (settled, recent) = settle(inner.settled, &inner.recent, now);
            inner.settled = settled;
            inner.recent = recent;
        }
        if refetch.len() > MOST_FOREIGN_CHANGES {
            return Ok(None);
        }
        self.read_by_id(netbox, refetch).await?;
        let stale: HashSet<Key> = std::mem::take(&mut self.lock().stale);
        let present: HashSet<Key> = {
            let inner = self.lock();
            stale
                .into_iter()
                .filter(|(t, id)| inner.objects.get(t).is_some_and(|o| o.contains_key(id)))
                .collect()
        };
        self.read_by_id(netbox, present).await?;
        Ok(Some(changes.len()))
    }

    /// Reads these objects again; those NetBox no longer has leave the copy.
    async fn read_by_id(&self, netbox: &NetboxClient, keys: HashSet<Key>) -> Result<(), String> {
        for kind in kinds() {
            let ids: Vec<String> = keys
                .iter()
                .filter(|(t, _)| *t == kind.object_type)
                .map(|(_, id)| id.to_string())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let found = netbox
                .list_in_raw(kind.path, "id", &ids, kind.fields.as_deref())
                .await
                .map_err(|e| format!("NetBox objects could not be read again: {}", e.message))?;
            let mut inner = self.lock();
            let mut seen = HashSet::new();
            for object in &found {
                if let Some(id) = inner.put(kind, object) {
                    seen.insert(id);
                }
                inner.mark_parent_stale(kind, object);
            }
            for id in ids.iter().filter_map(|id| id.parse::<u64>().ok()) {
                if !seen.contains(&id) {
                    inner.remove(kind.object_type, id);
                }
            }
        }
        Ok(())
    }

    /// The objects of `M` whose `field` is one of `values`, as `NetboxClient::list_in`
    /// answers them, ordered by id. Values the copy does not cover are read from NetBox.
    pub async fn list_in<M: Mirrored>(
        &self,
        netbox: &NetboxClient,
        field: &str,
        values: &[u64],
    ) -> Result<Vec<M>, NbError> {
        if !self.lock().on {
            return netbox.list_in(field, values).await;
        }
        let kind = kind_of_type(M::OBJECT_TYPE).expect("every Mirrored model has a kind");
        let uncovered: Vec<u64> = {
            let inner = self.lock();
            values
                .iter()
                .copied()
                .filter(|v| {
                    !inner
                        .coverage
                        .contains(&(kind.object_type, field.to_string(), *v))
                })
                .collect()
        };
        if !uncovered.is_empty() {
            let asked: Vec<String> = uncovered.iter().map(u64::to_string).collect();
            let found = netbox
                .list_in_raw(kind.path, field, &asked, kind.fields.as_deref())
                .await?;
            let mut inner = self.lock();
            // What NetBox answered is the whole truth for these values.
            let wanted: HashSet<u64> = uncovered.iter().copied().collect();
            let found_ids: HashSet<u64> =
                found.iter().filter_map(|o| o.get("id")?.as_u64()).collect();
            let gone: Vec<u64> = inner
                .objects
                .get(kind.object_type)
                .into_iter()
                .flatten()
                .filter(|(id, body)| {
                    !found_ids.contains(id)
                        && serde_json::from_str::<M>(body)
                            .ok()
                            .and_then(|m| m.filter_key(field))
                            .is_some_and(|k| wanted.contains(&k))
                })
                .map(|(id, _)| *id)
                .collect();
            for id in gone {
                inner.remove(kind.object_type, id);
            }
            for object in &found {
                inner.put(kind, object);
            }
            for value in uncovered {
                inner.cover(kind.object_type, field, value);
            }
        }
        let wanted: HashSet<u64> = values.iter().copied().collect();
        let inner = self.lock();
        let mut out: Vec<M> = Vec::new();
        for body in inner
            .objects
            .get(kind.object_type)
            .into_iter()
            .flat_map(|o| o.values())
        {
            let object: M = serde_json::from_str(body)
                .map_err(|e| NbError::malformed(netbox.base_url(), M::PATH, e))?;
            if object
                .filter_key(field)
                .is_some_and(|k| wanted.contains(&k))
            {
                out.push(object);
            }
        }
        out.sort_by_key(Model::id);
        Ok(out)
    }

    /// Follows the change log once more (this run's own entries are skipped, others' read)
    /// and saves the copy. A run that succeeded calls it last; a failure only costs the
    /// next run reads, so it is logged, never raised.
    pub async fn save(&self, db: &Db, netbox: &NetboxClient) {
        if !self.lock().on {
            return;
        }
        let outcome = match self.follow_changes(netbox).await {
            Ok(Some(_)) => self.store(db).await,
            Ok(None) => Err("too many changes to follow; the next run reads NetBox again".into()),
            Err(reason) => Err(reason),
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("another run saved the NetBox copy first; the next run catches up")
            }
            Err(reason) => tracing::warn!(%reason, "the NetBox copy was not saved"),
        }
    }

    async fn store(&self, db: &Db) -> Result<bool, String> {
        let (netbox, base_version, changes) = {
            let inner = self.lock();
            let body = |t: &str, id: &u64| inner.objects.get(t).and_then(|o| o.get(id));
            let upserts: Vec<(String, i64, String)> = if inner.rebuilt {
                inner
                    .objects
                    .iter()
                    .flat_map(|(t, objects)| {
                        objects
                            .iter()
                            .map(move |(id, b)| (t.to_string(), *id as i64, b.to_string()))
                    })
                    .collect()
            } else {
                inner
                    .dirty
                    .iter()
                    .filter_map(|(t, id)| {
                        Some((t.to_string(), *id as i64, body(t, id)?.to_string()))
                    })
                    .collect()
            };
            let coverage_rows =
                |set: &HashSet<(&'static str, String, u64)>| -> Vec<(String, String, String)> {
                    set.iter()
                        .map(|(t, f, v)| (t.to_string(), f.clone(), v.to_string()))
                        .collect()
                };
            let changes = MirrorChanges {
                rebuilt: inner.rebuilt,
                state: inner.state(),
                upserts,
                removals: inner
                    .removed
                    .iter()
                    .map(|(t, id)| (t.to_string(), *id as i64))
                    .collect(),
                coverage: coverage_rows(if inner.rebuilt {
                    &inner.coverage
                } else {
                    &inner.new_coverage
                }),
            };
            (inner.netbox.clone(), inner.base_version, changes)
        };
        db.save_mirror(&netbox, base_version, &changes)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The change log entry with this id as NetBox holds it now, if it does.
async fn entry_at(netbox: &NetboxClient, id: u64) -> Result<Option<CursorEntry>, String> {
    let entries = netbox
        .changes_with_ids(&[id])
        .await
        .map_err(|e| format!("NetBox's change log could not be read: {}", e.message))?;
    Ok(entries.first().and_then(CursorEntry::of))
}

impl WriteObserver for Mirror {
    fn stored(&self, path: &str, created: bool, request_id: Option<&str>, objects: &[Value]) {
        let Some((kind, mut inner)) = self.following(path) else {
            return;
        };
        for object in objects {
            let Some(id) = inner.put(kind, object) else {
                continue;
            };
            inner.mark_ours(request_id, (kind.object_type, id));
            inner.mark_parent_stale(kind, object);
            if created {
                for (child, field) in kind.children {
                    inner.cover(child, field, id);
                }
            }
        }
    }

    fn deleted(&self, path: &str, request_id: Option<&str>, ids: &[u64]) {
        let Some((kind, mut inner)) = self.following(path) else {
            return;
        };
        for id in ids {
            if let Some(old) = inner.remove(kind.object_type, *id) {
                inner.mark_parent_stale(kind, &old);
            }
            inner.mark_ours(request_id, (kind.object_type, *id));
        }
    }
}
