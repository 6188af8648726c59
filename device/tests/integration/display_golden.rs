//! Every screen on every panel layout, compared pixel for pixel with the PNGs in
//! `tests/golden/`. A drawing change that alters a screen fails here until the goldens are
//! regenerated on purpose: `XPRESSIFY_UPDATE_GOLDEN=1 cargo test -p xpressify-device --test
//! display_golden`, then look at the new files before committing them.

use std::path::PathBuf;
use std::time::Duration;

use xpressify_device::display::{Panel, ScreenState, StatusMarks, scroll_period};
use xpressify_protocol::Emotion;

const TITLE: &str = "Here Comes the Sun - The Beatles";
const LONG_TITLE: &str =
    "Ludwig van Beethoven - Symphony No. 9 in D minor, Op. 125: IV. Presto - Allegro assai";

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn state(mood: Option<Emotion>) -> ScreenState {
    ScreenState {
        mood,
        confidence: 0.87,
        held: Duration::from_secs(12),
        now_playing: Some(TITLE.into()),
        scroll_px: 0,
        marks: StatusMarks::default(),
    }
}

/// Compares `name`'s rendering with its golden file (or writes it when asked to).
fn check(name: &str, panel: Panel, state: &ScreenState) -> Result<(), String> {
    let path = golden_dir().join(format!("{}-{name}.png", panel.name()));
    let got = panel.render(state);
    if xpressify_protocol::golden::update_requested() {
        std::fs::create_dir_all(golden_dir()).map_err(|e| e.to_string())?;
        got.save(&path).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let want = image::open(&path)
        .map_err(|e| {
            format!(
                "{}: {e} (regenerate with XPRESSIFY_UPDATE_GOLDEN=1)",
                path.display()
            )
        })?
        .to_rgb8();
    if want.dimensions() != got.dimensions() {
        return Err(format!(
            "{}: size {:?}, golden {:?}",
            path.display(),
            got.dimensions(),
            want.dimensions()
        ));
    }
    let differing = want
        .pixels()
        .zip(got.pixels())
        .filter(|(a, b)| a != b)
        .count();
    if differing > 0 {
        let actual = std::env::temp_dir().join(format!("actual-{}-{name}.png", panel.name()));
        let _ = got.save(&actual);
        return Err(format!(
            "{}: {differing} pixels differ (this rendering: {})",
            path.display(),
            actual.display()
        ));
    }
    Ok(())
}

fn check_all(cases: &[(String, Panel, ScreenState)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(name, panel, state)| check(name, *panel, state).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_emotion_on_every_panel() {
    let mut cases = Vec::new();
    for panel in Panel::ALL {
        for mood in Emotion::ALL.map(Some).into_iter().chain([None]) {
            let name = mood.map_or("none", Emotion::as_str).to_string();
            cases.push((name, panel, state(mood)));
        }
    }
    check_all(&cases);
}

#[test]
fn status_marks_and_a_scrolled_long_title() {
    let mut cases = Vec::new();
    for panel in Panel::ALL {
        let mut s = state(Some(Emotion::Happy));
        s.marks = StatusMarks {
            no_camera: true,
            broker_offline: true,
            companion_offline: true,
            camera_off: false,
        };
        s.now_playing = None;
        cases.push(("marks".to_string(), panel, s));
        // The privacy switch: no mood, "CAM OFF" in its place.
        let mut s = state(None);
        s.marks.camera_off = true;
        cases.push(("camera-off".to_string(), panel, s));
        let mut s = state(Some(Emotion::Sad));
        s.now_playing = Some(LONG_TITLE.into());
        s.scroll_px = 40;
        cases.push(("long-title".to_string(), panel, s));
    }
    check_all(&cases);
}

#[test]
fn a_long_title_scrolls_and_wraps_a_short_one_stays() {
    for panel in Panel::ALL {
        assert_eq!(scroll_period(panel, "Short"), 0, "{panel}");
        let period = scroll_period(panel, LONG_TITLE);
        assert!(period > 0, "{panel}");
        let at = |px| {
            let mut s = state(Some(Emotion::Neutral));
            s.now_playing = Some(LONG_TITLE.into());
            s.scroll_px = px;
            panel.render(&s)
        };
        assert!(at(0) != at(7), "{panel}: scrolling changes the picture");
        assert!(at(3) == at(3 + period), "{panel}: a full period comes back");
        // Scrolling a title that fits does nothing.
        let short = |px| {
            let mut s = state(Some(Emotion::Neutral));
            s.now_playing = Some("Short".into());
            s.scroll_px = px;
            panel.render(&s)
        };
        assert!(short(0) == short(55), "{panel}: a short title moved");
    }
}

#[test]
fn screens_differ_between_emotions() {
    for panel in Panel::ALL {
        let pictures: Vec<_> = Emotion::ALL
            .map(Some)
            .into_iter()
            .chain([None])
            .map(|m| {
                let mut s = state(m);
                s.now_playing = None;
                panel.render(&s)
            })
            .collect();
        for (i, a) in pictures.iter().enumerate() {
            for b in &pictures[i + 1..] {
                assert!(a != b, "{panel}: two moods look the same");
            }
        }
    }
}
