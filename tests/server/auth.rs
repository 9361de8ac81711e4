use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn wrong_password_is_refused_and_right_one_opens_a_session() {
    let app = TestApp::start(Backend::Sqlite).await;
    let csrf = app.csrf().await;
    let res = app
        .post_form(
            "/api/login",
            &[("csrf", &csrf), ("username", ADMIN), ("password", "nope")],
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body, serde_json::json!("BadCredentials"));
    assert_eq!(
        app.client
            .get(app.url("/api/endpoints"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    app.login().await;
    let res = app
        .client
        .get(app.url("/api/endpoints"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let session: Value = app
        .client
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["username"], ADMIN);
    app.stop().await;
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::start(Backend::Sqlite).await;
    let csrf = app.csrf().await;
    let res = app
        .post_form(
            "/api/login",
            &[
                ("csrf", &csrf),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("proxbox_session="))
        .expect("login sets the session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn state_changing_requests_without_csrf_token_are_refused() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Login itself is protected: a cross-site page cannot log the victim into its account.
    let res = app
        .post_form(
            "/api/login",
            &[("username", ADMIN), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let before_login = app.csrf().await;
    app.login().await;
    // The token is bound to the session: one from before the login no longer works.
    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&before_login, "lab", "secret-1"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let missing = proxmox_form("", "lab", "secret-1");
    let without_token: Vec<_> = missing.into_iter().filter(|(k, _)| *k != "csrf").collect();
    let res = app
        .post_form("/api/save_proxmox_endpoint", &without_token)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!("Csrf"));

    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form("forged-token", "lab", "secret-1"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A token from another client's cookie does not work either.
    let other = new_client();
    let other_session: Value = other
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let foreign = other_session["csrf"].as_str().unwrap();
    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(foreign, "lab", "secret-1"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = app
        .client
        .post(app.url("/api/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "logout needs the token too"
    );

    assert!(
        app.db.proxmox_endpoints().await.unwrap().is_empty(),
        "nothing was saved"
    );

    // The same request with the right token is accepted; so is the header form.
    let csrf = app.csrf().await;
    let res = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&csrf, "lab", "secret-1"),
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let res = app
        .client
        .post(app.url("/api/delete_proxmox_endpoint"))
        .header("x-csrf-token", &csrf)
        .form(&[(
            "id",
            app.db.proxmox_endpoints().await.unwrap()[0].id.to_string(),
        )])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert!(app.db.proxmox_endpoints().await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    let app = TestApp::start(Backend::Sqlite).await;
    let csrf = app.csrf().await;
    for _ in 0..5 {
        let res = app
            .post_form(
                "/api/login",
                &[("csrf", &csrf), ("username", ADMIN), ("password", "guess")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .post_form(
            "/api/login",
            &[("csrf", &csrf), ("username", ADMIN), ("password", "guess")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the sixth failure is counted and locks"
    );
    // Now even the right password waits.
    let res = app
        .post_form(
            "/api/login",
            &[
                ("csrf", &csrf),
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = res.json().await.unwrap();
    assert!(body["Throttled"].as_u64().unwrap() >= 1, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn anonymous_visitors_are_sent_to_login() {
    let app = TestApp::start(Backend::Sqlite).await;
    let res = app.client.get(app.url("/endpoints")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?next=%2Fendpoints");
    let res = app
        .client
        .get(app.url("/api/endpoints"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Log in to Proxbox"), "{html}");
    assert!(
        html.contains(r#"name="csrf""#),
        "the login form carries the CSRF token"
    );
    let res = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let health: Value = res.json().await.unwrap();
    assert_eq!(health["database"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn api_keys_authenticate_machines_without_csrf_and_are_stored_hashed() {
    let app = TestApp::start(Backend::Sqlite).await;
    let key = proxbox::server::services::credentials::create_api_key(
        &app.db,
        "netbox-plugin",
        &[proxbox::models::Scope::Admin],
    )
    .await
    .unwrap();
    let client = new_client();
    let res = client
        .get(app.url("/api/endpoints"))
        .header("x-proxbox-api-key", &key)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", res.text().await.unwrap());
    let res = client
        .get(app.url("/api/endpoints"))
        .header("x-proxbox-api-key", "pbx_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].contains(&key[4..]),
        "the key itself is not stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let res = app.post_form("/api/logout", &[("csrf", &csrf)]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    assert_eq!(
        app.client
            .get(app.url("/api/endpoints"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_answer_404_with_a_page() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let res = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
    app.stop().await;
}

#[tokio::test]
async fn a_made_up_api_key_is_refused_at_once_while_a_writer_holds_the_database() {
    use sqlx::Connection;
    let app = TestApp::start(Backend::Sqlite).await;
    let key = proxbox::server::services::credentials::create_api_key(
        &app.db,
        "script",
        &[proxbox::models::Scope::Read],
    )
    .await
    .unwrap();
    let client = new_client();
    let version = |key: String| {
        client
            .get(app.url("/version"))
            .header("x-proxbox-api-key", key)
            .timeout(std::time::Duration::from_secs(5))
            .send()
    };
    // A first use is recorded; a use within the minute is not written again.
    assert_eq!(version(key.clone()).await.unwrap().status(), StatusCode::OK);
    // Another writer (a job's log batch, say) holds SQLite's one write lock.
    let mut writer = sqlx::SqliteConnection::connect(&app.db_url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .unwrap();
    for _ in 0..20 {
        let answer = version("pbx_made_up_key".into())
            .await
            .expect("answered without waiting for the writer");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    let answer = version(key)
        .await
        .expect("a known key is read, not written");
    assert_eq!(answer.status(), StatusCode::OK);
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn every_answer_forbids_framing_sniffing_and_leaking_its_address() {
    let app = TestApp::start(Backend::Sqlite).await;
    for path in ["/login", "/health", "/pkg/proxbox.css", "/jobs"] {
        let res = new_client().get(app.url(path)).send().await.unwrap();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert!(
            header("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_page_runs_only_the_scripts_it_came_with() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let mut nonces = Vec::new();
    for path in ["/login", "/", "/jobs"] {
        let client = if path == "/login" {
            new_client()
        } else {
            app.client.clone()
        };
        let res = client.get(app.url(path)).send().await.unwrap();
        let policy = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = res.text().await.unwrap();
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no script nonce in the policy of {path}: {policy}"))
            .to_string();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        let script_src = policy
            .split(';')
            .find(|d| d.trim_start().starts_with("script-src"))
            .expect("a script-src directive");
        assert!(!script_src.contains("unsafe-inline"), "{policy}");
        let scripts: Vec<&str> = html.split("<script").skip(1).collect();
        assert!(!scripts.is_empty(), "{path} hydrates");
        for script in scripts {
            let tag = script.split('>').next().unwrap();
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "a script of {path} without this response's nonce: <script{tag}>"
            );
        }
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "each response has its own nonce");
    app.stop().await;
}

#[tokio::test]
async fn guesses_from_one_client_do_not_lock_the_owner_out_from_another() {
    use proxbox::server::web::auth::client::TrustedProxies;
    for (trust, owner_gets_in) in [("127.0.0.1", true), ("", false)] {
        let proxies = TrustedProxies::parse(trust).unwrap();
        let app = TestApp::start_behind(Backend::Sqlite, test_job_settings(), None, proxies).await;
        let csrf = app.csrf().await;
        let login = |client: &'static str, password: &'static str| {
            app.client
                .post(app.url("/api/login"))
                .header("x-forwarded-for", client)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", ADMIN),
                    ("password", password),
                ])
                .send()
        };
        for _ in 0..6 {
            let res = login("203.0.113.66", "guess").await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let res = login("203.0.113.66", ADMIN_PASSWORD).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "the guessing client is locked out"
        );
        let res = login("198.51.100.20", ADMIN_PASSWORD).await.unwrap();
        if owner_gets_in {
            // Behind a trusted proxy, the owner's own address is another client: slowed
            // down a little by the guesses at the name, not refused.
            assert!(
                res.status().is_success() || res.status().is_redirection(),
                "{}",
                res.status()
            );
        } else {
            // Without a trusted proxy the header is anyone's to write: it changes nothing.
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_session_ends_a_week_after_its_login_however_busy() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let endpoints = || app.client.get(app.url("/api/endpoints")).send();
    assert_eq!(endpoints().await.unwrap().status(), StatusCode::OK);
    // Logged in eight days ago and used ever since: the sliding expiry is still ahead.
    let eight_days_ago = proxbox::server::infra::db::now_ms() - 8 * 86_400_000;
    sqlx::query("UPDATE sessions SET created_at = $1")
        .bind(eight_days_ago)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        endpoints().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}
