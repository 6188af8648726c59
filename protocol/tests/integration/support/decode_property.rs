// What must hold for any payload on any topic: decoding never panics, and whatever decodes
// encodes to a payload that decodes to the same value (so a relay never changes a message).
// Shared by the `protocol_decode` fuzz target and the regression test beside this folder.

use xpressify_protocol::{
    Availability, Calibration, CameraState, Command, Diagnostics, MoodChange, MoodEvent,
    NowPlaying, ProbabilitiesEvent, RoomState, topics,
};

/// Where `payload` decodes as a `T`, its encoding must decode to the same `T`.
fn round_trip<T: PartialEq + std::fmt::Debug, E>(
    what: &str,
    payload: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, E>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    if let Ok(value) = decode(payload) {
        assert_eq!(
            decode(&encode(&value)).ok().as_ref(),
            Some(&value),
            "{what} round trip"
        );
    }
}

/// Checks the property for `payload`; panics (as the fuzzer wants) where it fails.
pub fn check(payload: &[u8]) {
    round_trip("mood", payload, MoodEvent::decode, MoodEvent::encode);
    round_trip(
        "probabilities",
        payload,
        ProbabilitiesEvent::decode,
        ProbabilitiesEvent::encode,
    );
    round_trip(
        "now_playing",
        payload,
        NowPlaying::decode,
        NowPlaying::encode,
    );
    round_trip("command", payload, Command::decode, Command::encode);
    round_trip("availability", payload, Availability::decode, |a| {
        a.encode()
    });
    round_trip("event", payload, MoodChange::decode, MoodChange::encode);
    round_trip("camera", payload, CameraState::decode, |c| c.encode());
    round_trip(
        "diagnostics",
        payload,
        Diagnostics::decode,
        Diagnostics::encode,
    );
    round_trip("room_state", payload, RoomState::decode, RoomState::encode);
    round_trip(
        "calibration",
        payload,
        Calibration::decode,
        Calibration::encode,
    );
    // The same bytes as a topic name.
    if let Some((device, channel)) = std::str::from_utf8(payload)
        .ok()
        .and_then(|topic| topics::parse("xpressify", topic))
    {
        let rebuilt = xpressify_protocol::Topics::new("xpressify", device)
            .expect("a parsed device id is valid")
            .topic(channel);
        assert_eq!(rebuilt.as_bytes(), payload, "topic round trip");
    }
}
