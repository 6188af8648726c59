//! `xpressify demo`: the whole box on a machine with no camera, no broker and no YouTube key.
//! The demo camera's drawn face goes through the real detector, classifier and mood tracker,
//! the embedded broker carries the moods, and the companion picks from a synthesised local
//! catalogue and serves the web page. Only the settings that make that possible are changed;
//! everything else comes from the configuration as for `xpressify run`.

pub mod music;

use std::path::Path;
use xpressify_protocol::Secret;

use anyhow::Context;

use crate::config::BoxConfig;

/// What the demo changes, from the command line.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the web page is served.
    pub http: String,
    /// Seconds the face holds each expression.
    pub hold_s: f32,
}

/// Turns `config` into the demo's: demo camera, own broker on a free loopback port, a local
/// catalogue and store in `workdir`, music starting and changing quickly, the screen drawn
/// into `workdir/screen.png`. Returns the catalogue's track count.
pub fn prepare(
    config: &mut BoxConfig,
    workdir: &Path,
    options: &DemoOptions,
) -> anyhow::Result<usize> {
    config.broker.enabled = true;
    config.broker.listen = format!("127.0.0.1:{}", free_loopback_port()?);
    config.broker.username.clear();
    config.broker.password = Secret::default();
    config.connect_to_own_broker()?;

    let device = &mut config.device;
    device.camera.source = xpressify_device::config::CameraSourceKind::Demo;
    device.camera.fps = 8.0;
    device.camera.demo_hold_s = options.hold_s;
    device.display.output = xpressify_device::display::thread::DisplayOutput::Png;
    device.display.panel = xpressify_device::display::Panel::St7789Wide;
    device.display.png_path = workdir.join("screen.png");
    device.buttons.enabled = false;

    let companion = &mut config.companion;
    let music = workdir.join("music");
    let tracks = music::write_catalogue(&music)?;
    // The synthesised pieces as the listener's own music: catalogue.toml places them by
    // hand, and the library's scan measures them too ("Your music" on the page).
    companion.library.folder = music.display().to_string();
    companion.local.folder = String::new();
    companion.music.prefer_local = true;
    companion.music.start_after_s = 2.0;
    companion.music.switch_after_s = f64::from(options.hold_s).min(companion.music.switch_after_s);
    companion.youtube.api_key = Secret::default();
    companion.player.sink = xpressify_companion::config::SinkKind::Web;
    companion.store.path = workdir.join("demo.sqlite").display().to_string();
    companion.http.listen = options.http.clone();
    config.validate()?;
    Ok(tracks)
}

/// A loopback port nobody listens on now (the OS's choice).
fn free_loopback_port() -> anyhow::Result<u16> {
    let probe =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(probe
        .local_addr()
        .context("finding a free loopback port")?
        .port())
}
