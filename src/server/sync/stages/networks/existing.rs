//! How the networks stage compares what NetBox has with what it wants: each model's own
//! unique key and the fields Proxbox keeps up to date on the objects it made.

use ipnet::IpNet;
use proxbox_netbox::models::*;

use super::reconcile::{differs, Existing};
use super::wanted::in_vrf;
use crate::server::sync::addresses::host;
use crate::server::sync::managed::is_managed;
use crate::server::sync::plan::Label;

fn vrf_id(vrf: &Option<Ref>) -> Option<u64> {
    vrf.as_ref().map(|v| v.id)
}

/// An address as the key part NetBox compares (`10.0.0.1/24` and `10.0.0.1` alike).
fn host_key(address: &str) -> String {
    host(address).map_or_else(|| address.to_string(), |ip| ip.to_string())
}

/// A patch's optional reference: `Some(new)` when `wanted` names another object than `current`.
fn differs_ref(current: &Option<Ref>, wanted: &Option<Option<u64>>) -> Option<Option<u64>> {
    wanted.filter(|w| *w != current.as_ref().map(|r| r.id))
}

impl Existing for VlanGroup {
    type Write = VlanGroupWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        format!("{}/{}", self.scope_id.unwrap_or_default(), self.slug)
    }
    fn label(&self) -> Label {
        Label::new(&self.name, "zone", "VLAN group")
    }
    fn patch(&self, wanted: &VlanGroupWrite) -> VlanGroupWrite {
        VlanGroupWrite {
            id: Some(self.id),
            name: differs(&self.name, &wanted.name),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for VrfDetail {
    type Write = VrfWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        self.name.clone()
    }
    fn label(&self) -> Label {
        Label::new(&self.name, "vrf", "VRF")
    }
    fn patch(&self, wanted: &VrfWrite) -> VrfWrite {
        VrfWrite {
            id: Some(self.id),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for L2vpn {
    type Write = L2vpnWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        self.slug.clone()
    }
    fn label(&self) -> Label {
        Label::new(&self.name, "vnet", "L2VPN")
    }
    fn patch(&self, wanted: &L2vpnWrite) -> L2vpnWrite {
        L2vpnWrite {
            id: Some(self.id),
            name: differs(&self.name, &wanted.name),
            kind: differs(&self.kind.value, &wanted.kind),
            identifier: differs(&self.identifier, &wanted.identifier),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for GroupedVlan {
    type Write = VlanWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        let group = self.group.as_ref().map_or(0, |g| g.id);
        format!("{group}/{}", self.vid)
    }
    fn label(&self) -> Label {
        Label::new(&self.name, "vnet", "VLAN")
    }
    fn patch(&self, wanted: &VlanWrite) -> VlanWrite {
        VlanWrite {
            id: Some(self.id),
            vid: differs(&self.vid, &wanted.vid),
            name: differs(&self.name, &wanted.name),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for Prefix {
    type Write = PrefixWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        let prefix = self
            .prefix
            .parse::<IpNet>()
            .map_or_else(|_| self.prefix.clone(), |net| net.trunc().to_string());
        in_vrf(vrf_id(&self.vrf), &prefix)
    }
    fn label(&self) -> Label {
        Label::new(&self.prefix, "subnet", "prefix")
    }
    fn patch(&self, wanted: &PrefixWrite) -> PrefixWrite {
        let scope_changed = wanted.scope_type.as_ref() != Some(&self.scope_type)
            || wanted.scope_id.as_ref() != Some(&self.scope_id);
        PrefixWrite {
            id: Some(self.id),
            vrf: differs_ref(&self.vrf, &wanted.vrf),
            vlan: differs_ref(&self.vlan, &wanted.vlan),
            scope_type: wanted.scope_type.clone().filter(|_| scope_changed),
            scope_id: wanted.scope_id.filter(|_| scope_changed),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for IpAddress {
    type Write = IpAddressWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    /// A gateway is an address on no interface: one on an interface, even Proxbox's (a
    /// guest's), is another object's and only used.
    fn is_ours(&self) -> bool {
        self.assigned_object_id.is_none() && is_managed(&self.tags)
    }
    fn natural(&self) -> String {
        in_vrf(vrf_id(&self.vrf), &host_key(&self.address))
    }
    fn label(&self) -> Label {
        Label::new(&self.address, "gateway", "gateway address")
    }
    fn patch(&self, wanted: &IpAddressWrite) -> IpAddressWrite {
        let role = self.role.as_ref().map(|r| r.value.clone());
        IpAddressWrite {
            id: Some(self.id),
            address: differs(&self.address, &wanted.address),
            vrf: differs_ref(&self.vrf, &wanted.vrf),
            role: differs(&role, &wanted.role),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for IpRange {
    type Write = IpRangeWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        let name = format!(
            "{}-{}",
            host_key(&self.start_address),
            host_key(&self.end_address)
        );
        in_vrf(vrf_id(&self.vrf), &name)
    }
    fn label(&self) -> Label {
        Label::new(
            format!(
                "{}-{}",
                host_key(&self.start_address),
                host_key(&self.end_address)
            ),
            "dhcp-range",
            "IP range",
        )
    }
    fn patch(&self, wanted: &IpRangeWrite) -> IpRangeWrite {
        IpRangeWrite {
            id: Some(self.id),
            vrf: differs_ref(&self.vrf, &wanted.vrf),
            description: differs(&self.description, &wanted.description),
            ..Default::default()
        }
    }
}

impl Existing for L2vpnTermination {
    type Write = L2vpnTerminationWrite;
    fn id(&self) -> u64 {
        self.id
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn natural(&self) -> String {
        format!("{}/{}", self.assigned_object_type, self.assigned_object_id)
    }
    fn label(&self) -> Label {
        let vpn = self.l2vpn.name.clone().unwrap_or_default();
        Label::new(
            format!("interface {} on {vpn}", self.assigned_object_id),
            "termination",
            "L2VPN termination",
        )
    }
    fn patch(&self, wanted: &L2vpnTerminationWrite) -> L2vpnTerminationWrite {
        L2vpnTerminationWrite {
            id: Some(self.id),
            l2vpn: differs(&self.l2vpn.id, &wanted.l2vpn),
            ..Default::default()
        }
    }
}
