//! The privacy switch and the mood event through a real Mosquitto and the real
//! `xpressify-device run`: `OFF` on `…/camera/set` closes the camera (no frame is read, the
//! mood says `paused`), the state survives a restart of the device, `ON` resumes; and the
//! `…/event` message fires once per announced change, never again on a reconnect.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use xpressify_protocol::diagnostics::CameraStatus;
use xpressify_protocol::{CameraState, Diagnostics, MoodChange, MoodEvent, Topics};
use xpressify_tests::{Broker, KillOnDrop, Message, face_frame, launch, unique_name};

/// A device on `frames`, looping, with diagnostics every second and its switch's state in
/// `state_file`.
fn device(broker: &Broker, topics: &Topics, frames: &Path, state_file: &Path) -> KillOnDrop {
    let child = launch::device_on_files(&broker.url, topics, frames)
        .expect("device binary")
        .env("XPRESSIFY__CAMERA__LOOP", "true")
        .env("XPRESSIFY__MQTT__DIAGNOSTICS_S", "1")
        .env("XPRESSIFY__MQTT__KEEP_ALIVE_S", "5")
        .env("XPRESSIFY__MOOD__NO_FACE_TIMEOUT_S", "1")
        .env("XPRESSIFY__PRIVACY__STATE_FILE", state_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn xpressify-device");
    KillOnDrop(child)
}

fn mood(m: &Message) -> Option<MoodEvent> {
    MoodEvent::decode(&m.payload).ok()
}

fn diagnostics(m: &Message, topics: &Topics) -> Option<Diagnostics> {
    (m.topic == topics.diagnostics())
        .then(|| Diagnostics::decode(&m.payload).ok())
        .flatten()
}

#[test]
fn the_privacy_switch_closes_the_camera_and_survives_a_restart() {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let frames = tempfile::tempdir().expect("tempdir");
    face_frame()
        .save(frames.path().join("face.png"))
        .expect("write frame");
    let state = tempfile::tempdir().expect("tempdir");
    let state_file = state.path().join("camera");
    let filters = [
        topics.mood(),
        topics.camera(),
        topics.diagnostics(),
        topics.event(),
    ];
    let mut sub = broker.subscriber(&filters).expect("subscriber");
    let dev = device(&broker, &topics, frames.path(), &state_file);

    let camera_is = |m: &Message, s: CameraState| {
        m.topic == topics.camera() && CameraState::decode(&m.payload).ok() == Some(s)
    };
    sub.wait_for("camera ON", Duration::from_secs(20), |m| {
        camera_is(m, CameraState::On)
    })
    .expect("the switch starts on");
    let seen = sub
        .wait_for("a face's mood", Duration::from_secs(20), |m| {
            mood(m).is_some_and(|e| e.emotion.is_some())
        })
        .expect("a mood");
    let first = mood(&seen).expect("valid");

    broker
        .publish(
            &topics.camera_set(),
            CameraState::Off.encode().as_slice(),
            false,
        )
        .expect("turn the camera off");
    sub.wait_for("camera OFF", Duration::from_secs(5), |m| {
        camera_is(m, CameraState::Off)
    })
    .expect("the device reports the switch");
    let paused = sub
        .wait_for("the paused mood", Duration::from_secs(5), |m| {
            mood(m).is_some_and(|e| e.paused)
        })
        .expect("a paused mood");
    let paused = mood(&paused).expect("valid");
    assert_eq!((paused.emotion, paused.faces), (None, 0));
    assert!(paused.seq > first.seq);
    // Two reports after the switch: the second covers a whole second with the camera closed,
    // so no frame at all was read.
    sub.wait_for(
        "a report of a closed camera",
        Duration::from_secs(10),
        |m| {
            diagnostics(m, &topics).is_some_and(|d| {
                d.camera == CameraStatus::Off && d.fps == 0.0 && d.detect_ms.is_none()
            })
        },
    )
    .expect("diagnostics say the camera is off and read nothing");
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("the state is saved"),
        "OFF"
    );
    // A restart keeps the camera off: the first mood the new process publishes is paused.
    drop(dev);
    let mut sub = broker.subscriber(&filters).expect("subscriber");
    let _dev = device(&broker, &topics, frames.path(), &state_file);
    let restarted = sub
        .wait_for(
            "a fresh mood after the restart",
            Duration::from_secs(20),
            |m| !m.retain && mood(m).is_some(),
        )
        .expect("a mood from the new process");
    assert!(
        mood(&restarted).is_some_and(|e| e.paused && e.seq == 1),
        "{:?}",
        mood(&restarted)
    );
    sub.wait_for(
        "a report of a closed camera",
        Duration::from_secs(10),
        |m| !m.retain && diagnostics(m, &topics).is_some_and(|d| d.camera == CameraStatus::Off),
    )
    .expect("still off after the restart");

    broker
        .publish(
            &topics.camera_set(),
            CameraState::On.encode().as_slice(),
            false,
        )
        .expect("turn the camera on");
    sub.wait_for("camera ON", Duration::from_secs(5), |m| {
        !m.retain && camera_is(m, CameraState::On)
    })
    .expect("the device reports the switch");
    sub.wait_for("a face again", Duration::from_secs(20), |m| {
        mood(m).is_some_and(|e| e.emotion == first.emotion && !e.paused)
    })
    .expect("the mood is read again");
    sub.wait_for("a report of an open camera", Duration::from_secs(10), |m| {
        diagnostics(m, &topics).is_some_and(|d| d.camera == CameraStatus::On && d.fps > 0.0)
    })
    .expect("frames are read again");
    // Junk on camera/set is refused; the device runs on.
    broker
        .publish(&topics.camera_set(), b"maybe", false)
        .expect("publish junk");
    sub.wait_for("another report", Duration::from_secs(10), |m| {
        !m.retain && diagnostics(m, &topics).is_some_and(|d| d.camera == CameraStatus::On)
    })
    .expect("still running");
}

