//! A Music Player Daemon — the player at the heart of the Pi music-box distributions people
//! already run — driven over MPD's text protocol (TCP or its Unix socket).
//!
//! Each pick is handed over as the companion's `/stream/<pick id>` URL (MPD fetches it with
//! its curl input), so catalogue files and YouTube picks play the same way, wherever MPD runs.
//! A pick replaces MPD's queue (`clear`, `addid`, `playid`); the end is seen by polling
//! `status`: once MPD has played our song id, a return to `stop` is the end, and an `error:`
//! line is a failure. Every answer is bounded (line length, lines per answer, time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::debug;
use xpressify_protocol::Secret;
use xpressify_protocol::config::ConfigError;

use super::{PlayItem, PlaybackSink, SinkError, SinkEvent, StreamUrls, poll_due};

const NAME: &str = "mpd";
/// The longest answer line taken (MPD's own lines are short: tags, paths, messages).
const MAX_LINE: u64 = 8 * 1024;
/// The most lines one answer may have (`status` has about 20).
const MAX_LINES: usize = 512;
/// How long a pick may stay unstarted (MPD still fetching the stream) before it is a failure.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `[mpd]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MpdConfig {
    /// MPD's address, `HOST:PORT` (e.g. `127.0.0.1:6600`), or the path of its Unix socket.
    pub address: String,
    /// MPD's password, when its config sets one; empty: none.
    pub password: Secret,
    /// A file holding the password instead (or a systemd credential's name).
    pub password_file: String,
    /// Seconds between status polls.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub poll_s: f64,
    /// Seconds before a command is abandoned.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub timeout_s: f64,
}

impl Default for MpdConfig {
    fn default() -> Self {
        MpdConfig {
            address: "127.0.0.1:6600".into(),
            password: Secret::default(),
            password_file: String::new(),
            poll_s: 1.0,
            timeout_s: 10.0,
        }
    }
}

impl MpdConfig {
    /// Checks the keys the sink needs; names the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, r: &str| Err(ConfigError::invalid(format!("mpd.{k}"), r.to_string()));
        let a = self.address.trim();
        if !(a.starts_with('/')
            || a.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()))
        {
            return bad(
                "address",
                "must be HOST:PORT (e.g. 127.0.0.1:6600) or the path of MPD's socket",
            );
        }
        if self.password.expose().contains(['\n', '\r']) {
            return bad("password", "must be one line");
        }
        if !(self.poll_s >= 0.2 && self.poll_s <= 60.0) {
            return bad("poll_s", "must be 0.2 to 60");
        }
        if !(self.timeout_s > 0.0 && self.timeout_s <= 120.0) {
            return bad("timeout_s", "must be above 0 and at most 120");
        }
        Ok(())
    }
}

/// A byte stream to MPD: TCP or its Unix socket.
trait Link: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Link for T {}

/// One protocol session.
struct Session {
    io: BufReader<Box<dyn Link>>,
}

/// One answer: its `key: value` lines in order.
type Answer = Vec<(String, String)>;

fn err(message: impl Into<String>) -> SinkError {
    SinkError::new(NAME, message)
}

