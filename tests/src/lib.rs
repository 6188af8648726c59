//! Shared helpers for the cross-process tests: a real Mosquitto on loopback, the workspace's
//! real binaries, and an MQTT client that collects what the binaries publish.
//!
//! The broker comes from `XPRESSIFY_TEST_MQTT_URL` when set (CI starts one), otherwise each
//! test starts its own `mosquitto` on a free loopback port. Tests share a broker safely by
//! using [`unique_name`] for prefixes and device ids.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod api;
pub mod fakes;
pub mod launch;
pub mod music;
pub mod players;
pub mod prometheus;

use anyhow::{Context, bail};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// The environment variable through which CI hands the tests its broker.
pub const BROKER_ENV: &str = "XPRESSIFY_TEST_MQTT_URL";

/// A Mosquitto broker for one test: CI's, or one this process started (and stops on drop).
pub struct Broker {
    /// `mqtt://127.0.0.1:PORT`.
    pub url: String,
    /// Host part of `url`.
    pub host: String,
    /// Port part of `url`.
    pub port: u16,
    child: Option<Child>,
    conf: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Broker {
    /// CI's broker if `XPRESSIFY_TEST_MQTT_URL` is set, else a fresh `mosquitto`.
    pub fn get() -> anyhow::Result<Broker> {
        if let Ok(url) = std::env::var(BROKER_ENV) {
            let parsed: xpressify_protocol::BrokerUrl = url
                .parse()
                .map_err(|e: String| anyhow::anyhow!("{BROKER_ENV}: {e}"))?;
            return Ok(Broker {
                url,
                host: parsed.host,
                port: parsed.port,
                child: None,
                conf: None,
                _dir: None,
            });
        }
        Broker::start()
    }

    /// Starts a private `mosquitto` on a free loopback port.
    pub fn start() -> anyhow::Result<Broker> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        Broker::launch(
            dir,
            port,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
    }

    /// Starts a private `mosquitto` that queues without limit for a slow subscriber
    /// (`max_queued_messages 0`; Mosquitto's default drops past 1,000), so a flood reaches the
    /// service whole and a test sees what the service itself does with it.
    pub fn start_unlimited_queue() -> anyhow::Result<Broker> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        Broker::launch(
            dir,
            port,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"),
        )
    }

    /// Starts a private `mosquitto` that wants a login (these `(user, password)` accounts)
    /// and applies the ACL file `acl` (copied beside its config). [`Broker::url`] then needs
    /// credentials too.
    pub fn start_with_acl(accounts: &[(&str, &str)], acl: &Path) -> anyhow::Result<Broker> {
        let dir = tempfile::tempdir()?;
        let files = dir.path();
        let passwd = files.join("passwd");
        for (i, (user, password)) in accounts.iter().enumerate() {
            let mut cmd = Command::new("mosquitto_passwd");
            if i == 0 {
                cmd.arg("-c");
            }
            run_tool(cmd.arg("-b").arg(&passwd).arg(user).arg(password))?;
        }
        let acl_copy = files.join("acl");
        std::fs::copy(acl, &acl_copy).with_context(|| format!("copying {}", acl.display()))?;
        make_readable(files)?;
        let port = free_port()?;
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwd.display(),
            acl_copy.display()
        );
        Broker::launch(dir, port, conf)
    }

    /// Starts a private `mosquitto` with two listeners: the open one in [`Broker::url`] (for
    /// the test's own clients) and a locked one — TLS with a CA made for this test, and a
    /// user name and password — described by the returned [`SecureListener`].
    pub fn start_secured() -> anyhow::Result<(Broker, SecureListener)> {
        let dir = tempfile::tempdir()?;
        let files = dir.path();
        make_test_certificates(files)?;
        let (username, password) = ("xpressify".to_string(), unique_name("pw"));
        let passwd = files.join("passwd");
        run_tool(
            Command::new("mosquitto_passwd")
                .arg("-c")
                .arg("-b")
                .arg(&passwd)
                .arg(&username)
                .arg(&password),
        )?;
        make_readable(files)?;
        let (open, locked) = (free_port()?, free_port()?);
        let conf = format!(
            "per_listener_settings true\n\
             listener {open} 127.0.0.1\nallow_anonymous true\n\
             listener {locked} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             cafile {}\ncertfile {}\nkeyfile {}\n",
            passwd.display(),
            files.join("ca.pem").display(),
            files.join("server.pem").display(),
            files.join("server.key").display(),
        );
        let ca_file = files.join("ca.pem");
        let broker = Broker::launch(dir, open, conf)?;
        wait_for_port(locked, Duration::from_secs(10))?;
        Ok((
            broker,
            SecureListener {
                url: format!("mqtts://localhost:{locked}"),
                ca_file,
                username,
                password,
            },
        ))
    }

    fn launch(dir: tempfile::TempDir, port: u16, listeners: String) -> anyhow::Result<Broker> {
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, format!("{listeners}persistence false\n"))?;
        make_readable(dir.path())?;
        let mut broker = Broker {
            url: format!("mqtt://127.0.0.1:{port}"),
            host: "127.0.0.1".into(),
            port,
            child: None,
            conf: Some(conf),
            _dir: Some(dir),
        };
        broker.restart()?;
        Ok(broker)
    }

    /// Kills this test's own broker, as a crash or a power cut would (retained messages are
    /// lost: it keeps no persistence). Does nothing to CI's shared broker.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts this test's own broker on the same port and waits until it listens.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let conf = self
            .conf
            .clone()
            .context("only a broker started by the test can be restarted")?;
        self.kill();
        let child = Command::new(mosquitto_path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting mosquitto (install it: apt-get install mosquitto)")?;
        self.child = Some(child);
        wait_for_port(self.port, Duration::from_secs(10))
    }

    /// A client connected to this broker, subscribed to `filters`, collecting messages.
    pub fn subscriber(&self, filters: &[String]) -> anyhow::Result<Subscriber> {
        Subscriber::connect(&self.host, self.port, filters)
    }

    /// Publishes one message and waits until the broker has it (QoS 1).
    pub fn publish(&self, topic: &str, payload: &[u8], retain: bool) -> anyhow::Result<()> {
        let mut opts = MqttOptions::new(unique_name("pub"), self.host.clone(), self.port);
        opts.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut connection) = Client::new(opts, 10);
        client.publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match connection.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                    let _ = client.disconnect();
                    return Ok(());
                }
                Ok(Err(e)) => bail!("publishing to {topic}: {e}"),
                _ => {}
            }
        }
        bail!("no PUBACK for {topic} within 5 s")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A 640×480 frame with one steady face, for the tests that run the binaries on files: the
