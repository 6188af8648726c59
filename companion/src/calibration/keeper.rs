//! The service's side of calibration: records corrections with what the device read,
//! decides when a device's calibration is due (a few quiet seconds after a burst of
//! corrections), fits it from the stored corrections and keeps what was published. The
//! service does the publishing; this holds no connection.

use std::collections::HashMap;
use std::sync::Arc;

use xpressify_protocol::{Calibration, Emotion};

use super::fit::{self, Correction, FitSettings};
use super::recent::Recent;
use crate::config::CalibrationConfig;
use crate::store::{MoodCorrection, Store, StoreError, StoredCalibration};

/// The newest corrections a fit uses, and the newest confirmations (older ones weigh little
/// after a few half-lives).
pub const MAX_FIT_CORRECTIONS: usize = 500;

/// Corrections one device may make in an hour; more are refused (a script on the LAN
/// cannot fill the store or keep the companion fitting).
pub const MAX_PER_HOUR: u32 = 120;

/// A mood shown this long without a correction counts as confirmed (the listener had time
/// to see it); its readings of the last seconds are kept as a confirmation.
pub const CONFIRM_AFTER_MS: u64 = 10_000;

/// Devices whose corrections of the hour are counted before finished hours are forgotten.
const MAX_COUNTED: usize = 1024;

/// A burst is fitted at the latest this many quiet periods after its first correction,
/// however long it goes on.
const MAX_DELAY_QUIETS: u64 = 10;

const DAY_MS: f64 = 86_400_000.0;
const HOUR_MS: u64 = 3_600_000;

/// Why a correction was not kept.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Past [`MAX_PER_HOUR`].
    #[error("more than {MAX_PER_HOUR} corrections of {0} in an hour; try again later")]
    TooMany(String),
}

/// Corrections and calibrations of every device.
pub struct Keeper {
    store: Arc<Store>,
    config: CalibrationConfig,
    settings: FitSettings,
    recent: Recent,
    /// Device → (when its fit is due, when its burst began).
    due: HashMap<String, (u64, u64)>,
    /// Device → (the hour's start, corrections in it).
    counts: HashMap<String, (u64, u32)>,
    /// Device → the mood it shows, since when, and whether that is settled (confirmed or
    /// corrected).
    shown: HashMap<String, Shown>,
}

/// A device's announced mood, for confirmations.
#[derive(Debug, Clone, Copy)]
struct Shown {
    emotion: Option<Emotion>,
    since: u64,
    settled: bool,
}

impl Keeper {
    /// A keeper over `store` with `config` and the measured fit settings.
    pub fn new(store: Arc<Store>, config: CalibrationConfig) -> Self {
        Keeper {
            store,
            config,
            settings: FitSettings::default(),
            recent: Recent::default(),
            due: HashMap::new(),
            counts: HashMap::new(),
            shown: HashMap::new(),
        }
    }

    /// `device` announced `emotion` (`None`: no face, or the camera is off) at `now`.
    pub fn on_mood(&mut self, device: &str, emotion: Option<Emotion>, now: u64) {
        let entry = self.shown.entry(device.to_string()).or_insert(Shown {
            emotion,
            since: now,
            settled: false,
        });
        if entry.emotion != emotion {
            *entry = Shown {
                emotion,
                since: now,
                settled: false,
            };
        }
    }

    /// Keeps a confirmation for each device whose mood has been shown for
    /// [`CONFIRM_AFTER_MS`] without a correction; returns how many were kept.
    pub fn confirm_due(&mut self, now: u64) -> Result<usize, StoreError> {
        if !self.config.enabled {
            return Ok(0);
        }
        let mut kept = 0;
        for (device, shown) in &mut self.shown {
            let Some(emotion) = shown.emotion else {
                continue;
            };
            if shown.settled || now.saturating_sub(shown.since) < CONFIRM_AFTER_MS {
                continue;
            }
            shown.settled = true;
            let frames = self.recent.frames(device, now);
            if frames.is_empty() {
                continue;
            }
            self.store
                .record_confirmation(device, emotion, now, &frames)?;
            kept += 1;
        }
        Ok(kept)
    }

    /// A raw reading of `device` (`…/probabilities`), heard at `now`.
    pub fn on_reading(&mut self, device: &str, now: u64, p: &xpressify_protocol::Probabilities) {
        self.recent.record(device, now, p);
    }

    /// Drops what is kept in memory for a device the registry forgot.
    pub fn forget(&mut self, device: &str) {
        self.recent.forget(device);
        self.due.remove(device);
        self.counts.remove(device);
        self.shown.remove(device);
    }

