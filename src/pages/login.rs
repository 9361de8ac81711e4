use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::form::{posted_error, save_then_go, submit_to, ActionError, Fields};
use crate::components::session::{csrf_token, CsrfField};
use crate::error::AppError;
use crate::wire::JsonText;

#[server(endpoint = "login", output = JsonText)]
pub async fn login(
    #[server(default)] csrf: String,
    username: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::server::web::auth;
    let _ = csrf; // checked by the middleware before any server function runs
    let state = crate::server::web::context::app_state()?;
    let request = crate::server::web::context::request_auth()?;
    let token = auth::login(&state, &username, &password, request.client_ip.as_deref()).await?;
    if let Some(old) = request.session_hash {
        let _ = state.db.delete_session(&old).await;
    }
    let cookie = auth::session_cookie(Some(&token), &state.web);
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(http::header::SET_COOKIE, cookie);
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// Where to go after login: only paths of this site, never another origin.
pub fn safe_next(next: Option<&str>) -> String {
    // Browsers drop tabs and newlines and read `\` as `/` in URLs: `/\t/evil` is `//evil`.
    let local = |path: &str| {
        path.starts_with('/')
            && !path
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
            && !path.starts_with("//")
            && path != "/login"
    };
    match next {
        Some(path) if local(path) => path.to_string(),
        _ => "/".to_string(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = query.with_untracked(|q| q.get("next").unwrap_or_default());
    view! {
        <Title text="Log in"/>
        <section class="card narrow login">
            <h1>"Log in to Proxbox"</h1>
            <LoginForm csrf=csrf_token() next posted={posted_error::<Login>()}/>
            <p class="help">
                "Lost the password? Run " <code>"proxbox reset-password admin"</code> " on the server."
            </p>
        </section>
    }
}

/// An island, so that a refused login keeps the user name typed. Without JavaScript the
/// form posts, and a refusal comes back as `posted`.
#[island]
fn LoginForm(csrf: String, next: String, posted: Option<AppError>) -> impl IntoView {
    let (csrf_field, next_field) = (csrf.clone(), next.clone());
    let attempt = save_then_go(
        safe_next(Some(&next)),
        posted,
        move |(username, password): (String, String)| {
            login(csrf.clone(), username, password, Some(next.clone()))
        },
    );
    let read = |field: Fields| {
        (
            field("username").unwrap_or_default(),
            field("password").unwrap_or_default(),
        )
    };
    view! {
        <ActionError value=attempt.value()/>
        <form method="post" action=Login::url() on:submit=submit_to(attempt, read)>
            <CsrfField token=csrf_field/>
            <input type="hidden" name="next" value=next_field/>
            <div class="field">
                <label for="username">"User name"</label>
                <input id="username" name="username" autocomplete="username" required/>
            </div>
            <div class="field">
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
            </div>
            <button type="submit" class="btn btn-primary" disabled=move || attempt.pending().get()>"Log in"</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/endpoints")), "/endpoints");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/endpoints\nSet-Cookie: x")), "/");
        assert_eq!(
            safe_next(Some("/jobs?status=failed")),
            "/jobs?status=failed"
        );
        assert_eq!(safe_next(None), "/");
    }
}
