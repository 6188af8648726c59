//! Pieces whose mood is known from how they were made: the library's evaluation set and the
//! tests' fixtures (no recordings to license, nothing to download).
//!
//! Each emotion has a recipe in the terms the music-and-emotion literature uses to describe
//! music that expresses it (Gabrielsson & Lindström 2010; Juslin & Laukka 2004): mode, tempo,
//! loudness, timbre, rhythm and dynamics. Happy is major, fairly fast, bright and steady;
//! sad is minor, slow, soft and dark; angry is minor, fast, loud, harsh and low; fear is
//! minor, low and tense with swelling dynamics; disgust is in a sour Phrygian minor at a mid
//! tempo; surprise is major, very fast and loud with sudden accents; neutral is major,
//! moderate, soft and plain. Within a recipe, key, tempo, level, timbre and the chord
//! progression vary at random, so no two pieces are alike.

use std::f32::consts::TAU;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use xpressify_protocol::Emotion;

/// How one piece is made.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// The emotion it is made to express.
    pub mood: Emotion,
    /// Major (true) or minor key.
    pub major: bool,
    /// Frequency of the key's tonic, Hz.
    pub root_hz: f32,
    /// Beats per minute.
    pub bpm: f32,
    /// Target RMS level, dBFS.
    pub level_db: f32,
    /// Overtone content of the instruments, 0 (sine) to 1 (saw-like).
    pub bright: f32,
    /// Drum kit level, 0 (none) to 1.
    pub drums: f32,
    /// Depth of slow swells and sudden accents, 0 to 1.
    pub swell: f32,
    /// Chords, as scale degrees (0 = tonic) one per bar.
    pub progression: Vec<usize>,
}

/// Semitones of the scale degrees, major and minor (natural); Phrygian for disgust.
const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];
const PHRYGIAN: [i32; 7] = [0, 1, 3, 5, 7, 8, 10];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A random recipe for `mood`.
pub fn recipe(mood: Emotion, rng: &mut StdRng) -> Recipe {
    // (major, bpm range, level dB, brightness range, drums range, swell, octave of the root)
    let (major, bpm, level, bright, drums, swell, low) = match mood {
        Emotion::Happy => (
            true,
            (112.0, 135.0),
            -13.0,
            (0.55, 0.75),
            (0.6, 0.8),
            0.1,
            false,
        ),
        Emotion::Surprise => (
            true,
            (148.0, 175.0),
            -9.0,
            (0.75, 0.95),
            (0.8, 1.0),
            0.6,
            false,
        ),
        Emotion::Angry => (
            false,
            (140.0, 170.0),
            -9.0,
            (0.85, 1.0),
            (0.9, 1.0),
            0.2,
            true,
        ),
        Emotion::Disgust => (
            false,
            (105.0, 125.0),
            -14.0,
            (0.55, 0.7),
            (0.5, 0.7),
            0.2,
            true,
        ),
        Emotion::Fear => (
            false,
            (96.0, 116.0),
            -18.0,
            (0.35, 0.55),
            (0.3, 0.5),
            0.6,
            true,
        ),
        Emotion::Sad => (
            false,
            (54.0, 70.0),
            -24.0,
            (0.05, 0.2),
            (0.0, 0.0),
            0.2,
            false,
        ),
        Emotion::Neutral => (
            true,
            (84.0, 100.0),
            -19.0,
            (0.25, 0.4),
            (0.2, 0.4),
            0.1,
            false,
        ),
    };
    let progressions: &[&[usize]] = if major {
        &[&[0, 4, 5, 3], &[0, 3, 4, 0], &[0, 5, 3, 4], &[0, 3, 0, 4]]
    } else {
        // Minor keys as they are written: the tonic chord often, and a major dominant (the
        // harmonic minor's raised seventh) leading back to it.
        &[&[0, 5, 3, 4], &[0, 3, 4, 0], &[0, 3, 5, 4], &[0, 5, 0, 4]]
    };
    let progression = if mood == Emotion::Disgust {
        vec![0, 1, 0, 4] // i – bII – i – v in Phrygian: the "sour" turn
    } else {
        pick(rng, progressions).to_vec()
    };
    // Any of the twelve keys, in the octave from A2 (110 Hz), or A1 for the low recipes.
    let base = if low { 55.0 } else { 110.0 };
    let root_hz = base * 2f32.powf(rng.random_range(0..12) as f32 / 12.0);
    Recipe {
        mood,
        major,
        root_hz,
        bpm: rng.random_range(bpm.0..bpm.1),
        level_db: level + rng.random_range(-2.0..2.0),
        bright: rng.random_range(bright.0..=bright.1),
        drums: rng.random_range(drums.0..=drums.1),
        swell,
        progression,
    }
}

