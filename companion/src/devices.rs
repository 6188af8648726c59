//! The devices the companion knows: admitted only by a valid message, at most
//! `mqtt.max_devices` of them, so made-up ids on the LAN cost bounded memory and work. Pure
//! bookkeeping: what the service must publish when a device comes or goes, it learns from the
//! [`Admission`] it gets back.

use std::collections::BTreeMap;

use xpressify_protocol::{Emotion, MoodEvent};

use crate::status::DeviceView;

/// What admitting a device did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// It was known: marked as heard.
    Known,
    /// It is new; `forgot` names the offline device that made room for it (its retained
    /// `now_playing` should be cleared).
    New {
        /// The device forgotten to make room, if the table was full.
        forgot: Option<String>,
    },
    /// The table is full and every device in it is online: the newcomer is ignored. `ignored`
    /// counts such newcomers so far (for the log, on powers of two).
    Ignored {
        /// Newcomers ignored since the start.
        ignored: u64,
    },
}

impl Admission {
    /// Whether the device is now known.
    pub fn admitted(&self) -> bool {
        !matches!(self, Admission::Ignored { .. })
    }
}

/// The known devices, by id.
#[derive(Debug, Clone)]
pub struct Devices {
    known: BTreeMap<String, DeviceView>,
    max: usize,
    ignored: u64,
}

impl Devices {
    /// An empty table that keeps at most `max` devices (at least one).
    pub fn new(max: usize) -> Devices {
        Devices {
            known: BTreeMap::new(),
            max: max.max(1),
            ignored: 0,
        }
    }

    /// Makes `device` known after a valid message from it, heard at `now`.
    ///
    /// A known device is only marked as heard. Past the cap, the offline device heard least
    /// recently is forgotten; when every device is online the newcomer is ignored, so a flood
    /// of made-up ids can neither grow the table nor push out the household's boxes.
    pub fn admit(&mut self, device: &str, now: u64) -> Admission {
        if let Some(view) = self.known.get_mut(device) {
            view.heard_ms = now;
            return Admission::Known;
        }
        let mut forgot = None;
        if self.known.len() >= self.max {
            let oldest_offline = self
                .known
                .values()
                .filter(|d| !d.online)
                .min_by_key(|d| d.heard_ms)
                .map(|d| d.id.clone());
            let Some(old) = oldest_offline else {
                self.ignored += 1;
                return Admission::Ignored {
                    ignored: self.ignored,
                };
            };
            self.known.remove(&old);
            forgot = Some(old);
        }
        self.known.insert(
            device.to_string(),
            DeviceView {
                id: device.to_string(),
                online: true,
                emotion: None,
                confidence: 0.0,
                since_ms: 0,
                probabilities: [0.0; 7],
                heard_ms: now,
                paused: false,
                calibration: None,
            },
        );
        Admission::New { forgot }
    }

    /// Records `mood` from a known `device`, heard at `now`; `false` for an unknown one.
    pub fn record_mood(&mut self, device: &str, mood: &MoodEvent, now: u64) -> bool {
        let Some(view) = self.known.get_mut(device) else {
            return false;
        };
        if view.emotion != mood.emotion || view.since_ms == 0 {
            view.since_ms = now;
        }
        view.emotion = mood.emotion;
        view.confidence = mood.confidence;
        view.probabilities = *mood.probabilities.values();
        view.paused = mood.paused;
        // A mood is sent only while the device runs.
        view.online = true;
        true
    }

    /// Shows the calibration published for a known `device`.
    pub fn set_calibration(&mut self, device: &str, c: &xpressify_protocol::Calibration) {
        if let Some(view) = self.known.get_mut(device) {
            view.calibration = Some(crate::status::CalibrationView {
                version: c.version,
                corrections: c.corrections,
                offsets: c.offsets,
            });
        }
    }

    /// Marks a known `device` online or offline.
    pub fn set_online(&mut self, device: &str, online: bool) {
        if let Some(view) = self.known.get_mut(device) {
            view.online = online;
        }
    }

    /// The newest mood of `device` and whether its camera was off; `None` before its first
    /// mood.
    pub fn mood_of(&self, device: &str) -> Option<(Option<Emotion>, bool)> {
        self.known
            .get(device)
            .filter(|v| v.since_ms != 0)
            .map(|v| (v.emotion, v.paused))
    }

    /// Whether `device` is known.
    pub fn contains(&self, device: &str) -> bool {
        self.known.contains_key(device)
    }

    /// The known ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.known.keys().map(String::as_str)
    }

    /// A known device as the page shows it.
    pub fn view(&self, device: &str) -> Option<&DeviceView> {
        self.known.get(device)
    }

    /// The known devices as the page shows them, in id order.
    pub fn views(&self) -> Vec<DeviceView> {
        self.known.values().cloned().collect()
    }

    /// How many devices are known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::{Emotion, ModelInfo, Probabilities};

    fn ids(devices: &Devices) -> Vec<&str> {
        devices.ids().collect()
    }

    #[test]
    fn an_offline_device_makes_room_and_a_full_online_table_ignores_newcomers() {
        let mut devices = Devices::new(3);
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(devices.admit(id, i as u64), Admission::New { forgot: None });
        }
        assert_eq!(devices.admit("a", 10), Admission::Known);
        devices.set_online("b", false);
        devices.set_online("c", false);
        // b and c are offline; b was heard longest ago.
        assert_eq!(
            devices.admit("d", 11),
            Admission::New {
                forgot: Some("b".into())
            }
        );
        assert_eq!(ids(&devices), ["a", "c", "d"]);
        devices.set_online("c", true);
        let first = devices.admit("e", 12);
        assert_eq!(first, Admission::Ignored { ignored: 1 });
        assert!(!first.admitted());
        assert_eq!(devices.admit("f", 13), Admission::Ignored { ignored: 2 });
        assert_eq!(ids(&devices), ["a", "c", "d"]);
    }

    #[test]
    fn a_mood_counts_only_for_a_known_device_and_restarts_its_clock_on_a_change() {
        let mut devices = Devices::new(2);
        let mood = |emotion| MoodEvent {
            schema: xpressify_protocol::SCHEMA_VERSION,
            device_id: "a".into(),
            emotion,
            confidence: 0.8,
            probabilities: Probabilities::new([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1])
                .expect("sums to 1"),
            faces: 1,
            timestamp_ms: 0,
            seq: 0,
            model: ModelInfo {
                name: "m".into(),
                version: "1".into(),
            },
            paused: false,
        };
        assert!(!devices.record_mood("a", &mood(Some(Emotion::Happy)), 5));
        devices.admit("a", 1);
        devices.set_online("a", false);
        assert!(devices.record_mood("a", &mood(Some(Emotion::Happy)), 5));
        assert!(devices.record_mood("a", &mood(Some(Emotion::Happy)), 9));
        let view = &devices.views()[0];
        assert_eq!(
            (view.since_ms, view.online),
            (5, true),
            "held since 5, online"
        );
        devices.record_mood("a", &mood(Some(Emotion::Sad)), 12);
        assert_eq!(devices.views()[0].since_ms, 12);
    }
}
