//! Secrets from files (`*_file` keys), so API keys, tokens and passwords need not sit in a
//! config file that backups and support requests copy around: `api_key_file =
//! "/etc/xpressify/youtube.key"` (mode 0600), or systemd's credentials — with
//! `LoadCredential=youtube_api_key:/etc/xpressify/youtube.key` in the unit, `api_key_file =
//! "youtube_api_key"` (a bare name is looked up in `$CREDENTIALS_DIRECTORY` first).
//!
//! This reads files, so it lives behind the `client` feature with the rest of the I/O.

use std::path::{Path, PathBuf};

use crate::config::ConfigError;

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

/// Fills `secret` from the file `file` names when it is set (the key `file_key`): the file's
/// text without surrounding whitespace. Setting both the secret and its file, an unreadable
/// file, or an empty one, is an error naming the key.
pub fn fill_from_file(
    secret: &mut String,
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
    *secret = value.to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_comes_from_its_file_or_a_credential() {
        let dir = std::env::temp_dir().join(format!("xpressify-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("key");
        std::fs::write(&file, "AIza-secret\n").expect("write");
        let mut secret = String::new();
        fill_from_file(
            &mut secret,
            &file.display().to_string(),
            "youtube.api_key",
            "youtube.api_key_file",
        )
        .expect("read");
        assert_eq!(secret, "AIza-secret");

        let both = fill_from_file(&mut secret, "x", "youtube.api_key", "youtube.api_key_file")
            .expect_err("both");
        assert!(both.to_string().contains("not both"), "{both}");
        let mut empty = String::new();
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
