//! Guests as the pages show them: the card the virtual-machines stage keeps of each guest,
//! the rows of `/virtual-machines` with their filters, and the VM panel.

use serde::{Deserialize, Serialize};

use super::inventory::{BackupRecord, SnapshotRecord, TaskRecord};

/// A guest as the virtual-machines stage last read it from Proxmox (kept in Proxbox's
/// database as a `guest` record, keyed by vmid), with the NetBox VM it was written to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestRecord {
    pub vmid: u64,
    /// `qemu` or `lxc`.
    pub kind: String,
    pub name: String,
    pub node: String,
    pub cluster: String,
    /// As Proxmox says: `running`, `stopped`, `paused`.
    pub status: String,
    pub onboot: bool,
    /// QEMU: the guest agent is enabled in the config.
    pub agent: bool,
    pub template: bool,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub vcpus: Option<f64>,
    /// MB.
    pub memory: Option<u64>,
    /// Disk key (`scsi0`, `rootfs`…) and size in MB.
    pub disks: Vec<(String, u64)>,
    pub nics: Vec<NicRecord>,
    pub netbox_id: u64,
    /// Under Proxmox HA: the state HA keeps it in and its group; `None` when HA does not
    /// manage it (or its HA could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaRecord>,
}

/// A guest's HA resource as Proxmox configures it (`/cluster/ha/resources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaRecord {
    /// `started`, `stopped`, `disabled`, `ignored`.
    pub state: String,
    pub group: Option<String>,
}

impl HaRecord {
    /// `started, group prefer-first`: how the panel and NetBox's `proxmox_ha` field say it.
    pub fn text(&self) -> String {
        match &self.group {
            Some(group) => format!("{}, group {group}", self.state),
            None => self.state.clone(),
        }
    }
}

/// A network device of a guest's config, with the addresses Proxbox knows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicRecord {
    /// `net0`…
    pub key: String,
    pub model: Option<String>,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub vlan: Option<u16>,
    /// LXC's static `ip=` / `ip6=`, CIDR.
    pub addresses: Vec<String>,
    /// What the QEMU guest agent reported on this NIC at the last sync that asked it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_addresses: Vec<String>,
}

/// What `/virtual-machines` filters on (all from its query string; empty: any).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuestFilter {
    pub endpoint: Option<i64>,
    pub cluster: String,
    pub node: String,
    /// `qemu` or `lxc`.
    pub kind: String,
    pub status: String,
    pub tag: String,
    /// Only guests whose newest backup is older than this many days, or that have none.
    pub no_backup_days: Option<u32>,
    /// Name or vmid contains this.
    pub search: String,
    /// `managed` (any HA state), `none` (not under HA), or one HA state.
    #[serde(default)]
    pub ha: String,
    /// 1-based.
    pub page: u32,
}

/// Rows per page of `/virtual-machines`.
pub const GUESTS_PER_PAGE: usize = 50;

/// One guest in `/virtual-machines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestRow {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub guest: GuestRecord,
    /// Unix seconds of its newest backup.
    pub newest_backup: Option<i64>,
}

impl GuestRow {
    /// Whether it passes `filter` (all but paging), at `now` (Unix seconds).
    pub fn matches(&self, filter: &GuestFilter, now: i64) -> bool {
        let g = &self.guest;
        let is =
            |wanted: &str, value: &str| wanted.is_empty() || wanted.eq_ignore_ascii_case(value);
        filter.endpoint.is_none_or(|e| e == self.endpoint_id)
            && is(&filter.cluster, &g.cluster)
            && is(&filter.node, &g.node)
            && is(&filter.kind, &g.kind)
            && is(&filter.status, &g.status)
            && (filter.tag.is_empty() || g.tags.iter().any(|t| t.eq_ignore_ascii_case(&filter.tag)))
            && ha_matches(&filter.ha, g.ha.as_ref())
            && filter
                .no_backup_days
                .is_none_or(|days| backup_older_than(self.newest_backup, days, now))
            && (filter.search.is_empty()
                || g.name
                    .to_lowercase()
                    .contains(&filter.search.to_lowercase())
                || g.vmid.to_string().contains(filter.search.trim()))
    }
}

/// Whether a guest's HA passes the filter's `ha` (empty: any).
fn ha_matches(wanted: &str, ha: Option<&HaRecord>) -> bool {
    match (wanted, ha) {
        ("", _) => true,
        ("managed", found) => found.is_some(),
        ("none", found) => found.is_none(),
        (state, Some(found)) => found.state.eq_ignore_ascii_case(state),
        (_, None) => false,
    }
}

/// Whether a guest's newest backup (Unix seconds) is older than `days` at `now`, or missing.
pub fn backup_older_than(newest: Option<i64>, days: u32, now: i64) -> bool {
    newest.is_none_or(|at| now - at > i64::from(days) * 86_400)
}

