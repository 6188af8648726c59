//! The split install end to end, every part a real process: `xpressify-device` reads a face
//! from files through the shipped models → Mosquitto → `xpressify-companion` searches the
//! fake YouTube → the web player plays the pick. Then the faults of the link between them: the
//! broker killed and restarted under both, and the device killed.

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use xpressify_protocol::topics::companion_availability;
use xpressify_protocol::{Availability, MoodEvent, NowPlaying, Topics, Track};
use xpressify_tests::api::Api;
use xpressify_tests::fakes::{FakeYoutube, video_id};
use xpressify_tests::{Broker, KillOnDrop, Subscriber, face_frame, free_port, launch, unique_name};

const TOKEN: &str = "end-to-end-token-0123";

/// How long each step may take.
const WAIT: Duration = Duration::from_secs(30);

/// The device's keep-alive: the broker declares it gone 1.5 × this after it dies.
const KEEP_ALIVE_S: u64 = 5;

/// A device, a companion and what the test watches them with.
struct Chain {
    topics: Topics,
    device: KillOnDrop,
    companion: KillOnDrop,
    api: Api,
    fake: FakeYoutube,
    _dir: tempfile::TempDir,
}

impl Chain {
    /// Starts the device on one looping FER2013 face and the companion, both on `broker`.
    fn start(broker: &Broker) -> Chain {
        let dir = tempfile::tempdir().expect("tempdir");
        let frames = dir.path().join("frames");
        std::fs::create_dir(&frames).expect("mkdir");
        face_frame()
            .save(frames.join("face.png"))
            .expect("write frame");
        let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("topics");
        let fake = FakeYoutube::start().expect("fake youtube");
        let port = free_port().expect("port");
        let companion = launch::companion(
            &broker.url,
            topics.prefix(),
            &dir.path().join("companion.sqlite"),
            port,
            TOKEN,
            &fake,
        )
        .expect("companion binary")
        .env("XPRESSIFY__MQTT__KEEP_ALIVE_S", KEEP_ALIVE_S.to_string())
        .spawn()
        .expect("spawn companion");
        let device = launch::device_on_files(&broker.url, &topics, &frames)
            .expect("device binary")
            .env("XPRESSIFY__CAMERA__LOOP", "true")
            .env("XPRESSIFY__CAMERA__FPS", "5")
            .env("XPRESSIFY__MQTT__KEEP_ALIVE_S", KEEP_ALIVE_S.to_string())
            .spawn()
            .expect("spawn device");
        Chain {
            topics,
            device: KillOnDrop(device),
            companion: KillOnDrop(companion),
            api: Api::new(port, Some(TOKEN)).expect("client"),
            fake,
            _dir: dir,
        }
    }

    fn subscriber(&self, broker: &Broker) -> Subscriber {
        broker
            .subscriber(&[
                self.topics.mood(),
                self.topics.availability(),
                self.topics.now_playing(),
                companion_availability(self.topics.prefix()),
            ])
            .expect("subscriber")
    }

    /// This device as the companion's status shows it.
    fn device_view<'a>(&self, status: &'a Value) -> Option<&'a Value> {
        status["devices"]
            .as_array()?
            .iter()
            .find(|d| d["id"] == self.topics.device_id())
    }

    /// Waits for the device's mood on `sub` and returns its emotion.
    fn mood(&self, sub: &mut Subscriber) -> String {
        let m = sub
            .wait_for("the device's mood", WAIT, |m| {
                m.topic == self.topics.mood()
                    && MoodEvent::decode(&m.payload).is_ok_and(|e| e.emotion.is_some())
            })
            .expect("mood");
        let event = MoodEvent::decode(&m.payload).expect("valid mood");
        event.emotion.expect("a face").as_str().to_string()
    }

    /// Waits until the companion plays a YouTube pick for `emotion` that the fake found, and
    /// returns its status then.
    fn playing(&self, emotion: &str) -> Value {
        let status = self
            .api
            .wait_for("a pick for the mood", "/api/status", WAIT, |s| {
                s["now_playing"]["state"] == "playing" && s["now_playing"]["mood"] == emotion
            })
            .expect("playing");
        let id = status["now_playing"]["video_id"]
            .as_str()
            .expect("a YouTube pick")
            .to_string();
        let from_fake = self.fake.requests().iter().any(|r| {
            let q = r.get("q").map(String::as_str).unwrap_or_default();
            (0..50).any(|i| video_id(q, i) == id)
        });
        assert!(from_fake, "{id} is not one of the fake's answers");
        // The web player, the sink, has it.
        let player = self.api.get("/api/player").expect("player");
        assert_eq!(player["state"], "playing", "{player}");
        assert_eq!(player["item"]["pick_id"], status["pick_id"], "{player}");
        assert_eq!(player["item"]["track"]["video_id"], id.as_str(), "{player}");
        status
    }
}

fn is_availability(m: &xpressify_tests::Message, topic: &str, a: Availability) -> bool {
    m.topic == topic && Availability::decode(&m.payload).ok() == Some(a)
}

fn alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

