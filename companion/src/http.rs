//! The HTTP API the web page (and scripts) use: status, history, the music mapping, commands,
//! the web player's state, and the catalogue's files for players that fetch by URL.
//!
//! | method and path          | what                                                     |
//! |--------------------------|----------------------------------------------------------|
//! | `GET /api/status`        | mood, now playing, devices, YouTube's state, problems     |
//! | `GET /api/history`       | newest moods and picks (`?limit=N`, default 50, max 500) |
//! | `GET /api/mapping`       | the emotion → music table and policy                      |
//! | `PUT /api/mapping`       | replace it (validated, saved in the store)                |
//! | `POST /api/command`      | `{"command":"skip"}` etc., as on MQTT                     |
//! | `GET /api/player`        | what the web player should do (sink `web`)                |
//! | `POST /api/player/report`| `{"pick_id":N,"event":"ended"}` or `"failed"`             |
//! | `GET /media/<file>`      | a catalogue file                                          |
//!
//! Errors are JSON `{"error": "..."}` with a 4xx/5xx status. No secret (API key, token) is
//! ever part of an answer.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use xpressify_protocol::Command;

use crate::mapping::Mapping;
use crate::recommend::Recommender;
use crate::service::{Control, Status};
use crate::sink::{SinkEvent, WebPlayerHandle};
use crate::store::{MoodRecord, PickRecord, Store};

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
    /// The catalogue folder, for `/media`.
    pub catalogue: Option<PathBuf>,
}

/// An error answer.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/history", get(history))
        .route("/api/mapping", get(get_mapping).put(put_mapping))
        .route("/api/command", post(command))
        .route("/api/player", get(player))
        .route("/api/player/report", post(player_report))
        .route("/media/{*file}", get(media))
        .with_state(state)
}

async fn status(State(s): State<AppState>) -> Json<Status> {
    Json(s.status.borrow().clone())
}

#[derive(Deserialize)]
struct HistoryParams {
    limit: Option<usize>,
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
}

async fn history(
    State(s): State<AppState>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let limit = p.limit.unwrap_or(50).clamp(1, 500);
    let internal =
        |e: crate::store::StoreError| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let moods = s.store.recent_moods(limit).map_err(internal)?;
    let mut picks = Vec::new();
    for pick in s.store.recent_picks(limit).map_err(internal)? {
        let feedback = s.store.feedback_for(pick.id).map_err(internal)?;
        picks.push(PickView { pick, feedback });
    }
    Ok(Json(History { moods, picks }))
}

async fn get_mapping(State(s): State<AppState>) -> Json<Mapping> {
    Json(s.recommender.mapping())
}

async fn put_mapping(
    State(s): State<AppState>,
    body: Result<Json<Mapping>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Mapping>, ApiError> {
    let Json(mapping) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    s.recommender
        .set_mapping(mapping)
        .map(Json)
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))
}

async fn command(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let command =
        Command::decode(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    s.control
        .send(Control::Command(command))
        .await
        .map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                "the service is stopping".into(),
            )
        })?;
    Ok(StatusCode::ACCEPTED)
}

async fn player(State(s): State<AppState>) -> Result<Response, ApiError> {
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
    event: String,
    #[serde(default)]
    message: String,
}

async fn player_report(
    State(s): State<AppState>,
    body: Result<Json<Report>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(r) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let handle = s.web_player.as_ref().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "the web player is not the sink (player.sink)".into(),
        )
    })?;
    let event = match r.event.as_str() {
        "ended" => SinkEvent::Ended,
        "failed" => SinkEvent::Failed(if r.message.is_empty() {
            "the web player could not play it".into()
        } else {
            r.message
        }),
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("event {other:?}: expected \"ended\" or \"failed\""),
            ));
        }
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

async fn media(State(s): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError(StatusCode::NOT_FOUND, format!("no catalogue file {file:?}"));
    let folder = s.catalogue.as_ref().ok_or_else(not_found)?;
    if !crate::source::is_inside(&file) {
        return Err(not_found());
    }
    let path = folder.join(&file);
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp3") => "audio/mpeg",
        Some("ogg" | "oga") => "audio/ogg",
        Some("opus") => "audio/opus",
        Some("flac") => "audio/flac",
        Some("wav") => "audio/wav",
        Some("m4a" | "aac") => "audio/mp4",
        _ => "application/octet-stream",
    };
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}
