//! The camera box as a Home Assistant device: its mood (an `enum` sensor with the
//! probabilities as attributes, a confidence sensor, a face sensor and an `event` entity that
//! fires once per change), the privacy switch, the music buttons, and diagnostic sensors.

use serde_json::{Value, json};

use super::{DeviceInfo, DiscoveryMessage, Node, PAYLOAD_NONE, optional_number};
use crate::diagnostics::CameraStatus;
use crate::{CameraState, Command, Emotion, Topics};

/// The buttons announced for every device.
pub const BUTTONS: [Command; 3] = [Command::Skip, Command::Like, Command::Dislike];

/// What a device has beyond the entities every device announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceFeatures {
    /// The CPU temperature can be read (`/sys/class/thermal`): announce a sensor for it.
    pub cpu_temperature: bool,
}

/// A device's name when none is configured: its id in words ("living-room" → "Living room
/// camera"; the one-box's default id "xpressify" → "Xpressify camera").
pub fn default_name(device_id: &str) -> String {
    let words = device_id.replace(['-', '_'], " ");
    let mut chars = words.trim().chars();
    let title: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Xpressify".into(),
    };
    format!("{title} camera")
}

/// The emotion sensor's attributes: faces, confidence, whether the camera is paused, the
/// message's seq and the seven smoothed probabilities by name.
fn attributes_template() -> String {
    let probabilities: Vec<String> = Emotion::ALL
        .iter()
        .map(|e| format!("'{e}': value_json.probabilities[{}]", e.index()))
        .collect();
    format!(
        "{{{{ {{'faces': value_json.faces, 'confidence': value_json.confidence, 'paused': value_json.paused, 'seq': value_json.seq, 'probabilities': {{{}}}}} | tojson }}}}",
        probabilities.join(", ")
    )
}

