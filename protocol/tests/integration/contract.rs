//! The wire contract: golden JSON, typed refusals for every kind of bad payload, and property
//! tests that no bytes can panic a decoder.

use proptest::prelude::*;
use xpressify_protocol::{
    Availability, Command, DecodeError, Emotion, ModelInfo, MoodEvent, NowPlaying, PlaybackState,
    Probabilities, ProbabilitiesEvent, SCHEMA_VERSION, Track,
};

fn happy() -> MoodEvent {
    MoodEvent {
        schema: SCHEMA_VERSION,
        device_id: "kitchen".into(),
        emotion: Some(Emotion::Happy),
        confidence: 0.75,
        probabilities: Probabilities::new([0.05, 0.0, 0.05, 0.75, 0.05, 0.05, 0.05])
            .expect("valid"),
        faces: 2,
        timestamp_ms: 1_764_086_400_000,
        seq: 7,
        model: ModelInfo {
            name: "xpressify-edge".into(),
            version: "1".into(),
        },
        paused: false,
    }
}

const HAPPY_JSON: &str = r#"{"schema":1,"device_id":"kitchen","emotion":"happy","confidence":0.75,"probabilities":[0.05,0.0,0.05,0.75,0.05,0.05,0.05],"faces":2,"timestamp_ms":1764086400000,"seq":7,"model":{"name":"xpressify-edge","version":"1"},"paused":false}"#;

