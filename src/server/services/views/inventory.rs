//! What the inventory pages show (`/virtual-machines`, the VM panel, `/storage`,
//! `/backups`), read from Proxbox's database only: the pages answer as fast with a
//! cluster down as with it up, and show when each part was last read.

use std::collections::HashMap;

use crate::error::AppError;
use crate::models::*;
use crate::server::infra::db::inventory::StoredRecord;
use crate::server::infra::db::Db;
use crate::server::sync::stages::virtual_machines::cards::card_key;
use crate::server::sync::stages::virtual_machines::VM_MODEL;

async fn endpoint_names(db: &Db) -> Result<HashMap<i64, (String, String)>, AppError> {
    Ok(db
        .proxmox_endpoints()
        .await?
        .into_iter()
        .map(|e| (e.id, (e.name, e.url)))
        .collect())
}

fn parsed<T: serde::de::DeserializeOwned>(records: Vec<StoredRecord>) -> Vec<T> {
    records.iter().filter_map(StoredRecord::parse).collect()
}

/// Every guest Proxbox keeps a card of, with its newest backup.
pub async fn guest_rows(db: &Db) -> Result<Vec<GuestRow>, AppError> {
    guest_rows_of(db, &endpoint_names(db).await?).await
}

/// [`guest_rows`] with the endpoints' names already read.
async fn guest_rows_of(
    db: &Db,
    names: &HashMap<i64, (String, String)>,
) -> Result<Vec<GuestRow>, AppError> {
    let newest = db.newest_backups().await?;
    let cards = db.inventory_everywhere(RecordKind::Guest).await?;
    Ok(cards
        .into_iter()
        .filter_map(|(endpoint_id, record)| {
            let guest: GuestRecord = record.parse()?;
            Some(GuestRow {
                endpoint_id,
                endpoint: names.get(&endpoint_id)?.0.clone(),
                newest_backup: newest.get(&(endpoint_id, guest.vmid)).copied(),
                guest,
            })
        })
        .collect())
}

pub fn now_secs() -> i64 {
    crate::server::infra::db::now_ms() / 1000
}

/// One page of `/virtual-machines`.
pub async fn guest_page(db: &Db, filter: &GuestFilter) -> Result<GuestPage, AppError> {
    Ok(GuestPage::of(guest_rows(db).await?, filter, now_secs()))
}

/// A guest Proxbox wrote to NetBox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedGuestRef {
    pub endpoint_id: i64,
    /// `qemu` or `lxc`.
    pub kind: String,
    pub vmid: u64,
}

/// Where the guest Proxbox wrote to NetBox VM `netbox_id` is.
pub async fn guest_of_vm(db: &Db, netbox_id: u64) -> Result<SyncedGuestRef, AppError> {
    let not_found = || {
        AppError::NotFound(format!(
            "A guest synced to NetBox virtual machine {netbox_id}"
        ))
    };
    let (endpoint_id, identity) = db
        .mapped_object(VM_MODEL, netbox_id as i64)
        .await?
        .ok_or_else(not_found)?;
    // `<cluster>/<kind>/<vmid>`; the cluster's name may hold a slash.
    let mut parts = identity.rsplitn(3, '/');
    let (vmid, kind) = (parts.next(), parts.next());
    let vmid = vmid.and_then(|v| v.parse().ok()).ok_or_else(not_found)?;
    let kind = kind.ok_or_else(not_found)?.to_string();
    Ok(SyncedGuestRef {
        endpoint_id,
        kind,
        vmid,
    })
}

