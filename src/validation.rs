//! Validation of operator input, shared by the server (which enforces it) and the
//! browser (which shows the same messages). Every message says what to do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

/// Messages per form field, keyed by the field's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    /// The message of one field.
    pub fn one(field: &str, message: impl Into<String>) -> FieldErrors {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records the error of `result` under `field` and passes the value on.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

pub const NAME_MAX_LEN: usize = 64;

pub fn name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Enter a name, for example the cluster's name.".into());
    }
    if name.chars().count() > NAME_MAX_LEN {
        return Err(format!("Use at most {NAME_MAX_LEN} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Remove the control characters from the name.".into());
    }
    Ok(name.to_string())
}

/// An http(s) base URL. Proxmox URLs lose a trailing `/api2/json` (the client adds it);
/// NetBox URLs lose a trailing `/api` for the same reason. Trailing slashes are dropped.
pub fn base_url(raw: &str, api_suffix: &str, example: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("Enter the URL, for example {example}."));
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        return Err(format!(
            "Start the URL with https:// or http://, for example {example}."
        ));
    };
    let url = Url::parse(&with_scheme).map_err(|e| match e {
        url::ParseError::InvalidPort => "The port must be a number from 1 to 65535.".to_string(),
        url::ParseError::EmptyHost => format!("The URL has no host name; for example {example}."),
        other => format!("This is not a valid URL ({other}); for example {example}."),
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("Use https:// or http://, not {}://.", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("The URL has no host name; for example {example}."));
    }
    if url.port() == Some(0) {
        return Err("The port must be a number from 1 to 65535.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "Remove the user name and password from the URL; use the credential fields.".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("Remove the query (?…) and fragment (#…) from the URL.".into());
    }
    // The API suffix comes off the path only: `https://api` is a host named `api`.
    // Every repeat of it: what the form shows must be accepted again unchanged.
    let mut path = url.path().trim_end_matches('/');
    while let Some(stripped) = path
        .strip_suffix(api_suffix)
        .filter(|_| !api_suffix.is_empty())
    {
        path = stripped.trim_end_matches('/');
    }
    Ok(format!("{}{path}", &url[..url::Position::BeforePath]))
}

pub fn proxmox_url(raw: &str) -> Result<String, String> {
    base_url(raw, "/api2/json", "https://pve1.example.com:8006")
}

pub fn netbox_url(raw: &str) -> Result<String, String> {
    base_url(raw, "/api", "https://netbox.example.com")
}

/// Where operators reach Proxbox (`PROXBOX_PUBLIC_URL`), for links from NetBox.
pub fn public_url(raw: &str) -> Result<String, String> {
    base_url(raw, "", "https://proxbox.example.com")
}

/// A Proxmox user id, `user@realm`.
pub fn proxmox_user(raw: &str) -> Result<String, String> {
    let user = raw.trim();
    let Some((name, realm)) = user.split_once('@') else {
        return Err("Write the user as user@realm, for example root@pam.".into());
    };
    if name.is_empty() || realm.is_empty() || realm.contains('@') || user.contains('!') {
        return Err("Write the user as user@realm, for example root@pam.".into());
    }
    if !realm
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err("The realm may hold only letters, digits, '.', '_' and '-'.".into());
    }
    Ok(user.to_string())
}

/// A Proxmox API token id, `user@realm!tokenname`.
pub fn proxmox_token_id(raw: &str) -> Result<String, String> {
    const FORMAT: &str =
        "Write the token id as user@realm!tokenname, for example root@pam!proxbox.";
    let raw = raw.trim();
    let Some((user, token)) = raw.split_once('!') else {
        return Err(FORMAT.into());
    };
    proxmox_user(user).map_err(|_| FORMAT.to_string())?;
    let mut chars = token.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter || !chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(
            "The token name (after '!') must start with a letter and hold only letters, digits, '.', '_' and '-'.".into(),
        );
    }
    Ok(raw.to_string())
}

/// Splits a whole token as Proxmox shows it (`user@realm!name=secret`) into id and secret.
pub fn split_whole_proxmox_token(raw: &str) -> Option<(String, String)> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("PVEAPIToken=").unwrap_or(raw);
    let (id, secret) = raw.split_once('=')?;
    (!secret.is_empty() && id.contains('!')).then(|| (id.to_string(), secret.to_string()))
}

pub fn secret_text(raw: &str, what: &str) -> Result<String, String> {
    let secret = raw.trim();
    if secret.is_empty() {
        return Err(format!("Enter the {what}."));
    }
    if secret.len() > 4096 {
        return Err(format!("The {what} is too long (at most 4096 characters)."));
    }
    if secret.chars().any(char::is_control) {
        return Err(format!(
            "The {what} holds control characters; paste it again."
        ));
    }
    Ok(secret.to_string())
}

/// NetBox API tokens: v1 is 40 characters; v2 is `nbt_<key>.<secret>`.
pub fn netbox_token(raw: &str) -> Result<String, String> {
    let token = raw.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("Token "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err("Enter the NetBox API token.".into());
    }
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some(v2) = token.strip_prefix("nbt_") {
        return match v2.split_once('.') {
            Some((key, secret)) if alnum(key) && alnum(secret) => Ok(token.to_string()),
            _ => Err("A v2 token looks like nbt_<key>.<secret>; copy it whole from NetBox.".into()),
        };
    }
    if token.len() == 40 && alnum(token) {
        return Ok(token.to_string());
    }
    Err("This is not a NetBox token: expected a v2 token (nbt_<key>.<secret>) or a v1 token (40 letters and digits).".into())
}

