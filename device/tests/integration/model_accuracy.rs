//! The shipped models, run by tract, must score on all 3,589 FER2013 PrivateTest faces what
//! the model card states (within 0.1 point), and float and int8 must agree closely; so must
//! the fast model that `[classifier] model = "fast"` selects.
//!
//! The data is read from ../shared (or `XPRESSIFY_DATA_DIR`); it is never copied into the repo.

use std::path::{Path, PathBuf};

use xpressify_device::bench::fer2013::{self, Sample, Split};
use xpressify_device::vision::classify::{EmotionClassifier, argmax};

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn card_value(key: &str) -> f64 {
    card_entry("evaluation", key)
}

fn card_entry(section: &str, key: &str) -> f64 {
    let text =
        std::fs::read_to_string(models_dir().join("emotion.json")).expect("models/emotion.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("emotion.json is JSON");
    json[section][key]
        .as_f64()
        .unwrap_or_else(|| panic!("emotion.json has no {section}.{key}"))
}

/// MODEL.md, the people's card, must show the accuracy emotion.json states.
fn assert_model_card_shows(accuracy: f64) {
    let card = std::fs::read_to_string(models_dir().join("MODEL.md")).expect("MODEL.md");
    let shown = format!("{:.2} %", accuracy * 100.0);
    assert!(card.contains(&shown), "MODEL.md does not show {shown}");
}

fn accuracy(model: &EmotionClassifier, samples: &[Sample]) -> f64 {
    let mut correct = 0usize;
    for chunk in samples.chunks(64) {
        let faces: Vec<_> = chunk.iter().map(|s| s.face).collect();
        let logits = model.logits(&faces).expect("inference");
        correct += logits
            .iter()
            .zip(chunk)
            .filter(|(l, s)| argmax(l) == s.emotion)
            .count();
    }
    correct as f64 / samples.len() as f64
}

fn private_test() -> Vec<Sample> {
    let samples = fer2013::load(&fer2013::default_path(), Split::PrivateTest)
        .expect("FER2013 from ../shared/data (or XPRESSIFY_DATA_DIR)");
    assert_eq!(samples.len(), 3589);
    samples
}

/// The accuracy of a shipped file over `samples`.
fn accuracy_of(file: &str, samples: &[Sample]) -> f64 {
    let model = EmotionClassifier::load(&models_dir().join(file))
        .unwrap_or_else(|e| panic!("{file} loads: {e:#}"));
    accuracy(&model, samples)
}

/// One test, so each model runs over the 3,589 faces once. The two models run side by side,
/// one thread each (tract runs a model on one thread): this is the longest test of the
/// suite, and it would otherwise leave a core idle at the end of it.
#[test]
fn shipped_models_score_what_the_card_states() {
    if fer2013::path_for_test("shipped_models_score_what_the_card_states").is_none() {
        return;
    }
    let samples = private_test();
    let (a, b) = std::thread::scope(|scope| {
        let int8 = scope.spawn(|| accuracy_of("emotion.onnx", &samples));
        let b = accuracy_of("emotion-float.onnx", &samples);
        (int8.join().expect("the int8 run"), b)
    });
    let (stated_a, stated_b) = (
        card_value("privatetest_accuracy_int8"),
        card_value("privatetest_accuracy_float"),
    );
    eprintln!(
        "PrivateTest accuracy in tract: int8 {a:.4} (card {stated_a:.4}), float {b:.4} (card {stated_b:.4})"
    );
    assert!(
        (a - stated_a).abs() <= 0.001,
        "int8 scores {a:.4} in tract, the card states {stated_a:.4}"
    );
    assert!(
        (b - stated_b).abs() <= 0.001,
        "float scores {b:.4} in tract, the card states {stated_b:.4}"
    );
    assert!(
        (a - b).abs() <= 0.01,
        "int8 {a:.4} and float {b:.4} differ by more than 1 point"
    );
    assert_model_card_shows(stated_a);
}

#[test]
fn fast_model_scores_what_the_card_states() {
    if fer2013::path_for_test("fast_model_scores_what_the_card_states").is_none() {
        return;
    }
    let samples = private_test();
    let fast = EmotionClassifier::load(&models_dir().join("emotion-fast.onnx")).expect("loads");
    let got = accuracy(&fast, &samples);
    let stated = card_entry("fast", "privatetest_accuracy");
    eprintln!("PrivateTest accuracy in tract: fast {got:.4} (card {stated:.4})");
    assert!(
        (got - stated).abs() <= 0.001,
        "the fast model scores {got:.4} in tract, the card states {stated:.4}"
    );
    assert_model_card_shows(stated);
}