/// The VM panel of the guest written to NetBox VM `netbox_id`.
pub async fn guest_panel(db: &Db, netbox_id: u64) -> Result<GuestPanel, AppError> {
    let SyncedGuestRef {
        endpoint_id,
        kind,
        vmid,
    } = guest_of_vm(db, netbox_id).await?;
    let names = endpoint_names(db).await?;
    let (endpoint, url) = names.get(&endpoint_id).cloned().unwrap_or_default();
    let guest: GuestRecord = db
        .inventory_record(endpoint_id, RecordKind::Guest, &card_key(&kind, vmid))
        .await?
        .and_then(|r| r.parse())
        .ok_or_else(|| {
            AppError::Precondition(format!(
                "Proxbox keeps no card of guest {vmid} yet: run a sync of virtual machines, \
                 then open it again."
            ))
        })?;
    let of = |record_kind| db.guest_inventory(endpoint_id, record_kind, vmid);
    let (backups, snapshots, tasks) = tokio::try_join!(
        of(RecordKind::Backup),
        of(RecordKind::Snapshot),
        of(RecordKind::Task)
    )?;
    let reads = db.inventory_reads().await?;
    let netbox_url = db.netbox_endpoint().await?.map(|nb| {
        format!(
            "{}/virtualization/virtual-machines/{}/",
            nb.url.trim_end_matches('/'),
            guest.netbox_id
        )
    });
    // A vmid may name a VM and a container: keep what says it is of this kind.
    let backups: Vec<BackupRecord> = parsed(backups);
    let snapshots: Vec<SnapshotRecord> = parsed(snapshots);
    Ok(GuestPanel {
        endpoint_id,
        synced_at: reads
            .get(&(endpoint_id, RecordKind::Guest.as_str().to_string()))
            .copied(),
        proxmox_url: proxmox_guest_url(&url, &guest.kind, guest.vmid),
        netbox_url,
        endpoint,
        backups: backups
            .into_iter()
            .filter(|b| b.guest_kind.as_deref().is_none_or(|k| k == kind))
            .collect(),
        snapshots: snapshots
            .into_iter()
            .filter(|s| s.guest_kind == kind)
            .collect(),
        tasks: parsed(tasks),
        guest,
    })
}

/// `/storage`: every endpoint's storages by node.
pub async fn storage(db: &Db) -> Result<Vec<EndpointStorage>, AppError> {
    let names = endpoint_names(db).await?;
    let reads = db.inventory_reads().await?;
    let mut by_endpoint: Vec<EndpointStorage> = Vec::new();
    for (endpoint_id, record) in db.inventory_everywhere(RecordKind::Storage).await? {
        let Some(storage) = record.parse::<StorageRecord>() else {
            continue;
        };
        let Some((name, _)) = names.get(&endpoint_id) else {
            continue;
        };
        match by_endpoint.last_mut() {
            Some(last) if last.endpoint_id == endpoint_id => last.storages.push(storage),
            _ => by_endpoint.push(EndpointStorage {
                endpoint_id,
                endpoint: name.clone(),
                read_at: reads
                    .get(&(endpoint_id, RecordKind::Storage.as_str().to_string()))
                    .copied(),
                storages: vec![storage],
            }),
        }
    }
    Ok(by_endpoint)
}

fn kept<T: serde::de::DeserializeOwned>(
    names: &HashMap<i64, (String, String)>,
    records: Vec<(i64, StoredRecord)>,
) -> Vec<Kept<T>> {
    records
        .into_iter()
        .filter_map(|(endpoint_id, r)| {
            Some(Kept {
                endpoint_id,
                endpoint: names.get(&endpoint_id)?.0.clone(),
                record: r.parse()?,
                stale_since: r.stale_since,
                last_seen: r.last_seen,
            })
        })
        .collect()
}

/// `/backups`: routines, replication jobs and the coverage report (`days`: "older than").
pub async fn backups(db: &Db, days: u32) -> Result<BackupsView, AppError> {
    let names = endpoint_names(db).await?;
    let everywhere = |kind| db.inventory_everywhere(kind);
    let (routines, replications) = tokio::try_join!(
        everywhere(RecordKind::BackupRoutine),
        everywhere(RecordKind::Replication)
    )?;
    let routines: Vec<Kept<BackupRoutineRecord>> = kept(&names, routines);
    let guests = guest_rows_of(db, &names).await?;
    Ok(BackupsView {
        coverage: coverage(&guests, &routines, days, now_secs()),
        routines,
        replications: kept(&names, replications),
    })
}
