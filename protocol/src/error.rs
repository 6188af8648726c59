//! Why a payload was refused. Every decoder in this crate returns these instead of panicking,
//! so a subscriber can count and log junk and carry on.

use thiserror::Error;

/// A payload that does not satisfy the contract.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Not JSON, or JSON of the wrong shape (missing field, wrong type, unknown field).
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The payload is not UTF-8 text (availability is plain text).
    #[error("payload is not UTF-8 text")]
    NotUtf8,
    /// An emotion name outside the seven classes.
    #[error(
        "unknown emotion {0:?}: expected one of angry, disgust, fear, happy, sad, surprise, neutral"
    )]
    UnknownEmotion(String),
    /// A `schema` this build does not speak; newer publishers must be upgraded on both sides.
    #[error("unsupported schema version {found}: this build speaks version {expected}")]
    SchemaVersion {
        /// The version in the payload.
        found: u64,
        /// The version this crate writes and reads.
        expected: u32,
    },
    /// The probability vector is not seven finite numbers in [0, 1] (with a sane sum).
    #[error("bad probabilities: {0}")]
    Probabilities(String),
    /// A field whose value is outside its documented range.
    #[error("field `{field}` out of range: {reason}")]
    OutOfRange {
        /// The JSON field name.
        field: &'static str,
        /// What was wrong, in words.
        reason: String,
    },
    /// A plain-text payload that is not one of the allowed words.
    #[error("unexpected payload {found:?}: expected {expected}")]
    UnexpectedText {
        /// What arrived (cut to 64 characters).
        found: String,
        /// The allowed values, in words.
        expected: &'static str,
    },
}

impl DecodeError {
    /// An [`DecodeError::OutOfRange`] for `field`.
    pub(crate) fn range(field: &'static str, reason: impl Into<String>) -> Self {
        DecodeError::OutOfRange {
            field,
            reason: reason.into(),
        }
    }
}

/// Parses a plain-text payload that must be one of `words` (surrounding whitespace allowed):
/// the shape of `…/availability` and `…/camera`.
pub(crate) fn decode_word<T: Copy>(
    payload: &[u8],
    words: &[(&str, T)],
    expected: &'static str,
) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
    let text = text.trim();
    words
        .iter()
        .find(|(word, _)| *word == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| DecodeError::UnexpectedText {
            found: text.chars().take(64).collect(),
            expected,
        })
}
