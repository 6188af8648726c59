//! TVs and networked speakers through Home Assistant: `media_player.play_media` and friends
//! over its REST API with a long-lived access token — the route every HA media player
//! supports (Cast, DLNA, Sonos, Kodi, smart TVs…).
//!
//! YouTube picks go the way the player needs (`home_assistant.youtube`): `cast` asks a Google
//! Cast entity to open the video in its YouTube app (`media_content_type: cast` with
//! `{"app_name": "youtube", "media_id": "<id>"}`, Home Assistant's Cast integration); `stream`
//! hands any player (Sonos, DLNA, Music Assistant, Cast too) the companion's `/stream` URL,
//! which yt-dlp feeds. Catalogue files go as `/media` URLs.
//!
//! Home Assistant answers `200` to `play_media` even when the player cannot play what it was
//! given, so the sink reads the entity's state: a pick that has not reached `playing`
//! (or `buffering`, `paused`) within `start_timeout_s` is reported as a failure. The end of a
//! track is seen the same way: once the player has been `playing`, a return to `idle`, `off`
//! or `standby` means the pick is over.

use std::time::{Duration, Instant};
use xpressify_protocol::Secret;
use xpressify_protocol::config::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use xpressify_protocol::Track;

use super::{
    PlayItem, PlaybackSink, SinkError, SinkEvent, StreamUrls, overdue, percent_encode, poll_due,
};

const NAME: &str = "home_assistant";

/// How YouTube picks reach a Home Assistant media player (`home_assistant.youtube`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum YoutubeMode {
    /// The video in the player's YouTube app, through Home Assistant's Cast integration (a
    /// Chromecast, Google TV or Nest entity).
    #[default]
    Cast,
    /// The audio as a plain URL (the companion's `/stream`, fed by yt-dlp) that any player
    /// opens.
    Stream,
}

/// `[home_assistant]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistantConfig {
    /// Home Assistant's base URL, e.g. `http://homeassistant.local:8123`.
    pub url: String,
    /// A long-lived access token (HA profile → Security). Never logged.
    pub token: Secret,
    /// A file holding the token instead (or a systemd credential's name).
    pub token_file: String,
    /// The media player, e.g. `media_player.living_room_tv`.
    pub entity_id: String,
    /// How the player reaches this companion's HTTP server, for catalogue files and streams
    /// (e.g. `http://192.168.1.20:8080`); empty: `http.public_url`.
    pub media_base_url: String,
    /// `cast` (the player's YouTube app) or `stream` (a plain audio URL any player opens).
    pub youtube: YoutubeMode,
    /// Seconds the player may take to start a pick before it counts as refused.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub start_timeout_s: f64,
    /// Seconds between state polls.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub poll_s: f64,
    /// Seconds before a request is abandoned.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub timeout_s: f64,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        HomeAssistantConfig {
            url: String::new(),
            token: Secret::default(),
            token_file: String::new(),
            entity_id: String::new(),
            media_base_url: String::new(),
            youtube: YoutubeMode::Cast,
            start_timeout_s: 20.0,
            poll_s: 2.0,
            timeout_s: 10.0,
        }
    }
}

impl HomeAssistantConfig {
    /// Checks the keys the sink needs; names the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, r: &str| {
            Err(ConfigError::invalid(
                format!("home_assistant.{k}"),
                r.to_string(),
            ))
        };
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad(
                "url",
                "must be Home Assistant's http:// or https:// address",
            );
        }
        if self.token.expose().trim().is_empty() {
            return bad("token", "a long-lived access token is needed");
        }
        if !self.entity_id.starts_with("media_player.") {
            return bad(
                "entity_id",
                "must be a media player, e.g. media_player.living_room",
            );
        }
        if !(self.poll_s >= 0.2 && self.poll_s <= 60.0) {
            return bad("poll_s", "must be 0.2 to 60");
        }
        if !(self.timeout_s > 0.0 && self.timeout_s <= 120.0) {
            return bad("timeout_s", "must be above 0 and at most 120");
        }
        if !(self.start_timeout_s >= 1.0 && self.start_timeout_s <= 300.0) {
            return bad("start_timeout_s", "must be 1 to 300");
        }
        Ok(())
    }
}

