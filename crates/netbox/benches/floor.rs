//! The NetBox floor: how long the real NetBox takes to store what a first sync of 1,000
//! guests writes — 1,000 VMs, each with 2 interfaces (and their MAC address objects),
//! 2 disks and 2 IP addresses, plus the links NetBox can only take once both ends exist
//! (each interface's primary MAC, each VM's primary IPv4) — in the fewest bulk requests,
//! in the client's default chunks of 100, and one request per object. The sync engine
//! (`benches/sync.rs` at the top level) is judged against the first figure.
//!
//! `make bench` runs it against `scripts/netbox-up`'s NetBox; `BENCH_VMS` scales it and
//! `BENCH_FLOOR_ROWS=1` keeps only the floor row.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use proxbox_netbox::models::*;
use proxbox_netbox::{NetboxClient, NetboxOptions};

fn env_value(key: &str) -> String {
    let file = std::env::var("NETBOX_ENV_FILE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/proxbox/netbox.env",
            std::env::var("HOME").unwrap()
        )
    });
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("run scripts/netbox-up first ({file}: {e})"));
    std::env::var(key)
        .ok()
        .or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
        })
        .unwrap()
}

fn client(chunk: usize) -> NetboxClient {
    let mut o = NetboxOptions::new(env_value("NETBOX_URL"), env_value("NETBOX_TOKEN"));
    o.chunk_size = chunk;
    o.timeout = Duration::from_secs(900);
    NetboxClient::new(o).unwrap()
}

struct Fixture {
    cluster: u64,
    tag: String,
}

