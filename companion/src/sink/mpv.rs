//! A local speaker through `mpv`, driven over its JSON IPC socket.
//!
//! One `mpv --idle` process lives as long as the sink (killed when the sink is dropped);
//! commands are JSON lines with a `request_id`, answered in order, while events (`end-file`)
//! arrive on the same socket and are kept until the next poll. YouTube picks are handed to
//! mpv as watch URLs, which mpv plays through `yt-dlp`; catalogue files by path.

use std::collections::VecDeque;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};
use tracing::debug;
use xpressify_protocol::Track;

use super::{PlayItem, PlaybackSink, SinkError, SinkEvent};

const NAME: &str = "mpv";

/// How long mpv may take to answer a command (loading a YouTube URL resolves it first).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// `[mpv]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MpvConfig {
    /// The mpv program.
    pub binary: String,
    /// mpv's `--ao` (e.g. `alsa`, `pulse`; `null` for silence); empty: mpv's choice.
    pub audio_output: String,
    /// More mpv options, e.g. `["--audio-device=alsa/hw:1"]`.
    pub extra_args: Vec<String>,
    /// The IPC socket path; empty: one in a private (0700) folder under the temporary folder.
    pub socket: String,
}

impl Default for MpvConfig {
    fn default() -> Self {
        MpvConfig {
            binary: "mpv".into(),
            audio_output: String::new(),
            extra_args: Vec::new(),
            socket: String::new(),
        }
    }
}

/// The mpv sink.
pub struct MpvSink {
    child: Child,
    writer: OwnedWriteHalf,
    lines: Lines<BufReader<OwnedReadHalf>>,
    next_id: u64,
    events: VecDeque<Value>,
    /// The playlist entry mpv gave the current pick, to ignore events of earlier ones.
    entry: Option<i64>,
    catalogue: Option<PathBuf>,
    socket: PathBuf,
    owns_socket: bool,
}

fn err(message: impl Into<String>) -> SinkError {
    SinkError::new(NAME, message)
}

