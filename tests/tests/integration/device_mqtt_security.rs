//! The device on a locked broker listener (TLS with a private CA, user name and password), and
//! the clear refusals when the password or the CA is wrong.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use xpressify_protocol::{Availability, Topics};
use xpressify_tests::{Broker, SecureListener, Subscriber, binary, unique_name};

struct Setup {
    broker: Broker,
    listener: SecureListener,
    topics: Topics,
}

fn setup() -> (Setup, Subscriber) {
    let (broker, listener) = Broker::start_secured().expect("secured mosquitto");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let sub = broker
        .subscriber(&[topics.availability()])
        .expect("subscriber on the open listener");
    (
        Setup {
            broker,
            listener,
            topics,
        },
        sub,
    )
}

/// Runs `announce --duration 3` against the locked listener with `env` on top.
fn announce(s: &Setup, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary("xpressify-device").expect("device binary"));
    cmd.args(["announce", "--duration", "3"])
        .env("XPRESSIFY__MQTT__URL", &s.listener.url)
        .env("XPRESSIFY__MQTT__PREFIX", s.topics.prefix())
        .env("XPRESSIFY__MQTT__DEVICE_ID", s.topics.device_id())
        .env("XPRESSIFY__MQTT__USERNAME", &s.listener.username)
        .env("XPRESSIFY__MQTT__PASSWORD", &s.listener.password)
        .env("XPRESSIFY__MQTT__CA_FILE", &s.listener.ca_file)
        .env("XPRESSIFY__HOMEASSISTANT__DISCOVERY", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run xpressify-device")
}

fn online(s: &Setup, sub: &mut Subscriber) -> bool {
    sub.messages(Duration::from_millis(300)).iter().any(|m| {
        m.topic == s.topics.availability()
            && Availability::decode(&m.payload).ok() == Some(Availability::Online)
    })
}

#[test]
fn connects_over_tls_with_user_and_password() {
    let (s, mut sub) = setup();
    let out = announce(&s, &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(online(&s, &mut sub), "no `online` over TLS; log:\n{log}");
    assert!(
        !log.contains(&s.listener.password),
        "the password leaked into the log"
    );
    drop(s.broker);
}

#[test]
fn a_wrong_password_is_refused_with_a_hint_and_never_online() {
    let (s, mut sub) = setup();
    let out = announce(&s, &[("XPRESSIFY__MQTT__PASSWORD", "not-the-password")]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("check mqtt.username and mqtt.password"),
        "no hint in the log:\n{log}"
    );
    assert!(!online(&s, &mut sub), "online despite a wrong password");
}

#[test]
fn an_untrusted_certificate_is_refused_with_a_hint() {
    let (s, mut sub) = setup();
    // Without the test CA the system's roots apply, and they do not know it.
    let out = announce(&s, &[("XPRESSIFY__MQTT__CA_FILE", "")]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("mqtt.ca_file"), "no hint in the log:\n{log}");
    assert!(
        !online(&s, &mut sub),
        "online with an untrusted certificate"
    );
}

#[test]
fn a_missing_ca_file_stops_the_start() {
    let (s, _sub) = setup();
    let out = announce(&s, &[("XPRESSIFY__MQTT__CA_FILE", "/nonexistent/ca.pem")]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without its CA file");
    assert!(
        log.contains("mqtt.ca_file") && log.contains("/nonexistent/ca.pem"),
        "{log}"
    );
}
