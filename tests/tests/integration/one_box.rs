//! The one-box `xpressify`: `demo` runs the whole box on a machine with no camera, broker or
//! YouTube key — the drawn face through the real pipeline, moods over the embedded broker
//! (which outside clients such as Home Assistant can use), picks from the generated
//! catalogue, the web page — and `run` refuses what it cannot do with a clear message.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xpressify_protocol::MoodEvent;
use xpressify_tests::{KillOnDrop, Subscriber, binary, free_port};

/// `GET path` on loopback `port`, as (status line, body).
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    ))
}

/// The value of `key="…"` or `key=…` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = line[start..].trim_start_matches('"');
    Some(rest.split(['"', ' ']).next().unwrap_or(rest))
}

#[test]
fn the_demo_runs_the_whole_box_on_its_own() {
    let http = free_port().expect("port");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(binary("xpressify").expect("binary"));
    cmd.args(["demo", "--duration", "50s", "--hold", "8s", "--http"])
        .arg(format!("127.0.0.1:{http}"))
        .arg("--workdir")
        .arg(dir.path())
        .env_remove("XPRESSIFY_CONFIG")
        .env("RUST_LOG", "info,rumqttd=off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(cmd.spawn().expect("start the demo"));
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let next_line = |log: &mut Vec<String>, limit: Duration| -> Option<String> {
        let line = lines.recv_timeout(limit).ok()?;
        log.push(line.clone());
        Some(line)
    };

    // The embedded broker says where it listens; an outside client subscribes there.
    let deadline = Instant::now() + Duration::from_secs(60);
    let broker_port: u16 = loop {
        let line = next_line(&mut log, deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|| panic!("no broker line; log so far:\n{}", log.join("\n")));
        if line.contains("embedded MQTT broker listening") {
            let addr = field(&line, "addr").expect("addr field");
            break addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
        }
    };
    let mut outside = Subscriber::connect(
        "127.0.0.1",
        broker_port,
        &[
            "xpressify/+/mood".to_string(),
            "xpressify/+/availability".to_string(),
        ],
    )
    .expect("an outside client subscribes to the embedded broker");
    let happy = outside
        .wait_for(
            "the demo face read as happy",
            Duration::from_secs(40),
            |m| {
                MoodEvent::decode(&m.payload)
                    .is_ok_and(|e| e.emotion == Some(xpressify_protocol::Emotion::Happy))
            },
        )
        .expect("happy mood over MQTT");
    assert!(happy.topic.ends_with("/mood"));

    // The page and its API answer while the box runs.
    let (status, body) = http_get(http, "/api/status").expect("GET /api/status");
    assert!(status.contains("200"), "{status}\n{body}");
    serde_json::from_str::<serde_json::Value>(&body).expect("status is JSON");
    let (status, page) = http_get(http, "/").expect("GET /");
    assert!(status.contains("200") && page.contains("<html"), "{status}");
    // The synthesised pieces are the box's own music, placed by their catalogue.toml.
    let (status, body) = http_get(http, "/api/library").expect("GET /api/library");
    assert!(status.contains("200"), "{status}\n{body}");
    let library: serde_json::Value = serde_json::from_str(&body).expect("library is JSON");
    assert!(
        library["total"].as_u64().is_some_and(|n| n >= 7),
        "the demo's pieces: {library}"
    );

    // It ends by itself after --duration, saying offline on the way out.
    while next_line(&mut log, Duration::from_secs(70)).is_some() {}
    let exit = child.0.wait().expect("wait");
    let _ = reader.join();
    let text = log.join("\n");
    assert!(exit.success(), "exit {exit}\n{text}");
    assert!(!text.contains("panicked"), "{text}");
    let moods: std::collections::BTreeSet<&str> = log
        .iter()
        .filter(|l| l.contains("mood changed"))
        .filter_map(|l| field(l, "emotion"))
        .collect();
    assert!(
        moods.len() >= 3 && moods.contains("happy") && moods.contains("surprise"),
        "moods seen: {moods:?}\n{text}"
    );
    let picks = log.iter().filter(|l| l.contains("playing mood=")).count();
    assert!(picks >= 2, "{picks} pick(s)\n{text}");
    outside
        .wait_for("offline", Duration::from_secs(10), |m| {
            m.topic.ends_with("/availability") && m.payload == b"offline"
        })
        .expect("the device says offline when the demo ends");
    assert!(
        dir.path().join("screen.png").exists(),
        "the screen is drawn"
    );
    assert!(dir.path().join("music/catalogue.toml").exists());
}

#[test]
fn a_taken_broker_port_stops_the_start_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = Command::new(binary("xpressify").expect("binary"))
        .args(["run", "--duration", "5"])
        .env_remove("XPRESSIFY_CONFIG")
        .env("XPRESSIFY__BROKER__LISTEN", format!("127.0.0.1:{port}"))
        .env("XPRESSIFY__DEVICE__CAMERA__SOURCE", "demo")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}"))
            && err.contains("broker.enabled = false"),
        "{err}"
    );
}

