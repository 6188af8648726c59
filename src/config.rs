//! The one-box configuration: `[broker]`, and the device's and the companion's own settings
//! under `[device.…]` and `[companion.…]` (every key of config/device.toml and
//! config/companion.toml, one level down). Environment variables override keys the same way:
//! `XPRESSIFY__DEVICE__CAMERA__SOURCE=demo`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use xpressify_companion::config::CompanionConfig;
use xpressify_device::config::DeviceConfig;

use crate::broker::BrokerSettings;

/// Everything the box runs with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BoxConfig {
    /// The embedded MQTT broker.
    pub broker: BrokerSettings,
    /// The camera → mood half.
    pub device: DeviceConfig,
    /// The mood → music half.
    pub companion: CompanionConfig,
}

impl BoxConfig {
    /// Reads `path` (if given) and the process environment, connects both halves to the
    /// embedded broker when it is enabled, then validates each half.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config: BoxConfig = xpressify_protocol::cli::read_config(path)?;
        xpressify_protocol::secret::fill_from_file(
            &mut config.broker.password,
            &config.broker.password_file,
            "broker.password",
            "broker.password_file",
        )?;
        for (i, account) in config.broker.accounts.iter_mut().enumerate() {
            xpressify_protocol::secret::fill_from_file(
                &mut account.password,
                &account.password_file,
                &format!("broker.accounts[{i}].password"),
                &format!("broker.accounts[{i}].password_file"),
            )?;
        }
        config.device.read_secret_files().context("in [device]")?;
        config
            .companion
            .read_secret_files()
            .context("in [companion]")?;
        config.connect_to_own_broker()?;
        // Home Assistant links the camera to this box's page.
        if config.device.homeassistant.configuration_url.is_empty()
            && let Some(url) = config.companion.page_url()
        {
            config.device.homeassistant.configuration_url = url;
        }
        config.validate()?;
        Ok(config)
    }

    /// With the embedded broker on, both halves use it (with its login, if one is set),
    /// whatever their `[*.mqtt]` sections say about URL and credentials.
    pub fn connect_to_own_broker(&mut self) -> anyhow::Result<()> {
        if !self.broker.enabled {
            return Ok(());
        }
        let url = self.broker.client_url()?;
        let (user, password) = (&self.broker.username, &self.broker.password);
        self.device.mqtt.url = url.clone();
        self.device.mqtt.username = user.clone();
        self.device.mqtt.password = password.clone();
        self.companion.mqtt.url = url;
        self.companion.mqtt.username = user.clone();
        self.companion.mqtt.password = password.clone();
        // The two halves share the prefix so the companion hears the device.
        self.companion.mqtt.prefix = self.device.mqtt.prefix.clone();
        Ok(())
    }

    /// Both halves' own checks, with the section named in the error.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.broker.enabled {
            let addr = self.broker.listen_addr()?;
            // Whoever can publish `…/command` can steer the music: a broker open to the LAN
            // must want a login.
            anyhow::ensure!(
                addr.ip().is_loopback()
                    || (!self.broker.username.is_empty() && !self.broker.password.is_empty()),
                "config key `broker.listen`: {addr} opens the broker to the network, so it needs a login: set broker.username and broker.password (the box's own clients use them by themselves), or listen on 127.0.0.1"
            );
            anyhow::ensure!(
                self.broker.username.is_empty() == self.broker.password.is_empty(),
                "config keys `broker.username` and `broker.password`: set both, or neither"
            );
            // Room for the topic and headers: a bigger message would cost the box's own
            // clients their connection (see xpressify_protocol::client::MAX_PACKET_BYTES).
            let most = xpressify_protocol::client::MAX_PACKET_BYTES - 64 * 1024;
            anyhow::ensure!(
                (1024..=most).contains(&self.broker.max_payload_bytes),
                "config key `broker.max_payload_bytes`: {} is out of range (1024 to {most})",
                self.broker.max_payload_bytes
            );
        }
        if self.broker.enabled {
            self.validate_accounts()?;
        }
        self.device.validate().context("in [device]")?;
        self.companion.validate().context("in [companion]")?;
        Ok(())
    }

    /// `broker.accounts`: the box's own login set, names that can be device ids, each once,
    /// each with a password.
    fn validate_accounts(&self) -> anyhow::Result<()> {
        let accounts = &self.broker.accounts;
        if accounts.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            !self.broker.username.is_empty(),
            "config key `broker.accounts`: set broker.username and broker.password too (the box's own login, which its own clients use)"
        );
        let mut seen = std::collections::HashSet::from([self.broker.username.as_str()]);
        for (i, a) in accounts.iter().enumerate() {
            xpressify_protocol::topics::checked_device_id(a.username.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "config key `broker.accounts[{i}].username`: {e} (a device's account is named as its mqtt.device_id)"
                )
            })?;
            anyhow::ensure!(
                seen.insert(a.username.as_str()),
                "config key `broker.accounts[{i}].username`: {:?} is used twice (or is broker.username)",
                a.username
            );
            anyhow::ensure!(
                !a.password.is_empty(),
                "config key `broker.accounts[{i}].password`: set it, or password_file"
            );
        }
        Ok(())
    }
}
