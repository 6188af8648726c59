//! `xpressify-companion run` turns corrections into a device's calibration: a burst of "my
//! mood is sad" (Home Assistant's select, on the device's `…/command`) and the page's
//! "that's not my mood" become one retained `…/calibration` per burst, fitted from what the
//! device read; "reset calibration" publishes the identity; a correction for a device the
//! companion does not know publishes nothing.

use std::time::Duration;

use serde_json::json;
use xpressify_protocol::{Calibration, Command, Emotion, Topics};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch;
use xpressify_tests::{Broker, KillOnDrop, Subscriber, free_port, unique_name};

const TOKEN: &str = "test-control-token-123";

const MOOD: &str = r#"{"schema":1,"device_id":"DEV","emotion":"neutral","confidence":0.58,"probabilities":[0.02,0.01,0.02,0.05,0.3,0.02,0.58],"faces":1,"timestamp_ms":1,"seq":1,"model":{"name":"m","version":"1"}}"#;

const READING: &str = r#"{"schema":1,"device_id":"DEV","probabilities":[0.02,0.01,0.02,0.05,0.3,0.02,0.58],"faces":1,"timestamp_ms":1,"seq":SEQ}"#;

/// The calibrations on `topic` that arrived since the last call, once `settle` passed
/// without a message.
fn calibrations(sub: &mut Subscriber, topic: &str, settle: Duration) -> Vec<Calibration> {
    let all = sub.messages(settle);
    all.iter()
        .filter(|m| m.topic == topic && !m.payload.is_empty())
        .map(|m| Calibration::decode(&m.payload).expect("a valid calibration"))
        .collect()
}

/// What `calibrations` returns beyond the first `seen` (updated).
fn new_since(all: Vec<Calibration>, seen: &mut usize) -> Vec<Calibration> {
    let fresh = all[(*seen).min(all.len())..].to_vec();
    *seen = all.len();
    fresh
}

/// The device's readings of the last seconds, as it publishes them (4 a second).
fn readings(broker: &Broker, topics: &Topics) {
    for seq in 0..12 {
        let payload = READING
            .replace("DEV", topics.device_id())
            .replace("SEQ", &seq.to_string());
        broker
            .publish(&topics.probabilities(), payload.as_bytes(), false)
            .expect("publish");
        std::thread::sleep(Duration::from_millis(260));
    }
}

#[test]
fn corrections_become_one_retained_calibration_per_burst() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = unique_name("xp");
    let topics = Topics::new(prefix.clone(), unique_name("dev")).expect("topics");
    let stranger = Topics::new(prefix.clone(), unique_name("stranger")).expect("topics");
    let port = free_port().expect("port");
    let child = launch::companion(
        &broker.url,
        &prefix,
        &dir.path().join("companion.sqlite"),
        port,
        TOKEN,
        &fake,
    )
    .expect("companion binary")
    .env("XPRESSIFY__CALIBRATION__QUIET_S", "2")
    .spawn()
    .expect("spawn");
    let _child = KillOnDrop(child);
    let api = Api::new(port, Some(TOKEN)).expect("client");
    api.wait_for("the API", "/api/status", Duration::from_secs(20), |s| {
        s["broker_connected"] == true
    })
    .expect("the API");
    let mut sub = broker
        .subscriber(&[topics.calibration(), stranger.calibration()])
        .expect("subscriber");
    broker
        .publish(&topics.availability(), b"online", true)
        .expect("publish");
    broker
        .publish(
            &topics.mood(),
            MOOD.replace("DEV", topics.device_id()).as_bytes(),
            true,
        )
        .expect("publish");
    readings(&broker, &topics);

    // Five times "my mood is sad" within a second, as Home Assistant's select sends it.
    let sad = Command::CorrectMood { mood: Emotion::Sad }.encode();
    for _ in 0..5 {
        broker
            .publish(&topics.command(), &sad, false)
            .expect("publish");
        broker
            .publish(&stranger.command(), &sad, false)
            .expect("publish");
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut seen = 0;
    let got = new_since(
        calibrations(&mut sub, &topics.calibration(), Duration::from_secs(7)),
        &mut seen,
    );
    assert_eq!(got.len(), 1, "one calibration for the burst: {got:?}");
    let first = &got[0];
    assert_eq!((first.version, first.corrections), (1, 5));
    assert_eq!(first.device_id, topics.device_id());
    let (sad_i, neutral_i) = (Emotion::Sad.index(), Emotion::Neutral.index());
    assert!(
        first.offsets[sad_i] > 0.0 && first.offsets[neutral_i] < 0.0,
        "{:?}",
        first.offsets
    );
    // It now reads the corrected reading as sad.
    let reading = [0.02, 0.01, 0.02, 0.05, 0.3, 0.02, 0.58];
    let shifted = first.apply(reading);
    assert!(shifted[sad_i] > shifted[neutral_i], "{shifted:?}");
    // Retained: a newcomer gets it at once.
    let mut late = broker
        .subscriber(&[topics.calibration()])
        .expect("subscriber");
    let kept = late
        .wait_for("the retained calibration", Duration::from_secs(5), |m| {
            m.topic == topics.calibration()
        })
        .expect("retained");
    assert!(kept.retain);
    assert_eq!(
        Calibration::decode(&kept.payload).ok().as_ref(),
        Some(first)
    );
    // The page shows it with the device.
    let status = api.get("/api/status").expect("status");
    let device = status["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == topics.device_id()))
        .cloned()
        .expect("the device");
    assert_eq!(device["calibration"]["version"], 1);

    // The page's "that's not my mood" counts too: one more burst, one more version.
    readings(&broker, &topics);
    let (code, body) = api.call(
        reqwest::Method::POST,
        "/api/mood-feedback",
        Some(json!({"device": topics.device_id(), "detected": "neutral", "actual": "sad"})),
    );
    assert_eq!(code, 201, "{body}");
    let got = new_since(
        calibrations(&mut sub, &topics.calibration(), Duration::from_secs(6)),
        &mut seen,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].version, got[0].corrections), (2, 6));
    // What the device read was stored with the correction, not taken from the request.
    let (code, _) = api.call(
        reqwest::Method::POST,
        "/api/mood-feedback",
        Some(json!({"device": topics.device_id(), "actual": "sad", "frames": [[1, 0, 0, 0, 0, 0, 0]]})),
    );
    assert_eq!(code, 400);

    // Reset: the identity, at once, as a new version.
    let reset = format!("/api/calibration/reset?device={}", topics.device_id());
    let (code, body) = api.call(reqwest::Method::POST, &reset, None);
    assert_eq!(code, 200, "{body}");
    let got = new_since(
        calibrations(&mut sub, &topics.calibration(), Duration::from_secs(3)),
        &mut seen,
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].is_identity());
    assert_eq!((got[0].version, got[0].corrections), (3, 0));
    let (code, _) = api.call(
        reqwest::Method::POST,
        "/api/calibration/reset?device=a/b",
        None,
    );
    assert_eq!(code, 400);

    // The device the companion never heard from got nothing.
    assert!(
        calibrations(
            &mut sub,
            &stranger.calibration(),
            Duration::from_millis(500)
        )
        .is_empty()
    );
    let _ = broker.publish(&topics.calibration(), b"", true);
}
