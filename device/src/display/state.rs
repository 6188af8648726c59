//! What the screen shows, as plain data: built from the mood tracker, the MQTT session and the
//! camera's state, compared to decide whether a redraw is needed.

use std::time::Duration;

use xpressify_protocol::Emotion;

/// Everything one frame of the screen depends on. Two equal states draw identical pixels, so
/// a panel is only redrawn when this changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreenState {
    /// The announced mood; `None` while nobody is in view.
    pub mood: Option<Emotion>,
    /// Smoothed probability of that mood, 0 to 1.
    pub confidence: f32,
    /// How long the mood has held, shown rounded (seconds, then minutes, then hours).
    pub held: Duration,
    /// "Title – Artist" of what the companion plays, if anything.
    pub now_playing: Option<String>,
    /// How far a too-long title has scrolled, in pixels (the caller advances it on a timer).
    pub scroll_px: u32,
    /// What is broken.
    pub marks: StatusMarks,
}

/// Problems the listener should see at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusMarks {
    /// The camera is unplugged, busy or failing.
    pub no_camera: bool,
    /// The MQTT broker is not connected.
    pub broker_offline: bool,
    /// The companion (the music side) says it is offline, or has never been heard.
    pub companion_offline: bool,
    /// The privacy switch has the camera off (not a fault: shown in place of the mood).
    pub camera_off: bool,
}

impl ScreenState {
    /// The held time as people say it: "12 s", "3 min", "2 h".
    pub fn held_text(&self) -> String {
        let s = self.held.as_secs();
        match s {
            0..60 => format!("{s} s"),
            60..3600 => format!("{} min", s / 60),
            _ => format!("{} h", s / 3600),
        }
    }

    /// The confidence in whole percent, clamped to 0–100.
    pub fn percent(&self) -> u32 {
        (self.confidence.clamp(0.0, 1.0) * 100.0).round() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_time_reads_like_speech() {
        let at = |s| ScreenState {
            held: Duration::from_secs(s),
            ..ScreenState::default()
        };
        assert_eq!(at(0).held_text(), "0 s");
        assert_eq!(at(59).held_text(), "59 s");
        assert_eq!(at(60).held_text(), "1 min");
        assert_eq!(at(3599).held_text(), "59 min");
        assert_eq!(at(7300).held_text(), "2 h");
    }

    #[test]
    fn percent_is_clamped() {
        let with = |c| ScreenState {
            confidence: c,
            ..ScreenState::default()
        };
        assert_eq!(with(0.874).percent(), 87);
        assert_eq!(with(1.7).percent(), 100);
        assert_eq!(with(f32::NAN).percent(), 0);
    }
}
