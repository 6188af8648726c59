//! The box's push buttons and status LED: software debouncing of raw pin levels, what each
//! button means, and the GPIO thread (through `rppal`) that reads them. The debouncing is
//! pure logic fed with timestamped samples, so it is tested on synthetic edge sequences; the
//! GPIO side only reads pins and feeds it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};
use xpressify_protocol::{Command, NowPlaying, PlaybackState};

use crate::privacy::CameraSwitch;
use crate::vision::pipeline::Update;

/// How often the pins are read.
const POLL: Duration = Duration::from_millis(5);

/// `[buttons]` in the device config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ButtonsConfig {
    /// Read the buttons (a Raspberry Pi with buttons wired to GPIO).
    pub enabled: bool,
    /// BCM pin of each fitted button: `play_pause`, `skip`, `like`, `dislike`.
    pub pins: BTreeMap<String, u8>,
    /// Buttons connect the pin to ground, with the internal pull-up on (else: to 3.3 V, with
    /// the pull-down on).
    pub pull_up: bool,
    /// How long a level must hold to count, in milliseconds.
    #[serde(deserialize_with = "xpressify_protocol::duration::millis_u64")]
    pub debounce_ms: u64,
    /// Holding play/pause this long (milliseconds) turns the privacy switch instead.
    #[serde(deserialize_with = "xpressify_protocol::duration::millis_u64")]
    pub long_press_ms: u64,
    /// BCM pin of a status LED, lit while the camera delivers frames and the broker is
    /// connected; 0 for none.
    pub led_pin: u8,
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            enabled: false,
            pins: [
                ("play_pause", 5),
                ("skip", 6),
                ("like", 13),
                ("dislike", 19),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            pull_up: true,
            debounce_ms: 30,
            long_press_ms: 1500,
            led_pin: 0,
        }
    }
}

impl ButtonsConfig {
    /// The fitted buttons, checked: the error names the bad role.
    pub fn roles(&self) -> Result<Vec<(ButtonRole, u8)>, String> {
        self.pins
            .iter()
            .map(|(name, &pin)| Ok((name.parse::<ButtonRole>()?, pin)))
            .collect()
    }
}

/// What a button is for. Play/pause toggles, so it turns into `play` or `pause` depending on
/// what the companion says is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonRole {
    /// Start or pause the music.
    PlayPause,
    /// Next pick (also negative feedback).
    Skip,
    /// The pick suits the mood.
    Like,
    /// The pick does not suit the mood.
    Dislike,
}

impl std::str::FromStr for ButtonRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "play_pause" => Ok(ButtonRole::PlayPause),
            "skip" => Ok(ButtonRole::Skip),
            "like" => Ok(ButtonRole::Like),
            "dislike" => Ok(ButtonRole::Dislike),
            other => Err(format!(
                "unknown button {other:?}: use play_pause, skip, like or dislike"
            )),
        }
    }
}

impl ButtonRole {
    /// The command a press sends; `playing` is whether music plays now.
    pub fn command(self, playing: bool) -> Command {
        match self {
            ButtonRole::PlayPause if playing => Command::Pause,
            ButtonRole::PlayPause => Command::Play,
            ButtonRole::Skip => Command::Skip,
            ButtonRole::Like => Command::Like,
            ButtonRole::Dislike => Command::Dislike,
        }
    }
}

/// A press of a button that means two things: short (counted on release) or long (counted
/// as soon as it has been held long enough, so the listener feels when to let go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// Pressed and released before the long-press time.
    Short,
    /// Held for the long-press time.
    Long,
}

/// Tells short presses from long ones on a debounced level.
#[derive(Debug, Clone)]
pub struct PressLength {
    long: Duration,
    down_since: Option<Duration>,
    fired_long: bool,
}

impl PressLength {
    /// A press held for `long` or more is long.
    pub fn new(long: Duration) -> Self {
        PressLength {
            long,
            down_since: None,
            fired_long: false,
        }
    }

