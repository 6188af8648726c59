//! `metrics.listen` on the real `xpressify-device run`: `GET /metrics` reads as Prometheus text
//! with the frames the device analysed; a client that says nothing, a head that never ends and
//! junk each cost a scraper at most the listener's 2 s, and it answers on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use xpressify_protocol::Topics;
use xpressify_tests::{Broker, KillOnDrop, face_frame, free_port, launch, prometheus, unique_name};

/// Sends `request` and returns the status line and the body ("" when nothing came back).
fn http(port: u16, request: &[u8]) -> (String, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (String::new(), String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.write_all(request);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

const GET: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: box\r\n\r\n";

#[test]
fn the_device_answers_metrics_and_survives_bad_clients() {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let frames = tempfile::tempdir().expect("tempdir");
    face_frame()
        .save(frames.path().join("face.png"))
        .expect("write frame");
    let state = tempfile::tempdir().expect("tempdir");
    let port = free_port().expect("port");
    let _dev = KillOnDrop(
        launch::device_on_files(&broker.url, &topics, frames.path())
            .expect("device binary")
            .env("XPRESSIFY__CAMERA__LOOP", "true")
            .env("XPRESSIFY__METRICS__LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "XPRESSIFY__PRIVACY__STATE_FILE",
                state.path().join("camera"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn xpressify-device"),
    );

    // The models load, frames flow, the face's mood is announced.
    let t0 = Instant::now();
    let metrics = loop {
        let (status, body) = http(port, GET);
        if status == "HTTP/1.1 200 OK" {
            let parsed = prometheus::parse(&body).unwrap_or_else(|e| panic!("{e:#}\n{body}"));
            if parsed.sum("xpressify_device_mood_changes_total", &[]) >= 1.0 {
                break parsed;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no metrics: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.sum("xpressify_device_frames_total", &[]) >= 10.0);
    assert!(metrics.sum("xpressify_device_detect_seconds_count", &[]) >= 10.0);
    assert!(metrics.sum("xpressify_device_classify_seconds_count", &[]) >= 1.0);
    assert_eq!(metrics.sum("xpressify_device_camera_on", &[]), 1.0);
    assert_eq!(metrics.sum("xpressify_device_faces", &[]), 1.0);
    assert_eq!(
        metrics.types["xpressify_device_detect_seconds"],
        "histogram"
    );

    // A client that connects and says nothing holds the listener for 2 s at most.
    let silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let (status, _) = http(port, GET);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "waited {:?}",
        t.elapsed()
    );
    drop(silent);

    // A head that never ends is cut at 8 KiB; junk is refused; the listener answers on.
    let (status, _) = http(port, &vec![b'a'; 20_000]);
    assert!(status.starts_with("HTTP/1.1 431"), "{status:?}");
    let (status, _) = http(port, b"HELLO\r\n\r\n");
    assert!(status.starts_with("HTTP/1.1 400"), "{status:?}");
    let (status, _) = http(port, b"GET /secrets HTTP/1.1\r\n\r\n");
    assert!(status.starts_with("HTTP/1.1 404"), "{status:?}");
    let (status, body) = http(port, GET);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(prometheus::parse(&body).is_ok());
}
