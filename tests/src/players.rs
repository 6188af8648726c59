//! Real players for the sink tests, and a small file server that stands in for the web.
//!
//! [`Mpd`] is Debian's `mpd`, started on a free loopback port with a null audio output (which
//! plays in real time, so a 1 s file ends after 1 s) and a software mixer (so volume works).
//! [`Renderer`] is Debian's `gmediarender`, a DLNA renderer, in a network namespace the test
//! makes (libupnp refuses the loopback interface): a veth pair joins it to this namespace on
//! link-local addresses of the test's own, so SSDP searches go to it by unicast and never onto
//! the LAN. [`FileServer`] answers `GET` and `HEAD` for a fixed set of paths, as a web server
//! would: the audio that MPD, the renderer or yt-dlp fetch in tests with no companion in front.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
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

/// Runs `ip` with `args`, failing with its error output.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {} (the DLNA tests make a network namespace: they need root)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Debian's `gmediarender` in a network namespace of its own, removed on drop.
pub struct Renderer {
    /// Its friendly name.
    pub name: String,
    /// Its address, inside its namespace.
    pub ip: Ipv4Addr,
    /// This side's address of the veth pair: what the renderer reaches (serve streams here).
    pub host_ip: Ipv4Addr,
    /// Its UPnP port.
    pub port: u16,
    namespace: String,
    process: Option<KillOnDrop>,
    /// Its log.
    pub dir: tempfile::TempDir,
}

impl Renderer {
    /// Starts a renderer named `name` that plays in real time into a null sink.
    pub fn start(name: &str) -> anyhow::Result<Renderer> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let tag = (std::process::id() % 10_000) * 64 + n % 64;
        let namespace = format!("xp-dlna-{tag}");
        let (host_if, renderer_if) = (format!("xph{tag}"), format!("xpr{tag}"));
        // A /30 of its own in 169.254.0.0/16 (link-local), by process and count.
        let block = (tag % 16_000) * 4;
        let base = Ipv4Addr::new(
            169,
            254,
            10 + (block / 256) as u8 % 200,
            (block % 256) as u8,
        );
        let o = base.octets();
        let host_ip = Ipv4Addr::new(o[0], o[1], o[2], o[3] + 1);
        let renderer_ip = Ipv4Addr::new(o[0], o[1], o[2], o[3] + 2);
        let _ = ip(&["netns", "del", &namespace]);
        ip(&["netns", "add", &namespace])?;
        let mut renderer = Renderer {
            name: name.to_string(),
            ip: renderer_ip,
            host_ip,
            port: 49_152 + (tag % 10_000) as u16,
            namespace: namespace.clone(),
            process: None,
            dir: tempfile::tempdir()?,
        };
        ip(&[
            "link",
            "add",
            &host_if,
            "type",
            "veth",
            "peer",
            "name",
            &renderer_if,
        ])?;
        ip(&["link", "set", &renderer_if, "netns", &namespace])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        let inside = |args: &[&str]| -> anyhow::Result<()> {
            let mut all = vec!["netns", "exec", namespace.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&[
            "addr",
            "add",
            &format!("{renderer_ip}/30"),
            "dev",
            &renderer_if,
        ])?;
        inside(&["link", "set", &renderer_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        let log = renderer.dir.path().join("gmediarender.log");
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace, "gmediarender"])
            .args(["-I", &renderer_if, "-p", &renderer.port.to_string()])
            .args(["-u", &format!("0000{tag:04}-5a5a-4b4b-8c8c-00000000{n:04}")])
            .args(["-f", name, "--gstout-audiopipe", "fakesink sync=true"])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "cannot start gmediarender (apt install gmediarender gstreamer1.0-plugins-good)",
            )?;
        renderer.process = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready =
                std::fs::read_to_string(&log).is_ok_and(|l| l.contains("Ready for rendering"));
            if ready && TcpStream::connect((renderer_ip, renderer.port)).is_ok() {
                return Ok(renderer);
            }
            if Instant::now() > deadline {
                let l = std::fs::read_to_string(&log).unwrap_or_default();
                bail!(
                    "gmediarender did not start; its log ends:\n{}",
                    tail(&l, 2000)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Where SSDP searches for it go: its address, port 1900.
    pub fn ssdp_target(&self) -> String {
        format!("{}:1900", self.ip)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gmediarender.log")).unwrap_or_default()
    }
}

fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.process.take();
        // Removing the namespace removes the veth pair, both ends.
        let _ = ip(&["netns", "del", &self.namespace]);
    }
}

/// A plain HTTP server on loopback with fixed files, stopped when dropped.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Paths asked for, in order (with their query).
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    addr: (IpAddr, u16),
}

impl FileServer {
    /// Serves each `path → (content type, bytes)`, the path as requested (query included); a
    /// key ending in `*` serves every path it begins. Any other path is `404`.
    pub fn start(files: HashMap<String, (&'static str, Vec<u8>)>) -> anyhow::Result<FileServer> {
        FileServer::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), files)
    }

    /// The same on `ip` (e.g. a [`Renderer`]'s `host_ip`, which the renderer can reach).
    pub fn start_on(
        ip: IpAddr,
        files: HashMap<String, (&'static str, Vec<u8>)>,
    ) -> anyhow::Result<FileServer> {
        let listener = TcpListener::bind((ip, 0))?;
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
            url: format!("http://{ip}:{port}"),
            requests,
            stop,
            addr: (ip, port),
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
        let _ = TcpStream::connect(self.addr);
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
