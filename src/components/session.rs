//! The browser's view of its session: who is logged in, and the CSRF token forms echo.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::app::AuthActions;
use crate::error::AppError;
use crate::models::SessionInfo;

#[derive(Clone, Copy)]
pub struct SessionResource(pub Resource<Result<SessionInfo, AppError>>);

#[server(endpoint = "session", input = GetUrl)]
pub async fn get_session() -> Result<SessionInfo, AppError> {
    let auth = crate::server::context::request_auth()?;
    Ok(SessionInfo {
        username: auth.user.map(|u| u.username),
        csrf: auth.csrf,
    })
}

#[server(endpoint = "logout")]
pub async fn logout(#[server(default)] csrf: String) -> Result<(), AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let state = crate::server::context::app_state()?;
    let auth = crate::server::context::request_auth()?;
    if let Some(hash) = auth.session_hash {
        state
            .db
            .delete_session(&hash)
            .await
            .map_err(crate::server::auth::internal)?;
    }
    expect_context::<leptos_axum::ResponseOptions>().append_header(
        http::header::SET_COOKIE,
        crate::server::auth::session_cookie(None, &state.web),
    );
    leptos_axum::redirect("/login");
    Ok(())
}

/// The hidden `csrf` field every state-changing form carries.
#[component]
pub fn CsrfField() -> impl IntoView {
    let SessionResource(session) = expect_context();
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                let csrf = session.await.map(|s| s.csrf).unwrap_or_default();
                view! { <input type="hidden" name="csrf" value=csrf/> }
            })}
        </Suspense>
    }
}

/// The user's name and a logout button, or nothing when logged out.
#[component]
pub fn UserMenu() -> impl IntoView {
    let SessionResource(session) = expect_context();
    let AuthActions { logout, .. } = expect_context();
    view! {
        <Suspense>
            {move || Suspend::new(async move {
                session.await.ok().and_then(|s| s.username).map(|username| view! {
                    <div class="user-menu">
                        <span class="user-name" data-testid="user-name">{username}</span>
                        <ActionForm action=logout>
                            <CsrfField/>
                            <button type="submit" class="btn btn-link">"Log out"</button>
                        </ActionForm>
                    </div>
                })
            })}
        </Suspense>
    }
}
