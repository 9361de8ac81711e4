//! Where a secret given to Proxbox outside its forms comes from — an environment variable
//! or a file (its first line) — for `proxbox endpoint add` and `proxbox.toml` alike: never
//! the command line (others see it in `ps`) or a configuration file's own text.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum SecretError {
    /// The variable is not set, or empty.
    Unset(String),
    Unreadable(PathBuf, std::io::Error),
    /// Neither a variable nor a file was named.
    NotGiven,
}

/// The secret in variable `var` (read with `env`), else in `file`, trimmed.
pub fn read_secret(
    var: Option<&str>,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SecretError> {
    match (var, file) {
        (Some(var), _) => env(var)
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| SecretError::Unset(var.to_string())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| text.lines().next().unwrap_or_default().trim().to_string())
            .map_err(|e| SecretError::Unreadable(path.to_path_buf(), e)),
        (None, None) => Err(SecretError::NotGiven),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_trimmed_from_its_variable_or_the_first_line_of_its_file() {
        let env = |var: &str| match var {
            "SET" => Some(" s3cret \n".to_string()),
            "EMPTY" => Some("  ".to_string()),
            _ => None,
        };
        assert_eq!(read_secret(Some("SET"), None, &env).unwrap(), "s3cret");
        assert!(
            matches!(read_secret(Some("EMPTY"), None, &env), Err(SecretError::Unset(v)) if v == "EMPTY")
        );
        assert!(matches!(
            read_secret(Some("NONE"), None, &env),
            Err(SecretError::Unset(_))
        ));
        let file = std::env::temp_dir().join(format!("proxbox-secret-{}", std::process::id()));
        std::fs::write(&file, "from-file\nsecond line\n").unwrap();
        assert_eq!(read_secret(None, Some(&file), &env).unwrap(), "from-file");
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            read_secret(None, Some(&file), &env),
            Err(SecretError::Unreadable(..))
        ));
        assert!(matches!(
            read_secret(None, None, &env),
            Err(SecretError::NotGiven)
        ));
    }
}
