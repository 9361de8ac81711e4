//! "Test connection" against the Proxmox simulator and the real NetBox.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

async fn save_proxmox(
    app: &TestApp,
    csrf: &str,
    name: &str,
    url: &str,
    secret: &str,
    ca_pem: &str,
) -> String {
    let fields = [
        ("csrf", csrf),
        ("form[name]", name),
        ("form[url]", url),
        ("form[auth_kind]", "token"),
        ("form[token_id]", "root@pam!proxbox"),
        ("form[token_secret]", secret),
        ("form[verify_tls]", "on"),
        ("form[ca_pem]", ca_pem),
        ("form[enabled]", "on"),
    ];
    let res = app.post_form("/api/save_proxmox_endpoint", &fields).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let rows = app.db.proxmox_endpoints().await.unwrap();
    rows.iter().find(|r| r.name == name).unwrap().id.to_string()
}

async fn test_proxmox(app: &TestApp, csrf: &str, id: &str) -> Value {
    let res = app
        .post_form("/api/test_proxmox_endpoint", &[("csrf", csrf), ("id", id)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn proxmox_connection_tests_report_success_or_what_to_fix() {
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 3,
        name: "lab".into(),
        index: 0,
        nodes: 3,
        guests: 10,
        history: Default::default(),
    }))
    .await
    .unwrap();
    let secret = sim.credentials().token_secret.clone();
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;

    let good = save_proxmox(
        &app,
        &csrf,
        "good",
        sim.http_url.as_deref().unwrap(),
        &secret,
        "",
    )
    .await;
    let report = test_proxmox(&app, &csrf, &good).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["summary"], "Proxmox VE 8.3.2, cluster lab, 3 nodes");

    let wrong = save_proxmox(
        &app,
        &csrf,
        "wrong",
        sim.http_url.as_deref().unwrap(),
        "not-the-secret",
        "",
    )
    .await;
    let report = test_proxmox(&app, &csrf, &wrong).await;
    assert_eq!(
        (report["ok"].clone(), report["category"].clone()),
        (Value::Bool(false), Value::from("authentication")),
        "{report}"
    );
    assert!(
        report["suggestion"].as_str().unwrap().contains("token"),
        "{report}"
    );

    let untrusted = save_proxmox(
        &app,
        &csrf,
        "tls",
        sim.https_url.as_deref().unwrap(),
        &secret,
        "",
    )
    .await;
    let report = test_proxmox(&app, &csrf, &untrusted).await;
    assert_eq!(report["category"], "connection", "{report}");
    assert!(
        report["suggestion"].as_str().unwrap().contains("Custom CA"),
        "{report}"
    );

    let with_ca = save_proxmox(
        &app,
        &csrf,
        "tls-ca",
        sim.https_url.as_deref().unwrap(),
        &secret,
        sim.ca_pem(),
    )
    .await;
    assert_eq!(test_proxmox(&app, &csrf, &with_ca).await["ok"], true);

    let url = sim.http_url.clone().unwrap();
    sim.stop().await;
    let report = test_proxmox(&app, &csrf, &good).await;
    assert_eq!(report["category"], "connection", "{report}");
    assert!(
        report["summary"].as_str().unwrap().contains(&url),
        "names the endpoint: {report}"
    );
    app.stop().await;
}

#[tokio::test]
async fn netbox_connection_tests_use_the_stored_token() {
    let (url, token) = netbox_env();
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let save = |token: String| {
        let (app, csrf, url) = (&app, csrf.clone(), url.clone());
        async move {
            let res = app
                .post_form(
                    "/api/save_netbox_endpoint",
                    &[
                        ("csrf", &csrf),
                        ("form[url]", &url),
                        ("form[token]", &token),
                    ],
                )
                .await;
            assert!(
                res.status().is_success() || res.status().is_redirection(),
                "{}",
                res.status()
            );
        }
    };
    let test = || async {
        let res = app
            .post_form("/api/test_netbox_endpoint", &[("csrf", &csrf)])
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json::<Value>().await.unwrap()
    };
    save(token).await;
    let report = test().await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["summary"].as_str().unwrap().starts_with("NetBox 4."),
        "{report}"
    );

    save("nbt_wrongkey0000.wrongsecretwrongsecretwrongsecret0000".into()).await;
    let report = test().await;
    assert_eq!(report["category"], "authentication", "{report}");
    app.stop().await;
}
