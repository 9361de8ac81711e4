//! `virtual-machines`: every QEMU VM and LXC container becomes a NetBox virtual machine in
//! its cluster, on its node's device, with its VM type (QEMU or LXC; the role stays the
//! operator's), start on boot, SMBIOS serial, Proxmox notes as comments, Proxmox tags and
//! the platform of its OS ([`platforms`](crate::server::sync::platforms)). Guests sharing a
//! name get names NetBox accepts ([`names`]).
//! Reads `/cluster/resources?type=vm` and each guest's config (bounded concurrency in the
//! Proxmox client), NetBox once.

pub mod cards;
pub mod ha;
pub mod names;
pub use ha::Ha;
use names::fallback_name;
mod orphans;
mod read;
pub mod tags;

use orphans::due_orphans;
pub use orphans::{absent, Orphan};

use std::collections::{BTreeSet, HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::{ClusterResource, GuestConfig, GuestKind, NetDevice};

use crate::events::StepStatus;
use crate::models::RecordKind;
use crate::server::infra::db::sync_objects::Mapped;
use crate::server::sync::adopt::{conflict_words, mapped_ids, Adopter, Claim, Found};
use crate::server::sync::apply::{self, Applied};
use crate::server::sync::context::{RunOptions, SyncContext, Templates};
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::*;
use crate::server::sync::mapping::Resolved;
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::platforms::{wanted_platform, WantedPlatform};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{GuestDisk, RunState, SyncedCluster, SyncedGuest};

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
    /// The OS the guest agent reports ("Ubuntu 22.04.4 LTS").
    pub agent_os: Option<String>,
    /// The guest has an agent that was not heard (stopped, not asked, no answer): its OS is
    /// unknown, not absent, and a platform NetBox has stays.
    pub agent_unheard: bool,
    pub description: String,
    /// `onboot`.
    pub start_on_boot: bool,
    /// The SMBIOS UUID (QEMU `smbios1`).
    pub serial: Option<String>,
    /// The guest's Proxmox notes (`description` in its config), NetBox's comments.
    pub notes: String,
    /// Proxmox tags, as Proxmox spells them.
    pub tags: Vec<String>,
    pub template: bool,
    /// The guest's Proxmox pool.
    pub pool: Option<String>,
    /// What the mapping rules give it (NetBox ids).
    pub mapped: Resolved,
    /// For the virtual-disks stage.
    pub disks: Vec<GuestDisk>,
    pub nets: Vec<NetDevice>,
    pub node: String,
    pub vmid: u64,
    pub running: bool,
    pub agent: bool,
    /// Config fields that could not be read and were left out.
    pub warning: Option<String>,
    pub ha: Ha,
}

/// What the stage read.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub guests: Vec<Guest>,
    /// Guests whose config could not be read: failed, and never treated as gone.
    pub unreadable: Vec<(Label, StageError)>,
    /// Identities of every guest Proxmox lists, readable or not.
    pub present: HashSet<String>,
    /// Endpoints whose guest list came back with entries that could not be identified (a
    /// VMID or type of a shape no Proxmox sends): the list is not the whole cluster, so
    /// none of their VMs is treated as gone this run.
    pub incomplete: HashSet<i64>,
    /// The VMs of the run's clusters, managed or not.
    pub existing: Vec<VirtualMachine>,
    pub mapped: HashMap<i64, HashMap<String, Mapped>>,
    /// The VM types of QEMU VMs and LXC containers; `None` on a NetBox before 4.7, which
    /// has neither VM types nor start on boot and serial.
    pub vm_types: Option<VmTypes>,
    /// Proxmox tag (lowercase) → the NetBox tag's slug.
    pub tag_slugs: HashMap<String, String>,
    /// Platform slug → platform id, for each guest's [`Guest::platform`].
    pub platforms: HashMap<String, u64>,
    pub identity_field: bool,
    /// Whether NetBox has the `proxmox_ha` custom field.
    pub ha_field: bool,
    /// When the stage read the identity map (ms since the epoch), for the orphans' grace.
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmTypes {
    pub qemu: u64,
    pub lxc: u64,
}

impl VmTypes {
    fn of(self, kind: GuestKind) -> u64 {
        match kind {
            GuestKind::Qemu => self.qemu,
            GuestKind::Lxc => self.lxc,
        }
    }
}

/// The plan (keyed by the guest's index in `Inputs::guests`) and the orphans its deletes
/// are, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct VmPlan {
    pub plan: Plan<VirtualMachineWrite, usize>,
    pub orphans: Vec<Orphan>,
    /// Per guest (by index) whose record changes: the tags Proxbox will have added once
    /// its write lands.
    pub added_tags: Vec<(usize, BTreeSet<String>)>,
}

