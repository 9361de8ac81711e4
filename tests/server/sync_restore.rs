//! NetBox restored from a backup under a running Proxbox: Proxbox's identity map and its
//! copy of NetBox still name ids that, after the restore, other tools' new objects took.
//! The next full update changes and deletes none of those objects, and Proxbox's own are
//! made again. On a NetBox of the test's own (`scripts/netbox-instance`): the restore must
//! not pull the shared test NetBox from under the other tests.

use std::collections::{BTreeMap, HashSet};

use proxbox::server::sync::stage::Stage;
use proxbox_netbox::{NetboxClient, NetboxOptions};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;
use crate::sync_support::*;

/// A NetBox of this test's own; stopped (and its database dropped) when the test ends.
struct OwnNetbox {
    name: String,
    port: u16,
    url: String,
}

impl OwnNetbox {
    fn script(action: &str, name: &str, port: u16) -> String {
        let out = std::process::Command::new("scripts/netbox-instance")
            .args([action, name, &port.to_string()])
            .output()
            .expect("scripts/netbox-instance runs");
        assert!(
            out.status.success(),
            "scripts/netbox-instance {action} failed (run scripts/netbox-up first): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start() -> OwnNetbox {
        let name = format!("nb_restore_{}", std::process::id());
        let port = free_port();
        let url = OwnNetbox::script("start", &name, port);
        OwnNetbox { name, port, url }
    }

    /// The database as a backup taken before anything was written holds it.
    fn restore(&self) {
        OwnNetbox::script("restore", &self.name, self.port);
    }

    fn client(&self) -> NetboxClient {
        let (_, token) = netbox_env();
        NetboxClient::new(NetboxOptions::new(self.url.clone(), token)).unwrap()
    }
}

impl Drop for OwnNetbox {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scripts/netbox-instance")
            .args(["stop", &self.name])
            .output();
    }
}

/// The objects of these kinds, by kind and id, as NetBox answers them.
async fn snapshot(
    netbox: &NetboxClient,
    query: &[(&str, String)],
) -> BTreeMap<(String, u64), Value> {
    let mut out = BTreeMap::new();
    for path in [
        "virtualization/clusters/",
        "virtualization/virtual-machines/",
        "virtualization/interfaces/",
        "virtualization/virtual-disks/",
        "ipam/ip-addresses/",
        "dcim/mac-addresses/",
    ] {
        let mut query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        query.push(("limit".into(), "1000".into()));
        let page = netbox
            .request(Method::GET, path, &query, None)
            .await
            .unwrap();
        for object in page["results"].as_array().unwrap() {
            out.insert(
                (path.to_string(), object["id"].as_u64().unwrap()),
                object.clone(),
            );
        }
    }
    out
}

async fn create(netbox: &NetboxClient, path: &str, body: Value) -> u64 {
    let made = netbox
        .request(Method::POST, path, &[], Some(&body))
        .await
        .unwrap();
    made["id"].as_u64().unwrap()
}

