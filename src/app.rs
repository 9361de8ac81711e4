//! The application shell and its routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode, StaticSegment};

use crate::components::layout::Layout;
use crate::components::session::{get_session, Logout, SessionResource};
use crate::pages::dashboard::DashboardPage;
use crate::pages::endpoints::netbox_form::NetboxEndpointPage;
use crate::pages::endpoints::proxmox_form::ProxmoxEndpointPage;
use crate::pages::endpoints::EndpointsPage;
use crate::pages::jobs::detail::JobPage;
use crate::pages::jobs::JobsPage;
use crate::pages::login::{Login, LoginPage};
use crate::pages::not_found::NotFound;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Login and logout, created once so that the session refreshes after either.
#[derive(Clone, Copy)]
pub struct AuthActions {
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let actions = AuthActions {
        login: ServerAction::new(),
        logout: ServerAction::new(),
    };
    let session = Resource::new_blocking(
        move || {
            (
                actions.login.version().get(),
                actions.logout.version().get(),
            )
        },
        |_| get_session(),
    );
    provide_context(actions);
    provide_context(SessionResource(session));
    mark_hydrated();

    view! {
        <Stylesheet id="leptos" href="/pkg/proxbox.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Proxbox".to_string() } else { format!("{page} · Proxbox") }/>
        <Router>
            <Layout>
                // Async: every page is sent complete, so that it works without JavaScript
                // (out-of-order streaming would need a script to slot suspended parts in).
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=DashboardPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/endpoints") view=EndpointsPage ssr=SsrMode::Async/>
                    <Route path=path!("/endpoints/proxmox/new") view=ProxmoxEndpointPage ssr=SsrMode::Async/>
                    <Route path=path!("/endpoints/proxmox/:id") view=ProxmoxEndpointPage ssr=SsrMode::Async/>
                    <Route path=path!("/endpoints/netbox") view=NetboxEndpointPage ssr=SsrMode::Async/>
                    <Route path=path!("/jobs") view=JobsPage ssr=SsrMode::Async/>
                    <Route path=path!("/jobs/:id") view=JobPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}

/// Marks `<body data-hydrated="true">` once the WASM bundle has taken over the page, so
/// that end-to-end tests (and curious operators) can tell a live page from plain HTML.
fn mark_hydrated() {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
