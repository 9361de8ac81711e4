//! `virtual-machines`: every QEMU VM and LXC container becomes a NetBox virtual machine in
//! its cluster, on its node's device. Reads `/cluster/resources?type=vm` and each guest's
//! config (bounded concurrency in the Proxmox client), NetBox once.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::{ClusterResource, GuestConfig, GuestKind, NetDevice};

use crate::events::{Item, StepStatus};
use crate::server::db::sync_objects::Mapped;
use crate::server::sync::adopt::{mapped_ids, Adopter, Claim};
use crate::server::sync::apply::{self, Applied};
use crate::server::sync::context::{RunOptions, SyncContext};
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::*;
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedCluster, SyncedGuest};

pub const VM_MODEL: &str = "virtualization.virtualmachine";

/// A guest as this stage wants it in NetBox.
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    pub identity: String,
    pub endpoint_id: i64,
    pub name: String,
    pub kind: GuestKind,
    pub status: &'static str,
    pub cluster: u64,
    pub device: Option<u64>,
    pub site: u64,
    pub vcpus: Option<f64>,
    pub memory: Option<u64>,
    pub disk: Option<u64>,
    pub ostype: Option<String>,
    pub description: String,
    /// Disk key (`scsi0`, `rootfs`…) and size in MB, for the virtual-disks stage.
    pub disks: Vec<(String, u64)>,
    pub nets: Vec<NetDevice>,
    pub node: String,
    pub vmid: u64,
    pub running: bool,
    pub agent: bool,
    /// Config fields that could not be read and were left out.
    pub warning: Option<String>,
}

/// What the stage read.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub guests: Vec<Guest>,
    /// Guests whose config could not be read: failed, and never treated as gone.
    pub unreadable: Vec<(Label, StageError)>,
    /// Identities of every guest Proxmox lists, readable or not.
    pub present: HashSet<String>,
    /// The VMs of the run's clusters, managed or not.
    pub existing: Vec<VirtualMachine>,
    pub mapped: HashMap<i64, HashMap<String, Mapped>>,
    pub qemu_role: u64,
    pub lxc_role: u64,
    /// `ostype` → platform id.
    pub platforms: HashMap<String, u64>,
    pub identity_field: bool,
    /// When the stage read the identity map (ms since the epoch), for the orphans' grace.
    pub now_ms: i64,
}

/// A VM whose guest is gone from Proxmox and is due for deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    pub endpoint_id: i64,
    pub identity: String,
    pub netbox_id: u64,
}

/// The plan (keyed by the guest's index in `Inputs::guests`) and the orphans its deletes
/// are, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct VmPlan {
    pub plan: Plan<VirtualMachineWrite, usize>,
    pub orphans: Vec<Orphan>,
}

fn status_of(resource: &ClusterResource) -> &'static str {
    match resource.status.as_deref() {
        Some("running") => "active",
        Some("paused") | Some("suspended") => "paused",
        _ => "offline",
    }
}