fn scale(recipe: &Recipe) -> &'static [i32; 7] {
    if recipe.mood == Emotion::Disgust {
        &PHRYGIAN
    } else if recipe.major {
        &MAJOR
    } else {
        &MINOR
    }
}

/// Semitones above the tonic of scale degree `degree` (any integer: octaves wrap).
fn degree_semitones(scale: &[i32; 7], degree: i32) -> i32 {
    let octave = degree.div_euclid(7);
    scale[degree.rem_euclid(7) as usize] + 12 * octave
}

/// A voice with `bright` overtones (up to ten harmonics at 1/k), normalised to peak ≈ 1.
fn voice(phase: f32, bright: f32) -> f32 {
    let harmonics = 1 + (bright * 9.0).round() as usize;
    let mut v = 0.0;
    let mut norm = 0.0;
    for k in 1..=harmonics {
        let a = if k == 1 { 1.0 } else { bright / k as f32 };
        v += a * (k as f32 * phase).sin();
        norm += a;
    }
    v / norm
}

/// The piece, `seconds` long at `rate`, as samples in −1..1 at the recipe's level.
pub fn render(recipe: &Recipe, seconds: f32, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rate_f = rate as f32;
    let total = (seconds * rate_f) as usize;
    let beat = 60.0 / recipe.bpm;
    let scale = scale(recipe);
    let hz = |semis: i32| recipe.root_hz * 2f32.powf(semis as f32 / 12.0);
    // The melody: one scale step per beat, a random walk over the chord.
    let beats = (seconds / beat) as usize + 2;
    let melody: Vec<i32> = {
        let mut at = 7i32;
        (0..beats)
            .map(|_| {
                at = (at + rng.random_range(-2..=2)).clamp(4, 14);
                at
            })
            .collect()
    };
    // Noise for the drums, made once.
    let noise: Vec<f32> = (0..rate as usize)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let mut out = Vec::with_capacity(total);
    let mut phases = [0.0f32; 5]; // bass, three chord notes, melody
    for i in 0..total {
        let t = i as f32 / rate_f;
        let beat_no = (t / beat) as usize;
        let in_beat = t - beat_no as f32 * beat;
        let bar = beat_no / 4;
        let degree = recipe.progression[bar % recipe.progression.len()] as i32;
        // The chord: degree, third and fifth above it in the scale.
        let mut chord = [
            degree_semitones(scale, degree),
            degree_semitones(scale, degree + 2),
            degree_semitones(scale, degree + 4),
        ];
        if !recipe.major && recipe.mood != Emotion::Disgust && degree == 4 {
            chord[1] += 1; // the dominant's raised seventh (harmonic minor)
        }
        let freqs = [
            hz(chord[0] - 12),
            hz(chord[0] + 12),
            hz(chord[1] + 12),
            hz(chord[2] + 12),
            hz(degree_semitones(scale, melody[beat_no % melody.len()]) + 12),
        ];
        for (p, f) in phases.iter_mut().zip(freqs) {
            *p = (*p + TAU * f / rate_f) % TAU;
        }
        let pluck = (in_beat * 300.0).min(1.0) * (-in_beat * 3.0 / beat).exp();
        let bass_env = if beat_no.is_multiple_of(2) {
            pluck
        } else {
            pluck * 0.6
        };
        let bass = voice(phases[0], recipe.bright * 0.6) * bass_env;
        let pad = (voice(phases[1], recipe.bright * 0.5)
            + voice(phases[2], recipe.bright * 0.5)
            + voice(phases[3], recipe.bright * 0.5))
            / 3.0;
        let lead = voice(phases[4], recipe.bright) * pluck;
        // Drums: kick on 1 and 3, snare on 2 and 4, hats on the eighths.
        let mut drums = 0.0;
        if recipe.drums > 0.0 {
            let n = noise[i % noise.len()];
            if beat_no.is_multiple_of(2) {
                let k = (-in_beat * 25.0).exp();
                drums += k * (TAU * (50.0 + 60.0 * k) * in_beat).sin();
            } else {
                drums += 0.6 * (-in_beat * 30.0).exp() * n;
            }
            let eighth = in_beat % (beat / 2.0);
            drums += 0.25 * (-eighth * 80.0).exp() * noise[(i * 7) % noise.len()];
            drums *= recipe.drums;
        }
        // Dynamics: a slow swell over eight beats, and for high `swell` an accent every
        // other bar.
        let swell = 1.0 - recipe.swell * 0.5 * (1.0 + (TAU * t / (8.0 * beat)).cos());
        let accent = if recipe.swell > 0.4 && !bar.is_multiple_of(2) && beat_no.is_multiple_of(4) {
            1.0 + recipe.swell * (-in_beat * 6.0).exp()
        } else {
            1.0
        };
        let edge = (t * 4.0).min(1.0).min((seconds - t) * 4.0).max(0.0);
        out.push((0.35 * bass + 0.3 * pad + 0.35 * lead + 0.5 * drums) * swell * accent * edge);
    }
    master(&mut out, recipe.level_db);
    out
}

