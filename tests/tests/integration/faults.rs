//! Faults the binaries must survive, each asserting what is left standing: YouTube refusing,
//! failing or hanging; junk on every topic either side subscribes to; corrupt or missing
//! files at start; the companion killed in the middle of its writes.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use xpressify_companion::source::wav;
use xpressify_companion::store::Store;
use xpressify_protocol::topics::companion_availability;
use xpressify_protocol::{Availability, Topics, discovery};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::{FakeYoutube, Trouble};
use xpressify_tests::{Broker, KillOnDrop, binary, free_port, launch, unique_name};

const TOKEN: &str = "faults-token-0123456";
const WAIT: Duration = Duration::from_secs(30);

fn mood(device: &str, emotion: &str, confidence: f32) -> String {
    format!(
        r#"{{"schema":1,"device_id":"{device}","emotion":"{emotion}","confidence":{confidence},"probabilities":[0.1,0.0,0.1,0.5,0.2,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{{"name":"m","version":"1"}}}}"#
    )
}

/// A local catalogue of three short tones that suit every mood.
fn write_catalogue(folder: &Path) {
    std::fs::create_dir_all(folder).expect("mkdir");
    let mut toml = String::new();
    for (i, hz) in [330.0, 440.0, 550.0].into_iter().enumerate() {
        let file = format!("tone-{i}.wav");
        std::fs::write(
            folder.join(&file),
            wav::pcm16_mono(&wav::tone(hz, 1.0, 8_000), 8_000),
        )
        .expect("write tone");
        toml.push_str(&format!(
            "[[track]]\nfile = \"{file}\"\ntitle = \"Tone {i}\"\nmoods = [\"angry\", \"disgust\", \"fear\", \"happy\", \"sad\", \"surprise\", \"neutral\"]\n\n"
        ));
    }
    std::fs::write(folder.join("catalogue.toml"), toml).expect("write catalogue");
}

fn alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// A companion on `broker` with a local catalogue beside YouTube, quick to start and switch.
struct Companion {
    process: KillOnDrop,
    api: Api,
    topics: Topics,
    dir: tempfile::TempDir,
}