/// One page of `/virtual-machines`, with what its filter menus offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GuestPage {
    pub rows: Vec<GuestRow>,
    /// Guests that pass the filter, over all pages.
    pub matching: usize,
    pub total: usize,
    pub page: u32,
    pub pages: u32,
    pub endpoints: Vec<(i64, String)>,
    pub clusters: Vec<String>,
    pub nodes: Vec<String>,
    pub tags: Vec<String>,
    /// Unix seconds: when the server read it (ages count from here).
    pub now: i64,
}

impl GuestPage {
    /// The page `filter` asks for of `rows` (sorted by endpoint, then name), at `now`
    /// (Unix seconds); the menus offer what every row has, not only the matching ones.
    pub fn of(mut rows: Vec<GuestRow>, filter: &GuestFilter, now: i64) -> GuestPage {
        use std::collections::BTreeSet;
        rows.sort_by(|a, b| {
            (a.endpoint_id, a.guest.name.to_lowercase(), a.guest.vmid).cmp(&(
                b.endpoint_id,
                b.guest.name.to_lowercase(),
                b.guest.vmid,
            ))
        });
        let endpoints: BTreeSet<(i64, String)> = rows
            .iter()
            .map(|r| (r.endpoint_id, r.endpoint.clone()))
            .collect();
        let clusters: BTreeSet<String> = rows.iter().map(|r| r.guest.cluster.clone()).collect();
        let nodes: BTreeSet<String> = rows.iter().map(|r| r.guest.node.clone()).collect();
        let tags: BTreeSet<String> = rows
            .iter()
            .flat_map(|r| r.guest.tags.iter().map(|t| t.to_lowercase()))
            .collect();
        let total = rows.len();
        let matching: Vec<GuestRow> = rows
            .into_iter()
            .filter(|r| r.matches(filter, now))
            .collect();
        let pages = matching.len().div_ceil(GUESTS_PER_PAGE).max(1) as u32;
        let page = filter.page.clamp(1, pages);
        GuestPage {
            matching: matching.len(),
            rows: matching
                .into_iter()
                .skip((page as usize - 1) * GUESTS_PER_PAGE)
                .take(GUESTS_PER_PAGE)
                .collect(),
            total,
            page,
            pages,
            endpoints: endpoints.into_iter().collect(),
            clusters: clusters.into_iter().collect(),
            nodes: nodes.into_iter().collect(),
            tags: tags.into_iter().collect(),
            now,
        }
    }
}

/// The VM panel of one guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestPanel {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub guest: GuestRecord,
    /// Milliseconds: when the virtual-machines stage last read this endpoint's guests.
    pub synced_at: Option<i64>,
    /// The VM in NetBox's web UI.
    pub netbox_url: Option<String>,
    /// The guest in Proxmox's web UI.
    pub proxmox_url: String,
    /// Newest first.
    pub backups: Vec<BackupRecord>,
    pub snapshots: Vec<SnapshotRecord>,
    /// Newest first, inside the task retention.
    pub tasks: Vec<TaskRecord>,
}

/// Where a guest is in Proxmox's web UI (its hash route selects the guest in the tree).
pub fn proxmox_guest_url(endpoint_url: &str, kind: &str, vmid: u64) -> String {
    format!(
        "{}/#v1:0:={kind}%2F{vmid}",
        endpoint_url.trim_end_matches('/')
    )
}

