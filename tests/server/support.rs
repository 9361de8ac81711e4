//! A Proxbox server per test, on its own database, reachable over real HTTP.

use leptos::prelude::LeptosOptions;
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;
use proxbox::server::jobs::{JobSettings, Jobs};
use proxbox::server::web::auth::client::TrustedProxies;
use proxbox::server::web::http::router;
use proxbox::server::web::state::{AppState, WebSettings};
use serde_json::Value;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";
pub const TEST_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

fn postgres_admin_url() -> String {
    std::env::var("PROXBOX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database of the given kind; dropped again by [`TestDb::drop_db`].
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("proxbox.db").display()),
                pg_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let suffix: String = proxbox::server::infra::crypto::random_token()
                    .to_lowercase()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(16)
                    .collect();
                let name = format!("proxbox_test_{suffix}");
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is needed for these tests and is not reachable at {admin}: {e}. Run `scripts/db-up`.")
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
                TestDb {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub async fn drop_db(self) {
        if let Some(name) = self.pg_name {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub secrets: SecretBox,
    pub client: reqwest::Client,
    pub jobs: Jobs,
    pub db_url: String,
    test_db: Option<TestDb>,
    server: tokio::task::JoinHandle<()>,
    workers: tokio::task::JoinSet<()>,
}

/// Job timings shortened so that tests see heartbeats, recovery and keepalives quickly.
pub fn test_job_settings() -> JobSettings {
    JobSettings {
        workers: 2,
        job_timeout: std::time::Duration::from_secs(600),
        keepalive: std::time::Duration::from_millis(300),
        job_retention: std::time::Duration::from_secs(90 * 86_400),
        heartbeat: std::time::Duration::from_millis(100),
        stale_after: std::time::Duration::from_secs(2),
        poll: std::time::Duration::from_millis(100),
        watch: None,
        rules: Default::default(),
        fixed: Default::default(),
    }
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::start_with(backend, test_job_settings(), None).await
    }

    /// A server with the given job settings, on a new database or on `shared` (two
    /// instances on one PostgreSQL).
    pub async fn start_with(
        backend: Backend,
        settings: JobSettings,
        shared: Option<&str>,
    ) -> TestApp {
        TestApp::start_behind(backend, settings, shared, TrustedProxies::default()).await
    }

    /// A server that believes the `X-Forwarded-For` of `proxies` (the test client is a
    /// proxy when they include 127.0.0.1).
    pub async fn start_behind(
        backend: Backend,
        settings: JobSettings,
        shared: Option<&str>,
        proxies: TrustedProxies,
    ) -> TestApp {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("proxbox=debug")
            .with_test_writer()
            .try_init();
        let test_db = match shared {
            Some(_) => None,
            None => Some(TestDb::new(backend).await),
        };
        let url = shared
            .map(str::to_string)
            .unwrap_or_else(|| test_db.as_ref().unwrap().url.clone());
        let db = Db::connect(&url)
            .await
            .expect("database opens and migrates");
        if shared.is_none() {
            let hash = proxbox::server::services::credentials::hash_password(ADMIN_PASSWORD.into())
                .await
                .unwrap();
            db.create_user(ADMIN, &hash, proxbox::models::Role::Admin, false)
                .await
                .unwrap();
        }
        let secrets = SecretBox::from_key_text(TEST_KEY).unwrap();
        let jobs = Jobs::new(db.clone(), std::sync::Arc::new(secrets.clone()), settings);
        let workers = jobs.start().await.expect("job workers start");
        let state = AppState {
            leptos_options: LeptosOptions::builder()
                .output_name("proxbox")
                .site_root("target/site")
                .build(),
            web: std::sync::Arc::new(WebSettings {
                cookie_secure: false,
                session_ttl_ms: 3_600_000,
                health_refresh_secs: 30,
                trusted_proxies: proxies,
            }),
            services: proxbox::server::services::Services::new(
                db.clone(),
                std::sync::Arc::new(secrets.clone()),
                jobs.clone(),
                std::time::Duration::from_secs(30),
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(state);
        let server = tokio::spawn(proxbox::server::web::connections::serve(
            listener,
            app,
            proxbox::server::web::connections::HEADER_TIMEOUT,
            std::future::pending(),
        ));
        TestApp {
            base: format!("http://{addr}"),
            db,
            secrets,
            client: new_client(),
            jobs,
            db_url: url,
            test_db,
            server,
            workers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The body of a GET with this client's cookies (a page as the browser gets it).
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// This client's CSRF token (the server sets the cookie it is bound to on first contact).
    pub async fn csrf(&self) -> String {
        self.csrf_of(&self.client).await
    }

    /// The CSRF token of another client of this server (another browser, another user).
    pub async fn csrf_of(&self, client: &reqwest::Client) -> String {
        csrf_at(client, &self.base).await
    }

    /// Calls a server function with a url-encoded form, as the browser does.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self) {
        let csrf = self.csrf().await;
        let res = self
            .post_form(
                "/api/login",
                &[
                    ("csrf", &csrf),
                    ("username", ADMIN),
                    ("password", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "login failed: {}",
            res.status()
        );
    }

    pub async fn stop(mut self) {
        self.server.abort();
        self.jobs.shut_down();
        self.workers.abort_all();
        self.db.close().await;
        if let Some(db) = self.test_db.take() {
            db.drop_db().await;
        }
    }
}

/// The CSRF token of `client`'s session with the server at `base`.
pub async fn csrf_at(client: &reqwest::Client, base: &str) -> String {
    let session: Value = client
        .get(format!("{base}/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["csrf"]
        .as_str()
        .expect("session has a csrf token")
        .to_string()
}

/// A loopback port free at this moment, for a server process of the test's own.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn new_client() -> reqwest::Client {
    // reqwest is built without a default TLS provider (the workspace picks ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A valid Proxmox endpoint form with the given name and secret, as `form[...]` fields.
pub fn proxmox_form<'a>(csrf: &'a str, name: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("form[name]", name),
        ("form[url]", "https://pve1.example.com:8006"),
        ("form[auth_kind]", "token"),
        ("form[token_id]", "root@pam!proxbox"),
        ("form[token_secret]", secret),
        ("form[verify_tls]", "on"),
        ("form[timeout_secs]", "30"),
        ("form[enabled]", "on"),
    ]
}

/// URL and v2 token of the test NetBox (`scripts/netbox-up` writes them).
pub fn netbox_env() -> (String, String) {
    let file = std::env::var("NETBOX_ENV_FILE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/proxbox/netbox.env",
            std::env::var("HOME").unwrap()
        )
    });
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!("these tests need a real NetBox: run scripts/netbox-up (it writes {file}): {e}")
    });
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("{key} missing from {file}"))
    };
    (get("NETBOX_URL"), get("NETBOX_TOKEN"))
}
