//! `xpressify-device run` follows the companion's calibration: a malformed one on
//! `…/calibration` is refused and the device runs on; a valid one shifts the mood's
//! probabilities exactly as `Calibration::apply` says (raw per-frame readings stay as the
//! model made them), and the diagnostics report its version.

use std::time::Duration;

use xpressify_protocol::{Calibration, Diagnostics, MoodEvent, ProbabilitiesEvent, Topics};
use xpressify_tests::launch;
use xpressify_tests::{Broker, KillOnDrop, face_frame, unique_name};

#[test]
fn the_device_applies_a_calibration_and_ignores_a_malformed_one() {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let dir = tempfile::tempdir().expect("tempdir");
    face_frame()
        .save(dir.path().join("face.png"))
        .expect("write frame");
    // Junk waits retained on the topic before the device starts.
    broker
        .publish(
            &topics.calibration(),
            br#"{"schema":1,"offsets":"lots"}"#,
            true,
        )
        .expect("publish");
    let mut sub = broker
        .subscriber(&[topics.mood(), topics.probabilities(), topics.diagnostics()])
        .expect("subscriber");
    let child = launch::device_on_files(&broker.url, &topics, dir.path())
        .expect("device binary")
        .env("XPRESSIFY__CAMERA__LOOP", "true")
        .env("XPRESSIFY__CLASSIFIER__MIRROR", "off")
        .env("XPRESSIFY__CLASSIFIER__READS_PER_SECOND", "0")
        .env("XPRESSIFY__MQTT__MOOD_REFRESH_S", "1")
        .env("XPRESSIFY__MQTT__DIAGNOSTICS_S", "1")
        .env("XPRESSIFY__MQTT__PROBABILITIES_HZ", "20")
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(dir.path().join("log")).expect("log file"))
        .spawn()
        .expect("spawn");
    let mut child = KillOnDrop(child);
    let limit = Duration::from_secs(30);
    // The device runs on: it reads faces and reports no calibration. Its readings of the still
    // image go round a cycle of the crops its face search makes: they are taken as a whole.
    sub.wait_for("a raw reading", limit, |m| {
        m.topic == topics.probabilities()
    })
    .expect("readings");
    let raws = |sub: &mut xpressify_tests::Subscriber| -> Vec<[f32; 7]> {
        std::thread::sleep(Duration::from_secs(3));
        sub.messages(Duration::ZERO)
            .iter()
            .rev()
            .filter(|m| m.topic == topics.probabilities())
            .filter_map(|m| ProbabilitiesEvent::decode(&m.payload).ok())
            .filter(|p| !p.probabilities.is_none())
            .take(40)
            .map(|p| *p.probabilities.values())
            .collect()
    };
    let mean = |rows: &[[f32; 7]]| -> [f32; 7] {
        std::array::from_fn(|i| rows.iter().map(|r| r[i]).sum::<f32>() / rows.len().max(1) as f32)
    };
    let before = raws(&mut sub);
    assert!(before.len() >= 20, "{} readings", before.len());
    let raw = mean(&before);
    let report = sub
        .wait_for("diagnostics", limit, |m| m.topic == topics.diagnostics())
        .expect("diagnostics");
    let report = Diagnostics::decode(&report.payload).expect("valid");
    assert_eq!(report.calibration_version, None);

    // A calibration that favours the class the model rates second.
    let mut order: Vec<usize> = (0..7).collect();
    order.sort_by(|a, b| raw[*b].total_cmp(&raw[*a]));
    let mut calibration = Calibration::identity(topics.device_id(), 7);
    calibration.offsets[order[1]] = 2.0;
    calibration.offsets[order[0]] = -1.0;
    calibration.corrections = 4;
    let expected = mean(
        &before
            .iter()
            .map(|r| calibration.apply(*r))
            .collect::<Vec<_>>(),
    );
    broker
        .publish(&topics.calibration(), &calibration.encode(), true)
        .expect("publish");
    // The mood smooths the readings over a second and is published again when its confidence
    // moves 0.05: it settles that close to the calibrated readings' mean.
    let close = |p: &[f32; 7]| p.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 0.1);
    let mood = sub
        .wait_for("the calibrated mood", limit, |m| {
            m.topic == topics.mood()
                && MoodEvent::decode(&m.payload).is_ok_and(|e| close(e.probabilities.values()))
        })
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
            let moods: Vec<String> = sub
                .messages(Duration::ZERO)
                .iter()
                .filter(|m| m.topic == topics.mood())
                .map(|m| String::from_utf8_lossy(&m.payload).to_string())
                .collect();
            panic!("{e}\nexpected {expected:?}\nmoods {moods:#?}\n{log}")
        });
    let mood = MoodEvent::decode(&mood.payload).expect("valid");
    assert_eq!(
        mood.emotion.map(|e| e.index()),
        Some(order[1]),
        "the favoured class leads: {:?} from {raw:?}",
        mood.probabilities
    );
    // Raw readings are still the model's own.
    let after = mean(&raws(&mut sub));
    assert!(
        after.iter().zip(&raw).all(|(a, b)| (a - b).abs() < 0.03),
        "{after:?} against {raw:?}"
    );
    sub.wait_for("diagnostics with the version", limit, |m| {
        m.topic == topics.diagnostics()
            && Diagnostics::decode(&m.payload).is_ok_and(|d| d.calibration_version == Some(7))
    })
    .expect("the version in the diagnostics");
    // One for another device is refused: the version stays.
    let mut other = calibration.clone();
    other.device_id = "someone-else".into();
    other.version = 8;
    broker
        .publish(&topics.calibration(), &other.encode(), true)
        .expect("publish");
    std::thread::sleep(Duration::from_secs(2));
    sub.wait_for("diagnostics, still version 7", limit, |m| {
        m.topic == topics.diagnostics()
            && Diagnostics::decode(&m.payload).is_ok_and(|d| d.calibration_version == Some(7))
    })
    .expect("still 7");
    let _ = broker.publish(&topics.calibration(), b"", true);
    child.0.kill().expect("kill");
    let _ = child.0.wait();
    let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
    assert!(
        log.contains("ignoring an invalid calibration message"),
        "{log}"
    );
    assert!(
        log.contains("applying the calibration to readings"),
        "{log}"
    );
}
