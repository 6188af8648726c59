//! The listener's own music, sorted by mood without hand work: a folder of ordinary audio
//! files is scanned ([`scan`]), each file's tags read ([`tags`]), a window of its audio
//! decoded ([`decode`]) and measured ([`features`]), and the track placed on the
//! valence/arousal plane ([`place`]). The local source then plays, for each mood, the tracks
//! nearest that mood's place in the mapping.
//!
//! Results are kept in the store, so a rescan only analyses new or changed files; a
//! `catalogue.toml` in the folder still places the tracks it lists by hand ("catalogue"
//! wins over a mood tag, which wins over the audio).

pub mod background;
pub mod decode;
pub mod evaluate;
pub mod features;
pub mod place;
pub mod progress;
pub mod scan;
mod stored;
pub mod synth;
pub mod tags;

use std::path::Path;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Emotion;

pub use features::Features;
pub use place::{Place, default_place, moods_near};
pub use scan::{ScanOptions, ScanSummary, scan};
pub use stored::StoredScan;

/// Where a track's place came from, in rising order of trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceSource {
    /// Measured from the audio.
    Audio,
    /// A mood tag in the file.
    Tag,
    /// Placed by hand in `catalogue.toml`.
    Catalogue,
    /// Moved by a listener on the page.
    Listener,
}

/// One line of a scan: a track and its place, or why the file could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanLine {
    /// Path inside the folder, `/`-separated.
    pub file: String,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a scan found in one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    /// A track, placed.
    Placed(Box<Placed>),
    /// An unreadable file: the scan went on without it.
    Failed {
        /// Why, in words.
        error: String,
    },
}

/// A placed track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placed {
    /// Title (the file's name when untagged).
    pub title: String,
    /// Artist ('' when untagged).
    pub artist: String,
    /// Album.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub album: String,
    /// Genre.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub genre: String,
    /// Year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u32>,
    /// Sad (0) to happy (1).
    pub valence: f32,
    /// Calm (0) to energetic (1).
    pub arousal: f32,
    /// The emotions whose music it suits, nearest first.
    pub moods: Vec<Emotion>,
    /// Where the place came from.
    pub source: PlaceSource,
    /// The mood tag, as written, where the file has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood_tag: Option<String>,
    /// What the audio measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Features>,
}

impl Placed {
    /// The track's place.
    pub fn place(&self) -> Place {
        Place::new(self.valence, self.arousal)
    }
}

/// Reads and places one file: tags, then a window of `seconds` of audio. Never panics on a
/// hostile file: a decoder panic becomes an error line like any other failure.
pub fn analyse(path: &Path, file: &str, seconds: f32) -> ScanLine {
    let outcome = std::panic::catch_unwind(|| analyse_unguarded(path, seconds))
        .unwrap_or_else(|_| Err("the decoder failed on this file".into()));
    ScanLine {
        file: file.to_string(),
        outcome: match outcome {
            Ok(placed) => Outcome::Placed(Box::new(placed)),
            Err(error) => Outcome::Failed { error },
        },
    }
}

fn analyse_unguarded(path: &Path, seconds: f32) -> Result<Placed, String> {
    let tags = tags::read(path);
    let audio = decode::decode_window(path, seconds).map_err(|e| e.to_string())?;
    let mut features = Features::of(&audio);
    if let Some(bpm) = tags.bpm {
        // A tagger's BPM (from the whole track, often checked by a person) beats our window.
        features.tempo_bpm = bpm;
    }
    let tag_place = tags.mood.as_deref().and_then(place::place_of_mood_tag);
    let (place, source) = match tag_place {
        Some(p) => (p, PlaceSource::Tag),
        None => (place::place_of_features(&features), PlaceSource::Audio),
    };
    Ok(Placed {
        title: tags.title,
        artist: tags.artist,
        album: tags.album,
        genre: tags.genre,
        year: tags.year,
        valence: place.valence,
        arousal: place.arousal,
        moods: moods_near(place, default_place),
        source,
        mood_tag: tags.mood,
        features: Some(features),
    })
}

/// File name endings the scan reads (symphonia's formats; `.opus` is listed so that such
/// files get an error line that says why, instead of being silently skipped).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "flac", "ogg", "oga", "opus", "m4a", "mp4", "aac", "wav", "wave",
];

/// Whether a file name looks like audio the scan reads.
pub fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// `line` as the listener's settings present it: a file placed by hand in `catalogue.toml`
/// takes that place (source `catalogue`), and the moods follow `place_of`, each emotion's
/// place in the mapping.
pub fn presented(
    mut line: ScanLine,
    hand: Option<&crate::source::CatalogueTrack>,
    place_of: impl Fn(Emotion) -> Place + Copy,
) -> ScanLine {
    if let Outcome::Placed(p) = &mut line.outcome {
        match hand.and_then(|h| place::place_of_moods(&h.moods, place_of).map(|pl| (h, pl))) {
            Some((h, place)) => {
                p.valence = place.valence;
                p.arousal = place.arousal;
                p.moods = h.moods.clone();
                p.source = PlaceSource::Catalogue;
                p.title = h.title.clone();
                if !h.artist.is_empty() {
                    p.artist = h.artist.clone();
                }
            }
            None => p.moods = moods_near(p.place(), place_of),
        }
    }
    line
}
