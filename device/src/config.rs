//! The device's configuration: `--config FILE` (TOML), overridden by `XPRESSIFY__…` variables,
//! checked at start so a wrong value is refused with its key's name.

use std::path::Path;
use xpressify_protocol::Secret;

use serde::{Deserialize, Serialize};
use xpressify_protocol::client;
use xpressify_protocol::config::{ConfigError, MqttKeys};
use xpressify_protocol::discovery::DEFAULT_DISCOVERY_PREFIX;
use xpressify_protocol::topics::{DEFAULT_PREFIX, checked_device_id};
use xpressify_protocol::{BrokerUrl, Topics};

use crate::buttons::ButtonsConfig;
use crate::display::thread::DisplayConfig;
use crate::privacy::PrivacyConfig;
use crate::vision::classify::ClassifierConfig;
use crate::vision::detect::DetectorConfig;
use crate::vision::mood::TrackerConfig;

/// Everything the device reads at start. Sections mirror `config/device.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// How to reach the broker and who this device is on it.
    pub mqtt: MqttConfig,
    /// Home Assistant discovery.
    pub homeassistant: HomeAssistantConfig,
    /// The face detector.
    pub detector: DetectorConfig,
    /// The emotion model.
    pub classifier: ClassifierConfig,
    /// Smoothing and hysteresis of the announced mood.
    pub mood: TrackerConfig,
    /// Where frames come from.
    pub camera: CameraConfig,
    /// The attached screen.
    pub display: DisplayConfig,
    /// Push buttons and the status LED.
    pub buttons: ButtonsConfig,
    /// The privacy switch.
    pub privacy: PrivacyConfig,
    /// Prometheus figures on `GET /metrics` (off unless `listen` is set).
    pub metrics: crate::telemetry::MetricsConfig,
}

/// Where frames come from (`camera.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraSourceKind {
    /// A USB or CSI camera through V4L2.
    V4l2,
    /// Images from disk, played like a camera.
    Files,
    /// A drawn face acting the seven emotions in turn.
    Demo,
}

/// `[camera]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraConfig {
    /// `v4l2`: a camera; `files`: images from disk played like a camera; `demo`: a drawn
    /// face acting the seven emotions in turn.
    pub source: CameraSourceKind,
    /// For `v4l2`: the device node.
    pub device: String,
    /// For `v4l2`: requested frame size (the camera may choose a near one).
    pub width: u32,
    /// For `v4l2`: requested frame height.
    pub height: u32,
    /// For `v4l2`: `mjpeg` or `yuyv`.
    pub format: crate::camera::pixels::PixelFormat,
    /// For `files`: an image, a folder of PNG/JPEG images, or a glob pattern.
    pub path: String,
    /// Frames per second to deliver.
    pub fps: f32,
    /// For `files`: start again after the last image.
    #[serde(rename = "loop")]
    pub looping: bool,
    /// For `demo`: seconds the face holds each expression.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f32")]
    pub demo_hold_s: f32,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            source: CameraSourceKind::V4l2,
            device: "/dev/video0".into(),
            width: 640,
            height: 480,
            format: crate::camera::pixels::PixelFormat::Mjpeg,
            path: "frames".into(),
            fps: 10.0,
            looping: true,
            demo_hold_s: 12.0,
        }
    }
}

/// `[mqtt]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://HOST[:PORT]`, or `mqtts://HOST[:PORT]` for TLS.
    pub url: String,
    /// This box's id in topics and in Home Assistant (letters, digits, `_`, `-`).
    pub device_id: String,
    /// First topic level(s).
    pub prefix: String,
    /// Broker user name; empty for none.
    pub username: String,
    /// Broker password; empty for none. Never logged.
    pub password: Secret,
    /// A file holding the password instead (or a systemd credential's name).
    pub password_file: String,
    /// Seconds between keep-alive pings; the broker declares the device offline after 1.5×.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_u16")]
    pub keep_alive_s: u16,
    /// PEM CA certificate(s) to trust for `mqtts://`; empty uses the system's roots.
    pub ca_file: String,
    /// PEM client certificate, for brokers that authenticate clients by certificate.
    pub client_cert_file: String,
    /// The client certificate's PEM private key.
    pub client_key_file: String,
    /// `probabilities` messages per second (0 turns them off).
    pub probabilities_hz: f32,
    /// Seconds between `diagnostics` reports (0 turns them off).
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_u16")]
    pub diagnostics_s: u16,
    /// Shortest time in seconds between two publications of an unchanged mood whose
    /// confidence moved by 5 points (0: publish the mood only when it changes).
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_u16")]
    pub mood_refresh_s: u16,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            device_id: "xpressify".into(),
            prefix: DEFAULT_PREFIX.into(),
            username: String::new(),
            password: Secret::default(),
            password_file: String::new(),
            keep_alive_s: 30,
            ca_file: String::new(),
            client_cert_file: String::new(),
            client_key_file: String::new(),
            probabilities_hz: 1.0,
            diagnostics_s: 30,
            mood_refresh_s: 10,
        }
    }
}

