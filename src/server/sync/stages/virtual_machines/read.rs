//! What the virtual-machines stage reads: Proxmox's guests with their configs, beside
//! NetBox's VMs of the run's clusters, the VM types, platforms and tags they point at, and
//! the identity map.

use std::collections::{BTreeMap, HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::{ClusterResource, GuestConfig, GuestKind};

use super::names::{names_of, NetboxName};
use super::{desired, ha, tags, Guest, Ha, Inputs, VmTypes, VM_MODEL};
use crate::events::{ErrorCategory, Item, StepStatus};
use crate::server::sync::agents::{ask_agents, AgentGuest};
use crate::server::sync::apply;
use crate::server::sync::context::SyncContext;
use crate::server::sync::custom_fields;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{guest_identity, proxbox_tag};
use crate::server::sync::mapping::Facts;
use crate::server::sync::plan::Label;
use crate::server::sync::platforms::{ensure_platforms, WantedPlatform};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

pub(super) async fn read(
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
    // The VMs of this run's clusters, managed or not: a VM is adopted only within its
    // cluster, and reads scoped so stay undisturbed by other clusters' syncs.
    let cluster_ids = state.cluster_ids();
    // Proxmox's guests, the VM types and NetBox's VMs do not depend on each other: all at once.
    let (guests, vm_types, existing) = tokio::join!(
        read_guests(ctx, state),
        vm_types(ctx),
        ctx.read_in::<VirtualMachine>("cluster_id", &cluster_ids),
    );
    let (guests, unreadable, present, incomplete) = guests?;
    let (vm_types, existing) = (vm_types?, existing?);
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        if incomplete.is_empty() {
            format!("{} guests", present.len())
        } else {
            format!(
                "{} guests; the list had entries that could not be identified, so no VM is treated as gone in this run",
                present.len()
            )
        },
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
    let mut guests = guests;
    read_agent_os(ctx, state, &mut guests).await;
    let wanted: Vec<WantedPlatform> = guests.iter().filter_map(Guest::platform).collect();
    let (platforms, tag_slugs, ha_field) = tokio::join!(
        ensure_platforms(ctx, &wanted),
        ensure_tags(ctx, &guests),
        custom_fields::ensure(ctx, report, &custom_fields::HA),
    );
    let (platforms, tag_slugs, ha_field) = (platforms?, tag_slugs?, ha_field?);
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
        incomplete,
        existing,
        mapped,
        vm_types,
        tag_slugs,
        platforms,
        identity_field: state.identity_field,
        ha_field,
        now_ms: crate::server::infra::db::now_ms(),
    })
}

/// The guests to sync, the unreadable ones, every listed identity, and the endpoints whose
/// list came back incomplete.
type GuestsRead = (
    Vec<Guest>,
    Vec<(Label, StageError)>,
    HashSet<String>,
    HashSet<i64>,
);

