//! One file per stage, in full-update order. Each stage reads what it needs from Proxmox
//! and NetBox (`read`), plans with a pure function of what it read, the identity map and the
//! overwrite policy (`plan…`), writes the plan through `sync::apply`, and leaves what later
//! stages need in the run's `RunState`. The inventory stages (storage, task-history,
//! backups, snapshots, replications, backup-routines) plan and write Proxbox's own database
//! through `sync::inventory` instead.

pub mod backup_routines;
pub mod backups;
pub mod devices;
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