/// `[homeassistant]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistantConfig {
    /// Publish discovery messages so Home Assistant adds the device by itself.
    pub discovery: bool,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// The device's name in Home Assistant; empty: its id in words ("living-room" →
    /// "Living room camera").
    pub name: String,
    /// The companion's page, linked from the device in Home Assistant ("Visit"); empty for
    /// none.
    pub configuration_url: String,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        HomeAssistantConfig {
            discovery: true,
            discovery_prefix: DEFAULT_DISCOVERY_PREFIX.into(),
            name: String::new(),
            configuration_url: String::new(),
        }
    }
}

impl CameraConfig {
    /// The configured source, ready to deliver frames.
    pub fn open(
        &self,
    ) -> Result<Box<dyn crate::camera::FrameSource + Send>, crate::camera::SourceError> {
        Ok(match self.source {
            CameraSourceKind::Files => Box::new(crate::camera::FileSource::open(
                &self.path,
                self.fps,
                self.looping,
            )?),
            CameraSourceKind::Demo => Box::new(crate::camera::DemoSource::new(
                self.fps,
                std::time::Duration::from_secs_f32(self.demo_hold_s),
            )),
            CameraSourceKind::V4l2 => Box::new(crate::camera::CameraSource::new(
                self.device.clone().into(),
                self.width,
                self.height,
                self.fps.round().max(1.0) as u32,
                self.format,
            )),
        })
    }
}

