//! What each stage needs of a Proxmox token, and what it cannot read without: the one
//! table `proxbox doctor`, the endpoint page's "Check permissions" and the start of every
//! run read. The privileges are those the Proxmox VE API checks on the paths a stage reads
//! (the API schema's `permissions`), and those behind lists Proxmox filters without a word:
//! `/cluster/resources` leaves out guests without `VM.Audit`, storage content hides backup
//! volumes without `VM.Backup`, a node's task list hides other users' tasks without
//! `Sys.Audit`. The guest agent needs `VM.Monitor` on PVE 8 and `VM.GuestAgent.Audit` on
//! PVE 9, which dropped `VM.Monitor`.

use proxbox_pve::Permissions;
use serde::Serialize;

use super::context::SyncContext;
use super::failure::RUN_PHASE;
use super::stage::Stage;
use super::state::RunState;
use crate::events::{ErrorCategory, ErrorDetail, SyncEvent};

/// A privilege on an ACL path.
type Grant = (&'static str, &'static str);

/// Something a stage reads, and the privileges that let it: any one of `grants`, each a
/// set of privileges held together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub reads: &'static str,
    pub grants: Vec<Vec<Grant>>,
    /// Without it the stage cannot do its work; else it runs and leaves this out.
    pub blocks: bool,
}

fn need(reads: &'static str, blocks: bool, grants: &[&[Grant]]) -> Need {
    Need {
        reads,
        grants: grants.iter().map(|g| g.to_vec()).collect(),
        blocks,
    }
}

fn guests() -> Need {
    need(
        "guests and their configuration",
        true,
        &[&[("/vms", "VM.Audit")]],
    )
}

fn guest_agent(major: u32, reads: &'static str) -> Need {
    if major >= 9 {
        need(
            reads,
            false,
            &[
                &[("/vms", "VM.GuestAgent.Audit")],
                &[("/vms", "VM.GuestAgent.Unrestricted")],
            ],
        )
    } else {
        need(reads, false, &[&[("/vms", "VM.Monitor")]])
    }
}

/// What a stage needs on a Proxmox VE of this major version.
pub fn needs(stage: Stage, major: u32) -> Vec<Need> {
    let cluster = || {
        need(
            "the cluster and its nodes (/cluster/status)",
            true,
            &[&[("/", "Sys.Audit")]],
        )
    };
    match stage {
        Stage::Devices => vec![cluster()],
        Stage::NodeInterfaces => vec![],
        Stage::VirtualMachines => vec![
            guests(),
            guest_agent(major, "the OS the guest agent reports (platforms)"),
            need(
                "the guests' HA state (/cluster/ha/resources)",
                false,
                &[&[("/", "Sys.Audit")]],
            ),
        ],
        Stage::VirtualDisks | Stage::VmInterfaces | Stage::Snapshots => vec![guests()],
        Stage::VmIpAddresses => vec![
            guests(),
            guest_agent(major, "QEMU guests' addresses from the guest agent"),
        ],
        Stage::Storage => vec![need(
            "storages and their use",
            true,
            &[&[("/storage", "Datastore.Audit")]],
        )],
        Stage::Backups => vec![
            need(
                "storage content",
                true,
                &[
                    &[("/storage", "Datastore.Audit")],
                    &[("/storage", "Datastore.AllocateSpace")],
                ],
            ),
            need(
                "backup volumes in the storage content",
                false,
                &[
                    &[
                        ("/storage", "Datastore.AllocateSpace"),
                        ("/vms", "VM.Backup"),
                    ],
                    &[("/storage", "Datastore.Allocate")],
                ],
            ),
        ],
        Stage::TaskHistory => vec![need(
            "tasks of other users than the token",
            false,
            &[&[("/nodes", "Sys.Audit")]],
        )],
        Stage::Replications => vec![],
        Stage::BackupRoutines => vec![need(
            "backup jobs (/cluster/backup)",
            true,
            &[&[("/", "Sys.Audit")]],
        )],
        // Proxmox lists only the zones (and their VNets and subnets) the token may audit.
        Stage::Networks => vec![
            guests(),
            need(
                "SDN zones, VNets and subnets",
                false,
                &[&[("/sdn/zones", "SDN.Audit")]],
            ),
        ],
    }
}