    /// Stores a correction of `device` with its readings of the last seconds, and, when it
    /// names the mood and `fit` is allowed (the device is known), makes the device's
    /// calibration due after [`CalibrationConfig::quiet_s`]. Returns what was stored.
    pub fn correct(
        &mut self,
        device: &str,
        (detected, actual): (Option<Emotion>, Option<Emotion>),
        smoothed: Option<[f32; Emotion::COUNT]>,
        fit: bool,
        now: u64,
    ) -> Result<MoodCorrection, CorrectionError> {
        if self.counts.len() >= MAX_COUNTED && !self.counts.contains_key(device) {
            // Ids sent only through the HTTP API (which needs the token): forget finished hours.
            self.counts
                .retain(|_, (start, _)| now.saturating_sub(*start) < HOUR_MS);
        }
        let (start, count) = self.counts.entry(device.to_string()).or_insert((now, 0));
        if now.saturating_sub(*start) >= HOUR_MS {
            (*start, *count) = (now, 0);
        }
        if *count >= MAX_PER_HOUR {
            return Err(CorrectionError::TooMany(device.to_string()));
        }
        *count += 1;
        let correction = MoodCorrection {
            device: device.to_string(),
            detected,
            actual,
            at_ms: now,
            smoothed,
            frames: self.recent.frames(device, now),
        };
        self.store.record_mood_correction(&correction)?;
        // What was shown was not right after all: no confirmation of it, and none made
        // later of the same showing.
        if let Some(shown) = self.shown.get_mut(device) {
            self.store.drop_confirmations(device, shown.since)?;
            shown.settled = true;
        }
        if fit && self.config.enabled && actual.is_some() {
            let quiet = (self.config.quiet_s * 1000.0) as u64;
            let began = self.due.get(device).map_or(now, |(_, began)| *began);
            let at = (now + quiet).min(began + quiet * MAX_DELAY_QUIETS);
            self.due.insert(device.to_string(), (at, began));
        }
        Ok(correction)
    }

