//! Removes what a simulated cluster left in NetBox. Shared by the server tests and the sync
//! benchmark (both include this file with `#[path]`).

use proxbox_netbox::models::{
    Cluster, Device, GroupedVlan, IpAddress, IpRange, L2vpn, Model, Prefix, Site, VirtualMachine,
    VlanGroup, VrfDetail, CLUSTER_SCOPE,
};
use proxbox_netbox::NetboxClient;

/// Deletes every object of `M` that matches the filters.
pub async fn delete_listed<M: Model>(netbox: &NetboxClient, filters: &[(&str, String)]) {
    let ids: Vec<u64> = netbox
        .list::<M>(filters)
        .await
        .unwrap()
        .iter()
        .map(Model::id)
        .collect();
    netbox.delete::<M>(&ids).await.unwrap();
}

/// Removes the cluster `name`: its VMs (and with them their disks, interfaces, MAC and IP
/// addresses, L2VPN terminations), devices, its SDN's VLAN groups, VLANs, L2VPNs and VRFs
/// with their prefixes, ranges and addresses, the cluster and its site.
pub async fn cleanup(netbox: &NetboxClient, name: &str) {
    for cluster in netbox
        .list::<Cluster>(&[("name", name.to_string())])
        .await
        .unwrap()
    {
        let filter = [("cluster_id", cluster.id.to_string())];
        delete_listed::<VirtualMachine>(netbox, &filter).await;
        delete_listed::<Device>(netbox, &filter).await;
        let scope = [
            ("scope_type", CLUSTER_SCOPE.to_string()),
            ("scope_id", cluster.id.to_string()),
        ];
        for group in netbox.list::<VlanGroup>(&scope).await.unwrap() {
            delete_listed::<GroupedVlan>(netbox, &[("group_id", group.id.to_string())]).await;
            netbox.delete::<VlanGroup>(&[group.id]).await.unwrap();
        }
        netbox.delete::<Cluster>(&[cluster.id]).await.unwrap();
    }
    let seen = format!("addresses of Proxmox cluster {name}");
    delete_listed::<Prefix>(netbox, &[("description", seen)]).await;
    let slug = name.to_lowercase();
    delete_listed::<L2vpn>(netbox, &[("slug__isw", format!("{slug}-"))]).await;
    for vrf in netbox
        .list::<VrfDetail>(&[("name__iew", format!(" ({name})"))])
        .await
        .unwrap()
    {
        let filter = [("vrf_id", vrf.id.to_string())];
        delete_listed::<IpAddress>(netbox, &filter).await;
        delete_listed::<IpRange>(netbox, &filter).await;
        delete_listed::<Prefix>(netbox, &filter).await;
        netbox.delete::<VrfDetail>(&[vrf.id]).await.unwrap();
    }
    delete_listed::<Site>(netbox, &[("slug", format!("proxmox-{name}"))]).await;
}
