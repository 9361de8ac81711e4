//! The logs page's lines: what the server logs, kept in memory for admins, without the
//! secrets that went through the requests logged.

use tracing_subscriber::layer::SubscriberExt;

use crate::support::*;

const SECRET: &str = "5b3c1d7e-2a4f-4e6b-8c9d-0000logged00";

#[tokio::test]
async fn the_logs_page_shows_what_was_logged_to_admins_only_and_no_secret() {
    // As `proxbox serve` sets it up: every line also goes to the ring.
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(proxbox::server::infra::log_ring::RingLayer),
    );
    let app = TestApp::start(Backend::Sqlite).await;
    app.login().await;
    let csrf = app.csrf().await;
    let saved = app
        .post_form(
            "/api/save_proxmox_endpoint",
            &proxmox_form(&csrf, "logged", SECRET),
        )
        .await;
    assert!(saved.status().is_success() || saved.status().is_redirection());

    let page = app.get_text("/logs?target=endpoints").await;
    assert!(page.contains("saved Proxmox endpoint"), "{page}");
    assert!(page.contains("name=logged"), "{page}");
    assert!(!page.contains(SECRET), "no secret on the logs page");
    let lines: Vec<proxbox::models::LogLine> = app
        .client
        .get(app.url("/api/logs?filter[level]=&filter[target]=server::web::auth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        lines.iter().any(|l| l.message.starts_with("login user=")),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l.target.contains("server::web::auth")),
        "{lines:?}"
    );

    // The live view starts with the kept lines after the one it names.
    let after = lines.last().unwrap().seq;
    let mut stream = app
        .client
        .get(app.url(&format!(
            "/logs/stream?after={}&target=endpoints",
            after.saturating_sub(1_000)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap();
    let first = String::from_utf8_lossy(&first);
    assert!(
        first.contains("event: log") && first.contains("saved Proxmox endpoint"),
        "{first}"
    );

    // Not for everyone: a key that may read the pages is refused the log.
    let reader = proxbox::server::services::credentials::create_api_key(
        &app.db,
        "reader",
        &[proxbox::models::Scope::Read],
    )
    .await
    .unwrap();
    let refused = new_client()
        .get(app.url("/logs/stream"))
        .header("X-Proxbox-API-Key", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    app.stop().await;
}
