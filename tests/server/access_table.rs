//! Who may call what, checked against a table written by hand (not the policy table the
//! server enforces): every route the server has × anonymous, each role and each key scope;
//! every spelling of a page's path (trailing slash, `//`, `/.`, percent-encoded, upper
//! case) × every caller; refusals carry none of the page's data; every state-changing
//! route refuses a browser session without its CSRF token. On SQLite and PostgreSQL.

use proxbox::models::{Role, Scope};
use proxbox::server::web::http::route_inventory;
use reqwest::{Method, StatusCode};

use crate::support::*;

/// What a route asks of its caller, as the README's "Roles and API keys" section states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Public,
    SignedIn,
    /// The pages and the data behind them.
    Read,
    /// Jobs and their streams.
    Jobs,
    /// Starting, cancelling and re-running syncs.
    Sync,
    /// Configuration, people, keys, settings, the server log.
    Admin,
    /// The socket: anyone connects, and authenticates inside it (tested in `streams`).
    Socket,
}

use Level::*;

/// Every route, "METHOD path", by what it asks. A route the server has and this table
/// lacks fails the test: a new route is placed here by a person, on purpose.
const ROUTES: &[(Level, &[&str])] = &[
    (
        Public,
        &[
            "GET /login",
            "POST /api/login",
            "GET /api/session",
            "GET /health",
        ],
    ),
    (
        SignedIn,
        &[
            "GET /account/password",
            "POST /api/change_password",
            "POST /api/logout",
        ],
    ),
    (
        Read,
        &[
            "GET /",
            "GET /api/dashboard",
            "GET /api/read_cluster_cards",
            "GET /api/check_peers",
            "GET /endpoints",
            "GET /api/endpoints",
            "GET /endpoints/proxmox/{id}",
            "GET /api/endpoint_detail",
            "GET /endpoints/proxmox/{id}/changes",
            "GET /api/watch_history",
            "GET /endpoints/proxmox/{id}/nodes/{node}",
            "GET /api/node_detail",
            "GET /virtual-machines",
            "GET /api/guests",
            "GET /virtual-machines/{id}",
            "GET /api/guest_panel",
            "GET /storage",
            "GET /api/storage",
            "GET /networks",
            "GET /api/networks",
            "GET /backups",
            "GET /api/backups",
            "GET /backups/coverage.csv",
            "GET /metrics",
            "GET /streams/check",
            "GET /streams/check/stream",
        ],
    ),
    (
        Jobs,
        &[
            "GET /jobs",
            "GET /api/jobs",
            "GET /api/job_kinds",
            "GET /jobs/{id}",
            "GET /api/job",
            "GET /jobs/{id}/stream",
            "GET /version",
        ],
    ),
    (Socket, &["GET /ws"]),
    (
        Sync,
        &[
            "POST /sync/{stage}",
            "GET /sync/{stage}/stream",
            "POST /api/start_sync",
            "GET /api/sync_form_choices",
            "POST /virtual-machines/{id}/sync",
            "POST /endpoints/proxmox/{id}/nodes/{node}/sync",
            "POST /jobs/{id}/cancel",
            "POST /jobs/{id}/rerun",
            "GET /full-update",
            "GET /full-update/stream",
            "GET /dcim/devices/create",
            "GET /dcim/devices/create/stream",
            "GET /virtualization/virtual-machines/create",
            "GET /virtualization/virtual-machines/create/stream",
        ],
    ),
    (
        Admin,
        &[
            "GET /endpoints/proxmox/new",
            "POST /endpoints/proxmox/new",
            "GET /endpoints/proxmox/{id}/edit",
            "POST /endpoints/proxmox/{id}/edit",
            "GET /api/proxmox_endpoint",
            "POST /api/save_proxmox_endpoint",
            "POST /api/delete_proxmox_endpoint",
            "POST /api/test_proxmox_endpoint",
            "GET /endpoints/proxmox/{id}/permissions",
            "GET /api/endpoint_permissions",
            "GET /endpoints/netbox",
            "GET /api/netbox_endpoint",
            "POST /api/save_netbox_endpoint",
            "POST /api/delete_netbox_endpoint",
            "POST /api/test_netbox_endpoint",
            "GET /users",
            "GET /api/users_overview",
            "POST /users",
            "POST /users/{name}/role",
            "POST /users/{name}/reset-password",
            "POST /users/{name}/remove",
            "GET /api-keys",
            "GET /api/api_keys_overview",
            "POST /api-keys",
            "POST /api-keys/{name}/revoke",
            "GET /settings",
            "GET /api/settings_overview",
            "POST /settings",
            "POST /settings/schedules",
            "POST /settings/schedules/{id}",
            "POST /settings/schedules/{id}/run",
            "POST /settings/schedules/{id}/delete",
            "GET /logs",
            "GET /api/logs",
            "GET /logs/stream",
        ],
    ),
];

