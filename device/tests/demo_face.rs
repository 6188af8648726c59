//! The demo camera's drawn face must read, through the shipped models, as the emotions the
//! demo clip acts (`demo_face::SEQUENCE`): `xpressify demo` shows the box following moods only
//! if it does. After a new model, `search_the_clearest_expressions` (ignored: a tool, run by
//! hand with `cargo test --workspace --test demo_face -- --ignored --nocapture`) finds the
//! drawing parameters for `demo_face::expression`.

use xpressify_device::analyze::{Analyzer, ClassifierConfig};
use xpressify_device::demo_face::{Expression, Mouth, SEQUENCE, frame, frame_with};
use xpressify_device::face::DetectorConfig;
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
                faces.first().map(|f| f.top())
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

#[test]
#[ignore = "a tool: searches drawing parameters after a new model"]
fn search_the_clearest_expressions() {
    let analyzer = analyzer();
    let mouths = [
        Mouth::Grin,
        Mouth::Open {
            width: 31,
            height: 24,
        },
        Mouth::Open {
            width: 22,
            height: 14,
        },
        Mouth::Open {
            width: 36,
            height: 32,
        },
        Mouth::Frown,
        Mouth::Pressed,
        Mouth::Sneer,
        Mouth::Rest,
    ];
    let mut best: [Option<(f32, Expression)>; Emotion::COUNT] = [None; Emotion::COUNT];
    for brow_inner in (0..=48).step_by(6) {
        for brow_outer in (20..=48).step_by(7) {
            for eye_open in [3, 6, 9, 12, 15] {
                for mouth in mouths {
                    let e = Expression {
                        brow_inner,
                        brow_outer,
                        eye_open,
                        mouth,
                    };
                    let faces = analyzer.analyse(&frame_with(e, 0)).expect("analyse");
                    let Some((emotion, p)) = faces.first().map(|f| f.top()) else {
                        continue;
                    };
                    let slot = &mut best[emotion.index()];
                    if slot.is_none_or(|(q, _)| p > q) {
                        *slot = Some((p, e));
                    }
                }
            }
        }
    }
    for emotion in Emotion::ALL {
        println!("{emotion:?}: {:?}", best[emotion.index()]);
    }
}
