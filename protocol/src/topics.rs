//! Topic names: `<prefix>/<device_id>/<channel>`, built and parsed in one place.

use std::fmt;

use crate::DecodeError;

/// The default first level of every Xpressify topic.
pub const DEFAULT_PREFIX: &str = "xpressify";

/// Longest device id accepted; ids end up in topics, entity ids and file names.
pub const MAX_DEVICE_ID_LEN: usize = 64;

/// The per-device channels of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// [`crate::MoodEvent`], retained, on change.
    Mood,
    /// [`crate::ProbabilitiesEvent`], not retained, at a fixed rate.
    Probabilities,
    /// [`crate::Availability`], retained, also the last-will.
    Availability,
    /// [`crate::Command`], not retained, to the companion.
    Command,
    /// [`crate::NowPlaying`], retained, from the companion.
    NowPlaying,
    /// [`crate::MoodChange`], not retained, once per announced change (Home Assistant's
    /// `event` entity; a reconnect must not fire it again, so it is never retained).
    Event,
    /// [`crate::CameraState`], retained: whether the device's camera is on (the privacy
    /// switch's state).
    Camera,
    /// [`crate::CameraState`], not retained: a request to turn the camera on or off, from
    /// Home Assistant's switch, the companion's page or a script.
    CameraSet,
    /// [`crate::Diagnostics`], retained, every half minute: frame rate, inference times,
    /// temperature, uptime.
    Diagnostics,
    /// [`crate::Calibration`], retained, from the companion: the correction of the model's
    /// output fitted from the household's corrections.
    Calibration,
}

impl Channel {
    /// Every channel, for subscribing to all of them.
    pub const ALL: [Channel; 10] = [
        Channel::Mood,
        Channel::Probabilities,
        Channel::Availability,
        Channel::Command,
        Channel::NowPlaying,
        Channel::Event,
        Channel::Camera,
        Channel::CameraSet,
        Channel::Diagnostics,
        Channel::Calibration,
    ];

    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Mood => "mood",
            Channel::Probabilities => "probabilities",
            Channel::Availability => "availability",
            Channel::Command => "command",
            Channel::NowPlaying => "now_playing",
            Channel::Event => "event",
            Channel::Camera => "camera",
            Channel::CameraSet => "camera/set",
            Channel::Diagnostics => "diagnostics",
            Channel::Calibration => "calibration",
        }
    }

    /// Whether messages on this channel are published with the retain flag, so a subscriber
    /// that connects later still learns the current state.
    pub fn retained(self) -> bool {
        matches!(
            self,
            Channel::Mood
                | Channel::Availability
                | Channel::NowPlaying
                | Channel::Camera
                | Channel::Diagnostics
                | Channel::Calibration
        )
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The topic level the companion's own topics use in place of a device id; no device may be
/// called this.
pub const COMPANION_LEVEL: &str = "companion";

/// `<prefix>/companion/availability`: `online` / `offline` (retained, the companion's
/// last-will), so a device can show that the music side is gone.
pub fn companion_availability(prefix: &str) -> String {
    format!("{prefix}/{COMPANION_LEVEL}/{}", Channel::Availability)
}

/// The channels of a room of the companion: `<prefix>/companion/<room id>/<channel>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomChannel {
    /// [`crate::RoomState`], retained: what the room plays, its volume, whether it follows
    /// moods.
    State,
    /// [`crate::Command`], not retained: steer the room (Home Assistant's buttons, volume and
    /// switch, scripts).
    Command,
}

impl RoomChannel {
    /// The last topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomChannel::State => "state",
            RoomChannel::Command => "command",
        }
    }
}

/// A room's id in topics and Home Assistant ids: its name in lowercase ASCII letters and
/// digits, other characters as `-` ("Living room" → `living-room`); empty when the name has
/// no letter or digit.
pub fn room_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-')
        .chars()
        .take(MAX_DEVICE_ID_LEN)
        .collect()
}

/// `<prefix>/companion/<room id>/<channel>`.
pub fn room(prefix: &str, room_id: &str, channel: RoomChannel) -> String {
    format!("{prefix}/{COMPANION_LEVEL}/{room_id}/{}", channel.as_str())
}

/// The filter for one channel of every room: `<prefix>/companion/+/<channel>`.
pub fn all_rooms(prefix: &str, channel: RoomChannel) -> String {
    format!("{prefix}/{COMPANION_LEVEL}/+/{}", channel.as_str())
}

/// Splits a room topic into room id and channel; `None` for anything else.
pub fn parse_room(prefix: &str, topic: &str) -> Option<(String, RoomChannel)> {
    let rest = topic
        .strip_prefix(prefix)?
        .strip_prefix('/')?
        .strip_prefix(COMPANION_LEVEL)?
        .strip_prefix('/')?;
    let (id, channel) = rest.split_once('/')?;
    let channel = [RoomChannel::State, RoomChannel::Command]
        .into_iter()
        .find(|c| c.as_str() == channel)?;
    (!id.is_empty() && room_id(id) == id).then(|| (id.to_string(), channel))
}

/// Refuses ids that would break a topic or a Home Assistant id: only ASCII letters, digits,
/// `_` and `-`, 1 to 64 characters, and not `companion` (reserved for the companion's topics).
pub fn checked_device_id(id: String) -> Result<String, DecodeError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if id == COMPANION_LEVEL {
        return Err(DecodeError::range(
            "device_id",
            format!("{id:?} is reserved for the companion's own topics"),
        ));
    }
    if id.is_empty() || id.len() > MAX_DEVICE_ID_LEN || !id.chars().all(ok_char) {
        return Err(DecodeError::range(
            "device_id",
            format!(
                "{:?}: use 1 to {MAX_DEVICE_ID_LEN} ASCII letters, digits, `_` or `-`",
                id.chars().take(80).collect::<String>()
            ),
        ));
    }
    Ok(id)
}

