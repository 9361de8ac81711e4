//! The NetBox client against a real NetBox (started by `scripts/netbox-up`, which
//! `make test` runs first). Without one these tests fail with the reason; they never skip.
//! Each test works in its own namespace (a random prefix on every name and slug), so they
//! run in any order and in parallel.

use std::time::Duration;

use proxbox_netbox::models::*;
use proxbox_netbox::{ErrorKind, NetboxClient, NetboxOptions};

struct Env {
    url: String,
    token: String,
    token_v1: String,
    token_readonly: String,
}

fn env() -> Env {
    let file = std::env::var("NETBOX_ENV_FILE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/proxbox/netbox.env",
            std::env::var("HOME").unwrap()
        )
    });
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("the NetBox integration tests need a real NetBox: run scripts/netbox-up (it writes {file}): {e}")
    });
    let get = |key: &str| {
        std::env::var(key)
            .ok()
            .or_else(|| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            })
            .unwrap_or_else(|| panic!("{key} missing from {file}"))
    };
    Env {
        url: get("NETBOX_URL"),
        token: get("NETBOX_TOKEN"),
        token_v1: get("NETBOX_TOKEN_V1"),
        token_readonly: get("NETBOX_TOKEN_READONLY"),
    }
}

fn client_with(token: &str, tune: impl FnOnce(&mut NetboxOptions)) -> NetboxClient {
    let e = env();
    let mut options = NetboxOptions::new(e.url, token);
    options.backoff = Duration::from_millis(50);
    tune(&mut options);
    NetboxClient::new(options).unwrap()
}

fn client() -> NetboxClient {
    client_with(&env().token, |_| {})
}

/// A prefix no other test (or earlier run) uses.
fn namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{:x}", nanos % 0xffff_ffff_ffff)
}

/// The single object a one-item bulk write stored.
fn one<T>(result: Result<Vec<T>, proxbox_netbox::NbError>) -> T {
    result.unwrap().remove(0)
}

fn tag(slug: &str) -> Option<Vec<TagRef>> {
    Some(vec![TagRef {
        slug: slug.to_string(),
    }])
}

