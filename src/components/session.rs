//! The session of the page being rendered: who is logged in, and the CSRF token forms echo.
//!
//! Pages render on the server only (the browser hydrates islands, not pages), so the
//! request's session is read there synchronously. Islands never read it: they run again in
//! the browser, where there is no request, and take the token as a prop instead.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos::server_fn::ServerFn;

use crate::error::AppError;
use crate::models::SessionInfo;
use crate::wire::JsonText;

#[server(endpoint = "session", input = GetUrl, output = JsonText)]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    request_session()
}

/// The session of the request being served.
#[cfg(feature = "ssr")]
pub fn request_session() -> Result<SessionInfo, AppError> {
    let auth = crate::server::web::context::request_auth()?;
    Ok(SessionInfo {
        role: auth.user.as_ref().map(|u| u.role),
        username: auth.user.map(|u| u.username),
        csrf: auth.csrf,
    })
}

/// The session of the page being rendered; `None` outside a request (and so in the
/// browser, where only islands run).
fn page_session() -> Option<SessionInfo> {
    #[cfg(feature = "ssr")]
    return request_session().ok();
    #[cfg(not(feature = "ssr"))]
    None
}

/// Whether the person whose page is being rendered may do what `permission` covers: pages
/// leave out the buttons and links of what they cannot.
pub fn page_allows(permission: crate::models::Permission) -> bool {
    page_session().is_some_and(|s| s.can(permission))
}

/// The CSRF token of the request being rendered, for a form or an island's prop. Empty
/// outside a request (a form without it is refused with a message saying so).
pub fn csrf_token() -> String {
    page_session().map(|s| s.csrf).unwrap_or_default()
}

#[server(endpoint = "logout", output = JsonText)]
pub async fn logout(#[server(default)] csrf: String) -> Result<(), AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let state = crate::server::web::context::app_state()?;
    let auth = crate::server::web::context::request_auth()?;
    if let Some(hash) = auth.session_hash {
        state
            .db
            .delete_session(&hash)
            .await
            .map_err(AppError::internal)?;
    }
    expect_context::<leptos_axum::ResponseOptions>().append_header(
        http::header::SET_COOKIE,
        crate::server::web::auth::session_cookie(None, &state.web),
    );
    leptos_axum::redirect("/login");
    Ok(())
}

/// The hidden `csrf` field every state-changing form carries.
#[component]
pub fn CsrfField(
    /// The token, when the form is in an island (see the module's note).
    #[prop(optional, into)]
    token: Option<String>,
) -> impl IntoView {
    let csrf = token.unwrap_or_else(csrf_token);
    view! { <input type="hidden" name="csrf" value=csrf/> }
}

/// The user's name (a link to change the password), role and a logout button (a plain
/// form), or nothing when logged out.
#[component]
pub fn UserMenu() -> impl IntoView {
    let session = page_session().unwrap_or_default();
    let role = session.role.map(|r| r.as_str()).unwrap_or_default();
    session.username.map(|username| {
        view! {
            <div class="user-menu">
                <a class="user-name" href="/account/password" title="Change your password" data-testid="user-name">{username}</a>
                <span class="badge" data-testid="user-role">{role}</span>
                <form method="post" action=Logout::url()>
                    <CsrfField/>
                    <button type="submit" class="btn btn-link">"Log out"</button>
                </form>
            </div>
        }
    })
}
