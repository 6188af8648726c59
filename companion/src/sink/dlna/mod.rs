//! DLNA / UPnP media renderers — TVs, AV receivers, networked speakers — with no Home
//! Assistant in between.
//!
//! The renderer is found by SSDP ([`ssdp`]) under the name `xpressify-companion players`
//! lists, or reached at its description URL; its description ([`upnp`]) gives the control
//! URLs. Each pick is handed over as the companion's `/stream` URL with DIDL-Lite metadata
//! (`Stop`, `SetAVTransportURI`, `Play`); `Pause`, `Play` and `Stop` follow the commands and
//! RenderingControl's `SetVolume` the volume. The end is seen by polling `GetTransportInfo`:
//! once the renderer has played, `STOPPED` or `NO_MEDIA_PRESENT` is the end, and
//! `ERROR_OCCURRED` is a failure. So is a pick that never starts: some renderers (gmediarender
//! among them) stay `PLAYING` at position 0 when they cannot fetch or decode the URL, so until
//! `GetPositionInfo` shows the position moving, `start_timeout_s` runs.

pub mod ssdp;
pub mod upnp;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{debug, info};
use xpressify_protocol::Track;
use xpressify_protocol::config::ConfigError;

use self::upnp::Renderer;
use super::{PlayItem, PlaybackSink, SinkError, SinkEvent, StreamUrls, overdue, poll_due};

const NAME: &str = "dlna";

/// `[dlna]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlnaConfig {
    /// The renderer: its name as `xpressify-companion players` lists it, its `uuid:…`, or
    /// its description URL (`http://…`).
    pub renderer: String,
    /// Where the search goes: SSDP's multicast group, or one renderer's `IP:1900`.
    pub ssdp_target: String,
    /// Seconds to wait for renderers to answer.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub search_s: f64,
    /// Seconds between transport polls.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub poll_s: f64,
    /// Seconds before a request is abandoned.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub timeout_s: f64,
    /// Seconds a pick may take to start before it counts as refused.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub start_timeout_s: f64,
}

impl Default for DlnaConfig {
    fn default() -> Self {
        DlnaConfig {
            renderer: String::new(),
            ssdp_target: ssdp::SSDP_GROUP.into(),
            search_s: 3.0,
            poll_s: 1.0,
            timeout_s: 10.0,
            start_timeout_s: 20.0,
        }
    }
}

impl DlnaConfig {
    /// Checks the keys the sink needs; names the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, r: &str| Err(ConfigError::invalid(format!("dlna.{k}"), r.to_string()));
        if self.renderer.trim().is_empty() {
            return bad(
                "renderer",
                "name the renderer as `xpressify-companion players` lists it",
            );
        }
        if self.ssdp_target.parse::<SocketAddr>().is_err() {
            return bad("ssdp_target", "must be IP:PORT, e.g. 239.255.255.250:1900");
        }
        for (key, value, low, high) in [
            ("search_s", self.search_s, 0.5, 30.0),
            ("poll_s", self.poll_s, 0.2, 60.0),
            ("timeout_s", self.timeout_s, 0.5, 120.0),
            ("start_timeout_s", self.start_timeout_s, 1.0, 300.0),
        ] {
            if !(value >= low && value <= high) {
                return bad(key, &format!("must be {low} to {high}"));
            }
        }
        Ok(())
    }

    fn target(&self) -> Result<SocketAddr, SinkError> {
        self.ssdp_target
            .parse()
            .map_err(|_| err("dlna.ssdp_target is not IP:PORT"))
    }
}

fn err(message: impl Into<String>) -> SinkError {
    SinkError::new(NAME, message)
}

fn client(timeout_s: f64) -> Result<reqwest::Client, SinkError> {
    crate::install_tls();
    reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(timeout_s))
        .redirect(reqwest::redirect::Policy::none())
        // A connection per request: renderers' small HTTP servers (libupnp's among them)
        // close a connection after an answer without saying so, and a reused one then fails.
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| err(format!("cannot start an HTTP client: {e}")))
}

