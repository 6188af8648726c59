//! The payload schema version and the check every JSON decoder runs first.

use crate::DecodeError;

/// The version of every JSON payload this crate writes (`"schema": 1`). A decoder refuses any
/// other version with [`DecodeError::SchemaVersion`] before looking at the rest, so an old
/// subscriber reports "upgrade me" instead of a confusing missing-field error.
pub const SCHEMA_VERSION: u32 = 1;

/// Fails unless `payload` is JSON whose `schema` field is [`SCHEMA_VERSION`].
pub(crate) fn check(payload: &[u8]) -> Result<(), DecodeError> {
    let value: serde_json::Value = serde_json::from_slice(payload)?;
    let Some(object) = value.as_object() else {
        return Err(DecodeError::Json(serde::de::Error::custom(format!(
            "expected a JSON object, got {}",
            kind(&value)
        ))));
    };
    match object.get("schema").cloned() {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION.into()) => Ok(()),
        Some(serde_json::Value::Number(n)) => Err(DecodeError::SchemaVersion {
            found: n.as_u64().unwrap_or(u64::MAX),
            expected: SCHEMA_VERSION,
        }),
        Some(other) => Err(DecodeError::range(
            "schema",
            format!("expected an integer, got {other}"),
        )),
        None => Err(DecodeError::range("schema", "missing")),
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