    /// Feeds the debounced level at `at`; returns a press when one is complete.
    pub fn sample(&mut self, at: Duration, pressed: bool) -> Option<Press> {
        match (pressed, self.down_since) {
            (true, None) => {
                self.down_since = Some(at);
                self.fired_long = false;
                None
            }
            (true, Some(since)) if !self.fired_long && at.saturating_sub(since) >= self.long => {
                self.fired_long = true;
                Some(Press::Long)
            }
            (false, Some(_)) => {
                self.down_since = None;
                (!self.fired_long).then_some(Press::Short)
            }
            _ => None,
        }
    }
}

/// Turns a bouncing contact into clean presses: a new level counts only after it has held
/// for the debounce time, and a press is reported once, on the released → pressed change.
#[derive(Debug, Clone)]
pub struct Debouncer {
    hold: Duration,
    stable: bool,
    candidate: bool,
    candidate_since: Duration,
}

impl Debouncer {
    /// A debouncer that needs `hold` of a steady level (20–50 ms suits tactile switches);
    /// it starts released.
    pub fn new(hold: Duration) -> Self {
        Debouncer {
            hold,
            stable: false,
            candidate: false,
            candidate_since: Duration::ZERO,
        }
    }

    /// Feeds one sample: `pressed` is the logical level (after pull-up inversion) at time
    /// `at` since any fixed start. Returns true exactly when a press is confirmed.
    pub fn sample(&mut self, at: Duration, pressed: bool) -> bool {
        if pressed != self.candidate {
            self.candidate = pressed;
            self.candidate_since = at;
            return false;
        }
        if self.candidate != self.stable && at.saturating_sub(self.candidate_since) >= self.hold {
            self.stable = self.candidate;
            return self.stable;
        }
        false
    }

    /// The confirmed level.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }
}

/// Reads the buttons until `stop` is set, sending a command per press to the MQTT session
/// (a long press on play/pause turns `camera`, the privacy switch, instead), and keeps the LED
/// lit while `healthy` (camera on and delivering, broker connected). Fails at once (with the
/// reason) where there is no Raspberry Pi GPIO.
pub fn run(
    config: &ButtonsConfig,
    camera: &CameraSwitch,
    commands: &mpsc::Sender<Update>,
    healthy: &dyn Fn() -> bool,
    now_playing: &watch::Receiver<Option<NowPlaying>>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let roles = config
        .roles()
        .map_err(|e| anyhow::anyhow!("buttons.pins: {e}"))?;
    let gpio = rppal::gpio::Gpio::new().context("buttons: no Raspberry Pi GPIO here")?;
    let mut inputs = Vec::new();
    for (role, pin) in roles {
        let p = gpio
            .get(pin)
            .with_context(|| format!("buttons.pins: pin {pin} ({role:?})"))?;
        let p = if config.pull_up {
            p.into_input_pullup()
        } else {
            p.into_input_pulldown()
        };
        inputs.push((
            role,
            p,
            Debouncer::new(Duration::from_millis(config.debounce_ms)),
        ));
    }
    let mut led = match config.led_pin {
        0 => None,
        pin => Some(
            gpio.get(pin)
                .with_context(|| format!("buttons.led_pin: pin {pin}"))?
                .into_output_low(),
        ),
    };
    info!(buttons = inputs.len(), led = led.is_some(), "buttons ready");
    let start = Instant::now();
    let mut play_pause = PressLength::new(Duration::from_millis(config.long_press_ms));
    while !stop.load(Ordering::Relaxed) {
        let now = start.elapsed();
        for (role, pin, debouncer) in &mut inputs {
            let pressed = if config.pull_up {
                pin.is_low()
            } else {
                pin.is_high()
            };
            let down = debouncer.sample(now, pressed);
            let press = match role {
                ButtonRole::PlayPause => play_pause.sample(now, debouncer.is_pressed()),
                _ => down.then_some(Press::Short),
            };
            match press {
                Some(Press::Long) => {
                    camera.toggle("long press on play/pause");
                }
                Some(Press::Short) => {
                    let playing = now_playing
                        .borrow()
                        .as_ref()
                        .is_some_and(|p| p.state == PlaybackState::Playing);
                    let command = role.command(playing);
                    if commands.blocking_send(Update::Command(command)).is_err() {
                        return Ok(());
                    }
                }
                None => {}
            }
        }
        if let Some(led) = led.as_mut() {
            if healthy() {
                led.set_high();
            } else {
                led.set_low();
            }
        }
        std::thread::sleep(POLL);
    }
    if let Some(led) = led.as_mut() {
        led.set_low();
    }
    Ok(())
}

