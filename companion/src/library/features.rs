//! The few audio features that carry a piece's mood, from a decoded window: tempo and how
//! clear its pulse is, loudness and its range, brightness, and major or minor mode.
//!
//! These are the cues the music-and-emotion literature finds strongest (Gabrielsson &
//! Lindström's review in the *Handbook of Music and Emotion*, 2010; Eerola, Friberg & Bresin
//! 2013): mode and tempo for valence, tempo, loudness and brightness for arousal. Each is a
//! textbook estimator, written here because no permissively licensed crate offers them
//! (bliss-audio, which does, is GPL):
//!
//! - tempo: autocorrelation of the spectral-flux onset envelope, weighted by a log-normal
//!   prior around 120 BPM (Ellis, "Beat tracking by dynamic programming", 2007);
//! - loudness: the RMS level in dBFS of frames above a −60 dB gate, and its range as the
//!   spread between the 10th and 95th percentile of 1-second levels (as EBU R128's LRA);
//! - brightness: the magnitude-weighted spectral centroid;
//! - mode: the chroma vector correlated with the Krumhansl–Kessler key profiles (Krumhansl
//!   1990); the best major key's correlation minus the best minor key's.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use super::decode::Audio;

/// Frame of the onset, loudness and brightness analysis: 93 ms at 11 kHz.
const FRAME: usize = 1024;
/// Hop between those frames: 23 ms, fine enough for beats up to 220 BPM.
const HOP: usize = 256;
/// Frame of the pitch analysis: 0.74 s at 11 kHz, 1.3 Hz per bin, so that neighbouring
/// semitones are told apart down to 80 Hz.
const CHROMA_FRAME: usize = 8192;
/// Hop between pitch frames.
const CHROMA_HOP: usize = 4096;
/// Frames quieter than this (dBFS) are silence: they count for neither loudness nor
/// brightness.
const GATE_DB: f32 = -60.0;
/// The tempo range searched, in beats per minute.
const TEMPO_RANGE: (f32, f32) = (50.0, 220.0);
/// Centre and width (octaves) of the tempo prior (Ellis 2007 uses 120 BPM and 1.4 octaves;
/// a narrower one halves fewer slow pieces' tempi).
const TEMPO_PRIOR: (f32, f32) = (120.0, 1.0);

/// Krumhansl–Kessler probe-tone ratings, C major and C minor.
const MAJOR_PROFILE: [f32; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
const MINOR_PROFILE: [f32; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];
const PITCH_NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];

/// What the scan measured of one track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Beats per minute.
    pub tempo_bpm: f32,
    /// How clearly the music pulses: the tempo's autocorrelation peak over the envelope's
    /// energy, 0 (no beat) to 1.
    pub pulse: f32,
    /// Level in dBFS (0 is full scale; mastered pop sits near −10, quiet piano near −30).
    pub loudness_db: f32,
    /// Spread of the 1-second levels (95th minus 10th percentile), dB.
    pub dynamics_db: f32,
    /// Spectral centroid, Hz.
    pub brightness_hz: f32,
    /// Best major key's profile correlation minus best minor key's: above 0 major.
    pub mode: f32,
    /// The best-fitting key, e.g. "A minor".
    pub key: String,
}

impl Features {
    /// Measures `audio` (at least a few seconds of it; silence gives quiet, pulse-less
    /// figures, never an error).
    pub fn of(audio: &Audio) -> Features {
        let rate = audio.rate.max(1) as f32;
        let frames = Spectra::new(FRAME).frames(&audio.samples, HOP);
        let (loudness_db, dynamics_db) = loudness(&audio.samples, audio.rate as usize);
        let brightness_hz = brightness(&frames, rate);
        let (tempo_bpm, pulse) = tempo(&frames, rate / HOP as f32);
        let chroma = chroma(&audio.samples, rate);
        let (mode, key) = key_of(&chroma);
        Features {
            tempo_bpm,
            pulse,
            loudness_db,
            dynamics_db,
            brightness_hz,
            mode,
            key,
        }
    }
}

/// Magnitude spectra of Hann-windowed frames.
struct Spectra {
    size: usize,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
}

impl Spectra {
    fn new(size: usize) -> Spectra {
        let fft = FftPlanner::new().plan_fft_forward(size);
        let window = (0..size)
            .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / size as f32).cos())
            .collect();
        Spectra { size, fft, window }
    }

    /// Each frame's magnitudes for bins 0..size/2, frames `hop` apart.
    fn frames(&self, samples: &[f32], hop: usize) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        let mut buf = vec![Complex::new(0.0, 0.0); self.size];
        let mut start = 0;
        while start + self.size <= samples.len() {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = Complex::new(samples[start + i] * self.window[i], 0.0);
            }
            self.fft.process(&mut buf);
            out.push(buf[..self.size / 2].iter().map(|c| c.norm()).collect());
            start += hop;
        }
        out
    }
}

fn db(power: f32) -> f32 {
    10.0 * power.max(1e-12).log10()
}

