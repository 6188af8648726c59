//! `xpressify-companion watch`: every message of every device, decoded and checked against
//! the contract, one JSON line each; junk is counted and logged, never fatal.
//!
//! It is the companion's MQTT intake on its own — what the recommender will consume — and a
//! tool for anyone wiring a device into home automation.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;
use tracing::{info, warn};
use xpressify_protocol::topics::{self, Channel};
use xpressify_protocol::{
    Availability, Calibration, CameraState, Command, DecodeError, Diagnostics, MoodChange,
    MoodEvent, NowPlaying, ProbabilitiesEvent,
};

use crate::config::CompanionConfig;

/// A decoded message as one JSON value for the output line.
fn decode(channel: Channel, payload: &[u8]) -> Result<serde_json::Value, DecodeError> {
    Ok(match channel {
        Channel::Mood => serde_json::to_value(MoodEvent::decode(payload)?)?,
        Channel::Probabilities => serde_json::to_value(ProbabilitiesEvent::decode(payload)?)?,
        Channel::Availability => json!(Availability::decode(payload)?.as_str()),
        Channel::Command => serde_json::to_value(Command::decode(payload)?)?,
        Channel::NowPlaying => serde_json::to_value(NowPlaying::decode(payload)?)?,
        Channel::Event => {
            let change = MoodChange::decode(payload)?;
            serde_json::from_slice(&change.encode())?
        }
        Channel::Camera | Channel::CameraSet => json!(CameraState::decode(payload)?.as_str()),
        Channel::Diagnostics => serde_json::to_value(Diagnostics::decode(payload)?)?,
        Channel::Calibration => serde_json::to_value(Calibration::decode(payload)?)?,
    })
}

/// Subscribes to every channel of every device and prints decoded messages until `stop`.
/// Returns the number of refused payloads per channel.
pub async fn watch(
    config: &CompanionConfig,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<BTreeMap<&'static str, u64>> {
    let broker = config.broker()?;
    let options = config.mqtt_options()?;
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let prefix = config.mqtt.prefix.clone();
    let mut junk: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut backoff = Duration::from_millis(500);
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            () = &mut stop => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!(broker = %broker, "connected; watching {prefix}/+/…");
                backoff = Duration::from_millis(500);
                for channel in Channel::ALL {
                    client
                        .subscribe(topics::all_devices(&prefix, channel), QoS::AtLeastOnce)
                        .await
                        .context("subscribing")?;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some((device, channel)) = topics::parse(&prefix, &p.topic) else {
                    continue;
                };
                match decode(channel, &p.payload) {
                    Ok(message) => {
                        let line = json!({"device": device, "channel": channel.as_str(), "retained": p.retain, "message": message});
                        writeln!(out, "{line}").context("writing to stdout")?;
                        out.flush().context("writing to stdout")?;
                    }
                    Err(e) => {
                        *junk.entry(channel.as_str()).or_default() += 1;
                        warn!(topic = %p.topic, bytes = p.payload.len(), error = %e, "refused payload");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, retry_in = ?backoff, "broker unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    let _ = client.disconnect().await;
    Ok(junk)
}
