//! `xpressify`: the whole Xpressify box in one process — the device pipeline (camera → mood),
//! the companion (mood → music, web page) and an embedded MQTT broker — for a Pi with a
//! camera and a speaker and nothing else. `xpressify demo` shows it on any machine.

mod broker;
mod config;
mod demo;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::BoxConfig;

/// The Xpressify box in one process: recognises the listener's mood from the camera and plays
/// music to it, with its own MQTT broker for Home Assistant.
///
/// Every config key can also be set by an environment variable XPRESSIFY__<SECTION>__<KEY>,
/// e.g. XPRESSIFY__DEVICE__CAMERA__SOURCE=demo; variables win over the file.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about,
    after_long_help = concat!(
        "CONFIGURATION (the commented example file, config/xpressify.toml):\n\n",
        include_str!("../config/xpressify.toml")
    )
)]
struct Cli {
    /// TOML configuration file (see config/xpressify.toml); defaults apply without one.
    #[arg(
        long,
        short,
        global = true,
        env = "XPRESSIFY_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The box: broker, camera → mood → MQTT, mood → music → speaker or web page, until
    /// Ctrl-C or SIGTERM.
    Run {
        /// Stop by itself after this long: 90 (seconds), 30s, 2m, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = xpressify_protocol::duration::parse_arg)]
        duration: Option<std::time::Duration>,
    },
    /// Everything on a machine without camera, broker or YouTube key: a drawn face acts
    /// emotions, the real pipeline reads them, music comes from a generated catalogue,
    /// and the web page shows it all. Logs every mood change and pick.
    Demo {
        /// Stop by itself after this long: 90 (seconds), 30s, 2m, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = xpressify_protocol::duration::parse_arg)]
        duration: Option<std::time::Duration>,
        /// Where to serve the web page.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
        http: String,
        /// How long the face holds each expression: 12 (seconds), 12s, 1m; 1 s to 1 h.
        #[arg(long, value_name = "DURATION", default_value = "12s", value_parser = xpressify_protocol::duration::parse_arg)]
        hold: Duration,
        /// Keep the demo's music, store and screen here instead of a temporary folder.
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
    },
    /// Print the effective configuration (file + environment + defaults) as TOML.
    PrintConfig,
}

fn main() -> ExitCode {
    xpressify_protocol::cli::exit_status("xpressify", try_main())
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // rumqttd logs every connection, and every client that goes away, as news;
    // RUST_LOG=info,rumqttd=info shows them.
    xpressify_protocol::cli::init_logging("info,rumqttd=off,symphonia=off,lofty=off");
    let mut config = BoxConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run { duration } => run_box(config, duration),
        Command::Demo {
            duration,
            http,
            hold,
            workdir,
        } => {
            anyhow::ensure!(
                (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&hold),
                "--hold {hold:?}: use 1 s to 1 h, e.g. --hold 12s"
            );
            let hold = hold.as_secs_f32();
            let temp;
            let workdir = match workdir {
                Some(dir) => dir,
                None => {
                    temp = tempfile::Builder::new()
                        .prefix("xpressify-demo-")
                        .tempdir()
                        .context("creating the demo's temporary folder")?;
                    temp.path().to_path_buf()
                }
            };
            let options = demo::DemoOptions { http, hold_s: hold };
            let tracks = demo::prepare(&mut config, &workdir, &options)?;
            let acted: Vec<String> = xpressify_device::camera::demo::face::SEQUENCE
                .iter()
                .map(ToString::to_string)
                .collect();
            eprintln!(
                "xpressify demo: a drawn face acts {} in turn ({hold} s each); {tracks} \
                 generated tracks in {}.\n\
                 Open http://{} for the live mood, the player and the history; moods and \
                 picks are logged below. Ctrl-C stops.",
                acted.join(", "),
                workdir.join("music").display(),
                config.companion.http.listen
            );
            run_box(config, duration)
        }
        Command::PrintConfig => {
            print!("{}", xpressify_protocol::config::to_toml(&config)?);
            Ok(())
        }
    }
}

/// Broker first (so both halves connect at once), then the device on its own thread and the
/// companion on this one. Ctrl-C, SIGTERM, `duration` or the device stopping (e.g. its model
/// failing to load) stops both; each says goodbye to the broker on the way out.
fn run_box(config: BoxConfig, duration: Option<Duration>) -> anyhow::Result<()> {
    if config.broker.enabled {
        let rules = broker::acl::Rules {
            prefix: config.device.mqtt.prefix.clone(),
            discovery: config.device.homeassistant.discovery_prefix.clone(),
        };
        broker::start(&config.broker, rules)?;
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (device_done_tx, device_done_rx) = tokio::sync::oneshot::channel::<()>();
    let device_config = config.device.clone();
    let device = std::thread::Builder::new()
        .name("device".into())
        .spawn(move || {
            let mut stop_rx = stop_rx;
            let result = xpressify_device::daemon::run(&device_config, async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            });
            drop(device_done_tx);
            result
        })
        .context("starting the device thread")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let stop = async move {
        tokio::select! {
            () = xpressify_protocol::cli::stop_signal(duration) => {},
            _ = device_done_rx => tracing::warn!("the device stopped; stopping the companion"),
        }
        let _ = stop_tx.send(true);
    };
    let companion = runtime.block_on(xpressify_companion::daemon::run(config.companion, stop));
    let device = device
        .join()
        .map_err(|_| anyhow::anyhow!("the device thread panicked"))?;
    device.context("device")?;
    companion.context("companion")
}
