//! Local stand-ins for what lies outside this machine, speaking the real services' documented
//! protocols on loopback: YouTube Data API v3 `search.list`, and Home Assistant's REST API for
//! a media player. Each runs on a thread of its own and records every request it got.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A server on a thread of its own, stopped on drop.
struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(app: axum::Router) -> anyhow::Result<Running> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        Ok(Running {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The key the fake accepts; any other key is refused with `400 keyInvalid`.
pub const GOOD_KEY: &str = "AIzaFakeKeyForTests0123456789";

/// Fake YouTube Data API v3. Its answer depends on the query text `q`:
/// - contains `quota`: `403 quotaExceeded`, the documented quota error;
/// - contains `empty`: `200` with no items;
/// - contains `boom`: `500 backendError`, every time;
/// - contains `flaky`: `503` on the first call for that `q`, then results;
/// - contains `slow`: results after 3 s;
/// - anything else: `maxResults` videos with ids derived from `q`.
///
/// [`FakeYoutube::set_trouble`] overrides all of that for every query, to play an outage.
///
/// A request missing one of the parameters the companion must send (`part=snippet`,
/// `type=video`, `videoCategoryId=10`, `videoEmbeddable=true`, `q`, `maxResults`,
/// `safeSearch`) gets `400 badRequest`, as the real API does for a malformed search.
pub struct FakeYoutube {
    /// Base URL to configure as `youtube.api_base_url`.
    pub base_url: String,
    state: YoutubeState,
    _server: Running,
}

/// An outage the fake plays for every query until it is cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// `403 quotaExceeded`, as when the project's daily quota is spent.
    QuotaExceeded,
    /// `500 backendError`, every time.
    ServerError,
    /// Accepts the request and never answers.
    Hang,
}

#[derive(Clone, Default)]
struct YoutubeState {
    requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    trouble: Arc<Mutex<Option<Trouble>>>,
}

/// A deterministic 11-character video id for `(q, i)`.
pub fn video_id(q: &str, i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in q.bytes().chain(i.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    (0..11)
        .map(|k| ALPHABET[((h >> (k * 5)) & 63) as usize] as char)
        .collect()
}

fn youtube_error(status: StatusCode, reason: &str, domain: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}]
        }})),
    )
        .into_response()
}

async fn youtube_search(
    State(state): State<YoutubeState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let earlier = {
        let mut r = state.requests.lock().unwrap_or_else(|p| p.into_inner());
        let earlier = r.iter().filter(|p| p.get("q") == params.get("q")).count();
        r.push(params.clone());
        earlier
    };
    if params.get("key").map(String::as_str) != Some(GOOD_KEY) {
        return youtube_error(
            StatusCode::BAD_REQUEST,
            "keyInvalid",
            "usageLimits",
            "Bad Request",
        );
    }
    for (name, want) in [
        ("part", Some("snippet")),
        ("type", Some("video")),
        ("videoCategoryId", Some("10")),
        ("videoEmbeddable", Some("true")),
        ("q", None),
        ("maxResults", None),
        ("safeSearch", None),
    ] {
        let got = params.get(name);
        if got.is_none() || want.is_some_and(|w| got.map(String::as_str) != Some(w)) {
            return youtube_error(
                StatusCode::BAD_REQUEST,
                "badRequest",
                "global",
                &format!("Invalid value for parameter {name}"),
            );
        }
    }
    let q = params.get("q").cloned().unwrap_or_default();
    let trouble = *state.trouble.lock().unwrap_or_else(|p| p.into_inner());
    if trouble == Some(Trouble::Hang) {
        // Until the outage ends (or the fake stops: its drop ends it, so a graceful
        // shutdown does not wait on this request).
        while *state.trouble.lock().unwrap_or_else(|p| p.into_inner()) == Some(Trouble::Hang) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if q.contains("quota") || trouble == Some(Trouble::QuotaExceeded) {
        return youtube_error(
            StatusCode::FORBIDDEN,
            "quotaExceeded",
            "youtube.quota",
            "The request cannot be completed because you have exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.",
        );
    }
    if q.contains("boom") || trouble == Some(Trouble::ServerError) {
        return youtube_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "backendError",
            "global",
            "Backend Error",
        );
    }
    if q.contains("flaky") && earlier == 0 {
        return youtube_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "backendError",
            "global",
            "Backend Error",
        );
    }
    if q.contains("slow") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let n: usize = if q.contains("empty") {
        0
    } else {
        params
            .get("maxResults")
            .and_then(|m| m.parse().ok())
            .unwrap_or(5)
    };
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "kind": "youtube#searchResult",
                "etag": format!("etag{i}"),
                "id": {"kind": "youtube#video", "videoId": video_id(&q, i)},
                "snippet": {
                    "publishedAt": "2024-05-01T12:00:00Z",
                    "channelId": "UCfakechannel",
                    "title": format!("{q} #{i} &amp; friends"),
                    "description": "",
                    "thumbnails": {"default": {"url": "https://i.ytimg.com/vi/x/default.jpg", "width": 120, "height": 90}},
                    "channelTitle": format!("Channel {i}"),
                    "liveBroadcastContent": "none",
                    "publishTime": "2024-05-01T12:00:00Z"
                }
            })
        })
        .collect();
    Json(json!({
        "kind": "youtube#searchListResponse",
        "etag": "fake",
        "regionCode": params.get("regionCode").cloned().unwrap_or_else(|| "US".into()),
        "pageInfo": {"totalResults": 1_000_000, "resultsPerPage": n},
        "items": items
    }))
    .into_response()
}

