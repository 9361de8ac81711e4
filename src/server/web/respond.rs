//! The one place an [`AppError`] becomes a response: its HTTP status, and its body in the
//! form the client asked for — JSON for server functions and API clients, an HTML page for
//! a browser, `error_detail`, `error`, `complete` frames for an event stream (never a page
//! inside a stream). Handlers take the form as the [`Wants`] extractor.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::events::ErrorCategory;
use crate::server::sync::failure::StageError;
use crate::server::web::sse_wire::{event_stream, failure_frames, is_stream_path};

/// The form a client wants its answer (and so its errors) in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    Json,
    Page,
    Events,
}

/// Routes for machines that answer JSON to clients that may not say so (those of the system
/// Proxbox replaces, and the metrics).
const JSON_ROUTES: &[&str] = &[
    "/version",
    "/full-update",
    "/dcim/devices/create",
    "/virtualization/virtual-machines/create",
    "/ws",
    "/metrics",
];

impl Wants {
    pub fn of(path: &str, headers: &HeaderMap) -> Wants {
        let says = |name, what: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains(what))
        };
        if is_stream_path(path) || says(header::ACCEPT, "text/event-stream") {
            Wants::Events
        } else if path.starts_with("/api/")
            || JSON_ROUTES.contains(&path)
            || says(header::ACCEPT, "application/json")
            || says(header::CONTENT_TYPE, "application/json")
        {
            Wants::Json
        } else {
            Wants::Page
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Wants {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Wants, Infallible> {
        Ok(Wants::of(parts.uri.path(), &parts.headers))
    }
}

impl AppError {
    pub fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// This error as the client asked for it, with its own status.
    pub fn render(&self, wants: Wants) -> Response {
        let status = self.http_status();
        match wants {
            Wants::Json => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(self).unwrap_or_default(),
            )
                .into_response(),
            Wants::Page => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                error_page(status, &self.with_field_messages()),
            )
                .into_response(),
            // A stream client reading the body still gets the frames it understands.
            Wants::Events => event_stream(
                status,
                Body::from(failure_frames("stream", &self.as_stage_error())),
            ),
        }
    }

    /// This error in the words of a stream's failure.
    pub fn as_stage_error(&self) -> StageError {
        let (category, suggestion) = match self {
            AppError::Unauthorized | AppError::BadCredentials => (
                ErrorCategory::Authentication,
                "Log in again, or send a valid API key in the X-Proxbox-API-Key header.",
            ),
            AppError::Csrf => (
                ErrorCategory::Permission,
                "Start the sync from the Proxbox page itself, or call it with an API key.",
            ),
            AppError::Forbidden(_) => (
                ErrorCategory::Permission,
                "Ask an administrator for a role or API key scope that allows it.",
            ),
            AppError::NotFound(_) => (
                ErrorCategory::NotFound,
                "Check the id in the address; the jobs page lists the existing jobs.",
            ),
            AppError::Throttled(_) | AppError::Busy(_) => {
                (ErrorCategory::RateLimit, "Wait, then try again.")
            }
            AppError::Validation(_) | AppError::BadRequest(_) | AppError::Precondition(_) => (
                ErrorCategory::Validation,
                "Fix what the message names, then start the sync again.",
            ),
            AppError::Internal(_) | AppError::Transport(_) => (
                ErrorCategory::Internal,
                "Look at the Proxbox server log for the cause, then try again.",
            ),
        };
        StageError {
            category,
            message: self.to_string(),
            detail: "The stream could not be served.".into(),
            suggestion: suggestion.into(),
        }
    }
}

impl AppError {
    /// The message, followed by each field's for a validation failure (a page has no form
    /// beside it to show them in).
    fn with_field_messages(&self) -> String {
        match self.field_errors() {
            Some(fields) => std::iter::once(self.to_string())
                .chain(fields.0.values().cloned())
                .collect::<Vec<_>>()
                .join(" "),
            None => self.to_string(),
        }
    }
}

/// A failed handler's answer: the error in the form its request asked for.
pub struct Failure(pub AppError, pub Wants);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.0.render(self.1)
    }
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page outside the app (an error, a secret shown once), styled as the app is:
/// `title` is escaped here, `main` is the page's body as HTML its caller escaped.
pub(crate) fn html_page(title: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Proxbox</title><link rel=\"stylesheet\" href=\"/pkg/proxbox.css\">\
         </head><body><main class=\"error-page\">{main}</main></body></html>",
        title = escape(title),
    )
}

/// A whole page that says what went wrong and where to go on.
pub(crate) fn error_page(status: StatusCode, message: &str) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    let main = format!(
        "<h1>{status_code} {title}</h1><p class=\"error-message\">{message}</p>\
         <p><a href=\"/\">Dashboard</a> · <a href=\"/jobs\">Jobs</a> · <a href=\"/endpoints\">Endpoints</a></p>",
        title = escape(title),
        status_code = status.as_u16(),
        message = escape(message),
    );
    html_page(title, &main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_form_follows_the_path_and_what_the_client_accepts() {
        let none = HeaderMap::new();
        assert_eq!(Wants::of("/jobs/4/stream", &none), Wants::Events);
        assert_eq!(Wants::of("/api/dashboard", &none), Wants::Json);
        assert_eq!(Wants::of("/full-update", &none), Wants::Json);
        assert_eq!(Wants::of("/sync/devices", &none), Wants::Page);
        let json = headers(&[(header::ACCEPT, "application/json")]);
        assert_eq!(Wants::of("/sync/devices", &json), Wants::Json);
        let events = headers(&[(header::ACCEPT, "text/event-stream")]);
        assert_eq!(Wants::of("/jobs/4/whatever", &events), Wants::Events);
    }

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, kind, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn one_error_renders_as_json_a_page_or_frames() {
        let error = AppError::NotFound("Job <7>".into());
        let (status, kind, json) = body(error.render(Wants::Json)).await;
        assert_eq!((status.as_u16(), kind.as_str()), (404, "application/json"));
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), error);

        let (status, kind, page) = body(error.render(Wants::Page)).await;
        assert_eq!(status.as_u16(), 404);
        assert!(kind.starts_with("text/html"));
        assert!(
            page.contains("Job &lt;7&gt; was not found"),
            "escaped: {page}"
        );
        assert!(page.contains("href=\"/\""), "a way on");

        let (status, kind, frames) = body(error.render(Wants::Events)).await;
        assert_eq!(status.as_u16(), 404);
        assert!(kind.starts_with("text/event-stream"));
        let names: Vec<&str> = frames
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names, ["error_detail", "error", "complete"]);
        assert!(!frames.contains("<html"), "never a page inside a stream");
    }
}
