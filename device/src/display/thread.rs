//! The display thread: follows the announced mood, the broker link and what the companion
//! plays, and redraws the configured output only when the picture would change. It runs on a
//! thread of its own and only reads the latest values, so a slow panel never holds up the
//! vision loop or the MQTT session.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};
use xpressify_protocol::{MoodEvent, NowPlaying, PlaybackState};

use crate::display::panels;
use crate::display::{Panel, ScreenState, StatusMarks, scroll_period};

/// How often the thread looks for changes (and advances a scrolling title).
const TICK: Duration = Duration::from_millis(100);
/// Pixels a long title moves per tick.
const SCROLL_STEP: u32 = 2;

/// Where the screen goes (`display.output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisplayOutput {
    /// No display.
    None,
    /// Write the screen to `png_path` (headless boxes, the web page, tests).
    Png,
    /// An OLED on I2C.
    Ssd1306,
    /// A TFT on SPI.
    St7789,
    /// A desktop window (builds with the `simulator` feature).
    Window,
}

impl std::fmt::Display for DisplayOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DisplayOutput::None => "none",
            DisplayOutput::Png => "png",
            DisplayOutput::Ssd1306 => "ssd1306",
            DisplayOutput::St7789 => "st7789",
            DisplayOutput::Window => "window",
        })
    }
}

/// `[display]` in the device config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayConfig {
    /// `none`, `png`, `ssd1306`, `st7789` or `window` ([`DisplayOutput`]).
    pub output: DisplayOutput,
    /// Layout: `ssd1306` (128x64 mono), `st7789-240x240` or `st7789-320x240`.
    pub panel: Panel,
    /// For `png`: the file, rewritten atomically on every change.
    pub png_path: PathBuf,
    /// For `ssd1306`: the I2C bus number (/dev/i2c-N).
    pub i2c_bus: u8,
    /// For `ssd1306`: the panel's 7-bit address (0x3C on most boards, else 0x3D).
    pub i2c_address: u8,
    /// For `st7789` (SPI0, CE0): clock in Hz.
    pub spi_hz: u32,
    /// For `st7789`: BCM number of the data/command pin.
    pub dc_pin: u8,
    /// For `st7789`: BCM number of the reset pin.
    pub rst_pin: u8,
    /// For `st7789`: most IPS boards need inverted colours.
    pub invert_colors: bool,
}

impl Default for DisplayConfig {
    fn default() -> Self {
        DisplayConfig {
            output: DisplayOutput::None,
            panel: Panel::Ssd1306,
            png_path: PathBuf::from("/run/xpressify/screen.png"),
            i2c_bus: 1,
            i2c_address: 0x3C,
            spi_hz: 40_000_000,
            dc_pin: 25,
            rst_pin: 27,
            invert_colors: true,
        }
    }
}

impl DisplayConfig {
    /// Whether a display is configured at all.
    pub fn enabled(&self) -> bool {
        self.output != DisplayOutput::None
    }
}

/// What the display follows; each is the latest value, published by its owner.
pub struct ScreenInputs {
    /// The announced mood (from the vision loop).
    pub mood: watch::Receiver<Option<MoodEvent>>,
    /// Whether the broker is connected (from the MQTT session).
    pub link: watch::Receiver<bool>,
    /// What the companion plays (from the MQTT session).
    pub now_playing: watch::Receiver<Option<NowPlaying>>,
    /// Whether the camera delivers frames (from the vision loop).
    pub camera_ok: watch::Receiver<bool>,
    /// Whether the companion is online (from the MQTT session).
    pub companion_online: watch::Receiver<bool>,
}

/// Runs the display until `stop` is set. Returns how many times it drew.
pub fn run(
    config: &DisplayConfig,
    inputs: ScreenInputs,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let panel = config.panel;
    let mut sink = panels::open(config)?;
    info!(%panel, output = %config.output, "display ready");
    let mut last: Option<ScreenState> = None;
    let mut scroll = 0u32;
    let mut draws = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut state = screen_state(&inputs, now_ms());
        let period = state
            .now_playing
            .as_deref()
            .map_or(0, |t| scroll_period(panel, t));
        scroll = if period == 0 {
            0
        } else {
            (scroll + SCROLL_STEP) % period
        };
        state.scroll_px = scroll;
        if last.as_ref() != Some(&state) {
            match sink.show(&state) {
                Ok(()) => draws += 1,
                Err(e) => warn!(error = %format!("{e:#}"), "display: cannot write the screen"),
            }
            last = Some(state);
        }
        std::thread::sleep(TICK);
    }
    Ok(draws)
}