impl MpvSink {
    /// Starts mpv and connects to it. `catalogue` is the folder local picks live in.
    pub async fn start(
        config: &MpvConfig,
        catalogue: Option<PathBuf>,
        volume: u8,
    ) -> Result<MpvSink, SinkError> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let owns_socket = config.socket.is_empty();
        let socket = if owns_socket {
            // In a folder of our own (0700, a name nobody can guess): whoever can open mpv's
            // socket can make it play any file or URL.
            let suffix: u64 = rand::random();
            let dir = std::env::temp_dir().join(format!(
                "xpressify-mpv-{}-{}-{suffix:016x}",
                std::process::id(),
                COUNT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .map_err(|e| err(format!("cannot make {}: {e}", dir.display())))?;
            dir.join("mpv.sock")
        } else {
            PathBuf::from(&config.socket)
        };
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new(&config.binary);
        command
            .arg("--idle=yes")
            .arg("--no-video")
            .arg("--no-terminal")
            .arg("--keep-open=no")
            .arg(format!("--input-ipc-server={}", socket.display()))
            .arg(format!("--volume={volume}"));
        if !config.audio_output.is_empty() {
            command.arg(format!("--ao={}", config.audio_output));
        }
        command
            .args(&config.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            err(format!(
                "cannot start {:?}: {e} (install mpv, e.g. `apt install mpv`, or set mpv.binary)",
                config.binary
            ))
        })?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let stream = loop {
            if let Ok(s) = UnixStream::connect(&socket).await {
                break s;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(err(format!(
                    "mpv exited at start ({status}); check mpv.extra_args and mpv.audio_output"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(err(format!(
                    "mpv did not open its IPC socket {} within 10 s",
                    socket.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (read, writer) = stream.into_split();
        Ok(MpvSink {
            child,
            writer,
            lines: BufReader::new(read).lines(),
            next_id: 1,
            events: VecDeque::new(),
            entry: None,
            catalogue,
            socket,
            owns_socket,
        })
    }

    /// Sends one command and waits for its answer, keeping events that arrive meanwhile.
    async fn command(&mut self, args: Value) -> Result<Value, SinkError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = json!({"command": args, "request_id": id}).to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .await
            .map_err(|e| err(format!("mpv's socket: {e}")))?;
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .map_err(|_| err(format!("no answer to {args} within {ANSWER_TIMEOUT:?}")))?
                .map_err(|e| err(format!("mpv's socket: {e}")))?
                .ok_or_else(|| err("mpv quit"))?;
            let Ok(message) = serde_json::from_str::<Value>(&next) else {
                debug!(line = %next, "unreadable line from mpv");
                continue;
            };
            if message.get("request_id").and_then(Value::as_u64) == Some(id) {
                return match message.get("error").and_then(Value::as_str) {
                    Some("success") => Ok(message.get("data").cloned().unwrap_or(Value::Null)),
                    other => Err(err(format!("{args}: {}", other.unwrap_or("failed")))),
                };
            }
            if message.get("event").is_some() {
                self.events.push_back(message);
            }
        }
    }

    /// What mpv should open for a pick.
    fn target(&self, item: &PlayItem) -> Result<String, SinkError> {
        match &item.track {
            Track::Youtube { .. } => item.youtube_url().ok_or_else(|| err("no URL for the pick")),
            Track::Local { file } => {
                let folder = self.catalogue.as_ref().ok_or_else(|| {
                    err("a catalogue file was picked but local.folder is not set")
                })?;
                let path = folder.join(file);
                if !path.is_file() {
                    return Err(err(format!("{} is gone", path.display())));
                }
                Ok(path.display().to_string())
            }
        }
    }
}

impl Drop for MpvSink {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if self.owns_socket {
            let _ = std::fs::remove_file(&self.socket);
            if let Some(dir) = self.socket.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

impl PlaybackSink for MpvSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        let target = self.target(item)?;
        let answer = self.command(json!(["loadfile", target, "replace"])).await?;
        // Events so far belong to what played before.
        self.events.clear();
        self.entry = answer.get("playlist_entry_id").and_then(Value::as_i64);
        self.command(json!(["set_property", "pause", false]))
            .await?;
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SinkError> {
        self.command(json!(["set_property", "pause", true]))
            .await
            .map(drop)
    }

    async fn resume(&mut self) -> Result<(), SinkError> {
        self.command(json!(["set_property", "pause", false]))
            .await
            .map(drop)
    }

    async fn stop(&mut self) -> Result<(), SinkError> {
        self.entry = None;
        self.command(json!(["stop"])).await.map(drop)
    }

    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        self.command(json!(["set_property", "volume", percent.min(100)]))
            .await
            .map(drop)
    }

    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(err(format!("mpv exited ({status})")));
        }
        while let Ok(line) =
            tokio::time::timeout(Duration::from_millis(1), self.lines.next_line()).await
        {
            match line {
                Ok(Some(l)) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&l)
                        && v.get("event").is_some()
                    {
                        self.events.push_back(v);
                    }
                }
                Ok(None) => return Err(err("mpv closed its socket")),
                Err(e) => return Err(err(format!("mpv's socket: {e}"))),
            }
        }
        while let Some(event) = self.events.pop_front() {
            if event.get("event").and_then(Value::as_str) != Some("end-file") {
                continue;
            }
            let entry = event.get("playlist_entry_id").and_then(Value::as_i64);
            if self.entry.is_none() || (entry.is_some() && entry != self.entry) {
                continue;
            }
            match event.get("reason").and_then(Value::as_str) {
                Some("eof") => {
                    self.entry = None;
                    return Ok(Some(SinkEvent::Ended));
                }
                Some("error") => {
                    self.entry = None;
                    let why = event
                        .get("file_error")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error");
                    return Ok(Some(SinkEvent::Failed(format!(
                        "mpv cannot play it: {why}"
                    ))));
                }
                // stop, quit, redirect: our own doing.
                _ => {}
            }
        }
        Ok(None)
    }
}
