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

#[test]
fn bad_keys_are_refused_with_their_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("box.toml");
    std::fs::write(&file, "[device.camera]\nsorce = \"demo\"\n").expect("write");
    let out = Command::new(binary("xpressify").expect("binary"))
        .arg("--config")
        .arg(&file)
        .arg("print-config")
        .output()
        .expect("run");
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
