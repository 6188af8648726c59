//! `xpressify-device classify`, the command people and scripts use, and the device's refusals
//! of broken inputs: a corrupt or missing image is one error line among good ones; a missing
//! or wrong model stops the start with a message that names the file. Never a panic.

use std::path::Path;
use std::process::{Command, Output};

use xpressify_tests::{binary, face_frame};

fn models() -> String {
    format!("{}/../models", env!("CARGO_MANIFEST_DIR"))
}

fn classify(files: &[&Path], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(binary("xpressify-device").expect("binary"));
    cmd.arg("classify")
        .args(files)
        .env(
            "XPRESSIFY__DETECTOR__MODEL",
            format!("{}/face_detection_yunet_2026may.onnx", models()),
        )
        .env("XPRESSIFY__CLASSIFIER__MODELS_DIR", models());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run classify")
}

/// Writes a camera-like frame with one face to `path`.
fn write_face_frame(path: &Path) {
    face_frame().save(path).expect("write frame");
}

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_files_get_error_lines_and_the_good_ones_are_still_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("face.png");
    write_face_frame(&good);
    let corrupt = dir.path().join("corrupt.jpg");
    std::fs::write(&corrupt, b"\xff\xd8\xff\xe0 this is not really a JPEG").expect("write");
    let missing = dir.path().join("missing.png");
    let out = classify(&[&corrupt, &good, &missing], &[]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "failures give exit status 1");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 3, "one line per file, in order");
    for (line, path) in lines.iter().zip([&corrupt, &good, &missing]) {
        assert_eq!(line["file"], path.display().to_string());
    }
    assert!(lines[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(lines[2]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(lines[1].get("error").is_none());
    let faces = lines[1]["faces"].as_array().expect("faces");
    assert_eq!(faces.len(), 1);
    let face = &faces[0];
    let b: Vec<f64> = face["box"]
        .as_array()
        .expect("box")
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    assert_eq!(b.len(), 4);
    // The face was pasted at (220, 140) with side 200: the box must overlap it well.
    let (cx, cy) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
    assert!(
        (250.0..350.0).contains(&cx) && (170.0..290.0).contains(&cy),
        "{b:?}"
    );
    let probabilities = face["probabilities"].as_object().expect("probabilities");
    assert_eq!(probabilities.len(), 7);
    let sum: f64 = probabilities.values().filter_map(|v| v.as_f64()).sum();
    assert!((sum - 1.0).abs() < 0.01, "{sum}");
    let emotion = face["emotion"].as_str().expect("emotion");
    let top = probabilities
        .iter()
        .max_by(|a, b| a.1.as_f64().partial_cmp(&b.1.as_f64()).expect("finite"))
        .map(|(k, _)| k.as_str());
    assert_eq!(Some(emotion), top);
    assert_eq!(face["confidence"], probabilities[emotion]);
}

#[test]
fn it_runs_from_any_folder_on_its_built_in_models() {
    // A user's folder: no config file, no models/ beside it, no variables.
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("face.png");
    write_face_frame(&good);
    let out = Command::new(binary("xpressify-device").expect("binary"))
        .args(["classify", "face.png"])
        .current_dir(dir.path())
        .env_remove("XPRESSIFY_CONFIG")
        .output()
        .expect("run classify");
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same line as with the shipped files named by path: the built-in models are those.
    let from_files = Command::new(binary("xpressify-device").expect("binary"))
        .args(["classify", "face.png"])
        .current_dir(dir.path())
        .env(
            "XPRESSIFY__DETECTOR__MODEL",
            format!("{}/face_detection_yunet_2026may.onnx", models()),
        )
        .env("XPRESSIFY__CLASSIFIER__MODELS_DIR", models())
        .output()
        .expect("run classify");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&from_files.stdout)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["faces"].as_array().map(Vec::len), Some(1), "{line}");
}

#[test]
fn a_missing_model_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("face.png");
    write_face_frame(&good);
    let out = classify(
        &[&good],
        &[(
            "XPRESSIFY__CLASSIFIER__MODELS_DIR",
            "/nonexistent/models".into(),
        )],
    );
    no_panic(&out);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/models/emotion"), "{err}");
    assert!(out.stdout.is_empty(), "nothing classified without a model");
}

