use reqwest::StatusCode;
use serde_json::Value;

use proxbox::server::infra::crypto::Sealed;
use proxbox::server::infra::db::endpoints::{NETBOX_TOKEN, PROXMOX_TOKEN_SECRET};

use crate::support::*;

const SECRET: &str = "9d2f2a54-5c1e-4d8e-9b7a-000000c0ffee";
const NETBOX_TOKEN_VALUE: &str = "nbt_abcdef123456.0123456789abcdefABCDEF0123456789abcdefAB";

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_never_sent_back() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        app.login().await;
        let csrf = app.csrf().await;
        let res = app
            .post_form(
                "/api/save_proxmox_endpoint",
                &proxmox_form(&csrf, "lab", SECRET),
            )
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{backend:?}: {}",
            res.status()
        );
        let res = app
            .post_form(
                "/api/save_netbox_endpoint",
                &[
                    ("csrf", &csrf),
                    ("form[url]", "http://127.0.0.1:8000"),
                    ("form[token]", NETBOX_TOKEN_VALUE),
                ],
            )
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{backend:?}: {}",
            res.status()
        );

        // The raw rows hold ciphertext only, which the key opens to the original.
        let raw: String = sqlx::query_scalar("SELECT token_secret_enc FROM proxmox_endpoints")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert!(
            !raw.contains(SECRET) && raw.starts_with("v1."),
            "{backend:?}: {raw}"
        );
        assert_eq!(
            app.secrets
                .open(PROXMOX_TOKEN_SECRET, &Sealed::from_stored(raw))
                .unwrap(),
            SECRET
        );
        let raw: String = sqlx::query_scalar("SELECT token_enc FROM netbox_endpoints")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert!(
            !raw.contains("0123456789abcdef") && raw.starts_with("v1."),
            "{backend:?}: {raw}"
        );
        assert_eq!(
            app.secrets
                .open(NETBOX_TOKEN, &Sealed::from_stored(raw))
                .unwrap(),
            NETBOX_TOKEN_VALUE
        );

        // Neither the pages nor the server functions send a secret to the browser.
        let id = app.db.proxmox_endpoints().await.unwrap()[0].id;
        for path in [
            "/endpoints",
            "/api/endpoints",
            &format!("/endpoints/proxmox/{id}"),
            &format!("/endpoints/proxmox/{id}/edit"),
            &format!("/api/proxmox_endpoint?id={id}"),
            "/endpoints/netbox",
            "/",
        ] {
            let res = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{backend:?} {path}");
            let body = res.text().await.unwrap();
            assert!(
                !body.contains(SECRET),
                "{backend:?}: {path} leaks the Proxmox secret"
            );
            assert!(
                !body.contains("0123456789abcdefABCDEF"),
                "{backend:?}: {path} leaks the NetBox token"
            );
        }
        let list: Value = app
            .client
            .get(app.url("/api/endpoints"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["proxmox"][0]["has_secret"], true);
        assert_eq!(list["netbox"]["has_token"], true);
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_message_per_field_and_saves_nothing() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let mut form = proxmox_form(&csrf, "lab", SECRET);
    for (key, value) in form.iter_mut() {
        match *key {
            "form[url]" => *value = "https://pve1:99999",
            "form[token_id]" => *value = "root-at-pam",
            "form[timeout_secs]" => *value = "0",
            _ => {}
        }
    }
    let res = app.post_form("/api/save_proxmox_endpoint", &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    let fields = &body["Validation"];
    assert!(fields["url"].as_str().unwrap().contains("65535"), "{body}");
    assert!(
        fields["token_id"]
            .as_str()
            .unwrap()
            .contains("user@realm!tokenname"),
        "{body}"
    );
    assert!(fields["timeout_secs"].is_string(), "{body}");
    assert!(app.db.proxmox_endpoints().await.unwrap().is_empty());

    // NetBox: a malformed token is refused and nothing is stored.
    let res = app
        .post_form(
            "/api/save_netbox_endpoint",
            &[
                ("csrf", &csrf),
                ("form[url]", "netbox.local"),
                ("form[token]", "abc"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["Validation"]["url"].is_string() && body["Validation"]["token"].is_string(),
        "{body}"
    );
    assert!(app.db.netbox_endpoint().await.unwrap().is_none());
    app.stop().await;
}

#[tokio::test]
async fn duplicate_names_are_a_field_error() {
    let app = TestApp::start(Backend::Postgres).await;
    app.login().await;
    let csrf = app.csrf().await;
    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&csrf, "lab", SECRET),
        )
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&csrf, "lab", SECRET),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["Validation"]["name"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{body}"
    );
    assert_eq!(app.db.proxmox_endpoints().await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn editing_with_a_blank_secret_keeps_the_stored_one() {
    for backend in BACKENDS {
        let app = TestApp::start(backend).await;
        app.login().await;
        let csrf = app.csrf().await;
        app.post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&csrf, "lab", SECRET),
        )
        .await;
        let id = app.db.proxmox_endpoints().await.unwrap()[0].id.to_string();
        let mut form = proxmox_form(&csrf, "lab-renamed", "");
        form.push(("id", &id));
        let res = app.post_form("/api/save_proxmox_endpoint", &form).await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{backend:?}: {}",
            res.status()
        );
        let row = app.db.proxmox_endpoints().await.unwrap().remove(0);
        assert_eq!(row.name, "lab-renamed");
        let sealed = Sealed::from_stored(row.token_secret_enc.expect("secret kept"));
        assert_eq!(
            app.secrets.open(PROXMOX_TOKEN_SECRET, &sealed).unwrap(),
            SECRET
        );

        // Switching to password login needs a password, and then drops the token secret.
        let switch = [
            ("csrf", csrf.as_str()),
            ("id", id.as_str()),
            ("form[name]", "lab-renamed"),
            ("form[url]", "https://pve1.example.com:8006"),
            ("form[auth_kind]", "password"),
            ("form[username]", "root@pam"),
        ];
        let res = app.post_form("/api/save_proxmox_endpoint", &switch).await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend:?}"
        );
        let mut with_password = switch.to_vec();
        with_password.push(("form[password]", "pw-123"));
        let res = app
            .post_form("/api/save_proxmox_endpoint", &with_password)
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{backend:?}: {}",
            res.status()
        );
        let row = app.db.proxmox_endpoints().await.unwrap().remove(0);
        assert_eq!(row.auth_kind, "password");
        assert!(
            row.token_secret_enc.is_none() && row.password_enc.is_some(),
            "{backend:?}"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_stored_secret_is_kept_only_while_url_and_login_stay_the_same() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    app.post_form(
        "/api/save_proxmox_endpoint",
        &proxmox_form(&csrf, "lab", SECRET),
    )
    .await;
    let id = app.db.proxmox_endpoints().await.unwrap()[0].id.to_string();
    // Pointing the endpoint elsewhere with a blank secret must not carry the secret along.
    let mut moved = proxmox_form(&csrf, "lab", "");
    moved.push(("id", &id));
    set_url(&mut moved, "https://attacker.example:8006");
    let res = app.post_form("/api/save_proxmox_endpoint", &moved).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["Validation"]["token_secret"].is_string(), "{body}");
    assert_eq!(
        app.db.proxmox_endpoints().await.unwrap()[0].url,
        "https://pve1.example.com:8006",
        "nothing saved"
    );

    // The same for NetBox.
    app.post_form(
        "/api/save_netbox_endpoint",
        &[
            ("csrf", &csrf),
            ("form[url]", "http://127.0.0.1:8000"),
            ("form[token]", NETBOX_TOKEN_VALUE),
        ],
    )
    .await;
    let res = app
        .post_form(
            "/api/save_netbox_endpoint",
            &[
                ("csrf", &csrf),
                ("form[url]", "http://attacker.example"),
                ("form[token]", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_form(
            "/api/save_netbox_endpoint",
            &[
                ("csrf", &csrf),
                ("form[url]", "http://127.0.0.1:8000/"),
                ("form[token]", ""),
            ],
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "same URL keeps the token: {}",
        res.status()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stored_secret_must_be_entered_again_when_tls_trust_is_loosened() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    app.post_form(
        "/api/save_proxmox_endpoint",
        &proxmox_form(&csrf, "lab", SECRET),
    )
    .await;
    let id = app.db.proxmox_endpoints().await.unwrap()[0].id.to_string();
    type Fields<'a> = Vec<(&'a str, &'a str)>;
    let blank = |change: &dyn Fn(&mut Fields)| {
        let mut form = proxmox_form(&csrf, "lab", "");
        form.push(("id", &id));
        change(&mut form);
        form
    };
    let no_verify = blank(&|form| form.retain(|(key, _)| *key != "form[verify_tls]"));
    let other_ca = blank(&|form| {
        form.push((
            "form[ca_pem]",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        ))
    });
    for (what, form) in [("verification off", no_verify), ("another CA", other_ca)] {
        let res = app.post_form("/api/save_proxmox_endpoint", &form).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["Validation"]["token_secret"].is_string(),
            "{what}: {body}"
        );
    }
    let row = app.db.proxmox_endpoints().await.unwrap().remove(0);
    assert_eq!(
        (row.verify_tls, row.ca_pem.as_str()),
        (1, ""),
        "nothing saved"
    );
    // Unchanged trust keeps it, as before.
    let same = blank(&|_| {});
    let res = app.post_form("/api/save_proxmox_endpoint", &same).await;
    assert!(res.status().is_success() || res.status().is_redirection());

    // NetBox: verified before, a blank token with verification off is refused.
    let netbox = |verify: bool, token: &'static str| {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("form[url]", "https://netbox.example.com"),
            ("form[token]", token),
        ];
        if verify {
            form.push(("form[verify_tls]", "on"));
        }
        form
    };
    let res = app
        .post_form(
            "/api/save_netbox_endpoint",
            &netbox(true, NETBOX_TOKEN_VALUE),
        )
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let res = app
        .post_form("/api/save_netbox_endpoint", &netbox(false, ""))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_form("/api/save_netbox_endpoint", &netbox(true, ""))
        .await;
    assert!(res.status().is_success() || res.status().is_redirection());
    app.stop().await;
}

