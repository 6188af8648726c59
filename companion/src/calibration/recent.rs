//! What each device read in the last seconds: its raw per-frame probabilities
//! (`…/probabilities`, before the device's calibration), so a correction can be stored with
//! what was seen. Bounded: [`MAX_FRAMES`] per device, one per [`MIN_GAP_MS`], for the devices
//! the registry admits.

use std::collections::{HashMap, VecDeque};

use xpressify_protocol::{Emotion, Probabilities};

/// How far back a correction looks: the listener reacts to a mood shown for a few seconds.
pub const WINDOW_MS: u64 = 10_000;

/// The most frames kept per device.
pub const MAX_FRAMES: usize = 40;

/// Frames closer than this to the last one kept are skipped (a device publishing at 50 Hz
/// still fills the window, not only its last second).
pub const MIN_GAP_MS: u64 = WINDOW_MS / MAX_FRAMES as u64;

/// The recent readings of every device.
#[derive(Debug, Default)]
pub struct Recent {
    by_device: HashMap<String, VecDeque<(u64, [f32; Emotion::COUNT])>>,
}

impl Recent {
    /// Keeps a reading of `device` made at `at_ms` (the companion's clock). "No face"
    /// readings carry nothing to learn from and are skipped.
    pub fn record(&mut self, device: &str, at_ms: u64, reading: &Probabilities) {
        if reading.is_none() {
            return;
        }
        let frames = self.by_device.entry(device.to_string()).or_default();
        if frames
            .back()
            .is_some_and(|(t, _)| at_ms.saturating_sub(*t) < MIN_GAP_MS)
        {
            return;
        }
        frames.push_back((at_ms, *reading.values()));
        while frames.len() > MAX_FRAMES
            || frames
                .front()
                .is_some_and(|(t, _)| at_ms.saturating_sub(*t) > WINDOW_MS)
        {
            frames.pop_front();
        }
    }

    /// The readings of `device` in the [`WINDOW_MS`] before `now_ms`, oldest first.
    pub fn frames(&self, device: &str, now_ms: u64) -> Vec<[f32; Emotion::COUNT]> {
        self.by_device.get(device).map_or_else(Vec::new, |frames| {
            frames
                .iter()
                .filter(|(t, _)| now_ms.saturating_sub(*t) <= WINDOW_MS)
                .map(|(_, p)| *p)
                .collect()
        })
    }

    /// Drops a device the registry forgot.
    pub fn forget(&mut self, device: &str) {
        self.by_device.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn happy() -> Probabilities {
        Probabilities::new([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]).expect("valid")
    }

    #[test]
    fn keeps_the_last_seconds_bounded_and_spaced() {
        let mut recent = Recent::default();
        for i in 0..2_000u64 {
            // 50 Hz for 40 s.
            recent.record("k", i * 20, &happy());
        }
        let now = 1_999 * 20;
        let frames = recent.frames("k", now);
        // One frame per MIN_GAP_MS over the window (give or take the frame rate's rounding).
        assert!(
            (MAX_FRAMES - 3..=MAX_FRAMES).contains(&frames.len()),
            "{}",
            frames.len()
        );
        recent.record("k", now + 20, &Probabilities::NONE);
        assert_eq!(
            recent.frames("k", now + WINDOW_MS * 2),
            Vec::<[f32; 7]>::new()
        );
        recent.forget("k");
        assert!(recent.frames("k", now).is_empty());
    }
}
