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
    /// Run the service: follow the devices' moods, pick and play music, serve the HTTP API.
    /// Runs until Ctrl-C or SIGTERM.
    Run,
    /// Print every device's messages as JSON lines, checked against the contract; refused
    /// payloads are counted and logged. Runs until Ctrl-C.
    Watch {
        /// Stop by itself after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
    },
    /// Time mood event → pick on a cache hit, on a temporary store, and print the figures as
    /// JSON (median, p95, max in ms; cache misses; peak RSS).
    Bench {
        /// Mood events to time.
        #[arg(long, default_value_t = 1000)]
        events: usize,
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
        Command::Run => run(config),
        Command::Watch { duration } => watch(&config, duration),
        Command::Bench { events } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let report =
                runtime.block_on(xpressify_companion::bench::pick_latency(events.max(1)))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::PrintConfig => {
            print!(
                "{}",
                xpressify_protocol::config::to_toml(&config.redacted())?
            );
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C, SIGTERM or after `duration`.
async fn stop_signal(duration: Option<std::time::Duration>) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
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
}

/// The service: store, sources, sink, HTTP API and the MQTT loop.
fn run(config: CompanionConfig) -> anyhow::Result<()> {
    use std::sync::Arc;
    use xpressify_companion::config::SinkKind;
    use xpressify_companion::recommend::Recommender;
    use xpressify_companion::sink::{AnySink, HomeAssistantSink, MpvSink, WebSink};
    use xpressify_companion::source::{LocalCatalogue, YoutubeSource};
    use xpressify_companion::store::Store;

    xpressify_companion::install_tls();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = Arc::new(
            Store::open(std::path::Path::new(&config.store.path))
                .context("opening the store (store.path)")?,
        );
        let youtube = YoutubeSource::new(config.youtube.clone(), store.clone())?;
        let local = if config.local.folder.is_empty() {
            None
        } else {
            let c = LocalCatalogue::open(std::path::Path::new(&config.local.folder))
                .context("reading the local catalogue (local.folder)")?;
            info!(tracks = c.tracks().len(), folder = %config.local.folder, "local catalogue");
            Some(c)
        };
        let catalogue = local.as_ref().map(|c| c.folder().to_path_buf());
        let mapping = config.mapping().map_err(anyhow::Error::msg)?;
        let recommender = Arc::new(Recommender::new(
            store.clone(),
            Some(youtube),
            local,
            mapping,
            config.recommend_options(),
            None,
        )?);
        let volume = config.player.volume;
        let (sink, web_player) = match config.player.sink {
            SinkKind::Web => {
                let (sink, handle) = WebSink::new(volume);
                (AnySink::Web(sink), Some(handle))
            }
            SinkKind::Mpv => (
                AnySink::Mpv(Box::new(
                    MpvSink::start(&config.mpv, catalogue.clone(), volume).await?,
                )),
                None,
            ),
            SinkKind::HomeAssistant => (
                AnySink::HomeAssistant(HomeAssistantSink::new(config.home_assistant.clone())?),
                None,
            ),
        };
        let (status_tx, status_rx) = tokio::sync::watch::channel(Default::default());
        let (control_tx, control_rx) = tokio::sync::mpsc::channel(32);
        let addr = config.http_listen()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (http.listen)"))?;
        info!(
            "HTTP API on http://{}",
            listener.local_addr().unwrap_or(addr)
        );
        let (token, generated) =
            xpressify_companion::http::control_token(&config.http.token, &store)?;
        if generated {
            // Printed once, on purpose on stderr and not in the log's structured fields.
            eprintln!(
                "xpressify-companion: generated the web control token (shown only now; set http.token to choose one): {token}"
            );
        }
        let app = xpressify_companion::http::router(xpressify_companion::http::AppState {
            token: token.into(),
            store: store.clone(),
            recommender: recommender.clone(),
            status: status_rx,
            control: control_tx,
            web_player,
            catalogue,
        });
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let service =
            xpressify_companion::service::Service::new(config, store, recommender, sink, status_tx);
        let result = service.run(control_rx, stop_signal(None)).await;
        server.abort();
        info!(
            peak_rss_mib = format!("{:.1}", xpressify_companion::bench::peak_rss_mib()),
            "stopped"
        );
        result
    })
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
    let junk = runtime.block_on(xpressify_companion::watch::watch(
        config,
        &mut std::io::stdout(),
        stop_signal(duration),
    ))?;
    let total: u64 = junk.values().sum();
    info!(refused = total, per_channel = ?junk, "stopped");
    Ok(())
}
