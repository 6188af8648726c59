//! YouTube Data API v3 `search.list`: music videos that can be embedded, for a mood's query.
//!
//! A search costs 100 quota units of the default 10,000 a day, so every answer is cached in the
//! store per query for `cache_ttl_h` hours, our own `daily_budget` caps the requests of a quota
//! day, and a `403 quotaExceeded` stops all requests until midnight Pacific time, when Google
//! resets the quota. The key is sent only to the API: never logged, never shown, never given
//! to a browser.

pub mod quota_day;

use std::sync::{Arc, Mutex};
use std::time::Duration;
use xpressify_protocol::Secret;
use xpressify_protocol::config::ConfigError;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};
use xpressify_protocol::Track;

use super::{Candidate, Source, SourceError};
use crate::clock::now_ms;
use crate::mapping::Query;
use crate::store::{SearchOutcome, Store};

/// YouTube's `safeSearch`: how strictly results are filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafeSearch {
    /// No filtering.
    None,
    /// YouTube's default: the most restricted content left out.
    #[default]
    Moderate,
    /// Only content fit for all ages.
    Strict,
}

impl SafeSearch {
    /// The API's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SafeSearch::None => "none",
            SafeSearch::Moderate => "moderate",
            SafeSearch::Strict => "strict",
        }
    }
}

/// `[youtube]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct YoutubeConfig {
    /// API key of a Google Cloud project with the YouTube Data API enabled; empty: YouTube is
    /// not searched. Never logged.
    pub api_key: Secret,
    /// A file holding the API key instead (or a systemd credential's name).
    pub api_key_file: String,
    /// The API's base URL (tests point it at a local server).
    pub api_base_url: String,
    /// Results per search, 1 to 50.
    pub max_results: u8,
    /// ISO 3166-1 alpha-2 country the results should be playable in; empty: any.
    pub region_code: String,
    /// How strictly YouTube filters results: `none`, `moderate` or `strict`.
    pub safe_search: SafeSearch,
    /// Language to prefer when the mapping names none (ISO 639-1); empty: any.
    pub relevance_language: String,
    /// Hours a cached answer is reused.
    #[serde(deserialize_with = "xpressify_protocol::duration::hours_u32")]
    pub cache_ttl_h: u32,
    /// Requests allowed per quota day (100 units each; the default quota is 10,000 units).
    pub daily_budget: u32,
    /// Seconds before a request is abandoned.
    #[serde(deserialize_with = "xpressify_protocol::duration::seconds_f64")]
    pub timeout_s: f64,
    /// Retries after a server error or timeout, with doubling back-off.
    pub retries: u32,
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        YoutubeConfig {
            api_key: Secret::default(),
            api_key_file: String::new(),
            api_base_url: "https://www.googleapis.com/youtube/v3".into(),
            max_results: 15,
            region_code: String::new(),
            safe_search: SafeSearch::Moderate,
            relevance_language: String::new(),
            cache_ttl_h: 72,
            daily_budget: 90,
            timeout_s: 10.0,
            retries: 2,
        }
    }
}

impl YoutubeConfig {
    /// Checks values serde cannot; names the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, r: String| Err(ConfigError::invalid(format!("youtube.{k}"), r));
        if !(1..=50).contains(&self.max_results) {
            return bad("max_results", "must be 1 to 50".into());
        }
        if !(self.region_code.is_empty()
            || (self.region_code.len() == 2
                && self.region_code.chars().all(|c| c.is_ascii_uppercase())))
        {
            return bad(
                "region_code",
                format!(
                    "{:?}: expected two capital letters such as \"US\"",
                    self.region_code
                ),
            );
        }
        if !(self.relevance_language.is_empty()
            || (self.relevance_language.len() == 2
                && self
                    .relevance_language
                    .chars()
                    .all(|c| c.is_ascii_lowercase())))
        {
            return bad(
                "relevance_language",
                format!(
                    "{:?}: expected an ISO 639-1 code such as \"en\"",
                    self.relevance_language
                ),
            );
        }
        if !self.api_base_url.starts_with("http://") && !self.api_base_url.starts_with("https://") {
            return bad("api_base_url", "must start with http:// or https://".into());
        }
        if !(self.timeout_s > 0.0 && self.timeout_s <= 120.0) {
            return bad("timeout_s", "must be above 0 and at most 120".into());
        }
        if self.retries > 10 {
            return bad("retries", "at most 10".into());
        }
        Ok(())
    }
}

