//! The NetBox platform of a guest's VM, unless a mapping rule names one: the OS its QEMU
//! guest agent reports (`get-osinfo`: "Ubuntu 22.04.4 LTS"), else the label Proxmox's UI
//! shows for its `ostype` ("Linux 7.x - 2.6 Kernel", "Debian"). A platform NetBox already
//! has of that name (any case) or slug is used as it is; one Proxbox named the old way
//! ("Proxmox ostype l26", slug `proxmox-l26`) is renamed to the label, so that no sync
//! makes a second platform for one OS.

use std::collections::{BTreeMap, HashMap};

use proxbox_netbox::models::{NewNamed, Platform};
use proxbox_pve::{ostype_label, GuestKind};
use serde::Serialize;

use super::failure::StageError;
use super::managed::{proxbox_tag, slugify};
use crate::server::sync::context::SyncContext;

/// NetBox's platform names hold at most 100 characters.
const NAME_MAX: usize = 100;

/// A platform as a guest wants it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WantedPlatform {
    pub slug: String,
    pub name: String,
}

/// How Proxbox named an `ostype`'s platform before it had labels.
fn old_name(ostype: &str) -> String {
    format!("Proxmox ostype {ostype}")
}

fn ostype_slug(ostype: &str) -> String {
    format!("proxmox-{}", slugify(ostype))
}

/// The platform of a guest: its agent's OS, else its `ostype`'s label (a code without one
/// keeps the old name), else none.
pub fn wanted_platform(
    kind: GuestKind,
    ostype: Option<&str>,
    agent_os: Option<&str>,
) -> Option<WantedPlatform> {
    if let Some(os) = agent_os.map(str::trim).filter(|os| !slugify(os).is_empty()) {
        return Some(WantedPlatform {
            slug: slugify(os),
            name: os.chars().take(NAME_MAX).collect(),
        });
    }
    let ostype = ostype.filter(|o| !slugify(o).is_empty())?;
    Some(WantedPlatform {
        slug: ostype_slug(ostype),
        name: ostype_label(kind, ostype).map_or_else(|| old_name(ostype), str::to_string),
    })
}

/// What to do for the wanted platforms: the ids of those NetBox has, the ones to create, and
/// Proxbox's old-style ones to rename (id, new name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformPlan {
    pub found: HashMap<String, u64>,
    pub create: Vec<WantedPlatform>,
    pub rename: Vec<(u64, String)>,
}

/// Each wanted platform (by slug) matched to NetBox's: by name without case, then by slug.
pub fn plan_platforms(existing: &[Platform], wanted: &[WantedPlatform]) -> PlatformPlan {
    let mut plan = PlatformPlan::default();
    let unique: BTreeMap<&str, &WantedPlatform> =
        wanted.iter().map(|w| (w.slug.as_str(), w)).collect();
    for (slug, want) in unique {
        let by_name = existing
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(&want.name));
        if let Some(platform) = by_name {
            plan.found.insert(slug.to_string(), platform.id);
            continue;
        }
        match existing.iter().find(|p| p.slug == slug) {
            Some(platform) => {
                plan.found.insert(slug.to_string(), platform.id);
                let named_the_old_way = slug
                    .strip_prefix("proxmox-")
                    .is_some_and(|code| platform.name == old_name(code));
                if named_the_old_way && platform.name != want.name {
                    plan.rename.push((platform.id, want.name.clone()));
                }
            }
            None => plan.create.push(want.clone()),
        }
    }
    plan
}

#[derive(Serialize)]
struct Rename<'a> {
    id: u64,
    name: &'a str,
}