impl DeviceConfig {
    /// Reads `path` (if given) and the process environment, then validates.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut config: DeviceConfig = xpressify_protocol::cli::read_config(path)?;
        config.read_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    /// Fills secrets from their `*_file` keys.
    pub fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        xpressify_protocol::secret::fill_from_file(
            &mut self.mqtt.password,
            &self.mqtt.password_file,
            "mqtt.password",
            "mqtt.password_file",
        )
    }

    /// Checks values serde cannot: formats, ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.mqtt_options()?;
        self.classifier.validate()?;
        self.buttons
            .roles()
            .map_err(|e| ConfigError::invalid("buttons.pins", e))?;
        checked_device_id(self.mqtt.device_id.clone())
            .map_err(|e| ConfigError::invalid("mqtt.device_id", e.to_string()))?;
        if !(self.camera.demo_hold_s.is_finite()
            && (0.1..=3600.0).contains(&self.camera.demo_hold_s))
        {
            return Err(ConfigError::invalid(
                "camera.demo_hold_s",
                format!("{}: use 0.1 to 3600 seconds", self.camera.demo_hold_s),
            ));
        }
        let (w, h) = (self.camera.width, self.camera.height);
        if !(16..=4096).contains(&w) || !(16..=4096).contains(&h) || !w.is_multiple_of(2) {
            return Err(ConfigError::invalid(
                "camera.width",
                format!("{w}x{h} is not a camera size (even width, 16 to 4096)"),
            ));
        }
        if !(self.camera.fps.is_finite() && self.camera.fps > 0.0 && self.camera.fps <= 120.0) {
            return Err(ConfigError::invalid(
                "camera.fps",
                format!("{} must be above 0 and at most 120", self.camera.fps),
            ));
        }
        if !(self.mqtt.probabilities_hz.is_finite()
            && (0.0..=50.0).contains(&self.mqtt.probabilities_hz))
        {
            return Err(ConfigError::invalid(
                "mqtt.probabilities_hz",
                format!("{} must be 0 to 50", self.mqtt.probabilities_hz),
            ));
        }
        self.detector
            .validate()
            .and_then(|()| self.mood.validate())?;
        if !self.metrics.listen.is_empty() {
            self.metrics_addr()?;
        }
        let url = &self.homeassistant.configuration_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "homeassistant.configuration_url",
                format!(
                    "{url:?}: use an http:// or https:// address, e.g. http://192.168.1.20:8080/"
                ),
            ));
        }
        Topics::new(self.homeassistant.discovery_prefix.clone(), "x").map_err(|_| {
            ConfigError::invalid(
                "homeassistant.discovery_prefix",
                "use non-empty levels separated by `/`, without `+` or `#`",
            )
        })?;
        Ok(())
    }

    fn mqtt_keys(&self) -> MqttKeys<'_> {
        MqttKeys {
            url: &self.mqtt.url,
            prefix: &self.mqtt.prefix,
            username: &self.mqtt.username,
            password: self.mqtt.password.expose(),
            keep_alive_s: self.mqtt.keep_alive_s,
            ca_file: &self.mqtt.ca_file,
            client_cert_file: &self.mqtt.client_cert_file,
            client_key_file: &self.mqtt.client_key_file,
        }
    }

    /// The device's topics.
    pub fn topics(&self) -> Result<Topics, xpressify_protocol::DecodeError> {
        Topics::new(self.mqtt.prefix.clone(), self.mqtt.device_id.clone())
    }

    /// The broker address.
    pub fn broker(&self) -> Result<BrokerUrl, ConfigError> {
        self.mqtt_keys().check()
    }

    /// The MQTT client id: one per device on a broker.
    pub fn client_id(&self) -> String {
        format!("xpressify-device-{}", self.mqtt.device_id)
    }

    /// Connection options (credentials, keep-alive, TLS), checked; TLS files are read here.
    pub fn mqtt_options(&self) -> Result<rumqttc::MqttOptions, ConfigError> {
        client::mqtt_options(&self.mqtt_keys(), &self.client_id())
    }

    /// `metrics.listen`, checked; `None` when empty (no listener).
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, ConfigError> {
        if self.metrics.listen.is_empty() {
            return Ok(None);
        }
        self.metrics.listen.parse().map(Some).map_err(|_| {
            ConfigError::invalid(
                "metrics.listen",
                format!(
                    "{:?}: expected ADDRESS:PORT such as 0.0.0.0:9101, or empty for none",
                    self.metrics.listen
                ),
            )
        })
    }

    /// The name Home Assistant shows.
    pub fn display_name(&self) -> String {
        if self.homeassistant.name.is_empty() {
            xpressify_protocol::discovery::device::default_name(&self.mqtt.device_id)
        } else {
            self.homeassistant.name.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::config;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<DeviceConfig, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let c: DeviceConfig = config::load(Some(("device.toml", text)), env)?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../config/device.toml");
        let c = load(text, &[]).expect("config/device.toml must load");
        assert_eq!(c.mqtt.device_id, "living-room");
    }

    /// `--help` shows the example file as the list of keys: it must hold every one.
    #[test]
    fn the_example_file_documents_every_key() {
        let example: toml::Table =
            toml::from_str(include_str!("../../config/device.toml")).expect("TOML");
        let defaults = toml::Table::try_from(DeviceConfig::default()).expect("serialisable");
        for (section, keys) in &defaults {
            let keys = keys.as_table().expect("sections are tables");
            for key in keys.keys() {
                assert!(
                    example.get(section).and_then(|s| s.get(key)).is_some(),
                    "config/device.toml lacks {section}.{key}"
                );
            }
        }
    }

    #[test]
    fn env_overrides_the_file() {
        let c = load(
            "[mqtt]\ndevice_id = \"a\"\n",
            &[("XPRESSIFY__MQTT__DEVICE_ID", "kitchen")],
        )
        .expect("valid");
        assert_eq!(c.mqtt.device_id, "kitchen");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[mqtt]\nurl = \"localhost\"\n", "mqtt.url"),
            ("[mqtt]\ndevice_id = \"a/b\"\n", "mqtt.device_id"),
            ("[mqtt]\nkeep_alive_s = 1\n", "mqtt.keep_alive_s"),
            ("[mqtt]\npassword = \"x\"\n", "mqtt.password"),
            ("[mqtt]\nkeepalive = 3\n", "mqtt"),
            ("[mqtt]\nprefix = \"a/#\"\n", "mqtt.prefix"),
        ] {
            let err = load(text, &[]).expect_err(text).to_string();
            assert!(err.contains(key), "{text:?} gave {err}");
        }
    }
}