/// A guest of `/cluster/resources` (with a guest kind and vmid) and its config.
pub fn desired(
    synced: &SyncedCluster,
    resource: &ClusterResource,
    kind: GuestKind,
    vmid: u64,
    config: Option<&GuestConfig>,
) -> Guest {
    let name = config
        .and_then(|c| c.name.clone())
        .or_else(|| resource.name.clone())
        .unwrap_or_else(|| format!("{}-{vmid}", kind.as_str()));
    const MIB: u64 = 1 << 20;
    Guest {
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

fn label(guest: &Guest) -> Label {
    Label::new(guest.name.clone(), guest.kind.as_str(), "virtual machine")
        .warned(guest.warning.clone())
}

/// Mapped identities Proxmox no longer lists, per endpoint, sorted.
pub fn absent(inputs: &Inputs) -> Vec<(i64, Vec<String>)> {
    let mut absent: Vec<(i64, Vec<String>)> = inputs
        .mapped
        .iter()
        .map(|(endpoint_id, map)| {
            let mut gone: Vec<String> = map
                .keys()
                .filter(|identity| !inputs.present.contains(*identity))
                .cloned()
                .collect();
            gone.sort();
            (*endpoint_id, gone)
        })
        .filter(|(_, gone)| !gone.is_empty())
        .collect();
    absent.sort();
    absent
}

/// Each guest's VM: adopted and corrected where the policy owns the field, or created;
/// with orphan deletion on, the VMs of guests gone longer than the grace period deleted.
pub fn plan(inputs: &Inputs, policy: &OverwritePolicy, options: &RunOptions) -> VmPlan {
    let mut plan = Plan::new("virtual machines");
    for (label, error) in &inputs.unreadable {
        plan.fail(label.clone(), None, error.clone());
    }
    let in_map = |d: &Guest| {
        inputs
            .mapped
            .get(&d.endpoint_id)
            .and_then(|m| m.get(&d.identity))
            .map(|m| m.netbox_id as u64)
    };
    let claims: Vec<Claim<'_>> = inputs
        .guests
        .iter()
        .map(|d| Claim {
            mapped: in_map(d),
            identity: &d.identity,
            name: &d.name,
            cluster: d.cluster,
        })
        .collect();
    let mut adopter = Adopter::new(&inputs.existing, mapped_ids(&inputs.mapped));
    let adopted = adopter.adopt_all(&claims);
    let role_of = |kind: GuestKind| match kind {
        GuestKind::Qemu => inputs.qemu_role,
        GuestKind::Lxc => inputs.lxc_role,
    };
    let identity_field = inputs.identity_field;
    for ((index, d), adopted) in inputs.guests.iter().enumerate().zip(adopted) {
        let platform = d
            .ostype
            .as_ref()
            .and_then(|o| inputs.platforms.get(o))
            .copied();
        let Some((vm, _)) = adopted else {
            plan.create(
                index,
                label(d),
                VirtualMachineWrite {
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
                    custom_fields: identity_fields(identity_field, &d.identity),
                    ..Default::default()
                },
            );
            continue;
        };
        let patch = VirtualMachineWrite {
            id: Some(vm.id),
            name: policy.update(Field::Name, &vm.name, d.name.clone()),
            status: policy
                .update(Field::Status, &vm.status.value.as_str(), d.status)
                .map(str::to_string),
            cluster: (vm.cluster.as_ref().map(|c| c.id) != Some(d.cluster)).then_some(d.cluster),
            device: policy.update(Field::Device, &vm.device.as_ref().map(|r| r.id), d.device),
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
            description: policy.update(Field::Description, &vm.description, d.description.clone()),
            vcpus: policy.update(Field::Vcpus, &vm.vcpus, d.vcpus).flatten(),
            memory: policy.update(Field::Memory, &vm.memory, d.memory).flatten(),
            // Once the VM has virtual disks, NetBox sums them into `disk` itself.
            disk: if vm.virtual_disk_count > 0 {
                None
            } else {
                policy.update(Field::Disk, &vm.disk, d.disk).flatten()
            },
            custom_fields: identity_patch(identity_field, &vm.custom_fields, &d.identity),
            ..Default::default()
        };
        plan.update(index, label(d), vm.id, patch);
    }
    let orphans = if options.delete_orphans {
        due_orphans(inputs, &adopter, options)
    } else {
        Vec::new()
    };
    let by_id: HashMap<u64, &VirtualMachine> = inputs.existing.iter().map(|v| (v.id, v)).collect();
    for orphan in &orphans {
        let kind = orphan
            .identity
            .split('/')
            .rev()
            .nth(1)
            .unwrap_or("guest")
            .to_string();
        let name = by_id
            .get(&orphan.netbox_id)
            .map_or_else(|| orphan.identity.clone(), |vm| vm.name.clone());
        plan.delete(Label::new(name, kind, "virtual machine"), orphan.netbox_id);
    }
    VmPlan { plan, orphans }
}

/// Mapped VMs whose guest has been gone for the grace period, that still exist and that no
/// present guest adopted.
fn due_orphans(
    inputs: &Inputs,
    adopter: &Adopter<'_, VirtualMachine>,
    options: &RunOptions,
) -> Vec<Orphan> {
    let grace_ms = options.orphan_grace.as_millis() as i64;
    let exists: HashSet<u64> = inputs.existing.iter().map(|v| v.id).collect();
    let mut due = Vec::new();
    for (endpoint_id, gone) in absent(inputs) {
        let map = &inputs.mapped[&endpoint_id];
        for identity in gone {
            let mapped = &map[&identity];
            let netbox_id = mapped.netbox_id as u64;
            // A dry run has not recorded the absence: it counts from now.
            let since = mapped.missing_since.unwrap_or(inputs.now_ms);
            if exists.contains(&netbox_id)
                && !adopter.is_claimed(netbox_id)
                && inputs.now_ms - since >= grace_ms
            {
                due.push(Orphan {
                    endpoint_id,
                    identity,
                    netbox_id,
                });
            }
        }
    }
    due
}

/// The guests as NetBox has them after the plan was applied.
pub fn settle(inputs: &Inputs, applied: &Applied<usize>) -> Vec<SyncedGuest> {
    let by_id: HashMap<u64, &VirtualMachine> = inputs.existing.iter().map(|v| (v.id, v)).collect();
    let mut settled: Vec<(usize, u64)> = applied.existing().map(|(i, id)| (*i, id)).collect();
    settled.sort_unstable();
    settled
        .into_iter()
        .map(|(index, vm_id)| {
            let d = &inputs.guests[index];
            SyncedGuest {
                name: d.name.clone(),
                kind: d.kind,
                vm_id,
                disks: d.disks.clone(),
                nets: d.nets.clone(),
                endpoint_id: d.endpoint_id,
                node: d.node.clone(),
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
            }
        })
        .collect()
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    let inputs = read(ctx, report, state).await?;
    if !ctx.options.dry_run {
        for (endpoint_id, gone) in absent(&inputs) {
            ctx.db.mark_missing(endpoint_id, VM_MODEL, &gone).await?;
        }
    }
    let VmPlan { plan, orphans } = plan(&inputs, &ctx.policy, &ctx.options);
    report.substep("apply", StepStatus::Started, plan.summary());
    let applied = apply::apply::<VirtualMachine, _, _>(ctx, report, &plan).await?;
    let guests = settle(&inputs, &applied);
    if !ctx.options.dry_run {
        let mut by_endpoint: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for (index, vm_id) in applied.existing() {
            let d = &inputs.guests[*index];
            by_endpoint
                .entry(d.endpoint_id)
                .or_default()
                .push((d.identity.clone(), vm_id as i64));
        }
        for (endpoint_id, objects) in by_endpoint {
            ctx.db.map_objects(endpoint_id, VM_MODEL, &objects).await?;
        }
        for (orphan, (_, gone)) in orphans.iter().zip(&applied.deleted) {
            if *gone {
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
    state.guests = guests;
    Ok(())
}

/// Proxmox's guests with their configs, beside NetBox's VMs of the run's clusters, the
/// roles and platforms they point at, and the identity map.
pub async fn read(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
) -> Result<Inputs, StageError> {
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
        tags: vec![proxbox_tag()],
    };
    // The VMs of this run's clusters, managed or not: a VM is adopted only within its
    // cluster, and reads scoped so stay undisturbed by other clusters' syncs.
    let cluster_ids = state.cluster_ids();
    // Proxmox's guests, the roles and NetBox's VMs do not depend on each other: all at once.
    let (guests, qemu_role, lxc_role, existing) = tokio::join!(
        read_guests(ctx, state),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-qemu", || {
            role_for("proxmox-qemu", "Proxmox QEMU VM")
        }),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-lxc", || {
            role_for("proxmox-lxc", "Proxmox LXC container")
        }),
        ctx.read_in::<VirtualMachine>("cluster_id", &cluster_ids),
    );
    let (guests, unreadable, present) = guests?;
    let (qemu_role, lxc_role, existing) = (qemu_role?, lxc_role?, existing?);
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{} guests", present.len()),
    );
    report.discover(
        "virtual machines",
        guests
            .iter()
            .map(|g| Item::new(g.name.clone(), g.kind.as_str()))
            .chain(
                unreadable
                    .iter()
                    .map(|(l, _)| Item::new(l.name.clone(), l.kind.clone())),
            )
            .collect(),
    );
    let mut ostypes: Vec<String> = guests.iter().filter_map(|d| d.ostype.clone()).collect();
    ostypes.sort();
    ostypes.dedup();
    let platform_ids = futures::future::try_join_all(ostypes.iter().map(|ostype| async move {
        let slug = format!("proxmox-{}", slugify(ostype));
        apply::ensure::<Platform, _>(ctx, &slug, || NewNamed {
            name: format!("Proxmox ostype {ostype}"),
            slug: slug.clone(),
            description: String::new(),
            tags: vec![proxbox_tag()],
        })
        .await
    }))
    .await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual machines in the synced clusters", existing.len()),
    );
    let mut mapped = HashMap::new();
    for source in &ctx.sources {
        mapped.insert(
            source.endpoint_id,
            ctx.db.mapped_objects(source.endpoint_id, VM_MODEL).await?,
        );
    }
    Ok(Inputs {
        guests,
        unreadable,
        present,
        existing,
        mapped,
        qemu_role,
        lxc_role,
        platforms: ostypes.into_iter().zip(platform_ids).collect(),
        identity_field: state.identity_field,
        now_ms: crate::server::db::now_ms(),
    })
}

