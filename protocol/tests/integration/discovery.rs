//! Every discovery payload against the rules Home Assistant applies to it, checked without
//! Home Assistant: the keys each component requires, topics that exist in the contract, and
//! every template rendered (with a Jinja engine) against real payloads of its topic, so a
//! state is one of the `options`, a number where a unit is given, or `None` (shown as
//! `unknown`).

use std::collections::BTreeSet;

use serde_json::Value;
use xpressify_protocol::diagnostics::CameraStatus;
use xpressify_protocol::discovery::{
    DeviceFeatures, DeviceInfo, DiscoveryMessage, PAYLOAD_NONE, discovery_messages, music,
};
use xpressify_protocol::topics::{self, Channel, RoomChannel};
use xpressify_protocol::{
    CameraState, Command, Diagnostics, Emotion, ModelInfo, MoodChange, MoodEvent, PlaybackState,
    Probabilities, RoomState, RoomTrack, SCHEMA_VERSION, Topics, Track,
};

const PREFIX: &str = "xpressify";

/// The device classes Home Assistant accepts per component (the subset we may use).
fn device_class_ok(component: &str, class: &str) -> bool {
    match component {
        "sensor" => ["enum", "duration", "temperature"].contains(&class),
        "number" => false,
        "binary_sensor" => ["occupancy"].contains(&class),
        _ => false,
    }
}

fn model() -> ModelInfo {
    ModelInfo {
        name: "xpressify-edge".into(),
        version: "1".into(),
    }
}

/// What a topic of a discovery payload is in the contract.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Device(Channel),
    Room(RoomChannel),
    CompanionAvailability,
}

impl Kind {
    fn retained(self) -> bool {
        match self {
            Kind::Device(c) => c.retained(),
            Kind::Room(c) => c == RoomChannel::State,
            Kind::CompanionAvailability => true,
        }
    }

    fn samples(self) -> Vec<Vec<u8>> {
        match self {
            Kind::Device(c) => samples(c),
            Kind::Room(RoomChannel::State) => room_samples(),
            other => panic!("no state samples for {other:?}"),
        }
    }

    fn is_command(self) -> bool {
        matches!(
            self,
            Kind::Device(Channel::Command) | Kind::Room(RoomChannel::Command)
        )
    }
}

fn room_samples() -> Vec<Vec<u8>> {
    let playing = RoomState {
        schema: SCHEMA_VERSION,
        room: "Living room".into(),
        state: PlaybackState::Playing,
        playing: Some(RoomTrack {
            title: "Evening Calm".into(),
            artist: "Band".into(),
            track: Track::Local {
                file: "calm.ogg".into(),
            },
            mood: Emotion::Sad,
            why: "for sad · phrase \"calm piano\" · from your music".into(),
        }),
        volume: Some(40),
        follow: true,
        mood: Some(Emotion::Sad),
        chosen: Some(xpressify_protocol::ChosenMood {
            mood: Emotion::Sad,
            until_ms: 1_800_001,
        }),
        timestamp_ms: 1,
    };
    let fresh = RoomState {
        state: PlaybackState::Stopped,
        playing: None,
        volume: None,
        follow: false,
        mood: None,
        chosen: None,
        ..playing.clone()
    };
    vec![playing.encode(), fresh.encode()]
}

/// Real payloads a subscriber of each channel receives, all shapes.
fn samples(channel: Channel) -> Vec<Vec<u8>> {
    let mood = |emotion: Option<Emotion>, paused: bool| {
        let probabilities = match emotion {
            Some(Emotion::Happy) => {
                Probabilities::new([0.02, 0.0, 0.03, 0.82, 0.04, 0.05, 0.04]).expect("valid")
            }
            _ => Probabilities::NONE,
        };
        MoodEvent {
            schema: SCHEMA_VERSION,
            device_id: "kitchen".into(),
            emotion,
            confidence: emotion.map_or(0.0, |e| probabilities.get(e)),
            probabilities,
            faces: u32::from(emotion.is_some()),
            timestamp_ms: 1,
            seq: 3,
            model: model(),
            paused,
        }
        .encode()
    };
    let diagnostics = |camera, thermal: bool, measured: bool| {
        Diagnostics {
            schema: SCHEMA_VERSION,
            device_id: "kitchen".into(),
            camera,
            fps: if measured { 9.94 } else { 0.0 },
            detect_ms: measured.then_some(6.53),
            classify_ms: measured.then_some(12.1),
            faces: u32::from(measured),
            model: model(),
            cpu_temp_c: thermal.then_some(51.2),
            uptime_s: 3600,
            timestamp_ms: 1,
            calibration_version: measured.then_some(3),
        }
        .encode()
    };
    match channel {
        Channel::Mood => vec![
            mood(Some(Emotion::Happy), false),
            mood(None, false),
            mood(None, true),
        ],
        Channel::Diagnostics => vec![
            diagnostics(CameraStatus::On, true, true),
            diagnostics(CameraStatus::Off, false, false),
            diagnostics(CameraStatus::Failed, true, false),
        ],
        Channel::Event => vec![
            MoodChange {
                device_id: "kitchen".into(),
                mood: Some(Emotion::Sad),
                previous: None,
                confidence: 0.6,
                faces: 1,
                timestamp_ms: 1,
                seq: 4,
            }
            .encode(),
            MoodChange {
                device_id: "kitchen".into(),
                mood: None,
                previous: Some(Emotion::Sad),
                confidence: 0.0,
                faces: 0,
                timestamp_ms: 2,
                seq: 5,
            }
            .encode(),
        ],
        Channel::Camera => vec![CameraState::On.encode(), CameraState::Off.encode()],
        other => panic!("no state samples for {other}"),
    }
}

