//! `xpressify-companion`: the music side of Xpressify.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::info;
use xpressify_companion::config::CompanionConfig;

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
    /// Print every device's messages as JSON lines, checked against the contract; refused
    /// payloads are counted and logged. Runs until Ctrl-C.
    Watch {
        /// Stop by itself after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
    },
    /// Print the effective configuration (file + environment + defaults) as TOML.
    PrintConfig,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xpressify-companion: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = CompanionConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Watch { duration } => watch(&config, duration),
        Command::PrintConfig => {
            let mut shown = config.clone();
            if !shown.mqtt.password.is_empty() {
                shown.mqtt.password = "********".into();
            }
            print!("{}", xpressify_protocol::config::to_toml(&shown)?);
            Ok(())
        }
    }
}

/// Watches until Ctrl-C, SIGTERM or the duration, then reports the junk count.
fn watch(config: &CompanionConfig, duration: Option<f64>) -> anyhow::Result<()> {
    let duration = duration
        .map(|s| {
            std::time::Duration::try_from_secs_f64(s)
                .map_err(|_| anyhow::anyhow!("--duration {s}: expected a number of seconds ≥ 0"))
        })
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let junk = runtime.block_on(async {
        let stop = async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let sigterm = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let timer = async {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                () = sigterm => {},
                () = timer => {},
            }
        };
        xpressify_companion::watch::watch(config, &mut std::io::stdout(), stop).await
    })?;
    let total: u64 = junk.values().sum();
    info!(refused = total, per_channel = ?junk, "stopped");
    Ok(())
}
