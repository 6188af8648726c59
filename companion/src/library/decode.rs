//! Audio files → a short mono signal at about 11 kHz, the only form the features need.
//!
//! symphonia decodes MP3, FLAC, Ogg Vorbis, AAC/M4A and WAV (Opus has no pure-Rust decoder
//! in it yet: such files get an error line and the scan goes on). Only a window of the track
//! is decoded — from a quarter of the way in when the length is known, where the song has
//! started but not yet faded — so a 10-minute track costs what a 45-second one does.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, SeekMode, SeekTo};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::Time;

/// The rate the features are computed at: enough for pitch classes up to 2 kHz and the
/// brightness of a mix, a quarter of the work of 44.1 kHz.
pub const TARGET_RATE: u32 = 11_025;

/// Undecodable packets tolerated in a row before the file is given up as corrupt.
const MAX_BAD_PACKETS: usize = 50;

/// A decoded window of a track.
#[derive(Debug, Clone)]
pub struct Audio {
    /// Samples per second of `samples`.
    pub rate: u32,
    /// Mono samples in −1..1.
    pub samples: Vec<f32>,
}

/// Why a file could not be decoded, in words for the scan's `error` field.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file could not be opened.
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    /// The container or codec is not one symphonia reads.
    #[error("not a supported audio file ({0})")]
    Unsupported(String),
    /// The data is damaged.
    #[error("damaged audio: {0}")]
    Damaged(String),
    /// Decoded, but too little sound to judge.
    #[error("too short: {0:.1} s of audio (at least {1:.0} s are needed)")]
    TooShort(f32, f32),
}

/// Decodes at most `seconds` of `path` (its extension is the hint for the container) into a
/// mono signal at about [`TARGET_RATE`].
pub fn decode_window(path: &Path, seconds: f32) -> Result<Audio, DecodeError> {
    let file = File::open(path).map_err(DecodeError::Open)?;
    let stream = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions {
                enable_gapless: false,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| DecodeError::Unsupported("no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| DecodeError::Unsupported(e.to_string()))?;
    let track_seconds = match (params.n_frames, params.sample_rate) {
        (Some(n), Some(rate)) if rate > 0 => Some(n as f32 / rate as f32),
        _ => None,
    };
    // Skip the intro where the track is long enough for the window to fit after it.
    if let Some(total) = track_seconds
        && total > seconds * 1.5
    {
        let start = (total * 0.25).min(total - seconds);
        let to = SeekTo::Time {
            time: Time::from(f64::from(start)),
            track_id: Some(track_id),
        };
        if format.seek(SeekMode::Coarse, to).is_ok() {
            decoder.reset();
        }
    }

    let mut mono = Downmix::default();
    let mut bad_in_row = 0;
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                if mono.seconds() > 0.0 {
                    break; // a damaged tail: judge what was decoded
                }
                return Err(DecodeError::Damaged(e.to_string()));
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(decoded) => {
                bad_in_row = 0;
                let spec = *decoded.spec();
                let frames = decoded.frames();
                let buf = match &mut buffer {
                    Some(b) if b.capacity() >= decoded.capacity() * spec.channels.count() => b,
                    _ => buffer.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                };
                buf.copy_interleaved_ref(decoded);
                let channels = spec.channels.count().max(1);
                let samples = buf.samples();
                mono.push(
                    spec.rate,
                    channels,
                    &samples[..(frames * channels).min(samples.len())],
                );
                if mono.seconds() >= seconds {
                    break;
                }
            }
            Err(SymphoniaError::DecodeError(e)) => {
                bad_in_row += 1;
                if bad_in_row > MAX_BAD_PACKETS {
                    return Err(DecodeError::Damaged(e.to_string()));
                }
            }
            Err(e) => {
                if mono.seconds() > 0.0 {
                    break;
                }
                return Err(DecodeError::Damaged(e.to_string()));
            }
        }
    }
    let audio = mono.finish();
    let have = audio.samples.len() as f32 / audio.rate.max(1) as f32;
    if have < MIN_SECONDS {
        return Err(DecodeError::TooShort(have, MIN_SECONDS));
    }
    Ok(audio)
}

/// The least audio worth judging: two bars at 60 beats per minute.
pub const MIN_SECONDS: f32 = 8.0;

/// Folds channels to mono and averages groups of samples down to about [`TARGET_RATE`]
/// (a box filter: the features need the spectrum below 2–3 kHz, which it keeps).
#[derive(Default)]
struct Downmix {
    rate: u32,
    factor: usize,
    acc: f32,
    count: usize,
    out: Vec<f32>,
}

impl Downmix {
    fn push(&mut self, rate: u32, channels: usize, interleaved: &[f32]) {
        if self.factor == 0 {
            self.rate = rate.max(1);
            self.factor = ((rate as f32 / TARGET_RATE as f32).round() as usize).max(1);
        }
        let scale = 1.0 / channels as f32;
        for frame in interleaved.chunks_exact(channels) {
            let v: f32 = frame.iter().sum::<f32>() * scale;
            self.acc += if v.is_finite() { v } else { 0.0 };
            self.count += 1;
            if self.count == self.factor {
                self.out.push(self.acc / self.factor as f32);
                self.acc = 0.0;
                self.count = 0;
            }
        }
    }

    fn seconds(&self) -> f32 {
        if self.factor == 0 {
            return 0.0;
        }
        self.out.len() as f32 * self.factor as f32 / self.rate as f32
    }

    fn finish(self) -> Audio {
        let rate = (self.rate as usize)
            .checked_div(self.factor)
            .map_or(TARGET_RATE, |r| r as u32);
        Audio {
            rate,
            samples: self.out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::wav::pcm16_mono;

    #[test]
    fn a_wav_file_decodes_to_mono_at_the_target_rate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tone.wav");
        let rate = 44_100;
        let samples: Vec<f32> = (0..rate * 12)
            .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
            .collect();
        std::fs::write(&path, pcm16_mono(&samples, rate)).expect("write");
        let audio = decode_window(&path, 10.0).expect("decodes");
        assert_eq!(audio.rate, 11_025);
        let seconds = audio.samples.len() as f32 / audio.rate as f32;
        assert!((10.0..10.2).contains(&seconds), "{seconds}");
        let rms =
            (audio.samples.iter().map(|s| s * s).sum::<f32>() / audio.samples.len() as f32).sqrt();
        assert!((0.3..0.4).contains(&rms), "a 0.5 sine has rms 0.35: {rms}");
    }

    #[test]
    fn empty_short_and_junk_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.mp3");
        std::fs::write(&empty, b"").expect("write");
        assert!(decode_window(&empty, 10.0).is_err());
        let junk = dir.path().join("junk.flac");
        std::fs::write(&junk, vec![0x5a; 10_000]).expect("write");
        assert!(decode_window(&junk, 10.0).is_err());
        let short = dir.path().join("short.wav");
        std::fs::write(&short, pcm16_mono(&[0.1; 8_000], 8_000)).expect("write");
        let err = decode_window(&short, 10.0).expect_err("too short");
        assert!(err.to_string().contains("too short"), "{err}");
    }
}
