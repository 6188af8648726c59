//! The playback sinks against real players: `mpv` (Debian's, with `--ao=null`) playing a
//! generated audio file, and a local server speaking Home Assistant's REST API.

use std::path::Path;
use std::time::{Duration, Instant};

use xpressify_companion::sink::{
    HomeAssistantConfig, HomeAssistantSink, MpvConfig, MpvSink, PlayItem, PlaybackSink, SinkEvent,
    YoutubeMode,
};
use xpressify_companion::source::wav;
use xpressify_protocol::Track;
use xpressify_tests::fakes::{FakeHomeAssistant, HA_TOKEN, HaPlayer};
use xpressify_tests::music::next_event;

/// Writes a mono 16-bit WAV of a 440 Hz tone.
fn write_tone(path: &Path, seconds: f32) {
    let samples = wav::tone(440.0, seconds, 8_000);
    std::fs::write(path, wav::pcm16_mono(&samples, 8_000)).expect("write wav");
}

fn local(pick_id: i64, file: &str) -> PlayItem {
    PlayItem {
        pick_id,
        track: Track::Local { file: file.into() },
        title: file.into(),
        artist: String::new(),
    }
}

#[tokio::test]
async fn mpv_plays_a_file_to_its_end_and_takes_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tone(&dir.path().join("tone.wav"), 1.0);
    write_tone(&dir.path().join("long.wav"), 30.0);
    std::fs::write(dir.path().join("broken.wav"), b"RIFF nonsense").expect("write");
    let config = MpvConfig {
        audio_output: "null".into(),
        ..MpvConfig::default()
    };
    let mut mpv = MpvSink::start(&config, Some(dir.path().to_path_buf()), 50)
        .await
        .expect("mpv starts (apt install mpv)");

    mpv.play(&local(1, "tone.wav")).await.expect("play");
    assert_eq!(
        next_event(&mut mpv, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );

    mpv.play(&local(2, "long.wav")).await.expect("play");
    mpv.pause().await.expect("pause");
    mpv.set_volume(30).await.expect("volume");
    mpv.resume().await.expect("resume");
    // Replacing a playing track is not its end.
    mpv.play(&local(3, "tone.wav")).await.expect("replace");
    assert_eq!(
        next_event(&mut mpv, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );

    mpv.play(&local(4, "broken.wav"))
        .await
        .expect("loadfile is accepted");
    match next_event(&mut mpv, Duration::from_secs(15)).await {
        Some(SinkEvent::Failed(why)) => assert!(why.contains("mpv"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    let err = mpv
        .play(&local(5, "missing.wav"))
        .await
        .expect_err("no such file");
    assert!(err.to_string().contains("missing.wav"), "{err}");
    mpv.stop().await.expect("stop");
}

#[tokio::test]
async fn a_missing_mpv_is_a_clear_error() {
    let config = MpvConfig {
        binary: "/nonexistent/mpv".into(),
        ..MpvConfig::default()
    };
    let err = MpvSink::start(&config, None, 50)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("mpv.binary"), "{err}");
}

fn ha_config(fake: &FakeHomeAssistant, token: &str) -> HomeAssistantConfig {
    HomeAssistantConfig {
        url: fake.url.clone(),
        token: token.into(),
        entity_id: "media_player.living_room_tv".into(),
        media_base_url: "http://192.168.1.20:8080".into(),
        poll_s: 0.2,
        timeout_s: 2.0,
        ..HomeAssistantConfig::default()
    }
}

#[tokio::test]
async fn home_assistant_plays_pauses_and_reports_the_end() {
    let fake = FakeHomeAssistant::start("media_player.living_room_tv", Duration::from_millis(1500))
        .expect("fake");
    let config = ha_config(&fake, HA_TOKEN);
    config.validate().expect("valid");
    let mut ha = HomeAssistantSink::new(config).expect("sink");
    let video = PlayItem {
        pick_id: 1,
        track: Track::Youtube {
            video_id: "dQw4w9WgXcQ".into(),
        },
        title: "t".into(),
        artist: "a".into(),
    };
    ha.play(&video).await.expect("play");
    ha.set_volume(40).await.expect("volume");
    assert_eq!(
        next_event(&mut ha, Duration::from_secs(10)).await,
        Some(SinkEvent::Ended)
    );
    ha.play(&local(2, "calm/rain.ogg"))
        .await
        .expect("play a file");
    ha.pause().await.expect("pause");
    ha.resume().await.expect("resume");
    ha.stop().await.expect("stop");
    let calls = fake.calls();
    let services: Vec<&str> = calls.iter().map(|c| c.service.as_str()).collect();
    assert_eq!(
        services,
        [
            "play_media",
            "volume_set",
            "play_media",
            "media_pause",
            "media_play",
            "media_stop"
        ]
    );
    // Home Assistant's Cast integration: `cast`, and the app request as a JSON string.
    assert_eq!(
        calls[0].data,
        serde_json::json!({
            "entity_id": "media_player.living_room_tv",
            "media_content_type": "cast",
            "media_content_id": calls[0].data["media_content_id"],
        })
    );
    let app: serde_json::Value = serde_json::from_str(
        calls[0].data["media_content_id"]
            .as_str()
            .expect("a string"),
    )
    .expect("JSON, as the Cast integration parses it");
    assert_eq!(
        app,
        serde_json::json!({"app_name": "youtube", "media_id": "dQw4w9WgXcQ"})
    );
    assert_eq!(calls[1].data["volume_level"], 0.4);
    assert_eq!(
        calls[2].data["media_content_id"],
        "http://192.168.1.20:8080/media/calm/rain.ogg"
    );
}

fn video(pick_id: i64) -> PlayItem {
    PlayItem {
        pick_id,
        track: Track::Youtube {
            video_id: "dQw4w9WgXcQ".into(),
        },
        title: "t".into(),
        artist: "a".into(),
    }
}

#[tokio::test]
async fn home_assistant_streams_youtube_to_players_without_cast() {
    let fake = FakeHomeAssistant::start_with(
        "media_player.living_room_tv",
        HaPlayer::Renderer,
        Duration::from_millis(800),
    )
    .expect("fake");
    let config = HomeAssistantConfig {
        youtube: YoutubeMode::Stream,
        ..ha_config(&fake, HA_TOKEN)
    };
    let mut ha = HomeAssistantSink::new(config)
        .expect("sink")
        .with_media_token("read-token-1234");
    ha.play(&video(5)).await.expect("play");
    assert_eq!(
        next_event(&mut ha, Duration::from_secs(10)).await,
        Some(SinkEvent::Ended)
    );
    assert_eq!(
        fake.calls()[0].data,
        serde_json::json!({
            "entity_id": "media_player.living_room_tv",
            "media_content_type": "music",
            "media_content_id": "http://192.168.1.20:8080/stream/5?access_token=read-token-1234",
        })
    );
}

#[tokio::test]
async fn home_assistant_reports_a_player_that_never_starts() {
    // A renderer without Google Cast: Home Assistant answers 200 to the cast request, and the
    // player stays idle.
    let fake = FakeHomeAssistant::start_with(
        "media_player.living_room_tv",
        HaPlayer::Renderer,
        Duration::from_secs(1),
    )
    .expect("fake");
    let config = HomeAssistantConfig {
        start_timeout_s: 1.0,
        ..ha_config(&fake, HA_TOKEN)
    };
    let mut ha = HomeAssistantSink::new(config).expect("sink");
    let asked = Instant::now();
    ha.play(&video(6)).await.expect("HA takes the call");
    match next_event(&mut ha, Duration::from_secs(10)).await {
        Some(SinkEvent::Failed(why)) => {
            assert!(why.contains("did not start playing"), "{why}");
            assert!(
                why.contains("home_assistant.youtube"),
                "the fix is named: {why}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn home_assistant_names_a_refused_token() {
    let fake = FakeHomeAssistant::start("media_player.living_room_tv", Duration::from_secs(1))
        .expect("fake");
    let mut ha = HomeAssistantSink::new(ha_config(&fake, "wrong")).expect("sink");
    let err = ha.play(&local(1, "a.ogg")).await.expect_err("401");
    assert!(err.to_string().contains("home_assistant.token"), "{err}");
    assert!(fake.calls().is_empty());
}
