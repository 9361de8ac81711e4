//! What a guest's `ostype` code means to a person: the one table of labels, as the Proxmox VE
//! web UI shows them (pve-manager `www/manager6/Utils.js`: `kvm_ostypes` rendered by
//! `render_kvm_ostype` for QEMU; the guest status panel's names for LXC).

use crate::GuestKind;

/// QEMU `ostype` → the UI's "OS Type" (group and version). `w2k3` and `wvista`, which the
/// API accepts, are not in the UI's table; the UI shows them as "Other".
const QEMU: [(&str, &str); 13] = [
    ("l26", "Linux 7.x - 2.6 Kernel"),
    ("l24", "Linux 2.4 Kernel"),
    ("win11", "Microsoft Windows 11/2022/2025"),
    ("win10", "Microsoft Windows 10/2016/2019"),
    ("win8", "Microsoft Windows 8.x/2012/2012r2"),
    ("win7", "Microsoft Windows 7/2008r2"),
    ("w2k8", "Microsoft Windows Vista/2008"),
    ("wxp", "Microsoft Windows XP/2003"),
    ("w2k", "Microsoft Windows 2000"),
    ("w2k3", "Other"),
    ("wvista", "Other"),
    ("solaris", "Solaris Kernel"),
    ("other", "Other"),
];

/// LXC `ostype` → the distribution's name (the UI names four and capitalises the rest;
/// `unmanaged` names no OS).
const LXC: [(&str, &str); 10] = [
    ("debian", "Debian"),
    ("devuan", "Devuan"),
    ("ubuntu", "Ubuntu"),
    ("centos", "CentOS"),
    ("fedora", "Fedora"),
    ("opensuse", "openSUSE"),
    ("archlinux", "Arch Linux"),
    ("alpine", "Alpine"),
    ("gentoo", "Gentoo"),
    ("nixos", "NixOS"),
];

/// The label of a guest's `ostype`, `None` for a code Proxmox's UI does not name.
pub fn ostype_label(kind: GuestKind, code: &str) -> Option<&'static str> {
    let table: &[(&str, &str)] = match kind {
        GuestKind::Qemu => &QEMU,
        GuestKind::Lxc => &LXC,
    };
    table
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, label)| *label)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the API schema allows (`/nodes/{node}/{qemu,lxc}/{vmid}/config`, `ostype`
    /// enum, copied by hand) has a label, but `unmanaged`.
    #[test]
    fn every_code_the_api_allows_is_labelled() {
        let qemu = [
            "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11",
            "l24", "l26", "solaris",
        ];
        let lxc = [
            "debian",
            "devuan",
            "ubuntu",
            "centos",
            "fedora",
            "opensuse",
            "archlinux",
            "alpine",
            "gentoo",
            "nixos",
        ];
        for code in qemu {
            assert!(ostype_label(GuestKind::Qemu, code).is_some(), "{code}");
        }
        for code in lxc {
            assert!(ostype_label(GuestKind::Lxc, code).is_some(), "{code}");
        }
        assert_eq!(ostype_label(GuestKind::Lxc, "unmanaged"), None);
        assert_eq!(ostype_label(GuestKind::Qemu, "debian"), None);
        assert_eq!(
            ostype_label(GuestKind::Qemu, "win8"),
            Some("Microsoft Windows 8.x/2012/2012r2")
        );
    }
}