/// The NetBox models a sync writes (API list path), with the stages that write them: what
/// a NetBox token must be allowed to add and change.
pub fn netbox_writes() -> Vec<(&'static str, Vec<Stage>)> {
    use Stage::*;
    vec![
        ("extras/tags", vec![Devices, VirtualMachines]),
        ("extras/custom-fields", vec![Devices]),
        ("dcim/sites", vec![Devices]),
        ("dcim/manufacturers", vec![Devices]),
        ("dcim/device-types", vec![Devices]),
        ("dcim/device-roles", vec![Devices]),
        ("dcim/devices", vec![Devices]),
        ("virtualization/cluster-types", vec![Devices]),
        ("virtualization/clusters", vec![Devices]),
        ("virtualization/virtual-machines", vec![VirtualMachines]),
        (
            "virtualization/virtual-machine-types",
            vec![VirtualMachines],
        ),
        ("dcim/platforms", vec![VirtualMachines]),
        ("virtualization/virtual-disks", vec![VirtualDisks]),
        ("dcim/interfaces", vec![NodeInterfaces]),
        ("virtualization/interfaces", vec![VmInterfaces, Networks]),
        ("dcim/mac-addresses", vec![NodeInterfaces, VmInterfaces]),
        ("ipam/vlans", vec![NodeInterfaces, VmInterfaces, Networks]),
        (
            "ipam/ip-addresses",
            vec![NodeInterfaces, VmIpAddresses, Networks],
        ),
        ("ipam/vlan-groups", vec![Networks]),
        ("ipam/vrfs", vec![Networks]),
        ("ipam/prefixes", vec![Networks]),
        ("ipam/ip-ranges", vec![Networks]),
        ("vpn/l2vpns", vec![Networks]),
        ("vpn/l2vpn-terminations", vec![Networks]),
        ("extras/journal-entries", vec![Backups]),
    ]
}

/// A need the token does not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub reads: &'static str,
    /// What to grant: "VM.GuestAgent.Audit on /vms (or VM.GuestAgent.Unrestricted on /vms)".
    pub grant: String,
    pub blocks: bool,
    /// Paths below the need's path where the token holds it (some guests or storages only).
    pub only_on: Vec<String>,
}

/// How a stage fares with the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// It reads everything it needs.
    Ready,
    /// It runs, leaving out what `missing` lists.
    Partial,
    /// It cannot do its work.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageAccess {
    pub stage: Stage,
    pub verdict: Verdict,
    pub missing: Vec<Missing>,
}

