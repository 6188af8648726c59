//! The Xpressify companion: moods from any number of devices become music.
//! See `ARCHITECTURE.md` for where each stage lives.
//!
//! The flow, one direction: MQTT mood → [`schedule`] (when) → [`recommend`] (what: the
//! [`mapping`] and learned [`taste`] build a [`mapping::Query`], the [`source`]s search) →
//! [`sink`] (where it plays) → [`store`] (history, feedback, cache) → [`http`] (the page).

pub mod bench;
pub mod calibration;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod devices;
pub mod http;
pub mod library;
pub mod mapping;
pub mod mood_writer;
pub mod mqtt_reader;
pub mod playback;
pub mod recommend;
pub mod retention;
pub mod room;
pub mod schedule;
pub mod service;
pub mod sink;
pub mod source;
pub mod status;
pub mod store;
pub mod taste;
pub mod telemetry;
pub mod watch;

/// Makes ring the process's TLS provider, which every HTTPS client here needs (reqwest is
/// built without one, so the Pi build needs no aws-lc). Calling it again does nothing.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
