//! Faults a real NetBox cannot produce on demand, from a stand-in server: a list that
//! changes between pages, gateway errors, and the retry rules around them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use proxbox_netbox::models::{NewSite, Site};
use proxbox_netbox::{ErrorKind, NetboxClient, NetboxOptions};
use serde_json::json;

#[derive(Default)]
struct Mock {
    calls: AtomicU32,
    /// Answer this status to the first N calls.
    fail_first: AtomicU32,
    fail_status: AtomicU32,
    /// The body of the failing answers (NetBox's 500 JSON), empty for none.
    fail_body: std::sync::Mutex<String>,
}

fn site(id: u64) -> serde_json::Value {
    json!({"id": id, "name": format!("s{id}"), "slug": format!("s{id}"), "status": {"value": "active", "label": "Active"}})
}

#[derive(serde::Deserialize)]
struct Page {
    limit: usize,
    #[serde(default, rename = "id__gt")]
    after_id: u64,
    #[serde(default)]
    shape: String,
}

async fn sites(State(mock): State<Arc<Mock>>, Query(page): Query<Page>) -> Response {
    let call = mock.calls.fetch_add(1, Ordering::SeqCst);
    if call < mock.fail_first.load(Ordering::SeqCst) {
        return StatusCode::from_u16(mock.fail_status.load(Ordering::SeqCst) as u16)
            .unwrap()
            .into_response();
    }
    // Sites 1..=5. `shape=gap`: site 3 vanishes from the listing after the first page
    // without the count noticing; `shape=shrink`: the count drops between pages.
    let ids: Vec<u64> = (1..=5)
        .filter(|id| *id > page.after_id && !(page.shape == "gap" && page.after_id > 0 && *id == 3))
        .collect();
    let count = if page.shape == "gap" {
        (1..=5u64).filter(|id| *id > page.after_id).count()
    } else {
        ids.len()
    } - usize::from(page.shape == "shrink" && page.after_id > 0);
    let results: Vec<_> = ids.iter().take(page.limit).map(|id| site(*id)).collect();
    let next = (ids.len() > page.limit).then(|| {
        format!(
            "http://elsewhere.example/api/dcim/sites/?limit={}&offset={}",
            page.limit, page.limit
        )
    });
    Json(json!({"count": count, "next": next, "previous": null, "results": results}))
        .into_response()
}

async fn create(State(mock): State<Arc<Mock>>) -> Response {
    let call = mock.calls.fetch_add(1, Ordering::SeqCst);
    if call < mock.fail_first.load(Ordering::SeqCst) {
        let body = mock.fail_body.lock().unwrap().clone();
        return (
            StatusCode::from_u16(mock.fail_status.load(Ordering::SeqCst) as u16).unwrap(),
            body,
        )
            .into_response();
    }
    (StatusCode::CREATED, Json(json!([site(1)]))).into_response()
}

async fn serve(mock: Arc<Mock>) -> NetboxClient {
    let app = Router::new()
        .route("/api/dcim/sites/", get(sites).post(create))
        .with_state(mock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut options = NetboxOptions::new(format!("http://{addr}"), "nbt_key.secret");
    options.page_size = 2;
    options.backoff = Duration::from_millis(5);
    NetboxClient::new(options).unwrap()
}

#[tokio::test]
async fn pages_are_read_by_id_on_our_own_base_url() {
    let nb = serve(Arc::new(Mock::default())).await;
    let all = nb.list::<Site>(&[]).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test]
async fn a_page_gap_or_a_changing_count_is_an_error_not_partial_data() {
    let nb = serve(Arc::new(Mock::default())).await;
    for shape in ["gap", "shrink"] {
        let err = nb
            .list::<Site>(&[("shape", shape.to_string())])
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal, "{shape}: {err}");
        assert!(err.message.contains("changed"), "{shape}: {err}");
        assert!(err.suggestion.contains("run the sync again"), "{err}");
    }
}