/// An argument in MPD's quoting: double quotes, with `"` and `\` escaped.
fn quote(arg: &str) -> String {
    let mut q = String::with_capacity(arg.len() + 2);
    q.push('"');
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// MPD's `ACK` code for a command the connection has no permission for.
const ACK_PERMISSION: &str = "4";

/// The `key: value` pairs of one answer's lines, or MPD's `ACK` as an error (its message, and
/// a hint when the code says a password is missing).
fn parse_line(line: &str) -> Result<Option<(String, String)>, String> {
    if line == "OK" {
        return Ok(None);
    }
    if let Some(ack) = line.strip_prefix("ACK ") {
        // ACK [error@command_listNum] {current_command} message_text
        let code = ack
            .strip_prefix('[')
            .and_then(|a| a.split_once('@'))
            .map(|(code, _)| code);
        let message = ack.split_once("} ").map_or(ack, |(_, m)| m);
        if code == Some(ACK_PERMISSION) {
            return Err(format!(
                "{message} (MPD wants a password: set mpd.password)"
            ));
        }
        return Err(message.to_string());
    }
    match line.split_once(": ") {
        Some((k, v)) => Ok(Some((k.to_string(), v.to_string()))),
        None => Err(format!("an answer MPD's protocol does not have: {line:?}")),
    }
}

impl Session {
    async fn open(config: &MpdConfig) -> Result<Session, SinkError> {
        let address = config.address.trim();
        let link: Box<dyn Link> = if address.starts_with('/') {
            Box::new(
                tokio::net::UnixStream::connect(PathBuf::from(address))
                    .await
                    .map_err(|e| err(format!("cannot open MPD's socket {address} ({e}); is mpd running? (mpd.address)")))?,
            )
        } else {
            Box::new(tokio::net::TcpStream::connect(address).await.map_err(|e| {
                err(format!(
                    "cannot reach MPD at {address} ({e}); is mpd running? (mpd.address)"
                ))
            })?)
        };
        let mut session = Session {
            io: BufReader::new(link),
        };
        let greeting = session.line().await?;
        if !greeting.starts_with("OK MPD ") {
            return Err(err(format!(
                "{address} is not MPD (it said {greeting:?}; mpd.address)"
            )));
        }
        debug!(%greeting, "connected to MPD");
        if !config.password.is_empty() {
            session
                .command(&format!("password {}", quote(config.password.expose())))
                .await
                .map_err(|e| {
                    err(format!(
                        "MPD refused the password (mpd.password): {}",
                        e.message
                    ))
                })?;
        }
        Ok(session)
    }

    /// One line, without its end; bounded in length.
    async fn line(&mut self) -> Result<String, SinkError> {
        let mut buf = Vec::new();
        let n = (&mut self.io)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| err(format!("lost the connection to MPD: {e}")))?;
        if n == 0 {
            return Err(err("MPD closed the connection"));
        }
        if buf.last() != Some(&b'\n') {
            return Err(err(format!("MPD sent a line over {MAX_LINE} bytes")));
        }
        buf.pop();
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    async fn command(&mut self, command: &str) -> Result<Answer, SinkError> {
        self.io
            .get_mut()
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(|e| err(format!("lost the connection to MPD: {e}")))?;
        let mut answer = Vec::new();
        loop {
            let line = self.line().await?;
            match parse_line(&line) {
                Ok(None) => return Ok(answer),
                Ok(Some(pair)) if answer.len() < MAX_LINES => answer.push(pair),
                Ok(Some(_)) => return Err(err(format!("MPD's answer has over {MAX_LINES} lines"))),
                Err(message) => {
                    let verb = command.split(' ').next().unwrap_or(command);
                    return Err(err(format!("MPD refused {verb}: {message}")));
                }
            }
        }
    }
}

/// The MPD sink.
pub struct MpdSink {
    config: MpdConfig,
    urls: StreamUrls,
    session: Option<Session>,
    /// MPD's id of the active pick's song.
    song: Option<String>,
    /// MPD played (or paused) that song.
    seen_playing: bool,
    started: Option<Instant>,
    last_poll: Option<Instant>,
}

impl MpdSink {
    /// Connects to MPD (so a wrong address or password is known at start) and sets the volume.
    pub async fn start(
        config: MpdConfig,
        urls: StreamUrls,
        volume: u8,
    ) -> Result<MpdSink, SinkError> {
        let mut sink = MpdSink {
            config,
            urls,
            session: None,
            song: None,
            seen_playing: false,
            started: None,
            last_poll: None,
        };
        // `status` needs MPD's read permission, so a missing password is found now.
        sink.call("status").await?;
        if let Err(e) = sink.set_volume(volume).await {
            // MPD without a mixer (mixer_type "none") plays at full volume; that is its owner's
            // choice, not a reason to refuse to play.
            tracing::warn!("{e}");
        }
        Ok(sink)
    }

    /// Runs a command, connecting first when needed and once more if the connection had gone
    /// (MPD drops idle clients after its `connection_timeout`).
    async fn call(&mut self, command: &str) -> Result<Answer, SinkError> {
        let limit = Duration::from_secs_f64(self.config.timeout_s);
        let retry = self.session.is_some();
        match tokio::time::timeout(limit, self.once(command)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) if retry && !e.message.starts_with("MPD refused") => {
                debug!("{e}; reconnecting");
                self.session = None;
                tokio::time::timeout(limit, self.once(command))
                    .await
                    .unwrap_or_else(|_| Err(err("MPD did not answer in time (mpd.timeout_s)")))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.session = None;
                Err(err("MPD did not answer in time (mpd.timeout_s)"))
            }
        }
    }

    async fn once(&mut self, command: &str) -> Result<Answer, SinkError> {
        let mut session = match self.session.take() {
            Some(s) => s,
            None => Session::open(&self.config).await?,
        };
        let answer = session.command(command).await;
        // A refusal leaves the session usable; a broken link does not.
        if answer.is_ok()
            || answer
                .as_ref()
                .is_err_and(|e| e.message.starts_with("MPD refused"))
        {
            self.session = Some(session);
        }
        answer
    }
}