fn render(template: &str, payload: &[u8]) -> String {
    let mut env = minijinja::Environment::new();
    env.add_template("t", template)
        .unwrap_or_else(|e| panic!("template {template:?}: {e}"));
    let value_json: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(payload).to_string();
    env.get_template("t")
        .and_then(|t| t.render(minijinja::context! { value_json, value => text }))
        .unwrap_or_else(|e| panic!("rendering {template:?}: {e}"))
}

fn kind_of(topic: &str) -> Kind {
    if topic == topics::companion_availability(PREFIX) {
        return Kind::CompanionAvailability;
    }
    if let Some((room, channel)) = topics::parse_room(PREFIX, topic) {
        assert_eq!(room, "living-room", "{topic}");
        return Kind::Room(channel);
    }
    match topics::parse(PREFIX, topic) {
        Some((device, channel)) => {
            assert_eq!(device, "kitchen", "{topic}");
            Kind::Device(channel)
        }
        None => panic!("{topic} is not a topic of the contract"),
    }
}

/// `template` rendered with `value` (what Home Assistant does before publishing) must be a
/// command the companion reads.
fn sends_a_command(m: &DiscoveryMessage, template: &str, value: minijinja::Value) {
    let mut env = minijinja::Environment::new();
    env.add_template("t", template).expect("template");
    let sent = env
        .get_template("t")
        .and_then(|t| t.render(minijinja::context! { value => value.clone() }))
        .expect("render");
    Command::decode(sent.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {value} sends {sent:?}: {e}", m.topic));
}

fn channel_of(topic: &str) -> Channel {
    match kind_of(topic) {
        Kind::Device(c) => c,
        other => panic!("{topic} is {other:?}, not a device's channel"),
    }
}

fn str_of<'a>(payload: &'a Value, key: &str, topic: &str) -> &'a str {
    payload[key]
        .as_str()
        .unwrap_or_else(|| panic!("{topic}: `{key}` is required"))
}

/// The state a sensor renders for `payload`, checked against its declaration.
fn check_sensor_state(m: &DiscoveryMessage, state: &str) {
    let p = &m.payload;
    if state == PAYLOAD_NONE {
        return;
    }
    if let Some(options) = p["options"].as_array() {
        assert!(
            options.iter().any(|o| o == state),
            "{}: {state:?} is not one of {options:?}",
            m.topic
        );
    }
    if p.get("unit_of_measurement").is_some() || p.get("state_class").is_some() {
        assert!(
            state.parse::<f64>().is_ok_and(f64::is_finite),
            "{}: {state:?} is not a number",
            m.topic
        );
    }
    assert!(!state.is_empty(), "{}: empty state is ignored", m.topic);
}