impl Companion {
    fn start(broker: &Broker, fake: &FakeYoutube, env: &[(&str, &str)]) -> Companion {
        let dir = tempfile::tempdir().expect("tempdir");
        write_catalogue(&dir.path().join("music"));
        let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("topics");
        let port = free_port().expect("port");
        let mut cmd = launch::companion(
            &broker.url,
            topics.prefix(),
            &dir.path().join("companion.sqlite"),
            port,
            TOKEN,
            fake,
        )
        .expect("companion binary");
        cmd.env("XPRESSIFY__LOCAL__FOLDER", dir.path().join("music"))
            .env("XPRESSIFY__MUSIC__SWITCH_AFTER_S", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let process = KillOnDrop(cmd.spawn().expect("spawn companion"));
        let api = Api::new(port, Some(TOKEN)).expect("client");
        api.wait_for("the companion", "/api/status", WAIT, |s| {
            s["broker_connected"] == true
        })
        .expect("connected");
        Companion {
            process,
            api,
            topics,
            dir,
        }
    }

    /// Publishes `emotion` for the device and waits until music for it plays; returns the
    /// status then.
    fn play_for(&self, broker: &Broker, emotion: &str) -> Value {
        broker
            .publish(
                &self.topics.mood(),
                mood(self.topics.device_id(), emotion, 0.9).as_bytes(),
                true,
            )
            .expect("publish mood");
        self.api
            .wait_for(&format!("music for {emotion}"), "/api/status", WAIT, |s| {
                s["now_playing"]["mood"] == emotion && s["now_playing"]["state"] == "playing"
            })
            .expect("playing")
    }
}

#[test]
fn youtube_outages_fall_back_to_the_local_catalogue() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    // (outage, YouTube's state shown afterwards, the day's request budget)
    for (trouble, state, budget) in [
        (Trouble::QuotaExceeded, "paused", 6),
        // Four moods, two tries each, would be eight requests: the budget must stop them.
        (Trouble::ServerError, "failing", 6),
        (Trouble::Hang, "failing", 20),
    ] {
        let fake = FakeYoutube::start().expect("fake youtube");
        fake.set_trouble(Some(trouble));
        let mut companion = Companion::start(
            &broker,
            &fake,
            &[
                ("XPRESSIFY__YOUTUBE__TIMEOUT_S", "1"),
                ("XPRESSIFY__YOUTUBE__RETRIES", "1"),
                ("XPRESSIFY__YOUTUBE__DAILY_BUDGET", &budget.to_string()),
            ],
        );
        // Each mood still gets music, from the catalogue.
        for emotion in ["happy", "sad", "angry", "fear"] {
            let status = companion.play_for(&broker, emotion);
            assert_eq!(
                status["now_playing"]["source"], "local",
                "{trouble:?}: {status}"
            );
        }
        assert!(alive(&mut companion.process.0), "{trouble:?} killed it");
        let status = companion.api.get("/api/status").expect("status");
        let calls = fake.calls();
        match trouble {
            // The quota error stops all searching until Google's reset: one request.
            Trouble::QuotaExceeded => {
                assert_eq!(status["youtube"]["state"], state, "{status}");
                assert_eq!(calls, 1, "searched again after quotaExceeded");
            }
            // Failures are retried, but never past the day's budget.
            Trouble::ServerError => {
                assert!(
                    status["youtube"]["state"] == state || status["youtube"]["state"] == "paused",
                    "{status}"
                );
                assert!(calls >= 2, "a failed search is retried once ({calls})");
                assert!(calls <= budget, "{calls} requests, budget {budget}");
                assert_eq!(status["youtube_budget"]["spent"], calls, "{status}");
            }
            // A hanging server times out; once it answers again, YouTube is used again.
            Trouble::Hang => {
                assert_eq!(status["youtube"]["state"], state, "{status}");
                fake.set_trouble(None);
                let status = companion.play_for(&broker, "surprise");
                assert_eq!(status["now_playing"]["source"], "youtube", "{status}");
                assert!(fake.calls() <= budget);
            }
        }
        let player = companion.api.get("/api/player").expect("player");
        assert_eq!(player["state"], "playing", "{player}");
    }
}

/// What each subscribed topic gets: random bytes, a huge payload, and JSON of the wrong
/// shape.
fn junk() -> Vec<Vec<u8>> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..300)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    vec![
        random,
        vec![b'{'; 512 * 1024],
        br#"{"schema":"one","emotion":7,"state":[],"command":{"x":1}}"#.to_vec(),
    ]
}

#[test]
fn junk_on_every_subscribed_topic_is_ignored_and_counted() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let companion = Companion::start(&broker, &fake, &[]);
    let topics = &companion.topics;
    let ha_prefix = unique_name("ha");
    let mut sub = broker
        .subscriber(&[topics.availability()])
        .expect("subscriber");
    let device = launch::device_announce(&broker.url, topics, &ha_prefix)
        .expect("device binary")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn device");
    let mut device = KillOnDrop(device);
    let online = |m: &xpressify_tests::Message| {
        m.topic == topics.availability()
            && Availability::decode(&m.payload).ok() == Some(Availability::Online)
    };
    sub.wait_for("the device online", WAIT, online)
        .expect("online");

    // Companion's topics: mood, availability, command. Device's: now_playing, the companion's
    // availability, Home Assistant's status.
    let companion_side = [topics.mood(), topics.availability(), topics.command()];
    let device_side = [
        topics.now_playing(),
        companion_availability(topics.prefix()),
        discovery::status_topic(&ha_prefix),
    ];
    let payloads = junk();
    for topic in companion_side.iter().chain(&device_side) {
        for payload in &payloads {
            broker.publish(topic, payload, false).expect("publish junk");
        }
    }
    let n = payloads.len() as u64;
    let status = companion
        .api
        .wait_for("every junk payload counted", "/api/status", WAIT, |s| {
            ["mood", "availability", "command"]
                .iter()
                .all(|c| s["refused"][c] == n)
        })
        .expect("counted");
    assert_eq!(status["broker_connected"], true);
    // Both still work: a real mood becomes music, and the device never dropped its link
    // (one `online`, no reconnect).
    companion.play_for(&broker, "happy");
    let onlines = sub
        .messages(Duration::from_millis(300))
        .iter()
        .filter(|m| online(m))
        .count();
    assert_eq!(onlines, 1, "the device reconnected");

    // A clean stop reports the device's count.
    let _ = Command::new("kill")
        .args(["-TERM", &device.0.id().to_string()])
        .status();
    let deadline = Instant::now() + WAIT;
    while alive(&mut device.0) {
        assert!(Instant::now() < deadline, "the device did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut log = String::new();
    if let Some(mut err) = device.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut log);
    }
    assert!(
        log.contains(&format!("refused={}", 3 * n)),
        "the device's count: {log}"
    );
}