fn status_of(resource: &ClusterResource) -> &'static str {
    match resource.status.as_deref() {
        Some("running") => "active",
        Some("paused") | Some("suspended") => "paused",
        _ => "offline",
    }
}

impl Guest {
    /// The platform its OS makes, unless a mapping rule gives it one.
    pub fn platform(&self) -> Option<WantedPlatform> {
        wanted_platform(self.kind, self.ostype.as_deref(), self.agent_os.as_deref())
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
        .unwrap_or_else(|| fallback_name(kind, vmid));
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
        agent_os: None,
        agent_unheard: kind == GuestKind::Qemu
            && config
                .and_then(|c| c.agent.as_ref())
                .is_some_and(|a| a.enabled),
        start_on_boot: config.and_then(|c| c.onboot).unwrap_or(false),
        serial: config
            .and_then(GuestConfig::smbios_uuid)
            .map(str::to_string),
        // NetBox trims what it stores: compared untrimmed, every resync would write.
        notes: config
            .and_then(|c| c.description.as_deref())
            .map(|notes| notes.trim().to_string())
            .unwrap_or_default(),
        tags: config.map(|c| c.tags.clone()).unwrap_or_default(),
        template: config.is_some_and(|c| c.template) || resource.template,
        pool: resource.pool.clone(),
        mapped: Resolved::default(),
        nets: config.map(|c| c.nets.clone()).unwrap_or_default(),
        node: resource.node.clone().unwrap_or_default(),
        vmid,
        running: resource.status.as_deref() == Some("running"),
        agent: config
            .and_then(|c| c.agent.as_ref())
            .is_some_and(|a| a.enabled),
        warning: None,
        ha: Ha::default(),
        disks: config
            .map(|c| {
                c.disks
                    .iter()
                    .map(|d| GuestDisk::new(&d.key, &d.volume, d.size_bytes.unwrap_or(0) / MIB))
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

/// Each guest's VM: adopted and corrected where the policy owns the field, or created;
/// with orphan deletion on, the VMs of guests gone longer than the grace period deleted.
pub fn plan(inputs: &Inputs, policy: &OverwritePolicy, options: &RunOptions) -> VmPlan {
    let mut plan = Plan::new("virtual machines");
    for (label, error) in &inputs.unreadable {
        plan.fail(label.clone(), None, error.clone());
    }
    let skip_templates = options.templates == Templates::Skip;
    let synced: Vec<(usize, &Guest)> = inputs
        .guests
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            if skip_templates && d.template {
                plan.leave(
                    label(d).warned(Some(
                        "a Proxmox template, left out (PROXBOX_TEMPLATES=skip)".into(),
                    )),
                    None,
                );
                return false;
            }
            true
        })
        .collect();
    let mapped_of = |d: &Guest| {
        inputs
            .mapped
            .get(&d.endpoint_id)
            .and_then(|m| m.get(&d.identity))
    };
    let claims: Vec<Claim<'_>> = synced
        .iter()
        .map(|(_, d)| Claim {
            mapped: mapped_of(d).map(|m| m.netbox_id as u64),
            identity: &d.identity,
            name: &d.name,
            cluster: d.cluster,
            vmid: Some(d.vmid),
        })
        .collect();
    let mut adopter = Adopter::new(&inputs.existing, mapped_ids(&inputs.mapped));
    let adopted = adopter.adopt_all(&claims);
    let identity_field = inputs.identity_field;
    let mut added_tags = Vec::new();
    for (((index, d), adopted), claim) in synced.into_iter().zip(adopted).zip(&claims) {
        let platform = d.mapped.platform.or_else(|| {
            d.platform()
                .and_then(|p| inputs.platforms.get(&p.slug))
                .copied()
        });
        let wanted = wanted_tags(inputs, d);
        let status = if d.template { "offline" } else { d.status };
        let vm_type = inputs.vm_types.map(|t| t.of(d.kind));
        let start_on_boot = inputs
            .vm_types
            .map(|_| if d.start_on_boot { "on" } else { "off" });
        let serial = inputs.vm_types.and(d.serial.clone());
        let added_before: BTreeSet<String> = mapped_of(d)
            .map(|m| m.added_tags.iter().cloned().collect())
            .unwrap_or_default();
        let (vm, how) = match adopted {
            Found::Adopted(vm, how) => (vm, how),
            Found::Conflict(how, ids) => {
                let why = conflict_words("VM", claim, how, &ids);
                plan.leave(label(d).conflict(why), None);
                continue;
            }
            Found::New => {
                let merged = tags::merge(&[PROXBOX_TAG.to_string()].into(), &wanted, &added_before);
                if merged.added != added_before {
                    added_tags.push((index, merged.added));
                }
                plan.create(
                    index,
                    label(d),
                    VirtualMachineWrite {
                        name: Some(d.name.clone()),
                        status: Some(status.into()),
                        cluster: Some(d.cluster),
                        device: Some(d.device),
                        site: Some(Some(d.site)),
                        tenant: d.mapped.tenant.map(Some),
                        role: d.mapped.role.map(Some),
                        platform: Some(platform),
                        virtual_machine_type: vm_type.map(Some),
                        start_on_boot: start_on_boot.map(str::to_string),
                        serial,
                        vcpus: d.vcpus,
                        memory: d.memory,
                        disk: d.disk,
                        description: Some(d.description.clone()),
                        comments: (!d.notes.is_empty()).then(|| d.notes.clone()),
                        tags: Some(tag_refs(&merged.tags)),
                        custom_fields: {
                            let mut fields = identity_fields(identity_field, &d.identity);
                            d.ha.add_to(&mut fields, inputs.ha_field);
                            fields
                        },
                        ..Default::default()
                    },
                );
                continue;
            }
        };
        let current: BTreeSet<String> = vm.tags.iter().filter_map(|t| t.slug.clone()).collect();
        let merged = tags::merge(&current, &wanted, &added_before);
        let untagged = !is_managed(&vm.tags);
        // The system Proxbox replaces tags its VMs `proxbox` too: found by its VMID or by
        // name, such a VM is taken over all the same.
        let taken_over = untagged || !how.is_identity();
        // The proxbox tag marks what Proxbox took over, whoever owns the tag list.
        let tags = match policy.update(Field::Tags, &current, merged.tags) {
            Some(mut tags) if untagged => {
                tags.insert(PROXBOX_TAG.to_string());
                Some(tags)
            }
            Some(tags) => Some(tags),
            None if untagged => Some(
                current
                    .iter()
                    .cloned()
                    .chain([PROXBOX_TAG.into()])
                    .collect(),
            ),
            None => None,
        }
        .map(|t| tag_refs(&t));
        if tags.is_some() && merged.added != added_before {
            added_tags.push((index, merged.added));
        }
        let patch = VirtualMachineWrite {
            id: Some(vm.id),
            name: policy.update(Field::Name, &vm.name, d.name.clone()),
            status: policy
                .update(Field::Status, &vm.status.value.as_str(), status)
                .map(str::to_string),
            cluster: (vm.cluster.as_ref().map(|c| c.id) != Some(d.cluster)).then_some(d.cluster),
            device: policy.update(Field::Device, &vm.device.as_ref().map(|r| r.id), d.device),
            platform: if d.agent_unheard && d.mapped.platform.is_none() && vm.platform.is_some() {
                None
            } else {
                policy.update(
                    Field::Platform,
                    &vm.platform.as_ref().map(|r| r.id),
                    platform,
                )
            },
            site: policy.update(Field::Site, &vm.site.as_ref().map(|r| r.id), Some(d.site)),
            // Without a rule for it, a field is the operator's: nothing to correct.
            tenant: d.mapped.tenant.and_then(|t| {
                policy.update(Field::Tenant, &vm.tenant.as_ref().map(|r| r.id), Some(t))
            }),
            role: d
                .mapped
                .role
                .and_then(|r| policy.update(Field::Role, &vm.role.as_ref().map(|r| r.id), Some(r))),
            virtual_machine_type: vm_type.and_then(|t| {
                policy.update(
                    Field::VmType,
                    &vm.virtual_machine_type.as_ref().map(|r| r.id),
                    Some(t),
                )
            }),
            start_on_boot: start_on_boot.and_then(|on| {
                policy
                    .update(
                        Field::StartOnBoot,
                        &vm.start_on_boot.as_ref().map(|c| c.value.as_str()),
                        Some(on),
                    )
                    .flatten()
                    .map(str::to_string)
            }),
            serial: serial.and_then(|s| policy.update(Field::Serial, &vm.serial, s)),
            description: policy.update(Field::Description, &vm.description, d.description.clone()),
            comments: policy.update(Field::Comments, &vm.comments, d.notes.clone()),
            vcpus: policy.update(Field::Vcpus, &vm.vcpus, d.vcpus).flatten(),
            memory: policy.update(Field::Memory, &vm.memory, d.memory).flatten(),
            // Once the VM has virtual disks, NetBox sums them into `disk` itself.
            disk: if vm.virtual_disk_count > 0 {
                None
            } else {
                policy.update(Field::Disk, &vm.disk, d.disk).flatten()
            },
            tags,
            custom_fields: {
                let mut patch = identity_patch(identity_field, &vm.custom_fields, &d.identity);
                d.ha.patch(&mut patch, &vm.custom_fields, inputs.ha_field);
                patch
            },
            ..Default::default()
        };
        let label = if taken_over {
            label(d).adopted(how.words())
        } else {
            label(d)
        };
        plan.update(index, label, vm.id, patch);
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
    VmPlan {
        plan,
        orphans,
        added_tags,
    }
}

/// The NetBox slugs of a guest's Proxmox tags, with the template marker on a template.
fn wanted_tags(inputs: &Inputs, guest: &Guest) -> BTreeSet<String> {
    let mut wanted: BTreeSet<String> = guest
        .tags
        .iter()
        .filter_map(|t| inputs.tag_slugs.get(&t.to_lowercase()).cloned())
        .collect();
    if guest.template {
        wanted.insert(tags::TEMPLATE_TAG.to_string());
    }
    wanted
}

fn tag_refs(slugs: &BTreeSet<String>) -> Vec<TagRef> {
    slugs
        .iter()
        .map(|slug| TagRef { slug: slug.clone() })
        .collect()
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
                vrf: d.mapped.vrf,
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
    let inputs = read::read(ctx, report, state).await?;
    // A node's or guest's run leaves the other guests' VMs alone, also those gone.
    let whole = state.scope.is_whole();
    if !ctx.options.dry_run && whole {
        for (endpoint_id, gone) in absent(&inputs) {
            ctx.db.mark_missing(endpoint_id, VM_MODEL, &gone).await?;
        }
    }
    let VmPlan {
        plan,
        orphans,
        added_tags,
    } = if whole {
        plan(&inputs, &ctx.policy, &ctx.options)
    } else {
        let options = RunOptions {
            delete_orphans: false,
            ..ctx.options.clone()
        };
        plan(&inputs, &ctx.policy, &options)
    };
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
        record_added_tags(ctx, &inputs, &applied, added_tags).await?;
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
    store_cards(ctx, report, &inputs, &applied, &state.clusters).await?;
    state.guests = guests;
    Ok(())
}

/// Keeps each guest's card for the pages (nothing in a dry run).
async fn store_cards(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    inputs: &Inputs,
    applied: &Applied<usize>,
    clusters: &[SyncedCluster],
) -> Result<(), StageError> {
    if ctx.options.dry_run {
        return Ok(());
    }
    let mut stored = HashMap::new();
    for cluster in clusters {
        let records = ctx
            .db
            .inventory(cluster.endpoint_id, RecordKind::Guest, None)
            .await?;
        stored.insert(cluster.endpoint_id, records);
    }
    for plan in cards::plan_cards(inputs, applied, clusters, &stored) {
        crate::server::sync::inventory::store(ctx, report, &plan).await?;
    }
    Ok(())
}

/// (endpoint, identity, tags) to record as added by Proxbox: the guests whose write landed
/// (a refused write leaves the VM's tags, and so the record, as they were).
pub fn landed_tags(
    inputs: &Inputs,
    applied: &Applied<usize>,
    added_tags: Vec<(usize, BTreeSet<String>)>,
) -> Vec<(i64, String, Vec<String>)> {
    let landed: HashSet<usize> = applied.settled().map(|(index, _)| *index).collect();
    added_tags
        .into_iter()
        .filter(|(index, _)| landed.contains(index))
        .map(|(index, added)| {
            let d = &inputs.guests[index];
            (
                d.endpoint_id,
                d.identity.clone(),
                added.into_iter().collect(),
            )
        })
        .collect()
}

async fn record_added_tags(
    ctx: &SyncContext<'_>,
    inputs: &Inputs,
    applied: &Applied<usize>,
    added_tags: Vec<(usize, BTreeSet<String>)>,
) -> Result<(), StageError> {
    let mut by_endpoint: HashMap<i64, Vec<(String, Vec<String>)>> = HashMap::new();
    for (endpoint_id, identity, added) in landed_tags(inputs, applied, added_tags) {
        by_endpoint
            .entry(endpoint_id)
            .or_default()
            .push((identity, added));
    }
    for (endpoint_id, tags) in by_endpoint {
        ctx.db
            .record_added_tags(endpoint_id, VM_MODEL, &tags)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