/// Logs why buttons are unavailable; the box works without them.
pub fn report_unavailable(error: &anyhow::Error) {
    warn!(error = %format!("{error:#}"), "buttons unavailable; running without them");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(ms, level)` samples every millisecond between the given change points and
    /// returns the times of the reported presses.
    fn presses(changes: &[(u64, bool)], until_ms: u64) -> Vec<u64> {
        let mut d = Debouncer::new(Duration::from_millis(20));
        let mut level = false;
        let mut out = Vec::new();
        let mut next = changes.iter().peekable();
        for ms in 0..until_ms {
            while let Some(&&(t, l)) = next.peek() {
                if t > ms {
                    break;
                }
                level = l;
                next.next();
            }
            if d.sample(Duration::from_millis(ms), level) {
                out.push(ms);
            }
        }
        out
    }

    /// Feeds a level held from `down_ms` to `up_ms`, sampled every 5 ms.
    fn press_kinds(down_ms: u64, up_ms: u64) -> Vec<(u64, Press)> {
        let mut p = PressLength::new(Duration::from_millis(1500));
        (0..4000)
            .step_by(5)
            .filter_map(|ms| {
                p.sample(Duration::from_millis(ms), (down_ms..up_ms).contains(&ms))
                    .map(|press| (ms, press))
            })
            .collect()
    }

    #[test]
    fn a_long_press_fires_once_while_held_and_not_again_on_release() {
        assert_eq!(press_kinds(100, 400), [(400, Press::Short)]);
        assert_eq!(press_kinds(100, 3000), [(1600, Press::Long)]);
        assert_eq!(press_kinds(100, 1595), [(1595, Press::Short)]);
    }

    #[test]
    fn a_clean_press_is_reported_once_after_the_hold() {
        assert_eq!(presses(&[(100, true), (300, false)], 500), vec![120]);
    }

    #[test]
    fn contact_bounce_gives_one_press() {
        let bouncy = [
            (100, true),
            (102, false),
            (104, true),
            (105, false),
            (108, true),
            (400, false),
            (401, true),
            (403, false),
        ];
        assert_eq!(presses(&bouncy, 600), vec![128]);
    }

    #[test]
    fn spikes_shorter_than_the_hold_are_ignored() {
        let noise = [(100, true), (110, false), (200, true), (219, false)];
        assert!(presses(&noise, 400).is_empty());
    }

    #[test]
    fn two_real_presses_are_two() {
        let two = [(100, true), (200, false), (300, true), (400, false)];
        assert_eq!(presses(&two, 500), vec![120, 320]);
    }

    #[test]
    fn roles_are_checked_by_name() {
        let mut config = ButtonsConfig::default();
        assert_eq!(config.roles().map(|r| r.len()), Ok(4));
        config.pins.insert("volume".into(), 7);
        assert!(config.roles().is_err_and(|e| e.contains("volume")));
    }

    #[test]
    fn without_gpio_the_buttons_say_why() {
        if std::path::Path::new("/dev/gpiomem").exists() {
            return; // a real Pi: nothing to check here
        }
        let (tx, _rx) = mpsc::channel(1);
        let healthy = || true;
        let (_n, np) = watch::channel(None);
        let stop = Arc::new(AtomicBool::new(false));
        let config = ButtonsConfig {
            enabled: true,
            ..ButtonsConfig::default()
        };
        let camera = CameraSwitch::load(&crate::privacy::PrivacyConfig::default(), "a");
        let err = run(&config, &camera, &tx, &healthy, &np, &stop).expect_err("no GPIO here");
        assert!(format!("{err:#}").contains("GPIO"), "{err:#}");
    }

    #[test]
    fn play_pause_follows_the_player() {
        assert_eq!(ButtonRole::PlayPause.command(true), Command::Pause);
        assert_eq!(ButtonRole::PlayPause.command(false), Command::Play);
        assert_eq!(ButtonRole::Dislike.command(true), Command::Dislike);
    }
}
