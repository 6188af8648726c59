//! When the music changes: not on every flicker of a face.
//!
//! - Nothing playing: start once a mood has held for `start_after`.
//! - Playing, and the mood changes: the next pick (at the end of the track) follows the new
//!   mood; the track is cut early only when the new mood has held for `switch_after`.
//! - A listener's pause is respected: nothing starts by itself until they press play.
//! - "No face" keeps the music of the last mood going; it never starts or cuts anything.
//!
//! The schedule is a plain state machine over millisecond timestamps, so the service drives it
//! with the clock and the tests with numbers.

use std::time::Duration;

use xpressify_protocol::Emotion;

/// What the service should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing is playing: start a pick for this mood.
    Start(Emotion),
    /// Cut the current track for a pick for this mood.
    Switch(Emotion),
}

/// The player as the schedule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Player {
    /// Nothing loaded (never started, or the last track ended).
    Idle,
    /// A track plays.
    Playing,
    /// A listener paused.
    Paused,
}

/// The schedule's settings (`[music]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a mood must hold before music starts from silence.
    pub start_after: Duration,
    /// How long a changed mood must hold before the current track is cut.
    pub switch_after: Duration,
}

/// The state machine.
#[derive(Debug, Clone)]
pub struct Schedule {
    timing: Timing,
    /// The newest mood and when it began (ms).
    mood: Option<(Emotion, u64)>,
    /// The mood the current track was picked for.
    playing_for: Option<Emotion>,
}

impl Schedule {
    /// A schedule with nothing heard and nothing playing.
    pub fn new(timing: Timing) -> Self {
        Schedule {
            timing,
            mood: None,
            playing_for: None,
        }
    }

    /// A device announced a mood (`None`: no face).
    pub fn on_mood(&mut self, emotion: Option<Emotion>, now_ms: u64) {
        match emotion {
            Some(e) if self.mood.map(|(m, _)| m) != Some(e) => self.mood = Some((e, now_ms)),
            // Same mood again, or no face: the last mood's clock keeps running.
            _ => {}
        }
    }

    /// Stops following what was heard and not yet acted on (the room's camera was turned off,
    /// or the room stopped following moods): the current track's mood stays the mood, so
    /// nothing is cut and nothing starts from silence.
    pub fn forget_pending(&mut self, now_ms: u64) {
        self.mood = self.playing_for.map(|m| (m, now_ms));
    }

    /// The mood music should follow now, if any has been heard.
    pub fn mood(&self) -> Option<Emotion> {
        self.mood.map(|(m, _)| m)
    }

    /// The mood the current track was picked for.
    pub fn playing_for(&self) -> Option<Emotion> {
        self.playing_for
    }

    /// A pick for `emotion` started playing.
    pub fn on_started(&mut self, emotion: Emotion) {
        self.playing_for = Some(emotion);
    }

    /// The track ended or was stopped: the next pick follows the newest mood (or the last
    /// track's mood when none was heard since).
    pub fn on_ended(&mut self) -> Option<Action> {
        let last = self.playing_for.take();
        self.mood().or(last).map(Action::Start)
    }

    /// Called every second or so with the player's state.
    pub fn on_tick(&mut self, player: Player, now_ms: u64) -> Option<Action> {
        let (mood, since) = self.mood?;
        let held = Duration::from_millis(now_ms.saturating_sub(since));
        match player {
            Player::Paused => None,
            Player::Idle if held >= self.timing.start_after => Some(Action::Start(mood)),
            Player::Idle => None,
            Player::Playing => match self.playing_for {
                Some(p) if p != mood && held >= self.timing.switch_after => {
                    Some(Action::Switch(mood))
                }
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Emotion::*;

    fn schedule() -> Schedule {
        Schedule::new(Timing {
            start_after: Duration::from_secs(3),
            switch_after: Duration::from_secs(60),
        })
    }

    #[test]
    fn starts_only_once_a_mood_holds() {
        let mut s = schedule();
        assert_eq!(s.on_tick(Player::Idle, 0), None, "nothing heard");
        s.on_mood(Some(Happy), 1_000);
        assert_eq!(s.on_tick(Player::Idle, 2_000), None);
        s.on_mood(Some(Sad), 2_500); // flicker: the clock restarts
        assert_eq!(s.on_tick(Player::Idle, 4_500), None);
        assert_eq!(s.on_tick(Player::Idle, 5_500), Some(Action::Start(Sad)));
    }

    #[test]
    fn a_change_while_playing_waits_for_the_track_end_unless_it_lasts() {
        let mut s = schedule();
        s.on_mood(Some(Happy), 0);
        s.on_started(Happy);
        s.on_mood(Some(Sad), 10_000);
        assert_eq!(s.on_tick(Player::Playing, 30_000), None, "not yet");
        // The track ends: the next pick follows the new mood.
        assert_eq!(s.on_ended(), Some(Action::Start(Sad)));
        s.on_started(Sad);
        s.on_mood(Some(Angry), 100_000);
        assert_eq!(s.on_tick(Player::Playing, 159_000), None);
        assert_eq!(
            s.on_tick(Player::Playing, 160_000),
            Some(Action::Switch(Angry))
        );
    }

    #[test]
    fn flicker_during_a_track_never_cuts_it() {
        let mut s = schedule();
        s.on_mood(Some(Happy), 0);
        s.on_started(Happy);
        let mut now = 0;
        for i in 0..200 {
            now += 2_000;
            s.on_mood(Some(if i % 2 == 0 { Sad } else { Happy }), now);
            assert_eq!(s.on_tick(Player::Playing, now + 1_000), None);
        }
    }

    #[test]
    fn forgetting_cancels_a_pending_switch_and_a_pending_start() {
        let mut s = schedule();
        s.on_mood(Some(Happy), 0);
        s.forget_pending(1_000);
        assert_eq!(
            s.on_tick(Player::Idle, 10_000),
            None,
            "no start from silence"
        );
        s.on_mood(Some(Happy), 10_000);
        s.on_started(Happy);
        s.on_mood(Some(Sad), 20_000);
        s.forget_pending(21_000);
        assert_eq!(s.on_tick(Player::Playing, 200_000), None, "no switch");
        assert_eq!(s.on_ended(), Some(Action::Start(Happy)));
    }

    #[test]
    fn pause_is_respected_and_no_face_keeps_the_music() {
        let mut s = schedule();
        s.on_mood(Some(Happy), 0);
        assert_eq!(s.on_tick(Player::Paused, 10_000), None);
        s.on_started(Happy);
        s.on_mood(None, 20_000);
        assert_eq!(s.on_tick(Player::Playing, 200_000), None);
        assert_eq!(s.on_ended(), Some(Action::Start(Happy)));
    }
}
