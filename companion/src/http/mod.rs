//! The HTTP API the web page (and scripts) use: status, history, the music mapping, commands,
//! the web player's state, and the catalogue's files for players that fetch by URL.
//!
//! | method and path          | what                                                     |
//! |--------------------------|----------------------------------------------------------|
//! | `GET /api/status`        | mood, now playing, devices, YouTube's state, problems     |
//! | `GET /api/history`       | newest moods, picks, corrections (`?limit=N`, ≤ 2000;    |
//! |                          | `&room=NAME`: that room's picks and devices' moods)       |
//! | `GET /api/mapping`       | the emotion → music table and policy                      |
//! | `PUT /api/mapping`       | replace it (validated, saved in the store)                |
//! | `POST /api/command`      | `{"command":"skip"}` etc., as on MQTT (`?room=NAME`)      |
//! | `GET /api/player`        | what the web player should do (sink `web`)                |
//! | `POST /api/player/report`| `{"pick_id":N,"event":"ended"}` or `"failed"`             |
//! | `GET /media/<file>`      | a catalogue file (streamed; `Range` for seeking)          |
//! | `GET /stream/<pick id>`  | any pick as audio: its file, or YouTube through yt-dlp    |
//! | `GET /api/events`        | Server-Sent Events: `status` and `player` on every change |
//! | `POST /api/mood-feedback`| "that's not my mood": `{"device","detected","actual"}`    |
//! | `POST /api/calibration/reset?device=ID` | forget the device's corrections          |
//! | `GET /api/library`       | the own music's tracks and their places ([`library`])     |
//! | `PUT /api/library/place` | move a track on the mood plane (`DELETE`: move it back)   |
//! | `GET /`                  | the web page (its assets are inside the binary)           |
//!
//! Reading is open to the LAN (to requests whose `Host` is the box's, see [`guard`]) unless
//! `http.read_token` is set; every request that changes something (`PUT`, `POST`) must carry
//! the control token as `Authorization: Bearer <token>` (config `http.token`, or the one
//! generated at first start), else it gets `401` (see [`auth`]). Errors are JSON `{"error": "..."}` with a
//! 4xx/5xx status. No secret (API key, token) is ever part of an answer. Connections are
//! bounded by [`serve`]; event streams by `http.max_event_streams` (one more gets `503`).

pub mod auth;
pub mod guard;
pub mod library;
pub mod media;
pub mod serve;
pub mod slots;
pub mod stream;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use xpressify_protocol::{Command, Emotion, Track};

use self::auth::{ControlAccess, ReadAccess};
use crate::calibration::keeper::CorrectionError;
use crate::mapping::Mapping;
use crate::recommend::Recommender;
use crate::service::{Control, Status};
use crate::sink::{SinkEvent, WebPlayerHandle};
use crate::store::{MoodCorrection, MoodRecord, PickRecord, Store};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store, for history.
    pub store: Arc<Store>,
    /// The recommender, for the mapping.
    pub recommender: Arc<Recommender>,
    /// The service's newest status.
    pub status: watch::Receiver<Status>,
    /// Commands to the service.
    pub control: mpsc::Sender<Control>,
    /// The web player (when `player.sink = "web"`).
    pub web_player: Option<WebPlayerHandle>,
    /// The catalogue's files, for `/media`.
    pub media: Option<Arc<media::MediaFiles>>,
    /// The control token and the optional read token.
    pub tokens: auth::Tokens,
    /// One permit per open `/api/events` stream (`http.max_event_streams`).
    pub event_streams: Arc<tokio::sync::Semaphore>,
    /// YouTube picks through yt-dlp, for `/stream`.
    pub youtube_streams: Arc<stream::YoutubeStreams>,
}

/// The store key of a generated control token.
pub const TOKEN_SETTING: &str = "http.token";