pub fn timeout_secs(raw: &str, default: u32) -> Result<u32, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(default);
    }
    match raw.parse::<u32>() {
        Ok(secs) if (1..=3600).contains(&secs) => Ok(secs),
        _ => Err("Enter a whole number of seconds from 1 to 3600.".into()),
    }
}

/// An optional PEM bundle of CA certificates; empty means "use the system roots".
pub fn ca_pem(raw: &str) -> Result<Option<String>, String> {
    let pem = raw.trim();
    if pem.is_empty() {
        return Ok(None);
    }
    let begins = pem.matches("-----BEGIN CERTIFICATE-----").count();
    let ends = pem.matches("-----END CERTIFICATE-----").count();
    if begins == 0 || begins != ends {
        return Err("Paste the CA certificate in PEM form, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----.".into());
    }
    if pem.len() > 64 * 1024 {
        return Err("The CA bundle is too large (at most 64 KiB).".into());
    }
    Ok(Some(pem.to_string()))
}

/// A yes/no field as forms and settings write it: `on`, `true`, `1`, `yes` or their
/// opposites `off`, `false`, `0`, `no`; anything else is `None`.
pub fn parse_switch(text: &str) -> Option<bool> {
    match text {
        "on" | "true" | "1" | "yes" => Some(true),
        "off" | "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_url_normalises_and_rejects_bad_ports() {
        assert_eq!(
            proxmox_url("https://pve1:8006/api2/json/").unwrap(),
            "https://pve1:8006"
        );
        assert_eq!(
            proxmox_url(" https://pve1:8006 ").unwrap(),
            "https://pve1:8006"
        );
        assert!(proxmox_url("https://pve1:70000")
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(proxmox_url("https://pve1:0")
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(proxmox_url("pve1:8006").unwrap_err().contains("https://"));
        assert!(proxmox_url("ftp://pve1").unwrap_err().contains("not ftp"));
        assert!(proxmox_url("").unwrap_err().contains("Enter the URL"));
        assert!(proxmox_url("https://root:pw@pve1")
            .unwrap_err()
            .contains("credential"));
    }

    #[test]
    fn netbox_url_keeps_a_path_prefix() {
        assert_eq!(
            netbox_url("https://nb.example.com/netbox/api/").unwrap(),
            "https://nb.example.com/netbox"
        );
        assert_eq!(
            netbox_url("http://127.0.0.1:8000").unwrap(),
            "http://127.0.0.1:8000"
        );
        // Only the path loses its `/api` (found by tests/fuzz: this became `https:`).
        assert_eq!(netbox_url("https:///api").unwrap(), "https://api");
        assert_eq!(netbox_url("https://api/api").unwrap(), "https://api");
        assert_eq!(
            proxmox_url("https://pve1/api2/json/api2/json").unwrap(),
            "https://pve1"
        );
    }

    #[test]
    fn token_ids_follow_the_proxmox_format() {
        assert!(proxmox_token_id("root@pam!proxbox").is_ok());
        assert!(proxmox_token_id("sync@pve!ro-token_1.a").is_ok());
        for bad in [
            "root@pam",
            "root!proxbox",
            "@pam!x",
            "root@pam!1abc",
            "root@pam!",
            "root@pam!a b",
        ] {
            assert!(proxmox_token_id(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn whole_tokens_split_into_id_and_secret() {
        let (id, secret) =
            split_whole_proxmox_token("PVEAPIToken=root@pam!proxbox=aaaa-bbbb").unwrap();
        assert_eq!(
            (id.as_str(), secret.as_str()),
            ("root@pam!proxbox", "aaaa-bbbb")
        );
        assert!(split_whole_proxmox_token("root@pam!proxbox").is_none());
    }

    #[test]
    fn netbox_tokens_v1_and_v2() {
        assert!(netbox_token("nbt_abc123.DEF456").is_ok());
        assert_eq!(netbox_token("Bearer nbt_a.b").unwrap(), "nbt_a.b");
        assert!(netbox_token(&"a".repeat(40)).is_ok());
        assert!(netbox_token("nbt_abc").is_err());
        assert!(netbox_token("short").is_err());
    }

    #[test]
    fn timeouts_and_pem() {
        assert_eq!(timeout_secs("", 30).unwrap(), 30);
        assert_eq!(timeout_secs("90", 30).unwrap(), 90);
        assert!(timeout_secs("0", 30).is_err());
        assert!(timeout_secs("abc", 30).is_err());
        assert_eq!(ca_pem("  ").unwrap(), None);
        assert!(ca_pem("hello").is_err());
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        assert_eq!(ca_pem(pem).unwrap().as_deref(), Some(pem));
    }

    #[test]
    fn field_errors_collect_first_message_per_field() {
        let mut errors = FieldErrors::default();
        assert_eq!(errors.check("a", Ok::<_, String>(1)), Some(1));
        errors.check::<()>("b", Err("first".into()));
        errors.check::<()>("b", Err("second".into()));
        assert_eq!(errors.get("b"), Some("first"));
        assert!(errors.into_result(|| ()).is_err());
    }
}