async fn fixture(nb: &NetboxClient, ns: &str) -> Fixture {
    let tag = ns.to_string();
    nb.create::<Tag, _>(&[NewTag {
        name: tag.clone(),
        slug: tag.clone(),
        color: "607d8b".into(),
        description: "bench".into(),
    }])
    .await
    .unwrap()
    .into_result()
    .unwrap();
    let ctype = nb
        .create::<ClusterType, _>(&[NewNamed {
            name: format!("{ns}-type"),
            slug: format!("{ns}-type"),
            description: String::new(),
            tags: vec![],
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap()[0]
        .id;
    let cluster = nb
        .create::<Cluster, _>(&[ClusterWrite {
            name: Some(format!("{ns}-cluster")),
            cluster_type: Some(ctype),
            status: Some("active".into()),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap()[0]
        .id;
    Fixture { cluster, tag }
}

/// Writes the whole set with `write` deciding how requests are made; returns (seconds, requests).
async fn run(nb: &NetboxClient, fx: &Fixture, vms: usize, per_object: bool) -> (f64, u64) {
    let tags = || {
        Some(vec![TagRef {
            slug: fx.tag.clone(),
        }])
    };
    let (_, writes_before) = nb.request_counts();
    let started = Instant::now();
    let new_vms: Vec<VirtualMachineWrite> = (0..vms)
        .map(|i| VirtualMachineWrite {
            name: Some(format!("{}-vm{i:05}", fx.tag)),
            status: Some("active".into()),
            cluster: Some(fx.cluster),
            vcpus: Some(2.0),
            memory: Some(2048),
            disk: Some(40960),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    let vm_ids: Vec<u64> = write::<VirtualMachine, _>(nb, &new_vms, per_object)
        .await
        .iter()
        .map(|v| v.id)
        .collect();
    let ifaces: Vec<VmInterfaceWrite> = vm_ids
        .iter()
        .flat_map(|id| (0..2).map(move |n| (*id, n)))
        .map(|(vm, n)| VmInterfaceWrite {
            virtual_machine: Some(vm),
            name: Some(format!("net{n}")),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    let disks: Vec<VirtualDiskWrite> = vm_ids
        .iter()
        .flat_map(|id| (0..2).map(move |n| (*id, n)))
        .map(|(vm, n)| VirtualDiskWrite {
            virtual_machine: Some(vm),
            name: Some(format!("scsi{n}")),
            size: Some(20480),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    let iface_ids: Vec<u64> = write::<VmInterface, _>(nb, &ifaces, per_object)
        .await
        .iter()
        .map(|v| v.id)
        .collect();
    write::<VirtualDisk, _>(nb, &disks, per_object).await;
    let macs: Vec<MacAddressWrite> = iface_ids
        .iter()
        .enumerate()
        .map(|(i, iface)| MacAddressWrite {
            mac_address: Some(format!(
                "BC:26:00:{:02X}:{:02X}:{:02X}",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            )),
            assigned_object_type: Some(VM_INTERFACE.into()),
            assigned_object_id: Some(*iface),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    let mac_ids: Vec<u64> = write::<MacAddress, _>(nb, &macs, per_object)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    let links: Vec<VmInterfaceWrite> = iface_ids
        .iter()
        .zip(&mac_ids)
        .map(|(iface, mac)| VmInterfaceWrite {
            id: Some(*iface),
            primary_mac_address: Some(Some(*mac)),
            ..Default::default()
        })
        .collect();
    update::<VmInterface, _>(nb, &links, per_object).await;
    let ips: Vec<IpAddressWrite> = iface_ids
        .iter()
        .enumerate()
        .map(|(i, iface)| IpAddressWrite {
            address: Some(format!(
                "10.{}.{}.{}/16",
                200 + (i / 60_000),
                (i / 250) % 240,
                i % 250 + 1
            )),
            status: Some("active".into()),
            assigned_object_type: Some(VM_INTERFACE.into()),
            assigned_object_id: Some(*iface),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    let ip_ids: Vec<u64> = write::<IpAddress, _>(nb, &ips, per_object)
        .await
        .iter()
        .map(|ip| ip.id)
        .collect();
    let primaries: Vec<VirtualMachineWrite> = vm_ids
        .iter()
        .zip(ip_ids.chunks(2))
        .map(|(vm, ips)| VirtualMachineWrite {
            id: Some(*vm),
            primary_ip4: Some(Some(ips[0])),
            ..Default::default()
        })
        .collect();
    update::<VirtualMachine, _>(nb, &primaries, per_object).await;
    (
        started.elapsed().as_secs_f64(),
        nb.request_counts().1 - writes_before,
    )
}

async fn write<M: Model, W: serde::Serialize + Sync>(
    nb: &NetboxClient,
    items: &[W],
    per_object: bool,
) -> Vec<M> {
    if per_object {
        // One request per object, as many in flight as the client allows (4 by default).
        let results: Vec<M> = stream::iter(items.iter())
            .map(|item| async move {
                nb.create::<M, _>(std::slice::from_ref(item))
                    .await
                    .unwrap()
                    .into_result()
                    .unwrap()
                    .remove(0)
            })
            .buffered(nb.options().concurrency)
            .collect()
            .await;
        results
    } else {
        nb.create::<M, _>(items)
            .await
            .unwrap()
            .into_result()
            .unwrap()
    }
}

async fn update<M: Model, W: serde::Serialize + Sync>(
    nb: &NetboxClient,
    items: &[W],
    per_object: bool,
) {
    if per_object {
        stream::iter(items.iter())
            .map(|item| async move {
                nb.update::<M, _>(std::slice::from_ref(item))
                    .await
                    .unwrap()
                    .into_result()
                    .unwrap();
            })
            .buffered(nb.options().concurrency)
            .collect::<Vec<()>>()
            .await;
    } else {
        nb.update::<M, _>(items)
            .await
            .unwrap()
            .into_result()
            .unwrap();
    }
}

async fn cleanup(nb: &NetboxClient, tag: &str) {
    let filter = [("tag", tag.to_string())];
    let ips: Vec<u64> = nb
        .list::<IpAddress>(&filter)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    nb.delete::<IpAddress>(&ips).await.unwrap();
    let vms: Vec<u64> = nb
        .list::<VirtualMachine>(&filter)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    nb.delete::<VirtualMachine>(&vms).await.unwrap(); // interfaces and disks go with their VM
}

#[tokio::main]
async fn main() {
    let vms: usize = std::env::var("BENCH_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // VMs, interfaces, MACs, disks, IPs; plus 3 links per VM (2 primary MACs, 1 primary IP).
    let objects = vms * 9;
    let links = vms * 3;
    let ns = format!(
        "bench{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 0xfffff
    );
    println!("| NetBox floor: {vms} VMs × (2 interfaces, 2 MACs, 2 disks, 2 IPs) = {objects} objects + {links} links | seconds | write requests | ms per write |");
    println!("|---|---|---|---|");
    // `BENCH_FLOOR_ROWS=1` measures the floor alone (the per-object row takes hours at 1,000 VMs).
    let rows: usize = std::env::var("BENCH_FLOOR_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for (label, chunk, per_object) in [
        ("fewest bulk requests (chunks of 1,000)", 1000, false),
        ("bulk, chunks of 100 (client default)", 100, false),
        ("one request per object, 4 in flight", 1, true),
    ]
    .into_iter()
    .take(rows)
    {
        let nb = client(chunk);
        let fx = fixture(&nb, &format!("{ns}{chunk}")).await;
        let (secs, requests) = run(&nb, &fx, vms, per_object).await;
        println!(
            "| {label} | {secs:.1} | {requests} | {:.1} |",
            secs * 1000.0 / (objects + links) as f64
        );
        cleanup(&nb, &fx.tag).await;
    }
}
