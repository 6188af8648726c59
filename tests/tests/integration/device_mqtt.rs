//! `xpressify-device announce` against a real Mosquitto: online + Home Assistant discovery on
//! connect, re-announce when Home Assistant restarts, `offline` on a clean stop, and the
//! broker's last-will when the process dies.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use xpressify_protocol::{Availability, Command as MqttCommand, Topics};
use xpressify_tests::{Broker, Message, binary, launch, unique_name};

struct Setup {
    broker: Broker,
    topics: Topics,
    ha_prefix: String,
}

fn setup() -> Setup {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    Setup {
        broker,
        topics,
        ha_prefix: unique_name("ha"),
    }
}

fn device(s: &Setup, args: &[&str]) -> Child {
    launch::device_announce(&s.broker.url, &s.topics, &s.ha_prefix)
        .expect("device binary")
        .args(args)
        .env("XPRESSIFY__MQTT__KEEP_ALIVE_S", "5")
        .env("XPRESSIFY__HOMEASSISTANT__NAME", "Test box")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn xpressify-device")
}

fn is_availability(s: &Setup, m: &Message, a: Availability) -> bool {
    m.topic == s.topics.availability() && Availability::decode(&m.payload).ok() == Some(a)
}

#[test]
fn announces_online_and_discovery_then_says_offline() {
    let s = setup();
    let mut sub = s
        .broker
        .subscriber(&[s.topics.availability(), format!("{}/#", s.ha_prefix)])
        .expect("subscriber");
    let mut dev = device(&s, &["--duration", "3"]);
    sub.wait_for("online", Duration::from_secs(10), |m| {
        is_availability(&s, m, Availability::Online)
    })
    .expect("device says online");
    let node = format!("xpressify_{}", s.topics.device_id());
    for (component, object) in [
        ("sensor", "emotion"),
        ("sensor", "confidence"),
        ("binary_sensor", "face"),
        ("event", "mood_change"),
        ("switch", "camera"),
        ("sensor", "fps"),
        ("sensor", "camera_state"),
        ("button", "skip"),
        ("button", "like"),
        ("button", "dislike"),
        ("select", "correct_mood"),
        ("button", "reset_calibration"),
        ("sensor", "calibration"),
    ] {
        let topic = format!("{}/{component}/{node}/{object}/config", s.ha_prefix);
        let m = sub
            .wait_for(&topic, Duration::from_secs(5), |m| m.topic == topic)
            .expect("discovery message");
        let config: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
        assert_eq!(config["device"]["name"], "Test box");
        assert_eq!(
            config["availability_topic"],
            s.topics.availability().as_str()
        );
        if component == "button" {
            let press = config["payload_press"].as_str().expect("payload_press");
            assert!(MqttCommand::decode(press.as_bytes()).is_ok());
        }
    }
    let status = dev.wait().expect("device exits");
    assert!(status.success(), "device exited with {status}");
    sub.wait_for("offline after a clean stop", Duration::from_secs(5), |m| {
        is_availability(&s, m, Availability::Offline)
    })
    .expect("offline");

    // A later subscriber sees the retained state: offline, discovery still there.
    let mut late = s
        .broker
        .subscriber(&[s.topics.availability(), format!("{}/#", s.ha_prefix)])
        .expect("late subscriber");
    let retained = late.messages(Duration::from_millis(500)).to_vec();
    assert!(
        retained
            .iter()
            .any(|m| m.retain && is_availability(&s, m, Availability::Offline))
    );
    // Ten entities (the mood's, the camera switch, the music buttons, "My mood is" and "Reset
    // calibration"), eight diagnostic sensors, and the CPU temperature where this machine has
    // a thermal sensor.
    let thermal = xpressify_device::health::cpu_temperature().is_some();
    assert_eq!(
        retained
            .iter()
            .filter(|m| m.retain && m.topic.ends_with("/config"))
            .count(),
        18 + usize::from(thermal)
    );
}

#[test]
fn re_announces_when_home_assistant_restarts() {
    let s = setup();
    let mut dev = device(&s, &["--duration", "6"]);
    let mut sub = s
        .broker
        .subscriber(&[s.topics.availability(), format!("{}/sensor/#", s.ha_prefix)])
        .expect("subscriber");
    sub.wait_for("online", Duration::from_secs(10), |m| {
        is_availability(&s, m, Availability::Online)
    })
    .expect("online");
    let emotion_topic = format!(
        "{}/sensor/xpressify_{}/emotion/config",
        s.ha_prefix,
        s.topics.device_id()
    );
    sub.wait_for("first discovery", Duration::from_secs(5), |m| {
        m.topic == emotion_topic
    })
    .expect("first discovery");
    let before = sub
        .messages(Duration::from_millis(300))
        .iter()
        .filter(|m| m.topic == emotion_topic)
        .count();
    s.broker
        .publish(&format!("{}/status", s.ha_prefix), b"online", false)
        .expect("publish HA status");
    std::thread::sleep(Duration::from_millis(800));
    let after = sub
        .messages(Duration::from_millis(300))
        .iter()
        .filter(|m| m.topic == emotion_topic && !m.retain)
        .count();
    assert!(
        after >= 1,
        "no fresh discovery after HA status online (before: {before})"
    );
    let _ = dev.kill();
    let _ = dev.wait();
}

#[test]
fn last_will_marks_a_killed_device_offline() {
    let s = setup();
    let mut sub = s
        .broker
        .subscriber(&[s.topics.availability()])
        .expect("subscriber");
    let mut dev = device(&s, &[]);
    sub.wait_for("online", Duration::from_secs(10), |m| {
        is_availability(&s, m, Availability::Online)
    })
    .expect("online");
    dev.kill().expect("kill -9");
    let _ = dev.wait();
    // keep_alive_s = 5: the broker gives up after 1.5 × 5 s at the latest.
    sub.wait_for("last-will offline", Duration::from_secs(12), |m| {
        is_availability(&s, m, Availability::Offline)
    })
    .expect("broker publishes the last-will");
}

#[test]
fn keeps_retrying_while_the_broker_is_down() {
    let port = xpressify_tests::free_port().expect("port");
    let out = Command::new(binary("xpressify-device").expect("device binary"))
        .args(["announce", "--duration", "2"])
        .env("XPRESSIFY__MQTT__URL", format!("mqtt://127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run");
    assert!(out.status.success(), "a missing broker is not fatal");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.matches("broker unreachable").count() >= 2, "{log}");
}
