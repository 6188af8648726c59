//! `xpressify-companion run` end to end: a real Mosquitto, the fake YouTube, the web player
//! as the sink, and the HTTP API — a mood becomes music, listeners' commands and the page's
//! reports move it on, junk is counted, the mapping is edited, and a stop says goodbye.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xpressify_protocol::topics::companion_availability;
use xpressify_protocol::{NowPlaying, PlaybackState, Topics, Track};
use xpressify_tests::fakes::{FakeYoutube, GOOD_KEY};
use xpressify_tests::{Broker, KillOnDrop, binary, free_port, unique_name};

const MOOD: &str = r#"{"schema":1,"device_id":"DEV","emotion":"EMO","confidence":0.8,"probabilities":[0.1,0.0,0.1,0.5,0.2,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{"name":"m","version":"1"}}"#;

const TOKEN: &str = "test-control-token-123";

struct Api {
    base: String,
    token: Option<&'static str>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(t) = self.token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.json(&b);
            }
            match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
                }
                Err(_) => (0, Value::Null),
            }
        })
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Polls `GET path` until `pred` holds.
    fn wait(&self, what: &str, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.call(reqwest::Method::GET, path, None);
            if status == 200 && pred(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last {status}: {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn moods_become_music_that_listeners_control() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = unique_name("xp");
    let device = unique_name("dev");
    let topics = Topics::new(prefix.clone(), device.clone()).expect("topics");
    let port = free_port().expect("port");
    let mut sub = broker
        .subscriber(&[topics.now_playing(), companion_availability(&prefix)])
        .expect("subscriber");
    let child = Command::new(binary("xpressify-companion").expect("binary"))
        .arg("run")
        .env("XPRESSIFY__MQTT__URL", &broker.url)
        .env("XPRESSIFY__MQTT__PREFIX", &prefix)
        .env("XPRESSIFY__MQTT__CLIENT_ID", unique_name("companion"))
        .env(
            "XPRESSIFY__STORE__PATH",
            dir.path().join("companion.sqlite"),
        )
        .env("XPRESSIFY__YOUTUBE__API_KEY", GOOD_KEY)
        .env("XPRESSIFY__YOUTUBE__API_BASE_URL", &fake.base_url)
        .env("XPRESSIFY__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("XPRESSIFY__HTTP__TOKEN", TOKEN)
        .env("XPRESSIFY__MUSIC__START_AFTER_S", "0.5")
        .env("XPRESSIFY__MUSIC__SWITCH_AFTER_S", "2")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    let api = Api {
        token: Some(TOKEN),
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    api.wait("the API", "/api/status", |s| s["broker_connected"] == true);
    sub.wait_for("companion online", Duration::from_secs(10), |m| {
        m.topic == companion_availability(&prefix) && m.payload == b"online"
    })
    .expect("online");

    // A happy mood starts music from the fake's results for a happy phrase.
    let mood = |emotion: &str| MOOD.replace("DEV", &device).replace("EMO", emotion);
    broker
        .publish(&topics.availability(), b"online", true)
        .expect("publish");
    broker
        .publish(&topics.mood(), mood("happy").as_bytes(), true)
        .expect("publish");
    let first = sub
        .wait_for("now_playing", Duration::from_secs(15), |m| {
            m.topic == topics.now_playing()
        })
        .expect("now_playing");
    assert!(first.retain || !first.payload.is_empty());
    let np = NowPlaying::decode(&first.payload).expect("valid now_playing");
    assert_eq!(np.mood.as_str(), "happy");
    assert_eq!(np.state, PlaybackState::Playing);
    let Track::Youtube { video_id } = &np.track else {
        panic!("a YouTube pick: {np:?}");
    };
    let q = fake.requests()[0].get("q").cloned().unwrap_or_default();
    assert!(
        [
            "happy upbeat songs",
            "feel good pop songs",
            "summer dance hits"
        ]
        .contains(&q.as_str()),
        "searched {q:?}"
    );
    assert!((0..15).any(|i| xpressify_tests::fakes::video_id(&q, i) == *video_id));

    // The web player shows it; the page reports the end; the next pick starts.
    let player = api.get("/api/player");
    let pick_id = player["item"]["pick_id"].as_i64().expect("pick id");
    assert_eq!(player["state"], "playing");
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/player/report",
        Some(json!({"pick_id": pick_id, "event": "ended"})),
    );
    assert_eq!(status, 202);
    let second = api.wait("the next pick", "/api/player", |p| {
        p["item"]["pick_id"]
            .as_i64()
            .is_some_and(|id| id != pick_id)
    });
    assert_ne!(
        second["item"]["track"], player["item"]["track"],
        "no repeat"
    );
    // A stale report is refused.
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/player/report",
        Some(json!({"pick_id": pick_id, "event": "ended"})),
    );
    assert_eq!(status, 409);

    // A dislike over MQTT (a device button) moves on and is remembered.
    let second_id = second["item"]["pick_id"].as_i64().expect("id");
    broker
        .publish(&topics.command(), br#"{"command":"dislike"}"#, false)
        .expect("publish");
    api.wait("a pick after the dislike", "/api/player", |p| {
        p["item"]["pick_id"]
            .as_i64()
            .is_some_and(|id| id > second_id)
    });
    // Changes need the control token; reading does not.
    let anonymous = Api {
        token: None,
        base: api.base.clone(),
        http: reqwest::Client::new(),
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    };
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/command",
            json!({"command": "skip"}),
        ),
        (
            reqwest::Method::PUT,
            "/api/mapping",
            api.get("/api/mapping"),
        ),
        (
            reqwest::Method::POST,
            "/api/player/report",
            json!({"pick_id": 1, "event": "ended"}),
        ),
    ] {
        let (status, body) = anonymous.call(method, path, Some(body));
        assert_eq!(status, 401, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("token")),
            "{body}"
        );
    }
    assert_eq!(anonymous.get("/api/status")["mood"], "happy");
    // Pause from the HTTP API.
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/command",
        Some(json!({"command": "pause"})),
    );
    assert_eq!(status, 202);
    api.wait("paused", "/api/player", |p| p["state"] == "paused");
    sub.wait_for("paused now_playing", Duration::from_secs(5), |m| {
        NowPlaying::decode(&m.payload).is_ok_and(|n| n.state == PlaybackState::Paused)
    })
    .expect("paused published");
    let (status, body) = api.call(
        reqwest::Method::POST,
        "/api/command",
        Some(json!({"command": "louder"})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/command",
        Some(json!({"command": "play"})),
    );
    assert_eq!(status, 202);

    // A lasting change of mood cuts the track.
    broker
        .publish(&topics.mood(), mood("sad").as_bytes(), true)
        .expect("publish");
    sub.wait_for("sad music", Duration::from_secs(15), |m| {
        NowPlaying::decode(&m.payload).is_ok_and(|n| n.mood.as_str() == "sad")
    })
    .expect("switched");

    // Junk is counted, not fatal.
    broker
        .publish(&topics.mood(), b"\xff junk", false)
        .expect("publish");
    broker
        .publish(
            &topics.command(),
            br#"{"command":"set_volume","volume":300}"#,
            false,
        )
        .expect("publish");
    let status = api.wait("junk counted", "/api/status", |s| {
        s["refused"]["mood"] == 1 && s["refused"]["command"] == 1
    });
    assert_eq!(status["mood"], "sad");
    assert_eq!(status["youtube"]["state"], "ok");
    assert!(
        !status.to_string().contains(GOOD_KEY),
        "the key never leaves the server"
    );

    // The mapping: a bad edit is refused by key; a good one is kept.
    let mut mapping = api.get("/api/mapping");
    assert!(
        mapping["emotions"]["happy"]["match"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("happy upbeat songs")))
    );
    mapping["emotions"]["sad"]["languages"] = json!(["English"]);
    let (status, body) = api.call(reqwest::Method::PUT, "/api/mapping", Some(mapping.clone()));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("music.emotions.sad.languages[0]")),
        "{body}"
    );
    mapping["emotions"]["sad"]["languages"] = json!(["en"]);
    mapping["policy"] = json!("lift");
    let (status, body) = api.call(reqwest::Method::PUT, "/api/mapping", Some(mapping));
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.get("/api/mapping")["policy"], "lift");

    // History: moods and picks, with the dislike.
    let history = api.get("/api/history?limit=20");
    let picks = history["picks"].as_array().expect("picks");
    assert!(picks.len() >= 4, "{history}");
    assert!(
        picks
            .iter()
            .any(|p| p["feedback"].to_string().contains("dislike")),
        "{history}"
    );
    assert!(history["moods"].as_array().is_some_and(|m| m.len() >= 2));

    // SIGTERM: the companion says offline and exits cleanly.
    let pid = child.0.id();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    sub.wait_for("companion offline", Duration::from_secs(5), |m| {
        m.topic == companion_availability(&prefix) && m.payload == b"offline"
    })
    .expect("offline");
}
