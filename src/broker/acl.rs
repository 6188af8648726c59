//! Who may publish and read which topics on the embedded broker: the same rules as
//! config/mosquitto-acl.conf for a split install, so a device speaks only for itself and only
//! the companion and controllers (Home Assistant) steer the music.
//!
//! | role         | may publish                                                   | may read                                             |
//! |--------------|---------------------------------------------------------------|------------------------------------------------------|
//! | the box      | everything                                                    | everything                                           |
//! | `device`     | `P/U/{mood,probabilities,availability,command,event,camera,diagnostics}`, its own discovery `D/+/xpressify_U/+/config` | `P/U/now_playing`, `P/U/camera/set`, `P/U/calibration`, `P/companion/availability`, `D/status`, its own discovery |
//! | `companion`  | `P/+/now_playing`, `P/+/calibration`, `P/companion/#`, its rooms' discovery `D/+/xpressify_music_+/+/config` | `P/#`, `D/status` |
//! | `controller` | `P/+/command`, `P/+/camera/set`, `P/companion/+/command`, `D/#` | `P/#`, `D/#`                                         |
//!
//! (`P`: the MQTT prefix, `D`: Home Assistant's discovery prefix, `U`: the account's user name,
//! which for a device is its `mqtt.device_id`.)

use serde::{Deserialize, Serialize};

/// What an account of the embedded broker may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A camera box elsewhere in the house; its user name is its `mqtt.device_id`.
    Device,
    /// A companion on another machine.
    Companion,
    /// Home Assistant or another controller: reads everything, sends commands.
    Controller,
}

/// Who a connection logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The box's own login (`broker.username`): no limits.
    Box,
    /// An account of `broker.accounts`.
    Account {
        /// Its user name.
        user: String,
        /// Its role.
        role: Role,
    },
}

/// The topics' prefixes the rules are written against.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The MQTT prefix (`mqtt.prefix`, `xpressify` by default).
    pub prefix: String,
    /// Home Assistant's discovery prefix (`homeassistant` by default).
    pub discovery: String,
}

/// The device channels a device publishes on.
const DEVICE_WRITES: [&str; 7] = [
    "mood",
    "probabilities",
    "availability",
    "command",
    "event",
    "camera",
    "diagnostics",
];

