//! Reading a posted form and answering it, the same for every form the server takes
//! outside server functions (settings, schedules, endpoints, users and keys, sync options).

use axum::response::Response;

use crate::error::AppError;
use crate::server::web::auth::CSRF_FIELD;
use crate::server::web::respond::Wants;

/// A form's fields in the order posted; a repeated field (one checkbox each) keeps every
/// value. The CSRF token is left out: the middleware has checked it.
#[derive(Debug, Default, Clone)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    pub fn parse(body: &[u8]) -> FormFields {
        FormFields(
            url::form_urlencoded::parse(body)
                .filter(|(name, _)| name != CSRF_FIELD)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The first value of field `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every value of field `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// The handler's response, or its error rendered as the client asked (a page, JSON or
/// events): the one way a form's refusal is answered.
pub fn answer(wants: Wants, result: Result<Response, AppError>) -> Response {
    result.unwrap_or_else(|error| error.render(wants))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_keep_every_value_and_the_csrf_token_is_left_out() {
        let form =
            FormFields::parse(b"csrf=t0k&stage=devices&when=%2A%2F5+*&stage=backups&enabled=on");
        assert_eq!(
            form.all("stage").collect::<Vec<_>>(),
            ["devices", "backups"]
        );
        assert_eq!(form.first("when"), Some("*/5 *"));
        assert_eq!(form.first("csrf"), None);
        assert_eq!(form.first("missing"), None);
        assert_eq!(form.iter().count(), 4);
    }
}