/// The callers, and the levels each passes.
const CALLERS: &[(Who, &[Level])] = &[
    (Who::Anonymous, &[Public, Socket]),
    (
        Who::Person(Role::Viewer),
        &[Public, Socket, SignedIn, Read, Jobs],
    ),
    (
        Who::Person(Role::Operator),
        &[Public, Socket, SignedIn, Read, Jobs, Sync],
    ),
    (
        Who::Person(Role::Admin),
        &[Public, Socket, SignedIn, Read, Jobs, Sync, Admin],
    ),
    (
        Who::Key(Scope::Read),
        &[Public, Socket, SignedIn, Read, Jobs],
    ),
    (
        Who::Key(Scope::Sync),
        &[Public, Socket, SignedIn, Jobs, Sync],
    ),
    (
        Who::Key(Scope::Admin),
        &[Public, Socket, SignedIn, Read, Jobs, Sync, Admin],
    ),
];

/// Admin-only pages, with what only their rendered data contains (planted by the test, or
/// a heading only the page has), to look for in every answer a refused caller gets.
const ADMIN_PAGES: &[(&str, &str)] = &[
    ("/users", PLANTED_USER),
    ("/api-keys", PLANTED_KEY),
    ("/settings", "Mapping rules"),
    ("/logs", "Server log"),
    ("/api/users_overview", PLANTED_USER),
    ("/api/api_keys_overview", PLANTED_KEY),
    ("/api/settings_overview", "orphan"),
];
/// What the CSRF refusal says (the error's text, typed here as an operator reads it).
const CSRF_REFUSAL: &str = "missing or wrong CSRF token";
const PLANTED_USER: &str = "planted-person-x7q";
const PLANTED_KEY: &str = "planted-key-k3v";

#[derive(Debug, Clone, Copy)]
pub enum Who {
    Anonymous,
    Person(Role),
    Key(Scope),
}

/// A caller with its credentials.
pub struct Caller {
    pub who: Who,
    pub client: reqwest::Client,
    key: Option<String>,
    pub csrf: String,
}

