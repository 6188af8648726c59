//! Home Assistant MQTT discovery: the retained config messages that make a device appear in
//! Home Assistant with its entities, without any YAML on the user's side.

use serde_json::{Value, json};

use crate::{Command, Emotion, Topics};

/// Home Assistant's default discovery prefix.
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";

/// Home Assistant publishes `online` here when it (re)starts; devices then re-announce.
pub fn status_topic(discovery_prefix: &str) -> String {
    format!("{discovery_prefix}/status")
}

/// What Home Assistant shows on the device page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Human name, e.g. "Kitchen music box".
    pub name: String,
    /// Hardware or product model, e.g. "Xpressify on Raspberry Pi".
    pub model: String,
    /// Software version of the publisher.
    pub sw_version: String,
}

/// One retained discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryMessage {
    /// `<discovery_prefix>/<component>/xpressify_<device_id>/<object>/config`.
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

/// The buttons announced for every device.
pub const BUTTONS: [Command; 3] = [Command::Skip, Command::Like, Command::Dislike];

/// All discovery messages of one device: an `enum` emotion sensor with the seven options, a
/// confidence sensor in %, a face-present binary sensor and skip / like / dislike buttons,
/// sharing one `device` block and the availability topic.
pub fn discovery_messages(
    discovery_prefix: &str,
    topics: &Topics,
    info: &DeviceInfo,
) -> Vec<DiscoveryMessage> {
    let id = topics.device_id();
    let node = format!("xpressify_{id}");
    let device = json!({
        "identifiers": [node],
        "name": info.name,
        "manufacturer": "Xpressify",
        "model": info.model,
        "sw_version": info.sw_version,
    });
    let common = |name: &str, object: &str| {
        json!({
            "name": name,
            "unique_id": format!("{node}_{object}"),
            "availability_topic": topics.availability(),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        })
    };
    let entity = |component: &str, object: &str, mut payload: Value, extra: Value| {
        if let (Some(obj), Value::Object(more)) = (payload.as_object_mut(), extra) {
            obj.extend(more);
        }
        DiscoveryMessage {
            topic: format!("{discovery_prefix}/{component}/{node}/{object}/config"),
            payload,
        }
    };
    let options: Vec<&str> = Emotion::ALL.iter().map(|e| e.as_str()).collect();
    let mut messages = vec![
        entity(
            "sensor",
            "emotion",
            common("Emotion", "emotion"),
            json!({
                "state_topic": topics.mood(),
                "device_class": "enum",
                "options": options,
                // "None" makes Home Assistant show `unknown` while no face is seen.
                "value_template": "{{ value_json.emotion or 'None' }}",
                "json_attributes_topic": topics.mood(),
                "json_attributes_template": "{{ {'faces': value_json.faces, 'seq': value_json.seq} | tojson }}",
                "icon": "mdi:emoticon-outline",
            }),
        ),
        entity(
            "sensor",
            "confidence",
            common("Confidence", "confidence"),
            json!({
                "state_topic": topics.mood(),
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
                "icon": "mdi:gauge",
            }),
        ),
        entity(
            "binary_sensor",
            "face",
            common("Face present", "face"),
            json!({
                "state_topic": topics.mood(),
                "device_class": "occupancy",
                "value_template": "{{ 'ON' if value_json.faces > 0 else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        ),
    ];
    for button in BUTTONS {
        let name = button.name();
        let label = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
        messages.push(entity(
            "button",
            name,
            common(&label, name),
            json!({
                "command_topic": topics.command(),
                "payload_press": String::from_utf8_lossy(&button.encode()),
            }),
        ));
    }
    messages
}

/// Empty retained payloads on every discovery topic: removes the device from Home Assistant.
pub fn removal_messages(discovery_prefix: &str, topics: &Topics) -> Vec<(String, Vec<u8>)> {
    let info = DeviceInfo {
        name: String::new(),
        model: String::new(),
        sw_version: String::new(),
    };
    discovery_messages(discovery_prefix, topics, &info)
        .into_iter()
        .map(|m| (m.topic, Vec::new()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Vec<DiscoveryMessage> {
        let topics = Topics::new("xpressify", "kitchen").expect("valid");
        let info = DeviceInfo {
            name: "Kitchen".into(),
            model: "Pi 4".into(),
            sw_version: "0.1.0".into(),
        };
        discovery_messages(DEFAULT_DISCOVERY_PREFIX, &topics, &info)
    }

    #[test]
    fn announces_sensors_and_buttons_with_one_device_block() {
        let msgs = messages();
        let topics: Vec<&str> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/sensor/xpressify_kitchen/emotion/config",
                "homeassistant/sensor/xpressify_kitchen/confidence/config",
                "homeassistant/binary_sensor/xpressify_kitchen/face/config",
                "homeassistant/button/xpressify_kitchen/skip/config",
                "homeassistant/button/xpressify_kitchen/like/config",
                "homeassistant/button/xpressify_kitchen/dislike/config",
            ]
        );
        let device = &msgs[0].payload["device"];
        for m in &msgs {
            assert_eq!(&m.payload["device"], device);
            assert_eq!(
                m.payload["availability_topic"],
                "xpressify/kitchen/availability"
            );
        }
        assert_eq!(
            msgs[0].payload["options"],
            json!([
                "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"
            ])
        );
        assert_eq!(msgs[1].payload["unit_of_measurement"], "%");
    }

    #[test]
    fn button_payloads_decode_as_commands() {
        for (m, button) in messages()[3..].iter().zip(BUTTONS) {
            let payload = m.payload["payload_press"].as_str().unwrap_or_default();
            assert_eq!(Command::decode(payload.as_bytes()).ok(), Some(button));
        }
    }
}
