//! Rooms: two devices in two rooms with different moods get different music at the same
//! time, each on its own player — a speaker through real `mpv` in the kitchen, a DLNA renderer
//! (real `gmediarender`, in a network namespace) in the bedroom — with the real broker. Each
//! device's display gets its room's `now_playing`, a device's command acts on its room, and
//! the HTTP API's commands and history take a room.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;
use xpressify_protocol::{NowPlaying, Topics};
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch::RunningCompanion;
use xpressify_tests::music::{mood_json, write_catalogue};
use xpressify_tests::players::Renderer;
use xpressify_tests::{Broker, unique_name};

const TOKEN: &str = "rooms-test-token-0123";
const WAIT: Duration = Duration::from_secs(40);

fn room<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["name"] == name))
        .unwrap_or(&Value::Null)
}

fn playing(status: &Value, name: &str, emotion: &str) -> bool {
    let r = room(status, name);
    r["state"] == "playing" && r["now_playing"]["mood"] == emotion
}

#[test]
fn two_rooms_follow_their_own_devices_on_their_own_players() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let renderer = Renderer::start("Bedroom speaker").expect("gmediarender starts");
    let dir = tempfile::tempdir().expect("tempdir");
    // Titles say their mood; long tracks, so nothing ends mid-test.
    let music = dir.path().join("music");
    write_catalogue(&music, &[("happy", 3), ("sad", 3)], 40.0);
    let (kitchen_id, bedroom_id) = (unique_name("kitchen"), unique_name("bedroom"));
    let config = dir.path().join("companion.toml");
    std::fs::write(
        &config,
        format!(
            r#"[mpv]
audio_output = "null"

[dlna]
ssdp_target = "{target}"
search_s = "2s"
poll_s = 0.3

[[rooms]]
name = "kitchen"
devices = ["{kitchen_id}"]
[rooms.player]
sink = "mpv"

[[rooms]]
name = "bedroom"
devices = ["{bedroom_id}"]
[rooms.player]
sink = "dlna"
renderer = "Bedroom speaker"
volume = 30
"#,
            target = renderer.ssdp_target(),
        ),
    )
    .expect("config");
    let companion = RunningCompanion::start(
        &broker,
        &fake,
        IpAddr::V4(renderer.host_ip),
        TOKEN,
        &[
            ("XPRESSIFY_CONFIG", config.display().to_string()),
            ("XPRESSIFY__YOUTUBE__API_KEY", String::new()),
            ("XPRESSIFY__LOCAL__FOLDER", music.display().to_string()),
        ],
    )
    .expect("the companion starts");
    let api = &companion.api;
    let prefix = companion.topics.prefix();
    let kitchen = Topics::new(prefix, kitchen_id).expect("topics");
    let bedroom = Topics::new(prefix, bedroom_id).expect("topics");

    let mut displays = broker
        .subscriber(&[kitchen.now_playing(), bedroom.now_playing()])
        .expect("subscriber");
    broker
        .publish(
            &kitchen.mood(),
            mood_json(kitchen.device_id(), "happy").as_bytes(),
            true,
        )
        .expect("kitchen mood");
    broker
        .publish(
            &bedroom.mood(),
            mood_json(bedroom.device_id(), "sad").as_bytes(),
            true,
        )
        .expect("bedroom mood");

    // Both rooms play at once, each its own mood, each on its own player.
    let status = api
        .wait_for("both rooms playing", "/api/status", WAIT, |s| {
            playing(s, "kitchen", "happy") && playing(s, "bedroom", "sad")
        })
        .expect("two rooms, two moods");
    let (k, b) = (room(&status, "kitchen"), room(&status, "bedroom"));
    assert_eq!(k["sink"], "mpv");
    assert_eq!(b["sink"], "dlna");
    assert!(
        k["now_playing"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("A happy")),
        "{k}"
    );
    assert!(
        b["now_playing"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("A sad")),
        "{b}"
    );
    assert_eq!(k["devices"], serde_json::json!([kitchen.device_id()]));
    assert_eq!(b["devices"], serde_json::json!([bedroom.device_id()]));
    let bedroom_pick = b["pick_id"].as_i64().expect("bedroom pick");
    let kitchen_pick = k["pick_id"].as_i64().expect("kitchen pick");

    // Each display shows its own room's music.
    let decoded = |topic: String, emotion: &'static str| {
        move |m: &xpressify_tests::Message| {
            m.topic == topic
                && NowPlaying::decode(&m.payload).is_ok_and(|n| n.mood.as_str() == emotion)
        }
    };
    displays
        .wait_for(
            "the kitchen's now_playing",
            WAIT,
            decoded(kitchen.now_playing(), "happy"),
        )
        .expect("kitchen display");
    displays
        .wait_for(
            "the bedroom's now_playing",
            WAIT,
            decoded(bedroom.now_playing(), "sad"),
        )
        .expect("bedroom display");
    assert!(
        !displays
            .messages(Duration::from_millis(300))
            .iter()
            .any(|m| {
                (m.topic == kitchen.now_playing()
                    && NowPlaying::decode(&m.payload).is_ok_and(|n| n.mood.as_str() == "sad"))
                    || (m.topic == bedroom.now_playing()
                        && NowPlaying::decode(&m.payload).is_ok_and(|n| n.mood.as_str() == "happy"))
            }),
        "a display got the other room's music"
    );

    // A skip pressed on the bedroom's device skips the bedroom's music only.
    broker
        .publish(&bedroom.command(), br#"{"command":"skip"}"#, false)
        .expect("skip");
    let status = api
        .wait_for("the bedroom's next pick", "/api/status", WAIT, |s| {
            let b = room(s, "bedroom");
            b["pick_id"].as_i64().is_some_and(|id| id != bedroom_pick) && b["state"] == "playing"
        })
        .expect("skipped");
    assert_eq!(
        room(&status, "kitchen")["pick_id"],
        kitchen_pick,
        "the kitchen played on"
    );

    // The HTTP API: a command for a room, and a room that does not exist.
    let (code, _) = api.call(
        reqwest::Method::POST,
        "/api/command?room=kitchen",
        Some(serde_json::json!({"command": "pause"})),
    );
    assert_eq!(code, 202);
    let status = api
        .wait_for("the kitchen paused", "/api/status", WAIT, |s| {
            room(s, "kitchen")["state"] == "paused"
        })
        .expect("paused");
    assert_eq!(room(&status, "bedroom")["state"], "playing");
    let (code, body) = api.call(
        reqwest::Method::POST,
        "/api/command?room=garage",
        Some(serde_json::json!({"command": "pause"})),
    );
    assert_eq!(code, 404);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("kitchen")),
        "{body}"
    );

    // History by room.
    let history = api.get("/api/history?room=bedroom").expect("history");
    let picks = history["picks"].as_array().expect("picks");
    assert!(picks.len() >= 2, "{history}");
    for p in picks {
        assert_eq!(p["room"], "bedroom", "{p}");
        assert_eq!(p["mood"], "sad", "{p}");
    }
    for m in history["moods"].as_array().expect("moods") {
        assert_eq!(m["device"], bedroom.device_id(), "{m}");
    }

    // Each room learns its own taste: the bedroom's skip taught the bedroom, not the kitchen.
    let db =
        rusqlite::Connection::open(companion.dir.path().join("companion.sqlite")).expect("store");
    let rooms: Vec<String> = db
        .prepare("SELECT DISTINCT room FROM taste ORDER BY room")
        .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
        .expect("taste rows");
    assert_eq!(rooms, ["bedroom"]);
}

#[test]
fn a_room_config_that_cannot_work_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (toml, key) in [
        (
            "[[rooms]]\nname = \"a\"\ndevices = [\"x\"]\n[[rooms]]\nname = \"b\"\ndevices = [\"x\"]\n",
            "rooms[1].devices",
        ),
        (
            "[[rooms]]\nname = \"a\"\n[[rooms]]\nname = \"A\"\n",
            "rooms[1].name",
        ),
        (
            "[[rooms]]\nname = \"a\"\n[[rooms]]\nname = \"b\"\n",
            "rooms",
        ),
        (
            "[[rooms]]\nname = \"a\"\n[rooms.player]\nsink = \"tv\"\n",
            "rooms",
        ),
    ] {
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        let out = std::process::Command::new(
            xpressify_tests::binary("xpressify-companion").expect("binary"),
        )
        .args(["--config"])
        .arg(&path)
        .arg("print-config")
        .output()
        .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml} was accepted");
        assert!(err.contains(key), "{toml}: {err}");
    }
}
