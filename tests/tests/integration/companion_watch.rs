//! `xpressify-companion watch` decodes what devices publish and survives junk on every topic.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use xpressify_protocol::Topics;
use xpressify_tests::{Broker, binary, unique_name};

const MOOD: &str = r#"{"schema":1,"device_id":"DEV","emotion":"sad","confidence":0.6,"probabilities":[0.1,0.0,0.1,0.1,0.6,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{"name":"m","version":"1"}}"#;

#[test]
fn prints_valid_messages_and_counts_junk() {
    let broker = Broker::get().expect("broker");
    let prefix = unique_name("xp");
    let device = unique_name("dev");
    let topics = Topics::new(prefix.clone(), device.clone()).expect("valid");
    let child = Command::new(binary("xpressify-companion").expect("binary"))
        .args(["watch", "--duration", "4"])
        .env("XPRESSIFY__MQTT__URL", &broker.url)
        .env("XPRESSIFY__MQTT__PREFIX", &prefix)
        .env("XPRESSIFY__MQTT__CLIENT_ID", unique_name("companion"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let big = vec![b'{'; 300_000];
    for (topic, payload) in [
        (topics.mood(), &b"\xff\xfe garbage"[..]),
        (topics.mood(), br#"{"schema":1,"emotion":42}"#),
        (
            topics.command(),
            br#"{"command":"set_volume","volume":"loud"}"#,
        ),
        (topics.availability(), b"sleepy"),
        (topics.now_playing(), &big[..]),
        (topics.probabilities(), b"[]"),
    ] {
        broker
            .publish(&topic, payload, false)
            .expect("publish junk");
    }
    broker
        .publish(
            &topics.mood(),
            MOOD.replace("DEV", &device).as_bytes(),
            false,
        )
        .expect("publish mood");
    broker
        .publish(&topics.command(), br#"{"command":"like"}"#, false)
        .expect("publish command");
    let out = child.wait_with_output().expect("watch exits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = BufReader::new(&out.stdout[..])
        .lines()
        .map(|l| serde_json::from_str(&l.expect("utf8")).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["channel"], "mood");
    assert_eq!(lines[0]["message"]["emotion"], "sad");
    assert_eq!(lines[1]["message"]["command"], "like");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("refused payload").count(), 6, "{log}");
    assert!(log.contains("refused=6"), "{log}");
}