#[test]
fn a_model_of_the_wrong_shape_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("face.png");
    write_face_frame(&good);
    // The face detector is a fine ONNX model, but not a [N,1,48,48] → [N,7] classifier.
    let wrong = format!("{}/face_detection_yunet_2026may.onnx", models());
    let out = classify(&[&good], &[("XPRESSIFY__CLASSIFIER__MODEL", wrong.clone())]);
    no_panic(&out);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&wrong), "{err}");
    assert!(
        err.contains("shape") || err.contains("cannot load"),
        "{err}"
    );

    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"not a protobuf at all").expect("write");
    let out = classify(
        &[&good],
        &[("XPRESSIFY__CLASSIFIER__MODEL", junk.display().to_string())],
    );
    no_panic(&out);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.onnx"), "{err}");
}

/// FER2013 PrivateTest faces (indices in file order) checked by eye to face the camera; each
/// frame pairs one with a larger head turned away (`PROFILE_FACES`), as in a press photo
/// where the nearest head is seen from the side.
const FRONTALS: [usize; 10] = [37, 111, 21, 6, 9, 0, 79, 34, 126, 145];

/// A grey face from the data set, scaled to `side` and pasted at (`x`, `y`).
fn paste_face(frame: &mut image::RgbImage, face: &[u8; 48 * 48], side: u32, x: u32, y: u32) {
    let grey = image::GrayImage::from_raw(48, 48, face.to_vec()).expect("48×48");
    let big = image::imageops::resize(&grey, side, side, image::imageops::FilterType::CatmullRom);
    for (px, py, p) in big.enumerate_pixels() {
        frame.put_pixel(x + px, y + py, image::Rgb([p.0[0]; 3]));
    }
}

#[test]
fn the_mood_follows_the_frontal_face_not_the_larger_profile() {
    use xpressify_device::bench::fer2013::{self, Split};
    use xpressify_device::bench::sequence::PROFILE_FACES;
    if fer2013::path_for_test("the_mood_follows_the_frontal_face_not_the_larger_profile").is_none()
    {
        return;
    }
    let samples = fer2013::load(&fer2013::default_path(), Split::PrivateTest).expect("FER2013");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = vec![];
    for (k, (&profile, &frontal)) in PROFILE_FACES.iter().zip(&FRONTALS).enumerate() {
        let mut frame = image::RgbImage::from_pixel(800, 480, image::Rgb([90, 100, 110]));
        paste_face(&mut frame, &samples[profile].face, 300, 60, 90);
        paste_face(&mut frame, &samples[frontal].face, 190, 520, 150);
        let path = dir.path().join(format!("pair{k}.png"));
        frame.save(&path).expect("write frame");
        files.push(path);
    }
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let out = classify(&paths, &[]);
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut followed_frontal = 0;
    for (k, line) in String::from_utf8_lossy(&out.stdout).lines().enumerate() {
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let faces = line["faces"].as_array().expect("faces");
        let centre_x = |f: &serde_json::Value| {
            f["box"][0].as_f64().unwrap_or(0.0) + f["box"][2].as_f64().unwrap_or(0.0) / 2.0
        };
        let main: Vec<_> = faces.iter().filter(|f| f["main"] == true).collect();
        assert!(main.len() <= 1, "one main face at most: {line}");
        // The frontal face sits right of x = 520, the profile left of x = 360.
        if main.first().is_some_and(|f| centre_x(f) > 520.0) {
            followed_frontal += 1;
        }
        for face in faces {
            let readable = face["readable"].as_bool().expect("readable");
            assert_eq!(
                face.get("emotion").is_some(),
                readable,
                "only a readable face is read: {face}"
            );
            if centre_x(face) < 360.0 {
                assert!(!readable, "the profile of pair {k} is not readable: {face}");
                assert_ne!(face["main"], true, "pair {k}: {face}");
            }
        }
    }
    assert_eq!(
        followed_frontal,
        FRONTALS.len(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