impl FakeYoutube {
    /// Starts the fake on a free loopback port.
    pub fn start() -> anyhow::Result<FakeYoutube> {
        let state = YoutubeState::default();
        let app = axum::Router::new()
            .route("/youtube/v3/search", get(youtube_search))
            .with_state(state.clone());
        let server = Running::start(app)?;
        Ok(FakeYoutube {
            base_url: format!("http://{}/youtube/v3", server.addr),
            state,
            _server: server,
        })
    }

    /// Plays `trouble` for every request from now on; `None` ends the outage.
    pub fn set_trouble(&self, trouble: Option<Trouble>) {
        *self.state.trouble.lock().unwrap_or_else(|p| p.into_inner()) = trouble;
    }

    /// Every request's query parameters, in order.
    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many requests arrived.
    pub fn calls(&self) -> usize {
        self.state
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl Drop for FakeYoutube {
    fn drop(&mut self) {
        // Releases hanging requests before the server waits for them.
        self.set_trouble(None);
    }
}

/// The access token the fake Home Assistant accepts.
pub const HA_TOKEN: &str = "fake-long-lived-token";

/// One service call the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCall {
    /// `play_media`, `media_pause`, …
    pub service: String,
    /// The JSON body.
    pub data: Value,
}

/// What kind of media player the fake Home Assistant has: what its `play_media` can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaPlayer {
    /// A Google Cast entity (Chromecast, Google TV): `cast` requests for its apps, as the Cast
    /// integration reads them, and direct media URLs.
    Cast,
    /// Any other player (Sonos, a DLNA TV, Music Assistant): direct media URLs only.
    Renderer,
}

struct HaState {
    entity_id: String,
    player: HaPlayer,
    play_for: Duration,
    state: &'static str,
    started: Option<Instant>,
    calls: Vec<ServiceCall>,
}

type Ha = Arc<Mutex<HaState>>;

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {HA_TOKEN}"))
}

