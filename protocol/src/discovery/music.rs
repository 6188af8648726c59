//! Each room of the companion as a Home Assistant device ("Living room music"): what plays
//! (a sensor with artist, source and the mood it was picked for as attributes), the player's
//! state, play / pause / skip / like / dislike buttons, a volume `number`, a "music follows
//! my mood" switch and a "play for this mood" `select` — all on the room's `state` and `command` topics, available while the
//! companion is.

use serde_json::json;

use super::{DeviceInfo, DiscoveryMessage, Node, PAYLOAD_NONE};
use crate::topics::{self, RoomChannel};
use crate::{Command, Emotion, PlaybackState};

/// The buttons of every room.
pub const ROOM_BUTTONS: [Command; 5] = [
    Command::Play,
    Command::Pause,
    Command::Skip,
    Command::Like,
    Command::Dislike,
];

/// The select's option that hands the music back to the cameras.
pub const FOLLOW_THE_CAMERA: &str = "follow the camera";

/// A room's device name when none is configured: "Living room music"; the implicit room of a
/// companion without `[[rooms]]` ("home") is "Xpressify music".
pub fn default_name(room: &str) -> String {
    if room == "home" {
        "Xpressify music".into()
    } else {
        format!("{room} music")
    }
}

fn command_payload(command: Command) -> String {
    String::from_utf8_lossy(&command.encode()).into_owned()
}

/// All discovery messages of the room `room_name` (topics under `mqtt_prefix`).
pub fn room_messages(
    discovery_prefix: &str,
    mqtt_prefix: &str,
    room_name: &str,
    info: &DeviceInfo,
) -> Vec<DiscoveryMessage> {
    let id = topics::room_id(room_name);
    let state = topics::room(mqtt_prefix, &id, RoomChannel::State);
    let command = topics::room(mqtt_prefix, &id, RoomChannel::Command);
    let node = Node::new(
        discovery_prefix,
        format!("xpressify_music_{id}"),
        info,
        topics::companion_availability(mqtt_prefix),
    );
    let states = [
        PlaybackState::Playing,
        PlaybackState::Paused,
        PlaybackState::Stopped,
    ]
    .map(|s| match s {
        PlaybackState::Playing => "playing",
        PlaybackState::Paused => "paused",
        PlaybackState::Stopped => "stopped",
    });
    let mut messages = vec![
        node.entity(
            "sensor",
            "now_playing",
            "Now playing",
            json!({
                "state_topic": state,
                "value_template": format!(
                    "{{{{ value_json.playing.title if value_json.playing else '{PAYLOAD_NONE}' }}}}"
                ),
                "json_attributes_topic": state,
                "json_attributes_template": "{{ ({'artist': value_json.playing.artist, 'source': value_json.playing.source, 'picked_for': value_json.playing.mood, 'why': value_json.playing.why, 'state': value_json.state} if value_json.playing else {'state': value_json.state}) | tojson }}",
                "icon": "mdi:music",
            }),
        ),
        node.entity(
            "sensor",
            "playback",
            "Playback",
            json!({
                "state_topic": state,
                "device_class": "enum",
                "options": states,
                "value_template": "{{ value_json.state }}",
                "icon": "mdi:play-pause",
            }),
        ),
        node.entity(
            "number",
            "volume",
            "Volume",
            json!({
                "command_topic": command,
                "command_template": "{\"command\":\"set_volume\",\"volume\":{{ value | int }}}",
                "state_topic": state,
                "value_template": format!(
                    "{{{{ '{PAYLOAD_NONE}' if value_json.volume is none else value_json.volume }}}}"
                ),
                "min": 0,
                "max": 100,
                "step": 1,
                "mode": "slider",
                "unit_of_measurement": "%",
                "icon": "mdi:volume-high",
            }),
        ),
        node.entity(
            "switch",
            "follow",
            "Music follows my mood",
            json!({
                "command_topic": command,
                "payload_on": command_payload(Command::Follow { on: true }),
                "payload_off": command_payload(Command::Follow { on: false }),
                "state_topic": state,
                "value_template": "{{ 'ON' if value_json.follow else 'OFF' }}",
                "state_on": "ON",
                "state_off": "OFF",
                "icon": "mdi:emoticon-happy-outline",
            }),
        ),
        node.entity(
            "select",
            "play_for",
            "Play for this mood",
            json!({
                "command_topic": command,
                "command_template": format!(
                    "{{% if value == '{FOLLOW_THE_CAMERA}' %}}{{\"command\":\"set_mood\",\"mood\":null}}{{% else %}}{{\"command\":\"set_mood\",\"mood\":\"{{{{ value }}}}\"}}{{% endif %}}"
                ),
                "state_topic": state,
                "value_template": format!(
                    "{{{{ value_json.chosen.mood if value_json.chosen else '{FOLLOW_THE_CAMERA}' }}}}"
                ),
                "options": std::iter::once(FOLLOW_THE_CAMERA)
                    .chain(Emotion::ALL.iter().map(|e| e.as_str()))
                    .collect::<Vec<_>>(),
                "icon": "mdi:emoticon-cool-outline",
            }),
        ),
    ];
    messages.extend(node.buttons(&ROOM_BUTTONS, &command));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_a_device_of_its_own_available_with_the_companion() {
        let info = DeviceInfo {
            name: default_name("Living room"),
            model: "Xpressify companion".into(),
            sw_version: "0.1.0".into(),
            configuration_url: None,
        };
        let msgs = room_messages("homeassistant", "xpressify", "Living room", &info);
        assert_eq!(msgs.len(), 10);
        assert!(msgs.iter().all(|m| m.topic.starts_with("homeassistant/")
            && m.topic.contains("/xpressify_music_living-room/")));
        assert!(
            msgs.iter()
                .all(|m| m.payload["availability_topic"] == "xpressify/companion/availability")
        );
        assert_eq!(msgs[0].payload["device"]["name"], "Living room music");
        assert_eq!(default_name("home"), "Xpressify music");
    }
}
