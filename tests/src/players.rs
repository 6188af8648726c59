//! Real players for the sink tests, and a small file server that stands in for the web.
//!
//! [`Mpd`] is Debian's `mpd`, started on a free loopback port with a null audio output (which
//! plays in real time, so a 1 s file ends after 1 s) and a software mixer (so volume works).
//! [`FileServer`] answers `GET` and `HEAD` for a fixed set of paths, as a web server would:
//! the audio that MPD or yt-dlp fetch in tests that have no companion in front of them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{KillOnDrop, free_port};

/// An `mpd` of this test's own, stopped on drop.
pub struct Mpd {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    _process: KillOnDrop,
    /// Its music folder, state and log.
    pub dir: tempfile::TempDir,
}

impl Mpd {
    /// Starts `mpd` on a free loopback port; with `password`, every command needs it.
    pub fn start(password: Option<&str>) -> anyhow::Result<Mpd> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("music"))?;
        std::fs::create_dir_all(dir.path().join("playlists"))?;
        let mut conf = format!(
            "music_directory \"{d}/music\"\nplaylist_directory \"{d}/playlists\"\n\
             db_file \"{d}/db\"\nlog_file \"{d}/log\"\nbind_to_address \"127.0.0.1\"\n\
             port \"{port}\"\nzeroconf_enabled \"no\"\nauto_update \"no\"\n\
             audio_output {{\n  type \"null\"\n  name \"silence\"\n  mixer_type \"software\"\n}}\n"
        );
        if let Some(p) = password {
            conf.push_str(&format!("password \"{p}@read,add,control,admin\"\n"));
            conf.push_str("default_permissions \"\"\n");
        }
        let conf_path = dir.path().join("mpd.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new("mpd")
            .arg("--no-daemon")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start mpd (apt install mpd)")?;
        let mut process = KillOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || process.0.try_wait()?.is_some() {
                let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
                bail!("mpd did not listen on port {port}; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Mpd {
            port,
            _process: process,
            dir,
        })
    }

    /// `127.0.0.1:PORT`, for `mpd.address`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs one command as a client of its own (after `password`, when given) and returns the
    /// answer's `key: value` pairs: what the test reads back from the player.
    pub fn query(
        &self,
        password: Option<&str>,
        command: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if let Some(p) = password {
            writeln!(writer, "password \"{p}\"")?;
            line.clear();
            reader.read_line(&mut line)?;
        }
        writeln!(writer, "{command}")?;
        let mut answer = Vec::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                bail!("mpd closed the connection");
            }
            let l = line.trim_end();
            if l == "OK" {
                return Ok(answer);
            }
            if l.starts_with("ACK") {
                bail!("mpd: {l}");
            }
            if let Some((k, v)) = l.split_once(": ") {
                answer.push((k.to_string(), v.to_string()));
            }
        }
    }

    /// One field of `status` (or of another command's answer).
    pub fn field(&self, command: &str, key: &str) -> Option<String> {
        self.query(None, command)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// A plain HTTP server on loopback with fixed files, stopped when dropped.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Paths asked for, in order (with their query).
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
}

impl FileServer {
    /// Serves each `path → (content type, bytes)`, the path as requested (query included); a
    /// key ending in `*` serves every path it begins. Any other path is `404`.
    pub fn start(files: HashMap<String, (&'static str, Vec<u8>)>) -> anyhow::Result<FileServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, halt) = (requests.clone(), stop.clone());
        let files = Arc::new(files);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if halt.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (files, seen) = (files.clone(), seen.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &files, &seen);
                });
            }
        });
        Ok(FileServer {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            port,
        })
    }

    /// The paths asked for so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(
    stream: TcpStream,
    files: &HashMap<String, (&'static str, Vec<u8>)>,
    seen: &Mutex<Vec<String>>,
) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if let Ok(mut s) = seen.lock() {
        s.push(path.to_string());
    }
    let found = files.get(path).or_else(|| {
        files
            .iter()
            .find(|(k, _)| k.strip_suffix('*').is_some_and(|p| path.starts_with(p)))
            .map(|(_, v)| v)
    });
    match found {
        Some((mime, body)) => {
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            if method != "HEAD" {
                writer.write_all(body)?;
            }
        }
        None => {
            write!(
                writer,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
        }
    }
    writer.flush()?;
    // Let the client read to the end before the socket goes.
    let _ = reader.read(&mut [0u8; 1]);
    Ok(())
}
