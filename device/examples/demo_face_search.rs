//! A tool, run by hand after a new model: searches the demo face's drawing parameters
//! (brows, eyes, mouth) for the drawing each emotion's model reading is clearest on, and prints
//! the best per emotion, to copy into `demo_face::expression`. The test
//! `demo_face::every_acted_emotion_reads_as_itself` then checks the result.
//!
//! `cargo run --release -p xpressify-device --example demo_face_search`

use xpressify_device::camera::demo::face::{Expression, Mouth, frame_with};
use xpressify_device::vision::analyze::Analyzer;
use xpressify_device::vision::classify::ClassifierConfig;
use xpressify_device::vision::detect::DetectorConfig;
use xpressify_protocol::Emotion;

fn main() -> anyhow::Result<()> {
    let analyzer = Analyzer::load(&DetectorConfig::default(), &ClassifierConfig::default())?;
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
                    let faces = analyzer.analyse(&frame_with(e, 0))?;
                    let Some((emotion, p)) = faces.first().and_then(|f| f.top()) else {
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
    Ok(())
}
