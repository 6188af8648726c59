//! The device's MQTT session as the display and the buttons use it, on a real Mosquitto:
//! button commands go out on `…/command`, `…/now_playing` comes in (junk is skipped), and the
//! link state follows the broker.

use std::time::Duration;

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use xpressify_device::config::DeviceConfig;

use xpressify_device::mqtt::Session;
use xpressify_device::privacy::CameraSwitch;
use xpressify_device::vision::pipeline::Update;
use xpressify_protocol::{
    Command, Emotion, NowPlaying, PlaybackState, SCHEMA_VERSION, Topics, Track,
};
use xpressify_tests::{Broker, unique_name};

fn config(broker: &Broker, topics: &Topics) -> DeviceConfig {
    let mut config = DeviceConfig::default();
    config.mqtt.url = broker.url.clone();
    config.mqtt.prefix = topics.prefix().to_string();
    config.mqtt.device_id = topics.device_id().to_string();
    config.homeassistant.discovery = false;
    config
}

fn playing(title: &str) -> NowPlaying {
    NowPlaying {
        schema: SCHEMA_VERSION,
        title: title.into(),
        artist: "Test artist".into(),
        track: Track::Youtube {
            video_id: "dQw4w9WgXcQ".into(),
        },
        mood: Emotion::Happy,
        state: PlaybackState::Playing,
        timestamp_ms: 1,
    }
}

#[test]
fn commands_go_out_and_now_playing_comes_in() {
    let broker = Broker::get().expect("broker");
    let topics = Topics::new(unique_name("xp"), unique_name("dev")).expect("valid");
    let mut sub = broker.subscriber(&[topics.command()]).expect("subscriber");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = config(&broker, &topics);
        let camera = CameraSwitch::load(&config.privacy, &config.mqtt.device_id);
        let session = Session::new(&config, Arc::new(camera)).expect("session");
        let mut link = session.watch_link();
        let mut now_playing = session.watch_now_playing();
        let mut companion = session.watch_companion();
        let (tx, rx) = mpsc::channel(8);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(session.run(Some(rx), async {
            let _ = stop_rx.await;
        }));

        tokio::time::timeout(Duration::from_secs(10), link.wait_for(|up| *up))
            .await
            .expect("connected within 10 s")
            .expect("link channel open");

        // Junk first, then a valid message: the junk is skipped, the valid one arrives.
        let topic = topics.now_playing();
        // The valid one is retained, as the companion publishes it: the session subscribes
        // just after it connects, so a plain message could come before the subscription.
        let publish = |payload: Vec<u8>, retain: bool| {
            let broker = &broker;
            let topic = topic.clone();
            async move {
                tokio::task::block_in_place(|| broker.publish(&topic, &payload, retain))
                    .expect("publish")
            }
        };
        publish(b"{\"schema\":1,\"title\":".to_vec(), false).await;
        publish(playing("A long song title").encode(), true).await;
        let got = tokio::time::timeout(
            Duration::from_secs(5),
            now_playing.wait_for(|p| p.is_some()),
        )
        .await
        .expect("now_playing within 5 s")
        .expect("channel open")
        .clone();
        assert_eq!(got, Some(playing("A long song title")));

        // The companion's availability (retained, its last-will) reaches the screen's mark.
        assert!(!*companion.borrow(), "online before it was heard");
        let companion_topic = xpressify_protocol::topics::companion_availability(topics.prefix());
        tokio::task::block_in_place(|| broker.publish(&companion_topic, b"online", true))
            .expect("publish");
        tokio::time::timeout(Duration::from_secs(5), companion.wait_for(|up| *up))
            .await
            .expect("companion online within 5 s")
            .expect("channel open");
        tokio::task::block_in_place(|| broker.publish(&companion_topic, b"offline", true))
            .expect("publish");
        tokio::time::timeout(Duration::from_secs(5), companion.wait_for(|up| !*up))
            .await
            .expect("companion offline within 5 s")
            .expect("channel open");

        tx.send(Update::Command(Command::Skip)).await.expect("send");
        tx.send(Update::Command(Command::SetVolume { volume: 30 }))
            .await
            .expect("send");
        let _ = stop_tx.send(());
        task.await.expect("join").expect("session ends cleanly");
    });
    let commands: Vec<Command> = {
        sub.wait_for("set_volume", Duration::from_secs(5), |m| {
            Command::decode(&m.payload).ok() == Some(Command::SetVolume { volume: 30 })
        })
        .expect("set_volume published");
        sub.messages(Duration::from_millis(200))
            .iter()
            .filter_map(|m| Command::decode(&m.payload).ok())
            .collect()
    };
    assert_eq!(
        commands,
        vec![Command::Skip, Command::SetVolume { volume: 30 }]
    );
}
