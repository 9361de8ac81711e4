//! Changing one's own password: required after a one-time password (a new user's, or a
//! reset's) before anything else; open to everyone logged in at any time. A plain form:
//! it needs no JavaScript and adds nothing to the browser bundle.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use crate::components::form::{posted_error, ActionError, TextField};
use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::validation::FieldErrors;
use crate::wire::JsonText;

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// The checks of a new password, before anything is saved.
pub fn check_new_password(current: &str, new: &str, confirm: &str) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    if new.chars().count() < MIN_PASSWORD_LEN {
        errors.add(
            "new_password",
            format!("Use at least {MIN_PASSWORD_LEN} characters."),
        );
    } else if new == current {
        errors.add(
            "new_password",
            "Choose a password other than the current one.",
        );
    }
    if confirm != new {
        errors.add(
            "confirm",
            "The two new passwords differ; type the same one twice.",
        );
    }
    errors.into_result(|| ())
}

#[server(endpoint = "change_password", output = JsonText)]
pub async fn change_password(
    #[server(default)] csrf: String,
    current: String,
    new_password: String,
    confirm: String,
) -> Result<(), AppError> {
    use crate::server::services::credentials::{checked_password, hash_password};
    let _ = csrf; // checked by the middleware before any server function runs
    let state = crate::server::web::context::app_state()?;
    let auth = crate::server::web::context::request_auth()?;
    let (Some(user), Some(session)) = (auth.user, auth.session_hash) else {
        return Err(AppError::Unauthorized);
    };
    // Throttled as a login is: a stolen session cookie guesses the password no faster.
    let client_ip = auth.client_ip.as_deref();
    match checked_password(
        &state.db,
        &user.username,
        &current,
        client_ip,
        "password change",
    )
    .await
    {
        Ok(_) => {}
        Err(AppError::BadCredentials) => {
            return Err(FieldErrors::one("current", "This is not your current password.").into())
        }
        Err(other) => return Err(other),
    }
    check_new_password(&current, &new_password, &confirm)?;
    let hash = hash_password(new_password).await?;
    state
        .db
        .change_own_password(user.user_id, &hash, &session)
        .await?;
    tracing::info!(user = %user.username, "password changed");
    leptos_axum::redirect("/");
    Ok(())
}

#[component]
pub fn PasswordPage() -> impl IntoView {
    let posted = posted_error::<ChangePassword>();
    let errors = Signal::stored(
        posted
            .as_ref()
            .and_then(|e| e.field_errors().cloned())
            .unwrap_or_default(),
    );
    let must_change = must_change_now();
    view! {
        <Title text="Change your password"/>
        <section class="card narrow">
            <h1>"Change your password"</h1>
            {must_change.then(|| view! {
                <div class="alert alert-warning" role="status" data-testid="one-time-password">
                    "You logged in with a one-time password. Choose your own before you go on."
                </div>
            })}
            <ActionError value=Signal::stored(posted.map(Err::<(), _>))/>
            <form method="post" action=ChangePassword::url() data-testid="password-form">
                <CsrfField/>
                <TextField label="Current password" name="current" field="current" value=""
                    errors input_type="password" autocomplete="current-password"/>
                <TextField label="New password" name="new_password" field="new_password" value=""
                    errors input_type="password" autocomplete="new-password"
                    help="At least 12 characters."/>
                <TextField label="New password, again" name="confirm" field="confirm" value=""
                    errors input_type="password" autocomplete="new-password"/>
                <button type="submit" class="btn btn-primary" data-testid="change-password">"Change password"</button>
            </form>
        </section>
    }
}

/// Whether the person on this page still has a one-time password.
fn must_change_now() -> bool {
    #[cfg(feature = "ssr")]
    return crate::server::web::context::request_auth()
        .ok()
        .and_then(|auth| auth.user)
        .is_some_and(|user| user.must_change_password);
    #[cfg(not(feature = "ssr"))]
    false
}

#[cfg(test)]
mod tests {
    use super::check_new_password;

    #[test]
    fn a_new_password_is_long_new_and_typed_twice() {
        assert!(check_new_password("old password", "a longer secret", "a longer secret").is_ok());
        let short = check_new_password("old", "short", "short").unwrap_err();
        assert!(short.get("new_password").unwrap().contains("12"));
        let same = check_new_password("same password", "same password", "same password");
        assert!(same.unwrap_err().get("new_password").is_some());
        let differ = check_new_password("old", "a longer secret", "a longer secreT");
        assert!(differ.unwrap_err().get("confirm").is_some());
    }
}
