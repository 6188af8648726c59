//! How well the scan places music whose mood is known: the synthesised set ([`super::synth`])
//! is written as WAV files, scanned like any folder, and each piece's place compared with
//! the mood it was made for. `xpressify-companion library evaluate` prints the result;
//! docs/music-library.md reports it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use xpressify_protocol::Emotion;

use super::{Outcome, ScanOptions, default_place, moods_near, scan, synth};
use crate::source::wav::pcm16_mono;
use crate::store::Store;

/// Sample rate of the written pieces: CD's, as most of a real library.
pub const RATE: u32 = 44_100;

/// The figures for one emotion's pieces.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MoodFigures {
    /// Pieces made for it.
    pub pieces: usize,
    /// Pieces whose nearest emotion is it.
    pub nearest: usize,
    /// Pieces for which it is among the emotions the track suits.
    pub suits: usize,
    /// Mean valence of its pieces.
    pub valence: f32,
    /// Mean arousal of its pieces.
    pub arousal: f32,
    /// Mean measured tempo against the mean made tempo, BPM.
    pub tempo: (f32, f32),
    /// Pieces whose mode was read as made (major or minor).
    pub mode_right: usize,
    /// How often each emotion was the nearest.
    pub read_as: BTreeMap<Emotion, usize>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Per emotion.
    pub moods: BTreeMap<Emotion, MoodFigures>,
    /// Share of pieces whose nearest emotion is the one they were made for.
    pub nearest_accuracy: f32,
    /// Share of pieces that suit the emotion they were made for.
    pub suits_accuracy: f32,
    /// Pairs (a, b) of emotions where a's pieces should sit above b's on an axis, and
    /// whether the means do: ("valence", happy, sad) and so on.
    pub orderings: Vec<(String, Emotion, Emotion, bool)>,
    /// Files analysed per second on this machine.
    pub files_per_second: f64,
    /// Files that failed (should be none).
    pub failed: usize,
}

/// The orderings any sane placement must keep: happy and surprise above sad and fear in
/// valence; angry, surprise and happy above sad and neutral in arousal.
pub const ORDERINGS: &[(&str, Emotion, Emotion)] = &[
    ("valence", Emotion::Happy, Emotion::Sad),
    ("valence", Emotion::Happy, Emotion::Angry),
    ("valence", Emotion::Happy, Emotion::Fear),
    ("valence", Emotion::Surprise, Emotion::Sad),
    ("valence", Emotion::Neutral, Emotion::Sad),
    ("arousal", Emotion::Happy, Emotion::Sad),
    ("arousal", Emotion::Angry, Emotion::Sad),
    ("arousal", Emotion::Angry, Emotion::Neutral),
    ("arousal", Emotion::Surprise, Emotion::Neutral),
    ("arousal", Emotion::Happy, Emotion::Neutral),
];

/// Writes `per_mood` pieces of `seconds` per emotion into `folder`, scans them with
/// `options` into a fresh in-memory store, and scores the places.
pub fn evaluate(
    folder: &Path,
    per_mood: usize,
    seconds: f32,
    seed: u64,
    options: &ScanOptions,
) -> anyhow::Result<Evaluation> {
    use anyhow::Context;
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let set = synth::test_set(per_mood, seconds, RATE, seed);
    let mut made = BTreeMap::new();
    for piece in &set {
        let path = folder.join(&piece.name);
        std::fs::write(&path, pcm16_mono(&piece.samples, RATE))
            .with_context(|| format!("writing {}", path.display()))?;
        made.insert(piece.name.clone(), piece.recipe.clone());
    }
    let store = Store::in_memory()?;
    let stop = AtomicBool::new(false);
    let mut lines = Vec::new();
    let summary = scan(folder, &store, options, &stop, |line, _| {
        lines.push(line.clone())
    })?;
    let mut moods: BTreeMap<Emotion, MoodFigures> = BTreeMap::new();
    for line in &lines {
        let Some(recipe) = made.get(&line.file) else {
            continue;
        };
        let Outcome::Placed(placed) = &line.outcome else {
            continue;
        };
        let f = moods.entry(recipe.mood).or_default();
        let near = moods_near(placed.place(), default_place);
        f.pieces += 1;
        f.nearest += usize::from(near[0] == recipe.mood);
        f.suits += usize::from(near.contains(&recipe.mood));
        f.valence += placed.valence;
        f.arousal += placed.arousal;
        *f.read_as.entry(near[0]).or_default() += 1;
        if let Some(features) = &placed.features {
            f.tempo.0 += features.tempo_bpm;
            f.mode_right += usize::from((features.mode > 0.0) == recipe.major);
        }
        f.tempo.1 += recipe.bpm;
    }
    let (mut nearest, mut suits, mut pieces) = (0, 0, 0);
    for f in moods.values_mut() {
        let n = f.pieces.max(1) as f32;
        f.valence = round3(f.valence / n);
        f.arousal = round3(f.arousal / n);
        f.tempo = ((f.tempo.0 / n).round(), (f.tempo.1 / n).round());
        nearest += f.nearest;
        suits += f.suits;
        pieces += f.pieces;
    }
    let mean = |axis: &str, e: Emotion| {
        moods.get(&e).map_or(f32::NAN, |f| {
            if axis == "valence" {
                f.valence
            } else {
                f.arousal
            }
        })
    };
    let orderings = ORDERINGS
        .iter()
        .map(|(axis, a, b)| (axis.to_string(), *a, *b, mean(axis, *a) > mean(axis, *b)))
        .collect();
    Ok(Evaluation {
        moods,
        nearest_accuracy: round3(nearest as f32 / pieces.max(1) as f32),
        suits_accuracy: round3(suits as f32 / pieces.max(1) as f32),
        orderings,
        files_per_second: (summary.files_per_second() * 100.0).round() / 100.0,
        failed: summary.failed,
    })
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}