fn check(m: &DiscoveryMessage) {
    let p = &m.payload;
    let parts: Vec<&str> = m.topic.split('/').collect();
    let [_, component, node, object, "config"] = parts.as_slice() else {
        panic!(
            "{}: not <prefix>/<component>/<node>/<object>/config",
            m.topic
        );
    };
    assert_eq!(str_of(p, "unique_id", &m.topic), format!("{node}_{object}"));
    str_of(p, "name", &m.topic);
    assert!(
        p["device"]["identifiers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(matches!(
        kind_of(str_of(p, "availability_topic", &m.topic)),
        Kind::Device(Channel::Availability) | Kind::CompanionAvailability
    ));
    if let Some(category) = p.get("entity_category") {
        assert!(
            category == "diagnostic" || category == "config",
            "{}",
            m.topic
        );
    }
    if let Some(class) = p["device_class"].as_str() {
        assert!(
            device_class_ok(component, class),
            "{}: device_class {class}",
            m.topic
        );
    }
    match *component {
        "sensor" | "binary_sensor" => {
            let state_topic = str_of(p, "state_topic", &m.topic);
            let channel = kind_of(state_topic);
            assert!(channel.retained(), "{}: a state must be retained", m.topic);
            if p["device_class"] == "enum" {
                assert!(p["options"].is_array(), "{}: enum needs options", m.topic);
                assert!(
                    p.get("unit_of_measurement").is_none() && p.get("state_class").is_none(),
                    "{}: an enum sensor takes no unit or state_class",
                    m.topic
                );
            }
            let template = str_of(p, "value_template", &m.topic);
            for sample in channel.samples() {
                let state = render(template, &sample);
                if *component == "binary_sensor" {
                    assert!(
                        [&p["payload_on"], &p["payload_off"]]
                            .iter()
                            .any(|v| *v == &state)
                            || state == PAYLOAD_NONE,
                        "{}: {state:?}",
                        m.topic
                    );
                } else {
                    check_sensor_state(m, &state);
                }
            }
            if let Some(attrs) = p["json_attributes_template"].as_str() {
                let attrs_channel = kind_of(str_of(p, "json_attributes_topic", &m.topic));
                for sample in attrs_channel.samples() {
                    let rendered = render(attrs, &sample);
                    let value: Value = serde_json::from_str(&rendered)
                        .unwrap_or_else(|e| panic!("{}: attributes {rendered:?}: {e}", m.topic));
                    assert!(
                        value.is_object(),
                        "{}: attributes must be an object",
                        m.topic
                    );
                }
            }
        }
        "event" => {
            let channel = channel_of(str_of(p, "state_topic", &m.topic));
            assert!(
                !channel.retained(),
                "{}: a retained event fires on every reconnect",
                m.topic
            );
            let types: BTreeSet<&str> = p["event_types"]
                .as_array()
                .expect("event_types")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for sample in samples(channel) {
                let v: Value = serde_json::from_slice(&sample).expect("JSON");
                let event_type = v["event_type"].as_str().expect("event_type");
                assert!(types.contains(event_type), "{}: {event_type}", m.topic);
            }
        }
        "switch" => {
            let command = kind_of(str_of(p, "command_topic", &m.topic));
            let state = kind_of(str_of(p, "state_topic", &m.topic));
            assert!(!command.retained() && state.retained(), "{}", m.topic);
            let (on, off) = (
                str_of(p, "payload_on", &m.topic),
                str_of(p, "payload_off", &m.topic),
            );
            for payload in [on, off] {
                match command {
                    Kind::Device(Channel::CameraSet) => {
                        CameraState::decode(payload.as_bytes()).expect("the device reads it");
                    }
                    k if k.is_command() => {
                        Command::decode(payload.as_bytes()).expect("the companion reads it");
                    }
                    other => panic!("{}: a switch commanding {other:?}", m.topic),
                }
            }
            // Without state_on/state_off Home Assistant compares the state with the payloads.
            let state_on = p["state_on"].as_str().unwrap_or(on);
            let state_off = p["state_off"].as_str().unwrap_or(off);
            for sample in state.samples() {
                let word = match p["value_template"].as_str() {
                    Some(template) => render(template, &sample),
                    None => String::from_utf8_lossy(&sample).to_string(),
                };
                assert!(
                    word == state_on || word == state_off,
                    "{}: {word:?}",
                    m.topic
                );
            }
        }
        "number" => {
            let command = kind_of(str_of(p, "command_topic", &m.topic));
            assert!(command.is_command(), "{}", m.topic);
            let (min, max) = (
                p["min"].as_f64().expect("min"),
                p["max"].as_f64().expect("max"),
            );
            let template = str_of(p, "command_template", &m.topic);
            for value in [min, (min + max) / 2.0, max] {
                sends_a_command(m, template, minijinja::Value::from(value));
            }
            let state = kind_of(str_of(p, "state_topic", &m.topic));
            assert!(state.retained());
            for sample in state.samples() {
                let shown = render(str_of(p, "value_template", &m.topic), &sample);
                if shown != PAYLOAD_NONE {
                    let v: f64 = shown
                        .parse()
                        .unwrap_or_else(|_| panic!("{}: {shown:?}", m.topic));
                    assert!((min..=max).contains(&v), "{}: {v}", m.topic);
                }
            }
        }
        "select" => {
            let command = kind_of(str_of(p, "command_topic", &m.topic));
            assert!(command.is_command(), "{}", m.topic);
            let options: Vec<&str> = p["options"]
                .as_array()
                .expect("options")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(!options.is_empty());
            let template = str_of(p, "command_template", &m.topic);
            for option in &options {
                sends_a_command(m, template, minijinja::Value::from(*option));
            }
            // Without a state topic Home Assistant needs to be told to keep the choice itself.
            if p.get("state_topic").is_none() {
                assert_eq!(
                    p["optimistic"], true,
                    "{}: no state, not optimistic",
                    m.topic
                );
                return;
            }
            let state = kind_of(str_of(p, "state_topic", &m.topic));
            assert!(state.retained());
            for sample in state.samples() {
                let shown = render(str_of(p, "value_template", &m.topic), &sample);
                assert!(options.contains(&shown.as_str()), "{}: {shown:?}", m.topic);
            }
        }
        "button" => {
            let channel = kind_of(str_of(p, "command_topic", &m.topic));
            assert!(channel.is_command(), "{}", m.topic);
            let press = str_of(p, "payload_press", &m.topic);
            Command::decode(press.as_bytes()).expect("a button sends a valid command");
        }
        other => panic!("{}: component {other} is not checked", m.topic),
    }
}