/// The Home Assistant sink.
pub struct HomeAssistantSink {
    config: HomeAssistantConfig,
    http: reqwest::Client,
    /// A pick was started and has not ended.
    active: bool,
    /// The player reported `playing` for the active pick.
    seen_playing: bool,
    /// When the active pick was handed over.
    started: Option<Instant>,
    last_poll: Option<Instant>,
    /// `http.read_token`, added to `/media` URLs so the player may fetch them.
    media_token: Option<String>,
}

fn err(message: impl Into<String>) -> SinkError {
    SinkError::new(NAME, message)
}

impl HomeAssistantSink {
    /// A sink for a validated config. Installs ring as the TLS provider if none is.
    pub fn new(config: HomeAssistantConfig) -> Result<Self, SinkError> {
        crate::install_tls();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(config.timeout_s))
            .build()
            .map_err(|e| err(format!("cannot start an HTTP client: {e}")))?;
        Ok(HomeAssistantSink {
            config,
            http,
            active: false,
            seen_playing: false,
            started: None,
            last_poll: None,
            media_token: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.url.trim_end_matches('/'))
    }

    async fn check(
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, SinkError> {
        let response = response.map_err(|e| {
            err(if e.is_timeout() {
                "Home Assistant did not answer in time".to_string()
            } else {
                format!("cannot reach Home Assistant: {}", e.without_url())
            })
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(err(match status.as_u16() {
            401 => "Home Assistant refused the token (home_assistant.token)".to_string(),
            404 => format!(
                "Home Assistant does not know it (HTTP 404): {}",
                body.trim()
            ),
            code => format!("Home Assistant answered HTTP {code}: {}", body.trim()),
        }))
    }

    /// Has `/media` URLs carry `token` (`?access_token=`) for a companion whose reading needs
    /// one (`http.read_token`; empty: none). A TV cannot send headers with a media URL.
    pub fn with_media_token(mut self, token: &str) -> Self {
        self.media_token = (!token.is_empty()).then(|| token.to_string());
        self
    }

    /// Calls `media_player.<service>` on the configured entity.
    async fn call(&self, service: &str, mut data: Value) -> Result<(), SinkError> {
        data["entity_id"] = json!(self.config.entity_id);
        let response = self
            .http
            .post(self.url(&format!("/api/services/media_player/{service}")))
            .bearer_auth(self.config.token.expose().trim())
            .json(&data)
            .send()
            .await;
        Self::check(response).await.map(drop)
    }

    /// What `play_media` is sent for a pick: its content id and type.
    fn media(&self, item: &PlayItem) -> Result<(String, &'static str), SinkError> {
        match (&item.track, self.config.youtube) {
            (Track::Youtube { video_id }, YoutubeMode::Cast) => Ok((
                json!({"app_name": "youtube", "media_id": video_id}).to_string(),
                "cast",
            )),
            (Track::Youtube { .. }, YoutubeMode::Stream) => {
                if self.config.media_base_url.is_empty() {
                    return Err(err(
                        "home_assistant.youtube = \"stream\" needs home_assistant.media_base_url \
                         or http.public_url: how the player reaches this companion",
                    ));
                }
                Ok((
                    StreamUrls::new(
                        &self.config.media_base_url,
                        self.media_token.as_deref().unwrap_or(""),
                    )
                    .of(item),
                    "music",
                ))
            }
            (Track::Local { .. }, _) => Ok((self.media_url(item)?, "music")),
        }
    }

    /// The `/media` URL of a catalogue pick.
    fn media_url(&self, item: &PlayItem) -> Result<String, SinkError> {
        match &item.track {
            Track::Youtube { .. } => Err(err("a YouTube pick has no catalogue file")),
            Track::Local { file } if !self.config.media_base_url.is_empty() => {
                let mut url = format!(
                    "{}/media/{}",
                    self.config.media_base_url.trim_end_matches('/'),
                    file.split('/')
                        .map(percent_encode)
                        .collect::<Vec<_>>()
                        .join("/")
                );
                if let Some(token) = &self.media_token {
                    url = format!("{url}?access_token={}", percent_encode(token));
                }
                Ok(url)
            }
            Track::Local { .. } => Err(err(
                "a catalogue file was picked but neither home_assistant.media_base_url nor \
                 http.public_url says how the player reaches this companion",
            )),
        }
    }
}

impl PlaybackSink for HomeAssistantSink {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        let (id, kind) = self.media(item)?;
        self.call(
            "play_media",
            json!({"media_content_id": id, "media_content_type": kind}),
        )
        .await?;
        self.active = true;
        self.seen_playing = false;
        self.started = Some(Instant::now());
        self.last_poll = None;
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SinkError> {
        self.call("media_pause", json!({})).await
    }

    async fn resume(&mut self) -> Result<(), SinkError> {
        self.call("media_play", json!({})).await
    }

    async fn stop(&mut self) -> Result<(), SinkError> {
        self.active = false;
        self.call("media_stop", json!({})).await
    }

    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        let level = f64::from(percent.min(100)) / 100.0;
        self.call("volume_set", json!({"volume_level": level}))
            .await
    }

    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        if !self.active || !poll_due(&mut self.last_poll, self.config.poll_s) {
            return Ok(None);
        }
        let response = self
            .http
            .get(self.url(&format!("/api/states/{}", self.config.entity_id)))
            .bearer_auth(self.config.token.expose().trim())
            .send()
            .await;
        let state: Value = Self::check(response)
            .await?
            .json()
            .await
            .map_err(|e| err(format!("unreadable state: {e}")))?;
        let now = state.get("state").and_then(Value::as_str).unwrap_or("");
        match now {
            "playing" | "buffering" | "paused" => self.seen_playing = true,
            "idle" | "off" | "standby" | "on" if self.seen_playing => {
                self.active = false;
                return Ok(Some(SinkEvent::Ended));
            }
            _ if !self.seen_playing && overdue(self.started, self.config.start_timeout_s) => {
                // Home Assistant took the call (200) but the player never started it.
                self.active = false;
                return Ok(Some(SinkEvent::Failed(format!(
                    "{} did not start playing within {} s (state {now:?}): the player cannot \
                     play it{}",
                    self.config.entity_id,
                    self.config.start_timeout_s,
                    match self.config.youtube {
                        YoutubeMode::Cast =>
                            "; for a player without Google Cast's YouTube app set \
                                              home_assistant.youtube = \"stream\"",
                        YoutubeMode::Stream => "",
                    }
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
    fn catalogue_paths_become_encoded_urls() {
        let sink = HomeAssistantSink::new(HomeAssistantConfig {
            media_base_url: "http://10.0.0.2:8080/".into(),
            ..HomeAssistantConfig::default()
        })
        .expect("sink");
        let item = PlayItem {
            pick_id: 1,
            track: Track::Local {
                file: "calm/rain & thunder.ogg".into(),
            },
            title: "t".into(),
            artist: String::new(),
        };
        assert_eq!(
            sink.media_url(&item).expect("url"),
            "http://10.0.0.2:8080/media/calm/rain%20%26%20thunder.ogg"
        );
        let sink = sink.with_media_token("read+token/1");
        assert_eq!(
            sink.media_url(&item).expect("url"),
            "http://10.0.0.2:8080/media/calm/rain%20%26%20thunder.ogg?access_token=read%2Btoken%2F1"
        );
    }

    #[test]
    fn a_missing_token_is_named() {
        let c = HomeAssistantConfig {
            url: "http://ha:8123".into(),
            entity_id: "media_player.tv".into(),
            ..HomeAssistantConfig::default()
        };
        assert_eq!(
            c.validate().err().and_then(|e| e.key().map(String::from)),
            Some("home_assistant.token".into())
        );
    }
}
