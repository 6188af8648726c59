//! Home Assistant MQTT discovery: the retained config messages that make a device appear in
//! Home Assistant with its entities, without any YAML on the user's side.
//!
//! [`Node`] holds what every entity of one Home Assistant device shares (the `device` block,
//! availability); [`device`] lists the camera box's entities, [`music`] those of each room of
//! the companion. The payloads use only keys and
//! template features of Home Assistant 2024.10 and later (see docs/home-assistant.md).

use serde_json::{Value, json};

use crate::Command;

pub mod device;
pub mod music;

pub use device::{BUTTONS, DeviceFeatures, discovery_messages, removal_messages};

/// Home Assistant's default discovery prefix.
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";

/// What a template renders to make Home Assistant show `unknown` (its `PAYLOAD_NONE`).
pub const PAYLOAD_NONE: &str = "None";

/// Home Assistant publishes `online` here when it (re)starts; devices then re-announce.
pub fn status_topic(discovery_prefix: &str) -> String {
    format!("{discovery_prefix}/status")
}

/// What Home Assistant shows on the device page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Human name, e.g. "Kitchen camera".
    pub name: String,
    /// Hardware or product model, e.g. "Xpressify device (aarch64)".
    pub model: String,
    /// Software version of the publisher.
    pub sw_version: String,
    /// Where its settings are (the companion's page), shown as "Visit" in Home Assistant.
    pub configuration_url: Option<String>,
}

/// One retained discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryMessage {
    /// `<discovery_prefix>/<component>/<node id>/<object>/config`.
    pub topic: String,
    /// The JSON config (an empty payload removes the entity).
    pub payload: Value,
}

impl DiscoveryMessage {
    /// The payload bytes to publish (retained).
    pub fn encode(&self) -> Vec<u8> {
        crate::to_json(&self.payload)
    }
}

/// One Home Assistant device: its node id, `device` block and availability topic, shared by
/// every entity it announces.
#[derive(Debug, Clone)]
pub struct Node {
    discovery_prefix: String,
    node_id: String,
    device: Value,
    availability_topic: String,
}

impl Node {
    /// A node `node_id` (also its device identifier) whose entities are available while
    /// `availability_topic` says `online`.
    pub fn new(
        discovery_prefix: &str,
        node_id: String,
        info: &DeviceInfo,
        availability_topic: String,
    ) -> Self {
        let mut device = json!({
            "identifiers": [node_id],
            "name": info.name,
            "manufacturer": "Xpressify",
            "model": info.model,
            "sw_version": info.sw_version,
        });
        if let (Some(url), Some(obj)) = (&info.configuration_url, device.as_object_mut()) {
            obj.insert("configuration_url".into(), json!(url));
        }
        Node {
            discovery_prefix: discovery_prefix.to_string(),
            node_id,
            device,
            availability_topic,
        }
    }

    /// The entity `object` of `component` (`sensor`, `button`, …) named `name`, with the
    /// component's own keys in `extra`.
    pub fn entity(
        &self,
        component: &str,
        object: &str,
        name: &str,
        extra: Value,
    ) -> DiscoveryMessage {
        let mut payload = json!({
            "name": name,
            "unique_id": format!("{}_{object}", self.node_id),
            "availability_topic": self.availability_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": self.device,
        });
        merge(&mut payload, extra);
        DiscoveryMessage {
            topic: format!(
                "{}/{component}/{}/{object}/config",
                self.discovery_prefix, self.node_id
            ),
            payload,
        }
    }

    /// The same with `entity_category: diagnostic` (shown apart, under "Diagnostic").
    pub fn diagnostic(
        &self,
        component: &str,
        object: &str,
        name: &str,
        extra: Value,
    ) -> DiscoveryMessage {
        let mut m = self.entity(component, object, name, extra);
        merge(&mut m.payload, json!({"entity_category": "diagnostic"}));
        m
    }
}

impl Node {
    /// A `button` per command, each sending its command's JSON to `command_topic`, named
    /// after it ("skip" → "Skip").
    pub fn buttons(&self, commands: &[Command], command_topic: &str) -> Vec<DiscoveryMessage> {
        commands
            .iter()
            .map(|button| {
                let name = button.name();
                let label = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
                self.entity(
                    "button",
                    name,
                    &label,
                    json!({
                        "command_topic": command_topic,
                        "payload_press": String::from_utf8_lossy(&button.encode()),
                    }),
                )
            })
            .collect()
    }
}

/// Adds the keys of `extra` (an object) to `payload` (an object).
pub fn merge(payload: &mut Value, extra: Value) {
    if let (Some(obj), Value::Object(more)) = (payload.as_object_mut(), extra) {
        obj.extend(more);
    }
}

/// Empty retained payloads on the topics of `messages`: removes those entities.
pub fn removals(messages: Vec<DiscoveryMessage>) -> Vec<(String, Vec<u8>)> {
    messages
        .into_iter()
        .map(|m| (m.topic, Vec::new()))
        .collect()
}

/// A template that renders `field` of the JSON payload rounded to one decimal, or
/// [`PAYLOAD_NONE`] when it is null.
pub fn optional_number(field: &str) -> String {
    format!(
        "{{{{ '{PAYLOAD_NONE}' if value_json.{field} is none else (value_json.{field} | round(1)) }}}}"
    )
}
