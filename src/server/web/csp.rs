//! The content security policy: the part every answer carries, and a page's own. A leaf:
//! the app's shell declares a page's policy while it renders, and the router adds the base
//! one to every answer, without either importing the other.

use axum::http::header;

/// The part of the content security policy every answer carries: no framing by other
/// sites, forms and `<base>` kept to this origin, no plugins.
pub const BASE_POLICY: &str =
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/// A page's policy: scripts only from this origin or inline with this response's nonce
/// (the hydration script and the resources streamed with the page carry it), so a script
/// injected into a page does not run; WebAssembly may compile; connections (event
/// streams, the socket) only to this origin. Inline style attributes stay allowed: the
/// pages size bars and indent trees with them. Called while a page renders.
pub fn declare_page_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; {BASE_POLICY}"
    );
    if let Ok(value) = header::HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}
