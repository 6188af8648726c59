//! Secrets from files (`*_file` keys), so API keys, tokens and passwords need not sit in a
//! config file that backups and support requests copy around: `api_key_file =
//! "/etc/xpressify/youtube.key"` (mode 0600), or systemd's credentials — with
//! `LoadCredential=youtube_api_key:/etc/xpressify/youtube.key` in the unit, `api_key_file =
//! "youtube_api_key"` (a bare name is looked up in `$CREDENTIALS_DIRECTORY` first).
//!
//! [`Secret`] is the one type of every password, token and key in our configurations: it
//! never shows in a log or in `print-config`. Reading the files is I/O, so that part lives
//! behind the `client` feature with the rest of it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(feature = "client")]
use std::path::{Path, PathBuf};

#[cfg(feature = "client")]
use crate::config::ConfigError;

/// What a set secret shows as wherever it is printed or written out.
pub const MASK: &str = "********";

/// A password, token or API key from a configuration. `Debug` and `Serialize` show
/// [`MASK`] (or nothing when unset), so printing a configuration, logging it or writing it out
/// as TOML (`print-config`) never gives the value away; the code that sends it asks for it by
/// name with [`Secret::expose`]. Read from a plain string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value` (empty: unset).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is unset (empty).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What it shows as: [`MASK`] when set, nothing when unset.
    pub fn shown(&self) -> &'static str {
        if self.0.is_empty() { "" } else { MASK }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:?})", self.shown())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(feature = "client")]
/// Where a `*_file` value points: a bare name inside `credentials` (systemd's
/// `$CREDENTIALS_DIRECTORY`) when that file exists, else the path as written.
pub fn secret_path(file: &str, credentials: Option<&Path>) -> PathBuf {
    if !file.contains('/')
        && let Some(dir) = credentials
    {
        let candidate = dir.join(file);
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from(file)
}

#[cfg(feature = "client")]
/// Fills `secret` from the file `file` names when it is set (the key `file_key`): the file's
/// text without surrounding whitespace. Setting both the secret and its file, an unreadable
/// file, or an empty one, is an error naming the key.
pub fn fill_from_file(
    secret: &mut Secret,
    file: &str,
    secret_key: &str,
    file_key: &str,
) -> Result<(), ConfigError> {
    if file.trim().is_empty() {
        return Ok(());
    }
    if !secret.is_empty() {
        return Err(ConfigError::invalid(
            file_key,
            format!("set {secret_key} or {file_key}, not both"),
        ));
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let path = secret_path(file.trim(), credentials.as_deref());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::invalid(file_key, format!("cannot read {}: {e}", path.display()))
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(ConfigError::invalid(
            file_key,
            format!("{} is empty", path.display()),
        ));
    }
    *secret = Secret::new(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_but_reads_back() {
        #[derive(Serialize, Deserialize, Debug)]
        struct Keys {
            token: Secret,
            unset: Secret,
        }
        let keys: Keys = toml::from_str("token = \"s3cret-value\"\nunset = \"\"").expect("parse");
        assert_eq!(keys.token.expose(), "s3cret-value");
        assert!(keys.unset.is_empty());
        let written = toml::to_string(&keys).expect("toml");
        let debugged = format!("{keys:?}");
        for shown in [&written, &debugged] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains(MASK), "{shown}");
        }
        assert!(written.contains("unset = \"\""), "{written}");
    }

    #[cfg(feature = "client")]
    #[test]
    fn a_secret_comes_from_its_file_or_a_credential() {
        let dir = std::env::temp_dir().join(format!("xpressify-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("key");
        std::fs::write(&file, "AIza-secret\n").expect("write");
        let mut secret = Secret::default();
        fill_from_file(
            &mut secret,
            &file.display().to_string(),
            "youtube.api_key",
            "youtube.api_key_file",
        )
        .expect("read");
        assert_eq!(secret.expose(), "AIza-secret");

        let both = fill_from_file(&mut secret, "x", "youtube.api_key", "youtube.api_key_file")
            .expect_err("both");
        assert!(both.to_string().contains("not both"), "{both}");
        let mut empty = Secret::default();
        let missing = fill_from_file(
            &mut empty,
            "/nonexistent/key",
            "youtube.api_key",
            "youtube.api_key_file",
        )
        .expect_err("missing");
        assert!(
            missing.to_string().contains("youtube.api_key_file"),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("/nonexistent/key"),
            "{missing}"
        );

        assert_eq!(secret_path("key", Some(&dir)), file, "a credential by name");
        assert_eq!(secret_path("other", Some(&dir)), PathBuf::from("other"));
        assert_eq!(secret_path("/etc/x", Some(&dir)), PathBuf::from("/etc/x"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