/// What the web page says about YouTube.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum YoutubeHealth {
    /// Searching works (or has not been needed yet).
    Ok,
    /// No key configured: the local catalogue plays.
    NoKey,
    /// The key was refused: a person must fix the config.
    KeyInvalid {
        /// Google's message.
        message: String,
    },
    /// Quota or budget spent until `until_ms`.
    Paused {
        /// Why.
        reason: String,
        /// Milliseconds since the Unix epoch.
        until_ms: u64,
    },
    /// The last search failed after retries.
    Failing {
        /// The last error.
        message: String,
    },
}

/// The YouTube source.
pub struct YoutubeSource {
    config: YoutubeConfig,
    http: reqwest::Client,
    store: Arc<Store>,
    health: Mutex<YoutubeHealth>,
}

#[derive(Deserialize)]
struct SearchList {
    #[serde(default)]
    items: Vec<SearchResult>,
}

#[derive(Deserialize)]
struct SearchResult {
    id: ResultId,
    snippet: Option<Snippet>,
}

#[derive(Deserialize)]
struct ResultId {
    #[serde(rename = "videoId")]
    video_id: Option<String>,
}

#[derive(Deserialize)]
struct Snippet {
    #[serde(default)]
    title: String,
    #[serde(rename = "channelTitle", default)]
    channel_title: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorReason>,
    #[serde(default)]
    details: Vec<ErrorReason>,
}

#[derive(Deserialize)]
struct ErrorReason {
    #[serde(default)]
    reason: String,
}

/// What one HTTP attempt came to.
#[derive(Debug)]
enum Attempt {
    Done(Result<Vec<Candidate>, SourceError>),
    Retry(String),
}

