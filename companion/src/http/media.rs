//! `GET /media/<file>`: the local catalogue's audio for players that fetch by URL (the web
//! page, Home Assistant's players), and nothing else.
//!
//! Only files the catalogue lists are served — not `catalogue.toml`, not a stray file beside
//! them — and only where their real path (symlinks followed) stays inside the folder. Files
//! are streamed in 64 KiB chunks, so five listeners of a 200 MB file cost a few hundred KB, not
//! 1 GB; a single `Range: bytes=…` is honoured (`206`), so players can seek.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::source::{LocalCatalogue, is_inside, real_path_inside};

/// How much of a file is read at a time.
const CHUNK: usize = 64 * 1024;

/// The files `/media` may serve: the local source's tracks as of the request (a rescan adds
/// and removes files while the service runs).
#[derive(Debug, Clone)]
pub struct MediaFiles {
    folder: PathBuf,
    catalogue: LocalCatalogue,
}

impl MediaFiles {
    /// The catalogue's tracks (its folder resolved once, so later checks compare real paths).
    pub fn new(catalogue: &LocalCatalogue) -> MediaFiles {
        let folder = catalogue.folder();
        MediaFiles {
            folder: folder
                .canonicalize()
                .unwrap_or_else(|_| folder.to_path_buf()),
            catalogue: catalogue.clone(),
        }
    }

    /// The real path of `file` when it may be served.
    fn resolve(&self, file: &str) -> Option<PathBuf> {
        if !is_inside(file) || self.catalogue.path_of(file).is_none() {
            return None;
        }
        real_path_inside(&self.folder, &self.folder.join(file))
    }
}

/// The bytes a `Range` header asks for, of a file of `len` bytes.
#[derive(Debug, PartialEq)]
enum Wanted {
    /// All of it (no range, or one this server does not split: several ranges).
    All,
    /// `start..=end`.
    Part(u64, u64),
    /// Nothing of it can be given (`416`).
    Unsatisfiable,
}

fn wanted(range: Option<&str>, len: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Wanted::All;
    };
    let (start, end) = (start.trim(), end.trim());
    let part = match (start.parse::<u64>(), end.parse::<u64>()) {
        // bytes=-N: the last N bytes.
        (Err(_), Ok(n)) if start.is_empty() && n > 0 => {
            (len.saturating_sub(n), len.wrapping_sub(1))
        }
        (Ok(a), Err(_)) if end.is_empty() => (a, len.wrapping_sub(1)),
        (Ok(a), Ok(b)) if a <= b => (a, b.min(len.wrapping_sub(1))),
        _ => return Wanted::All,
    };
    if len == 0 || part.0 >= len {
        Wanted::Unsatisfiable
    } else {
        Wanted::Part(part.0, part.1)
    }
}

/// The MIME type of an audio file, from its extension: what `/media` answers, and what a DLNA
/// renderer is told before it fetches the file.
pub fn mime(path: &Path) -> &'static str {
    match path
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
    }
}

fn error(code: StatusCode, message: String) -> Response {
    (code, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Answers `GET /media/<file>` from `media` (`None`: no catalogue configured).
pub async fn serve(media: Option<&MediaFiles>, file: &str, headers: &HeaderMap) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, format!("no catalogue file {file:?}"));
    let Some(path) = media.and_then(|m| m.resolve(file)) else {
        return not_found();
    };
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return not_found();
    };
    let Ok(len) = f.metadata().await.map(|m| m.len()) else {
        return not_found();
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, count) = match wanted(range, len) {
        Wanted::All => (StatusCode::OK, 0, len),
        Wanted::Part(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Wanted::Unsatisfiable => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("{file:?} has {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    if start > 0 && f.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return not_found();
    }
    let chunks = futures_util::stream::unfold((f, count), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
        match f.read(&mut buf).await {
            // The file shrank under us: end the body early rather than loop.
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (f, left - n as u64)))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&path)));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(wanted(None, 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part(0, 9));
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90, 99));
        assert_eq!(wanted(Some("bytes=-500"), 100), Wanted::Part(0, 99));
        assert_eq!(wanted(Some("bytes=50-5000"), 100), Wanted::Part(50, 99));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-0,5-6"), 100), Wanted::All);
        assert_eq!(wanted(Some("items=0-1"), 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=9-1"), 100), Wanted::All);
        assert_eq!(wanted(Some("bytes=0-"), 0), Wanted::Unsatisfiable);
    }
}
