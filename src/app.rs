//! The application shell and its routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode, StaticSegment};

use crate::components::layout::Layout;
use crate::pages::access::{ApiKeysPage, UsersPage};
use crate::pages::account::PasswordPage;
use crate::pages::backups::BackupsPage;
use crate::pages::dashboard::DashboardPage;
use crate::pages::endpoints::changes::WatchHistoryPage;
use crate::pages::endpoints::detail::EndpointDetailPage;
use crate::pages::endpoints::netbox_form::NetboxEndpointPage;
use crate::pages::endpoints::node::NodePage;
use crate::pages::endpoints::permissions::EndpointPermissionsPage;
use crate::pages::endpoints::proxmox_form::ProxmoxEndpointPage;
use crate::pages::endpoints::EndpointsPage;
use crate::pages::jobs::detail::JobPage;
use crate::pages::jobs::JobsPage;
use crate::pages::login::LoginPage;
use crate::pages::logs::LogsPage;
use crate::pages::networks::NetworksPage;
use crate::pages::not_found::NotFound;
use crate::pages::settings::SettingsPage;
use crate::pages::storage::StoragePage;
use crate::pages::streams_check::StreamsCheckPage;
use crate::pages::virtual_machines::panel::GuestPanelPage;
use crate::pages::virtual_machines::GuestsPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    document(options, App)
}

/// The document for a request that matched no route: the not-found view in the page frame
/// and nothing else. It must not be the whole app: the app's router is laxer than the
/// server's (it takes `/users/` for `/users`), and a page it rendered would load its data
/// under the access rule of "no route", not the page's.
pub fn not_found_shell(options: LeptosOptions) -> impl IntoView {
    document(options, NotFoundApp)
}

fn document<V: IntoView + 'static>(options: LeptosOptions, app: fn() -> V) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::web::csp::declare_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>{app()}</body>
        </html>
    }
}

fn page_title(page: String) -> String {
    if page.is_empty() {
        "Proxbox".to_string()
    } else {
        format!("{page} · Proxbox")
    }
}

/// What every document holds around its page: the style sheet, the form of the title, the
/// router and the page frame.
#[component]
fn Frame(children: Children) -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/proxbox.css"/>
        <Title formatter=page_title/>
        <Router>
            <Layout>{children()}</Layout>
        </Router>
    }
}

/// The not-found view in the page frame, with no page routes at all.
#[component]
fn NotFoundApp() -> impl IntoView {
    view! { <Frame><NotFound/></Frame> }
}

/// The pages. They render on the server only; the browser hydrates the islands in them
/// (the live parts: the dashboard, a running job, the login and endpoint forms), so every
/// link is a page load and what the browser downloads is the islands' code, not the whole
/// app's.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Frame>
            // Async: every page is sent complete, so that it works without JavaScript
            // (out-of-order streaming would need a script to slot suspended parts in).
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=DashboardPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/account/password") view=PasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/users") view=UsersPage ssr=SsrMode::Async/>
                <Route path=path!("/api-keys") view=ApiKeysPage ssr=SsrMode::Async/>
                <Route path=path!("/settings") view=SettingsPage ssr=SsrMode::Async/>
                <Route path=path!("/logs") view=LogsPage ssr=SsrMode::Async/>
                <Route path=path!("/streams/check") view=StreamsCheckPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints") view=EndpointsPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/new") view=ProxmoxEndpointPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/:id") view=EndpointDetailPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/:id/edit") view=ProxmoxEndpointPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/:id/permissions") view=EndpointPermissionsPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/:id/changes") view=WatchHistoryPage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/proxmox/:id/nodes/:node") view=NodePage ssr=SsrMode::Async/>
                <Route path=path!("/endpoints/netbox") view=NetboxEndpointPage ssr=SsrMode::Async/>
                <Route path=path!("/jobs") view=JobsPage ssr=SsrMode::Async/>
                <Route path=path!("/jobs/:id") view=JobPage ssr=SsrMode::Async/>
                <Route path=path!("/virtual-machines") view=GuestsPage ssr=SsrMode::Async/>
                <Route path=path!("/virtual-machines/:id") view=GuestPanelPage ssr=SsrMode::Async/>
                <Route path=path!("/storage") view=StoragePage ssr=SsrMode::Async/>
                <Route path=path!("/networks") view=NetworksPage ssr=SsrMode::Async/>
                <Route path=path!("/backups") view=BackupsPage ssr=SsrMode::Async/>
            </Routes>
        </Frame>
    }
}
