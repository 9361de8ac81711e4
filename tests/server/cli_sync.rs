//! `proxbox sync` as an operator runs it: the real binary, endpoints from its database,
//! the simulator and the real NetBox; its output and exit code.

use proxbox::server::db::Db;

use crate::support::*;
use crate::sync_support::*;

/// A data directory whose database knows the simulator and the test NetBox.
async fn configured(sim: &pve_sim::RunningSim) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proxbox.db").display());
    let db = Db::connect(&url).await.unwrap();
    store_endpoints(&db, sim, "lab").await;
    db.close().await;
    dir
}

/// Runs the binary off the test's runtime thread, which must keep serving the simulator.
async fn proxbox_sync(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"));
    command
        .arg("sync")
        .args(args)
        .env("PROXBOX_DATA_DIR", dir.path())
        .env("PROXBOX_SECRET_KEY", TEST_KEY)
        .env("PROXBOX_LOG", "warn")
        .env_remove("PROXBOX_DATABASE_URL");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn proxbox_sync_shows_each_stage_and_exits_by_the_outcome() {
    let (netbox, name, sim) = scenario("cli", 61, 1, 5).await;
    let dir = configured(&sim).await;

    let (code, text) = proxbox_sync(&dir, &["--stage", "virtual-machines"]).await;
    assert_eq!(code, 0, "{text}");
    for stage in ["devices", "virtual-machines"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(stage) && l.contains(" created, ")),
            "{stage} summary in:\n{text}"
        );
    }
    assert!(text.contains("Full update sync completed"), "{text}");

    // A bad stage name: told which ones exist, nothing run.
    let (code, text) = proxbox_sync(&dir, &["--stage", "vms"]).await;
    assert_eq!(code, 1);
    assert!(text.contains("virtual-machines"), "{text}");

    // Proxmox refuses the token: exit 1 with the category and what to do; no secret shown.
    sim.add_fault(pve_sim::Fault {
        path: "/cluster/resources".into(),
        kind: pve_sim::FaultKind::Unauthorized,
        times: None,
    })
    .await;
    let (code, text) = proxbox_sync(&dir, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("error (authentication)") && text.contains("what to do:"),
        "{text}"
    );
    assert!(!text.contains(&sim.credentials().token_secret), "{text}");

    cleanup(&netbox, &name).await;
    sim.stop().await;
}
