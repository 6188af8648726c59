//! DLNA renderers as players: Debian's real `gmediarender` (GStreamer, a null sink that plays
//! in real time) in a network namespace each test makes, found by a unicast SSDP search to its
//! address and driven over UPnP AVTransport and RenderingControl — by the sink, by the
//! `players` command, and by the companion playing picks from its own `/stream`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use xpressify_companion::sink::dlna::{self, upnp};
use xpressify_companion::sink::{
    DlnaConfig, DlnaSink, PlayItem, PlaybackSink, SinkEvent, StreamUrls,
};
use xpressify_companion::source::wav;
use xpressify_protocol::{Topics, Track};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::players::{FileServer, Renderer};
use xpressify_tests::{Broker, KillOnDrop, binary, free_port, launch, unique_name};

const TOKEN: &str = "dlna-test-token-0123";
const WAIT: Duration = Duration::from_secs(30);

fn tone(seconds: f32) -> (&'static str, Vec<u8>) {
    (
        "audio/wav",
        wav::pcm16_mono(&wav::tone(440.0, seconds, 8_000), 8_000),
    )
}

fn pick(pick_id: i64) -> PlayItem {
    PlayItem {
        pick_id,
        track: Track::Local {
            file: format!("tone-{pick_id}.wav"),
        },
        title: format!("Tone & {pick_id}"),
        artist: "<Xpressify>".into(),
    }
}

async fn wait_event(sink: &mut DlnaSink, limit: Duration) -> Option<SinkEvent> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match sink.poll().await {
            Ok(Some(e)) => return Some(e),
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("poll: {e}"),
        }
    }
    None
}

/// What the renderer itself says: an AVTransport or RenderingControl action's answer.
async fn ask(
    renderer: &upnp::Renderer,
    rendering: bool,
    action: &str,
    args: &[(&str, &str)],
) -> HashMap<String, String> {
    let (kind, url) = if rendering {
        renderer
            .rendering_control
            .clone()
            .expect("RenderingControl")
    } else {
        renderer.av_transport.clone()
    };
    let body = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "text/xml; charset=\"utf-8\"")
        .header("SOAPACTION", format!("\"{kind}#{action}\""))
        .body(upnp::envelope(&kind, action, args))
        .send()
        .await
        .expect("renderer answers")
        .text()
        .await
        .expect("body");
    upnp::parse_response(action, &body).expect("an answer")
}

async fn transport_state(renderer: &upnp::Renderer) -> String {
    ask(renderer, false, "GetTransportInfo", &[("InstanceID", "0")]).await["CurrentTransportState"]
        .clone()
}

fn config(renderer: &Renderer) -> DlnaConfig {
    DlnaConfig {
        renderer: renderer.name.clone(),
        ssdp_target: renderer.ssdp_target(),
        search_s: 2.0,
        poll_s: 0.2,
        timeout_s: 5.0,
        start_timeout_s: 4.0,
    }
}

