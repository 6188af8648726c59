//! The configuration convention both binaries follow: one TOML file, every key overridable by
//! an environment variable `XPRESSIFY__<SECTION>__<KEY>`, and a refusal that names the key.
//!
//! It lives here, beside the wire contract, because it is a contract too (users and packages
//! rely on the variable names) and because it needs no I/O: callers pass the file's text and
//! the environment, so it is tested without touching either.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use xpressify_protocol::config;
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Conf { mqtt: Mqtt }
//! #[derive(Debug, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Mqtt { url: String, keep_alive_s: u16 }
//! impl Default for Mqtt {
//!     fn default() -> Self { Mqtt { url: "mqtt://127.0.0.1:1883".into(), keep_alive_s: 30 } }
//! }
//!
//! let file = "[mqtt]\nkeep_alive_s = 10\n";
//! let env = [("XPRESSIFY__MQTT__URL".to_string(), "mqtt://broker:1883".to_string())];
//! let conf: Conf = config::load(Some(("box.toml", file)), env).unwrap();
//! assert_eq!((conf.mqtt.url.as_str(), conf.mqtt.keep_alive_s), ("mqtt://broker:1883", 10));
//!
//! let env = [("XPRESSIFY__MQTT__KEEP_ALIVE_S".to_string(), "soon".to_string())];
//! let err = config::load::<Conf>(None, env).unwrap_err();
//! assert!(err.to_string().contains("XPRESSIFY__MQTT__KEEP_ALIVE_S"));
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use toml::{Table, Value};

use crate::BrokerUrl;

/// Environment variables starting with this override configuration keys.
pub const ENV_PREFIX: &str = "XPRESSIFY__";

/// Why a configuration was refused. Every variant names the key (or variable) at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {file}: {message}")]
    Read {
        /// The file's name as the user gave it.
        file: String,
        /// The system's message.
        message: String,
    },
    /// The file is not valid TOML.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The file's name as the user gave it.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// An environment variable that cannot become a value of its key.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable's name.
        var: String,
        /// What was wrong.
        reason: String,
    },
    /// A key with a value of the wrong type, an unknown key, or a value that failed a check.
    #[error("config key `{key}`{origin}: {reason}")]
    Invalid {
        /// Dotted key, e.g. `mqtt.url`.
        key: String,
        /// ` (from XPRESSIFY__MQTT__URL)` when an environment variable set it, else empty.
        origin: String,
        /// What was wrong.
        reason: String,
    },
}

impl ConfigError {
    /// The dotted key a value error is about (`None` for a file that is not TOML).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// A failed check on a loaded value, for a binary's own validation.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            origin: String::new(),
            reason: reason.into(),
        }
    }
}

/// The environment variable that overrides a dotted key: `mqtt.url` → `XPRESSIFY__MQTT__URL`.
pub fn env_var_for(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

/// Builds `T` from its defaults, then the file (`(name, text)`), then `XPRESSIFY__…`
/// variables from `env` (other variables are ignored). An environment value takes the type
/// of the key's default (`"1883"` stays a string for a string key); keys without a default
/// are read as a TOML value when they parse as one, else as a string.
pub fn load<T>(
    file: Option<(&str, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Serialize + Default,
{
    let defaults = match Value::try_from(T::default()) {
        Ok(Value::Table(t)) => t,
        _ => Table::new(),
    };
    let mut merged = defaults.clone();
    if let Some((name, text)) = file {
        let table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: name.to_string(),
            message: e.to_string().trim().to_string(),
        })?;
        merge(&mut merged, table);
    }
    let mut from_env: Vec<(String, String)> = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var,
                reason: "expected XPRESSIFY__<SECTION>__<KEY> with non-empty parts".into(),
            });
        }
        let value =
            typed_value(lookup(&defaults, &path), &raw).map_err(|reason| ConfigError::Env {
                var: var.clone(),
                reason,
            })?;
        insert(&mut merged, &path, value).map_err(|reason| ConfigError::Env {
            var: var.clone(),
            reason,
        })?;
        from_env.push((path.join("."), var));
    }
    serde_path_to_error::deserialize(Value::Table(merged)).map_err(|e| {
        let key = e.path().to_string();
        let origin = from_env
            .iter()
            .find(|(k, _)| *k == key || key.starts_with(&format!("{k}.")))
            .map(|(_, var)| format!(" (from {var})"))
            .unwrap_or_default();
        ConfigError::Invalid {
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            origin,
            reason: e.into_inner().to_string(),
        }
    })
}