#[tokio::test]
async fn gateway_errors_are_retried_for_reads() {
    let mock = Arc::new(Mock::default());
    mock.fail_first.store(2, Ordering::SeqCst);
    mock.fail_status.store(502, Ordering::SeqCst);
    let nb = serve(mock.clone()).await;
    assert_eq!(nb.list::<Site>(&[]).await.unwrap().len(), 5);
    assert_eq!(
        mock.calls.load(Ordering::SeqCst),
        2 + 3,
        "two failures, then three pages"
    );
}

#[tokio::test]
async fn client_errors_are_never_retried() {
    let mock = Arc::new(Mock::default());
    mock.fail_first.store(1, Ordering::SeqCst);
    mock.fail_status.store(404, Ordering::SeqCst);
    let nb = serve(mock.clone()).await;
    assert_eq!(
        nb.list::<Site>(&[]).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(mock.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_create_is_repeated_after_503_but_not_after_an_ambiguous_504() {
    let new = [NewSite {
        name: "s1".into(),
        slug: "s1".into(),
        status: "active".into(),
        tags: vec![],
    }];
    let mock = Arc::new(Mock::default());
    mock.fail_first.store(1, Ordering::SeqCst);
    mock.fail_status.store(503, Ordering::SeqCst);
    let nb = serve(mock.clone()).await;
    assert_eq!(nb.create::<Site, _>(&new).await.unwrap().done.len(), 1);
    assert_eq!(mock.calls.load(Ordering::SeqCst), 2);

    // A 504 may come after NetBox stored the objects: repeating could duplicate them.
    let mock = Arc::new(Mock::default());
    mock.fail_first.store(1, Ordering::SeqCst);
    mock.fail_status.store(504, Ordering::SeqCst);
    let nb = serve(mock.clone()).await;
    let err = nb.create::<Site, _>(&new).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection);
    assert_eq!(mock.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_write_its_database_rolled_back_in_a_deadlock_or_integrity_error_is_sent_again_and_other_500s_are_not(
) {
    let new = [NewSite {
        name: "s1".into(),
        slug: "s1".into(),
        status: "active".into(),
        tags: vec![],
    }];
    // A NetBox that answers 500 with `body` once, then as usual.
    let failing_once = |body: &str| {
        let mock = Arc::new(Mock::default());
        mock.fail_first.store(1, Ordering::SeqCst);
        mock.fail_status.store(500, Ordering::SeqCst);
        *mock.fail_body.lock().unwrap() = body.into();
        mock
    };
    // What NetBox answers when PostgreSQL aborts its transaction (two syncs deleting VMs of
    // the same VM types at once did this here), and what it answered (seen in the soak) when
    // a write Proxbox had given up on deleted an address while another request saved the VM
    // it was the primary of: both rolled back whole.
    let deadlock = r#"{"error": "deadlock detected\nDETAIL:  Process 26327 waits for ShareLock on transaction 177937; blocked by process 23442.", "exception": "DeadlockDetected", "netbox_version": "4.7.3"}"#;
    let integrity = r#"{"error": "insert or update on table \"virtualization_virtualmachine\" violates foreign key constraint \"virtualization_virtu_primary_ip4_id_942e42ae_fk_ipam_ipad\"\nDETAIL:  Key (primary_ip4_id)=(402) is not present in table \"ipam_ipaddress\".", "exception": "IntegrityError", "netbox_version": "4.7.3"}"#;
    for body in [deadlock, integrity] {
        let mock = failing_once(body);
        let nb = serve(mock.clone()).await;
        assert_eq!(nb.create::<Site, _>(&new).await.unwrap().done.len(), 1);
        assert_eq!(
            mock.calls.load(Ordering::SeqCst),
            2,
            "sent again once: {body}"
        );
    }

    let mock = failing_once(r#"{"error": "division by zero"}"#);
    let nb = serve(mock.clone()).await;
    let err = nb.create::<Site, _>(&new).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert_eq!(
        mock.calls.load(Ordering::SeqCst),
        1,
        "an unknown failure may have written"
    );
}