/// The screen for the inputs' current values at `now_ms` (Unix milliseconds).
pub fn screen_state(inputs: &ScreenInputs, now_ms: u64) -> ScreenState {
    let mood = inputs.mood.borrow();
    let now_playing = inputs
        .now_playing
        .borrow()
        .as_ref()
        .filter(|p| p.state != PlaybackState::Stopped)
        .map(|p| match p.artist.is_empty() {
            true => p.title.clone(),
            false => format!("{} - {}", p.title, p.artist),
        });
    ScreenState {
        mood: mood.as_ref().and_then(|m| m.emotion),
        confidence: mood.as_ref().map_or(0.0, |m| m.confidence),
        held: Duration::from_millis(
            mood.as_ref()
                .map_or(0, |m| now_ms.saturating_sub(m.timestamp_ms)),
        ),
        now_playing,
        scroll_px: 0,
        marks: StatusMarks {
            no_camera: !*inputs.camera_ok.borrow(),
            broker_offline: !*inputs.link.borrow(),
            companion_offline: !*inputs.companion_online.borrow(),
            camera_off: mood.as_ref().is_some_and(|m| m.paused),
        },
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::{Emotion, ModelInfo, Probabilities, SCHEMA_VERSION, Track};

    fn mood(emotion: Emotion, at_ms: u64) -> MoodEvent {
        let mut p = [0.0; Emotion::COUNT];
        p[emotion.index()] = 1.0;
        MoodEvent {
            schema: SCHEMA_VERSION,
            device_id: "box".into(),
            emotion: Some(emotion),
            confidence: 0.8,
            probabilities: Probabilities::new(p).expect("valid"),
            faces: 1,
            timestamp_ms: at_ms,
            seq: 1,
            model: ModelInfo {
                name: "m".into(),
                version: "1".into(),
            },
            paused: false,
        }
    }

    #[test]
    fn the_state_follows_its_inputs() {
        let (mood_tx, mood_rx) = watch::channel(None);
        let (link_tx, link_rx) = watch::channel(false);
        let (np_tx, np_rx) = watch::channel(None);
        let (camera_tx, camera_rx) = watch::channel(false);
        let (companion_tx, companion_rx) = watch::channel(false);
        let inputs = ScreenInputs {
            mood: mood_rx,
            link: link_rx,
            now_playing: np_rx,
            camera_ok: camera_rx,
            companion_online: companion_rx,
        };
        let s = screen_state(&inputs, 10_000);
        assert_eq!(
            (s.mood, s.marks.broker_offline, s.now_playing),
            (None, true, None)
        );
        assert!(s.marks.no_camera && s.marks.companion_offline);
        camera_tx.send_replace(true);
        companion_tx.send_replace(true);

        mood_tx.send_replace(Some(mood(Emotion::Happy, 4_000)));
        link_tx.send_replace(true);
        np_tx.send_replace(Some(NowPlaying {
            schema: SCHEMA_VERSION,
            title: "Song".into(),
            artist: "Band".into(),
            track: Track::Local {
                file: "song.ogg".into(),
            },
            mood: Emotion::Happy,
            state: PlaybackState::Playing,
            timestamp_ms: 5_000,
        }));
        let s = screen_state(&inputs, 10_000);
        assert_eq!(s.mood, Some(Emotion::Happy));
        assert_eq!(s.held, Duration::from_secs(6));
        assert_eq!(s.now_playing.as_deref(), Some("Song - Band"));
        assert!(!s.marks.broker_offline);
        assert!(!s.marks.no_camera && !s.marks.companion_offline);
        assert!(!s.marks.camera_off);

        // The privacy switch: the paused mood says so on the screen.
        mood_tx.send_replace(Some(MoodEvent {
            emotion: None,
            confidence: 0.0,
            probabilities: xpressify_protocol::Probabilities::NONE,
            faces: 0,
            paused: true,
            ..mood(Emotion::Happy, 9_000)
        }));
        let s = screen_state(&inputs, 10_000);
        assert!(s.marks.camera_off && s.mood.is_none());
    }
}