#[test]
fn every_device_entity_follows_home_assistants_rules() {
    let topics = Topics::new(PREFIX, "kitchen").expect("valid");
    let info = DeviceInfo {
        name: "Kitchen camera".into(),
        model: "Xpressify device (x86_64)".into(),
        sw_version: "0.1.0".into(),
        configuration_url: Some("http://192.168.1.20:8080/".into()),
    };
    for features in [
        DeviceFeatures::default(),
        DeviceFeatures {
            cpu_temperature: true,
        },
    ] {
        let messages = discovery_messages("homeassistant", &topics, &info, features);
        let ids: BTreeSet<String> = messages
            .iter()
            .map(|m| m.payload["unique_id"].to_string())
            .collect();
        assert_eq!(ids.len(), messages.len(), "unique_id repeats");
        for m in &messages {
            check(m);
        }
    }
}

#[test]
fn the_confidence_is_unknown_without_a_face_and_the_probabilities_are_attributes() {
    let topics = Topics::new(PREFIX, "kitchen").expect("valid");
    let info = DeviceInfo {
        name: "Kitchen camera".into(),
        model: "m".into(),
        sw_version: "0".into(),
        configuration_url: None,
    };
    let messages = discovery_messages("homeassistant", &topics, &info, DeviceFeatures::default());
    let find = |object: &str| {
        messages
            .iter()
            .find(|m| m.topic.ends_with(&format!("/{object}/config")))
            .unwrap_or_else(|| panic!("no {object}"))
    };
    let [happy, no_face, paused] = <[Vec<u8>; 3]>::try_from(samples(Channel::Mood)).expect("3");
    let confidence = find("confidence").payload["value_template"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(render(confidence, &happy), "82.0");
    assert_eq!(render(confidence, &no_face), PAYLOAD_NONE);
    let emotion = &find("emotion").payload;
    let state = emotion["value_template"].as_str().unwrap_or_default();
    assert_eq!(render(state, &happy), "happy");
    assert_eq!(render(state, &paused), PAYLOAD_NONE);
    let attrs: Value = serde_json::from_str(&render(
        emotion["json_attributes_template"]
            .as_str()
            .unwrap_or_default(),
        &happy,
    ))
    .expect("JSON");
    assert_eq!(attrs["probabilities"]["happy"], 0.82);
    assert_eq!(attrs["probabilities"]["neutral"], 0.04);
    assert_eq!(attrs["confidence"], 0.82);
    assert_eq!(attrs["faces"], 1);
    let face = find("face").payload["value_template"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(render(face, &happy), "ON");
    assert_eq!(render(face, &no_face), "OFF");
    assert_eq!(render(face, &paused), PAYLOAD_NONE);
}

#[test]
fn every_room_entity_follows_home_assistants_rules() {
    let info = DeviceInfo {
        name: music::default_name("Living room"),
        model: "Xpressify companion".into(),
        sw_version: "0.1.0".into(),
        configuration_url: Some("http://192.168.1.20:8080/".into()),
    };
    let messages = music::room_messages("homeassistant", PREFIX, "Living room", &info);
    let ids: BTreeSet<String> = messages
        .iter()
        .map(|m| m.payload["unique_id"].to_string())
        .collect();
    assert_eq!(ids.len(), messages.len(), "unique_id repeats");
    for m in &messages {
        check(m);
    }
    let now = messages
        .iter()
        .find(|m| m.topic.contains("/now_playing/"))
        .expect("now playing");
    let [playing, fresh] = <[Vec<u8>; 2]>::try_from(room_samples()).expect("2");
    let state = now.payload["value_template"].as_str().unwrap_or_default();
    assert_eq!(render(state, &playing), "Evening Calm");
    assert_eq!(render(state, &fresh), PAYLOAD_NONE);
    let attrs: Value = serde_json::from_str(&render(
        now.payload["json_attributes_template"]
            .as_str()
            .unwrap_or_default(),
        &playing,
    ))
    .expect("JSON");
    assert_eq!(attrs["picked_for"], "sad");
    assert!(
        attrs["why"]
            .as_str()
            .is_some_and(|w| w.contains("calm piano"))
    );
    assert_eq!(attrs["source"], "local");
}
