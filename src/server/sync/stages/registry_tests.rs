//! The registry is the one list of stages: a stage added to it — here a stage of its own,
//! declared in this test beside the real ones — is named, parsed by its name and old name,
//! ordered, given its dependencies and reach, and dispatched to its `run`, with nothing
//! else written. The tables below are written by hand.

use crate::models::SyncTarget;
use crate::server::sync::stage::{plan_stages, Stage};

mod with_a_new_stage {
    /// A stage as its file would be: a `run` of the registry's signature.
    mod orphan_audit {
        use crate::server::sync::context::SyncContext;
        use crate::server::sync::failure::StageError;
        use crate::server::sync::report::StageReport;
        use crate::server::sync::state::RunState;

        pub async fn run(
            _ctx: &SyncContext<'_>,
            _report: &mut StageReport<'_>,
            _state: &mut RunState,
        ) -> Result<(), StageError> {
            Ok(())
        }
    }

    use super::super::Reach;
    use crate::server::sync::stages::{devices, stage_registry, virtual_machines};

    stage_registry! {
        Devices => devices {
            name: "devices", title: "Devices", aliases: [], after: [], reach: NodesAndGuests,
        }
        VirtualMachines => virtual_machines {
            name: "virtual-machines", title: "Virtual machines", aliases: [],
            after: [Devices], reach: Guests,
        }
        OrphanAudit => orphan_audit {
            name: "orphan-audit", title: "Orphan audit", aliases: ["audit"],
            after: [VirtualMachines], reach: Cluster,
        }
    }

    #[test]
    fn the_new_stage_is_known_by_its_entry_alone() {
        assert_eq!(
            Stage::ALL,
            [Stage::Devices, Stage::VirtualMachines, Stage::OrphanAudit]
        );
        assert_eq!(Stage::OrphanAudit.name(), "orphan-audit");
        assert_eq!(Stage::OrphanAudit.title(), "Orphan audit");
        assert_eq!(Stage::OrphanAudit.aliases(), ["audit"]);
        assert_eq!(Stage::OrphanAudit.depends_on(), [Stage::VirtualMachines]);
        assert_eq!(Stage::OrphanAudit.reach(), Reach::Cluster);
        // Its dispatch is generated with the registry's signature (not run: it needs a sync).
        let _dispatch = Stage::run;
    }
}

#[test]
fn each_stage_serves_the_runs_of_one_guest_or_node_it_has_something_of() {
    let guest = SyncTarget::Guest { vmid: 100 };
    let node = SyncTarget::Node {
        name: "pve1".into(),
    };
    // (stage, in a guest's run, in a node's run), by hand.
    let table = [
        ("devices", true, true),
        ("storage", false, false),
        ("virtual-machines", true, false),
        ("virtual-disks", true, false),
        ("task-history", true, false),
        ("backups", true, false),
        ("snapshots", true, false),
        ("replications", true, false),
        ("backup-routines", false, false),
        ("node-interfaces", false, true),
        ("vm-interfaces", true, false),
        ("vm-ip-addresses", true, false),
        ("networks", true, false),
    ];
    for (name, in_guest_run, in_node_run) in table {
        let stage = Stage::parse(name).unwrap();
        assert_eq!(
            stage.serves(&guest),
            in_guest_run,
            "{name} in a guest's run"
        );
        assert_eq!(stage.serves(&node), in_node_run, "{name} in a node's run");
    }
    assert_eq!(table.len(), Stage::ALL.len(), "every stage is in the table");
}

#[test]
fn a_stage_is_written_and_read_by_its_name_and_read_by_its_old_name() {
    for stage in Stage::ALL {
        let json = serde_json::to_value(stage).unwrap();
        assert_eq!(json, stage.name());
        assert_eq!(serde_json::from_value::<Stage>(json).unwrap(), stage);
    }
    let old: Stage = serde_json::from_value(serde_json::json!("vm-disks")).unwrap();
    assert_eq!(old.name(), "virtual-disks");
    let unknown = serde_json::from_value::<Stage>(serde_json::json!("vms")).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown stage \"vms\""),
        "{unknown}"
    );
    assert_eq!(
        plan_stages(&[Stage::parse("ip-addresses").unwrap()])
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>(),
        [
            "devices",
            "virtual-machines",
            "vm-interfaces",
            "vm-ip-addresses"
        ]
    );
}
