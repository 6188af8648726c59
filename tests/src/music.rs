//! What the music tests share: tones as WAV files, catalogues of them tagged by mood, the
//! mood a device publishes, and waiting for a sink's next event.

use std::path::Path;
use std::time::{Duration, Instant};

use xpressify_companion::sink::{PlayItem, PlaybackSink, SinkEvent};
use xpressify_companion::source::wav;

/// The content type of [`tone`]'s bytes.
pub const WAV: &str = "audio/wav";

/// A mono 16-bit WAV of a sine at `hz`, `seconds` long, at 8 kHz.
pub fn tone(hz: f32, seconds: f32) -> Vec<u8> {
    wav::pcm16_mono(&wav::tone(hz, seconds, 8_000), 8_000)
}

/// A 440 Hz tone as a file server serves it: its content type and bytes.
pub fn served(seconds: f32) -> (&'static str, Vec<u8>) {
    (WAV, tone(440.0, seconds))
}

/// Pick `pick_id` of catalogue file `tone-<pick_id>.wav`, with the given title and artist.
pub fn tone_pick(pick_id: i64, title: &str, artist: &str) -> PlayItem {
    PlayItem {
        pick_id,
        track: xpressify_protocol::Track::Local {
            file: format!("tone-{pick_id}.wav"),
        },
        title: title.to_string(),
        artist: artist.to_string(),
    }
}

/// Writes a catalogue into `folder`: for each `(emotion, count)`, `count` tones of `seconds`
/// named `<emotion>-<i>.wav`, titled "A <emotion> song <i>" (so a title tells its mood), by
/// "Tones", tagged with that emotion.
pub fn write_catalogue(folder: &Path, moods: &[(&str, usize)], seconds: f32) {
    std::fs::create_dir_all(folder).expect("make the catalogue folder");
    let mut toml = String::new();
    for (k, (emotion, count)) in moods.iter().enumerate() {
        for i in 0..*count {
            let file = format!("{emotion}-{i}.wav");
            let hz = 220.0 + 110.0 * (k * 3 + i) as f32;
            std::fs::write(folder.join(&file), tone(hz, seconds)).expect("write a tone");
            toml.push_str(&format!(
                "[[track]]\nfile = \"{file}\"\ntitle = \"A {emotion} song {i}\"\nartist = \"Tones\"\nmoods = [\"{emotion}\"]\n\n"
            ));
        }
    }
    std::fs::write(folder.join("catalogue.toml"), toml).expect("write catalogue.toml");
}

/// Writes `per_mood` synthesised pieces of `seconds` per emotion into `folder` as
/// `<emotion>-NN.wav` (22.05 kHz): music whose mood is known from how it was made, for the
/// library's scan.
pub fn write_pieces(folder: &Path, per_mood: usize, seconds: f32, seed: u64) {
    const RATE: u32 = 22_050;
    std::fs::create_dir_all(folder).expect("make the music folder");
    for piece in xpressify_companion::library::synth::test_set(per_mood, seconds, RATE, seed) {
        std::fs::write(
            folder.join(&piece.name),
            wav::pcm16_mono(&piece.samples, RATE),
        )
        .expect("write a piece");
    }
}

/// The mood `device` publishes: `emotion` at 0.9, one face.
pub fn mood_json(device: &str, emotion: &str) -> String {
    format!(
        r#"{{"schema":1,"device_id":"{device}","emotion":"{emotion}","confidence":0.9,"probabilities":[0.1,0.0,0.1,0.5,0.2,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{{"name":"m","version":"1"}}}}"#
    )
}

/// Polls `sink` until it reports an event, for at most `limit`.
pub async fn next_event(sink: &mut impl PlaybackSink, limit: Duration) -> Option<SinkEvent> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match sink.poll().await {
            Ok(Some(e)) => return Some(e),
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("poll: {e}"),
        }
    }
    None
}

/// Waits until `done` holds, for at most `limit`, naming `what` when it never does.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
