//! The demo camera's drawn face must read, through the shipped models, as the emotions the
//! demo clip acts (`demo_face::SEQUENCE`): `xpressify demo` shows the box following moods only
//! if it does. After a new model, the example `demo_face_search` (run by hand:
//! `cargo run --release -p xpressify-device --example demo_face_search`) finds the drawing
//! parameters for `demo_face::expression`.

use xpressify_device::camera::demo::face::{SEQUENCE, frame};
use xpressify_device::vision::analyze::Analyzer;
use xpressify_device::vision::classify::ClassifierConfig;
use xpressify_device::vision::detect::DetectorConfig;
use xpressify_protocol::Emotion;

fn analyzer() -> Analyzer {
    Analyzer::load(
        &DetectorConfig {
            ..DetectorConfig::default()
        },
        &ClassifierConfig {
            ..ClassifierConfig::default()
        },
    )
    .expect("models load")
}

#[test]
fn every_acted_emotion_reads_as_itself() {
    let analyzer = analyzer();
    for emotion in SEQUENCE {
        // Frames spread over a segment: the face drifts, the reading must hold.
        let readings: Vec<Option<(Emotion, f32)>> = (0..6)
            .map(|i| {
                let faces = analyzer.analyse(&frame(emotion, i * 7)).expect("analyse");
                faces.first().and_then(|f| f.top())
            })
            .collect();
        let hits = readings
            .iter()
            .filter(|r| r.is_some_and(|(e, _)| e == emotion))
            .count();
        assert!(
            hits >= 5,
            "{emotion:?} read as itself in {hits} of 6 frames: {readings:?}"
        );
    }
}
