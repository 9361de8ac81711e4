//! `proxbox doctor` and "Check permissions": each Proxmox token's privileges read once
//! (`/access/permissions`) and held against what every stage needs, and what the NetBox
//! token may do — before a sync finds out item by item.

use proxbox_netbox::NetboxClient;
use proxbox_pve::PveClient;

use crate::models::{
    DoctorReport, MissingGrant, ModelRights, NetboxCheck, NetboxFeature, ProxmoxAuthKind,
    ProxmoxCheck, StageCheck, StageReadiness,
};
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::endpoints::{NetboxEndpointRow, ProxmoxEndpointRow};
use crate::server::infra::db::{Db, DbError};
use crate::server::services::peers::{netbox_client, proxmox_client};
use crate::server::sync::privileges::{self, major_version, Verdict};
use crate::server::sync::stage::Stage;

/// The report for every Proxmox endpoint (or only `endpoint`) and the NetBox endpoint.
pub async fn doctor(
    db: &Db,
    secrets: &SecretBox,
    endpoint: Option<i64>,
) -> Result<DoctorReport, DbError> {
    let rows: Vec<ProxmoxEndpointRow> = db
        .proxmox_endpoints()
        .await?
        .into_iter()
        .filter(|row| endpoint.is_none_or(|id| row.id == id))
        .collect();
    let netbox_row = db.netbox_endpoint().await?;
    let proxmox = futures::future::join_all(rows.iter().map(|row| check_proxmox(row, secrets)));
    let netbox = async {
        match &netbox_row {
            Some(row) => Some(check_netbox(row, secrets).await),
            None => None,
        }
    };
    let (proxmox, netbox) = tokio::join!(proxmox, netbox);
    Ok(DoctorReport { proxmox, netbox })
}

fn login_of(row: &ProxmoxEndpointRow) -> String {
    match row.auth_kind() {
        ProxmoxAuthKind::Token => format!("token {}", row.token_id),
        ProxmoxAuthKind::Password => format!("user {}", row.username),
    }
}

pub async fn check_proxmox(row: &ProxmoxEndpointRow, secrets: &SecretBox) -> ProxmoxCheck {
    let mut check = ProxmoxCheck {
        endpoint_id: row.id,
        endpoint: row.name.clone(),
        login: login_of(row),
        ..Default::default()
    };
    let pve = match proxmox_client(row, secrets) {
        Ok(pve) => pve,
        Err(e) => {
            check.problem = Some(format!("{} — {}", e.message, e.suggestion));
            return check;
        }
    };
    match stage_checks(&pve).await {
        Ok((version, stages)) => {
            check.version = Some(version);
            check.stages = stages;
        }
        Err(e) => check.problem = Some(format!("{} — {}", e.message, e.suggestion)),
    }
    check
}

async fn stage_checks(pve: &PveClient) -> Result<(String, Vec<StageCheck>), proxbox_pve::PveError> {
    let (version, permissions) = tokio::join!(pve.version(), pve.permissions());
    let version = version?.value.version;
    let permissions = permissions?;
    let stages = privileges::check(&permissions, major_version(&version), &Stage::ALL)
        .into_iter()
        .map(|access| StageCheck {
            stage: access.stage.name().to_string(),
            readiness: match access.verdict {
                Verdict::Ready => StageReadiness::Ready,
                Verdict::Partial => StageReadiness::Partial,
                Verdict::Blocked => StageReadiness::Blocked,
            },
            missing: access
                .missing
                .into_iter()
                .map(|m| MissingGrant {
                    reads: m.reads.to_string(),
                    grant: m.grant,
                    only_on: m.only_on,
                })
                .collect(),
        })
        .collect();
    Ok((version, stages))
}

pub async fn check_netbox(row: &NetboxEndpointRow, secrets: &SecretBox) -> NetboxCheck {
    let mut check = NetboxCheck {
        url: row.url.clone(),
        ..Default::default()
    };
    let netbox = match netbox_client(row, secrets) {
        Ok(netbox) => netbox,
        Err(e) => {
            check.problem = Some(format!("{} — {}", e.message, e.suggestion));
            return check;
        }
    };
    match netbox_checks(&netbox).await {
        Ok((version, features, models)) => {
            check.version = Some(version);
            check.features = features;
            check.models = models;
        }
        Err(e) => check.problem = Some(format!("{} — {}", e.message, e.suggestion)),
    }
    check
}

type NetboxFindings = (String, Vec<NetboxFeature>, Vec<ModelRights>);

async fn netbox_checks(netbox: &NetboxClient) -> Result<NetboxFindings, proxbox_netbox::NbError> {
    let version = netbox.status().await?;
    // (feature, the list that shows it, what a sync does without it)
    let features = [
        (
            "VM types",
            "virtualization/virtual-machine-types",
            "NetBox 4.7+: without, VMs get no QEMU/LXC type, start on boot or serial",
        ),
        (
            "MAC address objects",
            "dcim/mac-addresses",
            "NetBox 4.2+: without, interfaces keep their MAC in their own field",
        ),
        (
            "change log readable",
            "core/object-changes",
            "without, every sync reads NetBox whole instead of what changed",
        ),
    ];
    let mut found = Vec::new();
    for (name, path, without) in features {
        let readable = netbox.may_read(path).await?;
        found.push(NetboxFeature {
            name: name.to_string(),
            available: readable == Some(true),
            note: match readable {
                Some(true) => String::new(),
                Some(false) => format!("the token may not read {path}; {without}"),
                None => format!("this NetBox has none; {without}"),
            },
        });
    }
    let mut models = Vec::new();
    for (path, stages) in privileges::netbox_writes() {
        let rights = netbox.write_rights(path).await;
        let rights = match rights {
            Ok(rights) => rights,
            // A model this NetBox does not have yet (MAC address objects before 4.2, VM types
            // before 4.7): a sync does not write it there.
            Err(e) if e.kind == proxbox_netbox::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        models.push(ModelRights {
            model: path.to_string(),
            stages: stages.iter().map(|s| s.name().to_string()).collect(),
            add: rights.add,
            change: rights.change,
        });
    }
    Ok((version, found, models))
}