fn field<'a>(answer: &'a Answer, key: &str) -> Option<&'a str> {
    answer
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl PlaybackSink for MpdSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        self.song = None;
        self.call("clear").await?;
        let added = self
            .call(&format!("addid {}", quote(&self.urls.of(item))))
            .await?;
        let id = field(&added, "Id")
            .ok_or_else(|| err("MPD's addid gave no Id"))?
            .to_string();
        self.call(&format!("playid {id}")).await?;
        self.song = Some(id);
        self.seen_playing = false;
        self.started = Some(Instant::now());
        self.last_poll = None;
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SinkError> {
        self.call("pause 1").await.map(drop)
    }

    async fn resume(&mut self) -> Result<(), SinkError> {
        self.call("pause 0").await.map(drop)
    }

    async fn stop(&mut self) -> Result<(), SinkError> {
        self.song = None;
        self.call("stop").await.map(drop)
    }

    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        self.call(&format!("setvol {}", percent.min(100)))
            .await
            .map(drop)
    }

    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        let Some(song) = self.song.clone() else {
            return Ok(None);
        };
        if !poll_due(&mut self.last_poll, self.config.poll_s) {
            return Ok(None);
        }
        let status = self.call("status").await?;
        if let Some(error) = field(&status, "error") {
            let message = format!("MPD could not play it: {error}");
            self.song = None;
            self.call("clearerror").await?;
            return Ok(Some(SinkEvent::Failed(message)));
        }
        let ours = field(&status, "songid") == Some(song.as_str());
        match field(&status, "state") {
            Some("play" | "pause") if ours => self.seen_playing = true,
            // Someone else started another song on this MPD: ours is over.
            Some("play" | "pause") if self.seen_playing => {
                self.song = None;
                return Ok(Some(SinkEvent::Ended));
            }
            Some("stop") if self.seen_playing => {
                self.song = None;
                return Ok(Some(SinkEvent::Ended));
            }
            _ if self.started.is_some_and(|t| t.elapsed() > START_TIMEOUT) => {
                self.song = None;
                return Ok(Some(SinkEvent::Failed(format!(
                    "MPD did not start it within {} s",
                    START_TIMEOUT.as_secs()
                ))));
            }
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_mpd_reads_them() {
        assert_eq!(quote("http://h/stream/1"), r#""http://h/stream/1""#);
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn answers_and_refusals_are_told_apart() {
        assert_eq!(parse_line("OK"), Ok(None));
        assert_eq!(
            parse_line("state: play"),
            Ok(Some(("state".into(), "play".into())))
        );
        assert_eq!(
            parse_line("ACK [50@0] {addid} No such directory"),
            Err("No such directory".into())
        );
        assert!(parse_line("garbage").is_err());
        let refused = parse_line("ACK [4@0] {status} you don't have permission for \"status\"");
        assert!(
            refused.as_ref().is_err_and(|m| m.contains("mpd.password")),
            "{refused:?}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (c, key) in [
            (
                MpdConfig {
                    address: "localhost".into(),
                    ..MpdConfig::default()
                },
                "mpd.address",
            ),
            (
                MpdConfig {
                    poll_s: 0.0,
                    ..MpdConfig::default()
                },
                "mpd.poll_s",
            ),
        ] {
            assert_eq!(
                c.validate().err().and_then(|e| e.key().map(String::from)),
                Some(key.into())
            );
        }
        for ok in [
            "127.0.0.1:6600",
            "music.local:6600",
            "[::1]:6600",
            "/run/mpd/socket",
        ] {
            MpdConfig {
                address: ok.into(),
                ..MpdConfig::default()
            }
            .validate()
            .expect(ok);
        }
    }
}