fn spelled(grant: &[Grant]) -> String {
    grant
        .iter()
        .map(|(path, privilege)| format!("{privilege} on {path}"))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn holds(permissions: &Permissions, grant: &[Grant]) -> bool {
    grant
        .iter()
        .all(|(path, privilege)| permissions.holds_any(path, &[privilege]))
}

/// Each stage's verdict for a token with these permissions on a Proxmox of `major` version.
pub fn check(permissions: &Permissions, major: u32, stages: &[Stage]) -> Vec<StageAccess> {
    stages
        .iter()
        .map(|&stage| {
            let missing: Vec<Missing> = needs(stage, major)
                .into_iter()
                .filter(|need| !need.grants.iter().any(|g| holds(permissions, g)))
                .map(|need| {
                    let first = &need.grants[0];
                    let mut grant = spelled(first);
                    let others: Vec<String> = need.grants[1..].iter().map(|g| spelled(g)).collect();
                    if !others.is_empty() {
                        grant = format!("{grant} (or {})", others.join(", or "));
                    }
                    let only_on = first
                        .iter()
                        .flat_map(|(path, privilege)| permissions.held_below(path, &[privilege]))
                        .collect();
                    Missing {
                        reads: need.reads,
                        grant,
                        blocks: need.blocks,
                        only_on,
                    }
                })
                .collect();
            let verdict = if missing.iter().any(|m| m.blocks) {
                Verdict::Blocked
            } else if missing.is_empty() {
                Verdict::Ready
            } else {
                Verdict::Partial
            };
            StageAccess {
                stage,
                verdict,
                missing,
            }
        })
        .collect()
}

/// The major version of a Proxmox VE version string (`9` of `9.0.3`).
pub fn major_version(version: &str) -> u32 {
    version
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(8)
}

/// Whether a token with these permissions may ask the guest agents of this Proxmox at all.
pub fn may_ask_guest_agents(permissions: &Permissions, major: u32) -> bool {
    let agent = guest_agent(major, "");
    agent.grants.iter().any(|g| {
        holds(permissions, g)
            || g.iter()
                .any(|(path, p)| !permissions.held_below(path, &[p]).is_empty())
    })
}

/// At the start of a run: reads each endpoint's token privileges once and says, in one
/// `error_detail` per missing privilege, what the run's stages cannot read and what to
/// grant; the guest agents of an endpoint whose token may ask none are not asked (their
/// addresses and platforms stay as NetBox has them). A Proxmox that does not answer the
/// question is left to the stages, as before.
pub async fn announce_missing(ctx: &SyncContext<'_>, stages: &[Stage], state: &mut RunState) {
    for source in &ctx.sources {
        let (version, permissions) = tokio::join!(source.pve.version(), source.pve.permissions());
        let (Ok(version), Ok(permissions)) = (version, permissions) else {
            tracing::debug!(endpoint = %source.endpoint_name, "the token's privileges could not be read");
            continue;
        };
        let major = major_version(&version.value.version);
        if !may_ask_guest_agents(&permissions, major) {
            state.no_guest_agent.insert(source.endpoint_id);
        }
        // One word per privilege, naming every stage it holds back.
        let mut by_grant: Vec<(String, Vec<(Stage, Missing)>)> = Vec::new();
        for access in check(&permissions, major, stages) {
            for missing in access.missing {
                match by_grant
                    .iter_mut()
                    .find(|(grant, _)| *grant == missing.grant)
                {
                    Some((_, stages)) => stages.push((access.stage, missing)),
                    None => by_grant.push((missing.grant.clone(), vec![(access.stage, missing)])),
                }
            }
        }
        for (grant, held_back) in by_grant {
            ctx.sink.emit(SyncEvent::ErrorDetail(missing_detail(
                &source.endpoint_name,
                &grant,
                &held_back,
            )));
        }
    }
}

fn missing_detail(endpoint: &str, grant: &str, held_back: &[(Stage, Missing)]) -> ErrorDetail {
    let effects: Vec<String> = held_back
        .iter()
        .map(|(stage, missing)| {
            let outcome = if missing.blocks {
                "cannot run without"
            } else {
                "runs without"
            };
            format!("{} {outcome} {}", stage.name(), missing.reads)
        })
        .collect();
    let partly = held_back
        .iter()
        .find(|(_, m)| !m.only_on.is_empty())
        .map(|(_, m)| format!(" (held on {} only)", m.only_on.join(", ")))
        .unwrap_or_default();
    ErrorDetail {
        event: "error_detail".into(),
        phase: RUN_PHASE.into(),
        item: None,
        category: ErrorCategory::Permission,
        message: format!("{endpoint}: the token lacks {grant}: {}", effects.join("; ")),
        detail: format!("Missing on Proxmox: {grant}{partly}"),
        suggestion: format!(
            "Grant {grant} to the API token (Datacenter → Permissions in Proxmox), then sync again; `proxbox doctor` lists everything the token lacks"
        ),
        traceback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auditor(pve9: bool) -> Permissions {
        // The built-in PVEAuditor role on `/`, written out by hand (pve-access-control).
        let mut privileges = json!({
            "Datastore.Audit": 1, "Mapping.Audit": 1, "Pool.Audit": 1, "SDN.Audit": 1,
            "Sys.Audit": 1, "VM.Audit": 1
        });
        if pve9 {
            privileges["VM.GuestAgent.Audit"] = json!(1);
        }
        Permissions::from_data(
            &json!({"/": privileges, "/vms": privileges, "/storage": privileges, "/nodes": privileges}),
        )
    }

    fn verdicts(access: &[StageAccess]) -> Vec<(&'static str, Verdict)> {
        access
            .iter()
            .filter(|a| a.verdict != Verdict::Ready)
            .map(|a| (a.stage.name(), a.verdict))
            .collect()
    }

    #[test]
    fn an_auditor_token_misses_the_agent_on_pve8_and_backup_volumes_on_both() {
        let on8 = check(&auditor(false), 8, &Stage::ALL);
        assert_eq!(
            verdicts(&on8),
            [
                ("virtual-machines", Verdict::Partial),
                ("backups", Verdict::Partial),
                ("vm-ip-addresses", Verdict::Partial),
            ]
        );
        let addresses = on8
            .iter()
            .find(|a| a.stage == Stage::VmIpAddresses)
            .unwrap();
        assert_eq!(addresses.missing[0].grant, "VM.Monitor on /vms");
        let on9 = check(&auditor(true), 9, &Stage::ALL);
        assert_eq!(verdicts(&on9), [("backups", Verdict::Partial)]);
        let backups = on9.iter().find(|a| a.stage == Stage::Backups).unwrap();
        assert_eq!(
            backups.missing[0].grant,
            "Datastore.AllocateSpace on /storage and VM.Backup on /vms (or Datastore.Allocate on /storage)"
        );
    }

    #[test]
    fn a_token_without_datastore_audit_or_the_agent_is_told_per_stage() {
        let token = Permissions::from_data(&json!({
            "/": {"Sys.Audit": 1, "VM.Audit": 1},
            "/vms": {"Sys.Audit": 1, "VM.Audit": 1},
            "/nodes": {"Sys.Audit": 1, "VM.Audit": 1},
            "/vms/105": {"VM.Audit": 0, "VM.GuestAgent.Audit": 0}
        }));
        let access = check(&token, 9, &Stage::ALL);
        assert_eq!(
            verdicts(&access),
            [
                ("storage", Verdict::Blocked),
                ("virtual-machines", Verdict::Partial),
                ("backups", Verdict::Blocked),
                ("vm-ip-addresses", Verdict::Partial),
                ("networks", Verdict::Partial),
            ]
        );
        let networks = access.iter().find(|a| a.stage == Stage::Networks).unwrap();
        assert_eq!(networks.missing[0].grant, "SDN.Audit on /sdn/zones");
        let storage = access.iter().find(|a| a.stage == Stage::Storage).unwrap();
        assert_eq!(storage.missing[0].grant, "Datastore.Audit on /storage");
        let agent = &access
            .iter()
            .find(|a| a.stage == Stage::VmIpAddresses)
            .unwrap()
            .missing[0];
        assert_eq!(
            agent.grant,
            "VM.GuestAgent.Audit on /vms (or VM.GuestAgent.Unrestricted on /vms)"
        );
        assert_eq!(agent.only_on, ["/vms/105"]);
        assert!(
            may_ask_guest_agents(&token, 9),
            "guest 105's agent may be asked"
        );
        assert!(!may_ask_guest_agents(&auditor(false), 8));
    }

    #[test]
    fn versions_are_read_by_their_major_number() {
        assert_eq!(major_version("9.0.3"), 9);
        assert_eq!(major_version("8.3.2"), 8);
        assert_eq!(major_version("7.4-17"), 7);
    }
}
