//! The stages of a sync, their order, and what each pulls in.

use serde::{Deserialize, Serialize};

use crate::models::SyncTarget;

/// The stages of a full update of the system Proxbox replaces, by name and in its order
/// (docs/contract.md, "Stage names"; the recorded stream `full-update-first-sync.sse`). Its stream
/// consumers draw a stage indicator per name; Proxbox's [`Stage`]s are these names, in
/// this order, as each is built.
pub const FULL_UPDATE_ORDER: [&str; 12] = [
    "devices",
    "storage",
    "virtual-machines",
    "virtual-disks",
    "task-history",
    "backups",
    "snapshots",
    "replications",
    "backup-routines",
    "node-interfaces",
    "vm-interfaces",
    "vm-ip-addresses",
];

/// Stages in the order a full update runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Devices,
    Storage,
    VirtualMachines,
    VirtualDisks,
    TaskHistory,
    Backups,
    Snapshots,
    Replications,
    BackupRoutines,
    NodeInterfaces,
    VmInterfaces,
    VmIpAddresses,
}

impl Stage {
    pub const ALL: [Stage; 12] = [
        Stage::Devices,
        Stage::Storage,
        Stage::VirtualMachines,
        Stage::VirtualDisks,
        Stage::TaskHistory,
        Stage::Backups,
        Stage::Snapshots,
        Stage::Replications,
        Stage::BackupRoutines,
        Stage::NodeInterfaces,
        Stage::VmInterfaces,
        Stage::VmIpAddresses,
    ];

    /// The name in events, routes and the job log (`virtual-machines`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Devices => "devices",
            Stage::VirtualMachines => "virtual-machines",
            Stage::VirtualDisks => "virtual-disks",
            Stage::Storage => "storage",
            Stage::TaskHistory => "task-history",
            Stage::Backups => "backups",
            Stage::Snapshots => "snapshots",
            Stage::Replications => "replications",
            Stage::BackupRoutines => "backup-routines",
            Stage::NodeInterfaces => "node-interfaces",
            Stage::VmInterfaces => "vm-interfaces",
            Stage::VmIpAddresses => "vm-ip-addresses",
        }
    }

    /// Names earlier Proxbox versions used, still accepted in routes, `proxbox sync
    /// --stage`, stored schedules and job scopes.
    fn alias(self) -> Option<&'static str> {
        match self {
            Stage::VirtualDisks => Some("vm-disks"),
            Stage::VmIpAddresses => Some("ip-addresses"),
            _ => None,
        }
    }

    /// The stage of a name or an old alias.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.name() == name || s.alias() == Some(name))
    }

    /// In words, for progress messages (`Virtual machines synchronization started.`).
    pub fn title(self) -> &'static str {
        match self {
            Stage::Devices => "Devices",
            Stage::VirtualMachines => "Virtual machines",
            Stage::VirtualDisks => "Virtual disks",
            Stage::Storage => "Storage",
            Stage::TaskHistory => "Task history",
            Stage::Backups => "Backups",
            Stage::Snapshots => "Snapshots",
            Stage::Replications => "Replications",
            Stage::BackupRoutines => "Backup routines",
            Stage::NodeInterfaces => "Node interfaces",
            Stage::VmInterfaces => "VM interfaces",
            Stage::VmIpAddresses => "VM IP addresses",
        }
    }

    /// What must exist in NetBox before this stage can write: a VM needs its cluster and
    /// node device, a disk or interface its VM, an address its interface, a backup's journal
    /// entry its VM. The other inventory stages write only Proxbox's database.
    pub fn depends_on(self) -> &'static [Stage] {
        match self {
            Stage::Devices
            | Stage::Storage
            | Stage::TaskHistory
            | Stage::Snapshots
            | Stage::Replications
            | Stage::BackupRoutines => &[],
            Stage::Backups => &[Stage::VirtualMachines],
            Stage::VirtualMachines | Stage::NodeInterfaces => &[Stage::Devices],
            Stage::VirtualDisks | Stage::VmInterfaces => &[Stage::VirtualMachines],
            Stage::VmIpAddresses => &[Stage::VmInterfaces],
        }
    }
}

