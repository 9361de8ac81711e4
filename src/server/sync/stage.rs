//! Which stages a run executes: what a request asks for, with what it depends on, in the
//! order of the registry (`sync::stages`).

pub use super::stages::{Reach, Stage};

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

    /// The stages of a full update of the system Proxbox replaces, by name and in its
    /// order (docs/contract.md, "Stage names"; the recorded stream
    /// `full-update-first-sync.sse`), written here by hand: its stream consumers draw a
    /// stage indicator per name.
    const FULL_UPDATE_ORDER: [&str; 12] = [
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

    /// Proxbox's own stages, which come after the twelve.
    const OWN_STAGES: [&str; 1] = ["networks"];

    #[test]
    fn stages_run_in_the_order_of_the_system_we_replace() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names[..FULL_UPDATE_ORDER.len()],
            FULL_UPDATE_ORDER,
            "every stage of its full update exists, first and in its order"
        );
        assert_eq!(names[FULL_UPDATE_ORDER.len()..], OWN_STAGES);
        let names = &names[..FULL_UPDATE_ORDER.len()];
        let positions: Vec<usize> = names
            .iter()
            .map(|stage| {
                FULL_UPDATE_ORDER
                    .iter()
                    .position(|name| name == stage)
                    .unwrap_or_else(|| panic!("{stage} is not a stage of the full update"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    }
}
