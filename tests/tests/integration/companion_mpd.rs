//! MPD as the player, and `/stream` as what it plays: Debian's real `mpd` (null output,
//! software mixer) on loopback, fed the companion's stream URLs — catalogue files as they are,
//! YouTube picks through Debian's real `yt-dlp`, which fetches from a local server here
//! because this machine cannot reach YouTube.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

use serde_json::Value;
use xpressify_companion::sink::{
    MpdConfig, MpdSink, PlayItem, PlaybackSink, SinkEvent, StreamUrls,
};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch::RunningCompanion;
use xpressify_tests::music::{
    WAV, mood_json, next_event, served, tone, tone_pick, wait_until, write_catalogue,
};
use xpressify_tests::players::{FileServer, Mpd};
use xpressify_tests::{Broker, free_port};

const LOCALHOST: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

const TOKEN: &str = "mpd-test-token-0123";
const WAIT: Duration = Duration::from_secs(30);

fn pick(pick_id: i64) -> PlayItem {
    tone_pick(pick_id, &format!("Tone {pick_id}"), "")
}

fn config(mpd: &Mpd) -> MpdConfig {
    MpdConfig {
        address: mpd.address(),
        poll_s: 0.2,
        timeout_s: 5.0,
        ..MpdConfig::default()
    }
}