/// What an answer of `search.list` (HTTP `status`, `body`) comes to: the outcome to log and
/// what to do next. YouTube says "quota spent" with 403 and the reason `quotaExceeded` (or
/// `dailyLimitExceeded`), a bad key with `keyInvalid` / `API_KEY_INVALID`; a server error or
/// 429 is worth a retry, any other refusal is not.
fn judge(status: u16, body: &str, now: u64) -> (SearchOutcome, Attempt) {
    if (200..300).contains(&status) {
        let result = serde_json::from_str::<SearchList>(body)
            .map(candidates)
            .map_err(|e| SourceError::Rejected(format!("unreadable answer: {e}")));
        return (SearchOutcome::Ok, Attempt::Done(result));
    }
    let detail = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let reasons: Vec<String> = detail
        .iter()
        .flat_map(|d| d.errors.iter().chain(&d.details))
        .map(|r| r.reason.clone())
        .collect();
    let message = detail
        .as_ref()
        .map(|d| d.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let has = |r: &str| reasons.iter().any(|x| x == r);
    if status == 403 && (has("quotaExceeded") || has("dailyLimitExceeded")) {
        let until_ms = quota_day::next_reset_ms(now);
        return (
            SearchOutcome::Quota,
            Attempt::Done(Err(SourceError::QuotaExceeded { until_ms })),
        );
    }
    if has("keyInvalid") || has("API_KEY_INVALID") || message.contains("API key not valid") {
        return (
            SearchOutcome::Key,
            Attempt::Done(Err(SourceError::KeyInvalid(message))),
        );
    }
    let attempt = if (500..600).contains(&status) || status == 429 {
        Attempt::Retry(format!("HTTP {status}: {message}"))
    } else {
        Attempt::Done(Err(SourceError::Rejected(format!(
            "HTTP {status}: {message}"
        ))))
    };
    (SearchOutcome::Error, attempt)
}

impl YoutubeSource {
    /// A source using `store` for its cache and request log. Installs ring as the TLS provider if none
    /// is.
    pub fn new(config: YoutubeConfig, store: Arc<Store>) -> Result<Self, SourceError> {
        crate::install_tls();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(config.timeout_s))
            .user_agent(concat!("xpressify-companion/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Local(format!("cannot start an HTTP client: {e}")))?;
        let health = if config.api_key.expose().trim().is_empty() {
            YoutubeHealth::NoKey
        } else {
            YoutubeHealth::Ok
        };
        Ok(YoutubeSource {
            config,
            http,
            store,
            health: Mutex::new(health),
        })
    }

    /// The state to show people.
    pub fn health(&self) -> YoutubeHealth {
        self.health
            .lock()
            .map(|h| h.clone())
            .unwrap_or(YoutubeHealth::Ok)
    }

    fn set_health(&self, health: YoutubeHealth) {
        if let Ok(mut h) = self.health.lock() {
            *h = health;
        }
    }

    /// The cache key of a query: everything that changes the answer.
    pub fn cache_key(&self, query: &Query) -> String {
        format!(
            "youtube|{}|{}|{}|{}|{}",
            query.text(),
            self.language(query),
            self.config.region_code,
            self.config.safe_search.as_str(),
            self.config.max_results
        )
    }

    fn language<'q>(&'q self, query: &'q Query) -> &'q str {
        query
            .language
            .as_deref()
            .unwrap_or(&self.config.relevance_language)
    }

    async fn attempt(&self, query: &Query, key: &str) -> Attempt {
        let url = format!("{}/search", self.config.api_base_url.trim_end_matches('/'));
        let max = self.config.max_results.to_string();
        let text = query.text();
        let mut params: Vec<(&str, &str)> = vec![
            ("part", "snippet"),
            ("type", "video"),
            ("videoCategoryId", "10"),
            ("videoEmbeddable", "true"),
            ("q", &text),
            ("maxResults", &max),
            ("safeSearch", self.config.safe_search.as_str()),
        ];
        let language = self.language(query);
        if !language.is_empty() {
            params.push(("relevanceLanguage", language));
        }
        if !self.config.region_code.is_empty() {
            params.push(("regionCode", &self.config.region_code));
        }
        params.push(("key", self.config.api_key.expose().trim()));
        let now = now_ms();
        let response = match self.http.get(&url).query(&params).send().await {
            Ok(r) => r,
            Err(e) => {
                self.log(key, SearchOutcome::Error, now);
                // reqwest's error text includes the URL, and with it the key: say only what
                // happened.
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "request failed"
                };
                return Attempt::Retry(what.into());
            }
        };
        let status = response.status().as_u16();
        let (outcome, attempt) = match response.text().await {
            Ok(body) => judge(status, &body, now),
            Err(_) => (
                SearchOutcome::Error,
                Attempt::Retry(format!("HTTP {status}: body unreadable")),
            ),
        };
        self.log(key, outcome, now);
        attempt
    }

    /// Logs a request: the day's budget is counted from this log, so a write that fails is
    /// said out loud (the budget then undercounts).
    fn log(&self, key: &str, outcome: SearchOutcome, now: u64) {
        if let Err(e) = self.store.log_search(key, outcome, now) {
            warn!(error = %e, outcome = outcome.as_str(), "cannot log a YouTube search: the daily budget will undercount it");
        }
    }

    async fn search_uncached(
        &self,
        query: &Query,
        key: &str,
    ) -> Result<Vec<Candidate>, SourceError> {
        if self.config.api_key.expose().trim().is_empty() {
            return Err(SourceError::MissingKey);
        }
        let now = now_ms();
        match self.health() {
            YoutubeHealth::KeyInvalid { message } => return Err(SourceError::KeyInvalid(message)),
            YoutubeHealth::Paused { until_ms, .. } if now < until_ms => {
                return Err(SourceError::QuotaExceeded { until_ms });
            }
            _ => {}
        }
        let spent = self
            .store
            .searches_since(quota_day::day_start_ms(now))
            .map_err(|e| SourceError::Local(e.to_string()))?;
        if spent >= self.config.daily_budget {
            let until_ms = quota_day::next_reset_ms(now);
            self.set_health(YoutubeHealth::Paused {
                reason: format!(
                    "daily budget of {} searches spent",
                    self.config.daily_budget
                ),
                until_ms,
            });
            return Err(SourceError::BudgetSpent {
                budget: self.config.daily_budget,
                until_ms,
            });
        }
        let mut backoff = Duration::from_millis(500);
        let mut last = String::new();
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                debug!(attempt, ?backoff, "retrying YouTube search");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            match self.attempt(query, key).await {
                Attempt::Done(result) => return result,
                Attempt::Retry(why) => {
                    warn!(query = %query.text(), error = %why, "YouTube search failed");
                    last = why;
                }
            }
        }
        Err(SourceError::Unavailable(last))
    }
}

