//! `virtual-machines`: every QEMU VM and LXC container becomes a NetBox virtual machine in
//! its cluster, on its node's device. Reads `/cluster/resources?type=vm` and each guest's
//! config (bounded concurrency in the Proxmox client), NetBox once.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::{ClusterResource, GuestConfig, GuestKind, NetDevice};

use super::devices::{
    identity_fields, identity_patch, recorded_identity, tags, SyncedCluster, PROXBOX_TAG,
};
use crate::events::{ItemStatus, StepStatus};
use crate::server::db::sync_objects::Mapped;
use crate::server::sync::apply::{self, Label, Write};
use crate::server::sync::context::{StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;
use crate::server::sync::run::RunState;

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
    nets: Vec<NetDevice>,
    node: String,
    vmid: u64,
    running: bool,
    agent: bool,
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
    /// The `netN` devices of the config, for the vm-interfaces stage.
    pub nets: Vec<NetDevice>,
    /// Where to ask the guest agent (ip-addresses stage).
    pub endpoint_id: i64,
    pub node: String,
    pub vmid: u64,
    pub running: bool,
    /// QEMU: the guest agent is enabled in the config.
    pub agent: bool,
    /// The VM's primary IPv4 and IPv6 in NetBox as this stage read them (the
    /// ip-addresses stage compares against them instead of reading every VM again).
    pub primary_ips: (Option<u64>, Option<u64>),
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
        nets: config.map(|c| c.nets.clone()).unwrap_or_default(),
        node: resource.node.clone().unwrap_or_default(),
        vmid,
        running: resource.status.as_deref() == Some("running"),
        agent: config
            .and_then(|c| c.agent.as_ref())
            .is_some_and(|a| a.enabled),
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

/// Reads every guest's config (bounded concurrency in the Proxmox client). An unreadable
/// config fails that guest only: it is reported and left alone, never treated as gone.
async fn read_guests(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
) -> Result<(Vec<Desired>, HashSet<String>), StageError> {
    let mut wanted: Vec<Desired> = Vec::new();
    let mut present: HashSet<String> = HashSet::new();
    let mut failed_reads: Vec<(Label, StageError)> = Vec::new();
    for source in &ctx.sources {
        let Some(synced) = state
            .clusters
            .iter()
            .find(|c| c.endpoint_id == source.endpoint_id)
        else {
            continue;
        };
        let guests: Vec<ClusterResource> = match state.resources.get(&source.endpoint_id) {
            Some(resources) => resources
                .iter()
                .filter(|r| r.guest_kind().is_some() && r.vmid.is_some())
                .cloned()
                .collect(),
            None => source.pve.guests().await?.value,
        };
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
                Err(e) => {
                    unreadable.insert(index);
                    let guest = &guests[index];
                    failed_reads.push((
                        Label::new(
                            guest.name.clone().unwrap_or_default(),
                            guest.kind.clone(),
                            "virtual machine",
                        ),
                        e.into(),
                    ));
                }
            }
        }
        for (index, guest) in guests.iter().enumerate() {
            if let (Some(kind), Some(vmid)) = (guest.guest_kind(), guest.vmid) {
                present.insert(guest_identity(&synced.name, kind, vmid));
            }
            if unreadable.contains(&index) {
                continue;
            }
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
    for (label, error) in failed_reads {
        report.labeled(&label, ItemStatus::Failed, None, Some(error));
    }
    Ok((wanted, present))
}

fn label(d: &Desired) -> Label {
    Label::new(d.name.clone(), d.kind.as_str(), "virtual machine").warned(d.warning.clone())
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading guests and their configuration from Proxmox",
    );
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the virtual machines of the synced clusters",
    );
    let role_for = |slug: &str, name: &str| NewDeviceRole {
        name: name.into(),
        slug: slug.into(),
        color: "4caf50".into(),
        vm_role: true,
        tags: vec![TagRef {
            slug: PROXBOX_TAG.into(),
        }],
    };
    // The VMs of this run's clusters, managed or not: a VM is adopted only within its
    // cluster, and reads scoped so stay undisturbed by other clusters' syncs.
    let cluster_ids = state.cluster_ids();
    // Proxmox's guests, the roles and NetBox's VMs do not depend on each other: all at once.
    let (guests, qemu_role, lxc_role, existing) = tokio::join!(
        read_guests(ctx, report, state),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-qemu", || {
            role_for("proxmox-qemu", "Proxmox QEMU VM")
        }),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-lxc", || {
            role_for("proxmox-lxc", "Proxmox LXC container")
        }),
        ctx.read_in::<VirtualMachine>("cluster_id", &cluster_ids),
    );
    let (wanted, present) = guests?;
    let (qemu_role, lxc_role, existing) = (qemu_role?, lxc_role?, existing?);
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{} guests", present.len()),
    );
    let role_of = |kind: GuestKind| match kind {
        GuestKind::Qemu => qemu_role,
        GuestKind::Lxc => lxc_role,
    };
    let mut ostypes: Vec<String> = wanted.iter().filter_map(|d| d.ostype.clone()).collect();
    ostypes.sort();
    ostypes.dedup();
    let platform_ids = futures::future::try_join_all(ostypes.iter().map(|ostype| async move {
        let slug = format!("proxmox-{}", crate::server::sync::context::slugify(ostype));
        apply::ensure::<Platform, _>(ctx, &slug, || NewNamed {
            name: format!("Proxmox ostype {ostype}"),
            slug: slug.clone(),
            description: String::new(),
            tags: vec![TagRef {
                slug: PROXBOX_TAG.into(),
            }],
        })
        .await
    }))
    .await?;
    let platforms: HashMap<String, u64> = ostypes.into_iter().zip(platform_ids).collect();
    let by_id: HashMap<u64, &VirtualMachine> = existing.iter().map(|v| (v.id, v)).collect();
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual machines in the synced clusters", existing.len()),
    );

    let mut maps: HashMap<i64, HashMap<String, Mapped>> = HashMap::new();
    for source in &ctx.sources {
        maps.insert(
            source.endpoint_id,
            ctx.db.mapped_objects(source.endpoint_id, VM_MODEL).await?,
        );
    }
    let mut claimed: HashSet<u64> = HashSet::new();
    let mut creates: Vec<(usize, Write<VirtualMachineWrite>)> = Vec::new();
    let mut updates: Vec<(usize, Write<VirtualMachineWrite>)> = Vec::new();
    // Identity → (endpoint, NetBox id) of every VM that exists after this stage.
    let mut seen: HashMap<String, (i64, u64)> = HashMap::new();
    let policy = &ctx.policy;
    for (index, d) in wanted.iter().enumerate() {
        let platform = d.ostype.as_ref().and_then(|o| platforms.get(o)).copied();
        let mapped = maps[&d.endpoint_id]
            .get(&d.identity)
            .and_then(|m| by_id.get(&(m.netbox_id as u64)).copied());
        // Re-adoption after a lost database: the identity NetBox recorded, else the only
        // unclaimed VM of that name in that cluster.
        let recorded = || {
            existing.iter().find(|v| {
                recorded_identity(&v.custom_fields) == Some(d.identity.as_str())
                    && !claimed.contains(&v.id)
            })
        };
        let by_name = || {
            let mut candidates = existing.iter().filter(|v| {
                v.name == d.name
                    && v.cluster.as_ref().is_some_and(|c| c.id == d.cluster)
                    && recorded_identity(&v.custom_fields).is_none()
                    && !claimed.contains(&v.id)
            });
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        match mapped.or_else(recorded).or_else(by_name) {
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
                    site: policy.update(Field::Site, &vm.site.as_ref().map(|r| r.id), Some(d.site)),
                    role: policy.update(
                        Field::Role,
                        &vm.role.as_ref().map(|r| r.id),
                        Some(role_of(d.kind)),
                    ),
                    description: policy.update(
                        Field::Description,
                        &vm.description,
                        d.description.clone(),
                    ),
                    vcpus: policy.update(Field::Vcpus, &vm.vcpus, d.vcpus).flatten(),
                    memory: policy.update(Field::Memory, &vm.memory, d.memory).flatten(),
                    // Once the VM has virtual disks, NetBox sums them into `disk` itself.
                    disk: if vm.virtual_disk_count > 0 {
                        None
                    } else {
                        policy.update(Field::Disk, &vm.disk, d.disk).flatten()
                    },
                    custom_fields: identity_patch(state, &vm.custom_fields, &d.identity),
                    ..Default::default()
                };
                if patch
                    == (VirtualMachineWrite {
                        id: Some(vm.id),
                        ..Default::default()
                    })
                {
                    report.labeled(&label(d), ItemStatus::Skipped, Some(vm.id), None);
                } else {
                    updates.push((
                        index,
                        Write {
                            label: label(d),
                            id: Some(vm.id),
                            body: patch,
                        },
                    ));
                }
            }
            None => creates.push((
                index,
                Write {
                    label: label(d),
                    id: None,
                    body: VirtualMachineWrite {
                        name: Some(d.name.clone()),
                        status: Some(d.status.into()),
                        cluster: Some(d.cluster),
                        device: Some(d.device),
                        site: Some(Some(d.site)),
                        role: Some(Some(role_of(d.kind))),
                        platform: Some(platform),
                        vcpus: d.vcpus,
                        memory: d.memory,
                        disk: d.disk,
                        description: Some(d.description.clone()),
                        tags: tags(),
                        custom_fields: identity_fields(state, &d.identity),
                        ..Default::default()
                    },
                },
            )),
        }
    }

    let orphans = orphans(ctx, &maps, &present, &by_id).await?;
    report.expect(wanted.len() + report.counts.failed as usize + orphans.len());
    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} virtual machines to create, {} to update, {} to delete",
            creates.len(),
            updates.len(),
            orphans.len()
        ),
    );
    for (writes, create) in [(&creates, true), (&updates, false)] {
        let batch: Vec<Write<VirtualMachineWrite>> =
            writes.iter().map(|(_, w)| w.clone()).collect();
        let ids = if create {
            apply::create::<VirtualMachine, _>(ctx, report, &batch).await?
        } else {
            apply::update::<VirtualMachine, _>(ctx, report, &batch).await?
        };
        for ((index, _), id) in writes.iter().zip(ids) {
            if let Some(id) = id {
                let d = &wanted[*index];
                seen.insert(d.identity.clone(), (d.endpoint_id, id));
            }
        }
    }
    let targets: Vec<(Label, u64)> = orphans
        .iter()
        .map(|o| (o.label.clone(), o.netbox_id))
        .collect();
    let gone = apply::delete::<VirtualMachine>(ctx, report, &targets).await?;

    if !ctx.options.dry_run {
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
        for (orphan, gone) in orphans.iter().zip(gone) {
            if gone {
                ctx.db
                    .unmap_objects(
                        orphan.endpoint_id,
                        VM_MODEL,
                        std::slice::from_ref(&orphan.identity),
                    )
                    .await?;
            }
        }
    }
    report.substep("apply", StepStatus::Completed, "Virtual machines written");
    state.guests = wanted
        .into_iter()
        .filter_map(|d| {
            let (_, vm_id) = *seen.get(&d.identity)?;
            Some(SyncedGuest {
                name: d.name,
                kind: d.kind,
                vm_id,
                disks: d.disks,
                nets: d.nets,
                endpoint_id: d.endpoint_id,
                node: d.node,
                vmid: d.vmid,
                running: d.running,
                agent: d.agent,
                primary_ips: by_id
                    .get(&vm_id)
                    .map(|vm| {
                        (
                            vm.primary_ip4.as_ref().map(|r| r.id),
                            vm.primary_ip6.as_ref().map(|r| r.id),
                        )
                    })
                    .unwrap_or_default(),
            })
        })
        .collect();
    Ok(())
}

