//! The box's push buttons: software debouncing of raw pin levels, and what each button
//! means. Pure logic, fed with timestamped samples, so it is tested on synthetic edge
//! sequences; the GPIO side only reads pins and feeds it.

use std::time::Duration;

use xpressify_protocol::Command;

/// What a button is for. Play/pause toggles, so it turns into `play` or `pause` depending on
/// what the companion says is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonRole {
    /// Start or pause the music.
    PlayPause,
    /// Next pick (also negative feedback).
    Skip,
    /// The pick suits the mood.
    Like,
    /// The pick does not suit the mood.
    Dislike,
}

impl ButtonRole {
    /// The command a press sends; `playing` is whether music plays now.
    pub fn command(self, playing: bool) -> Command {
        match self {
            ButtonRole::PlayPause if playing => Command::Pause,
            ButtonRole::PlayPause => Command::Play,
            ButtonRole::Skip => Command::Skip,
            ButtonRole::Like => Command::Like,
            ButtonRole::Dislike => Command::Dislike,
        }
    }
}

/// Turns a bouncing contact into clean presses: a new level counts only after it has held
/// for the debounce time, and a press is reported once, on the released → pressed change.
#[derive(Debug, Clone)]
pub struct Debouncer {
    hold: Duration,
    stable: bool,
    candidate: bool,
    candidate_since: Duration,
}

impl Debouncer {
    /// A debouncer that needs `hold` of a steady level (20–50 ms suits tactile switches);
    /// it starts released.
    pub fn new(hold: Duration) -> Self {
        Debouncer {
            hold,
            stable: false,
            candidate: false,
            candidate_since: Duration::ZERO,
        }
    }

    /// Feeds one sample: `pressed` is the logical level (after pull-up inversion) at time
    /// `at` since any fixed start. Returns true exactly when a press is confirmed.
    pub fn sample(&mut self, at: Duration, pressed: bool) -> bool {
        if pressed != self.candidate {
            self.candidate = pressed;
            self.candidate_since = at;
            return false;
        }
        if self.candidate != self.stable && at.saturating_sub(self.candidate_since) >= self.hold {
            self.stable = self.candidate;
            return self.stable;
        }
        false
    }

    /// The confirmed level.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(ms, level)` samples every millisecond between the given change points and
    /// returns the times of the reported presses.
    fn presses(changes: &[(u64, bool)], until_ms: u64) -> Vec<u64> {
        let mut d = Debouncer::new(Duration::from_millis(20));
        let mut level = false;
        let mut out = Vec::new();
        let mut next = changes.iter().peekable();
        for ms in 0..until_ms {
            while let Some(&&(t, l)) = next.peek() {
                if t > ms {
                    break;
                }
                level = l;
                next.next();
            }
            if d.sample(Duration::from_millis(ms), level) {
                out.push(ms);
            }
        }
        out
    }

    #[test]
    fn a_clean_press_is_reported_once_after_the_hold() {
        assert_eq!(presses(&[(100, true), (300, false)], 500), vec![120]);
    }

    #[test]
    fn contact_bounce_gives_one_press() {
        let bouncy = [
            (100, true),
            (102, false),
            (104, true),
            (105, false),
            (108, true),
            (400, false),
            (401, true),
            (403, false),
        ];
        assert_eq!(presses(&bouncy, 600), vec![128]);
    }

    #[test]
    fn spikes_shorter_than_the_hold_are_ignored() {
        let noise = [(100, true), (110, false), (200, true), (219, false)];
        assert!(presses(&noise, 400).is_empty());
    }

    #[test]
    fn two_real_presses_are_two() {
        let two = [(100, true), (200, false), (300, true), (400, false)];
        assert_eq!(presses(&two, 500), vec![120, 320]);
    }

    #[test]
    fn play_pause_follows_the_player() {
        assert_eq!(ButtonRole::PlayPause.command(true), Command::Pause);
        assert_eq!(ButtonRole::PlayPause.command(false), Command::Play);
        assert_eq!(ButtonRole::Dislike.command(true), Command::Dislike);
    }
}
