//! `xpressify-companion run` end to end: a real Mosquitto, the fake YouTube, the web player
//! as the sink, and the HTTP API — a mood becomes music, listeners' commands and the page's
//! reports move it on, junk is counted, the mapping is edited, and a stop says goodbye.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use xpressify_protocol::topics::companion_availability;
use xpressify_protocol::{NowPlaying, PlaybackState, Topics, Track};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::{FakeYoutube, GOOD_KEY};
use xpressify_tests::launch;
use xpressify_tests::{Broker, KillOnDrop, free_port, unique_name};

/// How long the companion gets for each step.
const WAIT: Duration = Duration::from_secs(20);

const MOOD: &str = r#"{"schema":1,"device_id":"DEV","emotion":"EMO","confidence":0.8,"probabilities":[0.1,0.0,0.1,0.5,0.2,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{"name":"m","version":"1"}}"#;

const TOKEN: &str = "test-control-token-123";

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
    let child = launch::companion(
        &broker.url,
        &prefix,
        &dir.path().join("companion.sqlite"),
        port,
        TOKEN,
        &fake,
    )
    .expect("companion binary")
    .env("XPRESSIFY__MUSIC__SWITCH_AFTER_S", "2")
    .env("RUST_LOG", "info")
    .spawn()
    .expect("spawn");
    let mut child = KillOnDrop(child);
    let api = Api::new(port, Some(TOKEN)).expect("client");
    api.wait_for("the API", "/api/status", WAIT, |s| {
        s["broker_connected"] == true
    })
    .expect("the API");
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
    let player = api.get("/api/player").expect("/api/player");
    let pick_id = player["item"]["pick_id"].as_i64().expect("pick id");
    assert_eq!(player["state"], "playing");
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/player/report",
        Some(json!({"pick_id": pick_id, "event": "ended"})),
    );
    assert_eq!(status, 202);
    let second = api
        .wait_for("the next pick", "/api/player", WAIT, |p| {
            p["item"]["pick_id"]
                .as_i64()
                .is_some_and(|id| id != pick_id)
        })
        .expect("the next pick");
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
    // An event the player cannot report is refused by name, with the ones it can.
    let (status, body) = api.call(
        reqwest::Method::POST,
        "/api/player/report",
        Some(json!({"pick_id": pick_id, "event": "paused"})),
    );
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("event") && error.contains("ended") && error.contains("failed"),
        "{body}"
    );

    // A dislike over MQTT (a device button) moves on and is remembered.
    let second_id = second["item"]["pick_id"].as_i64().expect("id");
    broker
        .publish(&topics.command(), br#"{"command":"dislike"}"#, false)
        .expect("publish");
    api.wait_for("a pick after the dislike", "/api/player", WAIT, |p| {
        p["item"]["pick_id"]
            .as_i64()
            .is_some_and(|id| id > second_id)
    })
    .expect("a pick after the dislike");
    // Changes need the control token; reading does not.
    let anonymous = Api::new(port, None).expect("client");
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/api/command",
            json!({"command": "skip"}),
        ),
        (
            reqwest::Method::PUT,
            "/api/mapping",
            api.get("/api/mapping").expect("/api/mapping"),
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
    assert_eq!(
        anonymous.get("/api/status").expect("/api/status")["mood"],
        "happy"
    );
    // Pause from the HTTP API.
    let (status, _) = api.call(
        reqwest::Method::POST,
        "/api/command",
        Some(json!({"command": "pause"})),
    );
    assert_eq!(status, 202);
    api.wait_for("paused", "/api/player", WAIT, |p| p["state"] == "paused")
        .expect("paused");
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
    let status = api
        .wait_for("junk counted", "/api/status", WAIT, |s| {
            s["refused"]["mood"] == 1 && s["refused"]["command"] == 1
        })
        .expect("junk counted");
    assert_eq!(status["mood"], "sad");
    assert_eq!(status["youtube"]["state"], "ok");
    assert!(
        !status.to_string().contains(GOOD_KEY),
        "the key never leaves the server"
    );

    // The mapping: a bad edit is refused by key; a good one is kept.
    let mut mapping = api.get("/api/mapping").expect("/api/mapping");
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
    assert_eq!(
        api.get("/api/mapping").expect("/api/mapping")["policy"],
        "lift"
    );

    // History: moods and picks, with the dislike.
    let history = api
        .get("/api/history?limit=20")
        .expect("/api/history?limit=20");
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
