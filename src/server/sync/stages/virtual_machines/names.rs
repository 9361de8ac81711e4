//! The NetBox name of each guest of a cluster. Proxmox lets several guests of one cluster
//! share a name (clones, restored copies); NetBox refuses a second VM of a name in a
//! cluster (compared without case). The rule:
//! - a guest whose name no other guest of its cluster has (ignoring case) keeps it;
//! - guests sharing a name ("twins") are each named `<name> (vmid <vmid>)`;
//! - should that still collide (a QEMU VM and a container of one VMID, which only a
//!   hand-edited cluster holds, or another guest literally named so), `<name> (<kind> <vmid>)`.
//!
//! The names follow from the whole list of the cluster's guests alone, so they are the same on
//! every sync while nothing changes in Proxmox, and a guest whose twins are renamed or removed
//! gets its plain name back on the next sync.

use std::collections::{HashMap, HashSet};

use proxbox_pve::GuestKind;

/// A guest as the cluster's guest list names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    pub kind: GuestKind,
    pub vmid: u64,
    pub name: &'a str,
}

/// A guest's NetBox name, and for a twin the warning that says why it is not its plain name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetboxName {
    pub name: String,
    pub warning: Option<String>,
}

/// The name of a guest that has none in Proxmox.
pub fn fallback_name(kind: GuestKind, vmid: u64) -> String {
    format!("{}-{vmid}", kind.as_str())
}

/// The NetBox name of each guest of a cluster's guest list — (its name in Proxmox, if it
/// has one; kind; VMID) — in the list's order.
pub fn names_of<'a>(
    guests: impl IntoIterator<Item = (Option<&'a str>, GuestKind, u64)>,
) -> Vec<NetboxName> {
    let guests: Vec<(String, GuestKind, u64)> = guests
        .into_iter()
        .map(|(name, kind, vmid)| {
            let name = name.map_or_else(|| fallback_name(kind, vmid), str::to_string);
            (name, kind, vmid)
        })
        .collect();
    let listed: Vec<Listed<'_>> = guests
        .iter()
        .map(|(name, kind, vmid)| Listed {
            kind: *kind,
            vmid: *vmid,
            name,
        })
        .collect();
    netbox_names(&listed)
}

