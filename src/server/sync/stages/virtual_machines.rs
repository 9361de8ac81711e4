//! `virtual-machines`: every QEMU VM and LXC container becomes a NetBox virtual machine in
//! its cluster, on its node's device. Reads `/cluster/resources?type=vm` and each guest's
//! config (bounded concurrency in the Proxmox client), NetBox once.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::{ClusterResource, GuestConfig, GuestKind};

use super::devices::{SyncedCluster, PROXBOX_TAG};
use crate::events::{ItemStatus, StepStatus};
use crate::server::db::sync_objects::Mapped;
use crate::server::sync::context::{StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;

const VM_MODEL: &str = "virtualization.virtualmachine";

/// The identity of a guest: QEMU 100 and LXC 100 differ, and so do guests of two clusters.
pub fn guest_identity(cluster: &str, kind: GuestKind, vmid: u64) -> String {
    format!("{cluster}/{}/{vmid}", kind.as_str())
}

/// A guest as this stage wants it in NetBox.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    identity: String,
    endpoint_id: i64,
    name: String,
    kind: GuestKind,
    status: &'static str,
    cluster: u64,
    device: Option<u64>,
    site: u64,
    vcpus: Option<f64>,
    memory: Option<u64>,
    disk: Option<u64>,
    ostype: Option<String>,
    description: String,
    /// Disk key (`scsi0`, `rootfs`…) and size in MB, for the vm-disks stage.
    disks: Vec<(String, u64)>,
    /// Config fields that could not be read and were left out.
    warning: Option<String>,
}

/// A guest as NetBox has it after this stage, for the stages that hang objects on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedGuest {
    pub name: String,
    pub kind: GuestKind,
    pub vm_id: u64,
    /// Disk key and size in MB, as the guest config has them.
    pub disks: Vec<(String, u64)>,
}

fn status_of(resource: &ClusterResource) -> &'static str {
    match resource.status.as_deref() {
        Some("running") => "active",
        Some("paused") | Some("suspended") => "paused",
        _ => "offline",
    }
}

