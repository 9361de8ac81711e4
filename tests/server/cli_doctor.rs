//! `proxbox doctor` against the simulator (whose token privileges a test sets, and which
//! checks them as Proxmox does) and the real NetBox: per stage what the token can read and
//! the privilege it lacks, and the exit code scripts read.

use std::collections::{BTreeMap, BTreeSet};

use proxbox::models::{DoctorReport, StageReadiness};

use crate::cli_sync::{configured, proxbox_with};
use crate::sync_support::*;

fn acl(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
    entries
        .iter()
        .map(|(path, privileges)| {
            (
                path.to_string(),
                privileges.iter().map(|p| p.to_string()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn doctor_names_each_missing_privilege_per_stage_and_exits_non_zero() {
    let sim = simulator(&unique("doctor"), 34, 1, 3).await;
    sim.state.cluster.write().await.version = "9.0.3".into();
    // A PVE 9 auditor's privileges without Datastore.Audit and VM.GuestAgent.Audit.
    sim.state.restrict(acl(&[(
        "/",
        &[
            "Sys.Audit",
            "VM.Audit",
            "Pool.Audit",
            "SDN.Audit",
            "Mapping.Audit",
        ],
    )]));
    let dir = configured(&sim).await;

    let (code, out, err) = proxbox_with(&dir, &["doctor", "--output", "json"], &[]).await;
    assert_eq!(code, 1, "a stage cannot run: {out}{err}");
    let report: DoctorReport = serde_json::from_str(&out).unwrap();
    let lab = &report.proxmox[0];
    assert_eq!(lab.version.as_deref(), Some("9.0.3"));
    let stage = |name: &str| lab.stages.iter().find(|s| s.stage == name).unwrap();
    // (stage, readiness, the privilege its first missing grant names), by hand.
    for (name, readiness, privilege) in [
        (
            "storage",
            StageReadiness::Blocked,
            Some("Datastore.Audit on /storage"),
        ),
        (
            "backups",
            StageReadiness::Blocked,
            Some("Datastore.Audit on /storage"),
        ),
        (
            "virtual-machines",
            StageReadiness::Partial,
            Some("VM.GuestAgent.Audit on /vms"),
        ),
        (
            "vm-ip-addresses",
            StageReadiness::Partial,
            Some("VM.GuestAgent.Audit on /vms"),
        ),
        ("devices", StageReadiness::Ready, None),
        ("task-history", StageReadiness::Ready, None),
    ] {
        let got = stage(name);
        assert_eq!(got.readiness, readiness, "{name}: {got:?}");
        match privilege {
            Some(p) => assert!(got.missing[0].grant.starts_with(p), "{name}: {got:?}"),
            None => assert!(got.missing.is_empty(), "{name}: {got:?}"),
        }
    }
    let netbox = report.netbox.as_ref().unwrap();
    assert!(
        netbox.version.is_some() && netbox.problem.is_none(),
        "{netbox:?}"
    );

    // The table names both, each beside its stage.
    let (code, table, _) = proxbox_with(&dir, &["doctor"], &[]).await;
    assert_eq!(code, 1);
    let line_of = |stage: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(stage))
            .unwrap_or_else(|| panic!("no line for {stage}: {table}"))
            .to_string()
    };
    assert!(
        line_of("storage").contains("no") && line_of("storage").contains("Datastore.Audit"),
        "{table}"
    );
    assert!(
        line_of("vm-ip-addresses").contains("partly")
            && line_of("vm-ip-addresses").contains("VM.GuestAgent.Audit"),
        "{table}"
    );

    // Granted, every stage can run and the exit code says so.
    *sim.state.privileges.write().unwrap() = Default::default();
    let (code, table, err) = proxbox_with(&dir, &["doctor"], &[]).await;
    assert_eq!(code, 0, "{table}{err}");
    assert!(
        !table.contains("partly") && !table.contains(" no "),
        "{table}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn doctor_refuses_an_endpoint_name_it_does_not_know() {
    let sim = simulator(&unique("doctor"), 35, 1, 1).await;
    let dir = configured(&sim).await;
    let (code, _, err) = proxbox_with(&dir, &["doctor", "--endpoint", "nope"], &[]).await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no Proxmox endpoint named \"nope\"") && err.contains("lab"),
        "{err}"
    );
    sim.stop().await;
}