/// The control token: the configured one, else the one generated earlier, else a new one
/// (saved). Returns it and whether it was just generated (so the caller prints it once).
pub fn control_token(
    configured: &str,
    store: &Store,
) -> Result<(String, bool), crate::store::StoreError> {
    if !configured.is_empty() {
        return Ok((configured.to_string(), false));
    }
    if let Some(saved) = store.setting(TOKEN_SETTING)? {
        return Ok((saved, false));
    }
    let bytes: [u8; 16] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    store.set_setting(TOKEN_SETTING, &token)?;
    Ok((token, true))
}

/// The API's one error type: a status and a message that tells the fix, answered as
/// `{"error": "..."}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

/// A store that fails is the server's fault: 500, with the store's message.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// A body that is not the JSON a route takes: 400, with serde's message naming the field.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, e.body_text())
    }
}

/// A blocking task that panicked or was cancelled: 500.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

/// The router with every route, behind the `Host` check and the security headers.
pub fn router(state: AppState, hosts: guard::HostCheck) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/metrics", get(metrics))
        .route("/api/history", get(history))
        .route("/api/mapping", get(get_mapping).put(put_mapping))
        .route("/api/command", post(command))
        .route("/api/player", get(player))
        .route("/api/player/report", post(player_report))
        .route("/media/{*file}", get(media))
        .route("/stream/{pick_id}", get(stream))
        .route("/api/events", get(events))
        .route("/api/mood-feedback", post(mood_feedback))
        .route("/api/calibration/reset", post(reset_calibration))
        .merge(library::routes())
        .route(
            "/",
            get(|| {
                asset(
                    "text/html; charset=utf-8",
                    include_str!("../../web/index.html"),
                )
            }),
        )
        .route(
            "/app.js",
            get(|| {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/app.js"),
                )
            }),
        )
        .route(
            "/style.css",
            get(|| {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../web/style.css"),
                )
            }),
        )
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(hosts),
            guard::check_host,
        ))
        .layer(axum::middleware::from_fn(guard::security_headers))
}

/// A page asset from inside the binary; revalidated on every load so an upgrade shows at once.
async fn asset(mime: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Which state an event carries.
#[derive(Clone, Copy)]
enum Topic {
    Status,
    Player,
}

/// `status` and `player` events: the current ones at once, then one per change. Each stream
/// holds one of `http.max_event_streams` permits until the client goes.
async fn events(
    _: ReadAccess,
    State(s): State<AppState>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let permit = s.event_streams.clone().try_acquire_owned().map_err(|_| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many open event streams (http.max_event_streams); close a page and try again"
                .into(),
        )
    })?;
    let status = s.status.clone();
    let player = s.web_player.as_ref().map(WebPlayerHandle::subscribe);
    let first: Vec<Topic> = if player.is_some() {
        vec![Topic::Player, Topic::Status]
    } else {
        vec![Topic::Status]
    };
    let stream = futures_util::stream::unfold(
        (status, player, first, permit),
        |(mut status, mut player, mut pending, permit)| async move {
            let topic = match pending.pop() {
                Some(t) => t,
                None => {
                    let player_changed = async {
                        match player.as_mut() {
                            Some(p) => p.changed().await.is_ok(),
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        ok = status.changed() => { ok.ok()?; Topic::Status }
                        ok = player_changed => { ok.then_some(())?; Topic::Player }
                    }
                }
            };
            let event = match topic {
                Topic::Status => Event::default()
                    .event("status")
                    .json_data(&*status.borrow_and_update()),
                Topic::Player => {
                    let now = player.as_mut().map(|p| p.borrow_and_update().clone());
                    Event::default().event("player").json_data(&now)
                }
            }
            .unwrap_or_default();
            Some((Ok(event), (status, player, pending, permit)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The body of `POST /api/mood-feedback`: which device, what it showed, what the mood is.
/// What the device read is added by the companion, never taken from the request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionRequest {
    device: String,
    detected: Option<Emotion>,
    actual: Option<Emotion>,
}

async fn mood_feedback(
    State(s): State<AppState>,
    _: ControlAccess,
    body: Result<Json<CorrectionRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(c) = body?;
    if c.device.is_empty() || c.device.len() > 64 {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "device: 1 to 64 characters".into(),
        ));
    }
    let (reply, done) = tokio::sync::oneshot::channel();
    ask(
        &s,
        Control::Correct {
            device: c.device,
            detected: c.detected,
            actual: c.actual,
            reply,
        },
        done,
    )
    .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceParam {
    device: String,
}

/// `POST /api/calibration/reset?device=ID`: forget the device's corrections; the identity
/// calibration is published.
async fn reset_calibration(
    State(s): State<AppState>,
    _: ControlAccess,
    Query(p): Query<DeviceParam>,
) -> Result<StatusCode, ApiError> {
    let device = xpressify_protocol::topics::checked_device_id(p.device)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let (reply, done) = tokio::sync::oneshot::channel();
    ask(&s, Control::ResetCalibration { device, reply }, done).await?;
    Ok(StatusCode::OK)
}

/// Hands `control` to the service and waits for its answer.
async fn ask(
    s: &AppState,
    control: Control,
    done: tokio::sync::oneshot::Receiver<Result<(), CorrectionError>>,
) -> Result<(), ApiError> {
    let stopping = || {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is stopping".into(),
        )
    };
    s.control.send(control).await.map_err(|_| stopping())?;
    match done.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e @ CorrectionError::TooMany(_))) => {
            Err(ApiError(StatusCode::TOO_MANY_REQUESTS, e.to_string()))
        }
        Ok(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(_) => Err(stopping()),
    }
}