/// demo camera's drawn face, happy, centred near (320, 250) and about 200 px tall. It needs no
/// data set, so these tests run on any clone.
pub fn face_frame() -> image::RgbImage {
    xpressify_device::camera::demo::face::frame(xpressify_protocol::Emotion::Happy, 0)
}

/// A spawned binary that is killed when the test ends, passed or failed, so no process
/// outlives its test (and its temporary files).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The locked listener of [`Broker::start_secured`].
pub struct SecureListener {
    /// `mqtts://localhost:PORT`.
    pub url: String,
    /// The PEM CA certificate that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// The one user the listener accepts.
    pub username: String,
    /// That user's password.
    pub password: String,
}

/// A throwaway CA (`ca.pem`) and a server certificate for `localhost`/127.0.0.1 signed by it
/// (`server.pem`, `server.key`), made with the `openssl` command.
fn make_test_certificates(dir: &Path) -> anyhow::Result<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_tool(
        Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args([
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Xpressify test CA",
            ]),
    )?;
    run_tool(
        Command::new("openssl")
            .current_dir(dir)
            .arg("req")
            .args(ec)
            .args([
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ]),
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )?;
    run_tool(Command::new("openssl").current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]))
}

fn run_tool(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Mosquitto drops root privileges before it reads some files: let its user read ours.
fn make_readable(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

fn mosquitto_path() -> PathBuf {
    [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("mosquitto did not listen on port {port} within {limit:?}")
}

/// A name no other test in any process uses: for prefixes, device ids and client ids.
pub fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{stem}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether the broker delivered it from its retained store.
    pub retain: bool,
}

/// An MQTT client that records every message on its filters, on a thread of its own.
pub struct Subscriber {
    rx: mpsc::Receiver<Message>,
    seen: Vec<Message>,
    client: Client,
}

impl Subscriber {
    /// Subscribes to `filters` on any broker (the tests' Mosquitto, or the one-box's own)
    /// and returns once the broker has acknowledged them.
    pub fn connect(host: &str, port: u16, filters: &[String]) -> anyhow::Result<Subscriber> {
        Subscriber::connect_as(host, port, None, filters)
    }

    /// As [`Subscriber::connect`], logged in as `login` (user name, password).
    pub fn connect_as(
        host: &str,
        port: u16,
        login: Option<(&str, &str)>,
        filters: &[String],
    ) -> anyhow::Result<Subscriber> {
        let mut opts = MqttOptions::new(unique_name("sub"), host, port);
        opts.set_max_packet_size(4 << 20, 4 << 20);
        if let Some((user, password)) = login {
            opts.set_credentials(user, password);
        }
        let (client, mut connection) = Client::new(opts, 100);
        for f in filters {
            client.subscribe(f.clone(), QoS::AtLeastOnce)?;
        }
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let wanted = filters.len();
        std::thread::spawn(move || {
            let mut acked = 0;
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acked += 1;
                        if acked == wanted {
                            let _ = ready_tx.send(Ok(()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let m = Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        };
                        if tx.send(m).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .context("subscriptions not acknowledged within 5 s")?
            .map_err(|e| anyhow::anyhow!("the subscriber's connection failed: {e}"))?;
        Ok(Subscriber {
            rx,
            seen: Vec::new(),
            client,
        })
    }

    /// Waits until some received message satisfies `pred` and returns it.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&Message) -> bool,
    ) -> anyhow::Result<Message> {
        if let Some(m) = self.seen.iter().find(|m| pred(m)) {
            return Ok(m.clone());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => {
                    self.seen.push(m.clone());
                    if pred(&m) {
                        return Ok(m);
                    }
                }
                Err(_) => bail!(
                    "timed out after {limit:?} waiting for {what}; saw {} message(s): {:?}",
                    self.seen.len(),
                    self.seen.iter().map(|m| &m.topic).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Every message received so far (waiting `settle` for stragglers first).
    pub fn messages(&mut self, settle: Duration) -> &[Message] {
        while let Ok(m) = self.rx.recv_timeout(settle) {
            self.seen.push(m);
        }
        &self.seen
    }
}

/// Publishes one message at QoS 1 as `user` and waits for the broker's acknowledgement
/// (which Mosquitto, and the one-box broker's gate, send even when their rules drop it).
pub fn publish_as(
    host: &str,
    port: u16,
    (user, password): (&str, &str),
    topic: &str,
    payload: &[u8],
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(unique_name(user), host, port);
    opts.set_credentials(user, password);
    let (client, mut connection) = Client::new(opts, 10);
    client.publish(topic, QoS::AtLeastOnce, false, payload.to_vec())?;
    for event in connection.iter() {
        match event {
            Ok(Event::Incoming(Packet::PubAck(_))) => break,
            Ok(_) => {}
            Err(e) => bail!("{user} publishing {topic}: {e}"),
        }
    }
    let _ = client.disconnect();
    Ok(())
}

/// The broker's answer to a login as `login` (`None`: anonymous): `Ok(())` when accepted,
/// else the error rumqttc reports (a refused CONNACK names its code).
pub fn try_login(host: &str, port: u16, login: Option<(&str, &str)>) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(unique_name("login"), host, port);
    if let Some((user, password)) = login {
        opts.set_credentials(user, password);
    }
    let (client, mut connection) = Client::new(opts, 10);
    let answer = match connection.iter().next() {
        Some(Ok(Event::Incoming(Packet::ConnAck(_)))) => Ok(()),
        Some(Ok(other)) => Err(anyhow::anyhow!("unexpected first event {other:?}")),
        Some(Err(e)) => Err(anyhow::anyhow!("{e}")),
        None => Err(anyhow::anyhow!("no answer")),
    };
    let _ = client.disconnect();
    answer
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// A binary of this workspace, freshly built. `cargo test` only builds the binaries of the
/// package under test, so this runs `cargo build` for the one asked for (a no-op when it is
/// up to date) in the profile and target directory of the running test.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary has no target directory")?;
    let path = dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "--manifest-path",
            manifest,
            // The root manifest is also the `xpressify` package: without --workspace, --bin
            // would look only there. --workspace also unifies features as `cargo test
            // --workspace` does, so the dependencies built for the tests are reused, as long
            // as no dev-dependency turns on a feature of a crate the binaries use (proptest
            // in Cargo.toml once made this build compile tract a second time).
            "--workspace",
            "--bin",
            name,
        ]);
        if dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        // Cargo gives this test process the variables of its package (CARGO_MANIFEST_DIR,
        // CARGO_PKG_NAME…). Build scripts such as ring's re-run when those change, so passing
        // them on would rebuild half the dependency tree here and again at the next
        // `cargo test`.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_EXE_")
                || key.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                    "OUT_DIR",
                ]
                .contains(&key.as_ref())
            {
                cmd.env_remove(key.as_ref());
            }
        }
        let status = cmd
            .status()
            .with_context(|| format!("running cargo build --bin {name}"))?;
        if !status.success() {
            bail!("cargo build --bin {name} failed ({status})");
        }
        built.push(name.to_string());
    }
    if !path.exists() {
        bail!("{} missing after cargo build", path.display());
    }
    Ok(path)
}