/// Snapshots in chain order: each after its parent, roots first, by time among siblings.
pub fn snapshot_chain(mut snapshots: Vec<SnapshotRecord>) -> Vec<(usize, SnapshotRecord)> {
    snapshots.sort_by(|a, b| a.taken.cmp(&b.taken).then(a.name.cmp(&b.name)));
    let names: std::collections::HashSet<String> =
        snapshots.iter().map(|s| s.name.clone()).collect();
    let mut ordered = Vec::with_capacity(snapshots.len());
    let mut stack: Vec<(usize, SnapshotRecord)> = snapshots
        .iter()
        .filter(|s| s.parent.as_ref().is_none_or(|p| !names.contains(p)))
        .rev()
        .map(|s| (0, s.clone()))
        .collect();
    while let Some((depth, snapshot)) = stack.pop() {
        stack.extend(
            snapshots
                .iter()
                .filter(|s| s.parent.as_deref() == Some(snapshot.name.as_str()))
                .rev()
                .map(|s| (depth + 1, s.clone())),
        );
        ordered.push((depth, snapshot));
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(vmid: u64, node: &str, tags: &[&str]) -> GuestRow {
        GuestRow {
            endpoint_id: 1,
            endpoint: "lab".into(),
            newest_backup: None,
            guest: GuestRecord {
                vmid,
                kind: "qemu".into(),
                name: format!("vm-{vmid}"),
                node: node.into(),
                cluster: "lab".into(),
                status: "running".into(),
                onboot: true,
                agent: true,
                template: false,
                tags: tags.iter().map(|t| t.to_string()).collect(),
                pool: None,
                vcpus: Some(2.0),
                memory: Some(2048),
                disks: vec![],
                nics: vec![],
                netbox_id: vmid,
                ha: None,
            },
        }
    }

    #[test]
    fn filters_combine() {
        let now = 100 * 86_400;
        let mut a = guest(100, "pve1", &["prod"]);
        a.newest_backup = Some(now - 3 * 86_400);
        let b = guest(101, "pve2", &[]);
        let filter = |f: GuestFilter| {
            [&a, &b]
                .iter()
                .filter(|r| r.matches(&f, now))
                .map(|r| r.guest.vmid)
                .collect::<Vec<_>>()
        };
        assert_eq!(filter(GuestFilter::default()), vec![100, 101]);
        let on = |node: &str| GuestFilter {
            node: node.into(),
            ..Default::default()
        };
        assert_eq!(filter(on("PVE2")), vec![101]);
        let tagged = GuestFilter {
            tag: "prod".into(),
            ..Default::default()
        };
        assert_eq!(filter(tagged), vec![100]);
        let stale = |days| GuestFilter {
            no_backup_days: Some(days),
            ..Default::default()
        };
        assert_eq!(filter(stale(2)), vec![100, 101], "3 days old, and none");
        assert_eq!(
            filter(stale(5)),
            vec![101],
            "only the guest without a backup"
        );
        let search = GuestFilter {
            search: "101".into(),
            ..Default::default()
        };
        assert_eq!(filter(search), vec![101]);
        let other = GuestFilter {
            endpoint: Some(2),
            ..Default::default()
        };
        assert_eq!(filter(other), Vec::<u64>::new());
    }

    #[test]
    fn the_ha_filter_tells_guests_under_ha_by_their_state() {
        let mut started = guest(100, "pve1", &[]);
        started.guest.ha = Some(HaRecord {
            state: "started".into(),
            group: Some("prefer-first".into()),
        });
        let mut ignored = guest(101, "pve1", &[]);
        ignored.guest.ha = Some(HaRecord {
            state: "ignored".into(),
            group: None,
        });
        let plain = guest(102, "pve1", &[]);
        let with = |ha: &str| {
            let f = GuestFilter {
                ha: ha.into(),
                ..Default::default()
            };
            [&started, &ignored, &plain]
                .iter()
                .filter(|r| r.matches(&f, 0))
                .map(|r| r.guest.vmid)
                .collect::<Vec<_>>()
        };
        assert_eq!(with(""), [100, 101, 102]);
        assert_eq!(with("managed"), [100, 101]);
        assert_eq!(with("none"), [102]);
        assert_eq!(with("Started"), [100]);
        assert_eq!(with("stopped"), Vec::<u64>::new());
        assert_eq!(
            started.guest.ha.unwrap().text(),
            "started, group prefer-first"
        );
    }

    #[test]
    fn pages_hold_fifty_guests_and_clamp() {
        let rows: Vec<GuestRow> = (0..120).map(|i| guest(1000 + i, "pve1", &[])).collect();
        let page = |n| {
            GuestPage::of(
                rows.clone(),
                &GuestFilter {
                    page: n,
                    ..Default::default()
                },
                0,
            )
        };
        let (first, last) = (page(1), page(3));
        assert_eq!(
            (first.rows.len(), first.pages, first.matching),
            (50, 3, 120)
        );
        assert_eq!(last.rows.len(), 20);
        assert_eq!(last.rows[0].guest.vmid, 1100);
        assert_eq!(page(9).page, 3, "past the end shows the last page");
        assert_eq!(page(0).page, 1);
        let none = GuestPage::of(
            rows,
            &GuestFilter {
                node: "x".into(),
                ..Default::default()
            },
            0,
        );
        assert_eq!(
            (none.rows.len(), none.pages, none.nodes.clone()),
            (0, 1, vec!["pve1".to_string()])
        );
    }

    fn snapshot(name: &str, parent: Option<&str>, taken: i64) -> SnapshotRecord {
        SnapshotRecord {
            name: name.into(),
            node: "pve1".into(),
            vmid: 100,
            guest_kind: "qemu".into(),
            parent: parent.map(str::to_string),
            description: String::new(),
            taken: Some(taken),
            vmstate: false,
        }
    }

    #[test]
    fn snapshots_follow_their_chain() {
        let chain = snapshot_chain(vec![
            snapshot("c", Some("b"), 3),
            snapshot("a", None, 1),
            snapshot("side", Some("a"), 4),
            snapshot("b", Some("a"), 2),
        ]);
        let order: Vec<(usize, &str)> = chain.iter().map(|(d, s)| (*d, s.name.as_str())).collect();
        assert_eq!(order, vec![(0, "a"), (1, "b"), (2, "c"), (1, "side")]);
    }

    #[test]
    fn proxmox_links_select_the_guest() {
        assert_eq!(
            proxmox_guest_url("https://pve:8006/", "lxc", 105),
            "https://pve:8006/#v1:0:=lxc%2F105"
        );
    }
}