/// `xpressify --config FILE print-config`.
fn print_config(file: &std::path::Path) -> std::process::Output {
    Command::new(binary("xpressify").expect("binary"))
        .arg("--config")
        .arg(file)
        .arg("print-config")
        .output()
        .expect("run")
}

#[test]
fn bad_keys_are_refused_with_their_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("box.toml");
    std::fs::write(&file, "[device.camera]\nsorce = \"demo\"\n").expect("write");
    let out = print_config(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("device.camera.sorce"), "{err}");

    let out = Command::new(binary("xpressify").expect("binary"))
        .arg("print-config")
        .env_remove("XPRESSIFY_CONFIG")
        .env("XPRESSIFY__COMPANION__HTTP__LISTEN", "not an address")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("[companion]") && err.contains("http.listen"),
        "{err}"
    );

    // Broker accounts: the box's own login first, device-id names, a known role, each secret
    // masked when shown.
    let login = "[broker]\nusername = \"box\"\npassword = \"box-pw\"\n";
    for (text, key) in [
        (
            "[[broker.accounts]]\nusername = \"kitchen\"\npassword = \"pw\"\nrole = \"device\"\n"
                .to_string(),
            "broker.accounts",
        ),
        (
            format!(
                "{login}[[broker.accounts]]\nusername = \"kit chen\"\npassword = \"pw\"\nrole = \"device\"\n"
            ),
            "broker.accounts[0].username",
        ),
        (
            format!(
                "{login}[[broker.accounts]]\nusername = \"kitchen\"\npassword = \"pw\"\nrole = \"speaker\"\n"
            ),
            "broker.accounts[0].role",
        ),
        (
            format!(
                "{login}[[broker.accounts]]\nusername = \"box\"\npassword = \"pw\"\nrole = \"controller\"\n"
            ),
            "broker.accounts[0].username",
        ),
    ] {
        std::fs::write(&file, &text).expect("write");
        let out = print_config(&file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(err.contains(key), "{key}: {err}");
    }
    std::fs::write(
        &file,
        format!("{login}[[broker.accounts]]\nusername = \"kitchen\"\npassword = \"kitchen-secret\"\nrole = \"device\"\n"),
    )
    .expect("write");
    let out = print_config(&file);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("kitchen") && !shown.contains("kitchen-secret"),
        "{shown}"
    );
}

