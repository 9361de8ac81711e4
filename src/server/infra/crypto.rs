//! Encryption at rest for endpoint credentials, and the random tokens and hashes of
//! sessions, CSRF and API keys.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const SEALED_PREFIX: &str = "v1.";

/// A secret as stored in the database: encrypted, authenticated and bound to its purpose.
/// Only [`SecretBox::seal`] makes one, so a plain secret cannot reach a column by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(text: String) -> Sealed {
        Sealed(text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "PROXBOX_SECRET_KEY must be 32 random bytes written as base64 (44 characters) or hex (64 characters); \
         generate one with `openssl rand -base64 32`"
    )]
    BadKey,
    #[error("cannot read or create the secret key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "a stored secret cannot be decrypted: it was encrypted with another key. Restore the key that was in use \
         (PROXBOX_SECRET_KEY or secret.key in the data directory), or enter the credential again"
    )]
    WrongKey,
}

/// The key that encrypts credentials at rest. Its Debug output never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_key_text(text: &str) -> Result<SecretBox, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| {
                    u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| KeyError::BadKey)
                })
                .collect()
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| KeyError::BadKey)
        }?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadKey)?;
        Ok(SecretBox { key })
    }

    /// The key from `PROXBOX_SECRET_KEY` when given, else from `secret.key` in the data
    /// directory, which is created (mode 0600) on first start.
    pub fn load_or_create(explicit: Option<&str>, data_dir: &Path) -> Result<SecretBox, KeyError> {
        if let Some(text) = explicit {
            return SecretBox::from_key_text(text);
        }
        let path = data_dir.join("secret.key");
        let file_error = |source| KeyError::File {
            path: path.display().to_string(),
            source,
        };
        match fs::read_to_string(&path) {
            Ok(text) => SecretBox::from_key_text(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(data_dir).map_err(file_error)?;
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let mut options = fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(file_error)?;
                writeln!(file, "{}", STANDARD.encode(key)).map_err(file_error)?;
                Ok(SecretBox { key })
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// Encrypts `plain`; `purpose` (e.g. "proxmox.token_secret") must match on open.
    pub fn seal(&self, purpose: &str, plain: &str) -> Sealed {
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Sealed(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<String, KeyError> {
        let blob = sealed
            .0
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|blob| blob.len() > 24)
            .ok_or(KeyError::WrongKey)?;
        let (nonce, ciphertext) = blob.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| KeyError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| KeyError::WrongKey)
    }

    /// A keyed digest (HMAC-SHA256), for tokens that must not be forgeable without the key.
    pub fn mac(&self, label: &str, data: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(data.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A random token of 32 bytes, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a high-entropy token (session cookies, API keys): what the database keeps.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two strings.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_purpose() {
        let sb = SecretBox::from_key_text(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = sb.seal("proxmox.token_secret", "s3cret");
        assert!(!sealed.as_str().contains("s3cret"));
        assert_eq!(sb.open("proxmox.token_secret", &sealed).unwrap(), "s3cret");
        assert!(
            sb.open("netbox.token", &sealed).is_err(),
            "purpose must bind"
        );
        let other = SecretBox::from_key_text(&"ab".repeat(32)).unwrap();
        assert!(matches!(
            other.open("proxmox.token_secret", &sealed),
            Err(KeyError::WrongKey)
        ));
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let sb = SecretBox::from_key_text(&"01".repeat(32)).unwrap();
        assert_ne!(sb.seal("p", "x"), sb.seal("p", "x"));
    }

    #[test]
    fn bad_keys_are_refused_with_advice() {
        let err = SecretBox::from_key_text("too-short").unwrap_err();
        assert!(err.to_string().contains("openssl rand -base64 32"));
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load_or_create(None, dir.path()).unwrap();
        let sealed = first.seal("p", "v");
        let again = SecretBox::load_or_create(None, dir.path()).unwrap();
        assert_eq!(again.open("p", &sealed).unwrap(), "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("secret.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