impl Caller {
    pub async fn new(app: &TestApp, who: Who) -> Caller {
        let client = new_client();
        let key = match who {
            Who::Key(scope) => Some(
                proxbox::server::services::credentials::create_api_key(
                    &app.db,
                    &format!("caller-{}", scope.as_str()),
                    &[scope],
                )
                .await
                .unwrap(),
            ),
            _ => None,
        };
        if let Who::Person(role) = who {
            let name = format!("{}-user", role.as_str());
            let password = "a long test password";
            let hash = proxbox::server::services::credentials::hash_password(password.into())
                .await
                .unwrap();
            app.db.create_user(&name, &hash, role, false).await.unwrap();
            let csrf = app.csrf_of(&client).await;
            let login = client
                .post(app.url("/api/login"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("username", &name),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap();
            assert!(login.status().is_redirection() || login.status().is_success());
        }
        // The token is bound to the session: read it after logging in.
        let csrf = app.csrf_of(&client).await;
        Caller {
            who,
            client,
            key,
            csrf,
        }
    }

    fn describe(&self) -> String {
        match self.who {
            Who::Anonymous => "an anonymous caller".into(),
            Who::Person(role) => format!("a {}", role.as_str()),
            Who::Key(scope) => format!("a key with scope {}", scope.as_str()),
        }
    }

    fn request(&self, app: &TestApp, method: &Method, path: &str) -> reqwest::RequestBuilder {
        // As a browser on Proxbox's own pages sends it (the sync GETs and the socket refuse
        // other sites).
        let request = self
            .client
            .request(method.clone(), app.url(path))
            .header("sec-fetch-site", "same-origin");
        let request = match &self.key {
            Some(key) => request.header("x-proxbox-api-key", key),
            None => request,
        };
        // An empty form: the routes that take arguments refuse it after the access check.
        if method == Method::POST {
            request
                .header("content-type", "application/x-www-form-urlencoded")
                .body("")
        } else {
            request
        }
    }

    pub async fn send(&self, app: &TestApp, method: &Method, path: &str) -> Answer {
        let request = self
            .request(app, method, path)
            .header("x-csrf-token", &self.csrf);
        Answer::of(request.send().await.unwrap()).await
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Answer {
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        // A live stream let through never ends: its head says enough.
        let endless = status == StatusCode::OK
            && response
                .headers()
                .get("content-type")
                .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        let body = if endless {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        Answer {
            status,
            location,
            body,
        }
    }

    fn is_refusal_of(&self, who: Who) -> bool {
        match who {
            // A page sends the browser to log in; the rest answers 401.
            Who::Anonymous => {
                self.status == StatusCode::UNAUTHORIZED
                    || (self.status == StatusCode::SEE_OTHER
                        && self
                            .location
                            .as_deref()
                            .is_some_and(|l| l.starts_with("/login?next=")))
            }
            _ => self.status == StatusCode::FORBIDDEN && self.body.contains("cannot"),
        }
    }
}

fn level_of(method: &Method, route: &str) -> Option<Level> {
    let wanted = format!("{method} {route}");
    ROUTES
        .iter()
        .find(|(_, routes)| routes.contains(&wanted.as_str()))
        .map(|(level, _)| *level)
}

/// A route's path with its parameters filled by values that name nothing, so that what
/// passes the access check fails harmlessly after it (404, 400, 422).
fn concrete(route: &str) -> String {
    route
        .replace("{id}", "999999")
        .replace("{stage}", "no-such-stage")
        .replace("{node}", "nowhere")
        .replace("{name}", "nobody")
}

async fn callers(app: &TestApp) -> Vec<(Caller, &'static [Level])> {
    let mut callers = Vec::new();
    for (who, levels) in CALLERS {
        callers.push((Caller::new(app, *who).await, *levels));
    }
    callers
}

async fn plant_admin_data(app: &TestApp) {
    let hash = proxbox::server::services::credentials::hash_password("planted password".into())
        .await
        .unwrap();
    app.db
        .create_user(PLANTED_USER, &hash, Role::Viewer, false)
        .await
        .unwrap();
    proxbox::server::services::credentials::create_api_key(&app.db, PLANTED_KEY, &[Scope::Read])
        .await
        .unwrap();
}

fn assert_carries_no_admin_data(answer: &Answer, what: &str) {
    for (_, marker) in ADMIN_PAGES {
        assert!(
            !answer.body.contains(marker),
            "{what} ({}) carries {marker:?}, admin data: {}",
            answer.status,
            answer.body
        );
    }
}

async fn every_route_answers_each_caller_as_the_table_says(backend: Backend) {
    let app = TestApp::start(backend).await;
    plant_admin_data(&app).await;
    let callers = callers(&app).await;
    let mut routes = route_inventory();
    routes.sort();
    routes.dedup();
    // Logging out ends the caller's session: last.
    routes.sort_by_key(|(_, path)| path == "/api/logout");
    let unplaced: Vec<String> = routes
        .iter()
        .filter(|(method, route)| level_of(method, route).is_none())
        .map(|(method, route)| format!("{method} {route}"))
        .collect();
    assert!(
        unplaced.is_empty(),
        "routes this test's table lacks (place each by hand): {unplaced:?}"
    );
    let table_size: usize = ROUTES.iter().map(|(_, routes)| routes.len()).sum();
    assert_eq!(
        table_size,
        routes.len(),
        "the table names routes the server lacks"
    );

    for (method, route) in &routes {
        let level = level_of(method, route).unwrap();
        let path = concrete(route);
        for (caller, passes) in &callers {
            let answer = caller.send(&app, method, &path).await;
            let what = format!("{} calling {method} {path}", caller.describe());
            if passes.contains(&level) {
                assert!(
                    !answer.is_refusal_of(caller.who)
                        && answer.status != StatusCode::FORBIDDEN
                        && answer.status != StatusCode::UNAUTHORIZED
                        && !answer.status.is_server_error(),
                    "{what} was refused or failed ({}): {}",
                    answer.status,
                    answer.body
                );
            } else {
                assert!(
                    answer.is_refusal_of(caller.who),
                    "{what} was not refused ({}): {}",
                    answer.status,
                    answer.body
                );
                assert_carries_no_admin_data(&answer, &what);
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn every_route_and_caller_on_sqlite() {
    every_route_answers_each_caller_as_the_table_says(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_route_and_caller_on_postgres() {
    every_route_answers_each_caller_as_the_table_says(Backend::Postgres).await;
}

/// The spellings of a path a client or an attacker may use for it.
fn spellings(path: &str) -> Vec<String> {
    let rest = &path[1..];
    let mut first = rest.chars();
    let encoded_first = match first.next() {
        Some(c) => format!("/%{:02X}{}", c as u32, first.as_str()),
        None => "/%2E".into(),
    };
    vec![
        format!("{path}/"),
        format!("/{path}"),
        format!("{path}/."),
        format!("{path}//"),
        format!("/./{rest}"),
        format!("/x/..{path}"),
        encoded_first,
        path.to_uppercase(),
    ]
}

async fn no_spelling_of_a_path_passes_its_rule(backend: Backend) {
    let app = TestApp::start(backend).await;
    plant_admin_data(&app).await;
    let callers = callers(&app).await;
    let admin = callers
        .iter()
        .find(|(caller, _)| matches!(caller.who, Who::Person(Role::Admin)))
        .map(|(caller, _)| caller)
        .unwrap();
    // The markers are real: the admin sees each on its page.
    for (page, marker) in ADMIN_PAGES {
        let answer = admin.send(&app, &Method::GET, page).await;
        assert_eq!(answer.status, StatusCode::OK, "{page}: {}", answer.body);
        assert!(answer.body.contains(marker), "{page} shows {marker:?}");
    }
    let get_routes: Vec<(Level, String)> = ROUTES
        .iter()
        .flat_map(|(level, routes)| routes.iter().map(move |r| (*level, r)))
        .filter_map(|(level, r)| Some((level, r.strip_prefix("GET ")?)))
        .filter(|(_, r)| !r.ends_with("/stream") && *r != "/ws" && *r != "/")
        .map(|(level, r)| (level, concrete(r)))
        .collect();
    for (level, path) in &get_routes {
        for spelling in spellings(path) {
            for (caller, passes) in &callers {
                let answer = caller.send(&app, &Method::GET, &spelling).await;
                let what = format!("{} calling GET {spelling}", caller.describe());
                if answer.status == StatusCode::PERMANENT_REDIRECT {
                    // A spelling of the path leads to the path, whose own rule applies.
                    assert_eq!(answer.location.as_deref(), Some(path.as_str()), "{what}");
                } else if passes.contains(level) {
                    // Taken for the route itself (the server reads some spellings so):
                    // the route answers, as it does to this caller.
                    assert!(!answer.status.is_server_error(), "{what}: {}", answer.body);
                } else {
                    // Refused, sent to log in, or no such page: without the page's data.
                    assert!(
                        answer.is_refusal_of(caller.who) || answer.status == StatusCode::NOT_FOUND,
                        "{what}: {} {}",
                        answer.status,
                        answer.body
                    );
                    assert_carries_no_admin_data(&answer, &what);
                }
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn path_spellings_on_sqlite() {
    no_spelling_of_a_path_passes_its_rule(Backend::Sqlite).await;
}

#[tokio::test]
async fn path_spellings_on_postgres() {
    no_spelling_of_a_path_passes_its_rule(Backend::Postgres).await;
}

/// A browser session's state-changing request without the CSRF token is refused on every
/// route, before anything else happens; a key (which a cross-site form cannot carry) needs
/// none.
#[tokio::test]
async fn every_state_changing_route_needs_the_csrf_token_of_a_session() {
    let app = TestApp::start(Backend::Sqlite).await;
    let admin = Caller::new(&app, Who::Person(Role::Admin)).await;
    let key = Caller::new(&app, Who::Key(Scope::Admin)).await;
    let mut routes = route_inventory();
    routes.retain(|(method, route)| *method == Method::POST && route != "/api/logout");
    assert!(routes.len() > 20, "the POST routes are found: {routes:?}");
    for (method, route) in &routes {
        let path = concrete(route);
        for token in [None, Some("forged-token-of-the-right-length-0123456789")] {
            let request = admin.request(&app, method, &path);
            let request = match token {
                Some(token) => request.header("x-csrf-token", token),
                None => request,
            };
            let answer = Answer::of(request.send().await.unwrap()).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "POST {path} with CSRF token {token:?}: {}",
                answer.body
            );
            // A page says it in words; a server function's answer is the error itself.
            let as_error = serde_json::from_str::<proxbox::error::AppError>(&answer.body).ok();
            assert!(
                answer.body.contains(CSRF_REFUSAL)
                    || as_error == Some(proxbox::error::AppError::Csrf),
                "POST {path}: the refusal names the token: {}",
                answer.body
            );
        }
        let with_key = Answer::of(key.request(&app, method, &path).send().await.unwrap()).await;
        assert!(
            with_key.status != StatusCode::FORBIDDEN && !with_key.status.is_server_error(),
            "POST {path} with an admin key: {} {}",
            with_key.status,
            with_key.body
        );
    }
    // Nothing was changed by the refused posts: the users are those the test made.
    let users = proxbox::server::services::accounts::users(&app.db)
        .await
        .unwrap();
    assert_eq!(
        users.len(),
        2,
        "{:?}",
        users.iter().map(|u| &u.username).collect::<Vec<_>>()
    );
    app.stop().await;
}