fn checked_prefix(prefix: String) -> Result<String, DecodeError> {
    let bad = prefix.is_empty()
        || prefix.starts_with('/')
        || prefix.ends_with('/')
        || prefix.contains(['+', '#', '\0'])
        || prefix.split('/').any(str::is_empty);
    if bad {
        return Err(DecodeError::range(
            "prefix",
            format!("{prefix:?}: use non-empty levels separated by `/`, without `+` or `#`"),
        ));
    }
    Ok(prefix)
}

/// The topics of one device under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    device_id: String,
}

impl Topics {
    /// Validates both parts; see [`checked_device_id`].
    pub fn new(
        prefix: impl Into<String>,
        device_id: impl Into<String>,
    ) -> Result<Self, DecodeError> {
        Ok(Topics {
            prefix: checked_prefix(prefix.into())?,
            device_id: checked_device_id(device_id.into())?,
        })
    }

    /// The device these topics belong to.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The first topic level(s).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>/<device_id>/<channel>`.
    pub fn topic(&self, channel: Channel) -> String {
        format!("{}/{}/{}", self.prefix, self.device_id, channel)
    }

    /// `…/mood`.
    pub fn mood(&self) -> String {
        self.topic(Channel::Mood)
    }

    /// `…/probabilities`.
    pub fn probabilities(&self) -> String {
        self.topic(Channel::Probabilities)
    }

    /// `…/availability`.
    pub fn availability(&self) -> String {
        self.topic(Channel::Availability)
    }

    /// `…/command`.
    pub fn command(&self) -> String {
        self.topic(Channel::Command)
    }

    /// `…/now_playing`.
    pub fn now_playing(&self) -> String {
        self.topic(Channel::NowPlaying)
    }

    /// `…/event`.
    pub fn event(&self) -> String {
        self.topic(Channel::Event)
    }

    /// `…/camera`.
    pub fn camera(&self) -> String {
        self.topic(Channel::Camera)
    }

    /// `…/camera/set`.
    pub fn camera_set(&self) -> String {
        self.topic(Channel::CameraSet)
    }

    /// `…/diagnostics`.
    pub fn diagnostics(&self) -> String {
        self.topic(Channel::Diagnostics)
    }

    /// `…/calibration`.
    pub fn calibration(&self) -> String {
        self.topic(Channel::Calibration)
    }
}

/// The filter that matches one channel of every device: `<prefix>/+/<channel>`.
pub fn all_devices(prefix: &str, channel: Channel) -> String {
    format!("{prefix}/+/{channel}")
}

/// Splits a received topic into device id and channel; `None` for anything that is not an
/// Xpressify topic under `prefix`.
pub fn parse(prefix: &str, topic: &str) -> Option<(String, Channel)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let (device, channel) = rest.split_once('/')?;
    let channel = Channel::ALL.into_iter().find(|c| c.as_str() == channel)?;
    checked_device_id(device.to_string())
        .ok()
        .map(|d| (d, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_every_channel() {
        let t = Topics::new("home/xp", "kitchen").expect("valid");
        assert_eq!(t.mood(), "home/xp/kitchen/mood");
        assert_eq!(t.now_playing(), "home/xp/kitchen/now_playing");
        for c in Channel::ALL {
            assert_eq!(
                parse("home/xp", &t.topic(c)),
                Some(("kitchen".to_string(), c))
            );
        }
        assert_eq!(all_devices("xpressify", Channel::Mood), "xpressify/+/mood");
        assert_eq!(parse("xpressify", "xpressify/kitchen/other"), None);
        assert_eq!(parse("xpressify", "other/kitchen/mood"), None);
        assert_eq!(parse("xpressify", "xpressify/a/b/mood"), None);
        assert_eq!(
            parse("xpressify", "xpressify/a/camera/set"),
            Some(("a".to_string(), Channel::CameraSet))
        );
        // The companion's availability is not a device's.
        assert_eq!(
            parse("xpressify", &companion_availability("xpressify")),
            None
        );
    }

    #[test]
    fn rooms_have_ids_and_topics_of_their_own() {
        assert_eq!(room_id("Living room"), "living-room");
        assert_eq!(room_id("  Küche / 2 "), "k-che-2");
        assert_eq!(room_id("!!"), "");
        let t = room("xpressify", "living-room", RoomChannel::Command);
        assert_eq!(t, "xpressify/companion/living-room/command");
        assert_eq!(
            parse_room("xpressify", &t),
            Some(("living-room".to_string(), RoomChannel::Command))
        );
        assert_eq!(
            parse_room("xpressify", "xpressify/companion/Bad Id/command"),
            None
        );
        assert_eq!(parse_room("xpressify", "xpressify/kitchen/command"), None);
        assert_eq!(parse("xpressify", &t), None, "not a device's topic");
        assert_eq!(
            all_rooms("xpressify", RoomChannel::State),
            "xpressify/companion/+/state"
        );
    }

    #[test]
    fn refuses_ids_and_prefixes_that_break_topics() {
        for id in ["", "a/b", "a+", "#", "é", "companion", &"x".repeat(65)] {
            assert!(Topics::new("xpressify", id).is_err(), "{id:?}");
        }
        for prefix in ["", "/a", "a/", "a//b", "a/+", "#"] {
            assert!(Topics::new(prefix, "kitchen").is_err(), "{prefix:?}");
        }
    }
}
