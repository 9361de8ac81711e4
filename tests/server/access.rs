//! Every registered route has an access rule (what each caller gets is checked against a
//! table written by hand in `access_table`); the last admin; one-time passwords; the users
//! and keys pages.

use proxbox::models::Role;
use proxbox::server::web::auth::policy;
use proxbox::server::web::http::route_inventory;
use reqwest::StatusCode;

use crate::access_table::{Caller, Who};
use crate::support::*;

#[test]
fn every_registered_route_has_an_access_rule_and_every_rule_a_route() {
    let routes = route_inventory();
    let missing: Vec<String> = routes
        .iter()
        .filter(|(method, path)| policy::need(method, Some(path), path).is_none())
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without an access rule (add them to policy::RULES): {missing:?}"
    );
    let stale: Vec<String> = policy::RULES
        .iter()
        .filter(|(method, route, _)| {
            !routes
                .iter()
                .any(|(m, r)| m.as_str() == *method && r == route)
        })
        .map(|(method, route, _)| format!("{method} {route}"))
        .collect();
    assert!(
        stale.is_empty(),
        "rules of routes that do not exist: {stale:?}"
    );
}

async fn a_viewer_cannot_start_a_sync_and_is_told_why(backend: Backend) {
    let app = TestApp::start(backend).await;
    let viewer = Caller::new(&app, Who::Person(Role::Viewer)).await;
    let response = viewer
        .client
        .post(app.url("/sync/full-update"))
        .header("accept", "application/json")
        .form(&[("csrf", viewer.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Your role (viewer) cannot start, cancel or re-run syncs")
            && body.contains("operator role"),
        "{body}"
    );
    // Nothing was enqueued.
    assert!(app.db.jobs(None, None, 10).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_cannot_start_a_sync_on_sqlite() {
    a_viewer_cannot_start_a_sync_and_is_told_why(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_viewer_cannot_start_a_sync_on_postgres() {
    a_viewer_cannot_start_a_sync_and_is_told_why(Backend::Postgres).await;
}

async fn the_last_admin_stays(backend: Backend) {
    let app = TestApp::start(backend).await;
    let db = &app.db;
    use proxbox::server::services::accounts;
    // The test app's own admin is the only one.
    let refused = accounts::remove_user(db, ADMIN).await.unwrap_err();
    assert!(refused.to_string().contains("last admin"), "{refused}");
    let refused = accounts::set_role(db, ADMIN, Role::Operator)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("last admin"), "{refused}");
    assert_eq!(
        db.user_by_name(ADMIN).await.unwrap().unwrap().role(),
        Role::Admin
    );
    // With a second admin, the first may go.
    accounts::add_user(db, "second", Role::Admin).await.unwrap();
    accounts::remove_user(db, ADMIN).await.unwrap();
    assert!(db.user_by_name(ADMIN).await.unwrap().is_none());
    let refused = accounts::remove_user(db, "second").await.unwrap_err();
    assert!(refused.to_string().contains("last admin"));
    app.stop().await;
}

#[tokio::test]
async fn the_last_admin_stays_on_sqlite() {
    the_last_admin_stays(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_last_admin_stays_on_postgres() {
    the_last_admin_stays(Backend::Postgres).await;
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let app = TestApp::start(Backend::Sqlite).await;
    let password =
        proxbox::server::services::accounts::add_user(&app.db, "newcomer", Role::Operator)
            .await
            .unwrap();
    let client = new_client();
    let csrf = app.csrf_of(&client).await;
    client
        .post(app.url("/api/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "newcomer"),
            ("password", &password),
        ])
        .send()
        .await
        .unwrap();
    let page = client.get(app.url("/jobs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/account/password");
    let data = client.get(app.url("/api/jobs")).send().await.unwrap();
    assert_eq!(data.status(), StatusCode::FORBIDDEN);
    assert!(data.text().await.unwrap().contains("one-time password"));

    let csrf = app.csrf_of(&client).await;
    let form = |current: &str, new: &str, confirm: &str| {
        vec![
            ("csrf".to_string(), csrf.clone()),
            ("current".to_string(), current.to_string()),
            ("new_password".to_string(), new.to_string()),
            ("confirm".to_string(), confirm.to_string()),
        ]
    };
    let wrong = client
        .post(app.url("/api/change_password"))
        .form(&form(
            "not it",
            "my own long password",
            "my own long password",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let changed = client
        .post(app.url("/api/change_password"))
        .form(&form(
            &password,
            "my own long password",
            "my own long password",
        ))
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success() || changed.status().is_redirection());
    let page = client.get(app.url("/jobs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let user = app.db.user_by_name("newcomer").await.unwrap().unwrap();
    assert_eq!(user.must_change_password, 0);
    assert_eq!(user.role(), Role::Operator);
    app.stop().await;
}

/// The users and keys pages' forms: a new password or key is shown once, in the answer to
/// the post that made it, and works; refusals say why.
#[tokio::test]
async fn the_users_and_keys_pages_add_reset_remove_and_revoke() {
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let added = app
        .post_form(
            "/users",
            &[("csrf", &csrf), ("username", "ops"), ("role", "operator")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(added.headers()["cache-control"], "no-store");
    let page = added.text().await.unwrap();
    let password = shown_once(&page);
    let ops = app.db.user_by_name("ops").await.unwrap().unwrap();
    assert_eq!(ops.role(), Role::Operator);
    assert_eq!(ops.must_change_password, 1);
    assert!(
        proxbox::server::services::credentials::verify_password(ops.password_hash, password).await,
        "the password shown is the user's"
    );
    let listed = app.get_text("/users").await;
    assert!(
        listed.contains("ops") && listed.contains("one-time password"),
        "{listed}"
    );

    // A bad role and a taken name: a page that says what to do, and nothing changes.
    let bad = app
        .post_form(
            "/users",
            &[("csrf", &csrf), ("username", "ops"), ("role", "root")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("Choose a role"));
    let taken = app
        .post_form(
            "/users",
            &[("csrf", &csrf), ("username", "ops"), ("role", "viewer")],
        )
        .await;
    assert!(taken.text().await.unwrap().contains("exists already"));
    assert_eq!(
        app.db.user_by_name("ops").await.unwrap().unwrap().role(),
        Role::Operator
    );

    let demoted = app
        .post_form("/users/ops/role", &[("csrf", &csrf), ("role", "viewer")])
        .await;
    assert_eq!(demoted.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.db.user_by_name("ops").await.unwrap().unwrap().role(),
        Role::Viewer
    );
    let last = app
        .post_form(&format!("/users/{ADMIN}/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(last.status(), StatusCode::CONFLICT);
    assert!(last.text().await.unwrap().contains("last admin"));
    let reset = app
        .post_form("/users/ops/reset-password", &[("csrf", &csrf)])
        .await;
    let new_password = shown_once(&reset.text().await.unwrap());
    assert_ne!(new_password, shown_once(&page));
    let removed = app.post_form("/users/ops/remove", &[("csrf", &csrf)]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(app.db.user_by_name("ops").await.unwrap().is_none());

    // A key with the sync scope: shown once, it starts syncs' routes but reads no page.
    let created = app
        .post_form(
            "/api-keys",
            &[("csrf", &csrf), ("name", "plugin"), ("scope_sync", "on")],
        )
        .await;
    assert_eq!(created.status(), StatusCode::OK);
    let key = shown_once(&created.text().await.unwrap());
    let keys_page = app.get_text("/api-keys").await;
    assert!(
        keys_page.contains("plugin") && !keys_page.contains(&key),
        "the key is not shown again"
    );
    let with_key = |path: &str| {
        new_client()
            .get(app.url(path))
            .header("x-proxbox-api-key", key.clone())
            .send()
    };
    assert_eq!(with_key("/version").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        with_key("/api/guests").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let no_scope = app
        .post_form("/api-keys", &[("csrf", &csrf), ("name", "empty")])
        .await;
    assert_eq!(no_scope.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_scope
        .text()
        .await
        .unwrap()
        .contains("at least one scope"));
    let revoked = app
        .post_form("/api-keys/plugin/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        with_key("/version").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

/// The secret on a page that shows one once.
fn shown_once(page: &str) -> String {
    let start = page
        .find("data-testid=\"shown-once\">")
        .expect("a secret is shown")
        + 25;
    let end = start + page[start..].find('<').unwrap();
    page[start..end].to_string()
}
