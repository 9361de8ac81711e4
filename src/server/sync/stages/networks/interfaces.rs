//! Guests on VNets: a NIC whose `bridge` is a VNet of a VLAN or QinQ zone is its VM
//! interface in access mode on the VNet's VLAN; one on a VNet of a VXLAN or EVPN zone is
//! terminated on the VNet's L2VPN. The vm-interfaces stage leaves these NICs' VLAN to this
//! stage, which knows the VNets' VLANs.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use super::reconcile::Wanted;
use super::wanted::{ClusterSdn, Overlay};
use crate::server::sync::managed::tags;
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::state::{SyncedGuest, SyncedInterface};

/// A synced guest interface whose NIC is bridged to a VNet of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct VnetNic {
    pub interface_id: u64,
    /// `web/net0`.
    pub name: String,
    /// `lab/qemu/100/net0`: the identity of its L2VPN termination.
    pub identity: String,
    pub vnet: String,
    pub overlay: Overlay,
}

/// The run's interfaces whose NIC is on one of the cluster's VNets.
pub fn vnet_nics(
    sdn: &ClusterSdn,
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
) -> Vec<VnetNic> {
    interfaces
        .iter()
        .filter_map(|interface| {
            let guest = &guests[interface.guest];
            if guest.endpoint_id != sdn.endpoint_id {
                return None;
            }
            let net = guest.nets.iter().find(|n| n.key == interface.key)?;
            let vnet = net.bridge.as_deref()?;
            if !sdn.vnets.iter().any(|v| v.vnet == vnet) {
                return None;
            }
            Some(VnetNic {
                interface_id: interface.netbox_id,
                name: format!("{}/{}", guest.name, interface.key),
                identity: format!(
                    "{}/{}/{}/{}",
                    sdn.cluster,
                    guest.kind.as_str(),
                    guest.vmid,
                    interface.key
                ),
                vnet: vnet.to_string(),
                overlay: sdn.overlay_of(vnet),
            })
        })
        .collect()
}

/// Each VNet NIC's interface in access mode on its VNet's VLAN (`vlans`: VNet → VLAN id),
/// or without a VLAN on a VNet that has none. A VLAN an interface already has is changed
/// only when Proxbox owns interfaces (`owns`); a blank one is always filled in.
pub fn plan_interface_vlans(
    nics: &[VnetNic],
    current: &[VmInterface],
    vlans: &HashMap<String, u64>,
    owns: bool,
) -> Plan<VmInterfaceWrite> {
    let current: HashMap<u64, &VmInterface> = current.iter().map(|i| (i.id, i)).collect();
    let mut plan = Plan::new("VM interfaces on VNets");
    for nic in nics {
        let Some(interface) = current.get(&nic.interface_id) else {
            continue;
        };
        let vlan = match nic.overlay {
            Overlay::Vlan => vlans.get(&nic.vnet).copied(),
            _ => None,
        };
        let mode = vlan.map(|_| "access".to_string());
        let current_vlan = interface.untagged_vlan.as_ref().map(|v| v.id);
        let current_mode = interface.mode.as_ref().map(|m| m.value.clone());
        if (current_vlan, &current_mode) == (vlan, &mode) {
            continue;
        }
        let blank = current_vlan.is_none() && current_mode.is_none();
        let label = Label::new(&nic.name, "interface", "VM interface");
        if owns || blank {
            let patch = VmInterfaceWrite {
                id: Some(interface.id),
                untagged_vlan: (current_vlan != vlan).then_some(vlan),
                mode: (current_mode != mode).then_some(mode),
                ..Default::default()
            };
            plan.update((), label, interface.id, patch);
        } else {
            let why = format!(
                "its VLAN is set in NetBox and interfaces are not Proxbox's to overwrite; VNet {} says {}",
                nic.vnet,
                vlan.map_or("none".to_string(), |id| format!("VLAN id {id}"))
            );
            plan.leave(label.warned(Some(why)), Some(interface.id));
        }
    }
    plan
}

/// An L2VPN termination per NIC on a VNet of a VXLAN or EVPN zone (`l2vpns`: VNet → L2VPN
/// id).
pub fn terminations(
    nics: &[VnetNic],
    l2vpns: &HashMap<String, u64>,
) -> Vec<Wanted<L2vpnTerminationWrite>> {
    nics.iter()
        .filter(|nic| matches!(nic.overlay, Overlay::L2vpn(_)))
        .filter_map(|nic| {
            let l2vpn = *l2vpns.get(&nic.vnet)?;
            Some(Wanted {
                identity: nic.identity.clone(),
                natural: format!("{VM_INTERFACE}/{}", nic.interface_id),
                label: Label::new(
                    format!("{} on {}", nic.name, nic.vnet),
                    "termination",
                    "L2VPN termination",
                ),
                body: L2vpnTerminationWrite {
                    l2vpn: Some(l2vpn),
                    assigned_object_type: Some(VM_INTERFACE.into()),
                    assigned_object_id: Some(nic.interface_id),
                    tags: tags(),
                    ..Default::default()
                },
            })
        })
        .collect()
}
