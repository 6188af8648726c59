//! `docs/mqtt.md` must match the code: every example decodes with its channel's decoder,
//! re-encodes to the same JSON, and every discovery example equals what the code publishes.

use serde_json::Value;
use xpressify_protocol::discovery::{DeviceFeatures, DeviceInfo, discovery_messages, music};
use xpressify_protocol::{
    Availability, Calibration, CameraState, Command, Diagnostics, MoodChange, MoodEvent,
    NowPlaying, ProbabilitiesEvent, RoomState, Topics,
};

struct Example {
    info: String,
    body: String,
}

fn examples() -> Vec<Example> {
    let text = include_str!("../../../docs/mqtt.md");
    let mut out = Vec::new();
    let mut current: Option<Example> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info.contains("mqtt=") => {
                current = Some(Example {
                    info: info.to_string(),
                    body: String::new(),
                })
            }
            (Some(_), Some("")) => out.extend(current.take()),
            (Some(ex), _) => {
                ex.body.push_str(line);
                ex.body.push('\n');
            }
            _ => {}
        }
    }
    out
}

fn attr<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

#[test]
fn every_example_in_docs_decodes_and_round_trips() {
    let examples = examples();
    assert!(
        examples.len() >= 10,
        "found only {} examples",
        examples.len()
    );
    let topics = Topics::new("xpressify", "living-room").expect("valid");
    let info = DeviceInfo {
        name: "Living room music box".into(),
        model: "Xpressify device (aarch64)".into(),
        sw_version: "0.1.0".into(),
        configuration_url: Some("http://192.168.1.20:8080/".into()),
    };
    let mut published =
        discovery_messages("homeassistant", &topics, &info, DeviceFeatures::default());
    let room_info = DeviceInfo {
        name: music::default_name("Living room"),
        model: "Xpressify companion".into(),
        ..info.clone()
    };
    published.extend(music::room_messages(
        "homeassistant",
        "xpressify",
        "Living room",
        &room_info,
    ));
    for ex in &examples {
        let body = ex.body.as_bytes();
        let channel = attr(&ex.info, "mqtt").expect("mqtt= attribute");
        let reencoded = match channel {
            "mood" => MoodEvent::decode(body).map(|m| m.encode()),
            "probabilities" => ProbabilitiesEvent::decode(body).map(|m| m.encode()),
            "command" => Command::decode(body).map(|m| m.encode()),
            "now_playing" => NowPlaying::decode(body).map(|m| m.encode()),
            "availability" => Availability::decode(body).map(|m| m.encode()),
            "camera" => CameraState::decode(body).map(|m| m.encode()),
            "event" => MoodChange::decode(body).map(|m| m.encode()),
            "diagnostics" => Diagnostics::decode(body).map(|m| m.encode()),
            "calibration" => Calibration::decode(body).map(|m| m.encode()),
            "room_state" => RoomState::decode(body).map(|m| m.encode()),
            "discovery" | "discovery-room" => {
                let topic = attr(&ex.info, "topic").expect("discovery example names its topic");
                let m = published
                    .iter()
                    .find(|m| m.topic == topic)
                    .unwrap_or_else(|| panic!("no discovery message on {topic}"));
                assert_eq!(
                    json(body),
                    m.payload,
                    "docs differ from the code for {topic}; the code publishes:\n{}",
                    serde_json::to_string_pretty(&m.payload).unwrap_or_default()
                );
                continue;
            }
            other => panic!("unknown channel {other:?} in docs/mqtt.md"),
        };
        let reencoded = reencoded.unwrap_or_else(|e| panic!("{channel} example: {e}\n{}", ex.body));
        if channel == "availability" || channel == "camera" {
            assert_eq!(reencoded, ex.body.trim().as_bytes());
        } else {
            assert_eq!(
                json(&reencoded),
                json(body),
                "{channel} example changes on re-encoding"
            );
        }
    }
}
