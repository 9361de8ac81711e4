//! One file per stage, in full-update order. Each stage reads what it needs from Proxmox
//! and NetBox, plans, applies through `sync::apply`, and leaves what later stages need in
//! the run's `RunState`.

pub mod devices;
pub mod ip_addresses;
pub mod virtual_machines;
pub mod vm_disks;
pub mod vm_interfaces;

pub use devices::SyncedCluster;
pub use virtual_machines::SyncedGuest;
pub use vm_interfaces::SyncedInterface;
