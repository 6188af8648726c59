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
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch::RunningCompanion;
use xpressify_tests::music::{mood_json, next_event, served, tone_pick, write_catalogue};
use xpressify_tests::players::{FileServer, Renderer};
use xpressify_tests::{Broker, binary};

const TOKEN: &str = "dlna-test-token-0123";
const WAIT: Duration = Duration::from_secs(30);

fn pick(pick_id: i64) -> PlayItem {
    tone_pick(pick_id, &format!("Tone & {pick_id}"), "<Xpressify>")
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
            ("/stream/1".to_string(), served(1.0)),
            ("/stream/2".to_string(), served(30.0)),
            ("/stream/3".to_string(), served(1.0)),
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
        next_event(&mut sink, Duration::from_secs(15)).await,
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
        next_event(&mut sink, Duration::from_secs(15)).await,
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
        Ok(()) => match next_event(&mut sink, Duration::from_secs(20)).await {
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

#[test]
fn the_companion_plays_its_catalogue_on_a_renderer() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let renderer = Renderer::start("Hall speaker").expect("gmediarender starts");
    let music = tempfile::tempdir().expect("music");
    write_catalogue(music.path(), &[("sad", 2)], 1.5);
    let companion = RunningCompanion::start(
        &broker,
        &fake,
        IpAddr::V4(renderer.host_ip),
        TOKEN,
        &[
            ("XPRESSIFY__YOUTUBE__API_KEY", String::new()),
            (
                "XPRESSIFY__LOCAL__FOLDER",
                music.path().display().to_string(),
            ),
            ("XPRESSIFY__PLAYER__SINK", "dlna".to_string()),
            ("XPRESSIFY__DLNA__RENDERER", renderer.name.clone()),
            ("XPRESSIFY__DLNA__SSDP_TARGET", renderer.ssdp_target()),
            ("XPRESSIFY__DLNA__SEARCH_S", "2".to_string()),
            ("XPRESSIFY__DLNA__POLL_S", "0.3".to_string()),
        ],
    )
    .expect("the companion starts");
    let (api, topics, public) = (&companion.api, &companion.topics, &companion.url);
    broker
        .publish(
            &topics.mood(),
            mood_json(topics.device_id(), "sad").as_bytes(),
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