async fn ha_service(
    State(ha): State<Ha>,
    Path((domain, service)): Path<(String, String)>,
    headers: HeaderMap,
    Json(data): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "401: Unauthorized").into_response();
    }
    let mut ha = ha.lock().unwrap_or_else(|p| p.into_inner());
    if domain != "media_player"
        || data.get("entity_id").and_then(Value::as_str) != Some(ha.entity_id.as_str())
    {
        return (StatusCode::BAD_REQUEST, "400: Bad Request").into_response();
    }
    // Each service's schema, as Home Assistant's media_player declares it (an entity service
    // schema: unknown keys are refused with 400).
    let allowed: &[&str] = match service.as_str() {
        "play_media" => &[
            "entity_id",
            "media_content_id",
            "media_content_type",
            "enqueue",
            "announce",
            "extra",
        ],
        "volume_set" => &["entity_id", "volume_level"],
        _ => &["entity_id"],
    };
    let fits = data
        .as_object()
        .is_some_and(|o| o.keys().all(|k| allowed.contains(&k.as_str())))
        && match service.as_str() {
            "play_media" => ["media_content_id", "media_content_type"]
                .iter()
                .all(|k| data.get(k).and_then(Value::as_str).is_some()),
            "volume_set" => data
                .get("volume_level")
                .and_then(Value::as_f64)
                .is_some_and(|v| (0.0..=1.0).contains(&v)),
            _ => true,
        };
    if !fits {
        return (StatusCode::BAD_REQUEST, "400: Bad Request").into_response();
    }
    ha.calls.push(ServiceCall {
        service: service.clone(),
        data: data.clone(),
    });
    match service.as_str() {
        "play_media" => {
            // Home Assistant answers 200 whatever the player makes of it; what it makes of it
            // shows in the entity's state.
            let kind = data["media_content_type"].as_str().unwrap_or("");
            let id = data["media_content_id"].as_str().unwrap_or("");
            if plays(ha.player, kind, id) {
                ha.state = "playing";
                ha.started = Some(Instant::now());
            } else {
                ha.state = "idle";
                ha.started = None;
            }
        }
        "media_pause" => ha.state = "paused",
        "media_play" => ha.state = "playing",
        "media_stop" => {
            ha.state = "idle";
            ha.started = None;
        }
        "volume_set" => {}
        _ => return (StatusCode::BAD_REQUEST, "400: Bad Request").into_response(),
    }
    Json(json!([])).into_response()
}

/// Whether a player of `kind` starts `media_content_type` / `media_content_id`: the Cast
/// integration parses a `cast` id as JSON and quick-plays `app_name` with the rest (YouTube
/// needs `media_id`); every player opens a direct http(s) audio URL, and none plays a web page
/// such as a YouTube watch URL.
fn plays(player: HaPlayer, kind: &str, id: &str) -> bool {
    if kind == "cast" {
        let Ok(Value::Object(app)) = serde_json::from_str::<Value>(id) else {
            return false;
        };
        return player == HaPlayer::Cast
            && app.get("app_name").and_then(Value::as_str) == Some("youtube")
            && app
                .get("media_id")
                .and_then(Value::as_str)
                .is_some_and(|v| v.len() == 11);
    }
    (id.starts_with("http://") || id.starts_with("https://")) && !id.contains("youtube.com/watch")
}

async fn ha_state(
    State(ha): State<Ha>,
    Path(entity): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, "401: Unauthorized").into_response();
    }
    let mut ha = ha.lock().unwrap_or_else(|p| p.into_inner());
    if entity != ha.entity_id {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Entity not found."})),
        )
            .into_response();
    }
    if ha.state == "playing" && ha.started.is_some_and(|t| t.elapsed() >= ha.play_for) {
        ha.state = "idle";
        ha.started = None;
    }
    Json(json!({
        "entity_id": ha.entity_id,
        "state": ha.state,
        "attributes": {"friendly_name": "Living room TV"},
        "last_changed": "2026-11-26T12:00:00+00:00",
        "last_updated": "2026-11-26T12:00:00+00:00"
    }))
    .into_response()
}

/// Fake Home Assistant with one media player that plays each item for `play_for`, then
/// turns `idle`.
pub struct FakeHomeAssistant {
    /// Base URL to configure as `home_assistant.url`.
    pub url: String,
    state: Ha,
    _server: Running,
}

impl FakeHomeAssistant {
    /// Starts the fake with `entity_id`, a Google Cast player.
    pub fn start(entity_id: &str, play_for: Duration) -> anyhow::Result<FakeHomeAssistant> {
        FakeHomeAssistant::start_with(entity_id, HaPlayer::Cast, play_for)
    }

    /// Starts the fake with `entity_id`, a player of kind `player`.
    pub fn start_with(
        entity_id: &str,
        player: HaPlayer,
        play_for: Duration,
    ) -> anyhow::Result<FakeHomeAssistant> {
        let state: Ha = Arc::new(Mutex::new(HaState {
            entity_id: entity_id.into(),
            player,
            play_for,
            state: "idle",
            started: None,
            calls: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/api/services/{domain}/{service}", post(ha_service))
            .route("/api/states/{entity}", get(ha_state))
            .with_state(state.clone());
        let server = Running::start(app)?;
        Ok(FakeHomeAssistant {
            url: format!("http://{}", server.addr),
            state,
            _server: server,
        })
    }

    /// Every service call, in order.
    pub fn calls(&self) -> Vec<ServiceCall> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .calls
            .clone()
    }
}