fn desired(
    synced: &SyncedCluster,
    resource: &ClusterResource,
    config: Option<&GuestConfig>,
) -> Desired {
    let kind = resource
        .guest_kind()
        .expect("guests() keeps qemu and lxc only");
    let vmid = resource.vmid.expect("guests() keeps entries with a vmid");
    let name = config
        .and_then(|c| c.name.clone())
        .or_else(|| resource.name.clone())
        .unwrap_or_else(|| format!("{}-{vmid}", kind.as_str()));
    const MIB: u64 = 1 << 20;
    Desired {
        identity: guest_identity(&synced.name, kind, vmid),
        endpoint_id: synced.endpoint_id,
        name,
        kind,
        status: status_of(resource),
        cluster: synced.netbox_cluster,
        device: resource
            .node
            .as_ref()
            .and_then(|n| synced.devices.get(n))
            .copied(),
        site: synced.site,
        vcpus: config
            .and_then(GuestConfig::vcpu_count)
            .map(|v| v as f64)
            .or(resource.maxcpu),
        memory: config
            .and_then(|c| c.memory_mib)
            .or(resource.maxmem.map(|m| m / MIB)),
        disk: config
            .map(|c| c.total_disk_bytes() / MIB)
            .filter(|d| *d > 0)
            .or(resource.maxdisk.map(|d| d / MIB)),
        ostype: config.and_then(|c| c.ostype.clone()),
        warning: None,
        disks: config
            .map(|c| {
                c.disks
                    .iter()
                    .map(|d| (d.key.clone(), d.size_bytes.unwrap_or(0) / MIB))
                    .collect()
            })
            .unwrap_or_default(),
        description: format!(
            "Proxmox {} {vmid} of cluster {}",
            if kind == GuestKind::Qemu {
                "VM"
            } else {
                "container"
            },
            synced.name
        ),
    }
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    clusters: &[SyncedCluster],
) -> Result<Vec<SyncedGuest>, StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading guests and their configuration from Proxmox",
    );
    let mut wanted: Vec<Desired> = Vec::new();
    let mut failed_reads: Vec<(String, String)> = Vec::new();
    for source in &ctx.sources {
        let Some(synced) = clusters
            .iter()
            .find(|c| c.endpoint_id == source.endpoint_id)
        else {
            continue;
        };
        let guests = source.pve.guests().await?.value;
        let mut reads = tokio::task::JoinSet::new();
        for (index, guest) in guests.iter().enumerate() {
            let (pve, node, kind, vmid) = (
                source.pve.clone(),
                guest.node.clone().unwrap_or_default(),
                guest.guest_kind(),
                guest.vmid,
            );
            reads.spawn(async move {
                let (Some(kind), Some(vmid)) = (kind, vmid) else {
                    return (index, None);
                };
                (index, Some(pve.guest_config(&node, kind, vmid).await))
            });
        }
        let mut configs: HashMap<usize, proxbox_pve::Parsed<GuestConfig>> = HashMap::new();
        let mut unreadable: HashSet<usize> = HashSet::new();
        while let Some(joined) = reads.join_next().await {
            let Ok((index, Some(result))) = joined else {
                continue;
            };
            match result {
                Ok(parsed) => {
                    configs.insert(index, parsed);
                }
                // One unreadable config fails that guest only; the others go on.
                Err(e) => {
                    unreadable.insert(index);
                    failed_reads.push((
                        guests[index].name.clone().unwrap_or_default(),
                        e.to_string(),
                    ));
                }
            }
        }
        for (index, guest) in guests
            .iter()
            .enumerate()
            .filter(|(i, _)| !unreadable.contains(i))
        {
            let parsed = configs.get(&index);
            let mut d = desired(synced, guest, parsed.map(|p| &p.value));
            d.warning = parsed.filter(|p| !p.warnings.is_empty()).map(|p| {
                p.warnings
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            wanted.push(d);
        }
    }
    report.expect(wanted.len() + failed_reads.len());
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{} guests", wanted.len() + failed_reads.len()),
    );
    for (name, error) in &failed_reads {
        report.item(
            name,
            "guest",
            "virtual machine",
            ItemStatus::Failed,
            None,
            Some(error.clone()),
        );
    }

    let nb = ctx.netbox;
    let role_for = |slug: &str, name: &str| NewDeviceRole {
        name: name.into(),
        slug: slug.into(),
        color: "4caf50".into(),
        vm_role: true,
        tags: vec![TagRef {
            slug: PROXBOX_TAG.into(),
        }],
    };
    let qemu_role = nb
        .ensure::<DeviceRole, _>("proxmox-qemu", || {
            role_for("proxmox-qemu", "Proxmox QEMU VM")
        })
        .await?
        .id;
    let lxc_role = nb
        .ensure::<DeviceRole, _>("proxmox-lxc", || {
            role_for("proxmox-lxc", "Proxmox LXC container")
        })
        .await?
        .id;
    let mut platforms: HashMap<String, u64> = HashMap::new();
    for ostype in wanted
        .iter()
        .filter_map(|d| d.ostype.clone())
        .collect::<HashSet<_>>()
    {
        let slug = format!("proxmox-{}", crate::server::sync::context::slugify(&ostype));
        let platform = nb
            .ensure::<Platform, _>(&slug, || NewNamed {
                name: format!("Proxmox ostype {ostype}"),
                slug: slug.clone(),
                description: String::new(),
                tags: vec![TagRef {
                    slug: PROXBOX_TAG.into(),
                }],
            })
            .await?;
        platforms.insert(ostype, platform.id);
    }

    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the virtual machines Proxbox manages",
    );
    let existing: Vec<VirtualMachine> = nb.list(&[("tag", PROXBOX_TAG.to_string())]).await?;
    let by_id: HashMap<u64, &VirtualMachine> = existing.iter().map(|v| (v.id, v)).collect();
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual machines managed by Proxbox", existing.len()),
    );

    let mut maps: HashMap<i64, HashMap<String, Mapped>> = HashMap::new();
    for source in &ctx.sources {
        maps.insert(
            source.endpoint_id,
            ctx.db.mapped_objects(source.endpoint_id, VM_MODEL).await?,
        );
    }
    let mut claimed: HashSet<u64> = HashSet::new();
    let mut creates: Vec<(usize, VirtualMachineWrite)> = Vec::new();
    let mut updates: Vec<(usize, VirtualMachineWrite)> = Vec::new();
    // Identity → (endpoint, NetBox id) of every VM that exists after this stage.
    let mut seen: HashMap<String, (i64, u64)> = HashMap::new();
    let policy = &ctx.policy;
    for (index, d) in wanted.iter().enumerate() {
        let platform = d.ostype.as_ref().and_then(|o| platforms.get(o)).copied();
        let mapped = maps[&d.endpoint_id]
            .get(&d.identity)
            .and_then(|m| by_id.get(&(m.netbox_id as u64)).copied());
        // Re-adoption after a lost database: the only unclaimed VM of that name in that cluster.
        let adopt = || {
            let mut candidates = existing.iter().filter(|v| {
                v.name == d.name
                    && v.cluster.as_ref().is_some_and(|c| c.id == d.cluster)
                    && !claimed.contains(&v.id)
            });
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        match mapped.or_else(adopt) {
            Some(vm) => {
                claimed.insert(vm.id);
                seen.insert(d.identity.clone(), (d.endpoint_id, vm.id));
                let patch = VirtualMachineWrite {
                    id: Some(vm.id),
                    name: policy.update(Field::Name, &vm.name, d.name.clone()),
                    status: policy
                        .update(Field::Status, &vm.status.value.as_str(), d.status)
                        .map(str::to_string),
                    cluster: (vm.cluster.as_ref().map(|c| c.id) != Some(d.cluster))
                        .then_some(d.cluster),
                    device: policy.update(
                        Field::Device,
                        &vm.device.as_ref().map(|r| r.id),
                        d.device,
                    ),
                    platform: policy.update(
                        Field::Platform,
                        &vm.platform.as_ref().map(|r| r.id),
                        platform,
                    ),
                    vcpus: policy.update(Field::Vcpus, &vm.vcpus, d.vcpus).flatten(),
                    memory: policy.update(Field::Memory, &vm.memory, d.memory).flatten(),
                    // Once the VM has virtual disks, NetBox sums them into `disk` itself.
                    disk: if vm.virtual_disk_count > 0 {
                        None
                    } else {
                        policy.update(Field::Disk, &vm.disk, d.disk).flatten()
                    },
                    ..Default::default()
                };
                if patch
                    == (VirtualMachineWrite {
                        id: Some(vm.id),
                        ..Default::default()
                    })
                {
                    report.item_warned(
                        &d.name,
                        d.kind.as_str(),
                        "virtual machine",
                        ItemStatus::Skipped,
                        Some(vm.id),
                        None,
                        d.warning.clone(),
                    );
                } else {
                    updates.push((index, patch));
                }
            }
            None => creates.push((
                index,
                VirtualMachineWrite {
                    name: Some(d.name.clone()),
                    status: Some(d.status.into()),
                    cluster: Some(d.cluster),
                    device: Some(d.device),
                    site: Some(Some(d.site)),
                    role: Some(Some(if d.kind == GuestKind::Qemu {
                        qemu_role
                    } else {
                        lxc_role
                    })),
                    platform: Some(platform),
                    vcpus: d.vcpus,
                    memory: d.memory,
                    disk: d.disk,
                    description: Some(d.description.clone()),
                    tags: Some(vec![TagRef {
                        slug: PROXBOX_TAG.into(),
                    }]),
                    ..Default::default()
                },
            )),
        }
    }

    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} virtual machines to create, {} to update",
            creates.len(),
            updates.len()
        ),
    );
    for (writes, status) in [
        (&creates, ItemStatus::Created),
        (&updates, ItemStatus::Updated),
    ] {
        let bodies: Vec<VirtualMachineWrite> = writes.iter().map(|(_, w)| w.clone()).collect();
        let outcome = if status == ItemStatus::Created {
            nb.create::<VirtualMachine, _>(&bodies).await?
        } else {
            nb.update::<VirtualMachine, _>(&bodies).await?
        };
        for (position, vm) in &outcome.done {
            let d = &wanted[writes[*position].0];
            report.item_warned(
                &d.name,
                d.kind.as_str(),
                "virtual machine",
                status,
                Some(vm.id),
                None,
                d.warning.clone(),
            );
            seen.insert(d.identity.clone(), (d.endpoint_id, vm.id));
        }
        for failure in &outcome.failed {
            let d = &wanted[writes[failure.index].0];
            report.item(
                &d.name,
                d.kind.as_str(),
                "virtual machine",
                ItemStatus::Failed,
                None,
                Some(failure.error.to_string()),
            );
        }
    }
    let mut by_endpoint: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for (identity, (endpoint_id, vm_id)) in &seen {
        by_endpoint
            .entry(*endpoint_id)
            .or_default()
            .push((identity.clone(), *vm_id as i64));
    }
    for (endpoint_id, objects) in by_endpoint {
        ctx.db.map_objects(endpoint_id, VM_MODEL, &objects).await?;
    }
    report.substep("apply", StepStatus::Completed, "Virtual machines written");
    Ok(wanted
        .into_iter()
        .filter_map(|d| {
            let (_, vm_id) = *seen.get(&d.identity)?;
            Some(SyncedGuest {
                name: d.name,
                kind: d.kind,
                vm_id,
                disks: d.disks,
            })
        })
        .collect())
}