/// Runs `cmd` until it exits (at most 60 s) and returns (success, stderr).
fn start_fails(mut cmd: Command) -> (bool, String) {
    let end = launch::run_to_end(&mut cmd, Duration::from_secs(60))
        .expect("the binary refuses its files instead of running");
    (end.success, end.stderr)
}

#[test]
fn corrupt_or_missing_files_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(
        &garbage,
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .expect("write");
    let broken_toml = dir.path().join("broken.toml");
    std::fs::write(&broken_toml, "[mqtt\nurl = \"mqtt://x\"\n").expect("write");
    let port = free_port().expect("port");
    let nowhere = format!("mqtt://127.0.0.1:{port}");

    // Config files that are not TOML, for all three binaries.
    for bin in ["xpressify-device", "xpressify-companion", "xpressify"] {
        for file in [&garbage, &broken_toml] {
            let mut cmd = Command::new(binary(bin).expect("binary"));
            cmd.arg("--config").arg(file).arg("run");
            let (ok, err) = start_fails(cmd);
            assert!(!ok, "{bin} ran with {}", file.display());
            assert!(
                err.contains(&file.display().to_string()),
                "{bin} does not name {}: {err}",
                file.display()
            );
        }
    }

    // Model files: missing, and not ONNX at all (also a truncated copy of the real one).
    let models = launch::models_dir();
    let truncated = dir.path().join("models");
    std::fs::create_dir(&truncated).expect("mkdir");
    for entry in std::fs::read_dir(&models).expect("models") {
        let path = entry.expect("entry").path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "onnx" || e == "json") {
            let bytes = std::fs::read(&path).expect("read model");
            let keep = if path.extension().is_some_and(|e| e == "onnx") {
                bytes.len() / 3
            } else {
                bytes.len()
            };
            std::fs::write(truncated.join(name), &bytes[..keep]).expect("write");
        }
    }
    let detector = models.join("face_detection_yunet_2026may.onnx");
    let cases: [(&str, &Path, &Path, &str); 4] = [
        (
            "missing detector",
            &dir.path().join("none.onnx"),
            &models,
            "none.onnx",
        ),
        ("garbage detector", &garbage, &models, "garbage.bin"),
        ("truncated classifier", &detector, &truncated, "emotion"),
        (
            "missing classifier folder",
            &detector,
            &dir.path().join("nope"),
            "nope",
        ),
    ];
    for (what, detector_file, models_dir, named) in cases {
        let mut device = Command::new(binary("xpressify-device").expect("binary"));
        device
            .arg("run")
            .env("XPRESSIFY__MQTT__URL", &nowhere)
            .env("XPRESSIFY__CAMERA__SOURCE", "demo")
            .env("XPRESSIFY__DETECTOR__MODEL", detector_file)
            .env("XPRESSIFY__CLASSIFIER__MODELS_DIR", models_dir);
        let mut one_box = Command::new(binary("xpressify").expect("binary"));
        one_box
            .arg("run")
            .env("XPRESSIFY__BROKER__ENABLED", "false")
            .env("XPRESSIFY__DEVICE__MQTT__URL", &nowhere)
            .env("XPRESSIFY__COMPANION__MQTT__URL", &nowhere)
            .env(
                "XPRESSIFY__COMPANION__HTTP__LISTEN",
                format!("127.0.0.1:{}", free_port().expect("port")),
            )
            .env(
                "XPRESSIFY__COMPANION__STORE__PATH",
                dir.path().join("box.sqlite"),
            )
            .env("XPRESSIFY__DEVICE__CAMERA__SOURCE", "demo")
            .env("XPRESSIFY__DEVICE__DETECTOR__MODEL", detector_file)
            .env("XPRESSIFY__DEVICE__CLASSIFIER__MODELS_DIR", models_dir);
        for (bin, cmd) in [("xpressify-device", device), ("xpressify", one_box)] {
            let (ok, err) = start_fails(cmd);
            assert!(!ok, "{bin} ran with a {what}");
            assert!(
                err.contains(named),
                "{bin}, {what}: the error does not name {named}: {err}"
            );
            if what.starts_with("missing") {
                assert_eq!(
                    err.matches("No such file").count(),
                    1,
                    "{bin}, {what}: the reason once, after the file's name: {err}"
                );
            }
        }
    }

    // A store that is not a database.
    let fake = FakeYoutube::start().expect("fake");
    let cmd = launch::companion(
        &nowhere,
        "xp",
        &garbage,
        free_port().expect("port"),
        TOKEN,
        &fake,
    )
    .expect("companion binary");
    let (ok, err) = start_fails(cmd);
    assert!(!ok, "the companion ran on a garbage store");
    assert!(err.contains("garbage.bin"), "{err}");
}

