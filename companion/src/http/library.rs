//! `/api/library`: the local source's tracks with their places on the mood plane, for the
//! page's library view, and a listener moving a track (kept in the store, above every other
//! placement).
//!
//! | method and path            | what                                                   |
//! |----------------------------|--------------------------------------------------------|
//! | `GET /api/library`         | tracks by file (`?offset=N&limit=N`, limit ≤ 1000), the |
//! |                            | emotions' places, the total                            |
//! | `PUT /api/library/place`   | `{"file","valence","arousal"}`: move a track            |
//! | `DELETE /api/library/place`| `{"file"}`: give it back its scanned place              |

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use xpressify_protocol::Emotion;

use super::auth::{ControlAccess, ReadAccess};
use super::{ApiError, AppState};
use crate::library::scan::folder_key;
use crate::library::{Place, PlaceSource};
use crate::source::{LocalCatalogue, LocalTrack};

/// Tracks one answer lists at most.
pub const MAX_LIMIT: usize = 1000;
/// Longest file path accepted in a request.
const MAX_FILE_CHARS: usize = 1024;

/// The library's routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/library", get(list)).route(
        "/api/library/place",
        axum::routing::put(move_track).delete(unmove_track),
    )
}

/// A track as the page shows it.
#[derive(Debug, Serialize)]
pub struct TrackView {
    file: String,
    title: String,
    artist: String,
    valence: f32,
    arousal: f32,
    moods: Vec<Emotion>,
    source: PlaceSource,
}

impl From<&LocalTrack> for TrackView {
    fn from(t: &LocalTrack) -> TrackView {
        TrackView {
            file: t.file.clone(),
            title: t.title.clone(),
            artist: t.artist.clone(),
            valence: t.place.valence,
            arousal: t.place.arousal,
            moods: t.moods.clone(),
            source: t.source,
        }
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

async fn list(
    State(s): State<AppState>,
    _: ReadAccess,
    Query(p): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let mapping = s.recommender.mapping();
    let places: serde_json::Map<String, Value> = Emotion::ALL
        .iter()
        .map(|e| (e.to_string(), json!(mapping.own_place(*e))))
        .collect();
    let Some(c) = s.recommender.local() else {
        return Ok(Json(
            json!({"folder": null, "total": 0, "offset": 0, "tracks": [], "places": places}),
        ));
    };
    let tracks = c.tracks();
    let mut sorted: Vec<&LocalTrack> = tracks.iter().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file));
    let limit = p.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let page: Vec<TrackView> = sorted
        .iter()
        .skip(p.offset)
        .take(limit)
        .map(|t| TrackView::from(*t))
        .collect();
    Ok(Json(json!({
        "folder": c.folder().display().to_string(),
        "total": sorted.len(),
        "offset": p.offset,
        "tracks": page,
        "places": places,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    file: String,
    valence: f32,
    arousal: f32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unmove {
    file: String,
}

fn local(s: &AppState) -> Result<&LocalCatalogue, ApiError> {
    s.recommender.local().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "no local music: set library.folder".into(),
        )
    })
}

fn checked_file(file: &str) -> Result<(), ApiError> {
    if file.is_empty() || file.chars().count() > MAX_FILE_CHARS {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("file: 1 to {MAX_FILE_CHARS} characters"),
        ));
    }
    Ok(())
}

fn unknown(file: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no track {file:?} in the library"),
    )
}

fn folder(c: &LocalCatalogue) -> Result<String, ApiError> {
    folder_key(c.folder()).map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn move_track(
    State(s): State<AppState>,
    _: ControlAccess,
    body: Result<Json<Move>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<TrackView>, ApiError> {
    let Json(m) = body?;
    checked_file(&m.file)?;
    let place = Place {
        valence: m.valence,
        arousal: m.arousal,
    };
    if !place.is_valid() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "valence and arousal must each be between 0 and 1".into(),
        ));
    }
    let c = local(&s)?;
    let mapping = s.recommender.mapping();
    let moved = c
        .move_track(&m.file, place, |e| mapping.own_place(e))
        .ok_or_else(|| unknown(&m.file))?;
    s.store
        .set_library_place(&folder(c)?, &m.file, place, crate::clock::now_ms())?;
    Ok(Json(TrackView::from(&moved)))
}

async fn unmove_track(
    State(s): State<AppState>,
    _: ControlAccess,
    body: Result<Json<Unmove>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(m) = body?;
    checked_file(&m.file)?;
    let c = local(&s)?;
    if !s.store.clear_library_place(&folder(c)?, &m.file)? {
        return Err(unknown(&m.file));
    }
    let mapping = s.recommender.mapping();
    c.unmove_track(&m.file, |e| mapping.own_place(e));
    Ok(StatusCode::NO_CONTENT)
}