#[tokio::test]
async fn a_renderer_is_found_by_name_and_plays_pauses_and_ends() {
    xpressify_companion::install_tls();
    let renderer = Renderer::start("Kitchen speaker").expect("gmediarender starts");
    let web = FileServer::start_on(
        IpAddr::V4(renderer.host_ip),
        HashMap::from([
            ("/stream/1".to_string(), tone(1.0)),
            ("/stream/2".to_string(), tone(30.0)),
            ("/stream/3".to_string(), tone(1.0)),
        ]),
    )
    .expect("file server");

    let found = dlna::list(
        renderer.ssdp_target().parse().expect("addr"),
        Duration::from_secs(2),
        5.0,
    )
    .await
    .expect("search");
    let described: Vec<_> = found.into_iter().filter_map(Result::ok).collect();
    assert_eq!(described.len(), 1, "{described:?}");
    assert_eq!(described[0].name, "Kitchen speaker");
    assert!(described[0].rendering_control.is_some());

    let mut sink = DlnaSink::start(config(&renderer), StreamUrls::new(&web.url, ""), 40)
        .await
        .expect("found by name");
    let r = sink.renderer().clone();
    assert_eq!(
        ask(
            &r,
            true,
            "GetVolume",
            &[("InstanceID", "0"), ("Channel", "Master")]
        )
        .await["CurrentVolume"],
        "40"
    );

    sink.play(&pick(1)).await.expect("play");
    let media = ask(&r, false, "GetMediaInfo", &[("InstanceID", "0")]).await;
    assert_eq!(media["CurrentURI"], format!("{}/stream/1", web.url));
    assert!(
        media["CurrentURIMetaData"].contains("Tone &amp; 1")
            || media["CurrentURIMetaData"].contains("Tone & 1"),
        "the DIDL-Lite title arrived: {}",
        media["CurrentURIMetaData"]
    );
    assert_eq!(
        wait_event(&mut sink, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );

    sink.play(&pick(2)).await.expect("play the long one");
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.pause().await.expect("pause");
    assert_eq!(transport_state(&r).await, "PAUSED_PLAYBACK");
    sink.set_volume(25).await.expect("volume");
    assert_eq!(
        ask(
            &r,
            true,
            "GetVolume",
            &[("InstanceID", "0"), ("Channel", "Master")]
        )
        .await["CurrentVolume"],
        "25"
    );
    sink.resume().await.expect("resume");
    assert_eq!(transport_state(&r).await, "PLAYING");
    let replaced = Instant::now();
    sink.play(&pick(3)).await.expect("replace");
    assert_eq!(
        wait_event(&mut sink, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );
    assert!(
        replaced.elapsed() < Duration::from_secs(10),
        "the end came {:?} after the replacement",
        replaced.elapsed()
    );

    // A URL that answers 404: the renderer refuses it, now or when it tries.
    match sink.play(&pick(4)).await {
        Err(e) => assert!(e.to_string().contains("Kitchen speaker"), "{e}"),
        Ok(()) => match wait_event(&mut sink, Duration::from_secs(20)).await {
            Some(SinkEvent::Failed(why)) => assert!(why.contains("Kitchen speaker"), "{why}"),
            other => panic!(
                "expected a failure, got {other:?} (state {}); the renderer's log:\n{}",
                transport_state(&r).await,
                renderer
                    .log()
                    .lines()
                    .filter(|l| !l.contains("Registering"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        },
    }
    sink.stop().await.expect("stop");
}

#[tokio::test]
async fn an_unknown_renderer_name_lists_what_answered() {
    xpressify_companion::install_tls();
    let renderer = Renderer::start("Bedroom TV").expect("gmediarender starts");
    let wrong = DlnaConfig {
        renderer: "Garage".into(),
        ..config(&renderer)
    };
    let err = DlnaSink::start(wrong, StreamUrls::new("http://127.0.0.1:1", ""), 50)
        .await
        .err()
        .expect("no such renderer");
    let text = err.to_string();
    assert!(
        text.contains("dlna.renderer") && text.contains("Bedroom TV"),
        "{text}"
    );
}

#[test]
fn the_players_command_lists_the_renderer_with_its_config_line() {
    let renderer = Renderer::start("Living room TV").expect("gmediarender starts");
    let out = Command::new(binary("xpressify-companion").expect("binary"))
        .args([
            "players",
            "--target",
            &renderer.ip.to_string(),
            "--wait",
            "2s",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Living room TV"), "{stdout}");
    assert!(
        stdout.contains("[dlna] renderer = \"Living room TV\""),
        "{stdout}"
    );
    assert!(stdout.contains("volume: yes"), "{stdout}");
}

fn mood(device: &str, emotion: &str) -> String {
    format!(
        r#"{{"schema":1,"device_id":"{device}","emotion":"{emotion}","confidence":0.9,"probabilities":[0.1,0.0,0.1,0.5,0.2,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{{"name":"m","version":"1"}}}}"#
    )
}

#[test]
fn the_companion_plays_its_catalogue_on_a_renderer() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let renderer = Renderer::start("Hall speaker").expect("gmediarender starts");
    let music = tempfile::tempdir().expect("music");
    let mut catalogue = String::new();
    for i in 0..2 {
        let file = format!("tone-{i}.wav");
        std::fs::write(music.path().join(&file), tone(1.5).1).expect("write tone");
        catalogue.push_str(&format!(
            "[[track]]\nfile = \"{file}\"\ntitle = \"Tone {i}\"\nmoods = [\"sad\"]\n\n"
        ));
    }
    std::fs::write(music.path().join("catalogue.toml"), catalogue).expect("catalogue");
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("topics");
    let port = free_port().expect("port");
    let public = format!("http://{}:{port}", renderer.host_ip);
    let mut cmd = launch::companion(
        &broker.url,
        topics.prefix(),
        &dir.path().join("companion.sqlite"),
        port,
        TOKEN,
        &fake,
    )
    .expect("companion binary");
    cmd.env(
        "XPRESSIFY__HTTP__LISTEN",
        format!("{}:{port}", renderer.host_ip),
    )
    .env("XPRESSIFY__HTTP__PUBLIC_URL", &public)
    .env("XPRESSIFY__YOUTUBE__API_KEY", "")
    .env("XPRESSIFY__LOCAL__FOLDER", music.path())
    .env("XPRESSIFY__PLAYER__SINK", "dlna")
    .env("XPRESSIFY__DLNA__RENDERER", &renderer.name)
    .env("XPRESSIFY__DLNA__SSDP_TARGET", renderer.ssdp_target())
    .env("XPRESSIFY__DLNA__SEARCH_S", "2")
    .env("XPRESSIFY__DLNA__POLL_S", "0.3")
    .env("XPRESSIFY__MUSIC__SWITCH_AFTER_S", "1");
    let _companion = KillOnDrop(cmd.spawn().expect("spawn"));
    let api = Api::at(&public, Some(TOKEN)).expect("client");
    api.wait_for("the companion", "/api/status", WAIT, |s| {
        s["broker_connected"] == true
    })
    .expect("connected");
    broker
        .publish(
            &topics.mood(),
            mood(topics.device_id(), "sad").as_bytes(),
            true,
        )
        .expect("publish mood");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let described = rt
        .block_on(dlna::list(
            renderer.ssdp_target().parse().expect("addr"),
            Duration::from_secs(2),
            5.0,
        ))
        .expect("search")
        .into_iter()
        .find_map(Result::ok)
        .expect("the renderer");
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "picks seen on the renderer: {seen:?}\n{}",
            renderer.log()
        );
        let status = api.get("/api/status").expect("status");
        if let Some(id) = status["pick_id"].as_i64()
            && status["now_playing"]["state"] == "playing"
            && !seen.contains(&id)
        {
            assert_eq!(status["sink"], "dlna");
            let media = rt.block_on(ask(
                &described,
                false,
                "GetMediaInfo",
                &[("InstanceID", "0")],
            ));
            if media["CurrentURI"] == format!("{public}/stream/{id}")
                && rt.block_on(transport_state(&described)) == "PLAYING"
            {
                seen.push(id);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = api.get("/api/status").expect("status");
    assert!(status["problem"].is_null(), "{status}");
}