async fn status(_: ReadAccess, State(s): State<AppState>) -> Json<Status> {
    Json(s.status.borrow().clone())
}

/// `GET /metrics`: Prometheus' text format (see [`crate::telemetry`]); reading it needs what
/// reading the status needs.
async fn metrics(_: ReadAccess) -> Result<Response, ApiError> {
    let text = crate::telemetry::render().ok_or_else(|| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "no metrics: another metrics recorder runs in this process".into(),
        )
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            xpressify_protocol::telemetry::CONTENT_TYPE,
        )],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
struct HistoryParams {
    limit: Option<usize>,
    /// Only this room: its picks, and the moods of the devices in it now.
    room: Option<String>,
}

/// `?room=NAME` on a command.
#[derive(Deserialize)]
struct RoomParam {
    room: Option<String>,
}

/// The room a request names must exist: `404` naming the rooms there are.
fn known_room(
    s: &AppState,
    room: Option<String>,
) -> Result<Option<crate::status::RoomView>, ApiError> {
    let Some(name) = room else {
        return Ok(None);
    };
    let status = s.status.borrow();
    match status.rooms.iter().find(|r| r.name == name) {
        Some(r) => Ok(Some(r.clone())),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no room {name:?}; the rooms are: {}",
                status
                    .rooms
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// A pick with the feedback it got.
#[derive(Serialize)]
struct PickView {
    #[serde(flatten)]
    pick: PickRecord,
    feedback: Vec<(String, u32)>,
}

#[derive(Serialize)]
struct History {
    moods: Vec<MoodRecord>,
    picks: Vec<PickView>,
    corrections: Vec<MoodCorrection>,
}

/// The most rows of each kind one history request reads.
pub const HISTORY_LIMIT: usize = 2000;

/// `GET /api/history`: a handful of queries whatever the limit, run off the async threads so a
/// slow read never holds up the service or the other requests.
async fn history(
    _: ReadAccess,
    State(s): State<AppState>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let limit = p.limit.unwrap_or(50).clamp(1, HISTORY_LIMIT);
    let room = known_room(&s, p.room)?;
    let store = s.store.clone();
    let read = move || -> Result<History, crate::store::StoreError> {
        let mut moods = store.recent_moods(limit)?;
        let picks = match &room {
            Some(r) => {
                moods.retain(|m| r.devices.contains(&m.device));
                store.recent_picks_in(&r.name, limit)?
            }
            None => store.recent_picks(limit)?,
        };
        let first = picks.iter().map(|p| p.id).min().unwrap_or(i64::MAX);
        let mut feedback = store.feedback_since_pick(first)?;
        let picks = picks
            .into_iter()
            .map(|pick| PickView {
                feedback: feedback.remove(&pick.id).unwrap_or_default(),
                pick,
            })
            .collect();
        let corrections = store.recent_mood_corrections(limit)?;
        Ok(History {
            moods,
            picks,
            corrections,
        })
    };
    Ok(Json(tokio::task::spawn_blocking(read).await??))
}

async fn get_mapping(_: ReadAccess, State(s): State<AppState>) -> Json<Mapping> {
    Json(s.recommender.mapping())
}

async fn put_mapping(
    State(s): State<AppState>,
    _: ControlAccess,
    body: Result<Json<Mapping>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Mapping>, ApiError> {
    let Json(mapping) = body?;
    s.recommender
        .set_mapping(mapping)
        .map(Json)
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))
}

async fn command(
    State(s): State<AppState>,
    _: ControlAccess,
    Query(p): Query<RoomParam>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let command =
        Command::decode(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let room = known_room(&s, p.room)?.map(|r| r.name);
    s.control
        .send(Control::Command { command, room })
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is stopping".into(),
            )
        })?;
    Ok(StatusCode::ACCEPTED)
}