/// Brings `samples` to `level_db` RMS as mastering does: gain into a soft limiter (tanh),
/// so loud recipes are dense rather than clipped. The gain is found by bisection.
fn master(samples: &mut [f32], level_db: f32) {
    let target = 10f32.powf(level_db / 20.0);
    // Every 7th sample tells the level well enough, at a seventh of the work.
    let probe: Vec<f32> = samples.iter().step_by(7).copied().collect();
    let rms_at = |gain: f32| {
        (probe.iter().map(|s| (gain * s).tanh().powi(2)).sum::<f32>() / probe.len().max(1) as f32)
            .sqrt()
    };
    let (mut low, mut high) = (0.0f32, 1.0f32);
    while rms_at(high) < target && high < 1e4 {
        high *= 2.0;
    }
    for _ in 0..24 {
        let mid = 0.5 * (low + high);
        if rms_at(mid) < target {
            low = mid;
        } else {
            high = mid;
        }
    }
    samples
        .iter_mut()
        .for_each(|s| *s = 0.99 * (low * *s).tanh());
}

/// A piece of the evaluation set.
#[derive(Debug, Clone)]
pub struct Piece {
    /// A file name that says what it is: `sad-03.wav`.
    pub name: String,
    /// How it was made.
    pub recipe: Recipe,
    /// Its samples.
    pub samples: Vec<f32>,
}

/// `per_mood` pieces for each of the seven emotions, `seconds` long at `rate`, the same for
/// the same `seed`.
pub fn test_set(per_mood: usize, seconds: f32, rate: u32, seed: u64) -> Vec<Piece> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for mood in Emotion::ALL {
        for n in 0..per_mood {
            let recipe = recipe(mood, &mut rng);
            let samples = render(&recipe, seconds, rate, rng.random());
            out.push(Piece {
                name: format!("{mood}-{n:02}.wav"),
                recipe,
                samples,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_at_their_level_and_differ() {
        let set = test_set(2, 4.0, 11_025, 1);
        assert_eq!(set.len(), 14);
        for p in &set {
            let rms =
                (p.samples.iter().map(|s| s * s).sum::<f32>() / p.samples.len() as f32).sqrt();
            let db = 20.0 * rms.log10();
            assert!((db - p.recipe.level_db).abs() < 0.5, "{}: {db}", p.name);
            assert!(p.samples.iter().all(|s| s.abs() < 1.0), "{}", p.name);
        }
        assert_ne!(set[0].samples, set[1].samples);
    }
}