/// A VM whose guest is gone from Proxmox and is due for deletion.
struct Orphan {
    endpoint_id: i64,
    identity: String,
    netbox_id: u64,
    label: Label,
}

/// Guests in the identity map that Proxmox no longer lists. Their first absence is recorded;
/// with orphan deletion on, those absent for longer than the grace period are returned.
async fn orphans(
    ctx: &SyncContext<'_>,
    maps: &HashMap<i64, HashMap<String, Mapped>>,
    present: &HashSet<String>,
    by_id: &HashMap<u64, &VirtualMachine>,
) -> Result<Vec<Orphan>, StageError> {
    let now = crate::server::db::now_ms();
    let grace_ms = ctx.options.orphan_grace.as_millis() as i64;
    let mut due = Vec::new();
    for (endpoint_id, map) in maps {
        let mut absent: Vec<String> = map
            .keys()
            .filter(|identity| !present.contains(*identity))
            .cloned()
            .collect();
        absent.sort();
        if absent.is_empty() {
            continue;
        }
        if !ctx.options.dry_run {
            ctx.db.mark_missing(*endpoint_id, VM_MODEL, &absent).await?;
        }
        if !ctx.options.delete_orphans {
            continue;
        }
        for identity in absent {
            let mapped = &map[&identity];
            // A dry run has not recorded the absence: it counts from now.
            let since = mapped.missing_since.unwrap_or(now);
            let Some(vm) = by_id.get(&(mapped.netbox_id as u64)) else {
                continue;
            };
            if now - since >= grace_ms {
                let kind = identity
                    .split('/')
                    .rev()
                    .nth(1)
                    .unwrap_or("guest")
                    .to_string();
                due.push(Orphan {
                    endpoint_id: *endpoint_id,
                    label: Label::new(vm.name.clone(), kind, "virtual machine"),
                    identity,
                    netbox_id: vm.id,
                });
            }
        }
    }
    Ok(due)
}