/// Gated RMS level and the loudness range, both in dB.
fn loudness(samples: &[f32], rate: usize) -> (f32, f32) {
    let block = (rate / 10).max(1); // 100 ms blocks
    let powers: Vec<f32> = samples
        .chunks(block)
        .filter(|c| c.len() == block)
        .map(|c| c.iter().map(|s| s * s).sum::<f32>() / block as f32)
        .collect();
    let loud: Vec<f32> = powers
        .iter()
        .copied()
        .filter(|p| db(*p) > GATE_DB)
        .collect();
    if loud.is_empty() {
        return (GATE_DB, 0.0);
    }
    let level = db(loud.iter().sum::<f32>() / loud.len() as f32);
    // One-second levels, from ten blocks each.
    let mut seconds: Vec<f32> = powers
        .chunks(10)
        .filter(|c| c.len() == 10)
        .map(|c| db(c.iter().sum::<f32>() / 10.0))
        .filter(|l| *l > GATE_DB)
        .collect();
    if seconds.len() < 2 {
        return (level, 0.0);
    }
    seconds.sort_by(f32::total_cmp);
    let at = |q: f32| seconds[((seconds.len() - 1) as f32 * q).round() as usize];
    (level, at(0.95) - at(0.10))
}

/// The magnitude-weighted spectral centroid of the non-silent frames, weighted by level.
fn brightness(frames: &[Vec<f32>], rate: f32) -> f32 {
    let bin_hz = rate / FRAME as f32;
    let (mut sum, mut weight) = (0.0f64, 0.0f64);
    for frame in frames {
        let total: f32 = frame.iter().sum();
        if total <= 1e-6 {
            continue;
        }
        let centroid: f32 = frame
            .iter()
            .enumerate()
            .map(|(k, m)| k as f32 * bin_hz * m)
            .sum::<f32>()
            / total;
        sum += f64::from(centroid * total);
        weight += f64::from(total);
    }
    if weight == 0.0 {
        0.0
    } else {
        (sum / weight) as f32
    }
}