/// What another tool writes after the restore: its own cluster with VMs, each with an
/// interface, a MAC, an address and a disk — none tagged `proxbox` — and more change log
/// entries than Proxbox had followed, so that the log's ids pass its cursor again.
async fn fill_as_another_tool(netbox: &NetboxClient, vms: usize, entries_past: u64) {
    let kind = create(
        netbox,
        "virtualization/cluster-types/",
        json!({"name": "Other tool", "slug": "other-tool"}),
    )
    .await;
    let cluster = create(
        netbox,
        "virtualization/clusters/",
        json!({"name": "theirs", "type": kind}),
    )
    .await;
    for n in 0..vms {
        let vm = create(
            netbox,
            "virtualization/virtual-machines/",
            json!({"name": format!("their-vm-{n}"), "cluster": cluster, "status": "active"}),
        )
        .await;
        let interface = create(
            netbox,
            "virtualization/interfaces/",
            json!({"name": "eth0", "virtual_machine": vm}),
        )
        .await;
        create(
            netbox,
            "dcim/mac-addresses/",
            json!({"mac_address": format!("02:00:00:00:{:02x}:01", n), "assigned_object_type": "virtualization.vminterface", "assigned_object_id": interface}),
        )
        .await;
        create(
            netbox,
            "ipam/ip-addresses/",
            json!({"address": format!("192.0.2.{}/24", n + 1), "assigned_object_type": "virtualization.vminterface", "assigned_object_id": interface}),
        )
        .await;
        create(
            netbox,
            "virtualization/virtual-disks/",
            json!({"name": "disk0", "virtual_machine": vm, "size": 10}),
        )
        .await;
    }
    let mut filler = 0;
    while netbox.latest_change_id().await.unwrap() <= entries_past {
        create(
            netbox,
            "extras/tags/",
            json!({"name": format!("their-tag-{filler}"), "slug": format!("their-tag-{filler}")}),
        )
        .await;
        filler += 1;
    }
}

#[tokio::test]
async fn after_a_restore_proxbox_changes_none_of_the_objects_that_took_its_ids() {
    let own = OwnNetbox::start();
    let netbox = own.client();
    let name = unique("restore");
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 41,
        name: name.clone(),
        index: 41,
        nodes: 1,
        guests: 4,
        history: Default::default(),
    }))
    .await
    .unwrap();
    let (test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    sync(&db, &netbox, &sim, endpoint_id, &Stage::ALL).await;
    let ours_before = snapshot(&netbox, &[]).await;
    let cursor = db
        .load_mirror(netbox.base_url())
        .await
        .unwrap()
        .expect("the first sync saved its copy of NetBox")
        .state;

    own.restore();
    let vms_made = ours_before
        .keys()
        .filter(|(path, _)| path.contains("virtual-machines"))
        .count();
    fill_as_another_tool(&netbox, vms_made, cursor.settled_change as u64).await;
    let theirs = snapshot(&netbox, &[]).await;
    // The other tool's objects took ids Proxbox remembers, of every kind.
    for path in [
        "virtual-machines",
        "interfaces",
        "virtual-disks",
        "ip-addresses",
    ] {
        let reused = theirs
            .keys()
            .filter(|(p, id)| p.contains(path) && ours_before.contains_key(&(p.clone(), *id)))
            .count();
        assert!(
            reused > 0,
            "no {path} id was taken again; the test proves nothing"
        );
    }

    let ran = sync(&db, &netbox, &sim, endpoint_id, &Stage::ALL).await;
    let after = snapshot(&netbox, &[]).await;
    for (key, object) in &theirs {
        let now = after
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} of the other tool was deleted"));
        assert_eq!(
            now["last_updated"], object["last_updated"],
            "{key:?} of the other tool was changed: {object} → {now}"
        );
    }
    // Proxbox's own are there again: a VM per guest, recording its identity, in its cluster.
    let (cluster, vms) = cluster_and_vms(&netbox, &name).await;
    let guests = sim.state.cluster.read().await.guests.len();
    assert_eq!(vms.len(), guests, "one VM per guest in {}", cluster.name);
    let identities: HashSet<&str> = vms
        .iter()
        .filter_map(|vm| vm.custom_fields.get("proxbox_identity")?.as_str())
        .collect();
    assert_eq!(identities.len(), guests, "each records its guest");
    assert!(
        vms.iter().all(
            |vm| !theirs.contains_key(&("virtualization/virtual-machines/".to_string(), vm.id))
        ),
        "no VM of Proxbox's is one of theirs"
    );
    let discovery = format!("{:?}", ran.events);
    assert!(
        discovery.contains("change log was rewritten"),
        "the run says it read NetBox anew because its log was rewritten"
    );
    // And the next sync is quiet.
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &Stage::ALL).await;
    sim.stop().await;
    db.close().await;
    test_db.drop_db().await;
}