#[test]
fn a_mood_change_fires_one_event_and_a_reconnect_fires_none() {
    let mut broker = Broker::start().expect("own broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let frames = tempfile::tempdir().expect("tempdir");
    // 1.5 s of a face, then 2 s of an empty room, looping: the mood goes face → no face →
    // face … (no_face_timeout_s is 1).
    let face = face_frame();
    let empty = image::RgbImage::from_pixel(face.width(), face.height(), image::Rgb([90, 90, 90]));
    for i in 0..30 {
        face.save(frames.path().join(format!("a{i:02}.png")))
            .expect("write");
    }
    for i in 0..40 {
        empty
            .save(frames.path().join(format!("b{i:02}.png")))
            .expect("write");
    }
    let state = tempfile::tempdir().expect("tempdir");
    let filters = [topics.mood(), topics.event()];
    let mut sub = broker.subscriber(&filters).expect("subscriber");
    let _dev = device(
        &broker,
        &topics,
        frames.path(),
        &state.path().join("camera"),
    );

    // Three changes at least, then check them against the moods.
    sub.wait_for("three events", Duration::from_secs(30), |m| {
        m.topic == topics.event() && MoodChange::decode(&m.payload).is_ok_and(|c| c.seq >= 3)
    })
    .expect("events");
    let seen = sub.messages(Duration::from_millis(200)).to_vec();
    let moods: BTreeMap<u64, MoodEvent> =
        seen.iter().filter_map(mood).map(|m| (m.seq, m)).collect();
    let events: Vec<MoodChange> = seen
        .iter()
        .filter(|m| m.topic == topics.event())
        .map(|m| MoodChange::decode(&m.payload).expect("a valid event"))
        .collect();
    let mut previous = None;
    let mut changes = 0;
    for m in moods.values() {
        if m.emotion != previous {
            changes += 1;
            let matching: Vec<_> = events.iter().filter(|e| e.seq == m.seq).collect();
            assert_eq!(
                matching.len(),
                1,
                "one event for the change at seq {}",
                m.seq
            );
            assert_eq!(
                (matching[0].mood, matching[0].previous),
                (m.emotion, previous)
            );
        }
        previous = m.emotion;
    }
    assert_eq!(events.len(), changes, "an event per change, no more");
    assert!(!events.is_empty());

    // The broker restarts: the device reconnects and publishes its mood again (same seq); no
    // event repeats.
    let last_seq = moods.keys().max().copied().unwrap_or(0);
    broker.restart().expect("restart the broker");
    let mut after = broker.subscriber(&filters).expect("subscriber");
    after
        .wait_for("the mood again", Duration::from_secs(30), |m| {
            mood(m).is_some_and(|e| e.seq >= last_seq)
        })
        .expect("the device is back");
    let again = after.messages(Duration::from_millis(300)).to_vec();
    let seen_before: Vec<u64> = events.iter().map(|e| e.seq).collect();
    for m in again.iter().filter(|m| m.topic == topics.event()) {
        let e = MoodChange::decode(&m.payload).expect("valid");
        assert!(!seen_before.contains(&e.seq), "event {} fired twice", e.seq);
    }
}
