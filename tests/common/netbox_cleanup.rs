//! Removes what a simulated cluster left in NetBox. Shared by the server tests and the sync
//! benchmark (both include this file with `#[path]`).

use proxbox_netbox::models::{Cluster, Device, Model, Site, VirtualMachine};
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
/// addresses), devices, the cluster and its site.
pub async fn cleanup(netbox: &NetboxClient, name: &str) {
    for cluster in netbox
        .list::<Cluster>(&[("name", name.to_string())])
        .await
        .unwrap()
    {
        let filter = [("cluster_id", cluster.id.to_string())];
        delete_listed::<VirtualMachine>(netbox, &filter).await;
        delete_listed::<Device>(netbox, &filter).await;
        netbox.delete::<Cluster>(&[cluster.id]).await.unwrap();
    }
    delete_listed::<Site>(netbox, &[("slug", format!("proxmox-{name}"))]).await;
}
