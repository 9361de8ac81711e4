//! Keeps a server-rendered part of a page current without a click: when the news socket
//! says a sync started or ended or the watcher saw a change, the island fetches the page
//! again and swaps in the fresh server rendering of its region (the page's one element
//! marked `data-live-region`). The region itself stays plain server HTML (no island), so
//! the bundle carries none of its rendering; filters and forms outside the region keep
//! what the operator typed.

use leptos::prelude::*;

use crate::components::sync_news::{open_sync_news, NewsIndicator};

/// Place beside (not inside) the page's element marked `data-live-region`.
#[island]
pub fn LiveRegion() -> impl IntoView {
    let news = open_sync_news();
    Effect::new(move |seen: Option<u64>| {
        let revision = news.revision();
        if seen.is_some_and(|seen| seen != revision) {
            #[cfg(feature = "hydrate")]
            leptos::task::spawn_local(async move {
                refresh(|| news.is_latest(revision)).await;
            });
        }
        revision
    });
    view! { <NewsIndicator news/> }
}

#[cfg(feature = "hydrate")]
pub use browser::refresh;

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    /// Fetches the page again and swaps in its live region, unless newer news came
    /// meanwhile (its own refresh then follows). A failed fetch leaves the region as it
    /// was: the next news tries again.
    pub async fn refresh(still_latest: impl Fn() -> bool) {
        let Some(html) = fetch_page().await else {
            return;
        };
        if !still_latest() {
            return;
        }
        let selector = "[data-live-region]";
        let document = leptos::prelude::document();
        let Ok(holder) = document.create_element("div") else {
            return;
        };
        holder.set_inner_html(&html);
        if let (Ok(Some(fresh)), Ok(Some(current))) = (
            holder.query_selector(selector),
            document.query_selector(selector),
        ) {
            current.set_inner_html(&fresh.inner_html());
        }
    }

    async fn fetch_page() -> Option<String> {
        let window = leptos::prelude::window();
        let href = window.location().href().ok()?;
        let answer = JsFuture::from(window.fetch_with_str(&href)).await.ok()?;
        let answer: web_sys::Response = answer.dyn_into().ok()?;
        if !answer.ok() {
            return None;
        }
        JsFuture::from(answer.text().ok()?).await.ok()?.as_string()
    }
}