#[tokio::test]
async fn mpd_plays_streams_to_their_end_and_takes_commands() {
    let mpd = Mpd::start(None).expect("mpd starts (apt install mpd)");
    let web = FileServer::start(HashMap::from([
        ("/stream/1".to_string(), served(1.0)),
        ("/stream/2".to_string(), served(30.0)),
        ("/stream/3".to_string(), served(1.0)),
    ]))
    .expect("file server");
    let mut sink = MpdSink::start(config(&mpd), StreamUrls::new(&web.url, ""), 50)
        .await
        .expect("connects to mpd");
    assert_eq!(mpd.field("status", "volume").as_deref(), Some("50"));

    sink.play(&pick(1)).await.expect("play");
    assert_eq!(
        mpd.field("currentsong", "file"),
        Some(format!("{}/stream/1", web.url))
    );
    assert_eq!(
        next_event(&mut sink, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );

    sink.play(&pick(2)).await.expect("play the long one");
    wait_until("mpd to play", Duration::from_secs(10), || {
        mpd.field("status", "state").as_deref() == Some("play")
    });
    sink.pause().await.expect("pause");
    assert_eq!(mpd.field("status", "state").as_deref(), Some("pause"));
    sink.set_volume(30).await.expect("volume");
    assert_eq!(mpd.field("status", "volume").as_deref(), Some("30"));
    sink.resume().await.expect("resume");
    assert_eq!(mpd.field("status", "state").as_deref(), Some("play"));
    // Replacing a playing pick is not its end: the next end is the 1 s tone's.
    let replaced = Instant::now();
    sink.play(&pick(3)).await.expect("replace");
    assert_eq!(
        next_event(&mut sink, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended)
    );
    assert!(
        replaced.elapsed() < Duration::from_secs(10),
        "the end came {:?} after the replacement: it was the 30 s pick's",
        replaced.elapsed()
    );

    // A URL that answers 404: MPD reports an error, the sink a failure (not an endless wait).
    sink.play(&pick(4)).await.expect("addid takes any URL");
    match next_event(&mut sink, Duration::from_secs(20)).await {
        Some(SinkEvent::Failed(why)) => assert!(why.contains("MPD"), "{why}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    sink.stop().await.expect("stop");
    assert_eq!(mpd.field("status", "state").as_deref(), Some("stop"));
}

#[tokio::test]
async fn mpd_passwords_and_read_tokens_are_used_and_named() {
    let mpd = Mpd::start(Some("mpd-secret-1")).expect("mpd starts");
    let web = FileServer::start(HashMap::from([(
        "/stream/7?access_token=read%2Btoken%2F12".to_string(),
        served(1.0),
    )]))
    .expect("file server");
    let urls = StreamUrls::new(&web.url, "read+token/12");
    let wrong = MpdConfig {
        password: "wrong".into(),
        ..config(&mpd)
    };
    let err = MpdSink::start(wrong, urls.clone(), 50)
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(err.to_string().contains("mpd.password"), "{err}");
    let none = MpdSink::start(config(&mpd), urls.clone(), 50)
        .await
        .err()
        .expect("no password is refused");
    assert!(none.to_string().contains("mpd.password"), "{none}");

    let right = MpdConfig {
        password: "mpd-secret-1".into(),
        ..config(&mpd)
    };
    let mut sink = MpdSink::start(right, urls, 50)
        .await
        .expect("the right one");
    sink.play(&pick(7)).await.expect("play");
    assert_eq!(
        next_event(&mut sink, Duration::from_secs(15)).await,
        Some(SinkEvent::Ended),
        "MPD fetched the URL with its read token"
    );
    assert!(
        web.requests()
            .iter()
            .any(|r| r == "/stream/7?access_token=read%2Btoken%2F12"),
        "{:?}",
        web.requests()
    );
}

#[tokio::test]
async fn a_missing_mpd_names_the_address_key() {
    let port = free_port().expect("port");
    let config = MpdConfig {
        address: format!("127.0.0.1:{port}"),
        ..MpdConfig::default()
    };
    let err = MpdSink::start(config, StreamUrls::new("http://127.0.0.1:1", ""), 50)
        .await
        .err()
        .expect("nothing listens");
    assert!(err.to_string().contains("mpd.address"), "{err}");
}

/// `xpressify-companion run` with MPD as its player, on the test broker.
fn companion_on_mpd(
    broker: &Broker,
    fake: &FakeYoutube,
    mpd: &Mpd,
    env: &[(&str, String)],
) -> RunningCompanion {
    let mut all = vec![
        ("XPRESSIFY__PLAYER__SINK", "mpd".to_string()),
        ("XPRESSIFY__MPD__ADDRESS", mpd.address()),
        ("XPRESSIFY__MPD__POLL_S", "0.3".to_string()),
    ];
    all.extend_from_slice(env);
    RunningCompanion::start(broker, fake, LOCALHOST, TOKEN, &all).expect("the companion starts")
}

/// Waits until MPD plays the companion's stream of the pick the status names; returns the
/// pick id.
fn mpd_plays_the_pick(api: &Api, mpd: &Mpd, after: Option<i64>) -> i64 {
    let status = api
        .wait_for("a pick", "/api/status", WAIT, |s| {
            s["now_playing"]["state"] == "playing"
                && s["pick_id"].as_i64().is_some()
                && s["pick_id"].as_i64() != after
        })
        .expect("a pick plays");
    assert_eq!(status["sink"], "mpd");
    let id = status["pick_id"].as_i64().expect("pick id");
    let url = format!("{}/stream/{id}", api.base);
    wait_until("mpd to play the stream", WAIT, || {
        mpd.field("currentsong", "file").as_deref() == Some(url.as_str())
            && mpd.field("status", "state").as_deref() == Some("play")
    });
    id
}

#[test]
fn the_companion_plays_youtube_picks_on_mpd_through_yt_dlp() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let mpd = Mpd::start(None).expect("mpd starts");
    // What yt-dlp finds at the "watch page": a direct audio file, as its generic extractor
    // takes it. A 2 s tone, so the next pick follows its end.
    let watch = FileServer::start(HashMap::from([("/watch?v=*".to_string(), served(2.0))]))
        .expect("watch server");
    let companion = companion_on_mpd(
        &broker,
        &fake,
        &mpd,
        &[(
            "XPRESSIFY__STREAM__YOUTUBE_WATCH_URL",
            format!("{}/watch?v=", watch.url),
        )],
    );
    let (api, topics) = (&companion.api, &companion.topics);
    broker
        .publish(
            &topics.mood(),
            mood_json(topics.device_id(), "happy").as_bytes(),
            true,
        )
        .expect("publish mood");
    let first = mpd_plays_the_pick(api, &mpd, None);
    let history = api.get("/api/history").expect("history");
    let picked: Vec<&Value> = history["picks"].as_array().expect("picks").iter().collect();
    let video = picked
        .iter()
        .find(|p| p["id"] == first)
        .and_then(|p| p["track"]["video_id"].as_str())
        .expect("a YouTube pick")
        .to_string();
    wait_until("yt-dlp to fetch the video", WAIT, || {
        watch.requests().contains(&format!("/watch?v={video}"))
    });
    // The 2 s stream ends; the next pick follows on MPD.
    let second = mpd_plays_the_pick(api, &mpd, Some(first));
    assert_ne!(first, second);
    let status = api.get("/api/status").expect("status");
    assert!(status["problem"].is_null(), "{status}");
}

#[test]
fn without_yt_dlp_mpd_plays_the_catalogue_and_the_page_says_how_to_fix_it() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let mpd = Mpd::start(None).expect("mpd starts");
    let music = tempfile::tempdir().expect("music");
    write_catalogue(music.path(), &[("happy", 2)], 1.5);
    let companion = companion_on_mpd(
        &broker,
        &fake,
        &mpd,
        &[
            (
                "XPRESSIFY__STREAM__YT_DLP",
                "/nonexistent/yt-dlp".to_string(),
            ),
            (
                "XPRESSIFY__LOCAL__FOLDER",
                music.path().display().to_string(),
            ),
        ],
    );
    let (api, topics) = (&companion.api, &companion.topics);
    broker
        .publish(
            &topics.mood(),
            mood_json(topics.device_id(), "happy").as_bytes(),
            true,
        )
        .expect("publish mood");
    let first = mpd_plays_the_pick(api, &mpd, None);
    let status = api.get("/api/status").expect("status");
    let problem = status["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("yt-dlp") && problem.contains("apt install yt-dlp"),
        "{status}"
    );
    let second = mpd_plays_the_pick(api, &mpd, Some(first));
    let history = api.get("/api/history").expect("history");
    for p in history["picks"].as_array().expect("picks") {
        assert!(
            p["track"]["file"].is_string(),
            "only catalogue picks without yt-dlp: {p}"
        );
    }
    assert_eq!(
        fake.calls(),
        0,
        "YouTube is not searched for a player that cannot play it"
    );
    assert_ne!(first, second);
}

/// A raw HTTP/1.1 request to `127.0.0.1:port`; returns the status line's code, the head and
/// the stream, left open after the head (so the test decides whether to read the body).
fn request(
    port: u16,
    method: &str,
    path: &str,
) -> (u16, String, std::io::BufReader<std::net::TcpStream>) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = std::io::BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("head") == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_ascii_lowercase(), reader)
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(reader: &mut impl std::io::BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex size");
        if n == 0 {
            return body;
        }
        let mut chunk = vec![0u8; n + 2];
        reader.read_exact(&mut chunk).expect("chunk");
        body.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn stream_gives_a_youtube_pick_as_audio_and_bounds_yt_dlp() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    // 12 MB behind every id: a player that stops reading holds its yt-dlp open.
    let audio = tone(220.0, 750.0);
    let watch = FileServer::start(HashMap::from([(
        "/watch?v=*".to_string(),
        (WAV, audio.clone()),
    )]))
    .expect("watch server");
    let companion = RunningCompanion::start(
        &broker,
        &fake,
        LOCALHOST,
        TOKEN,
        &[
            (
                "XPRESSIFY__STREAM__YOUTUBE_WATCH_URL",
                format!("{}/watch?v=", watch.url),
            ),
            ("XPRESSIFY__STREAM__MAX_STREAMS", "1".to_string()),
        ],
    )
    .expect("the companion starts");
    let (api, topics, port) = (&companion.api, &companion.topics, companion.port);
    broker
        .publish(
            &topics.mood(),
            mood_json(topics.device_id(), "sad").as_bytes(),
            true,
        )
        .expect("publish mood");
    let status = api
        .wait_for("a pick", "/api/status", WAIT, |s| s["pick_id"].is_i64())
        .expect("a pick");
    let id = status["pick_id"].as_i64().expect("id");

    let (code, head, mut held) = request(port, "GET", &format!("/stream/{id}"));
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("content-type: audio/wav"),
        "sniffed from the bytes: {head}"
    );
    let mut size = String::new();
    held.read_line(&mut size).expect("first chunk");
    let mut first = vec![0u8; usize::from_str_radix(size.trim(), 16).expect("hex")];
    held.read_exact(&mut first).expect("chunk");
    assert_eq!(
        first[..],
        audio[..first.len()],
        "the audio as yt-dlp delivers it"
    );

    // One yt-dlp at a time (stream.max_streams = 1): a second player waits its turn, and
    // neither HEAD nor an unknown pick needs a place.
    let (code, head, _) = request(port, "GET", &format!("/stream/{id}"));
    assert_eq!(code, 503, "{head}");
    assert!(head.contains("retry-after"), "{head}");
    let (code, head, _) = request(port, "HEAD", &format!("/stream/{id}"));
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: audio/mp4"), "{head}");
    let (code, _, _) = request(port, "GET", "/stream/987654");
    assert_eq!(code, 404);

    // The player hangs up: its yt-dlp is killed and the place is free again.
    drop(held);
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, _, mut body) = request(port, "GET", &format!("/stream/{id}"));
        if code == 200 {
            assert!(dechunk(&mut body) == audio, "the whole 12 MB, unchanged");
            break;
        }
        assert_eq!(code, 503);
        assert!(Instant::now() < deadline, "the place was never given back");
        std::thread::sleep(Duration::from_millis(200));
    }
}
