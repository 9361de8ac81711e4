//! The Proxmox endpoint form posts to its own page: saved, it goes on to `/endpoints`
//! (303); refused, the same page is rendered again with what was typed (never a secret)
//! and a message beside each field, as the status of the refusal. A JSON client gets the
//! error as JSON instead.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::provide_context;

use crate::app::shell;
use crate::error::AppError;
use crate::models::ProxmoxDraft;
use crate::models::ProxmoxEndpointForm;
use crate::server::services::endpoints::save_proxmox;
use crate::server::web::auth::Requester;
use crate::server::web::forms::FormFields;
use crate::server::web::respond::Wants;
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;

/// The largest form body read (a CA certificate in PEM is a few KB).
const MAX_FORM_BYTES: usize = 256 * 1024;

pub fn routes() -> RouteBook {
    RouteBook::default()
        .post("/endpoints/proxmox/new", add)
        .post("/endpoints/proxmox/{id}/edit", edit)
}

async fn add(state: State<AppState>, wants: Wants, by: Requester, request: Request) -> Response {
    save(state, wants, by, None, request).await
}

async fn edit(
    state: State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    by: Requester,
    request: Request,
) -> Response {
    save(state, wants, by, Some(id), request).await
}

async fn save(
    State(state): State<AppState>,
    wants: Wants,
    Requester(by): Requester,
    id: Option<i64>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let form = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => read_form(&bytes),
        Err(_) => {
            return AppError::BadRequest("the form is larger than 256 KB".into()).render(wants)
        }
    };
    match save_proxmox(&state.db, &state.secrets, &by, id, form.clone()).await {
        Ok(_) => Redirect::to("/endpoints").into_response(),
        Err(error) if wants != Wants::Page => error.render(wants),
        Err(error) => {
            let status = error.http_status();
            let draft = ProxmoxDraft {
                form: ProxmoxEndpointForm {
                    token_secret: String::new(),
                    password: String::new(),
                    ..form
                },
                error,
            };
            let context = {
                let state = state.clone();
                move || {
                    provide_context(state.clone());
                    provide_context(draft.clone());
                }
            };
            let options = state.leptos_options.clone();
            let render =
                leptos_axum::render_app_async_with_context(context, move || shell(options.clone()));
            // The page as its GET renders it (the request keeps its login and cookies).
            let mut page = render(Request::from_parts(parts, Body::empty())).await;
            *page.status_mut() = status;
            page
        }
    }
}

fn read_form(bytes: &[u8]) -> ProxmoxEndpointForm {
    let fields = FormFields::parse(bytes);
    ProxmoxEndpointForm::from_fields(|name| {
        fields.first(&format!("form[{name}]")).map(str::to_string)
    })
}