#[test]
fn a_companion_killed_while_writing_keeps_every_committed_row() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let mut companion = Companion::start(&broker, &fake, &[]);
    let prefix = companion.topics.prefix().to_string();
    let store_path = companion.dir.path().join("companion.sqlite");

    // Moods from five devices as fast as the broker takes them, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let stop = stop.clone();
        let (host, port) = (broker.host.clone(), broker.port);
        std::thread::spawn(move || {
            let mut opts = rumqttc::MqttOptions::new(unique_name("flood"), host, port);
            opts.set_inflight(50);
            let (client, mut connection) = rumqttc::Client::new(opts, 200);
            let pump = std::thread::spawn(move || {
                for event in connection.iter() {
                    if matches!(
                        event,
                        Err(_) | Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect))
                    ) {
                        break;
                    }
                }
            });
            let emotions = ["happy", "sad", "angry", "neutral"];
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
                let device = format!("flood{}", i % 5);
                let topic = Topics::new(prefix.clone(), device.clone()).expect("topics");
                let body = mood(
                    &device,
                    emotions[(i / 5) as usize % 4],
                    (i % 1000) as f32 / 1000.0,
                );
                if client
                    .publish(topic.mood(), rumqttc::QoS::AtLeastOnce, false, body)
                    .is_err()
                {
                    break;
                }
                i += 1;
            }
            let _ = client.disconnect();
            let _ = pump.join();
            i
        })
    };
    // What the companion says it has written, read back while it writes on.
    let seen = companion
        .api
        .wait_for(
            "several hundred moods stored",
            "/api/history?limit=5000",
            WAIT,
            |h| h["moods"].as_array().is_some_and(|m| m.len() >= 500),
        )
        .expect("history");
    companion.process.0.kill().expect("kill -9");
    let _ = companion.process.0.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let published = publisher.join().expect("publisher");
    let seen = seen["moods"].as_array().expect("moods").clone();

    // The file opens clean (quick_check passes at open) and holds every row read back.
    let store = Store::open(&store_path).expect("the store opens after kill -9");
    let stored = store.recent_moods(1_000_000).expect("read moods");
    let key =
        |device: &str, confidence: f64, at_ms: u64| format!("{device}|{:.3}|{at_ms}", confidence);
    let kept: std::collections::HashSet<String> = stored
        .iter()
        .map(|m| key(&m.device, f64::from(m.confidence), m.at_ms))
        .collect();
    for m in &seen {
        let k = key(
            m["device"].as_str().unwrap_or_default(),
            m["confidence"].as_f64().unwrap_or(-1.0),
            m["at_ms"].as_u64().unwrap_or(0),
        );
        assert!(kept.contains(&k), "committed row {m} lost");
    }
    assert!(stored.len() >= seen.len());
    eprintln!(
        "published {published}, read back {} before kill -9, {} in the file after",
        seen.len(),
        stored.len()
    );
}
