//! One file per stage.

pub mod devices;
pub mod virtual_machines;
pub mod vm_disks;