/// The platform id of each wanted platform (by slug), made or renamed as the plan says (a
/// dry run writes nothing and plans ids).
pub async fn ensure_platforms(
    ctx: &SyncContext<'_>,
    wanted: &[WantedPlatform],
) -> Result<HashMap<String, u64>, StageError> {
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let existing = ctx.netbox.list::<Platform>(&[]).await?;
    let plan = plan_platforms(&existing, wanted);
    let mut ids = plan.found;
    if ctx.options.dry_run {
        for want in plan.create {
            ids.insert(want.slug, ctx.planned_id());
        }
        return Ok(ids);
    }
    if !plan.rename.is_empty() {
        let renames: Vec<Rename<'_>> = plan
            .rename
            .iter()
            .map(|(id, name)| Rename { id: *id, name })
            .collect();
        let renamed = match ctx.netbox.update::<Platform, _>(&renames).await {
            Ok(outcome) => outcome.into_result().map(drop),
            Err(failed) => Err(failed),
        };
        renamed?;
    }
    for want in plan.create {
        let platform = ctx
            .netbox
            .ensure::<Platform, _>(&want.slug, || NewNamed {
                name: want.name.clone(),
                slug: want.slug.clone(),
                description: String::new(),
                tags: vec![proxbox_tag()],
            })
            .await?;
        ids.insert(want.slug, platform.id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(id: u64, name: &str, slug: &str) -> Platform {
        Platform {
            id,
            name: name.into(),
            slug: slug.into(),
        }
    }

    fn want(slug: &str, name: &str) -> WantedPlatform {
        WantedPlatform {
            slug: slug.into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_agents_os_comes_first_then_the_ostype_label() {
        assert_eq!(
            wanted_platform(GuestKind::Qemu, Some("l26"), Some("Ubuntu 22.04.4 LTS")),
            Some(want("ubuntu-22-04-4-lts", "Ubuntu 22.04.4 LTS"))
        );
        assert_eq!(
            wanted_platform(GuestKind::Qemu, Some("win8"), None),
            Some(want("proxmox-win8", "Microsoft Windows 8.x/2012/2012r2"))
        );
        assert_eq!(
            wanted_platform(GuestKind::Lxc, Some("alpine"), Some("  ")),
            Some(want("proxmox-alpine", "Alpine"))
        );
        assert_eq!(
            wanted_platform(GuestKind::Lxc, Some("unmanaged"), None),
            Some(want("proxmox-unmanaged", "Proxmox ostype unmanaged"))
        );
        assert_eq!(wanted_platform(GuestKind::Qemu, None, None), None);
    }

    #[test]
    fn old_style_platforms_are_renamed_and_others_matched_by_name_or_slug() {
        let existing = [
            platform(1, "Proxmox ostype l26", "proxmox-l26"),
            platform(2, "ubuntu 22.04.4 lts", "ubuntu-jammy"),
            platform(3, "Debian by hand", "proxmox-debian"),
        ];
        let plan = plan_platforms(
            &existing,
            &[
                want("proxmox-l26", "Linux 7.x - 2.6 Kernel"),
                want("ubuntu-22-04-4-lts", "Ubuntu 22.04.4 LTS"),
                want("proxmox-debian", "Debian"),
                want("proxmox-win11", "Microsoft Windows 11/2022/2025"),
                want("proxmox-l26", "Linux 7.x - 2.6 Kernel"),
            ],
        );
        assert_eq!(
            plan.found,
            HashMap::from([
                ("proxmox-l26".to_string(), 1),
                ("ubuntu-22-04-4-lts".to_string(), 2),
                ("proxmox-debian".to_string(), 3),
            ])
        );
        assert_eq!(plan.rename, vec![(1, "Linux 7.x - 2.6 Kernel".to_string())]);
        assert_eq!(
            plan.create,
            vec![want("proxmox-win11", "Microsoft Windows 11/2022/2025")]
        );
    }

    #[test]
    fn a_renamed_platform_is_left_as_it_is_on_the_next_sync() {
        let existing = [platform(1, "Linux 7.x - 2.6 Kernel", "proxmox-l26")];
        let plan = plan_platforms(&existing, &[want("proxmox-l26", "Linux 7.x - 2.6 Kernel")]);
        assert_eq!(
            plan,
            PlatformPlan {
                found: HashMap::from([("proxmox-l26".to_string(), 1)]),
                ..Default::default()
            }
        );
    }
}
