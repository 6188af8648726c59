//! The Xpressify companion: moods from any number of devices become music.
//! See `ARCHITECTURE.md` for where each stage lives.

pub mod config;
pub mod watch;
