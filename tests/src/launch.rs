//! The workspace's binaries as the tests start them: on a test broker, with a prefix and
//! device id of their own, every file in the test's temporary folder.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::fakes::{FakeYoutube, GOOD_KEY};
use crate::{binary, unique_name};
use xpressify_protocol::Topics;

/// The repository's `models/` folder.
pub fn models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

/// `xpressify-companion run` on `broker_url` under `prefix`: its store at `store`, its API on
/// `127.0.0.1:http_port` with the control token `token`, and YouTube searches sent to `fake`
/// with the key it accepts. Music starts half a second after a mood; the web page is the
/// sink. Logs go to the test's stderr; callers add or override variables.
pub fn companion(
    broker_url: &str,
    prefix: &str,
    store: &Path,
    http_port: u16,
    token: &str,
    fake: &FakeYoutube,
) -> anyhow::Result<Command> {
    let mut cmd = Command::new(binary("xpressify-companion")?);
    cmd.arg("run")
        .env("XPRESSIFY__MQTT__URL", broker_url)
        .env("XPRESSIFY__MQTT__PREFIX", prefix)
        .env("XPRESSIFY__MQTT__CLIENT_ID", unique_name("companion"))
        .env("XPRESSIFY__STORE__PATH", store)
        .env("XPRESSIFY__YOUTUBE__API_KEY", GOOD_KEY)
        .env("XPRESSIFY__YOUTUBE__API_BASE_URL", &fake.base_url)
        .env("XPRESSIFY__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env("XPRESSIFY__HTTP__TOKEN", token)
        .env("XPRESSIFY__MUSIC__START_AFTER_S", "0.5")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    Ok(cmd)
}

/// `xpressify-device run` on `broker_url` as `topics` says, reading the images in `frames` at
/// 20 fps through the shipped models, once (callers set `XPRESSIFY__CAMERA__LOOP=true` to
/// repeat). No Home Assistant discovery; a mood is announced after 0.5 s.
pub fn device_on_files(
    broker_url: &str,
    topics: &Topics,
    frames: &Path,
) -> anyhow::Result<Command> {
    let models = models_dir();
    let mut cmd = device_command("run", broker_url, topics)?;
    cmd.env("XPRESSIFY__MQTT__PROBABILITIES_HZ", "5")
        .env("XPRESSIFY__HOMEASSISTANT__DISCOVERY", "false")
        .env(
            "XPRESSIFY__DETECTOR__MODEL",
            models.join("face_detection_yunet_2026may.onnx"),
        )
        .env("XPRESSIFY__CLASSIFIER__MODELS_DIR", &models)
        .env("XPRESSIFY__CAMERA__SOURCE", "files")
        .env("XPRESSIFY__CAMERA__PATH", frames)
        .env("XPRESSIFY__CAMERA__FPS", "20")
        .env("XPRESSIFY__CAMERA__LOOP", "false")
        .env("XPRESSIFY__MOOD__DWELL_S", "0.5")
        .env("RUST_LOG", "warn");
    Ok(cmd)
}

/// `xpressify-device announce` on `broker_url` as `topics` says, with Home Assistant discovery
/// under `ha_prefix`: the device's MQTT side alone (no camera, no models). Callers choose the
/// log level and where stdout and stderr go.
pub fn device_announce(
    broker_url: &str,
    topics: &Topics,
    ha_prefix: &str,
) -> anyhow::Result<Command> {
    let mut cmd = device_command("announce", broker_url, topics)?;
    cmd.env("XPRESSIFY__HOMEASSISTANT__DISCOVERY_PREFIX", ha_prefix);
    Ok(cmd)
}

/// `xpressify-device <subcommand>` on `broker_url` with the prefix and device id of `topics`:
/// what every device the tests start has in common.
fn device_command(subcommand: &str, broker_url: &str, topics: &Topics) -> anyhow::Result<Command> {
    let mut cmd = Command::new(binary("xpressify-device")?);
    cmd.arg(subcommand)
        .env("XPRESSIFY__MQTT__URL", broker_url)
        .env("XPRESSIFY__MQTT__PREFIX", topics.prefix())
        .env("XPRESSIFY__MQTT__DEVICE_ID", topics.device_id());
    Ok(cmd)
}

/// What a process that ran to its end left behind.
pub struct Finished {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Everything it wrote to stdout, lossily decoded.
    pub stdout: String,
    /// Everything it wrote to stderr, lossily decoded.
    pub stderr: String,
}

/// Runs `cmd` to its end with stdout and stderr captured, killing it and failing when it is
/// still running after `limit`: a binary that should refuse its input must not hang a test.
pub fn run_to_end(cmd: &mut Command, limit: Duration) -> anyhow::Result<Finished> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {cmd:?}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{cmd:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let joined = |h: std::thread::JoinHandle<String>| h.join().unwrap_or_default();
    Ok(Finished {
        success: status.success(),
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

/// A running `xpressify-companion run` on the test broker, stopped when dropped.
pub struct RunningCompanion {
    /// Its API, with the control token.
    pub api: crate::api::Api,
    /// Its prefix, with a device id of the test's own.
    pub topics: Topics,
    /// `http://HOST:PORT`: where it listens, and what it hands players (`http.public_url`).
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its store and whatever the test writes beside it.
    pub dir: tempfile::TempDir,
    _process: crate::KillOnDrop,
}

impl RunningCompanion {
    /// Starts [`companion`] listening on `host` (loopback, or the side of a test's network
    /// namespace a player can reach), with `token` and `env` on top, and waits until it has
    /// the broker.
    pub fn start(
        broker: &crate::Broker,
        fake: &FakeYoutube,
        host: std::net::IpAddr,
        token: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<RunningCompanion> {
        let dir = tempfile::tempdir()?;
        let topics = Topics::new(unique_name("xp"), unique_name("dev"))?;
        let port = crate::free_port()?;
        let url = format!("http://{host}:{port}");
        let mut cmd = companion(
            &broker.url,
            topics.prefix(),
            &dir.path().join("companion.sqlite"),
            port,
            token,
            fake,
        )?;
        cmd.env("XPRESSIFY__HTTP__LISTEN", format!("{host}:{port}"))
            .env("XPRESSIFY__HTTP__PUBLIC_URL", &url)
            .env("XPRESSIFY__MUSIC__SWITCH_AFTER_S", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let process = crate::KillOnDrop(cmd.spawn().context("spawn the companion")?);
        let api = crate::api::Api::at(&url, Some(token))?;
        api.wait_for(
            "the companion",
            "/api/status",
            Duration::from_secs(30),
            |s| s["broker_connected"] == true,
        )?;
        Ok(RunningCompanion {
            api,
            topics,
            url,
            port,
            dir,
            _process: process,
        })
    }
}
