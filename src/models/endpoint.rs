//! Proxmox and NetBox endpoints: the form as the browser sends it, the validated
//! input the server stores, and the view the browser gets back (without secrets).

use serde::{Deserialize, Serialize};

use crate::validation::{self, FieldErrors};

pub const PROXMOX_DEFAULT_TIMEOUT_SECS: u32 = 30;
pub const NETBOX_DEFAULT_TIMEOUT_SECS: u32 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProxmoxAuthKind {
    #[default]
    Token,
    Password,
}

impl ProxmoxAuthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxmoxAuthKind::Token => "token",
            ProxmoxAuthKind::Password => "password",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "token" => Some(ProxmoxAuthKind::Token),
            "password" => Some(ProxmoxAuthKind::Password),
            _ => None,
        }
    }
}

/// A Proxmox endpoint form as posted (checkboxes are present when ticked).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxmoxEndpointForm {
    pub name: String,
    pub url: String,
    pub auth_kind: String,
    pub token_id: String,
    pub token_secret: String,
    pub username: String,
    pub password: String,
    pub verify_tls: Option<String>,
    pub ca_pem: String,
    pub timeout_secs: String,
    pub enabled: Option<String>,
    /// Whether the watcher follows its changes (a checkbox).
    pub watch: Option<String>,
}

/// Credentials of a validated form. A `None` secret means "keep the stored one".
#[derive(Clone, PartialEq)]
pub enum ProxmoxCredentials {
    Token {
        token_id: String,
        secret: Option<String>,
    },
    Password {
        username: String,
        password: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProxmoxEndpointInput {
    pub name: String,
    pub url: String,
    pub credentials: ProxmoxCredentials,
    pub verify_tls: bool,
    pub ca_pem: Option<String>,
    pub timeout_secs: u32,
    pub enabled: bool,
    pub watch: bool,
}

/// A checkbox as a browser posts it: present (`on`) when ticked.
pub fn checkbox(ticked: bool) -> Option<String> {
    ticked.then(|| "on".to_string())
}

/// Whether a login named by these is a token login: a token id, or no user name either (the
/// form then asks for the token id).
pub fn is_token_login(token_id: Option<&str>, username: Option<&str>) -> bool {
    token_id.is_some() || username.is_none()
}

impl ProxmoxEndpointForm {
    /// The form with its login fields as the page posts them: a token id and its secret
    /// (see [`is_token_login`]), or else a user name and its password.
    pub fn with_login(
        self,
        token_id: Option<String>,
        username: Option<String>,
        secret: String,
    ) -> ProxmoxEndpointForm {
        let by_token = is_token_login(token_id.as_deref(), username.as_deref());
        let (token_secret, password) = if by_token {
            (secret, String::new())
        } else {
            (String::new(), secret)
        };
        ProxmoxEndpointForm {
            auth_kind: if by_token { "token" } else { "password" }.into(),
            token_id: token_id.unwrap_or_default(),
            token_secret,
            username: username.unwrap_or_default(),
            password,
            ..self
        }
    }

    /// The form from its fields by name, as a browser posts them (an island reads them
    /// from its page's form; a ticked checkbox is present, an unticked one absent).
    pub fn from_fields(field: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name| field(name).unwrap_or_default();
        ProxmoxEndpointForm {
            name: text("name"),
            url: text("url"),
            auth_kind: text("auth_kind"),
            token_id: text("token_id"),
            token_secret: text("token_secret"),
            username: text("username"),
            password: text("password"),
            verify_tls: field("verify_tls"),
            ca_pem: text("ca_pem"),
            timeout_secs: text("timeout_secs"),
            enabled: field("enabled"),
            watch: field("watch"),
        }
    }

    /// Validates every field. `has_stored_secret` is true when editing an endpoint whose
    /// secret of the chosen kind is already stored: then a blank secret keeps it.
    pub fn validate(&self, has_stored_secret: bool) -> Result<ProxmoxEndpointInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = errors.check("name", validation::name(&self.name));
        let url = errors.check("url", validation::proxmox_url(&self.url));
        let kind = errors.check(
            "auth_kind",
            ProxmoxAuthKind::parse(&self.auth_kind)
                .ok_or_else(|| "Choose API token or user and password.".to_string()),
        );
        let optional_secret = |raw: &str, what: &str| -> Result<Option<String>, String> {
            if raw.trim().is_empty() && has_stored_secret {
                Ok(None)
            } else {
                validation::secret_text(raw, what).map(Some)
            }
        };
        let credentials = match kind {
            Some(ProxmoxAuthKind::Token) => {
                // Operators often paste the whole `user@realm!name=secret` into the id field.
                let (id_raw, secret_raw) =
                    match validation::split_whole_proxmox_token(&self.token_id) {
                        Some((id, secret)) if self.token_secret.trim().is_empty() => (id, secret),
                        _ => (self.token_id.clone(), self.token_secret.clone()),
                    };
                let token_id = errors.check("token_id", validation::proxmox_token_id(&id_raw));
                let secret =
                    errors.check("token_secret", optional_secret(&secret_raw, "token secret"));
                token_id
                    .zip(secret)
                    .map(|(token_id, secret)| ProxmoxCredentials::Token { token_id, secret })
            }
            Some(ProxmoxAuthKind::Password) => {
                let username = errors.check("username", validation::proxmox_user(&self.username));
                let password =
                    errors.check("password", optional_secret(&self.password, "password"));
                username
                    .zip(password)
                    .map(|(username, password)| ProxmoxCredentials::Password { username, password })
            }
            None => None,
        };
        let ca_pem = errors.check("ca_pem", validation::ca_pem(&self.ca_pem));
        let timeout_secs = errors.check(
            "timeout_secs",
            validation::timeout_secs(&self.timeout_secs, PROXMOX_DEFAULT_TIMEOUT_SECS),
        );
        let verify_tls = self.verify_tls.is_some();
        let enabled = self.enabled.is_some();
        let watch = self.watch.is_some();
        errors.into_result(|| ProxmoxEndpointInput {
            name: name.expect("checked"),
            url: url.expect("checked"),
            credentials: credentials.expect("checked"),
            verify_tls,
            ca_pem: ca_pem.expect("checked"),
            timeout_secs: timeout_secs.expect("checked"),
            enabled,
            watch,
        })
    }
}

/// A Proxmox endpoint as the browser sees it: secrets are reduced to "is one stored". The
/// browser build reads only what the dashboard's island shows (id, name, address, enabled):
/// the rest is for server-rendered pages, and reading it would cost the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxmoxEndpointView {
    pub id: i64,
    pub name: String,
    pub url: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub auth_kind: ProxmoxAuthKind,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub token_id: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub username: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub has_secret: bool,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub verify_tls: bool,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub ca_pem: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub timeout_secs: u32,
    pub enabled: bool,
    /// Whether the watcher follows its changes.
    #[serde(default)]
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub watch: bool,
    /// The configuration file that declares it (edit it there, not on the page).
    #[serde(default)]
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub managed_by: Option<String>,
}