async fn player(_: ReadAccess, State(s): State<AppState>) -> Result<Response, ApiError> {
    let handle = s.web_player.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "the web player is not the sink (player.sink)".into(),
        )
    })?;
    Ok(Json(handle.current()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    pick_id: i64,
    event: ReportEvent,
    #[serde(default)]
    message: String,
}

/// What the page's player reports about the pick it plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReportEvent {
    /// It played to its end.
    Ended,
    /// It could not play.
    Failed,
}

async fn player_report(
    State(s): State<AppState>,
    _: ControlAccess,
    body: Result<Json<Report>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(r) = body?;
    let handle = s.web_player.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "the web player is not the sink (player.sink)".into(),
        )
    })?;
    let event = match r.event {
        ReportEvent::Ended => SinkEvent::Ended,
        ReportEvent::Failed => SinkEvent::Failed(if r.message.is_empty() {
            "the web player could not play it".into()
        } else {
            r.message
        }),
    };
    if handle.report(r.pick_id, event) {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError(
            StatusCode::CONFLICT,
            format!("pick {} is not playing", r.pick_id),
        ))
    }
}

async fn media(
    _: ReadAccess,
    State(s): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    media::serve(s.media.as_deref(), &file, &headers).await
}

/// The pick behind a `/stream` URL, or `404`.
async fn streamed_pick(s: &AppState, pick_id: i64) -> Result<Track, ApiError> {
    let store = s.store.clone();
    tokio::task::spawn_blocking(move || store.pick(pick_id))
        .await??
        .map(|p| p.track)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no pick {pick_id}")))
}

/// `GET /stream/<id>`, and `HEAD`, which players send before they play: a catalogue file
/// answers as `GET` does without its body; a YouTube pick answers `HEAD` without starting
/// yt-dlp (which prefers MP4 audio).
async fn stream(
    _: ReadAccess,
    State(s): State<AppState>,
    Path(pick_id): Path<i64>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    match streamed_pick(&s, pick_id).await {
        Ok(Track::Local { file }) => media::serve(s.media.as_deref(), &file, &headers).await,
        Ok(Track::Youtube { .. }) if method == axum::http::Method::HEAD => (
            [
                (header::CONTENT_TYPE, "audio/mp4"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            Body::empty(),
        )
            .into_response(),
        Ok(Track::Youtube { video_id }) => s.youtube_streams.open(&video_id).await.into_response(),
        Err(e) => e.into_response(),
    }
}