/// The NetBox name of each listed guest, in the list's order.
pub fn netbox_names(listed: &[Listed<'_>]) -> Vec<NetboxName> {
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, guest) in listed.iter().enumerate() {
        by_name
            .entry(guest.name.to_lowercase())
            .or_default()
            .push(index);
    }
    let plain: HashSet<String> = by_name
        .iter()
        .filter(|(_, guests)| guests.len() == 1)
        .map(|(name, _)| name.clone())
        .collect();
    let suffixed = |guest: &Listed<'_>| format!("{} (vmid {})", guest.name, guest.vmid);
    let mut suffixed_count: HashMap<String, usize> = HashMap::new();
    for guests in by_name.values().filter(|g| g.len() > 1) {
        for &index in guests {
            *suffixed_count
                .entry(suffixed(&listed[index]).to_lowercase())
                .or_default() += 1;
        }
    }
    listed
        .iter()
        .map(|guest| {
            let twins = &by_name[&guest.name.to_lowercase()];
            if twins.len() == 1 {
                return NetboxName {
                    name: guest.name.to_string(),
                    warning: None,
                };
            }
            let by_vmid = suffixed(guest);
            let key = by_vmid.to_lowercase();
            let name = if suffixed_count[&key] == 1 && !plain.contains(&key) {
                by_vmid
            } else {
                format!("{} ({} {})", guest.name, guest.kind.as_str(), guest.vmid)
            };
            let others: Vec<String> = twins
                .iter()
                .map(|&i| &listed[i])
                .filter(|other| (other.kind, other.vmid) != (guest.kind, guest.vmid))
                .map(|other| format!("{} {}", other.kind.as_str(), other.vmid))
                .collect();
            NetboxName {
                warning: Some(format!(
                    "{} guests of this cluster are named {:?} ({} too); NetBox wants a VM name once per cluster, so this one is {name:?} — rename the guests in Proxmox to give each its own name",
                    twins.len(),
                    guest.name,
                    others.join(", "),
                )),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use GuestKind::{Lxc, Qemu};

    fn listed(guests: &[(GuestKind, u64, &'static str)]) -> Vec<Listed<'static>> {
        guests
            .iter()
            .map(|&(kind, vmid, name)| Listed { kind, vmid, name })
            .collect()
    }

    fn names(guests: &[(GuestKind, u64, &'static str)]) -> Vec<String> {
        netbox_names(&listed(guests))
            .into_iter()
            .map(|n| n.name)
            .collect()
    }

    #[test]
    fn a_guest_without_a_twin_keeps_its_plain_name() {
        let named = netbox_names(&listed(&[(Qemu, 100, "web"), (Lxc, 101, "db")]));
        assert_eq!(
            named,
            vec![
                NetboxName {
                    name: "web".into(),
                    warning: None
                },
                NetboxName {
                    name: "db".into(),
                    warning: None
                }
            ]
        );
    }

    #[test]
    fn twins_are_named_by_their_vmid_and_warned_of_each_other() {
        let named = netbox_names(&listed(&[
            (Lxc, 100, "CT100"),
            (Lxc, 113, "CT100"),
            (Qemu, 200, "other"),
            (Lxc, 120, "CT100"),
        ]));
        let got: Vec<&str> = named.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            got,
            [
                "CT100 (vmid 100)",
                "CT100 (vmid 113)",
                "other",
                "CT100 (vmid 120)"
            ]
        );
        let warning = named[1].warning.as_deref().unwrap();
        assert!(
            warning.contains("lxc 100")
                && warning.contains("lxc 120")
                && !warning.contains("113 ("),
            "{warning}"
        );
        assert!(warning.contains("\"CT100 (vmid 113)\""), "{warning}");
        assert_eq!(named[2].warning, None);
    }

    #[test]
    fn names_differing_only_in_case_are_twins_as_netbox_compares_them() {
        assert_eq!(
            names(&[(Qemu, 5, "Web"), (Qemu, 6, "web")]),
            ["Web (vmid 5)", "web (vmid 6)"]
        );
    }

    #[test]
    fn the_same_vmid_of_both_kinds_falls_back_to_the_kind() {
        assert_eq!(
            names(&[(Qemu, 100, "x"), (Lxc, 100, "x"), (Qemu, 101, "x")]),
            ["x (qemu 100)", "x (lxc 100)", "x (vmid 101)"]
        );
    }

    #[test]
    fn a_twin_never_takes_the_plain_name_of_another_guest() {
        assert_eq!(
            names(&[(Qemu, 7, "a"), (Qemu, 8, "a"), (Qemu, 9, "a (vmid 7)")]),
            ["a (qemu 7)", "a (vmid 8)", "a (vmid 7)"]
        );
    }

    #[test]
    fn the_names_do_not_depend_on_the_order_of_the_list() {
        let list = [(Lxc, 113, "CT100"), (Lxc, 100, "CT100"), (Qemu, 1, "solo")];
        let mut reversed = list;
        reversed.reverse();
        let mut forward = names(&list);
        let mut backward = names(&reversed);
        forward.sort();
        backward.sort();
        assert_eq!(forward, backward);
    }

    #[test]
    fn a_guest_gets_its_plain_name_back_once_its_twin_is_gone() {
        assert_eq!(
            names(&[(Lxc, 100, "CT100"), (Lxc, 113, "CT100")])[1],
            "CT100 (vmid 113)"
        );
        assert_eq!(names(&[(Lxc, 113, "CT100")]), ["CT100"]);
    }
}
