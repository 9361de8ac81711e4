//! `/virtual-machines/{id}`: the VM panel of the guest Proxbox wrote to NetBox VM `id` — a
//! Proxmox card and tabs of its backups, snapshots and task history, with counts. The
//! tabs are links (`?tab=`), so the panel works without JavaScript.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, page_allows};
use crate::components::sync_overlay::SyncOneButton;
use crate::components::units::{format_bytes, format_mb};
use crate::error::AppError;
use crate::models::{format_utc, snapshot_chain, GuestPanel, Permission};
use crate::wire::JsonText;

#[server(endpoint = "guest_panel", input = GetUrl, output = JsonText)]
pub async fn read_guest_panel(id: u64) -> Result<GuestPanel, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::inventory::guest_panel(&state.db, id).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Backups,
    Snapshots,
    Tasks,
}

impl Tab {
    const ALL: [Tab; 3] = [Tab::Backups, Tab::Snapshots, Tab::Tasks];

    fn key(self) -> &'static str {
        match self {
            Tab::Backups => "backups",
            Tab::Snapshots => "snapshots",
            Tab::Tasks => "tasks",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Tab::Backups => "Backups",
            Tab::Snapshots => "Snapshots",
            Tab::Tasks => "Task history",
        }
    }

    fn parse(raw: &str) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| t.key() == raw)
            .unwrap_or(Tab::Backups)
    }
}

fn seconds(at: Option<i64>) -> String {
    at.map(|s| format_utc(s * 1000)).unwrap_or_default()
}