#[test]
fn mood_event_golden_json() {
    assert_eq!(String::from_utf8_lossy(&happy().encode()), HAPPY_JSON);
    assert_eq!(MoodEvent::decode(HAPPY_JSON.as_bytes()).ok(), Some(happy()));
    // Builds before the privacy switch wrote no `paused`: still read, as not paused.
    let old = HAPPY_JSON.replace(r#","paused":false"#, "");
    assert_eq!(MoodEvent::decode(old.as_bytes()).ok(), Some(happy()));
    // Paused means no face: a paused mood with an emotion is refused.
    let contradiction = HAPPY_JSON.replace(r#""paused":false"#, r#""paused":true"#);
    assert!(MoodEvent::decode(contradiction.as_bytes()).is_err());
}

#[test]
fn command_golden_json() {
    assert_eq!(Command::Skip.encode(), br#"{"command":"skip"}"#);
    assert_eq!(
        Command::SetVolume { volume: 40 }.encode(),
        br#"{"command":"set_volume","volume":40}"#
    );
}

#[test]
fn now_playing_golden_json() {
    let np = NowPlaying {
        schema: SCHEMA_VERSION,
        title: "Song".into(),
        artist: "Band".into(),
        track: Track::Local {
            file: "a/b.ogg".into(),
        },
        mood: Emotion::Sad,
        state: PlaybackState::Playing,
        timestamp_ms: 5,
    };
    let json = r#"{"schema":1,"title":"Song","artist":"Band","source":"local","file":"a/b.ogg","mood":"sad","state":"playing","timestamp_ms":5}"#;
    assert_eq!(String::from_utf8_lossy(&np.encode()), json);
    assert_eq!(NowPlaying::decode(json.as_bytes()).ok(), Some(np));
}

/// Recognises the expected kind of refusal.
type ErrorCheck = fn(&DecodeError) -> bool;

fn mood_with(field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(HAPPY_JSON).expect("golden is JSON");
    v[field] = value;
    serde_json::to_vec(&v).expect("serialisable")
}

#[test]
fn malformed_payloads_give_typed_errors() {
    use serde_json::json;
    let cases: Vec<(Vec<u8>, ErrorCheck)> = vec![
        (b"not json".to_vec(), |e| matches!(e, DecodeError::Json(_))),
        (b"[1,2,3]".to_vec(), |e| matches!(e, DecodeError::Json(_))),
        (
            mood_with("emotion", json!("contempt")),
            |e| matches!(e, DecodeError::UnknownEmotion(n) if n == "contempt"),
        ),
        (mood_with("schema", json!(2)), |e| {
            matches!(
                e,
                DecodeError::SchemaVersion {
                    found: 2,
                    expected: 1
                }
            )
        }),
        (mood_with("probabilities", json!([0.5, 0.5])), |e| {
            matches!(e, DecodeError::Probabilities(_))
        }),
        (
            mood_with("probabilities", json!([1.5, 0, 0, 0, 0, 0, 0])),
            |e| matches!(e, DecodeError::Probabilities(_)),
        ),
        (
            mood_with("probabilities", json!(["x", 0, 0, 1, 0, 0, 0])),
            |e| matches!(e, DecodeError::Probabilities(_)),
        ),
        (
            mood_with("probabilities", json!([0.1, 0, 0, 0.2, 0, 0, 0])),
            |e| matches!(e, DecodeError::Probabilities(_)),
        ),
        (mood_with("confidence", json!(3.0)), |e| {
            matches!(
                e,
                DecodeError::OutOfRange {
                    field: "confidence",
                    ..
                }
            )
        }),
        (mood_with("device_id", json!("a/b")), |e| {
            matches!(
                e,
                DecodeError::OutOfRange {
                    field: "device_id",
                    ..
                }
            )
        }),
        (mood_with("extra", json!(1)), |e| {
            matches!(e, DecodeError::Json(_))
        }),
    ];
    for (payload, expected) in cases {
        let err = MoodEvent::decode(&payload).expect_err("must be refused");
        assert!(
            expected(&err),
            "{} gave {err:?}",
            String::from_utf8_lossy(&payload)
        );
    }
    assert!(matches!(
        Command::decode(br#"{"command":"set_volume","volume":101}"#),
        Err(DecodeError::OutOfRange {
            field: "volume",
            ..
        })
    ));
    assert!(matches!(
        Command::decode(br#"{"command":"explode"}"#),
        Err(DecodeError::Json(_))
    ));
    let bad_np = br#"{"schema":1,"title":"t","artist":"a","source":"youtube","video_id":"x","mood":"meh","state":"playing","timestamp_ms":1}"#;
    assert!(matches!(
        NowPlaying::decode(bad_np),
        Err(DecodeError::UnknownEmotion(_))
    ));
    let extra_np = br#"{"schema":1,"title":"t","artist":"a","source":"youtube","video_id":"x","mood":"sad","state":"playing","timestamp_ms":1,"bogus":1}"#;
    assert!(NowPlaying::decode(extra_np).is_err());
}

fn decode_all(bytes: &[u8]) {
    let _ = MoodEvent::decode(bytes);
    let _ = ProbabilitiesEvent::decode(bytes);
    let _ = Availability::decode(bytes);
    let _ = Command::decode(bytes);
    let _ = NowPlaying::decode(bytes);
}

fn arb_probabilities() -> impl Strategy<Value = [f32; 7]> {
    proptest::array::uniform7(0.0f32..1.0).prop_filter_map("non-zero", |raw| {
        let sum: f32 = raw.iter().sum();
        (sum > 0.01).then(|| raw.map(|p| p / sum))
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn mutated_golden_json_never_panics(cut in 0usize..HAPPY_JSON.len(), byte in any::<u8>()) {
        let mut bytes = HAPPY_JSON.as_bytes().to_vec();
        bytes[cut] = byte;
        decode_all(&bytes);
        decode_all(&bytes[..cut]);
    }

    #[test]
    fn valid_mood_events_round_trip(
        probs in arb_probabilities(),
        faces in 1u32..10,
        seq in any::<u64>(),
        ts in any::<u64>(),
        id in "[a-zA-Z0-9_-]{1,64}",
    ) {
        let probabilities = Probabilities::new(probs).expect("normalised");
        let (emotion, confidence) = probabilities.top().expect("non-zero");
        let event = MoodEvent {
            schema: SCHEMA_VERSION,
            device_id: id,
            emotion: Some(emotion),
            confidence,
            probabilities,
            faces,
            timestamp_ms: ts,
            seq,
            model: ModelInfo { name: "m".into(), version: "v".into() }, paused: false,
        };
        prop_assert_eq!(MoodEvent::decode(&event.encode()).ok(), Some(event));
    }
}
