//! Secrets: named in the config by where to find them, never by value, and never printed.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::PathBuf;

/// Where a secret lives: `env:NAME`, `file:PATH`, or `credential:NAME` (a systemd `LoadCredential=`
/// file in `$CREDENTIALS_DIRECTORY`). Literal secrets are refused so they never sit in a config file.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    Credential(String),
}

/// A resolved secret value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {reference}: environment variable is not set or not UTF-8")]
    MissingEnv { reference: String },
    #[error("secret {reference}: cannot read file: {source}")]
    File {
        reference: String,
        source: std::io::Error,
    },
    #[error(
        "secret {reference}: $CREDENTIALS_DIRECTORY is not set (is the service started with LoadCredential=?)"
    )]
    NoCredentialsDirectory { reference: String },
    #[error("secret {reference}: the value is empty")]
    Empty { reference: String },
}

impl SecretRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once(':').ok_or_else(|| {
            "a secret must be given as env:NAME, file:PATH or credential:NAME, not as a value"
                .to_owned()
        })?;
        if rest.is_empty() {
            return Err(format!("secret reference {scheme}: names nothing"));
        }
        match scheme {
            "env" => Ok(SecretRef::Env(rest.to_owned())),
            "file" => Ok(SecretRef::File(PathBuf::from(rest))),
            "credential" if !rest.contains('/') => Ok(SecretRef::Credential(rest.to_owned())),
            "credential" => Err("credential:NAME must be a plain name".to_owned()),
            _ => Err(
                "a secret must be given as env:NAME, file:PATH or credential:NAME, not as a value"
                    .to_owned(),
            ),
        }
    }

    /// Reads the secret now. Trailing newlines of files are dropped (editors add them).
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let reference = self.to_string();
        let value = match self {
            SecretRef::Env(name) => std::env::var(name).map_err(|_| SecretError::MissingEnv {
                reference: reference.clone(),
            })?,
            SecretRef::File(path) => read_trimmed(path, &reference)?,
            SecretRef::Credential(name) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                    SecretError::NoCredentialsDirectory {
                        reference: reference.clone(),
                    }
                })?;
                read_trimmed(&PathBuf::from(dir).join(name), &reference)?
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty { reference });
        }
        Ok(Secret(value))
    }
}

fn read_trimmed(path: &std::path::Path, reference: &str) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        reference: reference.to_owned(),
        source,
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Credential(name) => write!(f, "credential:{name}"),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SecretRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Secret {
    /// For building a secret in code (tests, the demo). Configs always go through [`SecretRef`].
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (a request parameter or header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_are_refused() {
        assert!(SecretRef::parse("hunter2").is_err());
        assert!(SecretRef::parse("env:").is_err());
        assert!(SecretRef::parse("credential:../x").is_err());
        assert_eq!(
            SecretRef::parse("env:X").unwrap(),
            SecretRef::Env("X".into())
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("s3cr3t-value");
        assert!(!format!("{secret:?} {secret}").contains("s3cr3t"));
    }

    #[test]
    fn file_secret_drops_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").unwrap();
        let secret = SecretRef::File(path).resolve().unwrap();
        assert_eq!(secret.expose(), "abc");
    }
}