#[component]
pub fn GuestPanelPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let tab = move || query.with(|q| Tab::parse(&q.get("tab").unwrap_or_default()));
    let panel = Resource::new(id, |id| async move {
        let id: u64 = id.parse().map_err(|_| {
            AppError::NotFound(format!(
                "{id:?} is not a virtual machine id; open a guest from /virtual-machines"
            ))
        })?;
        read_guest_panel(id).await
    });
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let panel = panel.await?;
                    Ok::<_, AppError>(view! { <Panel panel tab=tab()/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn Panel(panel: GuestPanel, tab: Tab) -> impl IntoView {
    let g = panel.guest.clone();
    let counts = [
        panel.backups.len(),
        panel.snapshots.len(),
        panel.tasks.len(),
    ];
    let base = format!("/virtual-machines/{}", g.netbox_id);
    view! {
        <Title text=g.name.clone()/>
        <div class="page-head">
            <h1>{g.name.clone()}" "<span class=format!("badge guest-{}", g.status)>{g.status.clone()}</span></h1>
            <div class="actions">
                {page_allows(Permission::RunSyncs).then(|| view! {
                    <SyncOneButton action=format!("/virtual-machines/{}/sync", g.netbox_id) label="Sync this guest".to_string()
                        testid="sync-guest".to_string() guest=g.netbox_id
                        back=format!("/virtual-machines/{}", g.netbox_id) csrf=csrf_token()/>
                })}
                {panel.netbox_url.clone().map(|url| view! { <a class="btn" href=url data-testid="netbox-link">"Open in NetBox"</a> })}
                <a class="btn" href=panel.proxmox_url.clone() data-testid="proxmox-link">"Open in Proxmox"</a>
            </div>
        </div>
        <ProxmoxCard panel=panel.clone()/>
        <nav class="tabs" aria-label="Guest history" data-testid="guest-tabs">
            {Tab::ALL.into_iter().zip(counts).map(|(t, count)| view! {
                <a href=format!("{base}?tab={}", t.key()) class=if t == tab { "tab active" } else { "tab" }
                    aria-current=(t == tab).then_some("page") data-testid=format!("tab-{}", t.key())>
                    {t.title()}" "<span class="badge" data-testid="tab-count">{count}</span>
                </a>
            }).collect_view()}
        </nav>
        <section class="card tab-body" data-testid=format!("tab-body-{}", tab.key())>
            {match tab {
                Tab::Backups => view! { <Backups panel/> }.into_any(),
                Tab::Snapshots => view! { <Snapshots panel/> }.into_any(),
                Tab::Tasks => view! { <Tasks panel/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ProxmoxCard(panel: GuestPanel) -> impl IntoView {
    let g = panel.guest;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let disks = g
        .disks
        .iter()
        .map(|(key, mb)| format!("{key} {}", format_mb(*mb)))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <section class="card" data-testid="proxmox-card">
            <h2>"Proxmox"</h2>
            <dl class="facts">
                <dt>"VMID"</dt><dd class="mono" data-testid="card-vmid">{g.vmid}</dd>
                <dt>"Type"</dt><dd>{if g.kind == "lxc" { "LXC container" } else { "QEMU VM" }}{g.template.then_some(" (template)")}</dd>
                <dt>"Node"</dt><dd>{g.node.clone()}</dd>
                <dt>"Cluster"</dt><dd>{g.cluster.clone()}" "<span class="muted">{format!("({})", panel.endpoint)}</span></dd>
                <dt>"Start on boot"</dt><dd>{yes_no(g.onboot)}</dd>
                {(g.kind == "qemu").then(|| view! { <dt>"Guest agent"</dt><dd>{yes_no(g.agent)}</dd> })}
                <dt>"HA"</dt><dd data-testid="card-ha">{g.ha.as_ref().map_or_else(|| "not under HA".to_string(), |ha| ha.text())}</dd>
                <dt>"Pool"</dt><dd>{g.pool.clone().unwrap_or_else(|| "–".into())}</dd>
                <dt>"Tags"</dt><dd>{if g.tags.is_empty() { "–".to_string() } else { g.tags.join(", ") }}</dd>
                <dt>"vCPUs"</dt><dd>{g.vcpus.map(|v| v.to_string()).unwrap_or_else(|| "–".into())}</dd>
                <dt>"Memory"</dt><dd>{g.memory.map(format_mb).unwrap_or_else(|| "–".into())}</dd>
                <dt>"Disks"</dt><dd>{if disks.is_empty() { "–".to_string() } else { disks }}</dd>
                <dt>"Last synced"</dt><dd>{panel.synced_at.map(format_utc).unwrap_or_else(|| "never".into())}</dd>
            </dl>
            {(!g.nics.is_empty()).then(|| view! {
                <div class="table-wrap">
                    <table class="table" data-testid="guest-nics">
                        <thead><tr><th>"NIC"</th><th>"MAC"</th><th>"Bridge"</th><th>"VLAN"</th><th>"Addresses"</th></tr></thead>
                        <tbody>
                            {g.nics.iter().map(|n| view! {
                                <tr>
                                    <td class="mono">{n.key.clone()}{n.model.clone().map(|m| format!(" ({m})"))}</td>
                                    <td class="mono">{n.mac.clone().unwrap_or_default()}</td>
                                    <td>{n.bridge.clone().unwrap_or_default()}</td>
                                    <td>{n.vlan.map(|v| v.to_string()).unwrap_or_default()}</td>
                                    <td class="mono" data-testid="nic-addresses">{n.addresses.iter().chain(&n.agent_addresses).cloned().collect::<Vec<_>>().join(", ")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
        </section>
    }
}

#[component]
fn Backups(panel: GuestPanel) -> impl IntoView {
    if panel.backups.is_empty() {
        return view! { <p class="muted" data-testid="no-backups">"No backup of this guest on any storage."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="backups-table">
                <thead><tr><th>"Created"</th><th>"Storage"</th><th>"Size"</th><th>"Format"</th><th>"Notes"</th><th>"State"</th></tr></thead>
                <tbody>
                    {panel.backups.into_iter().map(|b| view! {
                        <tr data-testid="backup-row">
                            <td>{seconds(b.created)}<div class="mono muted small">{b.volid.clone()}</div></td>
                            <td>{b.storage.clone()}</td>
                            <td>{b.size.map(format_bytes).unwrap_or_default()}</td>
                            <td>{b.format.clone().unwrap_or_default()}</td>
                            <td>{b.notes.clone().unwrap_or_default()}</td>
                            <td>
                                {b.protected.then(|| view! { <span class="badge badge-ok">"protected"</span>" " })}
                                {b.encrypted.then(|| view! { <span class="badge">"encrypted"</span>" " })}
                                {b.verification.clone().map(|v| {
                                    let class = if v == "ok" { "badge badge-ok" } else { "badge badge-error" };
                                    view! { <span class=class>{format!("verify {v}")}</span> }
                                })}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Snapshots(panel: GuestPanel) -> impl IntoView {
    if panel.snapshots.is_empty() {
        return view! { <p class="muted" data-testid="no-snapshots">"This guest has no snapshots."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="snapshots-table">
                <thead><tr><th>"Name"</th><th>"Taken"</th><th>"RAM"</th><th>"Description"</th></tr></thead>
                <tbody>
                    {snapshot_chain(panel.snapshots).into_iter().map(|(depth, s)| view! {
                        <tr data-testid="snapshot-row">
                            <td style=format!("padding-left: {}rem", 0.6 + depth as f64 * 1.2)>
                                {(depth > 0).then_some("└ ")}<span class="mono">{s.name.clone()}</span>
                            </td>
                            <td>{seconds(s.taken)}</td>
                            <td>{if s.vmstate { "with RAM" } else { "" }}</td>
                            <td>{s.description.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Tasks(panel: GuestPanel) -> impl IntoView {
    if panel.tasks.is_empty() {
        return view! { <p class="muted" data-testid="no-tasks">"No task ran on this guest inside the task retention."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="tasks-table">
                <thead><tr><th>"Started"</th><th>"Task"</th><th>"Node"</th><th>"User"</th><th>"Ended"</th><th>"Status"</th></tr></thead>
                <tbody>
                    {panel.tasks.into_iter().map(|t| {
                        let ok = t.status.as_deref().is_some_and(|s| s == "OK");
                        let class = match t.status.as_deref() {
                            None => "badge job-running",
                            Some(_) if ok => "badge badge-ok",
                            Some(s) if s.starts_with("WARNINGS") => "badge badge-warn",
                            Some(_) => "badge badge-error",
                        };
                        view! {
                            <tr data-testid="task-row">
                                <td>{seconds(Some(t.started))}</td>
                                <td class="mono">{t.kind.clone()}</td>
                                <td>{t.node.clone()}</td>
                                <td>{t.user.clone()}</td>
                                <td>{seconds(t.ended)}</td>
                                <td><span class=class>{t.status.clone().unwrap_or_else(|| "running".into())}</span></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
