//! The "Proxbox" custom link on NetBox's virtual machines, against the real NetBox: a sync
//! with a public URL creates it once, a resync leaves it alone, a new address corrects it.

use proxbox::server::sync::context::RunOptions;
use proxbox::server::sync::custom_link::LINK_NAME;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::CustomLink;

use crate::support::Backend;
use crate::sync_support::*;

async fn links(netbox: &proxbox_netbox::NetboxClient) -> Vec<CustomLink> {
    netbox
        .list::<CustomLink>(&[("name", LINK_NAME.to_string())])
        .await
        .unwrap()
}

#[tokio::test]
async fn netbox_vms_link_to_their_proxbox_panel() {
    let (netbox, name, sim) = scenario("link", 95, 1, 2).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Sqlite).await;
    let with_url = |url: &str| RunOptions {
        public_url: Some(url.to_string()),
        ..Default::default()
    };
    let first = run_on(
        &db,
        &netbox,
        &sim,
        endpoint,
        &[Stage::Devices],
        with_url("https://proxbox-a.example.com"),
    )
    .await;
    assert!(first.outcome.ok, "{:?}", first.outcome.error);
    let found = links(&netbox).await;
    assert_eq!(found.len(), 1, "one link: {found:?}");
    assert_eq!(
        found[0].link_url,
        "https://proxbox-a.example.com/virtual-machines/{{ object.id }}"
    );
    assert!(found[0]
        .object_types
        .contains(&"virtualization.virtualmachine".to_string()));

    let (_, writes) = netbox.request_counts();
    let again = run_on(
        &db,
        &netbox,
        &sim,
        endpoint,
        &[Stage::Devices],
        with_url("https://proxbox-a.example.com"),
    )
    .await;
    assert!(again.outcome.ok);
    assert_eq!(netbox.request_counts().1, writes, "a resync writes nothing");

    let moved = run_on(
        &db,
        &netbox,
        &sim,
        endpoint,
        &[Stage::Devices],
        with_url("https://proxbox-b.example.com/"),
    )
    .await;
    assert!(moved.outcome.ok);
    let found = links(&netbox).await;
    assert_eq!(found.len(), 1, "corrected, not duplicated");
    assert_eq!(
        found[0].link_url,
        "https://proxbox-b.example.com/virtual-machines/{{ object.id }}"
    );
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