impl ProxmoxEndpointView {
    /// The form pre-filled for editing; secrets stay blank (blank means keep).
    pub fn to_form(&self) -> ProxmoxEndpointForm {
        ProxmoxEndpointForm {
            name: self.name.clone(),
            url: self.url.clone(),
            auth_kind: self.auth_kind.as_str().to_string(),
            token_id: self.token_id.clone(),
            token_secret: String::new(),
            username: self.username.clone(),
            password: String::new(),
            verify_tls: self.verify_tls.then(|| "on".to_string()),
            ca_pem: self.ca_pem.clone(),
            timeout_secs: self.timeout_secs.to_string(),
            enabled: self.enabled.then(|| "on".to_string()),
            watch: self.watch.then(|| "on".to_string()),
        }
    }
}

#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetboxEndpointForm {
    pub url: String,
    pub token: String,
    pub verify_tls: Option<String>,
    pub ca_pem: String,
    pub timeout_secs: String,
}

#[derive(Clone, PartialEq)]
pub struct NetboxEndpointInput {
    pub url: String,
    /// `None` keeps the stored token.
    pub token: Option<String>,
    pub verify_tls: bool,
    pub ca_pem: Option<String>,
    pub timeout_secs: u32,
}

impl NetboxEndpointForm {
    /// See [`ProxmoxEndpointForm::from_fields`].
    pub fn from_fields(field: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name| field(name).unwrap_or_default();
        NetboxEndpointForm {
            url: text("url"),
            token: text("token"),
            verify_tls: field("verify_tls"),
            ca_pem: text("ca_pem"),
            timeout_secs: text("timeout_secs"),
        }
    }