#[tokio::test]
async fn the_form_posts_to_its_page_and_a_refusal_shows_it_again_with_what_was_typed() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let mut bad = proxmox_form(&csrf, "typed-name", SECRET);
    set_url(&mut bad, "https://pve1.example.com:99999");
    let res = app.post_form("/endpoints/proxmox/new", &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("1 to 65535"), "the field's message");
    assert!(
        page.contains(r#"value="typed-name""#),
        "what was typed is kept"
    );
    assert!(page.contains("nothing was saved"));
    assert!(!page.contains(SECRET), "a secret is never sent back");
    assert!(app.db.proxmox_endpoints().await.unwrap().is_empty());

    let res = app
        .post_form(
            "/endpoints/proxmox/new",
            &proxmox_form(&csrf, "lab", SECRET),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/endpoints");
    let row = app.db.proxmox_endpoints().await.unwrap().remove(0);
    // Editing with a blank secret keeps it; the edit page posts to itself too.
    let res = app
        .post_form(
            &format!("/endpoints/proxmox/{}/edit", row.id),
            &proxmox_form(&csrf, "lab-renamed", ""),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let row = app.db.proxmox_endpoints().await.unwrap().remove(0);
    assert_eq!(row.name, "lab-renamed");
    assert!(row.token_secret_enc.is_some());
    // A JSON client gets the refusal as JSON.
    let res = app
        .client
        .post(app.url("/endpoints/proxmox/new"))
        .header("accept", "application/json")
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert!(body["Validation"]["url"].is_string(), "{body}");
    app.stop().await;
}

/// Points a Proxmox endpoint form (of `proxmox_form`) at another URL.
fn set_url<'a>(form: &mut [(&str, &'a str)], url: &'a str) {
    for (key, value) in form.iter_mut() {
        if *key == "form[url]" {
            *value = url;
        }
    }
}

