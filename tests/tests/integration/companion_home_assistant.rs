//! The companion's room as a Home Assistant device, through a real Mosquitto and the real
//! `xpressify-companion run`: the discovery messages arrive (available with the companion,
//! linked to its page), and what Home Assistant would send — a button's `payload_press`, the
//! volume `number`'s rendered `command_template`, the follow switch's payloads — steers the
//! room, whose retained state says so; and `/metrics` reads as Prometheus text with what
//! happened.

use std::time::Duration;

use serde_json::Value;
use xpressify_protocol::topics::{self, RoomChannel};
use xpressify_protocol::{Emotion, PlaybackState, RoomState};
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch::RunningCompanion;
use xpressify_tests::music::mood_json;
use xpressify_tests::{Broker, Message, Subscriber, prometheus, unique_name};

const TOKEN: &str = "ha-room-test-token-0123";
const WAIT: Duration = Duration::from_secs(20);

fn config(messages: &[Message], object: &str) -> Value {
    messages
        .iter()
        .find(|m| {
            m.topic
                .ends_with(&format!("/xpressify_music_home/{object}/config"))
        })
        .and_then(|m| serde_json::from_slice(&m.payload).ok())
        .unwrap_or_else(|| panic!("no discovery message for {object}"))
}

/// Waits for a room state that satisfies `pred`, newer than any seen before `after_ms`.
fn wait_state(
    sub: &mut Subscriber,
    topic: &str,
    what: &str,
    after_ms: u64,
    pred: impl Fn(&RoomState) -> bool,
) -> RoomState {
    let m = sub
        .wait_for(what, WAIT, |m| {
            m.topic == topic
                && RoomState::decode(&m.payload)
                    .is_ok_and(|s| s.timestamp_ms >= after_ms && pred(&s))
        })
        .unwrap_or_else(|e| panic!("{e}"));
    RoomState::decode(&m.payload).expect("valid")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[test]
fn a_room_is_a_home_assistant_device_with_working_controls() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let ha = unique_name("ha");
    let companion = RunningCompanion::start(
        &broker,
        &fake,
        [127, 0, 0, 1].into(),
        TOKEN,
        &[("XPRESSIFY__MQTT__DISCOVERY_PREFIX", ha.clone())],
    )
    .expect("companion");
    let prefix = companion.topics.prefix().to_string();
    let state_topic = topics::room(&prefix, "home", RoomChannel::State);
    let mut discovery = broker
        .subscriber(&[format!("{ha}/+/xpressify_music_home/+/config")])
        .expect("subscriber");
    let published = discovery.messages(Duration::from_millis(1500)).to_vec();
    assert_eq!(published.len(), 10, "ten entities of the room");
    for m in &published {
        assert!(m.retain, "{}", m.topic);
        let p: Value = serde_json::from_slice(&m.payload).expect("JSON");
        assert_eq!(
            p["availability_topic"],
            topics::companion_availability(&prefix)
        );
        assert_eq!(p["device"]["name"], "Xpressify music");
        assert_eq!(
            p["device"]["configuration_url"],
            format!("{}/", companion.url)
        );
    }

    let mut sub = broker
        .subscriber(std::slice::from_ref(&state_topic))
        .expect("subscriber");
    let first = wait_state(&mut sub, &state_topic, "the retained state", 0, |_| true);
    assert!(first.follow, "rooms follow moods by default");

    // A device's mood starts the music; the room's state tells Home Assistant what plays.
    let device = companion.topics.device_id().to_string();
    broker
        .publish(
            &companion.topics.mood(),
            mood_json(&device, "happy").as_bytes(),
            true,
        )
        .expect("mood");
    let playing = wait_state(&mut sub, &state_topic, "music playing", 0, |s| {
        s.state == PlaybackState::Playing && s.playing.is_some()
    });
    assert_eq!(
        playing.playing.as_ref().map(|p| p.mood),
        Some(Emotion::Happy)
    );
    // Why this song: the mood, the phrase, what the room taught (nothing yet), the source.
    let why = playing
        .playing
        .as_ref()
        .map(|p| p.why.clone())
        .unwrap_or_default();
    for part in ["for happy", "phrase \"", "not rated yet", "from YouTube"] {
        assert!(why.contains(part), "{part:?} not in {why:?}");
    }
    let status = companion.api.get("/api/status").expect("status");
    assert_eq!(status["rooms"][0]["why"], why.as_str());

    // The pause button, exactly as Home Assistant presses it.
    let pause = config(&published, "pause");
    let command_topic = pause["command_topic"].as_str().expect("command_topic");
    let t = now_ms();
    broker
        .publish(
            command_topic,
            pause["payload_press"]
                .as_str()
                .unwrap_or_default()
                .as_bytes(),
            false,
        )
        .expect("press pause");
    wait_state(&mut sub, &state_topic, "paused", t, |s| {
        s.state == PlaybackState::Paused
    });

    // The volume slider at 35 %: the command its template makes.
    let volume = config(&published, "volume");
    let sent = volume["command_template"]
        .as_str()
        .expect("command_template")
        .replace("{{ value | int }}", "35");
    let t = now_ms();
    broker
        .publish(command_topic, sent.as_bytes(), false)
        .expect("set volume");
    wait_state(&mut sub, &state_topic, "volume 35", t, |s| {
        s.volume == Some(35)
    });

    // "Music follows my mood" off: a new mood no longer steers the room.
    let follow = config(&published, "follow");
    let t = now_ms();
    broker
        .publish(
            command_topic,
            follow["payload_off"]
                .as_str()
                .unwrap_or_default()
                .as_bytes(),
            false,
        )
        .expect("follow off");
    let off = wait_state(&mut sub, &state_topic, "follow off", t, |s| !s.follow);
    broker
        .publish(
            &companion.topics.mood(),
            mood_json(&device, "sad").as_bytes(),
            true,
        )
        .expect("mood");
    std::thread::sleep(Duration::from_secs(2));
    let status = companion.api.get("/api/status").expect("status");
    let room = &status["rooms"][0];
    assert_eq!(room["mood"], "happy", "the room kept its mood: {room}");
    assert_eq!(
        status["devices"][0]["emotion"], "sad",
        "the device's mood is still heard"
    );
    assert_eq!(off.mood, Some(Emotion::Happy));

    // "Play for this mood", as Home Assistant's select sends it: the room plays for it at
    // once, whatever the camera read, and hands back to the camera on "follow the camera".
    let play = config(&published, "play");
    let t = now_ms();
    broker
        .publish(
            command_topic,
            play["payload_press"]
                .as_str()
                .unwrap_or_default()
                .as_bytes(),
            false,
        )
        .expect("press play");
    wait_state(&mut sub, &state_topic, "playing again", t, |s| {
        s.state == PlaybackState::Playing
    });
    let select = config(&published, "play_for");
    let choose = |option: &str| {
        let mut env = minijinja::Environment::new();
        env.add_template("t", select["command_template"].as_str().unwrap_or_default())
            .expect("template");
        env.get_template("t")
            .and_then(|t| t.render(minijinja::context! { value => option }))
            .expect("render")
    };
    let t = now_ms();
    broker
        .publish(command_topic, choose("surprise").as_bytes(), false)
        .expect("choose a mood");
    let chosen = wait_state(
        &mut sub,
        &state_topic,
        "a pick for the chosen mood",
        t,
        |s| {
            s.playing
                .as_ref()
                .is_some_and(|p| p.mood == Emotion::Surprise)
        },
    );
    let until = chosen.chosen.expect("the choice is in the state");
    assert_eq!(until.mood, Emotion::Surprise);
    let minutes = (until.until_ms - t) as f64 / 60_000.0;
    assert!(
        (29.0..=31.0).contains(&minutes),
        "music.choose_minutes: {minutes}"
    );
    let t = now_ms();
    broker
        .publish(command_topic, choose("follow the camera").as_bytes(), false)
        .expect("back to the camera");
    wait_state(&mut sub, &state_topic, "the camera leads again", t, |s| {
        s.chosen.is_none()
    });

    // Junk on the room's command topic is refused and counted; the room goes on.
    broker
        .publish(command_topic, b"{\"command\":\"explode\"}", false)
        .expect("junk");
    companion
        .api
        .wait_for("the junk counted", "/api/status", WAIT, |s| {
            s["refused"]["command"].as_u64().unwrap_or(0) >= 1
        })
        .expect("refused");

    // What happened is in /metrics, in Prometheus' text format.
    let (kind, text) = companion.api.get_text("/metrics").expect("/metrics");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let metrics = prometheus::parse(&text).unwrap_or_else(|e| panic!("{e:#}\n{text}"));
    let moods = |emotion| {
        metrics.sum(
            "xpressify_moods_total",
            &[("device", &device), ("emotion", emotion)],
        )
    };
    assert!(moods("happy") >= 1.0 && moods("sad") >= 1.0, "{text}");
    assert!(metrics.sum("xpressify_picks_total", &[("room", "home")]) >= 1.0);
    assert!(metrics.sum("xpressify_pick_seconds_count", &[]) >= 1.0);
    assert!(metrics.sum("xpressify_player_start_seconds_count", &[]) >= 1.0);
    assert!(metrics.sum("xpressify_youtube_searches_total", &[]) >= 1.0);
    assert!(
        metrics.sum(
            "xpressify_refused_payloads_total",
            &[("channel", "command")]
        ) >= 1.0
    );
    assert_eq!(metrics.sum("xpressify_broker_connected", &[]), 1.0);
    assert_eq!(metrics.types["xpressify_pick_seconds"], "histogram");
    assert!(metrics.types.contains_key("xpressify_youtube_quota_budget"));
}
