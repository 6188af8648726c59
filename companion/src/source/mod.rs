//! Where picks come from: YouTube's search, a local catalogue of files, or — when both fail —
//! what suited the mood before. Every source answers the same [`Query`] with [`Candidate`]s.

mod local;
pub mod wav;
mod youtube;

use std::future::Future;

use serde::{Deserialize, Serialize};
use xpressify_protocol::Track;

pub use local::{
    CATALOGUE_FILE, CatalogueTrack, LocalCatalogue, LocalTrack, MIN_CANDIDATES, is_inside,
    real_path_inside,
};
pub use youtube::{SafeSearch, YoutubeConfig, YoutubeHealth, YoutubeSource, quota_day};

use crate::mapping::Query;

/// One playable result of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// How to play it.
    #[serde(flatten)]
    pub track: Track,
    /// Title shown to people.
    pub title: String,
    /// Artist or channel shown to people.
    pub artist: String,
}

/// Why a source gave no candidates. The recommender moves on to the next source on any of
/// these; the variants say what a person can do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// No API key is configured.
    #[error("no YouTube API key: set youtube.api_key (or XPRESSIFY__YOUTUBE__API_KEY)")]
    MissingKey,
    /// The API refused the key.
    #[error("YouTube refused the API key: {0}")]
    KeyInvalid(String),
    /// The project's daily quota is spent; searching resumes at `until_ms`.
    #[error("YouTube quota exceeded; searching resumes at midnight Pacific time")]
    QuotaExceeded {
        /// Milliseconds since the Unix epoch.
        until_ms: u64,
    },
    /// Our own daily budget (`youtube.daily_budget`) is spent.
    #[error(
        "the daily search budget of {budget} is spent; searching resumes at midnight Pacific time"
    )]
    BudgetSpent {
        /// The budget.
        budget: u32,
        /// Milliseconds since the Unix epoch.
        until_ms: u64,
    },
    /// The service answered with an error that retrying will not fix.
    #[error("search refused: {0}")]
    Rejected(String),
    /// Server errors or timeouts, after the configured retries.
    #[error("search unavailable: {0}")]
    Unavailable(String),
    /// The local catalogue has no track for the mood.
    #[error("nothing in the catalogue for {0}")]
    NothingFor(String),
    /// The catalogue or another local file could not be read.
    #[error("{0}")]
    Local(String),
}

/// A place to search for music.
///
/// A whole implementation, answering every query with one fixed file:
/// ```
/// use xpressify_companion::mapping::Query;
/// use xpressify_companion::source::{Candidate, Source, SourceError};
/// use xpressify_protocol::Track;
///
/// struct Jukebox;
///
/// impl Source for Jukebox {
///     fn name(&self) -> &'static str {
///         "jukebox"
///     }
///     async fn search(&self, query: &Query) -> Result<Vec<Candidate>, SourceError> {
///         Ok(vec![Candidate {
///             track: Track::Local { file: format!("{}.ogg", query.target) },
///             title: query.text(),
///             artist: "The Jukebox".into(),
///         }])
///     }
/// }
/// ```
pub trait Source {
    /// A short name for logs and the history (`youtube`, `local`).
    fn name(&self) -> &'static str;

    /// Candidates for the query, best first.
    fn search(
        &self,
        query: &Query,
    ) -> impl Future<Output = Result<Vec<Candidate>, SourceError>> + Send;
}

/// One of the sources, chosen at run time (the recommender's order: `prefer_local`), as
/// [`crate::sink::AnySink`] is for the sinks.
#[derive(Clone, Copy)]
pub enum AnySource<'a> {
    /// YouTube's search.
    Youtube(&'a YoutubeSource),
    /// The local catalogue.
    Local(&'a LocalCatalogue),
}

impl Source for AnySource<'_> {
    fn name(&self) -> &'static str {
        match self {
            AnySource::Youtube(s) => s.name(),
            AnySource::Local(s) => s.name(),
        }
    }

    async fn search(&self, query: &Query) -> Result<Vec<Candidate>, SourceError> {
        match self {
            AnySource::Youtube(s) => s.search(query).await,
            AnySource::Local(s) => s.search(query).await,
        }
    }
}
