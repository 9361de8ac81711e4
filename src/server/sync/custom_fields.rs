//! The custom fields Proxbox keeps on NetBox objects: each created once, on the first run
//! that needs it. A token that may not create custom fields is not fatal: the run goes on
//! without the field and says so.

use proxbox_netbox::models::{CustomField, NewCustomField};
use proxbox_netbox::ErrorKind;

use super::context::SyncContext;
use super::failure::StageError;
use super::managed::{HA_FIELD, IDENTITY_FIELD};
use super::report::StageReport;
use crate::events::StepStatus;

/// A custom field as Proxbox creates it.
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub object_types: &'static [&'static str],
    pub description: &'static str,
    /// What the run does without it, for the message when it cannot be created.
    pub without: &'static str,
}

/// Each device's and VM's Proxmox identity, for re-adoption after a lost database.
pub const IDENTITY: FieldSpec = FieldSpec {
    name: IDENTITY_FIELD,
    label: "Proxmox identity",
    object_types: &["dcim.device", "virtualization.virtualmachine"],
    description: "Set by Proxbox: endpoint cluster, guest type and VMID. Do not edit.",
    without: "identities are kept in Proxbox's database only",
};

/// Each VM's Proxmox HA state and group.
pub const HA: FieldSpec = FieldSpec {
    name: HA_FIELD,
    label: "Proxmox HA",
    object_types: &["virtualization.virtualmachine"],
    description:
        "Set by Proxbox: the guest's Proxmox HA state and group; empty when HA does not manage it.",
    without: "HA states are shown in Proxbox only",
};

/// Makes sure the field exists; whether it does now.
pub async fn ensure(
    ctx: &SyncContext<'_>,
    report: &StageReport<'_>,
    spec: &FieldSpec,
) -> Result<bool, StageError> {
    let exists = || async {
        let found = ctx
            .netbox
            .list::<CustomField>(&[("name", spec.name.to_string())])
            .await?;
        Ok::<_, StageError>(found.iter().any(|f| f.name == spec.name))
    };
    if exists().await? {
        return Ok(true);
    }
    if ctx.options.dry_run {
        return Ok(false);
    }
    let new = NewCustomField {
        name: spec.name.into(),
        label: spec.label.into(),
        kind: "text".into(),
        object_types: spec.object_types.iter().map(|t| t.to_string()).collect(),
        description: spec.description.into(),
        ui_editable: "no".into(),
    };
    match ctx
        .netbox
        .create::<CustomField, _>(&[new])
        .await?
        .into_result()
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind == ErrorKind::Permission => {
            report.substep(
                "prerequisites",
                StepStatus::Completed,
                format!(
                    "The NetBox token may not create the custom field {}; {}. Create the field (text, on {}) or give the token that permission.",
                    spec.name,
                    spec.without,
                    spec.object_types.join(" and ")
                ),
            );
            Ok(false)
        }
        // A concurrent sync created it between our look and our create.
        Err(e) if e.kind == ErrorKind::Validation && exists().await? => Ok(true),
        Err(e) => Err(e.into()),
    }
}
