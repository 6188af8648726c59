//! The player's state: what plays, paused or not, the last pick, and how the service backs off
//! from a sink that cannot play. Pure state with the time passed in, as `schedule` has it: the
//! service does the I/O (sink, store, MQTT) and tells this what happened.

use xpressify_protocol::{NowPlaying, PlaybackState, SCHEMA_VERSION};

use crate::schedule::Player;
use crate::store::PickRecord;

/// How long to wait after a failed start before trying again.
pub const RETRY_AFTER_MS: u64 = 15_000;

/// Picks in a row the sink may fail to play before the service pauses for `RETRY_AFTER_MS`.
pub const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// The playing pick.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// What plays.
    pub pick: PickRecord,
    /// Its row in the play history (0 when it could not be written).
    pub play_id: i64,
    /// Whether a listener paused it.
    pub paused: bool,
    /// When it started, or was last paused or resumed (ms since the epoch).
    pub since_ms: u64,
}

/// The player's state.
#[derive(Debug, Clone, Default)]
pub struct Playback {
    current: Option<Current>,
    /// The last pick that played, shown as stopped when nothing plays.
    last_pick: Option<PickRecord>,
    /// No new pick starts before this (ms since the epoch).
    retry_at_ms: u64,
    /// Picks in a row that the sink could not play.
    failures: u32,
    /// What went wrong last, for the page; cleared by a pick that starts.
    problem: Option<String>,
}

impl Playback {
    /// Nothing played yet.
    pub fn new() -> Playback {
        Playback::default()
    }

    /// What the schedule needs to know.
    pub fn player(&self) -> Player {
        match &self.current {
            Some(c) if c.paused => Player::Paused,
            Some(_) => Player::Playing,
            None => Player::Idle,
        }
    }

    /// The playing pick.
    pub fn current(&self) -> Option<&Current> {
        self.current.as_ref()
    }

    /// What went wrong last, if it has not been put right since.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// Notes a problem for the page (a command the sink refused, a sink that went away).
    pub fn report(&mut self, problem: impl ToString) {
        self.problem = Some(problem.to_string());
    }

    /// Whether a new pick may start at `now` (not during the pause after failures).
    pub fn may_start(&self, now: u64) -> bool {
        now >= self.retry_at_ms
    }

    /// A pick could not start (no pick, or the sink refused it): wait [`RETRY_AFTER_MS`].
    pub fn could_not_start(&mut self, why: impl ToString, now: u64) {
        self.problem = Some(why.to_string());
        self.retry_at_ms = now + RETRY_AFTER_MS;
    }

    /// `pick` started playing at `now` as play `play_id`; returns the play it replaced, for
    /// the caller to end with its outcome.
    pub fn started(&mut self, pick: PickRecord, play_id: i64, now: u64) -> Option<Current> {
        self.problem = None;
        self.last_pick = Some(pick.clone());
        self.current.replace(Current {
            pick,
            play_id,
            paused: false,
            since_ms: now,
        })
    }

    /// The sink played the pick to its end; returns it.
    pub fn played_out(&mut self) -> Option<Current> {
        self.failures = 0;
        self.current.take()
    }

    /// The sink could not play the pick: returns it, and whether the next pick may start at
    /// once (`false` after [`MAX_FAILURES_IN_A_ROW`] failures: then nothing starts for
    /// [`RETRY_AFTER_MS`], so a sink that fails everything, e.g. mpv without yt-dlp, is not
    /// hammered).
    pub fn failed(&mut self, why: impl ToString, now: u64) -> (Option<Current>, bool) {
        self.problem = Some(why.to_string());
        self.failures += 1;
        let go_on = if self.failures >= MAX_FAILURES_IN_A_ROW {
            self.retry_at_ms = now + RETRY_AFTER_MS;
            self.failures = 0;
            false
        } else {
            true
        };
        (self.current.take(), go_on)
    }

    /// Stops: returns what played, for the caller to end.
    pub fn stop(&mut self) -> Option<Current> {
        self.current.take()
    }

    /// Pauses at `now`; `true` when something was playing (the sink must pause).
    pub fn pause(&mut self, now: u64) -> bool {
        match &mut self.current {
            Some(c) if !c.paused => {
                c.paused = true;
                c.since_ms = now;
                true
            }
            _ => false,
        }
    }