    /// The devices whose calibration is due at `now`, taken off the list.
    pub fn take_due(&mut self, now: u64) -> Vec<String> {
        let due: Vec<String> = self
            .due
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(d, _)| d.clone())
            .collect();
        for d in &due {
            self.due.remove(d);
        }
        due
    }

    /// Whether a fit is waiting for `device`.
    #[cfg(test)]
    pub fn is_due(&self, device: &str) -> bool {
        self.due.contains_key(device)
    }

    /// Fits `device`'s calibration from its stored corrections since its last reset, keeps
    /// it as the newest version and returns it for publishing.
    pub fn refit(&mut self, device: &str, now: u64) -> Result<Calibration, StoreError> {
        let kept = self.store.calibration(device)?;
        let reset_ms = kept.as_ref().map_or(0, |k| k.reset_ms);
        let version = kept.as_ref().map_or(0, |k| k.version) + 1;
        let rows = self
            .store
            .corrections_for_fit(device, reset_ms, MAX_FIT_CORRECTIONS)?;
        let entry = |actual, frames, at_ms: u64, confirmation| Correction {
            actual,
            frames,
            weight: fit::decay(
                now.saturating_sub(at_ms) as f64 / DAY_MS,
                self.config.half_life_days,
            ),
            confirmation,
        };
        let mut entries: Vec<Correction> = rows
            .into_iter()
            .filter_map(|r| Some(entry(r.actual?, r.frames, r.at_ms, false)))
            .collect();
        let used = entries.iter().filter(|c| !c.frames.is_empty()).count();
        for c in self
            .store
            .confirmations_for_fit(device, reset_ms, MAX_FIT_CORRECTIONS)?
        {
            entries.push(entry(c.emotion, c.frames, c.at_ms, true));
        }
        let calibration = Calibration {
            offsets: fit::fit_checked(&entries, &self.settings),
            corrections: used as u32,
            ..Calibration::identity(device, version)
        };
        self.keep(&calibration, reset_ms)?;
        Ok(calibration)
    }

    /// Forgets `device`'s corrections so far: the identity calibration, as a new version.
    pub fn reset(&mut self, device: &str, now: u64) -> Result<Calibration, StoreError> {
        self.due.remove(device);
        let version = self.store.calibration(device)?.map_or(0, |k| k.version) + 1;
        let calibration = Calibration::identity(device, version);
        // Corrections made in this very millisecond are forgotten too.
        self.keep(&calibration, now + 1)?;
        Ok(calibration)
    }

    fn keep(&self, c: &Calibration, reset_ms: u64) -> Result<(), StoreError> {
        self.store.save_calibration(&StoredCalibration {
            device: c.device_id.clone(),
            version: c.version,
            reset_ms,
            payload: c.encode(),
        })
    }

    /// Every calibration kept, as published, for sending again after a (re)connection.
    pub fn published(&self) -> Result<Vec<StoredCalibration>, StoreError> {
        self.store.calibrations()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::Probabilities;

    fn keeper(dir: &tempfile::TempDir, quiet_s: f64) -> Keeper {
        let store = Arc::new(Store::open(&dir.path().join("s.sqlite")).expect("store"));
        Keeper::new(
            store,
            CalibrationConfig {
                quiet_s,
                ..CalibrationConfig::default()
            },
        )
    }

    fn neutral_looking() -> Probabilities {
        Probabilities::new([0.02, 0.01, 0.02, 0.05, 0.3, 0.02, 0.58]).expect("valid")
    }

    #[test]
    fn a_burst_is_fitted_once_after_the_quiet_time() {
        let dir = tempfile::tempdir().expect("dir");
        let mut k = keeper(&dir, 3.0);
        for t in 0..20 {
            k.on_reading("den", t * 500, &neutral_looking());
        }
        for i in 0..5 {
            let now = 10_000 + i * 1000;
            k.correct(
                "den",
                (Some(Emotion::Neutral), Some(Emotion::Sad)),
                None,
                true,
                now,
            )
            .expect("kept");
            assert!(k.take_due(now).is_empty());
        }
        assert!(k.take_due(16_999).is_empty());
        assert_eq!(k.take_due(17_000), vec!["den".to_string()]);
        assert!(k.take_due(30_000).is_empty());
        let c = k.refit("den", 17_000).expect("fit");
        assert_eq!((c.version, c.corrections), (1, 5));
        assert!(c.offsets[Emotion::Sad.index()] > 0.0, "{:?}", c.offsets);
        let again = k.reset("den", 18_000).expect("reset");
        assert_eq!(again.version, 2);
        assert!(again.is_identity());
        // After the reset, the old corrections no longer count.
        let after = k.refit("den", 19_000).expect("fit");
        assert_eq!((after.version, after.corrections), (3, 0));
        assert_eq!(k.published().expect("kept").len(), 1);
    }

    #[test]
    fn a_mood_left_standing_is_confirmed_once_and_a_correction_takes_it_back() {
        let dir = tempfile::tempdir().expect("dir");
        let mut k = keeper(&dir, 3.0);
        for t in 0..30 {
            k.on_reading("den", t * 500, &neutral_looking());
        }
        k.on_mood("den", Some(Emotion::Neutral), 0);
        assert_eq!(k.confirm_due(9_999).expect("store"), 0);
        assert_eq!(k.confirm_due(14_000).expect("store"), 1);
        assert_eq!(k.confirm_due(15_000).expect("store"), 0, "once per showing");
        let kept = k.store.confirmations_for_fit("den", 0, 10).expect("read");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].emotion, Emotion::Neutral);
        assert!(!kept[0].frames.is_empty());
        // The listener says it was sad after all.
        k.correct(
            "den",
            (Some(Emotion::Neutral), Some(Emotion::Sad)),
            None,
            true,
            16_000,
        )
        .expect("kept");
        assert!(
            k.store
                .confirmations_for_fit("den", 0, 10)
                .expect("read")
                .is_empty()
        );
        k.on_mood("den", Some(Emotion::Happy), 17_000);
        k.on_mood("den", None, 18_000);
        assert_eq!(
            k.confirm_due(40_000).expect("store"),
            0,
            "no face: nothing shown"
        );
    }

    #[test]
    fn floods_and_unknown_devices_are_bounded() {
        let dir = tempfile::tempdir().expect("dir");
        let mut k = keeper(&dir, 3.0);
        for i in 0..MAX_PER_HOUR {
            k.correct(
                "den",
                (None, Some(Emotion::Happy)),
                None,
                false,
                u64::from(i),
            )
            .expect("kept");
        }
        assert!(matches!(
            k.correct("den", (None, Some(Emotion::Happy)), None, false, 1000),
            Err(CorrectionError::TooMany(_))
        ));
        // Not allowed to fit (an unknown device): stored, never due.
        assert!(!k.is_due("den"));
        k.correct(
            "den",
            (None, Some(Emotion::Happy)),
            None,
            false,
            HOUR_MS + 1,
        )
        .expect("a new hour");
    }
}