/// The stages a run executes for a request: the requested ones, everything they depend on,
/// in full-update order. An empty request means a full update.
impl Stage {
    /// Whether the stage has something of one node or guest to sync: a guest's run leaves
    /// out what belongs to no guest (storages, backup routines, node interfaces), a node's
    /// run syncs its device and interfaces.
    pub fn serves(self, target: &SyncTarget) -> bool {
        match target {
            SyncTarget::Guest { .. } => !matches!(
                self,
                Stage::Storage | Stage::BackupRoutines | Stage::NodeInterfaces
            ),
            SyncTarget::Node { .. } => matches!(self, Stage::Devices | Stage::NodeInterfaces),
        }
    }
}

pub fn plan_stages(requested: &[Stage]) -> Vec<Stage> {
    if requested.is_empty() {
        return Stage::ALL.to_vec();
    }
    let mut wanted: Vec<Stage> = Vec::new();
    let mut pending: Vec<Stage> = requested.to_vec();
    while let Some(stage) = pending.pop() {
        if !wanted.contains(&stage) {
            wanted.push(stage);
            pending.extend_from_slice(stage.depends_on());
        }
    }
    wanted.sort();
    wanted
}

/// The name of a run of every stage.
pub const FULL_UPDATE: &str = "full-update";

/// Parses stage names (from a form, a route or the CLI), naming the unknown one.
/// `full-update` (alone or among others) asks for every stage: the empty plan.
pub fn parse_stages(names: &[&str]) -> Result<Vec<Stage>, String> {
    if names.iter().any(|name| name.trim() == FULL_UPDATE) {
        return Ok(Vec::new());
    }
    names
        .iter()
        .map(|name| {
            Stage::parse(name.trim()).ok_or_else(|| {
                let known: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown stage {name:?}; the stages are {FULL_UPDATE}, {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_pulls_in_what_it_depends_on_in_full_update_order() {
        assert_eq!(
            plan_stages(&[Stage::VmIpAddresses]),
            [
                Stage::Devices,
                Stage::VirtualMachines,
                Stage::VmInterfaces,
                Stage::VmIpAddresses
            ]
        );
        assert_eq!(
            plan_stages(&[Stage::VirtualDisks, Stage::Devices]),
            [Stage::Devices, Stage::VirtualMachines, Stage::VirtualDisks]
        );
        assert_eq!(plan_stages(&[Stage::Devices]), [Stage::Devices]);
        assert_eq!(
            plan_stages(&[Stage::Backups, Stage::Storage]),
            [
                Stage::Devices,
                Stage::Storage,
                Stage::VirtualMachines,
                Stage::Backups
            ]
        );
        assert_eq!(plan_stages(&[Stage::TaskHistory]), [Stage::TaskHistory]);
        assert_eq!(plan_stages(&[]), Stage::ALL);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_named() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.name()), Some(stage));
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.name());
        }
        let err = parse_stages(&["devices", "vms"]).unwrap_err();
        assert!(
            err.contains("\"vms\"") && err.contains("virtual-machines"),
            "{err}"
        );
    }

    #[test]
    fn old_names_are_aliases_of_the_renamed_stages() {
        assert_eq!(
            parse_stages(&["vm-disks", "ip-addresses"]).unwrap(),
            [Stage::VirtualDisks, Stage::VmIpAddresses]
        );
        assert_eq!(Stage::VirtualDisks.name(), "virtual-disks");
    }

    #[test]
    fn stages_run_in_the_order_of_the_system_we_replace() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names, FULL_UPDATE_ORDER,
            "every stage of its full update exists"
        );
        let positions: Vec<usize> = Stage::ALL
            .iter()
            .map(|stage| {
                FULL_UPDATE_ORDER
                    .iter()
                    .position(|name| *name == stage.name())
                    .unwrap_or_else(|| panic!("{} is not a stage of the full update", stage.name()))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }
}