    /// Resumes at `now`; `true` when something was paused (the sink must resume).
    pub fn resume(&mut self, now: u64) -> bool {
        match &mut self.current {
            Some(c) if c.paused => {
                c.paused = false;
                c.since_ms = now;
                true
            }
            _ => false,
        }
    }

    /// The playing pick, or the last one as stopped; `None` before the first.
    pub fn now_playing(&self) -> Option<NowPlaying> {
        let (pick, state, since) = match (&self.current, &self.last_pick) {
            (Some(c), _) if c.paused => (&c.pick, PlaybackState::Paused, c.since_ms),
            (Some(c), _) => (&c.pick, PlaybackState::Playing, c.since_ms),
            (None, Some(last)) => (last, PlaybackState::Stopped, last.at_ms),
            (None, None) => return None,
        };
        Some(NowPlaying {
            schema: SCHEMA_VERSION,
            title: pick.title.clone(),
            artist: pick.artist.clone(),
            track: pick.track.clone(),
            mood: pick.mood,
            state,
            timestamp_ms: since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::{Emotion, Track};

    fn pick(id: i64, at_ms: u64) -> PickRecord {
        PickRecord {
            room: String::new(),
            id,
            device: "box".into(),
            mood: Emotion::Happy,
            query: "q".into(),
            variant: String::new(),
            genre: String::new(),
            artist_arm: String::new(),
            track: Track::Youtube {
                video_id: format!("vid{id:08}"),
            },
            title: format!("T{id}"),
            artist: "A".into(),
            at_ms,
            reason: String::new(),
        }
    }

    #[test]
    fn a_pick_plays_pauses_resumes_and_is_shown_as_stopped_after_it() {
        let mut p = Playback::new();
        assert_eq!((p.player(), p.now_playing()), (Player::Idle, None));
        assert!(!p.pause(1), "nothing to pause");
        p.report("no pick");
        assert!(p.started(pick(1, 5), 7, 10).is_none());
        assert_eq!(p.problem(), None, "a start clears the problem");
        assert!(p.pause(20));
        assert!(!p.pause(21), "already paused");
        let shown = p.now_playing().expect("shown");
        assert_eq!(
            (shown.state, shown.timestamp_ms),
            (PlaybackState::Paused, 20)
        );
        assert_eq!(p.player(), Player::Paused);
        assert!(p.resume(30));
        assert_eq!(p.player(), Player::Playing);
        let replaced = p.started(pick(2, 40), 8, 41).expect("replaced the first");
        assert_eq!((replaced.pick.id, replaced.play_id), (1, 7));
        assert_eq!(p.played_out().map(|c| c.pick.id), Some(2));
        let shown = p.now_playing().expect("the last pick");
        assert_eq!(
            (shown.state, shown.title.as_str()),
            (PlaybackState::Stopped, "T2")
        );
        assert_eq!(shown.timestamp_ms, 40, "the pick's own time");
    }

    #[test]
    fn failures_in_a_row_pause_new_picks_and_a_played_pick_resets_the_count() {
        let mut p = Playback::new();
        for i in 1..MAX_FAILURES_IN_A_ROW {
            p.started(pick(i64::from(i), 0), 0, 0);
            let (ended, go_on) = p.failed("cannot play", 100);
            assert_eq!(ended.map(|c| c.pick.id), Some(i64::from(i)));
            assert!(go_on, "failure {i} moves on to the next pick");
        }
        p.started(pick(9, 0), 0, 0);
        assert!(!p.failed("cannot play", 100).1, "the third stops");
        assert!(!p.may_start(100 + RETRY_AFTER_MS - 1));
        assert!(p.may_start(100 + RETRY_AFTER_MS));
        assert_eq!(p.problem(), Some("cannot play"));

        // Two failures, a pick played out, two more: still going.
        for _ in 0..2 {
            p.started(pick(1, 0), 0, 0);
            assert!(p.failed("x", 0).1);
        }
        p.started(pick(2, 0), 0, 0);
        p.played_out();
        for _ in 0..2 {
            p.started(pick(3, 0), 0, 0);
            assert!(p.failed("x", 0).1);
        }
        p.could_not_start("no pick", 500);
        assert!(!p.may_start(500 + RETRY_AFTER_MS - 1));
    }
}
