//! The privacy switch: `ON` / `OFF` on `…/camera` (the device's state, retained) and on
//! `…/camera/set` (a request to the device). While `OFF` the device closes its camera and reads
//! no frames; the words are Home Assistant's switch defaults, so its discovery needs no
//! templates.

use std::fmt;

use crate::DecodeError;

/// Whether the camera may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraState {
    /// The camera is open and the mood is read.
    On,
    /// The camera is closed: no frames, no mood, until it is turned on again.
    Off,
}

impl CameraState {
    /// The wire text: `ON` or `OFF`.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::On => "ON",
            CameraState::Off => "OFF",
        }
    }

    /// The payload bytes.
    pub fn encode(self) -> Vec<u8> {
        self.as_str().as_bytes().to_vec()
    }

    /// `On` for `true`.
    pub fn from_on(on: bool) -> Self {
        if on {
            CameraState::On
        } else {
            CameraState::Off
        }
    }

    /// Whether this is `On`.
    pub fn is_on(self) -> bool {
        self == CameraState::On
    }

    /// Parses `ON` / `OFF` (surrounding whitespace allowed, nothing else).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        crate::error::decode_word(
            payload,
            &[("ON", CameraState::On), ("OFF", CameraState::Off)],
            "`ON` or `OFF`",
        )
    }
}

impl fmt::Display for CameraState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_words() {
        for s in [CameraState::On, CameraState::Off] {
            assert_eq!(CameraState::decode(&s.encode()).ok(), Some(s));
        }
        for bad in [&b"on"[..], b"1", b"", b"OFFF", &[0xff]] {
            assert!(CameraState::decode(bad).is_err(), "{bad:?}");
        }
    }
}