/// Turns an answer into candidates, skipping results without a video id (channels,
/// playlists) and decoding the HTML entities YouTube puts in titles.
fn candidates(list: SearchList) -> Vec<Candidate> {
    list.items
        .into_iter()
        .filter_map(|item| {
            let video_id = item.id.video_id.filter(|v| !v.is_empty())?;
            let snippet = item.snippet?;
            Some(Candidate {
                track: Track::Youtube { video_id },
                title: unescape(&snippet.title),
                artist: unescape(&snippet.channel_title),
            })
        })
        .filter(|c| !c.title.trim().is_empty())
        .collect()
}

/// Decodes the entities YouTube's API uses in snippets.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Source for YoutubeSource {
    fn name(&self) -> &'static str {
        "youtube"
    }

    async fn search(&self, query: &Query) -> Result<Vec<Candidate>, SourceError> {
        let key = self.cache_key(query);
        let ttl_ms = u64::from(self.config.cache_ttl_h) * 3_600_000;
        let fresh_since = now_ms().saturating_sub(ttl_ms);
        if let Ok(Some(cached)) = self.store.cached_search(&key, fresh_since)
            && let Ok(list) = serde_json::from_str::<Vec<Candidate>>(&cached)
        {
            crate::telemetry::search("cached", None);
            return Ok(list);
        }
        let searching = std::time::Instant::now();
        let result = self.search_uncached(query, &key).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SourceError::MissingKey) => "no_key",
            Err(SourceError::KeyInvalid(_)) => "key_invalid",
            Err(SourceError::QuotaExceeded { .. }) => "quota_exceeded",
            Err(SourceError::BudgetSpent { .. }) => "budget_spent",
            Err(_) => "failed",
        };
        // Only searches that went to YouTube have a duration worth keeping.
        let went = !matches!(outcome, "no_key" | "budget_spent");
        crate::telemetry::search(outcome, went.then(|| searching.elapsed()));
        match &result {
            Ok(list) => {
                if let Ok(json) = serde_json::to_string(list)
                    && let Err(e) = self.store.cache_search(&key, &json, now_ms())
                {
                    warn!(error = %e, "cannot cache a YouTube answer: the same search will cost again");
                }
                self.set_health(YoutubeHealth::Ok);
            }
            Err(SourceError::MissingKey) => self.set_health(YoutubeHealth::NoKey),
            Err(SourceError::KeyInvalid(message)) => self.set_health(YoutubeHealth::KeyInvalid {
                message: message.clone(),
            }),
            Err(SourceError::QuotaExceeded { until_ms }) => {
                self.set_health(YoutubeHealth::Paused {
                    reason: "YouTube quota exceeded".into(),
                    until_ms: *until_ms,
                })
            }
            Err(SourceError::Unavailable(message) | SourceError::Rejected(message)) => self
                .set_health(YoutubeHealth::Failing {
                    message: message.clone(),
                }),
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_youtube_documents_them() {
        let ok = r#"{"items":[{"id":{"kind":"youtube#video","videoId":"abcdefghijk"},"snippet":{"title":"t","channelTitle":"c"}}]}"#;
        let (outcome, attempt) = judge(200, ok, 0);
        assert_eq!(outcome, SearchOutcome::Ok);
        assert!(
            matches!(attempt, Attempt::Done(Ok(ref l)) if l.len() == 1),
            "{attempt:?}"
        );
        let (outcome, attempt) = judge(200, "not json", 0);
        assert_eq!(outcome, SearchOutcome::Ok, "answered, so it counts");
        assert!(matches!(
            attempt,
            Attempt::Done(Err(SourceError::Rejected(_)))
        ));

        let quota = r#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your quota.","errors":[{"reason":"quotaExceeded","domain":"youtube.quota"}]}}"#;
        let (outcome, attempt) = judge(403, quota, 0);
        assert_eq!(outcome, SearchOutcome::Quota);
        assert!(matches!(
            attempt,
            Attempt::Done(Err(SourceError::QuotaExceeded { until_ms })) if until_ms > 0
        ));
        let key = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","errors":[{"reason":"badRequest"}],"details":[{"reason":"API_KEY_INVALID"}]}}"#;
        let (outcome, attempt) = judge(400, key, 0);
        assert_eq!(outcome, SearchOutcome::Key);
        assert!(
            matches!(attempt, Attempt::Done(Err(SourceError::KeyInvalid(ref m))) if m.contains("not valid"))
        );

        for status in [500, 503, 429] {
            let (outcome, attempt) = judge(status, "", 0);
            assert_eq!(outcome, SearchOutcome::Error);
            assert!(
                matches!(attempt, Attempt::Retry(ref m) if m.contains(&status.to_string())),
                "{status}"
            );
        }
        let (outcome, attempt) = judge(400, r#"{"error":{"message":"Invalid regionCode"}}"#, 0);
        assert_eq!(outcome, SearchOutcome::Error);
        assert!(
            matches!(attempt, Attempt::Done(Err(SourceError::Rejected(ref m))) if m.contains("Invalid regionCode"))
        );
        // A 403 that is not about the quota is a refusal, not a paused day.
        let (outcome, _) = judge(
            403,
            r#"{"error":{"message":"forbidden","errors":[{"reason":"forbidden"}]}}"#,
            0,
        );
        assert_eq!(outcome, SearchOutcome::Error);
    }

    #[test]
    fn entities_in_titles_are_decoded() {
        assert_eq!(
            unescape("Rock &amp; Roll &#39;74 &quot;live&quot;"),
            "Rock & Roll '74 \"live\""
        );
    }

    #[test]
    fn answers_keep_only_videos() {
        let body = r#"{"kind":"youtube#searchListResponse","items":[
            {"kind":"youtube#searchResult","id":{"kind":"youtube#video","videoId":"abcdefghijk"},
             "snippet":{"title":"A &amp; B","channelTitle":"Chan"}},
            {"kind":"youtube#searchResult","id":{"kind":"youtube#channel","channelId":"UC1"},
             "snippet":{"title":"A channel","channelTitle":"Chan"}}]}"#;
        let list: SearchList = serde_json::from_str(body).expect("parses");
        assert_eq!(
            candidates(list),
            vec![Candidate {
                track: Track::Youtube {
                    video_id: "abcdefghijk".into()
                },
                title: "A & B".into(),
                artist: "Chan".into(),
            }]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = YoutubeConfig {
            region_code: "usa".into(),
            ..YoutubeConfig::default()
        };
        assert_eq!(
            c.validate().err().and_then(|e| e.key().map(String::from)),
            Some("youtube.region_code".into())
        );
        assert!(YoutubeConfig::default().validate().is_ok());
    }
}
