//! `xpressify-companion`: the music side of Xpressify.

use std::path::{Path, PathBuf};
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
    /// Your own music, sorted by mood: scan a folder, or measure how well the sorting works.
    Library {
        #[command(subcommand)]
        action: LibraryAction,
    },
    /// What corrections do to recognition: measure the calibration's fit on the readings
    /// `xpressify-device bench --readings FILE` wrote (docs/calibration.md).
    Calibration {
        #[command(subcommand)]
        action: CalibrationAction,
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

#[derive(Debug, Subcommand)]
enum LibraryAction {
    /// Scan FOLDER and print one JSON line per audio file: title, artist, valence (sad 0 …
    /// happy 1), arousal (calm 0 … energetic 1), the moods it suits and where its place came
    /// from ("audio", "tag" or "catalogue"); an unreadable file gives a line with "error".
    /// Results are kept in the store (store.path): a rescan analyses only new or changed
    /// files.
    Scan {
        /// The music folder (searched recursively; hidden entries skipped).
        folder: PathBuf,
        /// Seconds of each track to measure (default: library.seconds).
        #[arg(long)]
        seconds: Option<f32>,
        /// Files analysed at once (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Synthesise pieces whose mood is known from how they were made, scan them, and print
    /// as JSON how often each lands on its own mood (docs/music-library.md).
    Evaluate {
        /// Pieces per emotion.
        #[arg(long, default_value_t = 8)]
        per_mood: usize,
        /// Length of each piece, seconds.
        #[arg(long, default_value_t = 30.0)]
        seconds: f32,
        /// Seed of the pieces' random choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the pieces here and keep them (default: a temporary folder).
        #[arg(long, value_name = "FOLDER")]
        keep: Option<PathBuf>,
        /// Files analysed at once (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum CalibrationAction {
    /// Simulate listeners who correct the box (a resting face read as sad, a dark room, a
    /// tilted camera, a washed-out picture, random corrections) and the population check,
    /// for each setting of the fit on a small grid; print Markdown tables (and JSON with
    /// --json).
    Evaluate {
        /// The CSV from `xpressify-device bench --readings`.
        #[arg(long, value_name = "FILE")]
        readings: PathBuf,
        /// Random halves and households to average over.
        #[arg(long, default_value_t = 6)]
        seeds: u64,
        /// Print the report as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    xpressify_protocol::cli::exit_status("xpressify-companion", try_main())
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The decoders' own complaints about a damaged file are what its scan line's "error"
    // says, once; they are not logged on top.
    xpressify_protocol::cli::init_logging("info,symphonia=off,lofty=off");
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
        Command::Library { action } => library(&config, action),
        Command::Calibration {
            action:
                CalibrationAction::Evaluate {
                    readings,
                    seeds,
                    json,
                },
        } => calibration_evaluate(&readings, seeds, json),
    }
}

/// `calibration evaluate`: progress on stderr, the report on stdout.
fn calibration_evaluate(readings: &Path, seeds: u64, json: bool) -> anyhow::Result<()> {
    use xpressify_companion::calibration::evaluate;
    anyhow::ensure!(seeds > 0, "--seeds needs at least 1");
    let readings = evaluate::load(readings)?;
    let report = evaluate::run(&readings, seeds, |done, all| {
        eprint!("\rsetting {done} of {all}");
    });
    eprintln!();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// `library scan` and `library evaluate`.
fn library(config: &CompanionConfig, action: LibraryAction) -> anyhow::Result<()> {
    use std::io::Write;
    use xpressify_companion::library::{self, ScanOptions};
    let options = |threads: Option<usize>, seconds: f32| -> anyhow::Result<ScanOptions> {
        let min = library::decode::MIN_SECONDS;
        anyhow::ensure!(
            (min..=600.0).contains(&seconds),
            "--seconds {seconds}: use {min} to 600"
        );
        let mut o = ScanOptions {
            seconds,
            ..ScanOptions::default()
        };
        if let Some(t) = threads {
            anyhow::ensure!((1..=64).contains(&t), "--threads {t}: use 1 to 64");
            o.threads = t;
        }
        Ok(o)
    };
    match action {
        LibraryAction::Scan {
            folder,
            seconds,
            threads,
        } => {
            let options = options(threads, seconds.unwrap_or(config.library.seconds))?;
            let catalogue = xpressify_companion::source::LocalCatalogue::library(&folder)
                .context("reading the music folder")?;
            let mapping = config.mapping().map_err(anyhow::Error::msg)?;
            let places = library::background::Places::from_fn(|e| mapping.own_place(e));
            let store =
                xpressify_companion::store::Store::open(std::path::Path::new(&config.store.path))
                    .context("opening the store (store.path), where scans are kept")?;
            let stop = std::sync::atomic::AtomicBool::new(false);
            let mut bar = library::progress::ProgressBar::on_stderr();
            let mut out = std::io::stdout().lock();
            let mut write_error = None;
            let summary = library::scan(&folder, &store, &options, &stop, |line, progress| {
                let line =
                    library::presented(line.clone(), catalogue.hand_placed(&line.file), |e| {
                        places.of(e)
                    });
                let written = serde_json::to_string(&line)
                    .map_err(std::io::Error::other)
                    .and_then(|json| writeln!(out, "{json}"))
                    .and_then(|()| out.flush());
                if let Err(e) = written {
                    // A closed pipe (`| head`): stop scanning, keep what is stored.
                    write_error.get_or_insert(e);
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                bar.update(progress);
            })?;
            if let Some(e) = write_error
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                return Err(e).context("writing the scan's lines");
            }
            eprintln!(
                "scanned {} audio files: {} analysed ({:.1} files/s), {} unchanged, {} unreadable, {} gone from the store",
                summary.files,
                summary.analysed,
                summary.files_per_second(),
                summary.reused,
                summary.failed,
                summary.forgotten
            );
            if summary.left_out > 0 {
                eprintln!(
                    "{} files left out: at most {} are scanned",
                    summary.left_out,
                    library::scan::MAX_FILES
                );
            }
            Ok(())
        }
        LibraryAction::Evaluate {
            per_mood,
            seconds,
            seed,
            keep,
            threads,
        } => {
            let options = options(threads, seconds.min(30.0))?;
            anyhow::ensure!(
                (1..=100).contains(&per_mood),
                "--per-mood {per_mood}: use 1 to 100"
            );
            let temp;
            let folder = match keep {
                Some(k) => k,
                None => {
                    temp = tempfile::tempdir().context("making a temporary folder")?;
                    temp.path().to_path_buf()
                }
            };
            eprintln!(
                "synthesising {} pieces of {seconds} s into {} and scanning them…",
                per_mood * 7,
                folder.display()
            );
            let report = library::evaluate::evaluate(&folder, per_mood, seconds, seed, &options)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
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
