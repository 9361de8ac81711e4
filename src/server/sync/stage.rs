//! The stages of a sync, their order, and what each pulls in.

use serde::{Deserialize, Serialize};

/// Stages in the order a full update runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Devices,
    VirtualMachines,
    VmDisks,
    VmInterfaces,
    IpAddresses,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Devices,
        Stage::VirtualMachines,
        Stage::VmDisks,
        Stage::VmInterfaces,
        Stage::IpAddresses,
    ];

    /// The name in events, routes and the job log (`virtual-machines`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Devices => "devices",
            Stage::VirtualMachines => "virtual-machines",
            Stage::VmDisks => "vm-disks",
            Stage::VmInterfaces => "vm-interfaces",
            Stage::IpAddresses => "ip-addresses",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What must exist in NetBox before this stage can write: a VM needs its cluster and
    /// node device, a disk or interface its VM, an address its interface.
    pub fn depends_on(self) -> &'static [Stage] {
        match self {
            Stage::Devices => &[],
            Stage::VirtualMachines => &[Stage::Devices],
            Stage::VmDisks | Stage::VmInterfaces => &[Stage::VirtualMachines],
            Stage::IpAddresses => &[Stage::VmInterfaces],
        }
    }
}

/// The stages a run executes for a request: the requested ones, everything they depend on,
/// in full-update order. An empty request means a full update.
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
            plan_stages(&[Stage::IpAddresses]),
            [
                Stage::Devices,
                Stage::VirtualMachines,
                Stage::VmInterfaces,
                Stage::IpAddresses
            ]
        );
        assert_eq!(
            plan_stages(&[Stage::VmDisks, Stage::Devices]),
            [Stage::Devices, Stage::VirtualMachines, Stage::VmDisks]
        );
        assert_eq!(plan_stages(&[Stage::Devices]), [Stage::Devices]);
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
}
