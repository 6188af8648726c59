//! The Xpressify device: camera → face → emotion → mood, shown on a display and published
//! over MQTT. See `ARCHITECTURE.md` for where each stage lives.

pub mod analyze;
pub mod bench;
pub mod buttons;
pub mod camera;
pub mod classify;
pub mod config;
pub mod daemon;
pub mod demo_face;
pub mod display;
pub mod face;
pub mod fer2013;
pub mod models;
pub mod mood;
pub mod mqtt;
pub mod panels;
pub mod pipeline;
pub mod pixels;
pub mod screen;
pub mod source;
