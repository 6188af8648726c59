//! The listener's own music sorted by mood: `xpressify-companion library scan` on a folder
//! of ordinary files — synthesised pieces whose moods are known, the same piece encoded by
//! ffmpeg as MP3, FLAC, Ogg Vorbis and M4A, tags written by a real tagger, an empty file, a
//! damaged one and one without tags — and `run` playing that folder for each mood with no
//! YouTube key and no hand-written catalogue.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch::{RunningCompanion, run_to_end};
use xpressify_tests::music::{mood_json, write_pieces};
use xpressify_tests::{Broker, binary};

/// `ffmpeg -i from to` with tags; the test peers include ffmpeg (scripts/test.sh).
fn encode(from: &Path, to: &Path, tags: &[(&str, &str)]) {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).expect("folder");
    }
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-loglevel", "error", "-y", "-i"]).arg(from);
    for (k, v) in tags {
        cmd.arg("-metadata").arg(format!("{k}={v}"));
    }
    let status = cmd
        .arg(to)
        .status()
        .expect("ffmpeg runs (scripts/test.sh installs it)");
    assert!(status.success(), "ffmpeg made {}", to.display());
}

/// Runs `library scan folder` on the store at `store`; the JSON lines by file, and stderr.
fn scan(folder: &Path, store: &Path) -> (BTreeMap<String, Value>, String) {
    let mut cmd = Command::new(binary("xpressify-companion").expect("binary"));
    cmd.args(["library", "scan"])
        .arg(folder)
        .env("XPRESSIFY__STORE__PATH", store)
        .env("RUST_LOG", "warn");
    let done = run_to_end(&mut cmd, Duration::from_secs(300)).expect("the scan ends");
    assert!(done.success, "{}", done.stderr);
    let lines = done
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("each line is JSON");
            (v["file"].as_str().expect("file").to_string(), v)
        })
        .collect();
    (lines, done.stderr)
}

fn mean(lines: &BTreeMap<String, Value>, mood: &str, axis: &str) -> f64 {
    let values: Vec<f64> = lines
        .iter()
        .filter(|(f, _)| f.starts_with(&format!("synth/{mood}-")))
        .filter_map(|(_, v)| v[axis].as_f64())
        .collect();
    assert!(!values.is_empty(), "no {mood} pieces placed");
    values.iter().sum::<f64>() / values.len() as f64
}

