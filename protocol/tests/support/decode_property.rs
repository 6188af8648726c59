// What must hold for any payload on any topic: decoding never panics, and whatever decodes
// encodes to a payload that decodes to the same value (so a relay never changes a message).
// Shared by the `protocol_decode` fuzz target and the regression test beside this folder.

use xpressify_protocol::{
    Availability, Command, MoodEvent, NowPlaying, ProbabilitiesEvent, topics,
};

/// Checks the property for `payload`; panics (as the fuzzer wants) where it fails.
pub fn check(payload: &[u8]) {
    if let Ok(m) = MoodEvent::decode(payload) {
        assert_eq!(
            MoodEvent::decode(&m.encode()).ok().as_ref(),
            Some(&m),
            "mood round trip"
        );
    }
    if let Ok(p) = ProbabilitiesEvent::decode(payload) {
        assert_eq!(
            ProbabilitiesEvent::decode(&p.encode()).ok().as_ref(),
            Some(&p),
            "probabilities round trip"
        );
    }
    if let Ok(n) = NowPlaying::decode(payload) {
        assert_eq!(
            NowPlaying::decode(&n.encode()).ok().as_ref(),
            Some(&n),
            "now_playing round trip"
        );
    }
    if let Ok(c) = Command::decode(payload) {
        assert_eq!(
            Command::decode(&c.encode()).ok(),
            Some(c),
            "command round trip"
        );
    }
    if let Ok(a) = Availability::decode(payload) {
        assert_eq!(
            Availability::decode(&a.encode()).ok(),
            Some(a),
            "availability round trip"
        );
    }
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