/// Issue 39, 3: the embedded broker is where commands come from; open to the LAN without a
/// login, anyone there could steer the music. Such a start is refused, naming the keys.
#[test]
fn an_embedded_broker_open_to_the_lan_needs_a_login() {
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(binary("xpressify").expect("binary"));
        cmd.arg("print-config").env_remove("XPRESSIFY_CONFIG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run")
    };
    let out = run(&[("XPRESSIFY__BROKER__LISTEN", "0.0.0.0:1883")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("broker.listen") && err.contains("broker.username"),
        "{err}"
    );
    let out = run(&[
        ("XPRESSIFY__BROKER__LISTEN", "0.0.0.0:1883"),
        ("XPRESSIFY__BROKER__USERNAME", "house"),
        ("XPRESSIFY__BROKER__PASSWORD", "a long secret"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains("a long secret"), "the password is masked");
    let out = run(&[("XPRESSIFY__BROKER__USERNAME", "house")]);
    assert!(!out.status.success(), "a user name without a password");
}

/// The embedded broker with `broker.accounts` (issue 39, 3): rumqttd behind the box's gate.
/// Nobody logs in without an account; a device account publishes only as itself and reads
/// only what is its own; Home Assistant's controller account sends commands and reads the
/// moods; the box's own device and companion carry on through the same door.
#[test]
fn the_embedded_broker_holds_each_account_to_its_topics() {
    let (mqtt, http) = (free_port().expect("port"), free_port().expect("port"));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("xpressify.toml");
    std::fs::write(
        &config,
        format!(
            r#"[broker]
listen = "127.0.0.1:{mqtt}"
username = "box"
password = "box-secret-0123"

[[broker.accounts]]
username = "kitchen"
password = "kitchen-pw"
role = "device"

[[broker.accounts]]
username = "homeassistant"
password = "ha-pw"
role = "controller"

[device.camera]
source = "demo"

[device.mqtt]
device_id = "livingroom"

[companion.http]
listen = "127.0.0.1:{http}"
token = "one-box-token-0123"

[companion.store]
path = "{store}"
"#,
            store = dir.path().join("companion.sqlite").display()
        ),
    )
    .expect("config");
    let mut child = KillOnDrop(
        Command::new(binary("xpressify").expect("binary"))
            .arg("--config")
            .arg(&config)
            .args(["run", "--duration", "90s"])
            .env_remove("XPRESSIFY_CONFIG")
            .env("RUST_LOG", "warn,rumqttd=off")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the box"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let host = "127.0.0.1";
    let box_login = Some(("box", "box-secret-0123"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while xpressify_tests::try_login(host, mqtt, box_login).is_err() {
        assert!(
            Instant::now() < deadline,
            "the box's broker never let its own login in"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Logins: none, a wrong password, an unknown name.
    for login in [None, Some(("kitchen", "guess")), Some(("guest", "guest"))] {
        let refused = xpressify_tests::try_login(host, mqtt, login).expect_err("refused");
        assert!(
            refused.to_string().contains("refused") || refused.to_string().contains("Refused"),
            "{login:?}: {refused}"
        );
    }

    let topic = |device: &str, channel: &str| format!("xpressify/{device}/{channel}");
    let mut everything = xpressify_tests::Subscriber::connect_as(
        host,
        mqtt,
        box_login,
        &["xpressify/#".to_string()],
    )
    .expect("the box's login reads everything");
    let mut kitchen_reads = xpressify_tests::Subscriber::connect_as(
        host,
        mqtt,
        Some(("kitchen", "kitchen-pw")),
        &["xpressify/#".to_string(), "homeassistant/#".to_string()],
    )
    .expect("the kitchen subscribes");

    // The box's own device is heard through the gate.
    everything
        .wait_for("the living room's mood", Duration::from_secs(60), |m| {
            m.topic == topic("livingroom", "mood")
        })
        .expect("the box's device publishes");

    let kitchen = ("kitchen", "kitchen-pw");
    let ha = ("homeassistant", "ha-pw");
    let publish = |login: (&str, &str), t: &str, payload: &[u8]| {
        xpressify_tests::publish_as(host, mqtt, login, t, payload).expect("acknowledged");
    };
    // The kitchen speaks for the living room and steers its music: dropped.
    publish(kitchen, &topic("livingroom", "mood"), b"{\"forged\":1}");
    publish(
        kitchen,
        &topic("livingroom", "command"),
        br#"{"command":"set_volume","volume":100}"#,
    );
    publish(
        kitchen,
        &topic("livingroom", "now_playing"),
        b"{\"forged\":2}",
    );
    // Its own topics and Home Assistant's command pass.
    publish(kitchen, &topic("kitchen", "availability"), b"online");
    publish(
        ha,
        &topic("livingroom", "command"),
        br#"{"command":"set_volume","volume":35}"#,
    );
    everything
        .wait_for("Home Assistant's command", Duration::from_secs(10), |m| {
            m.topic == topic("livingroom", "command") && m.payload.ends_with(b"35}")
        })
        .expect("the controller's command passes");
    everything
        .wait_for("the kitchen's availability", Duration::from_secs(10), |m| {
            m.topic == topic("kitchen", "availability")
        })
        .expect("a device's own topic passes");
    let heard = everything.messages(Duration::from_millis(500));
    for m in heard {
        assert!(
            // The forged volume, in the command itself or in the room state it would make
            // (a timestamp may end in 100 by chance).
            !m.payload.windows(6).any(|w| w == b"forged")
                && !m.payload.windows(12).any(|w| w == b"\"volume\":100"),
            "a forged message passed: {} {:?}",
            m.topic,
            String::from_utf8_lossy(&m.payload)
        );
    }
    // What the kitchen may read: not the living room's moods.
    let kitchen_heard: Vec<String> = kitchen_reads
        .messages(Duration::from_millis(500))
        .iter()
        .map(|m| m.topic.clone())
        .collect();
    assert!(
        kitchen_heard
            .iter()
            .all(|t| t == "xpressify/companion/availability"
                || t == &topic("kitchen", "now_playing")
                || t == "homeassistant/status"
                || t.contains("/xpressify_kitchen/")),
        "the kitchen read others' topics: {kitchen_heard:?}"
    );
    assert!(
        kitchen_heard
            .iter()
            .any(|t| t == "xpressify/companion/availability"),
        "the kitchen hears the companion: {kitchen_heard:?}"
    );
    // A will on another's topic is refused at connect.
    let mut opts = rumqttc::MqttOptions::new("kitchen-will", host, mqtt);
    opts.set_credentials("kitchen", "kitchen-pw");
    opts.set_last_will(rumqttc::LastWill::new(
        topic("livingroom", "availability"),
        "offline",
        rumqttc::QoS::AtLeastOnce,
        true,
    ));
    let (_client, mut connection) = rumqttc::Client::new(opts, 10);
    let first = connection.iter().next().expect("an answer");
    assert!(first.is_err(), "a forged will was accepted: {first:?}");

    // The companion still hears its device and plays.
    let status = loop {
        let (line, body) = http_get(http, "/api/status").expect("status");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if line.contains("200")
            && status["devices"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["id"] == "livingroom"))
        {
            break status;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "{line} {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(status["broker_connected"], true, "{status}");
    drop(everything);
    drop(kitchen_reads);
    drop(child);
    let text = log.join().unwrap_or_default();
    assert!(
        text.contains("not the account's topic"),
        "the gate says what it drops:\n{text}"
    );
}
