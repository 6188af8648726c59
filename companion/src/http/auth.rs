//! Who may do what, as extractors: a handler that takes [`ControlAccess`] or [`ReadAccess`]
//! cannot run for a request without the right token.
//!
//! Every change needs the control token (`http.token`) as `Authorization: Bearer <token>`.
//! Reading is open to the LAN unless `http.read_token` is set; then a read needs that token or
//! the control token, as the bearer token or as `?access_token=<token>` (RFC 6750 §2.3), which
//! is the only way a browser's `EventSource` or `<audio src>` — and a TV fetching `/media` —
//! can carry it. The control token is never taken from a URL, where it could end up in a
//! proxy's log or a TV's history.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use super::{ApiError, AppState};

/// The tokens the API checks.
#[derive(Clone)]
pub struct Tokens {
    /// The control token: every change, and reading.
    pub control: Arc<str>,
    /// `http.read_token`: reading only; `None` leaves reading open.
    pub read: Option<Arc<str>>,
}

impl Tokens {
    /// `control`, and `read` unless it is empty.
    pub fn new(control: &str, read: &str) -> Tokens {
        Tokens {
            control: control.into(),
            read: (!read.is_empty()).then(|| read.into()),
        }
    }
}

/// Proof that a request carries the control token.
pub struct ControlAccess;

/// Proof that a request may read: reading is open, or it carries the read or control token.
pub struct ReadAccess;

impl FromRequestParts<AppState> for ControlAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some_and(|given| same_secret(given, &s.tokens.control)) {
            Ok(ControlAccess)
        } else {
            Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "this needs the control token: send `Authorization: Bearer <token>` (http.token, or the token printed at the companion's first start)".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for ReadAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let Some(read) = &s.tokens.read else {
            return Ok(ReadAccess);
        };
        let in_query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(mut q)| q.remove("access_token"));
        let given = bearer(parts).or(in_query.as_deref());
        if given.is_some_and(|g| same_secret(g, read) || same_secret(g, &s.tokens.control)) {
            Ok(ReadAccess)
        } else {
            Err(ApiError(
                StatusCode::UNAUTHORIZED,
                "reading needs a token on this box: send `Authorization: Bearer <token>` or `?access_token=<token>` (http.read_token, or the control token)".into(),
            ))
        }
    }
}

/// The bearer token of the `Authorization` header, if any.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Compares every byte, so the answer's timing does not tell how much of a guess was right.
fn same_secret(given: &str, want: &str) -> bool {
    given.len() == want.len()
        && given
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_whole() {
        assert!(same_secret("abc123", "abc123"));
        assert!(!same_secret("abc12", "abc123"));
        assert!(!same_secret("abc124", "abc123"));
        assert!(!same_secret("", "abc123"));
    }

    #[test]
    fn an_empty_read_token_leaves_reading_open() {
        assert!(Tokens::new("c", "").read.is_none());
        assert_eq!(Tokens::new("c", "r").read.as_deref(), Some("r"));
    }
}
