//! Two clusters with one address plan in one NetBox: each in its own VRF by a mapping rule,
//! and without the rule the second cluster's addresses fail saying whose they are.

use proxbox::events::ItemStatus;
use proxbox::server::sync::context::RunOptions;
use proxbox::server::sync::mapping::MappingRules;
use proxbox_netbox::models::{IpAddress, Vrf};
use serde_json::json;

use crate::support::*;
use crate::sync_support::*;

#[tokio::test]
async fn two_clusters_with_one_address_plan_live_side_by_side_in_their_own_vrfs() {
    // One seed, two names: the same vmids, MACs and addresses, guests' and nodes' alike.
    let (a, b) = (unique("vrfa"), unique("vrfb"));
    let sim_a = simulator(&a, 17, 1, 6).await;
    let sim_b = simulator(&b, 17, 1, 6).await;
    let netbox = netbox();
    let (_test_db, db, endpoint_a) = proxbox_db(Backend::Sqlite).await;
    let endpoint_b = endpoint(&db, "second").await;
    let run = |sim: &pve_sim::RunningSim, endpoint: i64, mapping: &str| {
        let options = RunOptions {
            mapping: MappingRules::parse(mapping).unwrap(),
            ..RunOptions::default()
        };
        let sources = vec![source(sim, endpoint)];
        let (db, netbox) = (&db, &netbox);
        async move { run_with(db, netbox, sources, &[], options, None, None).await }
    };

    let first = run(&sim_a, endpoint_a, "").await;
    assert!(first.outcome.ok, "{:?}", first.outcome.error);
    first.assert_no_failed_items();

    // Without a VRF rule, NetBox holds each address once: the second cluster's fail, each
    // naming the first cluster's guest or node that holds it and the rule that helps.
    let clash = run(&sim_b, endpoint_b, "").await;
    assert!(clash.outcome.ok, "{:?}", clash.outcome.error);
    let failed: Vec<_> = clash
        .error_details()
        .into_iter()
        .filter(|d| d.phase == "vm-ip-addresses" || d.phase == "node-interfaces")
        .collect();
    assert!(!failed.is_empty(), "the same addresses in the global table");
    for detail in &failed {
        assert!(
            detail
                .message
                .contains("is already in NetBox's global table: on ")
                && detail.message.contains(&format!("in cluster {a} ("))
                && detail.message.contains("made by Proxbox"),
            "{detail:?}"
        );
        assert!(detail.suggestion.contains("\"vrf\""), "{detail:?}");
    }
    assert!(failed.iter().any(|d| d.phase == "node-interfaces"));

    // Each cluster in its own VRF: the first cluster's addresses move into its VRF, the
    // second's are created in its own, and nothing fails.
    let vrf_a = format!("{a}-vrf");
    let vrf_b = format!("{b}-vrf");
    let made = netbox
        .create::<Vrf, _>(&[json!({"name": vrf_a}), json!({"name": vrf_b})])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let rules = format!(
        r#"[{{"match": {{"cluster": "{a}"}}, "vrf": "{vrf_a}"}},
            {{"match": {{"cluster": "{b}"}}, "vrf": "{vrf_b}"}}]"#
    );
    for (sim, endpoint) in [(&sim_a, endpoint_a), (&sim_b, endpoint_b)] {
        let ran = run(sim, endpoint, &rules).await;
        assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
        ran.assert_no_failed_items();
    }
    for vrf in &made {
        let in_vrf: Vec<IpAddress> = netbox
            .list(&[("vrf_id", vrf.id.to_string())])
            .await
            .unwrap();
        assert!(in_vrf.len() > 2, "{}: {}", vrf.name, in_vrf.len());
    }
    let again = run(&sim_b, endpoint_b, &rules).await;
    assert_eq!(
        again
            .changes()
            .into_iter()
            .filter(|(.., s)| *s != ItemStatus::Skipped)
            .count(),
        0,
        "settled: nothing to do"
    );

    cleanup(&netbox, &a).await;
    cleanup(&netbox, &b).await;
    netbox
        .delete::<Vrf>(&made.iter().map(|v| v.id).collect::<Vec<_>>())
        .await
        .unwrap();
    sim_a.stop().await;
    sim_b.stop().await;
}