    pub fn validate(&self, has_stored_token: bool) -> Result<NetboxEndpointInput, FieldErrors> {
        let mut errors = FieldErrors::default();
        let url = errors.check("url", validation::netbox_url(&self.url));
        let token = if self.token.trim().is_empty() && has_stored_token {
            Some(None)
        } else {
            errors.check("token", validation::netbox_token(&self.token).map(Some))
        };
        let ca_pem = errors.check("ca_pem", validation::ca_pem(&self.ca_pem));
        let timeout_secs = errors.check(
            "timeout_secs",
            validation::timeout_secs(&self.timeout_secs, NETBOX_DEFAULT_TIMEOUT_SECS),
        );
        let verify_tls = self.verify_tls.is_some();
        errors.into_result(|| NetboxEndpointInput {
            url: url.expect("checked"),
            token: token.expect("checked"),
            verify_tls,
            ca_pem: ca_pem.expect("checked"),
            timeout_secs: timeout_secs.expect("checked"),
        })
    }
}

/// The browser build reads only what the dashboard's island shows (its address): the
/// rest is for server-rendered pages, and reading it would cost the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetboxEndpointView {
    pub url: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub has_token: bool,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub verify_tls: bool,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub ca_pem: String,
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub timeout_secs: u32,
    /// The configuration file that declares it (edit it there, not on the page).
    #[serde(default)]
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub managed_by: Option<String>,
}

impl NetboxEndpointView {
    pub fn to_form(&self) -> NetboxEndpointForm {
        NetboxEndpointForm {
            url: self.url.clone(),
            token: String::new(),
            verify_tls: self.verify_tls.then(|| "on".to_string()),
            ca_pem: self.ca_pem.clone(),
            timeout_secs: self.timeout_secs.to_string(),
        }
    }
}

/// Every endpoint, for the endpoint list and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointsOverview {
    pub proxmox: Vec<ProxmoxEndpointView>,
    pub netbox: Option<NetboxEndpointView>,
}

/// The answer of "test connection": what was reached, or what failed and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    pub ok: bool,
    /// "Proxmox VE 8.3.2, cluster lab, 3 nodes" or the failure.
    pub summary: String,
    /// The error category (`authentication`, `connection`…) when it failed.
    pub category: Option<String>,
    pub suggestion: Option<String>,
}

/// The refusal to change an endpoint a configuration file declares (`managed_by`).
pub fn declared_in(file: Option<&str>) -> Result<(), crate::error::AppError> {
    match file {
        Some(file) => Err(crate::error::AppError::Precondition(format!(
            "This endpoint is declared in {file}: change it there, then run `proxbox config apply` (or restart Proxbox)."
        ))),
        None => Ok(()),
    }
}

/// A refused post of the form, for the page to show again: what was typed (never a
/// secret) and why it was refused.
#[derive(Debug, Clone)]
pub struct ProxmoxDraft {
    pub form: ProxmoxEndpointForm,
    pub error: crate::error::AppError,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads fields from what the form serialises to: a field `from_fields` missed or
    /// misnamed comes back empty and the comparison fails.
    fn fields_of(form: &impl Serialize) -> impl Fn(&str) -> Option<String> {
        let value = serde_json::to_value(form).unwrap();
        move |name| value.get(name).and_then(|v| v.as_str()).map(str::to_string)
    }

    #[test]
    fn forms_read_back_from_their_fields() {
        let proxmox = ProxmoxEndpointForm {
            name: "lab".into(),
            url: "https://pve:8006".into(),
            auth_kind: "password".into(),
            token_id: "root@pam!x".into(),
            token_secret: "s1".into(),
            username: "root@pam".into(),
            password: "p1".into(),
            verify_tls: Some("on".into()),
            ca_pem: "pem".into(),
            timeout_secs: "12".into(),
            enabled: Some("on".into()),
            watch: Some("on".into()),
        };
        assert_eq!(
            ProxmoxEndpointForm::from_fields(fields_of(&proxmox)),
            proxmox
        );
        let unticked = ProxmoxEndpointForm {
            verify_tls: None,
            enabled: None,
            watch: None,
            ..proxmox
        };
        assert_eq!(
            ProxmoxEndpointForm::from_fields(fields_of(&unticked)),
            unticked
        );
        let netbox = NetboxEndpointForm {
            url: "https://netbox".into(),
            token: "t".into(),
            verify_tls: Some("on".into()),
            ca_pem: "pem".into(),
            timeout_secs: "5".into(),
        };
        assert_eq!(NetboxEndpointForm::from_fields(fields_of(&netbox)), netbox);
    }