/// The `[mqtt]` keys both binaries share, as read from their configuration.
#[derive(Debug, Clone, Copy)]
pub struct MqttKeys<'a> {
    /// `mqtt.url`.
    pub url: &'a str,
    /// `mqtt.prefix`.
    pub prefix: &'a str,
    /// `mqtt.username` (empty: anonymous).
    pub username: &'a str,
    /// `mqtt.password` (empty: none).
    pub password: &'a str,
    /// `mqtt.keep_alive_s`.
    pub keep_alive_s: u16,
    /// `mqtt.ca_file`: PEM certificates to trust for `mqtts://` (empty: the system's roots).
    pub ca_file: &'a str,
    /// `mqtt.client_cert_file`: PEM client certificate for brokers that want one (empty: none).
    pub client_cert_file: &'a str,
    /// `mqtt.client_key_file`: the client certificate's PEM private key.
    pub client_key_file: &'a str,
}

/// Minimum `mqtt.keep_alive_s`: shorter intervals flood a Pi's link with pings.
pub const MIN_KEEP_ALIVE_S: u16 = 5;

impl MqttKeys<'_> {
    /// Checks the shared keys and returns the broker address, naming the key at fault.
    pub fn check(&self) -> Result<BrokerUrl, ConfigError> {
        let url: BrokerUrl = self
            .url
            .parse()
            .map_err(|e| ConfigError::invalid("mqtt.url", e))?;
        if !url.tls {
            for (key, value) in [
                ("mqtt.ca_file", self.ca_file),
                ("mqtt.client_cert_file", self.client_cert_file),
                ("mqtt.client_key_file", self.client_key_file),
            ] {
                if !value.is_empty() {
                    return Err(ConfigError::invalid(
                        key,
                        format!("set, but mqtt.url {:?} is not mqtts:// (TLS)", self.url),
                    ));
                }
            }
        }
        if self.client_cert_file.is_empty() != self.client_key_file.is_empty() {
            return Err(ConfigError::invalid(
                if self.client_key_file.is_empty() {
                    "mqtt.client_key_file"
                } else {
                    "mqtt.client_cert_file"
                },
                "a client certificate needs both mqtt.client_cert_file and mqtt.client_key_file",
            ));
        }
        crate::Topics::new(self.prefix, "x").map_err(|_| {
            ConfigError::invalid(
                "mqtt.prefix",
                format!(
                    "{:?}: use non-empty levels separated by `/`, without `+` or `#`",
                    self.prefix
                ),
            )
        })?;
        if self.keep_alive_s < MIN_KEEP_ALIVE_S {
            return Err(ConfigError::invalid(
                "mqtt.keep_alive_s",
                format!(
                    "{} is below the minimum of {MIN_KEEP_ALIVE_S} seconds",
                    self.keep_alive_s
                ),
            ));
        }
        if self.username.is_empty() && !self.password.is_empty() {
            return Err(ConfigError::invalid(
                "mqtt.password",
                "set, but mqtt.username is empty",
            ));
        }
        Ok(url)
    }
}

/// The effective configuration as TOML, for `print-config` commands.
pub fn to_toml<T: Serialize>(config: &T) -> Result<String, ConfigError> {
    toml::to_string_pretty(config).map_err(|e| ConfigError::invalid("(top level)", e.to_string()))
}

fn merge(into: &mut Table, from: Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Table(dst)), Value::Table(src)) => merge(dst, src),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn lookup<'a>(table: &'a Table, path: &[String]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut t = table;
    for p in parents {
        t = t.get(p)?.as_table()?;
    }
    t.get(last)
}

