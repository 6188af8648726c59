//! The companion's configuration: `--config FILE` (TOML), overridden by `XPRESSIFY__…`
//! variables, checked at start so a wrong value is refused with its key's name.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use xpressify_protocol::BrokerUrl;
use xpressify_protocol::client;
use xpressify_protocol::config::{self, ConfigError, MqttKeys};
use xpressify_protocol::topics::DEFAULT_PREFIX;

/// Everything the companion reads at start. Sections mirror `config/companion.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompanionConfig {
    /// How to reach the broker that the devices publish to.
    pub mqtt: MqttConfig,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]`, or `mqtts://HOST[:PORT]` for TLS.
    pub url: String,
    /// First topic level(s) the devices publish under.
    pub prefix: String,
    /// MQTT client id; must differ between companions on one broker.
    pub client_id: String,
    /// Broker user name; empty for none.
    pub username: String,
    /// Broker password; empty for none. Never logged.
    pub password: String,
    /// Seconds between keep-alive pings.
    pub keep_alive_s: u16,
    /// PEM CA certificate(s) to trust for `mqtts://`; empty uses the system's roots.
    pub ca_file: String,
    /// PEM client certificate, for brokers that authenticate clients by certificate.
    pub client_cert_file: String,
    /// The client certificate's PEM private key.
    pub client_key_file: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            prefix: DEFAULT_PREFIX.into(),
            client_id: "xpressify-companion".into(),
            username: String::new(),
            password: String::new(),
            keep_alive_s: 30,
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
        }
    }
}

impl CompanionConfig {
    /// Reads `path` (if given) and the process environment, then validates.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let text = path
            .map(|p| {
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))
            })
            .transpose()?;
        let name = path.map(|p| p.display().to_string()).unwrap_or_default();
        let config: CompanionConfig = config::load(
            text.as_deref().map(|t| (name.as_str(), t)),
            std::env::vars(),
        )?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values serde cannot: formats, ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.mqtt_options()?;
        let id = &self.mqtt.client_id;
        if id.is_empty() || id.len() > 64 {
            return Err(ConfigError::invalid(
                "mqtt.client_id",
                "must be 1 to 64 characters",
            ));
        }
        Ok(())
    }

    /// The broker address, checked.
    pub fn broker(&self) -> Result<BrokerUrl, ConfigError> {
        self.mqtt_keys().check()
    }

    /// Connection options (credentials, keep-alive, TLS), checked; TLS files are read here.
    pub fn mqtt_options(&self) -> Result<rumqttc::MqttOptions, ConfigError> {
        client::mqtt_options(&self.mqtt_keys(), &self.mqtt.client_id)
    }

    fn mqtt_keys(&self) -> MqttKeys<'_> {
        MqttKeys {
            url: &self.mqtt.url,
            prefix: &self.mqtt.prefix,
            username: &self.mqtt.username,
            password: &self.mqtt.password,
            keep_alive_s: self.mqtt.keep_alive_s,
            ca_file: &self.mqtt.ca_file,
            client_cert_file: &self.mqtt.client_cert_file,
            client_key_file: &self.mqtt.client_key_file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../config/companion.toml");
        let c: CompanionConfig =
            config::load(Some(("companion.toml", text)), Vec::new()).expect("loads");
        c.validate().expect("valid");
    }

    #[test]
    fn bad_values_name_their_key() {
        let c: CompanionConfig = config::load(
            None,
            vec![("XPRESSIFY__MQTT__URL".to_string(), "broker".to_string())],
        )
        .expect("types are fine");
        let err = c.validate().expect_err("no scheme").to_string();
        assert!(err.contains("mqtt.url"), "{err}");
    }
}