#[tokio::test]
async fn endpoints_a_file_declares_are_shown_as_its_own_and_refused_to_the_forms() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let text = r#"
[[proxmox]]
name = "declared"
url = "https://pve.example.com:8006"
token_id = "root@pam!proxbox"
token_secret_env = "SECRET_VAR"
"#;
    let env = |var: &str| (var == "SECRET_VAR").then(|| SECRET.to_string());
    let Ok(declared) = proxbox::server::services::declared::read(
        "/etc/proxbox/proxbox.toml",
        text,
        std::path::Path::new("."),
        &env,
    ) else {
        panic!("the declaration is refused");
    };
    let base = proxbox::server::services::settings::JobSettings::default();
    proxbox::server::services::declared::apply::apply(
        &app.db,
        &app.secrets,
        &base,
        &declared,
        false,
    )
    .await
    .unwrap();
    let id = app.db.proxmox_endpoints().await.unwrap()[0].id;

    let page = app.get_text("/endpoints").await;
    assert!(
        page.contains("managed by /etc/proxbox/proxbox.toml"),
        "{page}"
    );
    assert!(
        !page.contains(&format!("/endpoints/proxmox/{id}/edit")),
        "no edit link for a declared endpoint"
    );

    let csrf = app.csrf().await;
    let id_text = id.to_string();
    let mut form = proxmox_form(&csrf, "renamed", "");
    form.push(("id", &id_text));
    let refused = app.post_form("/api/save_proxmox_endpoint", &form).await;
    assert_eq!(refused.status(), 409);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("declared in /etc/proxbox/proxbox.toml"),
        "{message}"
    );
    let deleted = app
        .post_form(
            "/api/delete_proxmox_endpoint",
            &[("csrf", &csrf), ("id", &id_text)],
        )
        .await;
    assert_eq!(deleted.status(), 409);
    assert_eq!(
        app.db.proxmox_endpoints().await.unwrap()[0].name,
        "declared"
    );
    app.stop().await;
}
