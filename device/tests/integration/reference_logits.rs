//! The shipped models must give the same logits on every platform: this test compares tract's
//! logits for the first 256 FER2013 PrivateTest faces with `models/reference-logits.json`,
//! made on x86-64. Run for aarch64 under qemu (`cross/test.sh`) it proves the Pi build
//! classifies exactly as the x86 build does; there `XP_REFERENCE_FACES` checks only the first
//! faces, since each costs seconds under emulation.
//!
//! After the models change, remake the reference on x86-64:
//! `XPRESSIFY_UPDATE_GOLDEN=1 cargo test -p xpressify-device --test integration reference_logits`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use xpressify_device::bench::fer2013::{self, Split};
use xpressify_device::vision::classify::{EmotionClassifier, argmax};

const FACES: usize = 256;
/// Largest difference allowed between platforms, per logit.
const TOLERANCE: f32 = 1e-4;
const MODELS: [&str; 3] = ["emotion.onnx", "emotion-float.onnx", "emotion-fast.onnx"];

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// FNV-1a of the file: enough to notice a model that changed since the reference was made.
fn fingerprint(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}-{}", bytes.len())
}

/// Faces to check: all `FACES`, or fewer with `XP_REFERENCE_FACES`.
fn faces_to_check() -> usize {
    std::env::var("XP_REFERENCE_FACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .map_or(FACES, |n| n.min(FACES))
}

fn logits(model: &str, count: usize) -> Vec<[f32; 7]> {
    let samples = fer2013::load(&fer2013::default_path(), Split::PrivateTest)
        .expect("FER2013 from ../shared/data (or XPRESSIFY_DATA_DIR)");
    let faces: Vec<_> = samples.iter().take(count).map(|s| s.face).collect();
    let classifier = EmotionClassifier::load(&models_dir().join(model)).expect("model loads");
    classifier.logits(&faces).expect("inference")
}

#[test]
fn logits_match_the_x86_reference() {
    if fer2013::path_for_test("logits_match_the_x86_reference").is_none() {
        return;
    }
    let reference_path = models_dir().join("reference-logits.json");
    if xpressify_protocol::golden::update_requested() {
        let mut models = serde_json::Map::new();
        for model in MODELS {
            models.insert(
                model.into(),
                json!({
                    "fingerprint": fingerprint(&models_dir().join(model)),
                    "logits": logits(model, FACES),
                }),
            );
        }
        let doc = json!({
            "made_on": std::env::consts::ARCH,
            "faces": format!("the first {FACES} FER2013 PrivateTest faces"),
            "models": models,
        });
        let text = serde_json::to_string(&doc).expect("JSON");
        std::fs::write(&reference_path, text + "\n").expect("writing the reference");
        return;
    }
    let text = std::fs::read_to_string(&reference_path).expect("models/reference-logits.json");
    let doc: Value = serde_json::from_str(&text).expect("reference is JSON");
    // One thread per model: under qemu each face costs seconds, and the models are independent.
    std::thread::scope(|scope| {
        let doc = &doc;
        let checks = MODELS.map(|model| scope.spawn(move || check_model(doc, model)));
        for check in checks {
            if let Err(panic) = check.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// Compares `model`'s logits with its entry in the reference document.
fn check_model(doc: &Value, model: &str) {
    let entry = &doc["models"][model];
    assert_eq!(
        entry["fingerprint"].as_str(),
        Some(fingerprint(&models_dir().join(model)).as_str()),
        "{model} changed since the reference was made; remake it on x86-64 with \
         XPRESSIFY_UPDATE_GOLDEN=1 cargo test -p xpressify-device --test integration reference_logits"
    );
    let expected: Vec<[f32; 7]> =
        serde_json::from_value(entry["logits"].clone()).expect("logits in the reference");
    let got = logits(model, faces_to_check());
    assert!(
        expected.len() >= got.len(),
        "the reference has too few faces"
    );
    let expected = &expected[..got.len()];
    let mut worst = 0f32;
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(
            argmax(g),
            argmax(e),
            "{model}, face {i}: class differs from the reference"
        );
        for (a, b) in g.iter().zip(e) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!(
        "{model} on {}, {} faces: largest logit difference from the {} reference {worst:.2e}",
        std::env::consts::ARCH,
        got.len(),
        doc["made_on"].as_str().unwrap_or("?")
    );
    assert!(
        worst <= TOLERANCE,
        "{model}: logits differ by up to {worst} (allowed {TOLERANCE})"
    );
}