fn insert(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".into());
    };
    let mut t = table;
    for p in parents {
        t = t
            .entry(p.clone())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is a value, not a section"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

/// `raw` as a TOML string when it is a duration with a unit.
fn duration_text(raw: &str) -> Result<Value, ()> {
    crate::duration::parse(raw)
        .map(|_| Value::String(raw.trim().to_string()))
        .map_err(|_| ())
}

fn typed_value(default: Option<&Value>, raw: &str) -> Result<Value, String> {
    let parse_toml = |s: &str| -> Option<Value> {
        toml::from_str::<Table>(&format!("v = {s}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    match default {
        Some(Value::String(_)) => Ok(Value::String(raw.to_string())),
        // A duration key also takes a number with a unit ("30s"): passed on as text, for
        // the key's own deserializer (crate::duration) to read; any other key refuses it there.
        Some(Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .or_else(|_| duration_text(raw))
            .map_err(|_| format!("expected an integer, got {raw:?}")),
        Some(Value::Float(_)) => raw
            .trim()
            .parse::<f64>()
            .map(Value::Float)
            .or_else(|_| duration_text(raw))
            .map_err(|_| format!("expected a number, got {raw:?}")),
        Some(Value::Boolean(_)) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        Some(Value::Array(_)) => match parse_toml(raw) {
            Some(v @ Value::Array(_)) => Ok(v),
            _ => Err(format!(
                "expected a TOML array such as [\"a\", \"b\"], got {raw:?}"
            )),
        },
        Some(Value::Table(_)) => Err("this is a section; set its keys one by one".into()),
        _ => Ok(parse_toml(raw).unwrap_or_else(|| Value::String(raw.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Conf {
        mqtt: Mqtt,
        tags: Vec<String>,
        api_key: Option<String>,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Mqtt {
        url: String,
        device_id: String,
        port: u16,
        tls: bool,
        rate_hz: f64,
    }

    impl Default for Mqtt {
        fn default() -> Self {
            Mqtt {
                url: "mqtt://127.0.0.1:1883".into(),
                device_id: "box".into(),
                port: 1883,
                tls: false,
                rate_hz: 1.0,
            }
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let file = "tags = [\"a\"]\n[mqtt]\nport = 1884\ntls = true\n";
        let c: Conf = load(
            Some(("x.toml", file)),
            env(&[
                ("XPRESSIFY__MQTT__DEVICE_ID", "123"),
                ("XPRESSIFY__MQTT__RATE_HZ", "2.5"),
                ("XPRESSIFY__API_KEY", "secret"),
                ("HOME", "/root"),
            ]),
        )
        .expect("valid");
        assert_eq!(c.mqtt.device_id, "123", "string keys stay strings");
        assert_eq!((c.mqtt.port, c.mqtt.tls, c.mqtt.rate_hz), (1884, true, 2.5));
        assert_eq!(c.mqtt.url, "mqtt://127.0.0.1:1883");
        assert_eq!(c.tags, ["a"]);
        assert_eq!(c.api_key.as_deref(), Some("secret"));
    }

    #[test]
    fn errors_name_the_key() {
        let err = load::<Conf>(Some(("x.toml", "[mqtt]\nport = \"high\"\n")), env(&[]))
            .expect_err("wrong type");
        assert!(err.to_string().contains("`mqtt.port`"), "{err}");

        let err = load::<Conf>(Some(("x.toml", "[mqtt]\nurll = 1\n")), env(&[]))
            .expect_err("unknown key");
        assert!(err.to_string().contains("urll"), "{err}");

        let err = load::<Conf>(None, env(&[("XPRESSIFY__MQTT__PORT", "99999")]))
            .expect_err("out of range");
        assert!(
            err.to_string()
                .contains("`mqtt.port` (from XPRESSIFY__MQTT__PORT)"),
            "{err}"
        );

        let err =
            load::<Conf>(None, env(&[("XPRESSIFY__MQTT__TLS", "maybe")])).expect_err("not a bool");
        assert!(err.to_string().contains("XPRESSIFY__MQTT__TLS"), "{err}");

        let err = load::<Conf>(Some(("x.toml", "[mqtt\n")), env(&[])).expect_err("syntax");
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    }

    #[test]
    fn env_var_names_follow_keys() {
        assert_eq!(env_var_for("mqtt.url"), "XPRESSIFY__MQTT__URL");
    }
}