    fn token_form() -> ProxmoxEndpointForm {
        ProxmoxEndpointForm {
            name: "lab".into(),
            url: "https://pve1:8006".into(),
            auth_kind: "token".into(),
            token_id: "root@pam!proxbox".into(),
            token_secret: "3f0a6c5e-0000-4000-8000-000000000001".into(),
            verify_tls: Some("on".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_token_form_validates() {
        let input = token_form().validate(false).unwrap();
        assert_eq!(input.timeout_secs, PROXMOX_DEFAULT_TIMEOUT_SECS);
        assert!(input.verify_tls);
        assert!(!input.enabled);
        assert!(matches!(
            input.credentials,
            ProxmoxCredentials::Token {
                secret: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let form = ProxmoxEndpointForm {
            name: "".into(),
            url: "https://pve1:99999".into(),
            token_id: "root-pam-proxbox".into(),
            token_secret: "".into(),
            timeout_secs: "-1".into(),
            ..token_form()
        };
        let errors = form.validate(false).unwrap_err();
        for field in ["name", "url", "token_id", "token_secret", "timeout_secs"] {
            assert!(
                errors.get(field).is_some(),
                "no message for {field}: {errors:?}"
            );
        }
    }

    #[test]
    fn blank_secret_keeps_the_stored_one_only_when_one_exists() {
        let form = ProxmoxEndpointForm {
            token_secret: "".into(),
            ..token_form()
        };
        assert!(form.validate(false).is_err());
        let input = form.validate(true).unwrap();
        assert!(matches!(
            input.credentials,
            ProxmoxCredentials::Token { secret: None, .. }
        ));
    }

    #[test]
    fn a_whole_pasted_token_is_split() {
        let form = ProxmoxEndpointForm {
            token_id: "root@pam!proxbox=abc-def".into(),
            token_secret: "".into(),
            ..token_form()
        };
        let input = form.validate(false).unwrap();
        assert_eq!(
            input.credentials,
            ProxmoxCredentials::Token {
                token_id: "root@pam!proxbox".into(),
                secret: Some("abc-def".into())
            }
        );
    }

    #[test]
    fn netbox_form_requires_a_token_on_create() {
        let form = NetboxEndpointForm {
            url: "http://127.0.0.1:8000".into(),
            ..Default::default()
        };
        assert!(form.validate(false).unwrap_err().get("token").is_some());
        assert_eq!(form.validate(true).unwrap().token, None);
    }
}

/// How a secret shows in `Debug` output (logs, panics): whether there is one, never what.
fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() {
        "<empty>"
    } else {
        "<redacted>"
    }
}

fn redacted_option(secret: &Option<String>) -> &'static str {
    secret.as_deref().map_or("<keep stored>", redacted)
}

impl std::fmt::Debug for ProxmoxEndpointForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxmoxEndpointForm")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("auth_kind", &self.auth_kind)
            .field("token_id", &self.token_id)
            .field("token_secret", &redacted(&self.token_secret))
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("verify_tls", &self.verify_tls)
            .field("ca_pem", &self.ca_pem)
            .field("timeout_secs", &self.timeout_secs)
            .field("enabled", &self.enabled)
            .field("watch", &self.watch)
            .finish()
    }
}

impl std::fmt::Debug for ProxmoxCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxmoxCredentials::Token { token_id, secret } => f
                .debug_struct("Token")
                .field("token_id", token_id)
                .field("secret", &redacted_option(secret))
                .finish(),
            ProxmoxCredentials::Password { username, password } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &redacted_option(password))
                .finish(),
        }
    }
}

impl std::fmt::Debug for NetboxEndpointForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetboxEndpointForm")
            .field("url", &self.url)
            .field("token", &redacted(&self.token))
            .field("verify_tls", &self.verify_tls)
            .field("ca_pem", &self.ca_pem)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

impl std::fmt::Debug for NetboxEndpointInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetboxEndpointInput")
            .field("url", &self.url)
            .field("token", &redacted_option(&self.token))
            .field("verify_tls", &self.verify_tls)
            .field("ca_pem", &self.ca_pem)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let form = ProxmoxEndpointForm {
            token_secret: "s3cret-token".into(),
            password: "s3cret-password".into(),
            ..Default::default()
        };
        let netbox = NetboxEndpointForm {
            token: "s3cret-nb".into(),
            ..Default::default()
        };
        let credentials = ProxmoxCredentials::Token {
            token_id: "root@pam!x".into(),
            secret: Some("s3cret-kept".into()),
        };
        let input = NetboxEndpointInput {
            url: "https://nb".into(),
            token: Some("s3cret-input".into()),
            verify_tls: true,
            ca_pem: None,
            timeout_secs: 5,
        };
        let shown = format!("{form:?} {netbox:?} {credentials:?} {input:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("root@pam!x"),
            "{shown}"
        );
    }
}
