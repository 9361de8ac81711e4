//! The one error type of the data boundary: every server function returns it, and
//! the browser decodes it back (it is serialised as JSON across the wire).

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

use crate::validation::FieldErrors;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input: a message per field; nothing was saved.
    #[error("Some fields need attention; nothing was saved.")]
    Validation(FieldErrors),
    #[error("You are not logged in, or your session has expired. Log in again.")]
    Unauthorized,
    /// Logged in, but the role or the API key's scopes do not allow this; says what would.
    #[error("{0}")]
    Forbidden(String),
    #[error("The form has expired (missing or wrong CSRF token). Reload the page and try again.")]
    Csrf,
    #[error("Wrong username or password.")]
    BadCredentials,
    #[error("Too many failed logins. Wait {0} seconds, then try again.")]
    Throttled(u64),
    #[error("{0} was not found; it may have been deleted. Reload the list.")]
    NotFound(String),
    /// The request cannot be served until something is set up or freed first.
    #[error("{0}")]
    Precondition(String),
    /// Too many requests of this kind at once; the message says what to do (503).
    #[error("{0}")]
    Busy(String),
    /// A failure inside Proxbox. The message is safe to show; details are in the server log.
    #[error("{0}")]
    Internal(String),
    /// A request whose arguments the server could not read (a client bug or a hand-made request).
    #[error("The request was malformed: {0}")]
    BadRequest(String),
    /// Transport or encoding failure between browser and server.
    #[error("Request failed: {0}")]
    Transport(String),
}

impl AppError {
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Validation(_) => 422,
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized | AppError::BadCredentials => 401,
            AppError::Csrf | AppError::Forbidden(_) => 403,
            AppError::Throttled(_) => 429,
            AppError::Busy(_) => 503,
            AppError::NotFound(_) => 404,
            AppError::Precondition(_) => 409,
            AppError::Internal(_) | AppError::Transport(_) => 500,
        }
    }

    /// The field errors when this is a validation failure (for inline form messages).
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            AppError::Validation(errors) => Some(errors),
            _ => None,
        }
    }

    /// The refusal as a terminal shows it: the message, or one `field: message` line per
    /// field (the CLI's commands and the configuration file's changes).
    pub fn as_lines(&self) -> String {
        match self.field_errors() {
            Some(fields) => fields
                .0
                .iter()
                .map(|(field, message)| format!("{field}: {message}"))
                .collect::<Vec<_>>()
                .join("\n"),
            None => self.to_string(),
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// A failure inside Proxbox: its details go to the server log, the caller gets a message
    /// safe to show. A database error becomes this through `?` (`From<DbError>`).
    pub fn internal(error: impl std::fmt::Display) -> AppError {
        tracing::error!(%error, "internal error");
        AppError::Internal("Proxbox hit an internal error; the server log has the details.".into())
    }
}

impl FromServerFnError for AppError {
    /// Errors travel as the answers do (see [`crate::wire`]).
    type Encoder = crate::wire::JsonTextEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => AppError::BadRequest(value.to_string()),
            other => AppError::Transport(other.to_string()),
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors)
    }
}
