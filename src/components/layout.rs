use leptos::prelude::*;
use leptos_router::components::A;

use super::session::{page_allows, UserMenu};
use crate::models::Permission;

/// Page frame: top bar with navigation and the user menu, then the page.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Proxbox"</a>
            <nav class="nav">
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/virtual-machines">"Virtual machines"</A>
                <A href="/backups">"Backups"</A>
                <A href="/storage">"Storage"</A>
                <A href="/networks">"Networks"</A>
                <A href="/jobs">"Jobs"</A>
                <A href="/endpoints">"Endpoints"</A>
                {page_allows(Permission::Administer).then(|| view! {
                    <A href="/users">"Users"</A>
                    <A href="/api-keys">"API keys"</A>
                    <A href="/settings">"Settings"</A>
                    <A href="/logs">"Logs"</A>
                    <A href="/streams/check">"Streams check"</A>
                })}
            </nav>
            <UserMenu/>
        </header>
        <main class="page">{children()}</main>
    }
}

/// A readable message in place of a blank page when a part of a page fails.
#[component]
pub fn PageErrors(children: Children) -> impl IntoView {
    view! {
        <ErrorBoundary fallback=|errors| view! {
            <div class="alert alert-error" role="alert">
                <strong>"This part of the page could not be shown."</strong>
                <ul>
                    {move || errors.get().into_iter().map(|(_, e)| view! { <li>{e.to_string()}</li> }).collect_view()}
                </ul>
                <p>"Reload the page; if it keeps failing, the server log has the details."</p>
            </div>
        }>
            {children()}
        </ErrorBoundary>
    }
}
