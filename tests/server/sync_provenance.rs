//! Every NetBox write of a run says in NetBox's change log which run made it: a job's
//! writes "Proxbox job N: <stages> of <endpoint>", creates, updates and deletes alike.

use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{Device, VmInterface};
use proxbox_netbox::NetboxClient;
use reqwest::Method;
use serde_json::Value;

use crate::jobs_support::*;
use crate::support::*;
use crate::sync_support::*;

/// The change records of one object, newest first.
async fn changes(netbox: &NetboxClient, model: &str, id: u64) -> Vec<Value> {
    let query = [
        ("changed_object_type".to_string(), model.to_string()),
        ("changed_object_id".to_string(), id.to_string()),
        ("ordering".to_string(), "-time".to_string()),
    ];
    let page = netbox
        .request(Method::GET, "core/object-changes/", &query, None)
        .await
        .unwrap();
    page["results"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_runs_creates_updates_and_deletes_carry_its_message() {
    let (netbox, name, sim) = scenario("prov", 47, 1, 3).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let stages = [Stage::Devices, Stage::VirtualMachines, Stage::VmInterfaces];
    let first = netbox.with_changelog_message("Proxbox test 1: the first sync");
    sync(&db, &first, &sim, endpoint_id, &stages).await;
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let (kind, vmid, nics) = {
        let c = sim.state.cluster.read().await;
        let guest = c
            .guests
            .values()
            .find(|g| g.nics.len() >= 2)
            .expect("a guest with two NICs");
        (guest.kind, guest.vmid, guest.nics.len())
    };
    let vm = vms
        .iter()
        .find(|v| {
            v.custom_fields
                .get("proxbox_identity")
                .and_then(Value::as_str)
                .is_some_and(|i| i.ends_with(&format!("/{vmid}")))
        })
        .unwrap();
    let created = changes(&netbox, "virtualization.virtualmachine", vm.id).await;
    assert_eq!(
        created[0]["message"], "Proxbox test 1: the first sync",
        "{created:?}"
    );

    // A NIC removed in Proxmox: its interface goes, and the delete says which run did it.
    let interfaces: Vec<VmInterface> = netbox
        .list(&[("virtual_machine_id", vm.id.to_string())])
        .await
        .unwrap();
    assert_eq!(interfaces.len(), nics);
    let last = interfaces
        .iter()
        .find(|i| i.name == format!("net{}", nics - 1))
        .unwrap()
        .id;
    {
        let mut c = sim.state.cluster.write().await;
        c.guests.get_mut(&(kind, vmid)).unwrap().nics.pop();
    }
    let second = netbox.with_changelog_message("Proxbox test 2: a NIC removed");
    sync(&db, &second, &sim, endpoint_id, &stages).await;
    let deleted = changes(&netbox, "virtualization.vminterface", last).await;
    assert_eq!(deleted[0]["action"]["value"], "delete", "{deleted:?}");
    assert_eq!(deleted[0]["message"], "Proxbox test 2: a NIC removed");

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_jobs_writes_name_the_job_in_netboxs_change_log() {
    let lab = JobsLab::start(Backend::Sqlite, "provjob", 48, 2).await;
    let (job_id, _) = lab.start_sync("devices").await;
    lab.wait_until_ended(job_id).await;
    let netbox = netbox();
    let (cluster, _) = cluster_and_vms(&netbox, &lab.cluster).await;
    let devices: Vec<Device> = netbox
        .list(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    let records = changes(&netbox, "dcim.device", devices[0].id).await;
    assert_eq!(
        records[0]["message"],
        format!("Proxbox job {job_id}: devices of {}", lab.cluster),
        "{records:?}"
    );
    cleanup(&netbox, &lab.cluster).await;
}
