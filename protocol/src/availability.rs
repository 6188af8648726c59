//! `online` / `offline` on `…/availability`: the device's presence, kept honest by the
//! broker's last-will when the device dies without saying goodbye.

use std::fmt;

use crate::DecodeError;

/// Whether a device is connected. Plain text on the wire, the words Home Assistant expects
/// by default (`payload_available: online`, `payload_not_available: offline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Availability {
    /// Published retained on every connect.
    Online,
    /// Published by the broker as the last-will, and by the device on a clean shutdown.
    Offline,
}

impl Availability {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Online => "online",
            Availability::Offline => "offline",
        }
    }

    /// The payload bytes.
    pub fn encode(self) -> Vec<u8> {
        self.as_str().as_bytes().to_vec()
    }

    /// Parses `online` / `offline` (surrounding whitespace allowed).
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        crate::error::decode_word(
            payload,
            &[
                ("online", Availability::Online),
                ("offline", Availability::Offline),
            ],
            "`online` or `offline`",
        )
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_words() {
        for a in [Availability::Online, Availability::Offline] {
            assert_eq!(Availability::decode(&a.encode()).ok(), Some(a));
        }
        assert!(matches!(
            Availability::decode(b"maybe"),
            Err(DecodeError::UnexpectedText { .. })
        ));
        assert!(matches!(
            Availability::decode(&[0xff, 0xfe]),
            Err(DecodeError::NotUtf8)
        ));
    }
}
