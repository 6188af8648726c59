//! `xpressify-companion`: the music side of Xpressify.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::info;
use xpressify_companion::config::CompanionConfig;
use xpressify_protocol::cli::stop_signal;

/// The Xpressify companion: listens to the devices' moods over MQTT.
///
/// Every config key can also be set by an environment variable XPRESSIFY__<SECTION>__<KEY>,
/// e.g. XPRESSIFY__MQTT__URL=mqtt://127.0.0.1:1883; variables win over the file.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about,
    after_long_help = concat!(
        "CONFIGURATION KEYS (the commented example file, config/companion.toml):\n\n",
        include_str!("../../config/companion.toml")
    )
)]
struct Cli {
    /// TOML configuration file (see config/companion.toml); defaults apply without one.
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
    /// Run the service: follow the devices' moods, pick and play music, serve the HTTP API.
    /// Runs until Ctrl-C or SIGTERM.
    Run,
    /// Print every device's messages as JSON lines, checked against the contract; refused
    /// payloads are counted and logged. Runs until Ctrl-C.
    Watch {
        /// Stop by itself after this long: 90 (seconds), 30s, 2m, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = xpressify_protocol::duration::parse_arg)]
        duration: Option<std::time::Duration>,
    },
    /// Time mood event → pick on a cache hit, on a temporary store, and print the figures as
    /// JSON (median, p95, max in ms; cache misses; peak RSS).
    Bench {
        /// Mood events to time.
        #[arg(long, default_value_t = 1000)]
        events: usize,
        /// Also build a store with a mood a minute for this many days, and time its opening
        /// (with the start-up quick_check) and its pruning to a year (e.g. 395).
        #[arg(long, value_name = "DAYS")]
        store_days: Option<u32>,
    },
    /// Print the effective configuration (file + environment + defaults) as TOML.
    PrintConfig,
    /// List the DLNA / UPnP renderers (TVs, receivers, speakers) that answer an SSDP search,
    /// with the name to put in `dlna.renderer`.
    Players {
        /// Ask one address (IP or IP:PORT) instead of SSDP's multicast group on the LAN.
        #[arg(long, value_name = "ADDRESS")]
        target: Option<String>,
        /// How long to wait for answers: 3 (seconds), 5s.
        #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = xpressify_protocol::duration::parse_arg)]
        wait: std::time::Duration,
    },
}

fn main() -> ExitCode {
    xpressify_protocol::cli::exit_status("xpressify-companion", try_main())
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xpressify_protocol::cli::init_logging("info");
    let config = CompanionConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run => {
            runtime()?.block_on(xpressify_companion::daemon::run(config, stop_signal(None)))
        }
        Command::Watch { duration } => watch(&config, duration),
        Command::Bench { events, store_days } => {
            let report =
                runtime()?.block_on(xpressify_companion::bench::pick_latency(events.max(1)))?;
            println!("{}", serde_json::to_string(&report)?);
            if let Some(days) = store_days {
                let store = xpressify_companion::bench::store_open(days)?;
                println!("{}", serde_json::to_string(&store)?);
            }
            Ok(())
        }
        Command::PrintConfig => {
            print!("{}", xpressify_protocol::config::to_toml(&config)?);
            Ok(())
        }
        Command::Players { target, wait } => players(&config, target.as_deref(), wait),
    }
}

/// Lists the renderers that answer, one block each, with the line to put in the config.
fn players(
    config: &CompanionConfig,
    target: Option<&str>,
    wait: std::time::Duration,
) -> anyhow::Result<()> {
    use xpressify_companion::sink::dlna;
    let target: std::net::SocketAddr = match target {
        None => config
            .dlna
            .ssdp_target
            .parse()
            .context("dlna.ssdp_target is not IP:PORT")?,
        Some(t) => t
            .parse()
            .or_else(|_| format!("{t}:1900").parse())
            .with_context(|| format!("--target {t:?}: expected an IP address or IP:PORT"))?,
    };
    eprintln!(
        "searching for DLNA / UPnP renderers at {target} for {:.0} s…",
        wait.as_secs_f64()
    );
    let found = runtime()?.block_on(dlna::list(target, wait, config.dlna.timeout_s))?;
    if found.is_empty() {
        println!("no renderer answered (is it on, and on this network?)");
    }
    for renderer in found {
        match renderer {
            Ok(r) => println!(
                "{}\n  udn: {}\n  description: {}\n  volume: {}\n  config: [dlna] renderer = {:?}\n",
                r.name,
                r.udn,
                r.location,
                if r.rendering_control.is_some() {
                    "yes"
                } else {
                    "no (RenderingControl missing)"
                },
                r.name
            ),
            Err(why) => println!("(a renderer that cannot be used: {why})\n"),
        }
    }
    Ok(())
}

/// One thread runs each command's async work: the companion waits on the network, it does
/// not compute.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Watches until Ctrl-C, SIGTERM or the duration, then reports the junk count.
fn watch(config: &CompanionConfig, duration: Option<std::time::Duration>) -> anyhow::Result<()> {
    let junk = runtime()?.block_on(xpressify_companion::watch::watch(
        config,
        &mut std::io::stdout(),
        stop_signal(duration),
    ))?;
    let total: u64 = junk.values().sum();
    info!(refused = total, per_channel = ?junk, "stopped");
    Ok(())
}
