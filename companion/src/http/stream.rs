//! `GET /stream/<pick id>`: any pick as plain audio that a player opens by URL — MPD, DLNA
//! renderers, Sonos or a Cast device through Home Assistant — none of which can run yt-dlp.
//!
//! A catalogue pick is its file, as `/media` serves it (with `Range`). A YouTube pick is piped
//! from `yt-dlp` (best audio, written to its standard output, nothing left on disk): the
//! first bytes tell the container (MP4, WebM, Ogg, MP3), the rest follows as yt-dlp delivers
//! it, and yt-dlp is killed as soon as the player hangs up. At most `stream.max_streams`
//! yt-dlp processes run at once (one more gets `503`), so the LAN cannot fork the box to death.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};
use xpressify_protocol::config::ConfigError;

/// How much of yt-dlp's output is read at a time.
const CHUNK: usize = 64 * 1024;
/// How much of yt-dlp's error output is kept for the answer and the log.
const STDERR_KEPT: usize = 4096;

/// How to install yt-dlp, for the log, the page and a `503`.
pub const INSTALL_YT_DLP: &str = "install yt-dlp (`apt install yt-dlp`, or `pipx install yt-dlp` \
    for the newest, which YouTube changes often require) or set stream.yt_dlp to its path";

/// `[stream]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// The yt-dlp program that fetches YouTube picks for players that cannot.
    pub yt_dlp: String,
    /// yt-dlp processes that may run at once.
    pub max_streams: usize,
    /// Seconds yt-dlp may take to deliver its first bytes.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub start_timeout_s: f64,
    /// The watch URL a video id is appended to (tests point it at a local server).
    pub youtube_watch_url: String,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            yt_dlp: "yt-dlp".into(),
            max_streams: 2,
            start_timeout_s: 30.0,
            youtube_watch_url: "https://www.youtube.com/watch?v=".into(),
        }
    }
}

impl StreamConfig {
    /// Checks values serde cannot; names the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad =
            |k: &str, r: &str| Err(ConfigError::invalid(format!("stream.{k}"), r.to_string()));
        if self.yt_dlp.trim().is_empty() {
            return bad("yt_dlp", "must name the yt-dlp program");
        }
        if !(1..=16).contains(&self.max_streams) {
            return bad("max_streams", "must be 1 to 16");
        }
        if !(self.start_timeout_s > 0.0 && self.start_timeout_s <= 300.0) {
            return bad("start_timeout_s", "must be above 0 and at most 300");
        }
        if !(self.youtube_watch_url.starts_with("http://")
            || self.youtube_watch_url.starts_with("https://"))
        {
            return bad("youtube_watch_url", "must be an http:// or https:// URL");
        }
        Ok(())
    }
}

/// YouTube picks as audio through yt-dlp, a bounded number at a time.
pub struct YoutubeStreams {
    config: StreamConfig,
    slots: Arc<Semaphore>,
}

/// Why a YouTube stream could not start, as the answer to the player.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Every yt-dlp place is taken.
    #[error("{0} YouTube streams are open already (stream.max_streams); try again later")]
    Busy(usize),
    /// yt-dlp is not installed.
    #[error("yt-dlp cannot be started ({0}): {INSTALL_YT_DLP}")]
    Missing(String),
    /// yt-dlp ran and delivered nothing.
    #[error("yt-dlp could not fetch video {id}: {message}")]
    Failed {
        /// The video.
        id: String,
        /// yt-dlp's own words, or what happened.
        message: String,
    },
}

impl IntoResponse for StreamError {
    fn into_response(self) -> Response {
        let status = match self {
            StreamError::Busy(_) | StreamError::Missing(_) => StatusCode::SERVICE_UNAVAILABLE,
            StreamError::Failed { .. } => StatusCode::BAD_GATEWAY,
        };
        let mut r = (
            status,
            axum::Json(serde_json::json!({"error": self.to_string()})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        r
    }
}

impl YoutubeStreams {
    /// Streams per a validated config.
    pub fn new(config: StreamConfig) -> YoutubeStreams {
        YoutubeStreams {
            slots: Arc::new(Semaphore::new(config.max_streams)),
            config,
        }
    }

    /// yt-dlp's version, or why it cannot run (with how to install it): asked once at start so
    /// the log and the page can say so before a player asks for a YouTube stream.
    pub async fn check(&self) -> Result<String, String> {
        let run = Command::new(&self.config.yt_dlp)
            .arg("--version")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(20), run).await {
            Ok(Ok(out)) if out.status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
            }
            Ok(Ok(out)) => Err(format!(
                "{} --version failed ({}): {INSTALL_YT_DLP}",
                self.config.yt_dlp, out.status
            )),
            Ok(Err(e)) => Err(format!(
                "cannot start {:?} ({e}): {INSTALL_YT_DLP}",
                self.config.yt_dlp
            )),
            Err(_) => Err(format!("{} --version did not answer", self.config.yt_dlp)),
        }
    }