type GuestsRead = (Vec<Guest>, Vec<(Label, StageError)>, HashSet<String>);

/// Reads every guest's config (bounded concurrency in the Proxmox client). An unreadable
/// config fails that guest only: it is reported and left alone, never treated as gone.
async fn read_guests(ctx: &SyncContext<'_>, state: &RunState) -> Result<GuestsRead, StageError> {
    let mut wanted: Vec<Guest> = Vec::new();
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
        let guests: Vec<(ClusterResource, GuestKind, u64)> = source
            .pve
            .guests()
            .await?
            .value
            .into_iter()
            .filter_map(|r| {
                let (kind, vmid) = (r.guest_kind()?, r.vmid?);
                Some((r, kind, vmid))
            })
            .collect();
        let mut reads = tokio::task::JoinSet::new();
        for (index, (guest, kind, vmid)) in guests.iter().enumerate() {
            let (pve, node, kind, vmid) = (
                source.pve.clone(),
                guest.node.clone().unwrap_or_default(),
                *kind,
                *vmid,
            );
            reads.spawn(async move { (index, pve.guest_config(&node, kind, vmid).await) });
        }
        let mut configs: HashMap<usize, proxbox_pve::Parsed<GuestConfig>> = HashMap::new();
        let mut unreadable: HashSet<usize> = HashSet::new();
        while let Some(joined) = reads.join_next().await {
            let Ok((index, result)) = joined else {
                continue;
            };
            match result {
                Ok(parsed) => {
                    configs.insert(index, parsed);
                }
                Err(e) => {
                    unreadable.insert(index);
                    let guest = &guests[index].0;
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
        for (index, (guest, kind, vmid)) in guests.iter().enumerate() {
            present.insert(guest_identity(&synced.name, *kind, *vmid));
            if unreadable.contains(&index) {
                continue;
            }
            let parsed = configs.get(&index);
            let mut d = desired(synced, guest, *kind, *vmid, parsed.map(|p| &p.value));
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
    failed_reads.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok((wanted, failed_reads, present))
}

#[cfg(test)]
#[path = "virtual_machines_tests.rs"]
mod tests;
