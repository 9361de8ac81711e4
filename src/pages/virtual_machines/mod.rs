//! `/virtual-machines`: every guest Proxbox keeps a card of, across endpoints, filtered by
//! a GET form (so it works without JavaScript) and paged.

pub mod panel;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::components::layout::PageErrors;
use crate::components::live_region::LiveRegion;
use crate::components::units::{format_age, format_mb};
use crate::error::AppError;
use crate::models::{GuestFilter, GuestPage, GuestRow};
use crate::wire::JsonText;

#[server(endpoint = "guests", input = GetUrl, output = JsonText)]
pub async fn list_guests(filter: GuestFilter) -> Result<GuestPage, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::inventory::guest_page(&state.db, &filter).await
}

/// The filter a query string asks for; what does not parse is left out.
fn filter_of(q: &ParamsMap) -> GuestFilter {
    let text = |key: &str| q.get(key).unwrap_or_default().trim().to_string();
    GuestFilter {
        endpoint: text("endpoint").parse().ok(),
        cluster: text("cluster"),
        node: text("node"),
        kind: text("kind"),
        status: text("status"),
        tag: text("tag"),
        no_backup_days: text("no_backup_days").parse().ok(),
        search: text("q"),
        ha: text("ha"),
        page: text("page").parse().unwrap_or(1),
    }
}

/// The query string of `filter` on page `page`.
fn query_of(filter: &GuestFilter, page: u32) -> String {
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(e) = filter.endpoint {
        parts.push(("endpoint".into(), e.to_string()));
    }
    for (key, value) in [
        ("cluster", &filter.cluster),
        ("node", &filter.node),
        ("kind", &filter.kind),
        ("status", &filter.status),
        ("tag", &filter.tag),
        ("ha", &filter.ha),
        ("q", &filter.search),
    ] {
        if !value.is_empty() {
            parts.push((key.into(), value.clone()));
        }
    }
    if let Some(days) = filter.no_backup_days {
        parts.push(("no_backup_days".into(), days.to_string()));
    }
    parts.push(("page".into(), page.to_string()));
    parts
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a query value (everything but unreserved characters).
fn urlencoding(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn GuestsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || query.with(filter_of);
    let page = Resource::new(filter, list_guests);
    view! {
        <Title text="Virtual machines"/>
        <h1>"Virtual machines"</h1>
        <LiveRegion/>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let page = page.await?;
                    Ok::<_, AppError>(view! {
                        <GuestFilters page=page.clone() filter=filter()/>
                        <div data-live-region=""><GuestTable page filter=filter()/></div>
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn GuestFilters(page: GuestPage, filter: GuestFilter) -> impl IntoView {
    let choice = |name: &'static str,
                  label: &'static str,
                  options: Vec<(String, String)>,
                  current: String| {
        view! {
            <label>{label}" "
                <select name=name>
                    <option value="">"any"</option>
                    {options.into_iter().map(|(value, text)| {
                        let selected = value == current;
                        view! { <option value=value selected=selected>{text}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let same = |values: Vec<String>| {
        values
            .into_iter()
            .map(|v| (v.clone(), v))
            .collect::<Vec<_>>()
    };
    let pairs = |values: &[(&str, &str)]| {
        values
            .iter()
            .map(|(v, t)| (v.to_string(), t.to_string()))
            .collect::<Vec<_>>()
    };
    view! {
        <form method="get" action="/virtual-machines" class="filters" data-testid="guest-filters">
            <label>"Search "<input type="search" name="q" value=filter.search.clone() placeholder="name or vmid"/></label>
            {choice("endpoint", "Endpoint", page.endpoints.iter().map(|(id, name)| (id.to_string(), name.clone())).collect(),
                filter.endpoint.map(|e| e.to_string()).unwrap_or_default())}
            {choice("cluster", "Cluster", same(page.clusters.clone()), filter.cluster.clone())}
            {choice("node", "Node", same(page.nodes.clone()), filter.node.clone())}
            {choice("kind", "Type", pairs(&[("qemu", "QEMU VM"), ("lxc", "LXC container")]), filter.kind.clone())}
            {choice("status", "Status", pairs(&[("running", "running"), ("stopped", "stopped"), ("paused", "paused")]), filter.status.clone())}
            {choice("tag", "Tag", same(page.tags.clone()), filter.tag.clone())}
            {choice("ha", "HA", pairs(&[("managed", "under HA"), ("none", "not under HA"), ("started", "HA started"),
                ("stopped", "HA stopped"), ("disabled", "HA disabled"), ("ignored", "HA ignored")]), filter.ha.clone())}
            <label>"No backup in "
                <input type="number" name="no_backup_days" min="0" class="narrow-number"
                    value=filter.no_backup_days.map(|d| d.to_string()).unwrap_or_default() placeholder="–"/>
                " days"
            </label>
            <button type="submit" class="btn">"Filter"</button>
            <a class="btn" href="/virtual-machines">"Clear"</a>
        </form>
    }
}

#[component]
fn GuestTable(page: GuestPage, filter: GuestFilter) -> impl IntoView {
    if page.total == 0 {
        return view! {
            <p class="muted" data-testid="no-guests">
                "No guests yet: they appear here after the first sync of virtual machines."
            </p>
        }
        .into_any();
    }
    let now = page.now;
    let pager = (page.pages > 1).then(|| {
        let link = |to: u32, text: &'static str| {
            view! { <a class="btn btn-small" href=format!("/virtual-machines?{}", query_of(&filter, to))>{text}</a> }
        };
        view! {
            <nav class="pager" aria-label="Pages" data-testid="guest-pager">
                {(page.page > 1).then(|| link(page.page - 1, "← Previous"))}
                <span class="muted">{format!("Page {} of {}", page.page, page.pages)}</span>
                {(page.page < page.pages).then(|| link(page.page + 1, "Next →"))}
            </nav>
        }
    });
    view! {
        <p class="muted" data-testid="guest-count">{format!("{} of {} guests", page.matching, page.total)}</p>
        <div class="table-wrap">
            <table class="table guests" data-testid="guests-table">
                <thead>
                    <tr><th>"Name"</th><th>"VMID"</th><th>"Status"</th><th>"Node"</th><th>"Cluster"</th><th>"Type"</th><th>"vCPUs"</th><th>"Memory"</th><th>"Newest backup"</th></tr>
                </thead>
                <tbody>
                    {page.rows.into_iter().map(|row| view! { <GuestLine row now/> }).collect_view()}
                </tbody>
            </table>
        </div>
        {pager}
    }
    .into_any()
}

#[component]
fn GuestLine(row: GuestRow, now: i64) -> impl IntoView {
    let g = row.guest;
    view! {
        <tr data-testid="guest-row" data-vmid=g.vmid>
            <td><a href=format!("/virtual-machines/{}", g.netbox_id)>{g.name.clone()}</a>
                {g.template.then(|| view! { " "<span class="badge">"template"</span> })}</td>
            <td class="mono">{g.vmid}</td>
            <td><span class=format!("badge guest-{}", g.status)>{g.status.clone()}</span></td>
            <td>{g.node.clone()}</td>
            <td>{g.cluster.clone()}</td>
            <td>{if g.kind == "lxc" { "LXC" } else { "QEMU" }}</td>
            <td>{g.vcpus.map(|v| v.to_string()).unwrap_or_default()}</td>
            <td>{g.memory.map(format_mb).unwrap_or_default()}</td>
            <td data-testid="newest-backup">{match row.newest_backup {
                Some(at) => format_age(now - at),
                None => "none".to_string(),
            }}</td>
        </tr>
    }
}