/// Fetches and reads the description at `location`.
pub async fn describe(http: &reqwest::Client, location: &str) -> Result<Renderer, String> {
    let response = http
        .get(location)
        .send()
        .await
        .map_err(|e| format!("cannot fetch {location}: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("{location} answered HTTP {}", response.status()));
    }
    upnp::parse_description(location, &upnp::read_body(response).await?)
}

/// Every renderer that answers a search at `target` within `wait`: its description, or why it
/// could not be read.
pub async fn list(
    target: SocketAddr,
    wait: Duration,
    timeout_s: f64,
) -> Result<Vec<Result<Renderer, String>>, SinkError> {
    let http = client(timeout_s)?;
    let answers = ssdp::search(target, wait)
        .await
        .map_err(|e| err(format!("cannot search for renderers at {target}: {e}")))?;
    let mut found = Vec::new();
    for answer in answers {
        found.push(describe(&http, &answer.location).await);
    }
    Ok(found)
}

/// The renderer `dlna.renderer` names.
pub async fn find(config: &DlnaConfig) -> Result<Renderer, SinkError> {
    let wanted = config.renderer.trim();
    let http = client(config.timeout_s)?;
    if wanted.starts_with("http://") || wanted.starts_with("https://") {
        return describe(&http, wanted)
            .await
            .map_err(|e| err(format!("dlna.renderer: {e}")));
    }
    let target = config.target()?;
    let answers = ssdp::search(target, Duration::from_secs_f64(config.search_s))
        .await
        .map_err(|e| err(format!("cannot search for renderers at {target}: {e}")))?;
    // Described one by one until the one named answers: each answer costs a request, and a
    // LAN may hold many renderers.
    let mut renderers = Vec::new();
    for answer in answers {
        let Ok(r) = describe(&http, &answer.location).await else {
            continue;
        };
        if r.name.eq_ignore_ascii_case(wanted) || r.udn == wanted {
            return Ok(r);
        }
        renderers.push(r);
    }
    let names: Vec<&str> = renderers.iter().map(|r| r.name.as_str()).collect();
    Err(err(format!(
        "no renderer named {wanted:?} answered at {} within {} s (dlna.renderer); {}",
        config.ssdp_target,
        config.search_s,
        if names.is_empty() {
            "none answered: is it on, and on this network?".to_string()
        } else {
            format!("found: {}", names.join(", "))
        }
    )))
}

/// The DLNA sink.
pub struct DlnaSink {
    config: DlnaConfig,
    http: reqwest::Client,
    renderer: Renderer,
    urls: StreamUrls,
    active: bool,
    seen_playing: bool,
    /// The position moved past 0 (or the renderer cannot tell its position).
    progressed: bool,
    started: Option<Instant>,
    last_poll: Option<Instant>,
}

/// Seconds of a UPnP time (`H+:MM:SS[.F+]`); `None` for `NOT_IMPLEMENTED` and the like.
fn seconds(time: &str) -> Option<f64> {
    let mut parts = time.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, s): (f64, f64, f64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    Some(h * 3600.0 + m * 60.0 + s)
}

impl DlnaSink {
    /// Finds the renderer and sets the volume.
    pub async fn start(
        config: DlnaConfig,
        urls: StreamUrls,
        volume: u8,
    ) -> Result<DlnaSink, SinkError> {
        let renderer = find(&config).await?;
        info!(name = %renderer.name, location = %renderer.location, "DLNA renderer");
        let mut sink = DlnaSink {
            http: client(config.timeout_s)?,
            config,
            renderer,
            urls,
            active: false,
            seen_playing: false,
            progressed: false,
            started: None,
            last_poll: None,
        };
        if let Err(e) = sink.set_volume(volume).await {
            tracing::warn!("{e}");
        }
        Ok(sink)
    }

    /// The renderer in use.
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    async fn action(
        &self,
        service: &(String, String),
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<std::collections::HashMap<String, String>, SinkError> {
        let (kind, url) = service;
        let response = self
            .http
            .post(url)
            .header("Content-Type", "text/xml; charset=\"utf-8\"")
            .header("SOAPACTION", format!("\"{kind}#{action}\""))
            .body(upnp::envelope(kind, action, args))
            .send()
            .await
            .map_err(|e| {
                err(format!(
                    "{} did not take {action}: {}",
                    self.renderer.name,
                    e.without_url()
                ))
            })?;
        let status = response.status();
        let body = upnp::read_body(response)
            .await
            .map_err(|e| err(format!("{}: {action}: {e}", self.renderer.name)))?;
        let parsed = upnp::parse_response(action, &body);
        match parsed {
            Ok(out) if status.is_success() => Ok(out),
            Ok(_) => Err(err(format!(
                "{} answered {action} with HTTP {status}",
                self.renderer.name
            ))),
            Err(e) => Err(err(format!("{} refused {action}: {e}", self.renderer.name))),
        }
    }

    async fn transport(&self, action: &str, args: &[(&str, &str)]) -> Result<(), SinkError> {
        let mut all = vec![("InstanceID", "0")];
        all.extend_from_slice(args);
        self.action(&self.renderer.av_transport, action, &all)
            .await
            .map(drop)
    }
}

impl PlaybackSink for DlnaSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        let url = self.urls.of(item);
        let mime = match &item.track {
            Track::Local { file } => crate::http::media::mime(Path::new(file)),
            // What /stream asks yt-dlp for first.
            Track::Youtube { .. } => "audio/mp4",
        };
        let metadata = upnp::didl(&url, mime, &item.title, &item.artist);
        self.active = false;
        // Some renderers refuse a new URI while playing; a stopped one may refuse Stop.
        if let Err(e) = self.transport("Stop", &[]).await {
            debug!("{e}");
        }
        self.transport(
            "SetAVTransportURI",
            &[("CurrentURI", &url), ("CurrentURIMetaData", &metadata)],
        )
        .await?;
        self.transport("Play", &[("Speed", "1")]).await?;
        self.active = true;
        self.seen_playing = false;
        self.progressed = false;
        self.started = Some(Instant::now());
        self.last_poll = None;
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SinkError> {
        self.transport("Pause", &[]).await
    }

    async fn resume(&mut self) -> Result<(), SinkError> {
        self.transport("Play", &[("Speed", "1")]).await
    }

    async fn stop(&mut self) -> Result<(), SinkError> {
        self.active = false;
        self.transport("Stop", &[]).await
    }

    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        let Some(control) = self.renderer.rendering_control.clone() else {
            return Err(err(format!(
                "{} has no volume control (RenderingControl)",
                self.renderer.name
            )));
        };
        let volume = percent.min(100).to_string();
        self.action(
            &control,
            "SetVolume",
            &[
                ("InstanceID", "0"),
                ("Channel", "Master"),
                ("DesiredVolume", &volume),
            ],
        )
        .await
        .map(drop)
    }

    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        if !self.active || !poll_due(&mut self.last_poll, self.config.poll_s) {
            return Ok(None);
        }
        let info = self
            .action(
                &self.renderer.av_transport,
                "GetTransportInfo",
                &[("InstanceID", "0")],
            )
            .await?;
        let state = info
            .get("CurrentTransportState")
            .map(String::as_str)
            .unwrap_or("");
        if info.get("CurrentTransportStatus").map(String::as_str) == Some("ERROR_OCCURRED") {
            self.active = false;
            return Ok(Some(SinkEvent::Failed(format!(
                "{} could not play it (ERROR_OCCURRED)",
                self.renderer.name
            ))));
        }
        if state == "PLAYING" && !self.progressed {
            let position = self
                .action(
                    &self.renderer.av_transport,
                    "GetPositionInfo",
                    &[("InstanceID", "0")],
                )
                .await?;
            self.progressed = position
                .get("RelTime")
                .and_then(|t| seconds(t))
                .is_none_or(|s| s > 0.0);
        }
        match state {
            "PLAYING" | "PAUSED_PLAYBACK" => self.seen_playing = true,
            "STOPPED" | "NO_MEDIA_PRESENT" if self.seen_playing => {
                self.active = false;
                return Ok(Some(SinkEvent::Ended));
            }
            _ => {}
        }
        if !self.progressed
            && state != "PAUSED_PLAYBACK"
            && overdue(self.started, self.config.start_timeout_s)
        {
            self.active = false;
            return Ok(Some(SinkEvent::Failed(format!(
                "{} did not start it within {} s (state {state:?}, position 0)",
                self.renderer.name, self.config.start_timeout_s
            ))));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upnp_times_are_read() {
        assert_eq!(seconds("0:00:00"), Some(0.0));
        assert_eq!(seconds("01:02:03.500"), Some(3723.5));
        assert_eq!(seconds("NOT_IMPLEMENTED"), None);
        assert_eq!(seconds(""), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (c, key) in [
            (DlnaConfig::default(), "dlna.renderer"),
            (
                DlnaConfig {
                    renderer: "TV".into(),
                    ssdp_target: "239.255.255.250".into(),
                    ..DlnaConfig::default()
                },
                "dlna.ssdp_target",
            ),
            (
                DlnaConfig {
                    renderer: "TV".into(),
                    poll_s: 0.0,
                    ..DlnaConfig::default()
                },
                "dlna.poll_s",
            ),
        ] {
            assert_eq!(
                c.validate().err().and_then(|e| e.key().map(String::from)),
                Some(key.into())
            );
        }
    }
}
