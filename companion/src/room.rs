//! A room: its devices, its player, and the state that makes it follow its own moods — the
//! schedule (when the music changes), the player state (what plays) and the device whose mood
//! it follows. The service holds one per `[[rooms]]` entry (one implicit room without any) and
//! routes each device's moods and commands to the room the device is in.

use std::collections::BTreeSet;

use xpressify_protocol::{
    ChosenMood, Emotion, PlaybackState, RoomState, RoomTrack, SCHEMA_VERSION,
};

use crate::playback::Playback;
use crate::schedule::Schedule;
use crate::sink::{AnySink, PlaybackSink};
use crate::status::RoomView;

/// One room's player and state.
pub struct Room {
    /// Its name (`rooms.name`), in the page, the history and the log.
    pub name: String,
    /// Its id in topics and Home Assistant ("Living room" → `living-room`).
    pub id: String,
    /// The devices the config puts here.
    pub devices: BTreeSet<String>,
    /// Its player.
    pub sink: AnySink,
    /// When its music changes.
    pub schedule: Schedule,
    /// What it plays.
    pub playback: Playback,
    /// The device whose mood it follows now.
    pub mood_device: Option<String>,
    /// Whether its player gets YouTube picks (not when it needs yt-dlp and yt-dlp is missing).
    pub youtube: bool,
    /// A lasting condition for the page when nothing newer is wrong (e.g. yt-dlp missing).
    pub notice: Option<String>,
    /// Whether its music changes with the moods ("music follows my mood"); off, it plays on
    /// but moods change nothing.
    pub follow: bool,
    /// The volume last set, in percent (`None` until one is).
    pub volume: Option<u8>,
    /// A mood a listener chose ("play for this mood"), while it holds: the cameras' moods
    /// change nothing until it ends.
    pub chosen: Option<ChosenMood>,
}

impl Room {
    /// A room with nothing playing yet.
    pub fn new(name: String, devices: BTreeSet<String>, sink: AnySink, schedule: Schedule) -> Room {
        Room {
            id: xpressify_protocol::topics::room_id(&name),
            name,
            devices,
            sink,
            schedule,
            playback: Playback::new(),
            mood_device: None,
            youtube: true,
            notice: None,
            follow: true,
            volume: None,
            chosen: None,
        }
    }

    /// Why the current pick was made, in words.
    pub fn why(&self) -> Option<String> {
        self.playback
            .current()
            .map(|c| c.pick.reason.clone())
            .filter(|r| !r.is_empty())
    }

    /// The store's key for whether this room follows moods.
    pub fn follow_key(&self) -> String {
        format!("rooms.{}.follow", self.id)
    }

    /// The room's state for `<prefix>/companion/<id>/state` (Home Assistant's room device).
    pub fn state(&self, now_ms: u64) -> RoomState {
        let now_playing = self.playback.now_playing();
        RoomState {
            schema: SCHEMA_VERSION,
            room: self.name.clone(),
            state: now_playing
                .as_ref()
                .map_or(PlaybackState::Stopped, |n| n.state),
            playing: now_playing.map(|n| RoomTrack {
                title: n.title,
                artist: n.artist,
                track: n.track,
                mood: n.mood,
                why: self.why().unwrap_or_default(),
            }),
            volume: self.volume,
            follow: self.follow,
            mood: self.mood(),
            chosen: self.chosen,
            timestamp_ms: now_ms,
        }
    }

    /// The room's mood: the one its music follows.
    pub fn mood(&self) -> Option<Emotion> {
        self.schedule.mood()
    }

    /// The page's view of the room; `members` are the devices heard in it (listed or joined).
    pub fn view(&self, members: Vec<String>) -> RoomView {
        let now_playing = self.playback.now_playing();
        RoomView {
            name: self.name.clone(),
            devices: members,
            mood: self.mood(),
            mood_device: self.mood_device.clone(),
            state: now_playing
                .as_ref()
                .map_or(PlaybackState::Stopped, |n| n.state),
            now_playing,
            pick_id: self.playback.current().map(|c| c.pick.id),
            sink: self.sink.name().to_string(),
            problem: self
                .playback
                .problem()
                .or(self.notice.as_deref())
                .map(str::to_string),
            follow: self.follow,
            chosen: self.chosen,
            why: self.why(),
        }
    }
}
