//! The global VLANs Proxbox uses for 802.1Q tags: one per VID, made by Proxbox (tagged), so
//! that a guest NIC's `tag=` and a node's VLAN interface of the same VID share one VLAN,
//! and VLANs an operator made (in their own groups and sites) are never Proxbox's to use.

use std::collections::{BTreeSet, HashMap};

use proxbox_netbox::models::{NewVlan, Vlan};

use super::context::SyncContext;
use super::failure::StageError;
use super::managed::{is_managed, proxbox_tag};
use super::plan::{Label, Plan};

/// The VLANs of `vids` Proxbox already made (VID → id), and the plan of those it lacks.
pub fn plan_vlans(
    vids: &BTreeSet<u16>,
    vlans: &[Vlan],
    settled: &HashMap<u16, u64>,
) -> (HashMap<u16, u64>, Plan<NewVlan, u16>) {
    let mut found: HashMap<u16, u64> = settled.clone();
    // A VLAN in a group is a VNet's (the networks stage's), not a global one.
    for vlan in vlans
        .iter()
        .filter(|v| is_managed(&v.tags) && v.group.is_none())
    {
        found.entry(vlan.vid).or_insert(vlan.id);
    }
    let mut plan = Plan::new("VLANs");
    for vid in vids.iter().filter(|vid| !found.contains_key(vid)) {
        plan.create(
            *vid,
            Label::new(format!("VLAN {vid}"), "vlan", "VLAN"),
            NewVlan {
                vid: *vid,
                name: format!("Proxmox VLAN {vid}"),
                status: "active".into(),
                tags: vec![proxbox_tag()],
            },
        );
    }
    (found, plan)
}

/// NetBox's VLANs of these VIDs (all of them; [`plan_vlans`] picks Proxbox's own).
pub async fn read_vlans(
    ctx: &SyncContext<'_>,
    vids: &BTreeSet<u16>,
) -> Result<Vec<Vlan>, StageError> {
    if vids.is_empty() {
        return Ok(Vec::new());
    }
    let vids: Vec<u16> = vids.iter().copied().collect();
    Ok(ctx.netbox.list_in::<Vlan, _>("vid", &vids).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::stages::fixtures::{managed, model};
    use serde_json::json;

    #[test]
    fn vlans_are_planned_once_per_vid_and_only_proxboxs_own_are_used() {
        let vlans = [
            model::<Vlan>(
                json!({"id": 1, "vid": 10, "name": "ours", "status": {"value": "active"}, "tags": managed()}),
            ),
            model::<Vlan>(
                json!({"id": 2, "vid": 20, "name": "an operator's", "status": {"value": "active"}, "tags": []}),
            ),
        ];
        let (found, plan) = plan_vlans(&[10, 20].into(), &vlans, &HashMap::new());
        assert_eq!(found, [(10, 1)].into());
        let vids: Vec<u16> = plan.creates.iter().map(|w| w.key).collect();
        assert_eq!(vids, [20]);
    }
}
