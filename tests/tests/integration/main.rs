//! The cross-process tests, one binary (as ripgrep has it): each module runs the real
//! binaries against real peers (Mosquitto, mpv, Chromium, SQLite) or local servers that speak
//! YouTube's and Home Assistant's documented protocols, on loopback. `scripts/test.sh` starts
//! the one Mosquitto they share; each test uses a topic prefix of its own.

mod companion_calibration;
mod companion_day;
mod companion_dlna;
mod companion_home_assistant;
mod companion_library;
mod companion_mpd;
mod companion_page;
mod companion_rooms;
mod companion_service;
mod companion_sinks;
mod companion_watch;
mod companion_youtube;
mod config_errors;
mod device_calibration;
mod device_classify;
mod device_metrics;
mod device_mqtt;
mod device_mqtt_security;
mod device_pipeline;
mod device_privacy;
mod device_render;
mod device_session;
mod end_to_end;
mod faults;
mod lan_attacks;
mod licences;
mod load;
mod one_box;
