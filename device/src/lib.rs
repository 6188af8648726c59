//! The Xpressify device: camera → face → emotion → mood, shown on a display and published
//! over MQTT. See `ARCHITECTURE.md` for where each stage lives.

pub mod bench;
pub mod buttons;
pub mod camera;
pub mod config;
pub mod daemon;
pub mod display;
pub mod health;
pub mod metrics_listener;
pub mod mqtt;
pub mod privacy;
pub mod telemetry;
pub mod vision;
