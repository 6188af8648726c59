//! `xpressify-device`: the binary on the box.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xpressify_device::vision::analyze::{AnalysedFace, Analyzer, main_face};

use xpressify_device::config::DeviceConfig;
use xpressify_device::display::{Panel, ScreenState, StatusMarks};
use xpressify_device::mqtt::Session;
use xpressify_protocol::Emotion;
use xpressify_protocol::cli::stop_signal;

/// The Xpressify box: recognises the listener's mood and publishes it over MQTT.
///
/// Every config key can also be set by an environment variable XPRESSIFY__<SECTION>__<KEY>,
/// e.g. XPRESSIFY__MQTT__DEVICE_ID=kitchen; variables win over the file.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about,
    after_long_help = concat!(
        "CONFIGURATION KEYS (the commented example file, config/device.toml):\n\n",
        include_str!("../../config/device.toml")
    )
)]
struct Cli {
    /// TOML configuration file (see config/device.toml); defaults apply without one.
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
    /// Connect to the broker, mark the device online and announce it to Home Assistant;
    /// stays connected (re-announcing when Home Assistant restarts) until Ctrl-C.
    Announce {
        /// Stop by itself after this long: 90 (seconds), 30s, 2m, 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = xpressify_protocol::duration::parse_arg)]
        duration: Option<std::time::Duration>,
    },
    /// The daemon: read frames, recognise the mood and publish it over MQTT (with
    /// availability, Home Assistant discovery and periodic probabilities) until Ctrl-C,
    /// SIGTERM, or the end of a non-looping file source.
    Run,
    /// Find the faces in image files and print one JSON line per file: each face's box
    /// [x, y, w, h], whether it can be read ("readable": turned towards the camera) and is
    /// the one the mood would follow ("main": the largest readable face), and for a readable
    /// face its emotion, confidence and the seven probabilities. A file that cannot be
    /// read gives a line with an "error" field; the others are still done, and the exit
    /// status is then 1.
    Classify {
        /// PNG or JPEG files.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
    },
    /// Time the vision loop stage by stage (decode, detect, classify, track) on 640x480
    /// camera-like frames built from FER2013 PrivateTest faces (or on IMAGE files), one
    /// thread; prints the figures as JSON.
    Bench {
        /// Frames to build from FER2013 when no images are given.
        #[arg(long, default_value_t = 30)]
        frames: usize,
        /// Passes over the frames (after one warm-up pass).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Use these images instead of synthetic frames.
        #[arg(value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// Also write the frames as JPEG files into this folder, e.g. to play them to `run`
        /// with camera.source = "files" and measure the daemon itself.
        #[arg(long, value_name = "DIR")]
        save_frames: Option<PathBuf>,
        /// Instead, run this many 9-second expression clips (neutral, an expression, neutral,
        /// beside a head turned away) built from FER2013 PrivateTest through several ways of
        /// reading faces, and print how accurately and how soon each announces the mood, and
        /// what its reading costs per frame.
        #[arg(long, value_name = "CLIPS", conflicts_with_all = ["images", "save_frames"])]
        sequences: Option<usize>,
        /// Instead, write the model's probabilities for every FER2013 PrivateTest face, as
        /// it comes and in a dark room, under a tilted camera and washed out, as CSV to FILE:
        /// the input of `xpressify-companion calibration evaluate` (docs/calibration.md).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["images", "save_frames", "sequences"])]
        readings: Option<PathBuf>,
    },
    /// Draw one screen of the attached display into a PNG file: the mood's face, name,
    /// confidence and held time, the title playing and the status marks, laid out for a
    /// panel. Used for docs, tests and checking a layout without the hardware.
    Render(RenderArgs),
    /// Print the effective configuration (file + environment + defaults) as TOML.
    PrintConfig,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// angry, disgust, fear, happy, sad, surprise, neutral, none (nobody in view), or all:
    /// a sheet of all eight screens, 4 by 2 (for docs).
    #[arg(long, value_name = "EMOTION")]
    emotion: String,
    /// ssd1306 (128x64 mono), st7789-240x240 or st7789-320x240 (colour).
    #[arg(long, value_name = "PANEL")]
    panel: Panel,
    /// The title line, e.g. "Here Comes the Sun - The Beatles".
    #[arg(long, value_name = "TEXT")]
    now_playing: Option<String>,
    /// Confidence of the mood, 0 to 1.
    #[arg(long, default_value_t = 0.87)]
    confidence: f32,
    /// How long the mood has held: 12 (seconds), 12s, 3m.
    #[arg(long, value_name = "DURATION", default_value = "12s", value_parser = xpressify_protocol::duration::parse_arg)]
    held: std::time::Duration,
    /// How far a long title has scrolled, in pixels.
    #[arg(long, value_name = "PIXELS", default_value_t = 0)]
    scroll: u32,
    /// Show the "camera missing" mark.
    #[arg(long)]
    no_camera: bool,
    /// Show the "broker offline" mark.
    #[arg(long)]
    broker_offline: bool,
    /// Show the "companion offline" mark.
    #[arg(long)]
    companion_offline: bool,
    /// Enlarge the picture this many times (nearest neighbour), for docs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    scale: u32,
    /// The PNG file to write.
    #[arg(long, value_name = "FILE.png")]
    out: PathBuf,
}