#[test]
fn a_face_on_the_camera_becomes_music_from_youtube() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let chain = Chain::start(&broker);
    let mut sub = chain.subscriber(&broker);

    let emotion = chain.mood(&mut sub);
    let status = chain
        .api
        .wait_for(
            "the companion to follow the device",
            "/api/status",
            WAIT,
            |s| s["mood"] == emotion.as_str() && s["mood_device"] == chain.topics.device_id(),
        )
        .expect("status");
    let view = chain.device_view(&status).expect("the device is listed");
    assert_eq!(view["online"], true);
    let playing = chain.playing(&emotion);

    // The pick goes out on MQTT, retained, for the device's display.
    let np = sub
        .wait_for("now_playing", WAIT, |m| {
            m.topic == chain.topics.now_playing()
        })
        .expect("now_playing");
    let np = NowPlaying::decode(&np.payload).expect("valid now_playing");
    assert_eq!(np.mood.as_str(), emotion);
    assert!(
        matches!(&np.track, Track::Youtube { video_id } if playing["now_playing"]["video_id"] == video_id.as_str()),
        "{np:?} vs {playing}"
    );
    // The search was built from the mood: the fake got the mapping's phrase for it.
    let mapping = chain.api.get("/api/mapping").expect("mapping");
    let phrases = mapping["emotions"][&emotion]["match"]
        .as_array()
        .expect("phrases")
        .clone();
    assert!(
        chain.fake.requests().iter().any(|r| phrases
            .iter()
            .any(|p| r.get("q").map(String::as_str) == p.as_str())),
        "searched {:?}, mapping has {phrases:?}",
        chain.fake.requests()
    );
    let history = chain.api.get("/api/history?limit=5").expect("history");
    assert!(
        history["moods"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["emotion"] == emotion.as_str())),
        "{history}"
    );
}

#[test]
fn both_sides_survive_a_broker_restart_and_the_device_dying() {
    xpressify_companion::install_tls();
    // A broker of this test's own: it is killed.
    let mut broker = Broker::start().expect("broker");
    let mut chain = Chain::start(&broker);
    let mut sub = chain.subscriber(&broker);
    let emotion = chain.mood(&mut sub);
    let before = chain.playing(&emotion);

    // The broker dies (no persistence: every retained message is gone with it).
    broker.kill();
    drop(sub);
    chain
        .api
        .wait_for("the companion to notice", "/api/status", WAIT, |s| {
            s["broker_connected"] == false
        })
        .expect("disconnected");
    // The music goes on meanwhile, and both processes keep running.
    let during = chain.api.get("/api/player").expect("player");
    assert_eq!(during["state"], "playing");
    assert_eq!(during["item"]["pick_id"], before["pick_id"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        alive(&mut chain.device.0),
        "the device died with the broker"
    );
    assert!(
        alive(&mut chain.companion.0),
        "the companion died with the broker"
    );

    // Back up, empty: both reconnect and put back what a newcomer must see, retained.
    broker.restart().expect("restart");
    let reconnect_limit = Duration::from_secs(45);
    chain
        .api
        .wait_for(
            "the companion to reconnect",
            "/api/status",
            reconnect_limit,
            |s| {
                s["broker_connected"] == true
                    && chain
                        .device_view(s)
                        .is_some_and(|d| d["online"] == true && d["emotion"] == emotion.as_str())
            },
        )
        .expect("reconnected");
    let deadline = Instant::now() + reconnect_limit;
    let retained = loop {
        let mut late = chain.subscriber(&broker);
        let seen = late.messages(Duration::from_millis(500)).to_vec();
        let has = |topic: &str| seen.iter().any(|m| m.retain && m.topic == topic);
        if (has(&chain.topics.mood())
            && has(&chain.topics.availability())
            && has(&chain.topics.now_playing())
            && has(&companion_availability(chain.topics.prefix())))
            || Instant::now() > deadline
        {
            break seen;
        }
    };
    let find = |topic: &str| {
        retained
            .iter()
            .find(|m| m.retain && m.topic == topic)
            .unwrap_or_else(|| panic!("nothing retained on {topic} after the restart"))
    };
    let mood = MoodEvent::decode(&find(&chain.topics.mood()).payload).expect("mood");
    assert_eq!(
        mood.emotion.map(|e| e.as_str().to_string()),
        Some(emotion.clone())
    );
    for topic in [
        chain.topics.availability(),
        companion_availability(chain.topics.prefix()),
    ] {
        assert!(
            is_availability(find(&topic), &topic, Availability::Online),
            "{topic}"
        );
    }
    let np = NowPlaying::decode(&find(&chain.topics.now_playing()).payload).expect("np");
    assert_eq!(np.mood.as_str(), emotion);

    // The device dies without a word: the last-will it registered again with the restarted
    // broker says offline within 1.5 keep-alives, and the companion goes on without it.
    let mut sub = chain.subscriber(&broker);
    chain.device.0.kill().expect("kill -9");
    let _ = chain.device.0.wait();
    let killed = Instant::now();
    sub.wait_for(
        "the last-will",
        Duration::from_secs(KEEP_ALIVE_S * 3 / 2 + 3),
        |m| is_availability(m, &chain.topics.availability(), Availability::Offline),
    )
    .expect("offline by last-will");
    let took = killed.elapsed();
    chain
        .api
        .wait_for(
            "the companion to see it offline",
            "/api/status",
            WAIT,
            |s| chain.device_view(s).is_some_and(|d| d["online"] == false),
        )
        .expect("offline in the companion");
    assert!(
        alive(&mut chain.companion.0),
        "the companion went with the device"
    );
    let status = chain.api.get("/api/status").expect("status");
    assert_eq!(status["broker_connected"], true, "{status}");
    assert!(
        !sub.messages(Duration::from_millis(300))
            .iter()
            .any(|m| is_availability(
                m,
                &companion_availability(chain.topics.prefix()),
                Availability::Offline
            )),
        "the companion said offline"
    );
    eprintln!("last-will after {took:?} (keep-alive {KEEP_ALIVE_S} s)");
}