/// Reads every guest's config (bounded concurrency in the Proxmox client). An unreadable
/// config fails that guest only: it is reported and left alone, never treated as gone.
async fn read_guests(ctx: &SyncContext<'_>, state: &RunState) -> Result<GuestsRead, StageError> {
    let mut wanted: Vec<Guest> = Vec::new();
    let mut present: HashSet<String> = HashSet::new();
    let mut failed_reads: Vec<(Label, StageError)> = Vec::new();
    let mut incomplete: HashSet<i64> = HashSet::new();
    for source in &ctx.sources {
        let Some(synced) = state
            .clusters
            .iter()
            .find(|c| c.endpoint_id == source.endpoint_id)
        else {
            continue;
        };
        let (listed, ha) = tokio::join!(source.pve.guests(), source.pve.ha_resources());
        let listed = listed?;
        let ha = match ha {
            Ok(resources) => Some(ha::by_guest(&resources.value)),
            Err(e) => {
                tracing::warn!(cluster = %synced.name, error = %e, "the HA resources could not be read; the VMs' HA field is left as it is");
                None
            }
        };
        // An entry that could not be identified may be a guest: nothing of this cluster is
        // gone on the word of this list.
        let unidentified = listed
            .warnings
            .iter()
            .filter(|w| w.leaves_an_entry_out())
            .count();
        if unidentified > 0 {
            tracing::warn!(
                cluster = %synced.name,
                unidentified,
                "the guest list came back with entries that could not be identified; no VM of this cluster is treated as gone in this run"
            );
            incomplete.insert(source.endpoint_id);
        }
        let guests: Vec<(ClusterResource, GuestKind, u64)> = listed
            .value
            .into_iter()
            .filter_map(|r| {
                let (kind, vmid) = (r.guest_kind()?, r.vmid?);
                Some((r, kind, vmid))
            })
            .collect();
        // Every listed guest is present (none is treated as gone), but a node's or guest's
        // run reads and writes only its own.
        for (_, kind, vmid) in &guests {
            present.insert(guest_identity(&synced.name, *kind, *vmid));
        }
        // Named from the whole list, so that a node's or guest's run names twins as a full
        // update does.
        let twin_names: HashMap<(GuestKind, u64), NetboxName> = guests
            .iter()
            .map(|(_, kind, vmid)| (*kind, *vmid))
            .zip(names_of(
                guests
                    .iter()
                    .map(|(r, kind, vmid)| (r.name.as_deref(), *kind, *vmid)),
            ))
            .filter(|(_, named)| named.warning.is_some())
            .collect();
        let scope = &state.scope;
        let guests: Vec<(ClusterResource, GuestKind, u64)> = guests
            .into_iter()
            .filter(|(r, _, vmid)| {
                scope.has_node(r.node.as_deref().unwrap_or_default())
                    && scope.has_guest(Some(*vmid))
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
            if unreadable.contains(&index) {
                continue;
            }
            let parsed = configs.get(&index);
            let mut d = desired(synced, guest, *kind, *vmid, parsed.map(|p| &p.value));
            d.mapped = ctx.options.mapping.pick(
                &state.mapping,
                &Facts {
                    cluster: &synced.name,
                    node: &d.node,
                    name: &d.name,
                    tags: &d.tags,
                    pool: d.pool.as_deref(),
                },
            );
            let mut warnings: Vec<String> = parsed
                .map(|p| p.warnings.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            if let Some(twin) = twin_names.get(&(*kind, *vmid)) {
                d.name = twin.name.clone();
                warnings.extend(twin.warning.clone());
            }
            d.warning = (!warnings.is_empty()).then(|| warnings.join("; "));
            d.ha = match &ha {
                Some(known) => known.get(&(*kind, *vmid)).cloned().map_or(Ha::Off, Ha::On),
                None => Ha::Unread,
            };
            wanted.push(d);
        }
    }
    failed_reads.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok((wanted, failed_reads, present, incomplete))
}

/// The OS each running QEMU guest's agent reports (bounded concurrency in the Proxmox
/// client). An agent that cannot say (not running, too old for `get-osinfo`, a token
/// without the privilege) leaves the guest to its `ostype`'s platform.
async fn read_agent_os(ctx: &SyncContext<'_>, state: &RunState, guests: &mut [Guest]) {
    let askable = guests.iter().enumerate().map(|(index, g)| AgentGuest {
        index,
        kind: g.kind,
        agent: g.agent,
        running: g.running,
        endpoint_id: g.endpoint_id,
        node: &g.node,
        vmid: g.vmid,
    });
    let answers = ask_agents(ctx, state, askable, |pve, node, vmid| async move {
        pve.agent_os_info(&node, vmid).await
    })
    .await;
    for (index, answer) in answers {
        match answer {
            Ok(info) => {
                guests[index].agent_os = info.map(|i| i.label());
                guests[index].agent_unheard = false;
            }
            Err(error) => {
                tracing::debug!(guest = %guests[index].name, %error, "the guest agent did not say its OS");
            }
        }
    }
}

/// The VM types of QEMU VMs and LXC containers, created once; `None` on a NetBox before 4.7,
/// which has no VM types.
async fn vm_types(ctx: &SyncContext<'_>) -> Result<Option<VmTypes>, StageError> {
    let type_for = |slug: &str, name: &str| NewNamed {
        name: name.into(),
        slug: slug.into(),
        description: "Made by Proxbox".into(),
        tags: vec![proxbox_tag()],
    };
    let (qemu, lxc) = tokio::join!(
        apply::ensure::<VirtualMachineType, _>(ctx, "proxmox-qemu", || {
            type_for("proxmox-qemu", "Proxmox QEMU VM")
        }),
        apply::ensure::<VirtualMachineType, _>(ctx, "proxmox-lxc", || {
            type_for("proxmox-lxc", "Proxmox LXC container")
        }),
    );
    match (qemu, lxc) {
        (Ok(qemu), Ok(lxc)) => Ok(Some(VmTypes { qemu, lxc })),
        (Err(e), _) | (_, Err(e)) if e.category == ErrorCategory::NotFound => Ok(None),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// The NetBox tag of each Proxmox tag the guests carry (and of the template marker), by the
/// Proxmox tag in lowercase: an existing tag of that slug or name, else a new one, all new
/// ones in one request.
async fn ensure_tags(
    ctx: &SyncContext<'_>,
    guests: &[Guest],
) -> Result<HashMap<String, String>, StageError> {
    let mut wanted: BTreeMap<String, String> = guests
        .iter()
        .flat_map(|g| &g.tags)
        .map(|name| (name.to_lowercase(), name.clone()))
        .collect();
    if guests.iter().any(|g| g.template) {
        wanted.insert(tags::TEMPLATE_TAG.into(), tags::TEMPLATE_TAG.into());
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let existing = ctx.netbox.list::<Tag>(&[]).await?;
    let mut slugs = HashMap::new();
    let mut missing = Vec::new();
    for (key, name) in wanted {
        let Some(slug) = tags::new_slug(&name) else {
            continue;
        };
        let found = existing
            .iter()
            .find(|t| t.slug == slug || t.name.eq_ignore_ascii_case(&name));
        match found {
            Some(tag) => {
                slugs.insert(key, tag.slug.clone());
            }
            None => {
                slugs.insert(key, slug.clone());
                missing.push(NewTag {
                    name,
                    slug,
                    color: "9e9e9e".into(),
                    description: "A Proxmox tag (made by Proxbox)".into(),
                });
            }
        }
    }
    missing.dedup_by(|a, b| a.slug == b.slug);
    if !missing.is_empty() && !ctx.options.dry_run {
        let created = match ctx.netbox.create::<Tag, _>(&missing).await {
            Ok(outcome) => outcome.into_result().map(drop),
            Err(failed) => Err(failed),
        };
        if let Err(refused) = created {
            // A sync of another cluster made some of them meanwhile: fine if all exist now.
            let now: HashSet<String> = ctx
                .netbox
                .list::<Tag>(&[])
                .await?
                .into_iter()
                .map(|t| t.slug)
                .collect();
            if !missing.iter().all(|t| now.contains(&t.slug)) {
                return Err(refused.into());
            }
        }
    }
    Ok(slugs)
}