/// Tempo (BPM) and pulse clarity from the frames' spectral flux, `fps` frames per second.
fn tempo(frames: &[Vec<f32>], fps: f32) -> (f32, f32) {
    if frames.len() < 4 {
        return (0.0, 0.0);
    }
    // Onset envelope: how much louder each bin got, on a log scale.
    let logs: Vec<Vec<f32>> = frames
        .iter()
        .map(|f| f.iter().map(|m| (1.0 + 100.0 * m).ln()).collect())
        .collect();
    let mut env: Vec<f32> = logs
        .windows(2)
        .map(|w| {
            w[1].iter()
                .zip(&w[0])
                .map(|(b, a)| (b - a).max(0.0))
                .sum::<f32>()
        })
        .collect();
    // Remove the slow trend (a crescendo is not a beat) over ±0.25 s.
    let half = ((fps * 0.25) as usize).max(1);
    let trend: Vec<f32> = (0..env.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(env.len()));
            env[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect();
    for (e, t) in env.iter_mut().zip(&trend) {
        *e = (*e - t).max(0.0);
    }
    let energy: f32 = env.iter().map(|e| e * e).sum();
    if energy <= 1e-9 {
        return (0.0, 0.0);
    }
    let acf = |lag: usize| -> f32 {
        env.iter()
            .zip(&env[lag.min(env.len())..])
            .map(|(a, b)| a * b)
            .sum()
    };
    let min_lag = (fps * 60.0 / TEMPO_RANGE.1).floor().max(1.0) as usize;
    let max_lag = ((fps * 60.0 / TEMPO_RANGE.0).ceil() as usize).min(env.len() / 2);
    if max_lag <= min_lag + 2 {
        return (0.0, 0.0);
    }
    let values: Vec<f32> = (min_lag - 1..=max_lag + 1).map(acf).collect();
    let weight = |lag: f32| {
        let bpm = 60.0 * fps / lag;
        let octaves = (bpm / TEMPO_PRIOR.0).log2() / TEMPO_PRIOR.1;
        (-0.5 * octaves * octaves).exp()
    };
    let (mut best, mut best_score) = (min_lag, f32::MIN);
    for lag in min_lag..=max_lag {
        let score = values[lag - min_lag + 1] * weight(lag as f32);
        if score > best_score {
            best = lag;
            best_score = score;
        }
    }
    // Parabolic interpolation between the neighbouring lags gives a fraction of a frame.
    let i = best - min_lag + 1;
    let (a, b, c) = (values[i - 1], values[i], values[i + 1]);
    let denom = a - 2.0 * b + c;
    let shift = if denom.abs() > 1e-12 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let lag = best as f32 + shift;
    let pulse = (values[i] / energy).clamp(0.0, 1.0);
    (60.0 * fps / lag, pulse)
}

/// Energy per pitch class (C first) between 80 Hz and 2 kHz.
fn chroma(samples: &[f32], rate: f32) -> [f32; 12] {
    let spectra = Spectra::new(CHROMA_FRAME);
    let bin_hz = rate / CHROMA_FRAME as f32;
    let classes: Vec<Option<usize>> = (0..CHROMA_FRAME / 2)
        .map(|k| {
            let f = k as f32 * bin_hz;
            (80.0..=2000.0).contains(&f).then(|| {
                let midi = 69.0 + 12.0 * (f / 440.0).log2();
                (midi.round() as i64).rem_euclid(12) as usize
            })
        })
        .collect();
    let mut chroma = [0.0f32; 12];
    for frame in spectra.frames(samples, CHROMA_HOP) {
        for (m, class) in frame.iter().zip(&classes) {
            if let Some(c) = class {
                chroma[*c] += m * m;
            }
        }
    }
    chroma
}

fn correlation(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    let ma = a.iter().sum::<f32>() / 12.0;
    let mb = b.iter().sum::<f32>() / 12.0;
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for i in 0..12 {
        num += (a[i] - ma) * (b[i] - mb);
        da += (a[i] - ma) * (a[i] - ma);
        db += (b[i] - mb) * (b[i] - mb);
    }
    if da <= 0.0 || db <= 0.0 {
        0.0
    } else {
        num / (da * db).sqrt()
    }
}

/// Major-minus-minor correlation and the best key's name.
fn key_of(chroma: &[f32; 12]) -> (f32, String) {
    let best = |profile: &[f32; 12]| {
        (0..12)
            .map(|tonic| {
                let mut rotated = [0.0; 12];
                for (i, r) in rotated.iter_mut().enumerate() {
                    *r = profile[(i + 12 - tonic) % 12];
                }
                (correlation(chroma, &rotated), tonic)
            })
            .fold((f32::MIN, 0), |a, b| if b.0 > a.0 { b } else { a })
    };
    let (major, major_tonic) = best(&MAJOR_PROFILE);
    let (minor, minor_tonic) = best(&MINOR_PROFILE);
    if chroma.iter().all(|c| *c <= 0.0) {
        return (0.0, String::new());
    }
    let key = if major >= minor {
        format!("{} major", PITCH_NAMES[major_tonic])
    } else {
        format!("{} minor", PITCH_NAMES[minor_tonic])
    };
    (major - minor, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(samples: Vec<f32>) -> Audio {
        Audio {
            rate: 11_025,
            samples,
        }
    }

    /// Clicks `bpm` times a minute over a quiet hum.
    fn clicks(bpm: f32, seconds: f32) -> Vec<f32> {
        let rate = 11_025.0;
        let period = (rate * 60.0 / bpm) as usize;
        (0..(rate * seconds) as usize)
            .map(|i| {
                let since = i % period;
                let click = if since < 200 {
                    (1.0 - since as f32 / 200.0) * ((i * 7919) % 13) as f32 / 13.0 - 0.5
                } else {
                    0.0
                };
                0.8 * click + 0.01 * (i as f32 * 0.05).sin()
            })
            .collect()
    }

    #[test]
    fn the_tempo_of_a_click_track_is_found() {
        for bpm in [72.0, 100.0, 128.0, 160.0] {
            let f = Features::of(&audio(clicks(bpm, 20.0)));
            assert!(
                (f.tempo_bpm - bpm).abs() < bpm * 0.03,
                "{bpm} BPM read as {}",
                f.tempo_bpm
            );
            assert!(f.pulse > 0.3, "a click track pulses clearly: {}", f.pulse);
        }
    }

    /// A chord's notes (semitones above `root` Hz) as summed sines.
    fn chord(root: f32, notes: &[i32], seconds: f32) -> Vec<f32> {
        let rate = 11_025.0;
        (0..(rate * seconds) as usize)
            .map(|i| {
                notes
                    .iter()
                    .map(|n| {
                        let f = root * 2f32.powf(*n as f32 / 12.0);
                        (i as f32 * f * std::f32::consts::TAU / rate).sin()
                    })
                    .sum::<f32>()
                    * 0.2
            })
            .collect()
    }

    #[test]
    fn major_and_minor_chords_are_told_apart() {
        // A major's notes with the tonic doubled, then A minor's.
        let major = Features::of(&audio(chord(220.0, &[0, 4, 7, 12], 10.0)));
        let minor = Features::of(&audio(chord(220.0, &[0, 3, 7, 12], 10.0)));
        assert!(major.mode > 0.0, "{major:?}");
        assert!(minor.mode < 0.0, "{minor:?}");
        assert_eq!(major.key, "A major");
        assert_eq!(minor.key, "A minor");
    }

    #[test]
    fn louder_and_brighter_read_so() {
        let soft = Features::of(&audio(chord(220.0, &[0], 10.0)));
        let loud: Vec<f32> = chord(220.0, &[0, 12, 19, 24, 28], 10.0)
            .iter()
            .map(|s| s * 2.0)
            .collect();
        let loud = Features::of(&audio(loud));
        assert!(
            loud.loudness_db > soft.loudness_db + 6.0,
            "{soft:?} {loud:?}"
        );
        assert!(
            loud.brightness_hz > soft.brightness_hz * 1.5,
            "{soft:?} {loud:?}"
        );
        let silence = Features::of(&audio(vec![0.0; 11_025 * 10]));
        assert_eq!(silence.loudness_db, GATE_DB);
        assert_eq!(silence.pulse, 0.0);
    }
}
