//! `xpressify-device run` with a file source: frames with a real FER2013 face go through the
//! real models, and the mood arrives on a real Mosquitto, retained; when the files run out
//! the device says offline.

use std::process::Command;
use std::time::Duration;

use xpressify_device::display::{Panel, ScreenState, StatusMarks};
use xpressify_protocol::{Availability, MoodEvent, ProbabilitiesEvent, Topics};
use xpressify_tests::launch;
use xpressify_tests::{Broker, KillOnDrop, binary, face_frame, unique_name};

fn repo() -> String {
    format!("{}/..", env!("CARGO_MANIFEST_DIR"))
}

fn device_command(broker: &Broker, topics: &Topics, frames: &std::path::Path) -> Command {
    launch::device_on_files(&broker.url, topics, frames).expect("device binary")
}

#[test]
fn files_become_a_retained_mood() {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("face.png");
    face_frame().save(&file).expect("write frame");

    // What the same models say about this frame, one shot.
    let out = Command::new(binary("xpressify-device").expect("binary"))
        .args(["classify", file.to_str().unwrap_or_default()])
        .env(
            "XPRESSIFY__DETECTOR__MODEL",
            format!("{}/models/face_detection_yunet_2026may.onnx", repo()),
        )
        .env(
            "XPRESSIFY__CLASSIFIER__MODELS_DIR",
            format!("{}/models", repo()),
        )
        .output()
        .expect("classify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON line");
    let expected = line["faces"][0]["emotion"]
        .as_str()
        .expect("one face")
        .to_string();

    let mut sub = broker
        .subscriber(&[topics.mood(), topics.probabilities(), topics.availability()])
        .expect("subscriber");
    // One frame played once is too short for the dwell time: the source ends, nothing is
    // announced, and the device leaves cleanly. This machine has no I2C panel and no GPIO:
    // asked for both, the device says why and runs on without them.
    let out = device_command(&broker, &topics, dir.path())
        .env("XPRESSIFY__DISPLAY__OUTPUT", "ssd1306")
        .env("XPRESSIFY__BUTTONS__ENABLED", "true")
        .output()
        .expect("run");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    if !std::path::Path::new("/dev/i2c-1").exists() {
        assert!(log.contains("display unavailable"), "{log}");
    }
    if !std::path::Path::new("/dev/gpiomem").exists() {
        assert!(log.contains("buttons unavailable"), "{log}");
    }
    sub.wait_for("offline", Duration::from_secs(5), |m| {
        m.topic == topics.availability()
            && Availability::decode(&m.payload).ok() == Some(Availability::Offline)
    })
    .expect("offline at the end");

    // Thirty copies of the frame at 20 fps: 1.5 s of a steady face; the screen is drawn into
    // a PNG file meanwhile.
    for i in 1..30 {
        std::fs::copy(&file, dir.path().join(format!("face{i:02}.png"))).expect("copy");
    }
    let screen_dir = tempfile::tempdir().expect("tempdir");
    let screen = screen_dir.path().join("screen.png");
    let status = device_command(&broker, &topics, dir.path())
        .env("XPRESSIFY__DISPLAY__OUTPUT", "png")
        .env("XPRESSIFY__DISPLAY__PANEL", "ssd1306")
        .env("XPRESSIFY__DISPLAY__PNG_PATH", &screen)
        .status()
        .expect("run");
    assert!(status.success());
    let m = sub
        .wait_for("mood", Duration::from_secs(5), |m| m.topic == topics.mood())
        .expect("a mood was published");
    let mood = MoodEvent::decode(&m.payload).expect("valid mood event");
    assert_eq!(mood.emotion.map(|e| e.to_string()), Some(expected));
    assert_eq!(mood.faces, 1);
    assert_eq!(mood.device_id, topics.device_id());
    let p = sub
        .wait_for("probabilities", Duration::from_secs(1), |m| {
            m.topic == topics.probabilities()
        })
        .expect("probabilities were published");
    assert!(ProbabilitiesEvent::decode(&p.payload).is_ok());

    // The last picture on the screen is that mood, held a few seconds at most.
    let drawn = image::open(&screen).expect("the screen PNG").to_rgb8();
    let shows_the_mood = (0..5).any(|held| {
        [false, true].into_iter().any(|broker_offline| {
            let state = ScreenState {
                mood: mood.emotion,
                confidence: mood.confidence,
                held: Duration::from_secs(held),
                // No companion runs in this test: its mark is on.
                marks: StatusMarks {
                    broker_offline,
                    companion_offline: true,
                    no_camera: false,
                    camera_off: false,
                },
                ..ScreenState::default()
            };
            Panel::Ssd1306.render(&state) == drawn
        })
    });
    assert!(
        shows_the_mood,
        "the screen does not show {:?}",
        mood.emotion
    );

    // The mood stays retained for late subscribers.
    let mut late = broker
        .subscriber(&[topics.mood()])
        .expect("late subscriber");
    let retained = late
        .wait_for("retained mood", Duration::from_secs(2), |m| m.retain)
        .expect("retained");
    assert_eq!(MoodEvent::decode(&retained.payload).ok(), Some(mood));
}

#[test]
fn a_broker_restart_loses_nothing_the_device_knows() {
    let mut broker = Broker::start().expect("a broker of this test's own");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let dir = tempfile::tempdir().expect("tempdir");
    face_frame()
        .save(dir.path().join("face.png"))
        .expect("write frame");
    let mut sub = broker.subscriber(&[topics.mood()]).expect("subscriber");
    let mut device = KillOnDrop(
        device_command(&broker, &topics, dir.path())
            .env("XPRESSIFY__CAMERA__LOOP", "true")
            .spawn()
            .expect("spawn run"),
    );
    let first = sub
        .wait_for("mood", Duration::from_secs(15), |m| {
            m.topic == topics.mood()
        })
        .expect("a mood before the broker dies");
    let first = MoodEvent::decode(&first.payload).expect("valid");
    drop(sub);

    // The broker dies and comes back empty (no persistence): only the device can restore the
    // retained mood, and it must still be running to do so.
    broker.kill();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        device.0.try_wait().expect("poll device").is_none(),
        "the device exited while the broker was down"
    );
    broker.restart().expect("broker back");
    let mut sub = broker.subscriber(&[topics.mood()]).expect("subscriber");
    let again = sub
        .wait_for("the mood after the restart", Duration::from_secs(15), |m| {
            m.topic == topics.mood()
        })
        .expect("the device republished its mood");
    let again = MoodEvent::decode(&again.payload).expect("valid");
    assert_eq!(again.emotion, first.emotion);
    assert_eq!(again.device_id, topics.device_id());
    // … retained, for whoever subscribes next.
    let mut late = broker.subscriber(&[topics.mood()]).expect("subscriber");
    late.wait_for("retained mood", Duration::from_secs(2), |m| m.retain)
        .expect("retained after the restart");
}