/// All discovery messages of one device, sharing one `device` block and the availability
/// topic.
pub fn discovery_messages(
    discovery_prefix: &str,
    topics: &Topics,
    info: &DeviceInfo,
    features: DeviceFeatures,
) -> Vec<DiscoveryMessage> {
    let node = Node::new(
        discovery_prefix,
        format!("xpressify_{}", topics.device_id()),
        info,
        topics.availability(),
    );
    let options: Vec<&str> = Emotion::ALL.iter().map(|e| e.as_str()).collect();
    let mut messages = vec![
        node.entity(
            "sensor",
            "emotion",
            "Emotion",
            json!({
                "state_topic": topics.mood(),
                "device_class": "enum",
                "options": options,
                // PAYLOAD_NONE makes Home Assistant show `unknown` while no face is seen.
                "value_template": format!("{{{{ value_json.emotion or '{PAYLOAD_NONE}' }}}}"),
                "json_attributes_topic": topics.mood(),
                "json_attributes_template": attributes_template(),
                "icon": "mdi:emoticon-outline",
            }),
        ),
        node.entity(
            "sensor",
            "confidence",
            "Confidence",
            json!({
                "state_topic": topics.mood(),
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "value_template": format!(
                    "{{{{ ((value_json.confidence * 100) | round(1)) if value_json.emotion else '{PAYLOAD_NONE}' }}}}"
                ),
                "icon": "mdi:gauge",
            }),
        ),
        node.entity(
            "binary_sensor",
            "face",
            "Face present",
            json!({
                "state_topic": topics.mood(),
                "device_class": "occupancy",
                "value_template": format!(
                    "{{{{ '{PAYLOAD_NONE}' if value_json.paused else ('ON' if value_json.faces > 0 else 'OFF') }}}}"
                ),
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
        ),
        node.entity(
            "event",
            "mood_change",
            "Mood change",
            json!({
                "state_topic": topics.event(),
                "event_types": crate::event::event_types(),
                "icon": "mdi:emoticon-excited-outline",
            }),
        ),
        node.entity(
            "switch",
            "camera",
            "Camera",
            json!({
                "command_topic": topics.camera_set(),
                "state_topic": topics.camera(),
                "payload_on": CameraState::On.as_str(),
                "payload_off": CameraState::Off.as_str(),
                "icon": "mdi:cctv",
            }),
        ),
    ];
    messages.extend(node.buttons(&BUTTONS, &topics.command()));
    messages.extend(calibration(&node, topics, &options));
    messages.extend(diagnostics(&node, topics, features));
    messages
}

/// "My mood is …" (a `select` beside the emotion sensor: choosing an option sends a
/// correction) and "Reset calibration" (a `button`), both on the device's `…/command`.
/// The select has no state of its own (Home Assistant keeps the last choice, optimistic).
fn calibration(node: &Node, topics: &Topics, options: &[&str]) -> Vec<DiscoveryMessage> {
    let mut messages = vec![node.entity(
        "select",
        "correct_mood",
        "My mood is",
        json!({
            "command_topic": topics.command(),
            "command_template": "{\"command\":\"correct_mood\",\"mood\":\"{{ value }}\"}",
            "options": options,
            "optimistic": true,
            "icon": "mdi:emoticon-confused-outline",
        }),
    )];
    messages.push(node.entity(
        "button",
        Command::ResetCalibration.name(),
        "Reset calibration",
        json!({
            "command_topic": topics.command(),
            "payload_press": String::from_utf8_lossy(&Command::ResetCalibration.encode()),
            "icon": "mdi:restore",
        }),
    ));
    messages
}

fn diagnostics(node: &Node, topics: &Topics, features: DeviceFeatures) -> Vec<DiscoveryMessage> {
    let state = topics.diagnostics();
    let measured = |unit: &str, template: String, extra: Value| {
        let mut payload = json!({
            "state_topic": state,
            "unit_of_measurement": unit,
            "state_class": "measurement",
            "value_template": template,
        });
        super::merge(&mut payload, extra);
        payload
    };
    let duration = json!({"device_class": "duration", "suggested_display_precision": 1});
    let mut out = vec![
        node.diagnostic(
            "sensor",
            "fps",
            "Frame rate",
            measured(
                "fps",
                "{{ value_json.fps | round(1) }}".into(),
                json!({"icon": "mdi:camera-timer"}),
            ),
        ),
        node.diagnostic(
            "sensor",
            "detect_ms",
            "Detect time",
            measured("ms", optional_number("detect_ms"), duration.clone()),
        ),
        node.diagnostic(
            "sensor",
            "classify_ms",
            "Classify time",
            measured("ms", optional_number("classify_ms"), duration),
        ),
        node.diagnostic(
            "sensor",
            "faces",
            "Faces",
            json!({
                "state_topic": state,
                "state_class": "measurement",
                "value_template": "{{ value_json.faces }}",
                "icon": "mdi:account-group",
            }),
        ),
        node.diagnostic(
            "sensor",
            "model",
            "Model",
            json!({
                "state_topic": state,
                "value_template": "{{ value_json.model.name }} {{ value_json.model.version }}",
                "icon": "mdi:brain",
            }),
        ),
        node.diagnostic(
            "sensor",
            "calibration",
            "Calibration",
            json!({
                "state_topic": state,
                "value_template": "{{ value_json.calibration_version if value_json.calibration_version is not none else 'none' }}",
                "icon": "mdi:tune-variant",
            }),
        ),
        node.diagnostic(
            "sensor",
            "camera_state",
            "Camera state",
            json!({
                "state_topic": state,
                "device_class": "enum",
                "options": CameraStatus::ALL.map(CameraStatus::as_str),
                "value_template": "{{ value_json.camera }}",
                "icon": "mdi:camera",
            }),
        ),
        node.diagnostic(
            "sensor",
            "uptime",
            "Uptime",
            json!({
                "state_topic": state,
                "device_class": "duration",
                "unit_of_measurement": "s",
                "value_template": "{{ value_json.uptime_s }}",
            }),
        ),
    ];
    if features.cpu_temperature {
        out.push(node.diagnostic(
            "sensor",
            "cpu_temperature",
            "CPU temperature",
            measured(
                "°C",
                optional_number("cpu_temp_c"),
                json!({"device_class": "temperature"}),
            ),
        ));
    }
    out
}

/// Empty retained payloads on every discovery topic a device may have used: removes it from
/// Home Assistant.
pub fn removal_messages(discovery_prefix: &str, topics: &Topics) -> Vec<(String, Vec<u8>)> {
    let info = DeviceInfo {
        name: String::new(),
        model: String::new(),
        sw_version: String::new(),
        configuration_url: None,
    };
    let all = DeviceFeatures {
        cpu_temperature: true,
    };
    super::removals(discovery_messages(discovery_prefix, topics, &info, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::DEFAULT_DISCOVERY_PREFIX;

    fn messages() -> Vec<DiscoveryMessage> {
        let topics = Topics::new("xpressify", "kitchen").expect("valid");
        let info = DeviceInfo {
            name: "Kitchen".into(),
            model: "Pi 4".into(),
            sw_version: "0.1.0".into(),
            configuration_url: Some("http://box.local:8080/".into()),
        };
        discovery_messages(
            DEFAULT_DISCOVERY_PREFIX,
            &topics,
            &info,
            DeviceFeatures::default(),
        )
    }

    #[test]
    fn announces_mood_privacy_buttons_and_diagnostics_with_one_device_block() {
        let msgs = messages();
        let topics: Vec<&str> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics[..8],
            [
                "homeassistant/sensor/xpressify_kitchen/emotion/config",
                "homeassistant/sensor/xpressify_kitchen/confidence/config",
                "homeassistant/binary_sensor/xpressify_kitchen/face/config",
                "homeassistant/event/xpressify_kitchen/mood_change/config",
                "homeassistant/switch/xpressify_kitchen/camera/config",
                "homeassistant/button/xpressify_kitchen/skip/config",
                "homeassistant/button/xpressify_kitchen/like/config",
                "homeassistant/button/xpressify_kitchen/dislike/config",
            ]
        );
        let device = &msgs[0].payload["device"];
        assert_eq!(device["configuration_url"], "http://box.local:8080/");
        for m in &msgs {
            assert_eq!(&m.payload["device"], device);
            assert_eq!(
                m.payload["availability_topic"],
                "xpressify/kitchen/availability"
            );
        }
        let diagnostic = msgs
            .iter()
            .filter(|m| m.payload["entity_category"] == "diagnostic")
            .count();
        assert_eq!(diagnostic, 8, "no thermal sensor without the feature");
        assert!(!topics.iter().any(|t| t.contains("cpu_temperature")));
    }

    #[test]
    fn button_payloads_decode_as_commands() {
        let msgs = messages();
        let buttons = msgs.iter().filter(|m| m.topic.contains("/button/"));
        for (m, button) in buttons.zip(BUTTONS) {
            let payload = m.payload["payload_press"].as_str().unwrap_or_default();
            assert_eq!(Command::decode(payload.as_bytes()).ok(), Some(button));
        }
    }

    #[test]
    fn the_mood_select_and_reset_send_commands() {
        let msgs = messages();
        let select = msgs
            .iter()
            .find(|m| m.topic.contains("/select/"))
            .expect("a select");
        assert_eq!(select.payload["command_topic"], "xpressify/kitchen/command");
        let template = select.payload["command_template"]
            .as_str()
            .unwrap_or_default();
        // What Home Assistant sends for the option "sad".
        let sent = template.replace("{{ value }}", "sad");
        assert_eq!(
            Command::decode(sent.as_bytes()).ok(),
            Some(Command::CorrectMood { mood: Emotion::Sad })
        );
        assert_eq!(select.payload["options"].as_array().map(Vec::len), Some(7));
        let reset = msgs
            .iter()
            .find(|m| m.topic.ends_with("/reset_calibration/config"))
            .expect("a reset button");
        let press = reset.payload["payload_press"].as_str().unwrap_or_default();
        assert_eq!(
            Command::decode(press.as_bytes()).ok(),
            Some(Command::ResetCalibration)
        );
    }

    #[test]
    fn names_read_like_words() {
        assert_eq!(default_name("living-room"), "Living room camera");
        assert_eq!(default_name("xpressify"), "Xpressify camera");
        assert_eq!(default_name("den_2"), "Den 2 camera");
    }

    #[test]
    fn removal_covers_every_entity() {
        let topics = Topics::new("xpressify", "kitchen").expect("valid");
        let removal = removal_messages(DEFAULT_DISCOVERY_PREFIX, &topics);
        assert!(removal.len() > messages().len());
        assert!(removal.iter().all(|(_, p)| p.is_empty()));
    }
}