fn main() -> ExitCode {
    xpressify_protocol::cli::exit_status("xpressify-device", try_main())
}

fn try_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    xpressify_protocol::cli::init_logging("info");
    let config = DeviceConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Announce { duration } => announce(&config, duration),
        Command::Classify { images } => classify(&config, &images),
        Command::Run => xpressify_device::daemon::run(&config, stop_signal(None)),
        Command::Bench {
            sequences: Some(clips),
            ..
        } => bench_sequences(&config, clips),
        Command::Bench {
            readings: Some(file),
            ..
        } => bench_readings(&config, &file),
        Command::Bench {
            frames,
            rounds,
            images,
            save_frames,
            ..
        } => bench(&config, frames, rounds, &images, save_frames.as_deref()),
        Command::Render(args) => render(&args),
        Command::PrintConfig => print_config(&config),
    }
}

/// One JSON line per image; per-file errors are reported in the line and counted.
fn classify(config: &DeviceConfig, images: &[PathBuf]) -> anyhow::Result<()> {
    let analyzer = Analyzer::load(&config.detector, &config.classifier)?;
    let mut out = std::io::stdout().lock();
    let mut failed = 0usize;
    for path in images {
        let line = match image::open(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|img| Ok(analyzer.analyse(&img.to_rgb8())?))
        {
            Ok(faces) => {
                let main = main_face(&faces);
                serde_json::json!({
                    "file": path.display().to_string(),
                    "faces": faces
                        .iter()
                        .enumerate()
                        .map(|(i, f)| face_json(f, main == Some(i)))
                        .collect::<Vec<_>>(),
                })
            }
            Err(e) => {
                failed += 1;
                serde_json::json!({"file": path.display().to_string(), "error": format!("{e:#}")})
            }
        };
        match writeln!(out, "{line}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.context("writing to stdout")?,
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} file(s) could not be classified",
            images.len()
        );
    }
    Ok(())
}

/// One face of `classify`'s line: its box, whether it could be read and is the one the mood
/// would follow, and for a readable face its emotion and probabilities.
fn face_json(f: &AnalysedFace, main: bool) -> serde_json::Value {
    let mut json = serde_json::json!({
        "box": [f.face.x.round() as i64, f.face.y.round() as i64, f.face.w.round() as i64, f.face.h.round() as i64],
        "readable": f.readable(),
        "main": main,
    });
    if let (Some((emotion, confidence)), Some(p)) = (f.top(), f.probabilities) {
        let probabilities: serde_json::Map<String, serde_json::Value> = Emotion::ALL
            .iter()
            .map(|e| (e.to_string(), serde_json::json!(round4(p[e.index()]))))
            .collect();
        json["emotion"] = serde_json::json!(emotion);
        json["confidence"] = serde_json::json!(round4(confidence));
        json["probabilities"] = serde_json::Value::Object(probabilities);
    }
    json
}

fn round4(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

/// Runs the MQTT session alone: online, discovery, last-will.
fn announce(config: &DeviceConfig, duration: Option<std::time::Duration>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let camera =
            xpressify_device::privacy::CameraSwitch::load(&config.privacy, &config.mqtt.device_id);
        let session = Session::new(config, std::sync::Arc::new(camera))?;
        session.run(None, stop_signal(duration)).await
    })
}

/// Writes one screen as a PNG.
fn render(args: &RenderArgs) -> anyhow::Result<()> {
    let moods: Vec<Option<Emotion>> = match args.emotion.as_str() {
        "none" => vec![None],
        "all" => Emotion::ALL.into_iter().map(Some).chain([None]).collect(),
        name => vec![Some(
            name.parse::<Emotion>()
                .map_err(|e| anyhow::anyhow!("--emotion: {e}"))?,
        )],
    };
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.confidence),
        "--confidence must be from 0 to 1, not {}",
        args.confidence
    );
    let screens: Vec<image::RgbImage> = moods
        .into_iter()
        .map(|mood| args.panel.render(&screen_state(args, mood)))
        .collect();
    let mut picture = match screens.as_slice() {
        [one] => one.clone(),
        many => contact_sheet(many, 4),
    };
    if args.scale > 1 {
        let (w, h) = picture.dimensions();
        picture = image::imageops::resize(
            &picture,
            w * args.scale,
            h * args.scale,
            image::imageops::FilterType::Nearest,
        );
    }
    picture
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}

