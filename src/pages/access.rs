//! `/users` and `/api-keys` (admins): who may log in with which role, and which machine
//! keys exist with which scopes. Plain forms (no island): each posts to a route of
//! `server::access_forms`, which answers a new password or key on a page of its own, once.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::models::{format_utc, ApiKeyView, Role, Scope, UserView};
use crate::wire::JsonText;

#[server(endpoint = "users_overview", input = GetUrl, output = JsonText)]
pub async fn users_overview() -> Result<Vec<UserView>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    let users = crate::server::services::accounts::users(&state.db).await?;
    Ok(users
        .into_iter()
        .map(|u| UserView {
            role: u.role(),
            one_time: u.must_change_password != 0,
            username: u.username,
            created_at: u.created_at,
        })
        .collect())
}

#[server(endpoint = "api_keys_overview", input = GetUrl, output = JsonText)]
pub async fn api_keys_overview() -> Result<Vec<ApiKeyView>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    let keys = state.db.api_keys().await?;
    Ok(keys
        .into_iter()
        .map(|k| ApiKeyView {
            name: k.info.name,
            prefix: k.info.prefix,
            scopes: k.info.scopes,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        })
        .collect())
}

/// A `<select>` of the roles with `current` chosen.
#[component]
fn RoleSelect(current: Role, #[prop(optional)] label: &'static str) -> impl IntoView {
    view! {
        <select name="role" aria-label=if label.is_empty() { "Role" } else { label }>
            {Role::ALL.into_iter().map(|role| view! {
                <option value=role.as_str() selected=role == current>{format!("{} — {}", role.as_str(), role.describe())}</option>
            }).collect_view()}
        </select>
    }
}

/// A user or key name in a path. Names are letters, digits and `.`, `_`, `-`, `@` (see
/// `server::accounts`); `@` is the one to escape.
fn path_segment(name: &str) -> String {
    name.replace('@', "%40")
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let users = Resource::new(|| (), |_| users_overview());
    view! {
        <Title text="Users"/>
        <h1>"Users"</h1>
        <section class="card" data-testid="add-user">
            <h2>"Add a user"</h2>
            <form method="post" action="/users" class="inline-form">
                <CsrfField/>
                <div class="field">
                    <label for="new-username">"User name"</label>
                    <input id="new-username" name="username" required maxlength="64" autocomplete="off"/>
                </div>
                <div class="field">
                    <label for="new-role">"Role"</label>
                    <RoleSelect current=Role::Viewer/>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="add-user-submit">"Add"</button>
            </form>
            <p class="help">"The next page shows the user's one-time password, once; they choose their own at the first login."</p>
        </section>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let users = users.await?;
                    Ok::<_, AppError>(view! { <UserTable users/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn UserTable(users: Vec<UserView>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="users">
                <thead><tr><th>"User"</th><th>"Role"</th><th>"Added"</th><th></th></tr></thead>
                <tbody>
                    {users.into_iter().map(|u| {
                        let base = format!("/users/{}", path_segment(&u.username));
                        view! {
                            <tr data-user=u.username.clone()>
                                <td>{u.username.clone()}{u.one_time.then(|| view! { " "<span class="badge badge-warn">"one-time password"</span> })}</td>
                                <td>
                                    <form method="post" action=format!("{base}/role") class="inline-form">
                                        <CsrfField/>
                                        <RoleSelect current=u.role label="Role of this user"/>
                                        <button type="submit" class="btn btn-small">"Change role"</button>
                                    </form>
                                </td>
                                <td>{format_utc(u.created_at)}</td>
                                <td class="actions">
                                    <form method="post" action=format!("{base}/reset-password")>
                                        <CsrfField/>
                                        <button type="submit" class="btn btn-small">"Reset password"</button>
                                    </form>
                                    <form method="post" action=format!("{base}/remove")>
                                        <CsrfField/>
                                        <button type="submit" class="btn btn-small btn-danger" aria-label=format!("Remove {}", u.username)>"Remove"</button>
                                    </form>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let keys = Resource::new(|| (), |_| api_keys_overview());
    view! {
        <Title text="API keys"/>
        <h1>"API keys"</h1>
        <section class="card" data-testid="create-key">
            <h2>"Create a key"</h2>
            <form method="post" action="/api-keys">
                <CsrfField/>
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" name="name" required maxlength="64" autocomplete="off" placeholder="netbox-plugin"/>
                </div>
                <fieldset class="field">
                    <legend>"Scopes"</legend>
                    {Scope::ALL.into_iter().map(|scope| view! {
                        <label class="field-check">
                            <input type="checkbox" name=format!("scope_{}", scope.as_str()) checked=scope == Scope::Sync/>
                            " "<strong>{scope.as_str()}</strong>" — "{scope.describe()}
                        </label>
                    }).collect_view()}
                </fieldset>
                <button type="submit" class="btn btn-primary" data-testid="create-key-submit">"Create"</button>
            </form>
            <p class="help">"The next page shows the key, once. The NetBox plugin needs the sync scope only."</p>
        </section>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let keys = keys.await?;
                    Ok::<_, AppError>(view! { <KeyTable keys/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKeyView>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="muted" data-testid="no-keys">"No API key yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table" data-testid="api-keys">
                <thead><tr><th>"Name"</th><th>"Starts with"</th><th>"Scopes"</th><th>"Created"</th><th>"Last used"</th><th></th></tr></thead>
                <tbody>
                    {keys.into_iter().map(|k| view! {
                        <tr data-key=k.name.clone()>
                            <td>{k.name.clone()}</td>
                            <td class="mono">{format!("{}…", k.prefix)}</td>
                            <td>{Scope::join(&k.scopes)}</td>
                            <td>{format_utc(k.created_at)}</td>
                            <td>{k.last_used_at.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                            <td class="actions">
                                <form method="post" action=format!("/api-keys/{}/revoke", path_segment(&k.name))>
                                    <CsrfField/>
                                    <button type="submit" class="btn btn-small btn-danger" aria-label=format!("Revoke {}", k.name)>"Revoke"</button>
                                </form>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
