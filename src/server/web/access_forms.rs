//! The users and API keys pages' forms: plain posts, so that a new password or key is
//! shown once, in the answer to the post that made it (never in an address, a log or a
//! page that can be loaded again).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::error::AppError;
use crate::models::{Role, Scope};
use crate::server::services::accounts;
use crate::server::web::forms::answer;
use crate::server::web::respond::{escape, html_page, Wants};
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;
use crate::validation::FieldErrors;

pub fn routes() -> RouteBook {
    RouteBook::default()
        .post("/users", add_user)
        .post("/users/{name}/role", set_role)
        .post("/users/{name}/reset-password", reset_password)
        .post("/users/{name}/remove", remove_user)
        .post("/api-keys", create_key)
        .post("/api-keys/{name}/revoke", revoke_key)
}

/// A page that shows a secret once and is never stored by the browser.
fn secret_page(title: &str, explanation: &str, secret: &str, back: &str) -> Response {
    let main = format!(
        "<h1>{title}</h1><p>{explanation}</p>\
         <p><code class=\"secret\" data-testid=\"shown-once\">{secret}</code></p>\
         <p class=\"muted\">Proxbox keeps only a hash of it: copy it now, it is not shown again.</p>\
         <p><a class=\"btn\" href=\"{back}\" data-testid=\"secret-back\">Done</a></p>",
        title = escape(title),
        explanation = escape(explanation),
        secret = escape(secret),
        back = escape(back),
    );
    let body = html_page(title, &main);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn role_field(text: &str) -> Result<Role, AppError> {
    Role::parse(text)
        .ok_or_else(|| FieldErrors::one("role", "Choose a role: admin, operator or viewer.").into())
}

#[derive(Deserialize)]
struct NewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

async fn add_user(State(state): State<AppState>, Form(form): Form<NewUser>) -> Response {
    answer(Wants::Page, async {
        let role = role_field(&form.role)?;
        let password = accounts::add_user(&state.db, &form.username, role).await?;
        Ok(secret_page(
            "User added",
            &format!(
                "{} is a{} {}. Hand over this one-time password; it must be changed at the first login:",
                form.username.trim(),
                if role == Role::Admin || role == Role::Operator { "n" } else { "" },
                role.as_str()
            ),
            &password,
            "/users",
        ))
    }.await)
}

#[derive(Deserialize)]
struct RoleChange {
    #[serde(default)]
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Form(form): Form<RoleChange>,
) -> Response {
    answer(
        Wants::Page,
        async {
            accounts::set_role(&state.db, &name, role_field(&form.role)?).await?;
            Ok(Redirect::to("/users").into_response())
        }
        .await,
    )
}

async fn reset_password(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    answer(Wants::Page, async {
        let password = accounts::reset_password(&state.db, &name).await?;
        Ok(secret_page(
            "Password reset",
            &format!("{name}'s sessions ended. Their new one-time password, to be changed at the next login:"),
            &password,
            "/users",
        ))
    }.await)
}

async fn remove_user(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    answer(
        Wants::Page,
        async {
            accounts::remove_user(&state.db, &name).await?;
            Ok(Redirect::to("/users").into_response())
        }
        .await,
    )
}

#[derive(Deserialize)]
struct NewKey {
    #[serde(default)]
    name: String,
    scope_read: Option<String>,
    scope_sync: Option<String>,
    scope_admin: Option<String>,
}

async fn create_key(State(state): State<AppState>, Form(form): Form<NewKey>) -> Response {
    answer(
        Wants::Page,
        async {
            let scopes: Vec<Scope> = [
                (Scope::Read, &form.scope_read),
                (Scope::Sync, &form.scope_sync),
                (Scope::Admin, &form.scope_admin),
            ]
            .into_iter()
            .filter(|(_, checked)| checked.is_some())
            .map(|(scope, _)| scope)
            .collect();
            let key = accounts::create_api_key(&state.db, &form.name, &scopes).await?;
            Ok(secret_page(
                "API key created",
                &format!(
                    "The key {:?} with scopes {}. Send it as the X-Proxbox-API-Key header:",
                    form.name.trim(),
                    Scope::join(&scopes)
                ),
                &key,
                "/api-keys",
            ))
        }
        .await,
    )
}

async fn revoke_key(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    answer(
        Wants::Page,
        async {
            if !state.db.delete_api_key(&name).await? {
                return Err(AppError::NotFound(format!("The API key {name:?}")));
            }
            tracing::info!(key = %name, "API key revoked");
            Ok(Redirect::to("/api-keys").into_response())
        }
        .await,
    )
}
