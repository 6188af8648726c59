//! The MQTT contract between the Xpressify device, the companion and home automation.
//!
//! Everything that crosses the broker is defined here and nowhere else: topic names
//! ([`Topics`]), payloads ([`MoodEvent`], [`ProbabilitiesEvent`], [`Availability`],
//! [`Command`], [`NowPlaying`], [`MoodChange`], [`CameraState`], [`Diagnostics`], [`Calibration`]), Home Assistant discovery ([`discovery`]) and the shared
//! configuration convention ([`config`]). Apart from the `client` feature (connection
//! options, which reads TLS files), the crate does no I/O, so both sides and the tests
//! link the same definitions, and a decoder can be fed any bytes: it returns a
//! [`DecodeError`], never panics. `docs/mqtt.md` describes the same contract for people.

mod availability;
mod broker_url;
pub mod calibration;
mod camera;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "client")]
pub mod client;
pub mod command;
pub mod config;
pub mod diagnostics;
pub mod discovery;
pub mod duration;
mod emotion;
mod error;
pub mod event;
pub mod golden;
mod mood;
mod now_playing;
mod probabilities;
mod room_state;
mod schema;
pub mod secret;
#[cfg(feature = "telemetry")]
pub mod telemetry;
pub mod topics;

pub use availability::Availability;
pub use broker_url::{BrokerUrl, mask_credentials};
pub use calibration::Calibration;
pub use camera::CameraState;
pub use command::Command;
pub use diagnostics::{CameraStatus, Diagnostics};
pub use emotion::Emotion;
pub use error::DecodeError;
pub use event::MoodChange;
pub use mood::{ModelInfo, MoodEvent, ProbabilitiesEvent};
pub use now_playing::{NowPlaying, PlaybackState, Track};
pub use probabilities::{Probabilities, SUM_TOLERANCE};
pub use room_state::{ChosenMood, RoomState, RoomTrack};
pub use schema::SCHEMA_VERSION;
pub use secret::Secret;
pub use topics::{Channel, Topics};

/// Serialises a payload. Our payload types hold only strings, numbers and enums, so this
/// cannot fail; an empty vector would be refused by every decoder if it ever did.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