#[tokio::test]
async fn create_read_update_delete_every_model_the_engine_writes() {
    let nb = client();
    let ns = namespace();

    let t: Tag = one(nb
        .create::<Tag, _>(&[NewTag {
            name: ns.clone(),
            slug: ns.clone(),
            color: "ff5722".into(),
            description: "test".into(),
        }])
        .await
        .unwrap()
        .into_result());
    let named = |suffix: &str| NewNamed {
        name: format!("{ns}-{suffix}"),
        slug: format!("{ns}-{suffix}"),
        description: String::new(),
        tags: vec![TagRef { slug: ns.clone() }],
    };
    let site: Site = one(nb
        .create::<Site, _>(&[NewSite {
            name: format!("{ns}-site"),
            slug: format!("{ns}-site"),
            status: "active".into(),
            tags: vec![TagRef { slug: ns.clone() }],
        }])
        .await
        .unwrap()
        .into_result());
    let maker: Manufacturer = one(nb
        .create::<Manufacturer, _>(&[named("proxmox")])
        .await
        .unwrap()
        .into_result());
    let dtype: DeviceType = one(nb
        .create::<DeviceType, _>(&[NewDeviceType {
            manufacturer: maker.id,
            model: format!("{ns}-node"),
            slug: format!("{ns}-node"),
            u_height: 1.0,
            tags: vec![],
        }])
        .await
        .unwrap()
        .into_result());
    let roles: Vec<DeviceRole> = nb
        .create::<DeviceRole, _>(&[
            NewDeviceRole {
                name: format!("{ns}-node"),
                slug: format!("{ns}-node"),
                color: "00bcd4".into(),
                vm_role: false,
                tags: vec![],
            },
            NewDeviceRole {
                name: format!("{ns}-qemu"),
                slug: format!("{ns}-qemu"),
                color: "4caf50".into(),
                vm_role: true,
                tags: vec![],
            },
        ])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let platform: Platform = one(nb
        .create::<Platform, _>(&[named("l26")])
        .await
        .unwrap()
        .into_result());
    let ctype: ClusterType = one(nb
        .create::<ClusterType, _>(&[named("proxmox")])
        .await
        .unwrap()
        .into_result());
    let cluster: Cluster = one(nb
        .create::<Cluster, _>(&[ClusterWrite {
            name: Some(format!("{ns}-cluster")),
            cluster_type: Some(ctype.id),
            status: Some("active".into()),
            scope_type: Some("dcim.site".into()),
            scope_id: Some(site.id),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    assert_eq!(
        (cluster.scope_type.as_deref(), cluster.scope_id),
        (Some("dcim.site"), Some(site.id))
    );
    let device: Device = one(nb
        .create::<Device, _>(&[DeviceWrite {
            name: Some(format!("{ns}-pve01")),
            device_type: Some(dtype.id),
            role: Some(roles[0].id),
            site: Some(site.id),
            cluster: Some(cluster.id),
            status: Some("active".into()),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    let ifaces: Vec<Interface> = nb
        .create::<Interface, _>(&[
            InterfaceWrite {
                device: Some(device.id),
                name: Some("vmbr0".into()),
                kind: Some("bridge".into()),
                tags: tag(&ns),
                ..Default::default()
            },
            InterfaceWrite {
                device: Some(device.id),
                name: Some("eno1".into()),
                kind: Some("1000base-t".into()),
                tags: tag(&ns),
                ..Default::default()
            },
        ])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let node_mac: MacAddress = one(nb
        .create::<MacAddress, _>(&[MacAddressWrite {
            mac_address: Some("BC:24:11:FE:00:01".into()),
            assigned_object_type: Some(DCIM_INTERFACE.into()),
            assigned_object_id: Some(ifaces[1].id),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    let patched: Interface = one(nb
        .update::<Interface, _>(&[InterfaceWrite {
            id: Some(ifaces[1].id),
            bridge: Some(Some(ifaces[0].id)),
            primary_mac_address: Some(Some(node_mac.id)),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    assert_eq!(patched.primary_mac_address.map(|r| r.id), Some(node_mac.id));
    assert_eq!(patched.bridge.map(|r| r.id), Some(ifaces[0].id));
    let vid = 2 + (u16::from_str_radix(&ns[ns.len() - 3..], 16).unwrap() % 4000);
    let vlan: Vlan = one(nb
        .create::<Vlan, _>(&[NewVlan {
            vid,
            name: format!("{ns}-vlan"),
            status: "active".into(),
            tags: vec![TagRef { slug: ns.clone() }],
        }])
        .await
        .unwrap()
        .into_result());

    let vm: VirtualMachine = one(nb
        .create::<VirtualMachine, _>(&[VirtualMachineWrite {
            name: Some(format!("{ns}-vm")),
            status: Some("active".into()),
            cluster: Some(cluster.id),
            device: Some(Some(device.id)),
            site: Some(Some(site.id)),
            role: Some(Some(roles[1].id)),
            platform: Some(Some(platform.id)),
            vcpus: Some(2.0),
            memory: Some(2048),
            disk: Some(32768),
            description: Some("from Proxbox tests".into()),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    assert_eq!(
        (vm.memory, vm.vcpus, vm.cluster.as_ref().map(|c| c.id)),
        (Some(2048), Some(2.0), Some(cluster.id))
    );
    let vmif: VmInterface = one(nb
        .create::<VmInterface, _>(&[VmInterfaceWrite {
            virtual_machine: Some(vm.id),
            name: Some("net0".into()),
            mode: Some(Some("access".into())),
            untagged_vlan: Some(Some(vlan.id)),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    assert_eq!(vmif.untagged_vlan.as_ref().map(|v| v.id), Some(vlan.id));
    let vm_mac: MacAddress = one(nb
        .create::<MacAddress, _>(&[MacAddressWrite {
            mac_address: Some("BC:24:11:FE:00:02".into()),
            assigned_object_type: Some(VM_INTERFACE.into()),
            assigned_object_id: Some(vmif.id),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    let disks: Vec<VirtualDisk> = nb
        .create::<VirtualDisk, _>(&[
            VirtualDiskWrite {
                virtual_machine: Some(vm.id),
                name: Some("scsi0".into()),
                size: Some(32768),
                tags: tag(&ns),
                ..Default::default()
            },
            VirtualDiskWrite {
                virtual_machine: Some(vm.id),
                name: Some("scsi1".into()),
                size: Some(8192),
                tags: tag(&ns),
                ..Default::default()
            },
        ])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let ip: IpAddress = one(nb
        .create::<IpAddress, _>(&[IpAddressWrite {
            address: Some("10.250.1.5/24".into()),
            status: Some("active".into()),
            assigned_object_type: Some(VM_INTERFACE.into()),
            assigned_object_id: Some(vmif.id),
            tags: tag(&ns),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    let journal: JournalEntry = one(nb
        .create::<JournalEntry, _>(&[NewJournalEntry {
            assigned_object_type: "virtualization.virtualmachine".into(),
            assigned_object_id: vm.id,
            kind: "info".into(),
            comments: "backup vzdump-qemu-100 finished".into(),
            tags: vec![],
        }])
        .await
        .unwrap()
        .into_result());

    // Update: only what changes is sent.
    let updated: VirtualMachine = one(nb
        .update::<VirtualMachine, _>(&[VirtualMachineWrite {
            id: Some(vm.id),
            memory: Some(4096),
            primary_ip4: Some(Some(ip.id)),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result());
    assert_eq!(updated.memory, Some(4096));
    assert_eq!(updated.primary_ip4.map(|r| r.id), Some(ip.id));
    assert_eq!(
        updated.description, "from Proxbox tests",
        "untouched fields stay"
    );

    // Read back, by tag and by ids.
    assert_eq!(
        nb.list::<VirtualMachine>(&[("tag", ns.clone())])
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        nb.list::<VirtualDisk>(&[("virtual_machine_id", vm.id.to_string())])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        nb.list_by_ids::<Interface>(&[ifaces[0].id, ifaces[1].id])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        nb.get::<IpAddress>(ip.id).await.unwrap().assigned_object_id,
        Some(vmif.id)
    );
    assert_eq!(
        nb.get::<MacAddress>(vm_mac.id)
            .await
            .unwrap()
            .assigned_object_type
            .as_deref(),
        Some(VM_INTERFACE)
    );
    assert_eq!(
        nb.get::<JournalEntry>(journal.id)
            .await
            .unwrap()
            .assigned_object_id,
        vm.id
    );

    // Delete, children first.
    nb.delete::<JournalEntry>(&[journal.id]).await.unwrap();
    nb.delete::<IpAddress>(&[ip.id]).await.unwrap();
    nb.delete::<VirtualDisk>(&disks.iter().map(|d| d.id).collect::<Vec<_>>())
        .await
        .unwrap();
    nb.delete::<MacAddress>(&[vm_mac.id]).await.unwrap();
    nb.delete::<VmInterface>(&[vmif.id]).await.unwrap();
    nb.delete::<VirtualMachine>(&[vm.id]).await.unwrap();
    nb.delete::<Vlan>(&[vlan.id]).await.unwrap();
    nb.delete::<Interface>(&[ifaces[0].id, ifaces[1].id])
        .await
        .unwrap(); // its MAC goes with it
    nb.delete::<Device>(&[device.id]).await.unwrap();
    nb.delete::<Cluster>(&[cluster.id]).await.unwrap();
    nb.delete::<ClusterType>(&[ctype.id]).await.unwrap();
    nb.delete::<Platform>(&[platform.id]).await.unwrap();
    nb.delete::<DeviceRole>(&roles.iter().map(|r| r.id).collect::<Vec<_>>())
        .await
        .unwrap();
    nb.delete::<DeviceType>(&[dtype.id]).await.unwrap();
    nb.delete::<Manufacturer>(&[maker.id]).await.unwrap();
    nb.delete::<Site>(&[site.id]).await.unwrap();
    assert!(nb
        .list::<VirtualMachine>(&[("tag", ns.clone())])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        nb.get::<Site>(site.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    nb.delete::<Tag>(&[t.id]).await.unwrap();
    // Deleting what is already gone is not an error.
    assert_eq!(nb.delete::<Site>(&[site.id]).await.unwrap().failed.len(), 0);
}

#[tokio::test]
async fn bulk_writes_are_chunked_and_lists_follow_every_page() {
    let nb = client_with(&env().token, |o| {
        o.chunk_size = 40;
        o.page_size = 25;
    });
    let ns = namespace();
    let tags: Vec<NewTag> = (0..130)
        .map(|i| NewTag {
            name: format!("{ns}-{i:03}"),
            slug: format!("{ns}-{i:03}"),
            color: "9e9e9e".into(),
            description: String::new(),
        })
        .collect();
    let (_, writes_before) = nb.request_counts();
    let created = nb
        .create::<Tag, _>(&tags)
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(created.len(), 130);
    assert_eq!(
        nb.request_counts().1 - writes_before,
        4,
        "130 objects in chunks of 40"
    );
    let (reads_before, _) = nb.request_counts();
    let listed = nb.list::<Tag>(&[("slug__isw", ns.clone())]).await.unwrap();
    assert_eq!(listed.len(), 130);
    assert_eq!(
        nb.request_counts().0 - reads_before,
        6,
        "130 objects in pages of 25"
    );
    let ids: Vec<u64> = created.iter().map(|t| t.id).collect();
    let by_ids = nb.list_by_ids::<Tag>(&ids).await.unwrap();
    assert_eq!(by_ids.len(), 130);
    let deleted = nb.delete::<Tag>(&ids).await.unwrap();
    assert_eq!((deleted.done.len(), deleted.failed.len()), (130, 0));
    assert!(nb
        .list::<Tag>(&[("slug__isw", ns)])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_bad_object_in_a_bulk_chunk_is_isolated_and_the_rest_is_written() {
    let nb = client();
    let ns = namespace();
    let sites: Vec<NewSite> = (0..10)
        .map(|i| NewSite {
            name: format!("{ns}-{i}"),
            slug: format!("{ns}-{i}"),
            status: if i == 3 || i == 7 {
                "no-such-status".into()
            } else {
                "active".into()
            },
            tags: vec![],
        })
        .collect();
    let outcome = nb.create::<Site, _>(&sites).await.unwrap();
    let mut failed: Vec<usize> = outcome.failed.iter().map(|f| f.index).collect();
    failed.sort();
    assert_eq!(failed, [3, 7]);
    for failure in &outcome.failed {
        assert_eq!(failure.error.kind, ErrorKind::Validation);
        let fields = failure
            .error
            .fields
            .as_ref()
            .expect("NetBox's field errors");
        assert!(fields.get("status").is_some(), "{fields}");
    }
    assert_eq!(outcome.done.len(), 8);
    let stored = nb.list::<Site>(&[("slug__isw", ns.clone())]).await.unwrap();
    assert_eq!(stored.len(), 8);
    nb.delete::<Site>(&stored.iter().map(|s| s.id).collect::<Vec<_>>())
        .await
        .unwrap();
}

#[tokio::test]
async fn v1_and_v2_tokens_both_work() {
    let e = env();
    for token in [&e.token, &e.token_v1] {
        let nb = client_with(token, |_| {});
        nb.list::<Site>(&[("slug", "no-such-site".to_string())])
            .await
            .unwrap_or_else(|err| panic!("{token:.8}…: {err}"));
    }
    assert!(proxbox_netbox::authorization(&e.token).starts_with("Bearer nbt_"));
    assert!(proxbox_netbox::authorization(&e.token_v1).starts_with("Token "));
}

#[tokio::test]
async fn failures_are_classified_with_what_to_do() {
    let e = env();
    let wrong = client_with(
        "nbt_wrongkey0000.wrongsecretwrongsecretwrongsecret0000",
        |_| {},
    );
    let err = wrong.list::<Site>(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Authentication, "{err}");

    let reader = client_with(&e.token_readonly, |_| {});
    let err = reader
        .create::<VirtualMachine, _>(&[VirtualMachineWrite {
            name: Some("x".into()),
            ..Default::default()
        }])
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permission, "{err}");
    assert!(
        err.message
            .contains("the token has no write permission on virtualization.virtualmachine"),
        "{err}"
    );

    let impatient = client_with(&e.token, |o| o.timeout = Duration::from_millis(1));
    let err = impatient.list::<Site>(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.suggestion.contains("timeout"), "{err}");

    let nowhere = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut options = NetboxOptions::new(format!("http://127.0.0.1:{port}"), e.token.clone());
        options.backoff = Duration::from_millis(10);
        NetboxClient::new(options).unwrap()
    };
    let err = nowhere.list::<Site>(&[]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection);
    assert!(
        err.message
            .contains("NetBox is unreachable at http://127.0.0.1:")
            && err.message.contains("connection refused"),
        "{err}"
    );
}

/// Active sites `{ns}-{suffix}`, created in one request.
async fn active_sites(nb: &NetboxClient, ns: &str, suffixes: &[&str]) -> Vec<Site> {
    let sites: Vec<NewSite> = suffixes
        .iter()
        .map(|s| NewSite {
            name: format!("{ns}-{s}"),
            slug: format!("{ns}-{s}"),
            status: "active".into(),
            tags: vec![],
        })
        .collect();
    nb.create::<Site, _>(&sites)
        .await
        .unwrap()
        .into_result()
        .unwrap()
}

#[tokio::test]
async fn a_bad_object_in_a_bulk_update_is_named_by_netbox_and_the_rest_is_written() {
    let nb = client();
    let ns = namespace();
    let created = active_sites(&nb, &ns, &["0", "1", "2"]).await;
    let (_, writes_before) = nb.request_counts();
    let patches: Vec<serde_json::Value> = created
        .iter()
        .enumerate()
        .map(|(i, s)| serde_json::json!({"id": s.id, "status": if i == 1 { "no-such-status" } else { "planned" }}))
        .collect();
    let outcome = nb.update::<Site, _>(&patches).await.unwrap();
    assert_eq!(
        outcome.failed.iter().map(|f| f.index).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(outcome.done.len(), 2);
    assert_eq!(
        nb.request_counts().1 - writes_before,
        2,
        "the refused object is named, not searched for by halving"
    );
    let stored = nb.list::<Site>(&[("slug__isw", ns.clone())]).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|s| s.status.value == "planned")
            .count(),
        2
    );
    nb.delete::<Site>(&stored.iter().map(|s| s.id).collect::<Vec<_>>())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bulk_update_pairs_each_answer_with_its_input_whatever_order_netbox_answers_in() {
    let nb = client();
    let ns = namespace();
    // Sites are ordered by name: send them in the reverse order and rename them.
    let created = active_sites(&nb, &ns, &["a", "b", "c"]).await;
    let patches: Vec<serde_json::Value> = created
        .iter()
        .rev()
        .map(|s| serde_json::json!({"id": s.id, "name": format!("{}-renamed", s.name)}))
        .collect();
    let outcome = nb.update::<Site, _>(&patches).await.unwrap();
    assert_eq!(outcome.done.len(), 3);
    for (index, site) in &outcome.done {
        assert_eq!(
            patches[*index]["id"], site.id,
            "answer {index} is its input's object"
        );
        assert_eq!(patches[*index]["name"], site.name);
    }
    nb.delete::<Site>(&created.iter().map(|s| s.id).collect::<Vec<_>>())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_racing_to_create_one_shared_object_all_get_it() {
    // Two syncs on a fresh NetBox both make sure of the same manufacturer: NetBox refuses
    // the loser with a validation error, or with a 500 IntegrityError when both inserts
    // meet in the database. Either way each client ends up with the one object.
    let ns = namespace();
    for round in 0..12 {
        let slug = format!("{ns}-maker-{round}");
        let ensure = |nb: NetboxClient, slug: String| async move {
            nb.ensure::<Manufacturer, _>(&slug, || NewNamed {
                name: slug.clone(),
                slug: slug.clone(),
                description: String::new(),
                tags: Vec::new(),
            })
            .await
        };
        let racers: Vec<_> = (0..8)
            .map(|_| tokio::spawn(ensure(client(), slug.clone())))
            .collect();
        let mut ids = Vec::new();
        for racer in racers {
            ids.push(
                racer
                    .await
                    .unwrap()
                    .expect("every racer gets the object")
                    .id,
            );
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one object for all: {ids:?}");
        client().delete::<Manufacturer>(&ids).await.unwrap();
    }
}
