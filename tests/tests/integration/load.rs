//! Load: 50 simulated devices publish a changing mood at 10 Hz each for 60 s, at QoS 1,
//! through Mosquitto to one `xpressify-companion`. Every message is a state change, and every
//! one must reach the companion's store; the companion's CPU time and peak memory are printed
//! (docs/performance.md records them).
//!
//! Halfway through, the test holds SQLite's write lock on the companion's store for
//! [`DISK_STALL`], as a slow SD card or a busy disk would: 1,500 moods arrive meanwhile, more
//! than Mosquitto queues for one client (`max_queued_messages`, 1,000), so a companion that
//! stopped reading while its disk stalled would lose moods here.
//!
//! `XP_LOAD_SECONDS` shortens or lengthens the run (default 60).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use xpressify_companion::store::Store;
use xpressify_protocol::{Emotion, MoodEvent, Probabilities, Topics};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::{Broker, KillOnDrop, free_port, launch, unique_name};

const DEVICES: usize = 50;
const HZ: u64 = 10;
/// How long the store's disk stalls halfway through: under the store's 5 s busy timeout, so a
/// writer waits it out rather than failing.
const DISK_STALL: Duration = Duration::from_secs(3);

/// (user + system CPU seconds, peak RSS in KiB) of process `pid`, from /proc.
fn cpu_and_peak_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12] // utime, stime (fields 14 and 15, counted from the state)
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks / 100.0, hwm)
}

/// One simulated device: publishes `count` moods, each different from the one before, at
/// `HZ`, and returns how many the broker acknowledged.
fn simulate(host: String, port: u16, topics: Topics, count: u64) -> u64 {
    let mut opts = MqttOptions::new(unique_name(topics.device_id()), host, port);
    opts.set_inflight(20);
    let (client, mut connection) = Client::new(opts, 64);
    let acked = Arc::new(AtomicU64::new(0));
    let pump = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        })
    };
    let start = Instant::now();
    for seq in 0..count {
        let due = start + Duration::from_millis(seq * 1000 / HZ);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let emotion = Emotion::from_index(seq as usize % 7).expect("seven emotions");
        let mut probabilities = [0.0f32; 7];
        probabilities[emotion.index()] = 1.0;
        let event = MoodEvent {
            schema: xpressify_protocol::SCHEMA_VERSION,
            device_id: topics.device_id().to_string(),
            emotion: Some(emotion),
            confidence: 0.5 + (seq % 50) as f32 / 100.0,
            probabilities: Probabilities::new(probabilities).expect("valid probabilities"),
            faces: 1,
            timestamp_ms: seq,
            seq,
            model: xpressify_protocol::ModelInfo {
                name: "load".into(),
                version: "1".into(),
            },
            paused: false,
        };
        if client
            .publish(topics.mood(), QoS::AtLeastOnce, false, event.encode())
            .is_err()
        {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while acked.load(Ordering::Relaxed) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = client.disconnect();
    let _ = pump.join();
    acked.load(Ordering::Relaxed)
}

#[test]
fn fifty_devices_at_ten_hertz_lose_nothing() {
    xpressify_companion::install_tls();
    let seconds: u64 = std::env::var("XP_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake youtube");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("companion.sqlite");
    let prefix = unique_name("load");
    let port = free_port().expect("port");
    let companion = launch::companion(
        &broker.url,
        &prefix,
        &store,
        port,
        "load-token-0123456",
        &fake,
    )
    .expect("companion binary")
    .spawn()
    .expect("spawn companion");
    let mut companion = KillOnDrop(companion);
    let pid = companion.0.id();
    let api = Api::new(port, None).expect("client");
    api.wait_for(
        "the companion",
        "/api/status",
        Duration::from_secs(30),
        |s| s["broker_connected"] == true,
    )
    .expect("connected");
    let (cpu_before, _) = cpu_and_peak_rss(pid);

    let count = seconds * HZ;
    let started = Instant::now();
    let stall = {
        let store = store.clone();
        std::thread::spawn(move || -> rusqlite::Result<()> {
            std::thread::sleep(Duration::from_secs(seconds) / 2);
            let disk = rusqlite::Connection::open(&store)?;
            disk.execute_batch("BEGIN IMMEDIATE")?;
            std::thread::sleep(DISK_STALL);
            disk.execute_batch("ROLLBACK")
        })
    };
    let devices: Vec<_> = (0..DEVICES)
        .map(|i| {
            let topics = Topics::new(prefix.clone(), format!("load{i:02}")).expect("topics");
            let (host, port) = (broker.host.clone(), broker.port);
            std::thread::spawn(move || simulate(host, port, topics, count))
        })
        .collect();
    let acked: Vec<u64> = devices
        .into_iter()
        .map(|d| d.join().expect("device thread"))
        .collect();
    let took = started.elapsed();
    stall
        .join()
        .expect("stall thread")
        .expect("hold the store's write lock");
    for (i, n) in acked.iter().enumerate() {
        assert_eq!(
            *n, count,
            "device {i}: the broker acknowledged {n} of {count}"
        );
    }

    // Wait until the companion has stored everything (or stops making progress).
    let total = count * DEVICES as u64;
    let mut last = (0u64, Instant::now());
    let reader = Store::open(&store).expect("open the companion's store");
    let stored = loop {
        let rows = reader.mood_count().expect("count moods");
        if rows >= total || last.1.elapsed() > Duration::from_secs(15) {
            break rows;
        }
        if rows > last.0 {
            last = (rows, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (cpu_after, peak_kib) = cpu_and_peak_rss(pid);
    let cpu = cpu_after - cpu_before;
    let behind = started.elapsed().as_secs_f64() - took.as_secs_f64();
    eprintln!(
        "load: {DEVICES} devices × {HZ} Hz × {seconds} s = {total} moods in {:.1} s, the disk \
         stalled for {:.0} s halfway; companion stored {stored}, {behind:.1} s after the last; \
         CPU {cpu:.1} s ({:.0} % of one core), peak RSS {:.1} MiB",
        took.as_secs_f64(),
        DISK_STALL.as_secs_f64(),
        100.0 * cpu / took.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    let status = api.get("/api/status").expect("status");
    assert_eq!(status["broker_connected"], true, "{status}");
    assert!(
        status["refused"].as_object().is_none_or(|r| r.is_empty()),
        "{status}"
    );
    assert_eq!(stored, total, "moods lost between broker and store");
    let _ = companion.0.kill();
}
