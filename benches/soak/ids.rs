//! The NetBox id of every object Proxbox keeps for the simulated cluster, by what it stands
//! for in Proxmox (a device by its node, a VM by its guest's identity, an interface by that
//! and its `netN`, a disk by its key, a MAC and an address by their value on that
//! interface). Compared from one cycle to the next: an object whose Proxmox source is still
//! there must keep its id, through faults, kills and restarts — never a delete-and-recreate.

use std::collections::{BTreeMap, HashMap};

use proxbox::server::sync::managed::recorded_identity;
use proxbox_netbox::models::{
    Cluster, Device, IpAddress, MacAddress, VirtualDisk, VirtualMachine, VmInterface,
};
use proxbox_netbox::{NbError, NetboxClient};

/// What an object stands for → its NetBox id.
pub type Ids = BTreeMap<String, u64>;

pub async fn ids(netbox: &NetboxClient, cluster_name: &str) -> Result<Ids, NbError> {
    let mut out = Ids::new();
    let clusters: Vec<Cluster> = netbox.list(&[("name", cluster_name.to_string())]).await?;
    let Some(cluster) = clusters.iter().find(|c| c.name == cluster_name) else {
        return Ok(out);
    };
    let by_cluster = [("cluster_id", cluster.id.to_string())];
    let (devices, vms) = tokio::try_join!(
        netbox.list::<Device>(&by_cluster),
        netbox.list::<VirtualMachine>(&by_cluster),
    )?;
    out.insert(format!("cluster {cluster_name}"), cluster.id);
    for device in &devices {
        if let Some(identity) = recorded_identity(&device.custom_fields) {
            out.insert(format!("device {identity}"), device.id);
        }
    }
    let mut identity_of: HashMap<u64, &str> = HashMap::new();
    for vm in &vms {
        if let Some(identity) = recorded_identity(&vm.custom_fields) {
            identity_of.insert(vm.id, identity);
            out.insert(format!("vm {identity}"), vm.id);
        }
    }
    let vm_ids: Vec<u64> = identity_of.keys().copied().collect();
    let (interfaces, disks) = tokio::try_join!(
        netbox.list_in::<VmInterface, _>("virtual_machine_id", &vm_ids),
        netbox.list_in::<VirtualDisk, _>("virtual_machine_id", &vm_ids),
    )?;
    let mut interface_key: HashMap<u64, String> = HashMap::new();
    for interface in &interfaces {
        let Some(identity) = identity_of.get(&interface.virtual_machine.id) else {
            continue;
        };
        let key = format!("{identity} {}", interface.name);
        interface_key.insert(interface.id, key.clone());
        out.insert(format!("interface {key}"), interface.id);
    }
    for disk in &disks {
        if let Some(identity) = identity_of.get(&disk.virtual_machine.id) {
            out.insert(format!("disk {identity} {}", disk.name), disk.id);
        }
    }
    let interface_ids: Vec<u64> = interface_key.keys().copied().collect();
    let (macs, addresses) = tokio::try_join!(
        netbox.list_in::<MacAddress, _>("vminterface_id", &interface_ids),
        netbox.list_in::<IpAddress, _>("vminterface_id", &interface_ids),
    )?;
    for mac in &macs {
        if let Some(on) = mac.assigned_object_id.and_then(|id| interface_key.get(&id)) {
            let value = mac.mac_address.to_uppercase();
            out.insert(format!("mac {value} on {on}"), mac.id);
        }
    }
    for address in &addresses {
        if let Some(on) = address
            .assigned_object_id
            .and_then(|id| interface_key.get(&id))
        {
            out.insert(format!("ip {} on {on}", address.address), address.id);
        }
    }
    Ok(out)
}

/// Objects whose source was there in both cycles and whose id changed, as lines.
pub fn changed(before: &Ids, after: &Ids) -> Vec<String> {
    before
        .iter()
        .filter_map(|(key, old)| match after.get(key) {
            Some(new) if new != old => Some(format!("{key}: NetBox id {old} → {new}")),
            _ => None,
        })
        .collect()
}
