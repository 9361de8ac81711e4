//! `storage`: every storage as each node sees it (`/storage` for the cluster's list,
//! `/nodes/{node}/storage` for type, content, shared, enabled and usage), kept in Proxbox's
//! database for the storage page. A storage gone from a node is removed; the storages of a
//! node that could not be read are left as they were.

use std::collections::HashSet;

use proxbox_pve::NodeStorage;

use crate::events::StepStatus;
use crate::models::{RecordKind, StorageRecord};
use crate::server::sync::cluster_view::{cluster_view, node_storages};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{
    self, plan_records, report_unread, Record, RecordPlan, WhenGone,
};
use crate::server::sync::plan::Label;
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

/// The records of one node's storages.
pub fn records(node: &str, storages: &[NodeStorage]) -> Vec<Record> {
    storages
        .iter()
        .map(|s| {
            let body = StorageRecord {
                storage: s.storage.clone(),
                node: node.to_string(),
                kind: s.kind.clone(),
                content: s.content.clone(),
                shared: s.shared.unwrap_or(false),
                enabled: s.enabled.unwrap_or(true),
                active: s.active.unwrap_or(false),
                total: s.total,
                used: s.used,
                avail: s.avail,
            };
            let key = format!("{node}/{}", s.storage);
            Record::new(RecordKind::Storage, key.clone(), key, &body).on(Some(node), None, None)
        })
        .collect()
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading each node's storages from Proxmox",
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    for source in &ctx.sources {
        let view = cluster_view(state, source).await?;
        // The cluster's configuration names every storage, also those no node can use now.
        let configured = source.pve.storage_names().await?.value.len();
        let mut wanted = Vec::new();
        let mut read: HashSet<String> = HashSet::new();
        for (node, result) in node_storages(state, source, &view).await {
            match result {
                Ok(storages) => {
                    wanted.extend(records(&node, &storages));
                    read.insert(node);
                }
                Err(e) => report_unread(
                    report,
                    Label::new(format!("{node} storages"), "node", "node"),
                    "the node's storages could not be read; those stored are kept",
                    e,
                ),
            }
        }
        wanted.sort_by(|a, b| a.row.key.cmp(&b.row.key));
        report.substep(
            "read-proxmox",
            StepStatus::Completed,
            format!(
                "{}: {configured} storages configured, {} node storages on {} nodes",
                source.endpoint_name,
                wanted.len(),
                read.len()
            ),
        );
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::Storage, None)
            .await?;
        plans.push(plan_records(
            RecordKind::Storage,
            source.endpoint_id,
            WhenGone::Remove,
            &stored,
            wanted,
            |r| r.node.as_ref().is_some_and(|n| read.contains(n)),
        ));
    }
    inventory::discover_and_apply(ctx, report, "storages", &plans).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(name: &str, shared: Option<bool>, enabled: Option<bool>) -> NodeStorage {
        NodeStorage {
            storage: name.into(),
            kind: "nfs".into(),
            content: vec!["backup".into()],
            shared,
            active: enabled,
            enabled,
            total: enabled.filter(|on| *on).map(|_| 100),
            used: enabled.filter(|on| *on).map(|_| 40),
            avail: enabled.filter(|on| *on).map(|_| 60),
        }
    }

    #[test]
    fn a_storage_is_a_record_per_node_with_what_proxmox_leaves_out_defaulted() {
        let records = records(
            "pve1",
            &[
                storage("nfs", Some(true), Some(true)),
                storage("old", None, Some(false)),
            ],
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].row.key, "pve1/nfs");
        assert_eq!(records[0].row.node.as_deref(), Some("pve1"));
        let nfs: StorageRecord = serde_json::from_str(&records[0].row.body).unwrap();
        assert!(nfs.shared && nfs.enabled && nfs.active);
        assert_eq!((nfs.used, nfs.total), (Some(40), Some(100)));
        let old: StorageRecord = serde_json::from_str(&records[1].row.body).unwrap();
        assert!(!old.shared && !old.enabled && !old.active, "{old:?}");
        assert_eq!(old.total, None, "a disabled storage has no usage");
    }
}