/// The screen `render` draws for `mood`.
fn screen_state(args: &RenderArgs, mood: Option<Emotion>) -> ScreenState {
    ScreenState {
        mood,
        confidence: args.confidence,
        held: args.held,
        now_playing: args.now_playing.clone(),
        scroll_px: args.scroll,
        marks: StatusMarks {
            no_camera: args.no_camera,
            broker_offline: args.broker_offline,
            companion_offline: args.companion_offline,
            camera_off: false,
        },
    }
}

/// Screens side by side, `columns` per row, on a grey ground with 8-pixel gaps.
fn contact_sheet(screens: &[image::RgbImage], columns: u32) -> image::RgbImage {
    let (w, h) = screens.first().map_or((0, 0), |s| s.dimensions());
    let rows = (screens.len() as u32).div_ceil(columns);
    let gap = 8;
    let mut sheet = image::RgbImage::from_pixel(
        columns * (w + gap) + gap,
        rows * (h + gap) + gap,
        image::Rgb([96, 96, 96]),
    );
    for (i, screen) in screens.iter().enumerate() {
        let (col, row) = (i as u32 % columns, i as u32 / columns);
        image::imageops::replace(
            &mut sheet,
            screen,
            i64::from(gap + col * (w + gap)),
            i64::from(gap + row * (h + gap)),
        );
    }
    sheet
}

/// Prints the per-stage timing report as pretty JSON.
fn bench(
    config: &DeviceConfig,
    frames: usize,
    rounds: usize,
    images: &[PathBuf],
    save_frames: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let analyzer = Analyzer::load(&config.detector, &config.classifier)?;
    let frames = if images.is_empty() {
        xpressify_device::bench::synthetic_frames(frames)
            .context("building frames from FER2013 (set XPRESSIFY_DATA_DIR, or give images)")?
    } else {
        images
            .iter()
            .map(|p| {
                Ok(image::open(p)
                    .with_context(|| format!("reading {}", p.display()))?
                    .to_rgb8())
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    if let Some(dir) = save_frames {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (i, frame) in frames.iter().enumerate() {
            let path = dir.join(format!("frame{i:04}.jpg"));
            frame
                .save(&path)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        eprintln!("wrote {} frames to {}", frames.len(), dir.display());
    }
    let report = xpressify_device::bench::run(&analyzer, frames, rounds)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// FER2013's PrivateTest faces, from where `fer2013::default_path` finds the data set.
fn private_test() -> anyhow::Result<Vec<xpressify_device::bench::fer2013::Sample>> {
    use xpressify_device::bench::fer2013;
    let path = fer2013::default_path();
    fer2013::load(&path, fer2013::Split::PrivateTest).with_context(|| {
        format!(
            "reading FER2013 from {} (set XPRESSIFY_DATA_DIR to the folder holding fer2013/)",
            path.display()
        )
    })
}

/// Prints the expression-sequence report as pretty JSON, with progress on stderr.
fn bench_sequences(config: &DeviceConfig, clips: usize) -> anyhow::Result<()> {
    use xpressify_device::bench::sequence;
    anyhow::ensure!(clips > 0, "--sequences needs at least 1 clip");
    let analyzer = Analyzer::load(&config.detector, &config.classifier)?;
    let samples = private_test()?;
    let report = sequence::run(&analyzer, &samples, clips, &sequence::SETUPS, |done| {
        eprint!("\rclip {done} of {clips}");
    })?;
    eprintln!();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Writes the readings file for the calibration's measurement, with progress on stderr.
fn bench_readings(config: &DeviceConfig, file: &Path) -> anyhow::Result<()> {
    use xpressify_device::bench::readings;
    let analyzer = Analyzer::load(&config.detector, &config.classifier)?;
    let samples = private_test()?;
    let out =
        std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let total = samples.len();
    readings::write(analyzer.classifier(), &samples, &mut out, |done| {
        if done % 100 == 0 || done == total {
            eprint!("\rface {done} of {total}");
        }
    })?;
    eprintln!();
    out.flush()
        .with_context(|| format!("writing {}", file.display()))?;
    eprintln!(
        "wrote {} lines to {}",
        total * readings::Condition::ALL.len(),
        file.display()
    );
    Ok(())
}

/// Prints the configuration as TOML; the password shows masked (`Secret`).
fn print_config(config: &DeviceConfig) -> anyhow::Result<()> {
    let text = xpressify_protocol::config::to_toml(config)?;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