#[test]
fn a_scan_places_every_format_and_goes_on_past_bad_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    let store = dir.path().join("companion.sqlite");
    write_pieces(&music.join("synth"), 2, 20.0, 5);
    // One happy piece in every format, tagged as people's files are.
    let happy = music.join("synth/happy-00.wav");
    let tagged = [
        ("title", "Sunny Day"),
        ("artist", "The Synths"),
        ("genre", "Pop"),
    ];
    for ext in ["mp3", "flac", "ogg", "m4a"] {
        encode(&happy, &music.join(format!("formats/sunny.{ext}")), &tagged);
    }
    // A Vorbis MOOD comment (FLAC) and an ID3 TMOO frame written by lofty, a real tagger,
    // say the piece is calm: the tag wins over the audio.
    encode(
        &happy,
        &music.join("tagged/calm.flac"),
        &[("title", "Said Calm"), ("mood", "Calm")],
    );
    let tmoo = music.join("tagged/energetic.mp3");
    encode(&happy, &tmoo, &[("title", "Said Energetic")]);
    {
        use lofty::config::WriteOptions;
        use lofty::prelude::*;
        let mut file = lofty::read_from_path(&tmoo).expect("lofty reads the MP3");
        let tag = file.primary_tag_mut().expect("an ID3v2 tag");
        tag.insert_text(ItemKey::Mood, "Energetic; Aggressive".into());
        file.save_to_path(&tmoo, WriteOptions::default())
            .expect("lofty writes TMOO");
    }
    // The unreadable and the odd.
    std::fs::write(music.join("empty.mp3"), b"").expect("write");
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(music.join("damaged.flac"), &noise).expect("write");
    std::fs::write(music.join("notes.txt"), b"not music").expect("write");
    std::fs::create_dir_all(music.join(".trash")).expect("mkdir");
    std::fs::copy(&happy, music.join(".trash/old.wav")).expect("copy");
    std::fs::copy(
        music.join("synth/sad-00.wav"),
        music.join("04 - No_tags.wav"),
    )
    .expect("copy");
    // A hand placement in catalogue.toml wins over everything.
    std::fs::write(
        music.join("catalogue.toml"),
        "[[track]]\nfile = \"synth/neutral-00.wav\"\ntitle = \"Placed by hand\"\nmoods = [\"angry\"]\n",
    )
    .expect("write");

    let (lines, stderr) = scan(&music, &store);
    let files: Vec<&str> = lines.keys().map(String::as_str).collect();
    assert_eq!(
        lines.len(),
        14 + 4 + 2 + 3,
        "every audio file, no others: {files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|f| f.contains(".trash") || f.ends_with(".txt"))
    );
    for bad in ["empty.mp3", "damaged.flac"] {
        let error = lines[bad]["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{bad}: {}", lines[bad]);
    }
    for ext in ["mp3", "flac", "ogg", "m4a"] {
        let v = &lines[&format!("formats/sunny.{ext}")];
        assert_eq!(v["title"], "Sunny Day", "{ext}: {v}");
        assert_eq!(v["artist"], "The Synths", "{ext}: {v}");
        assert_eq!(v["source"], "audio", "{ext}: {v}");
        assert_eq!(v["moods"][0], "happy", "{ext} reads as the WAV does: {v}");
    }
    let untagged = &lines["04 - No_tags.wav"];
    assert_eq!(untagged["title"], "No tags", "{untagged}");
    assert_eq!(untagged["moods"][0], "sad", "{untagged}");
    let calm = &lines["tagged/calm.flac"];
    assert_eq!(calm["source"], "tag", "{calm}");
    assert!(calm["arousal"].as_f64().is_some_and(|a| a < 0.3), "{calm}");
    let energetic = &lines["tagged/energetic.mp3"];
    assert_eq!(energetic["source"], "tag", "{energetic}");
    assert!(
        energetic["arousal"].as_f64().is_some_and(|a| a > 0.8),
        "{energetic}"
    );
    let hand = &lines["synth/neutral-00.wav"];
    assert_eq!(hand["source"], "catalogue", "{hand}");
    assert_eq!(hand["moods"], serde_json::json!(["angry"]), "{hand}");
    assert_eq!(hand["title"], "Placed by hand");
    // The ordering the made moods must keep.
    for (a, b) in [("happy", "sad"), ("surprise", "sad"), ("happy", "fear")] {
        assert!(
            mean(&lines, a, "valence") > mean(&lines, b, "valence"),
            "{a} above {b} in valence"
        );
    }
    for (a, b) in [("angry", "sad"), ("happy", "sad"), ("surprise", "neutral")] {
        assert!(
            mean(&lines, a, "arousal") > mean(&lines, b, "arousal"),
            "{a} above {b} in arousal"
        );
    }
    assert!(stderr.contains("23 analysed"), "{stderr}");
    assert!(stderr.contains("2 unreadable"), "{stderr}");

    // A rescan analyses nothing unchanged; a changed file is analysed again, and a removed
    // one is forgotten.
    let (again, stderr) = scan(&music, &store);
    assert_eq!(again, lines, "the stored scans, line for line");
    assert!(stderr.contains("0 analysed"), "{stderr}");
    assert!(stderr.contains("23 unchanged"), "{stderr}");
    std::fs::copy(
        music.join("synth/happy-01.wav"),
        music.join("04 - No_tags.wav"),
    )
    .expect("copy");
    std::fs::remove_file(music.join("empty.mp3")).expect("remove");
    let (third, stderr) = scan(&music, &store);
    assert!(stderr.contains("1 analysed"), "{stderr}");
    assert!(stderr.contains("1 gone"), "{stderr}");
    assert_eq!(third.len(), 22);
    assert_eq!(
        third["04 - No_tags.wav"]["moods"][0], "happy",
        "re-read: {stderr}"
    );
}