    /// The audio of YouTube video `id`, piped from yt-dlp.
    pub async fn open(&self, id: &str) -> Result<Response, StreamError> {
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| StreamError::Busy(self.config.max_streams))?;
        let url = format!("{}{id}", self.config.youtube_watch_url);
        let mut child = Command::new(&self.config.yt_dlp)
            .args([
                "--quiet",
                "--no-warnings",
                "--no-playlist",
                "--no-part",
                "--no-cache-dir",
                "--no-progress",
                "-f",
                "bestaudio[ext=m4a]/bestaudio/best",
                "-o",
                "-",
                "--",
                &url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| StreamError::Missing(e.to_string()))?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(StreamError::Missing("no pipes".into()));
        };
        let errors = tokio::spawn(keep_tail(stderr));
        let mut first = vec![0u8; CHUNK];
        let start = Duration::from_secs_f64(self.config.start_timeout_s);
        let n = match tokio::time::timeout(start, read_some(&mut stdout, &mut first)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                return Err(failed(id, format!("reading its output: {e}")));
            }
            Err(_) => {
                return Err(failed(
                    id,
                    format!(
                        "nothing within {} s (stream.start_timeout_s)",
                        self.config.start_timeout_s
                    ),
                ));
            }
        };
        if n == 0 {
            let _ = child.wait().await;
            let said = errors.await.unwrap_or_default();
            let last = said.lines().rev().find(|l| !l.trim().is_empty());
            let message = last.unwrap_or("it wrote nothing").trim().to_string();
            warn!(video = id, %message, "yt-dlp could not fetch a pick");
            return Err(failed(id, message));
        }
        first.truncate(n);
        info!(video = id, "streaming a YouTube pick through yt-dlp");
        let mime = sniff(&first);
        let rest = futures_util::stream::unfold(
            Piped {
                first: Some(first),
                stdout,
                _child: child,
                _permit: permit,
            },
            |mut p| async move {
                if let Some(first) = p.first.take() {
                    return Some((Ok::<_, std::io::Error>(first), p));
                }
                let mut buf = vec![0u8; CHUNK];
                match p.stdout.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(buf), p))
                    }
                    Err(e) => Some((Err(e), p)),
                }
            },
        );
        let mut response = Response::new(Body::from_stream(rest));
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

/// What a YouTube stream keeps alive while the player reads: yt-dlp (killed when the body is
/// dropped, i.e. when the player hangs up) and its place among `stream.max_streams`.
struct Piped {
    first: Option<Vec<u8>>,
    stdout: tokio::process::ChildStdout,
    _child: Child,
    _permit: OwnedSemaphorePermit,
}

fn failed(id: &str, message: String) -> StreamError {
    StreamError::Failed {
        id: id.to_string(),
        message,
    }
}

/// Reads until at least 16 bytes have come (enough to tell the container) or the output ends.
async fn read_some(r: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < 16.min(buf.len()) {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Drains yt-dlp's error output (so it never blocks on a full pipe), keeping the last
/// `STDERR_KEPT` bytes.
async fn keep_tail(mut r: impl AsyncRead + Unpin) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > STDERR_KEPT {
            kept.drain(..kept.len() - STDERR_KEPT);
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The container of an audio stream from its first bytes.
pub fn sniff(head: &[u8]) -> &'static str {
    match head {
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "audio/mp4",
        [0x1A, 0x45, 0xDF, 0xA3, ..] => "audio/webm",
        [b'O', b'g', b'g', b'S', ..] => "audio/ogg",
        [b'f', b'L', b'a', b'C', ..] => "audio/flac",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'A',
            b'V',
            b'E',
            ..,
        ] => "audio/wav",
        [b'I', b'D', b'3', ..] => "audio/mpeg",
        [0xFF, b, ..] if b & 0xE0 == 0xE0 => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A \0\0"), "audio/mp4");
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]), "audio/webm");
        assert_eq!(sniff(b"OggS\0\x02"), "audio/ogg");
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(sniff(b"ID3\x04\0"), "audio/mpeg");
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0]), "audio/mpeg");
        assert_eq!(sniff(b"<html>"), "application/octet-stream");
        assert_eq!(sniff(b""), "application/octet-stream");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (c, key) in [
            (
                StreamConfig {
                    max_streams: 0,
                    ..StreamConfig::default()
                },
                "stream.max_streams",
            ),
            (
                StreamConfig {
                    youtube_watch_url: "youtube.com".into(),
                    ..StreamConfig::default()
                },
                "stream.youtube_watch_url",
            ),
        ] {
            assert_eq!(
                c.validate().err().and_then(|e| e.key().map(String::from)),
                Some(key.into())
            );
        }
        StreamConfig::default()
            .validate()
            .expect("defaults are valid");
    }
}
