//! The stages of a sync: one file each, and the registry below. Each stage reads what it
//! needs from Proxmox and NetBox (`read`), plans with a pure function of what it read, the
//! identity map and the overwrite policy (`plan…`), writes the plan through `sync::apply`,
//! and leaves what later stages need in the run's `RunState`. The inventory stages
//! (storage, task-history, backups, snapshots, replications, backup-routines) plan and
//! write Proxbox's own database through `sync::inventory` instead.
//!
//! A stage's unit tests sit beside its plan: a `#[cfg(test)] mod tests` at the end of its
//! file (or `tests.rs` in its folder), built from [`fixtures`], with no network.

pub mod backup_routines;
pub mod backups;
pub mod devices;
pub mod networks;
pub mod node_interfaces;
pub mod replications;
pub mod snapshots;
pub mod storage;
pub mod task_history;
pub mod virtual_disks;
pub mod virtual_machines;
pub mod vm_interfaces;
pub mod vm_ip_addresses;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod recorded_tests;
#[cfg(test)]
mod registry_tests;

use crate::models::SyncTarget;

/// Which runs a stage has something to sync in, besides a whole cluster's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only a whole cluster's run (storages, backup routines: they belong to no guest).
    Cluster,
    /// Also the run of one guest.
    Guests,
    /// Also the run of one node.
    Nodes,
    /// Also the run of one guest (its node's device) or one node.
    NodesAndGuests,
}

impl Reach {
    pub fn serves(self, target: &SyncTarget) -> bool {
        match target {
            SyncTarget::Guest { .. } => matches!(self, Reach::Guests | Reach::NodesAndGuests),
            SyncTarget::Node { .. } => matches!(self, Reach::Nodes | Reach::NodesAndGuests),
        }
    }
}

/// Declares the stages: the `Stage` enum, its names, titles, old names, dependencies and
/// reach, and the dispatch of a run to each stage's `run`, all from one list.
macro_rules! stage_registry {
    ($(
        $variant:ident => $module:path {
            name: $name:literal,
            title: $title:literal,
            aliases: [$($alias:literal),*],
            after: [$($dependency:ident),*],
            reach: $reach:ident $(,)?
        }
    )*) => {
        /// A stage of a sync, in full-update order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Stage {
            $($variant,)*
        }

        impl Stage {
            /// Every stage, in the order a full update runs them.
            pub const ALL: [Stage; [$($name),*].len()] = [$(Stage::$variant),*];

            /// The name in events, routes and the job log (`virtual-machines`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Stage::$variant => $name,)*
                }
            }

            /// In words, for progress messages (`Virtual machines synchronization started.`).
            pub fn title(self) -> &'static str {
                match self {
                    $(Stage::$variant => $title,)*
                }
            }

            /// Names earlier Proxbox versions used, still accepted in routes, `proxbox sync
            /// --stage`, stored schedules and job scopes.
            pub fn aliases(self) -> &'static [&'static str] {
                match self {
                    $(Stage::$variant => &[$($alias),*],)*
                }
            }

            /// What must exist in NetBox before this stage can write.
            pub fn depends_on(self) -> &'static [Stage] {
                match self {
                    $(Stage::$variant => &[$(Stage::$dependency),*],)*
                }
            }

            /// Which runs besides a whole cluster's the stage has something to sync in.
            pub fn reach(self) -> Reach {
                match self {
                    $(Stage::$variant => Reach::$reach,)*
                }
            }

            /// Runs the stage.
            pub async fn run(
                self,
                ctx: &$crate::server::sync::context::SyncContext<'_>,
                report: &mut $crate::server::sync::report::StageReport<'_>,
                state: &mut $crate::server::sync::state::RunState,
            ) -> Result<(), $crate::server::sync::failure::StageError> {
                match self {
                    $(Stage::$variant => { use $module as stage; stage::run(ctx, report, state).await })*
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use stage_registry;

// The registry: a new stage is its file and one entry here, in its place in the full
// update (the first twelve are the system we replace's, in its order: docs/contract.md).
// `after` names the stages whose NetBox objects it writes onto: a VM needs its node's
// device, a disk or interface its VM, an address its interface, a backup's journal entry
// its VM; the inventory stages write only Proxbox's database. The networks stage puts the
// guests' and nodes' addresses in prefixes, so it comes after both address stages.
stage_registry! {
    Devices => devices {
        name: "devices", title: "Devices", aliases: [], after: [], reach: NodesAndGuests,
    }
    Storage => storage {
        name: "storage", title: "Storage", aliases: [], after: [], reach: Cluster,
    }
    VirtualMachines => virtual_machines {
        name: "virtual-machines", title: "Virtual machines", aliases: [], after: [Devices],
        reach: Guests,
    }
    VirtualDisks => virtual_disks {
        name: "virtual-disks", title: "Virtual disks", aliases: ["vm-disks"],
        after: [VirtualMachines], reach: Guests,
    }
    TaskHistory => task_history {
        name: "task-history", title: "Task history", aliases: [], after: [], reach: Guests,
    }
    Backups => backups {
        name: "backups", title: "Backups", aliases: [], after: [VirtualMachines], reach: Guests,
    }
    Snapshots => snapshots {
        name: "snapshots", title: "Snapshots", aliases: [], after: [], reach: Guests,
    }
    Replications => replications {
        name: "replications", title: "Replications", aliases: [], after: [], reach: Guests,
    }
    BackupRoutines => backup_routines {
        name: "backup-routines", title: "Backup routines", aliases: [], after: [],
        reach: Cluster,
    }
    NodeInterfaces => node_interfaces {
        name: "node-interfaces", title: "Node interfaces", aliases: [], after: [Devices],
        reach: Nodes,
    }
    VmInterfaces => vm_interfaces {
        name: "vm-interfaces", title: "VM interfaces", aliases: [], after: [VirtualMachines],
        reach: Guests,
    }
    VmIpAddresses => vm_ip_addresses {
        name: "vm-ip-addresses", title: "VM IP addresses", aliases: ["ip-addresses"],
        after: [VmInterfaces], reach: Guests,
    }
    Networks => networks {
        name: "networks", title: "Networks", aliases: [],
        after: [VmIpAddresses, NodeInterfaces], reach: Guests,
    }
}

impl Stage {
    /// The stage of a name or an old alias.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|s| s.name() == name || s.aliases().contains(&name))
    }

    /// Whether the stage has something of one node or guest to sync.
    pub fn serves(self, target: &SyncTarget) -> bool {
        self.reach().serves(target)
    }
}

/// A stage is written and read by its name (an old name is read as the stage it became).
impl serde::Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Stage, D::Error> {
        let name = String::deserialize(deserializer)?;
        Stage::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown stage {name:?}")))
    }
}