#[test]
fn run_plays_the_library_for_each_mood_without_a_key_or_a_catalogue() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    write_pieces(&music, 1, 12.0, 9);
    let companion = RunningCompanion::start(
        &broker,
        &fake,
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        "test-control-token-123",
        &[
            ("XPRESSIFY__YOUTUBE__API_KEY", String::new()),
            ("XPRESSIFY__LIBRARY__FOLDER", music.display().to_string()),
            ("XPRESSIFY__LIBRARY__THREADS", "2".into()),
            // The nearest fresh track, not a random one of the near ones.
            ("XPRESSIFY__MUSIC__CHOOSE_FROM_TOP", "1".into()),
        ],
    )
    .expect("the companion starts");
    let api = &companion.api;
    let topics = &companion.topics;
    // The scan runs in the background; the library lists what it placed.
    let library = api
        .wait_for(
            "the library scanned",
            "/api/library",
            Duration::from_secs(120),
            |l| l["total"] == 7,
        )
        .expect("seven tracks placed");
    let track = |file: &str| {
        library["tracks"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["file"] == file))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(track("sad-00.wav")["moods"][0], "sad", "{library}");
    // Each mood plays the track nearest its place on the plane, of those not just played.
    let nearest = |mood: &str, played: &[String]| {
        let place = &library["places"][mood];
        let at = |t: &Value, axis: &str| t[axis].as_f64().unwrap_or(f64::NAN);
        library["tracks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| !played.iter().any(|p| t["file"] == p.as_str()))
            .min_by(|a, b| {
                let d = |t: &Value| {
                    (at(t, "valence") - at(place, "valence"))
                        .hypot(at(t, "arousal") - at(place, "arousal"))
                };
                d(a).total_cmp(&d(b))
            })
            .and_then(|t| t["file"].as_str())
            .map(String::from)
            .unwrap_or_default()
    };
    let mut played = Vec::new();
    for mood in ["sad", "happy", "angry"] {
        let expected = nearest(mood, &played);
        broker
            .publish(
                &topics.mood(),
                mood_json(topics.device_id(), mood).as_bytes(),
                true,
            )
            .expect("mood");
        let status = api
            .wait_for(
                &format!("a {mood} pick"),
                "/api/status",
                Duration::from_secs(20),
                |s| s["now_playing"]["mood"] == mood,
            )
            .expect("a pick");
        assert_eq!(
            status["now_playing"]["file"], expected,
            "the nearest piece to {mood}: {status}"
        );
        let why = status["rooms"][0]["why"].as_str().unwrap_or_default();
        for part in [
            format!("for {mood}"),
            "from your music: placed by its sound at valence".into(),
            "a track this room has not rated yet".into(),
        ] {
            assert!(why.contains(&part), "{part:?} not in {why:?}");
        }
        played.push(expected);
    }
    assert_eq!(played[0], "sad-00.wav", "a sad piece for sad");

    // A listener moves the sad piece to where happy music sits: it stays there.
    let (code, body) = api.call(
        reqwest::Method::PUT,
        "/api/library/place",
        Some(serde_json::json!({"file": "sad-00.wav", "valence": 0.8, "arousal": 0.65})),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["source"], "listener", "{body}");
    assert_eq!(body["moods"][0], "happy", "{body}");
    let (code, body) = api.call(
        reqwest::Method::PUT,
        "/api/library/place",
        Some(serde_json::json!({"file": "../etc/passwd", "valence": 0.8, "arousal": 0.65})),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = api.call(
        reqwest::Method::PUT,
        "/api/library/place",
        Some(serde_json::json!({"file": "sad-00.wav", "valence": 1.5, "arousal": 0.65})),
    );
    assert_eq!(code, 400, "{body}");
    let moved = api.get("/api/library").expect("library");
    let sad = moved["tracks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["file"] == "sad-00.wav"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(sad["source"], "listener", "{moved}");
}