impl Rules {
    /// The topic after `prefix/`, if it is under it.
    fn under<'a>(topic: &'a str, prefix: &str) -> Option<&'a str> {
        topic.strip_prefix(prefix)?.strip_prefix('/')
    }

    /// `U/channel` of a topic under the MQTT prefix.
    fn device_topic<'a>(&self, topic: &'a str) -> Option<(&'a str, &'a str)> {
        Self::under(topic, &self.prefix)?.split_once('/')
    }

    /// Whether `topic` is one of `user`'s own discovery topics (`D/<component>/xpressify_U/<object>/config`).
    fn own_discovery(&self, topic: &str, user: &str) -> bool {
        let Some(rest) = Self::under(topic, &self.discovery) else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        matches!(parts.as_slice(), [_, node, _, "config"] if node.strip_prefix("xpressify_") == Some(user))
    }

    /// Whether `topic` is a discovery topic of one of the companion's rooms
    /// (`D/<component>/xpressify_music_<room>/<object>/config`).
    fn rooms_discovery(&self, topic: &str) -> bool {
        let Some(rest) = Self::under(topic, &self.discovery) else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        matches!(parts.as_slice(), [_, node, _, "config"] if node.starts_with("xpressify_music_"))
    }

    /// Whether `who` may publish on `topic` (wildcards are never allowed in a published topic).
    pub fn may_publish(&self, who: &Who, topic: &str) -> bool {
        if topic.contains(['+', '#']) {
            return false;
        }
        let Who::Account { user, role } = who else {
            return true;
        };
        let device = self.device_topic(topic);
        match role {
            Role::Device => {
                matches!(device, Some((u, channel)) if u == user && DEVICE_WRITES.contains(&channel))
                    || self.own_discovery(topic, user)
            }
            Role::Companion => {
                matches!(
                    device,
                    Some((u, "now_playing" | "calibration")) if !u.contains('/')
                ) || matches!(device, Some(("companion", _)))
                    || self.rooms_discovery(topic)
            }
            Role::Controller => {
                matches!(device, Some((u, "command" | "camera/set")) if !u.contains('/'))
                    || xpressify_protocol::topics::parse_room(&self.prefix, topic)
                        .is_some_and(|(_, c)| c == xpressify_protocol::topics::RoomChannel::Command)
                    || Self::under(topic, &self.discovery).is_some()
            }
        }
    }

    /// Whether `who` may read a message on `topic` (checked for each message delivered, as
    /// Mosquitto does, so any subscription may be made and only what is allowed arrives).
    pub fn may_read(&self, who: &Who, topic: &str) -> bool {
        let Who::Account { user, role } = who else {
            return true;
        };
        match role {
            Role::Device => {
                matches!(self.device_topic(topic), Some((u, "now_playing" | "camera/set" | "calibration")) if u == user)
                    || matches!(
                        self.device_topic(topic),
                        Some(("companion", "availability"))
                    )
                    || Self::under(topic, &self.discovery) == Some("status")
                    || self.own_discovery(topic, user)
            }
            Role::Companion => {
                Self::under(topic, &self.prefix).is_some()
                    || Self::under(topic, &self.discovery) == Some("status")
            }
            Role::Controller => {
                Self::under(topic, &self.prefix).is_some()
                    || Self::under(topic, &self.discovery).is_some()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            prefix: "xpressify".into(),
            discovery: "homeassistant".into(),
        }
    }

    fn account(user: &str, role: Role) -> Who {
        Who::Account {
            user: user.into(),
            role,
        }
    }

    #[test]
    fn a_device_speaks_only_for_itself() {
        let r = rules();
        let kitchen = account("kitchen", Role::Device);
        for topic in [
            "xpressify/kitchen/mood",
            "xpressify/kitchen/probabilities",
            "xpressify/kitchen/availability",
            "xpressify/kitchen/command",
            "xpressify/kitchen/event",
            "xpressify/kitchen/camera",
            "xpressify/kitchen/diagnostics",
            "homeassistant/sensor/xpressify_kitchen/emotion/config",
        ] {
            assert!(r.may_publish(&kitchen, topic), "{topic}");
        }
        for topic in [
            "xpressify/bedroom/mood",
            "xpressify/bedroom/command",
            "xpressify/kitchen/now_playing",
            "xpressify/companion/availability",
            "xpressify/kitchen/mood/x",
            "xpressify/kitchen/camera/set",
            "xpressify/bedroom/camera",
            "xpressify/+/mood",
            "homeassistant/sensor/xpressify_bedroom/emotion/config",
            "homeassistant/status",
            "other/kitchen/mood",
            "xpressifyx/kitchen/mood",
        ] {
            assert!(!r.may_publish(&kitchen, topic), "{topic}");
        }
        assert!(r.may_read(&kitchen, "xpressify/kitchen/now_playing"));
        assert!(r.may_read(&kitchen, "xpressify/companion/availability"));
        assert!(r.may_read(&kitchen, "homeassistant/status"));
        assert!(r.may_read(&kitchen, "xpressify/kitchen/camera/set"));
        assert!(r.may_read(&kitchen, "xpressify/kitchen/calibration"));
        assert!(!r.may_read(&kitchen, "xpressify/bedroom/calibration"));
        assert!(!r.may_publish(&kitchen, "xpressify/kitchen/calibration"));
        assert!(!r.may_read(&kitchen, "xpressify/bedroom/camera/set"));
        assert!(!r.may_read(&kitchen, "xpressify/bedroom/mood"));
        assert!(!r.may_read(&kitchen, "xpressify/bedroom/now_playing"));
    }

    #[test]
    fn only_the_companion_and_controllers_steer() {
        let r = rules();
        let companion = account("music", Role::Companion);
        let ha = account("homeassistant", Role::Controller);
        assert!(r.may_publish(&companion, "xpressify/kitchen/now_playing"));
        assert!(r.may_publish(&companion, "xpressify/kitchen/calibration"));
        assert!(!r.may_publish(&ha, "xpressify/kitchen/calibration"));
        assert!(r.may_publish(&companion, "xpressify/companion/availability"));
        assert!(r.may_publish(&companion, "xpressify/companion/living-room/state"));
        assert!(r.may_publish(
            &companion,
            "homeassistant/number/xpressify_music_living-room/volume/config"
        ));
        assert!(!r.may_publish(
            &companion,
            "homeassistant/sensor/xpressify_kitchen/emotion/config"
        ));
        assert!(r.may_read(&companion, "homeassistant/status"));
        assert!(r.may_publish(&ha, "xpressify/companion/living-room/command"));
        assert!(!r.may_publish(&ha, "xpressify/companion/living-room/state"));
        assert!(!r.may_publish(&companion, "xpressify/kitchen/command"));
        assert!(!r.may_publish(&companion, "xpressify/kitchen/mood"));
        assert!(r.may_read(&companion, "xpressify/kitchen/mood"));
        assert!(r.may_publish(&ha, "xpressify/kitchen/command"));
        assert!(r.may_publish(&ha, "homeassistant/status"));
        assert!(r.may_publish(&ha, "xpressify/kitchen/camera/set"));
        assert!(!r.may_publish(&ha, "xpressify/kitchen/camera"));
        assert!(!r.may_publish(&companion, "xpressify/kitchen/camera/set"));
        assert!(!r.may_publish(&ha, "xpressify/kitchen/mood"));
        assert!(!r.may_publish(&ha, "xpressify/kitchen/now_playing"));
        assert!(r.may_read(&ha, "xpressify/kitchen/mood"));
        assert!(!r.may_read(&ha, "elsewhere/x"));
        assert!(r.may_publish(&Who::Box, "anything/at/all"));
        assert!(!r.may_publish(&Who::Box, "a/#"));
    }
}
