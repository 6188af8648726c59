//! The YouTube source against a local server that answers `search.list` as documented:
//! results, an empty answer, quota exhausted, a refused key, server errors and slowness.

use std::sync::Arc;

use xpressify_companion::mapping::Query;
use xpressify_companion::source::{
    Source, SourceError, YoutubeConfig, YoutubeHealth, YoutubeSource,
};
use xpressify_companion::store::Store;
use xpressify_protocol::{Emotion, Track};
use xpressify_tests::fakes::{FakeYoutube, GOOD_KEY, video_id};

fn query(text: &str) -> Query {
    Query {
        mood: Emotion::Happy,
        target: Emotion::Happy,
        place: xpressify_companion::library::default_place(Emotion::Happy),
        variant: text.into(),
        genre: None,
        artist: None,
        language: Some("en".into()),
    }
}

fn source(fake: &FakeYoutube, tweak: impl FnOnce(&mut YoutubeConfig)) -> YoutubeSource {
    let mut config = YoutubeConfig {
        api_key: GOOD_KEY.into(),
        api_base_url: fake.base_url.clone(),
        max_results: 5,
        region_code: "GB".into(),
        timeout_s: 1.0,
        retries: 2,
        ..YoutubeConfig::default()
    };
    tweak(&mut config);
    YoutubeSource::new(config, Arc::new(Store::in_memory().expect("store"))).expect("source")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn sends_the_documented_parameters_and_caches_the_answer() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |_| {});
    let rt = runtime();
    let found = rt
        .block_on(yt.search(&query("happy upbeat songs")))
        .expect("results");
    assert_eq!(found.len(), 5);
    assert_eq!(
        found[0].track,
        Track::Youtube {
            video_id: video_id("happy upbeat songs", 0)
        }
    );
    assert_eq!(
        found[0].title, "happy upbeat songs #0 & friends",
        "entities decoded"
    );
    let sent = &fake.requests()[0];
    for (k, v) in [
        ("part", "snippet"),
        ("type", "video"),
        ("videoCategoryId", "10"),
        ("videoEmbeddable", "true"),
        ("q", "happy upbeat songs"),
        ("maxResults", "5"),
        ("relevanceLanguage", "en"),
        ("regionCode", "GB"),
        ("safeSearch", "moderate"),
        ("key", GOOD_KEY),
    ] {
        assert_eq!(sent.get(k).map(String::as_str), Some(v), "{k}");
    }
    // The same query again comes from the cache.
    let again = rt
        .block_on(yt.search(&query("happy upbeat songs")))
        .expect("cached");
    assert_eq!(again, found);
    assert_eq!(fake.calls(), 1);
    assert_eq!(yt.health(), YoutubeHealth::Ok);
}

#[test]
fn an_empty_answer_is_no_candidates_not_an_error() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |_| {});
    let found = runtime()
        .block_on(yt.search(&query("empty songs")))
        .expect("ok");
    assert!(found.is_empty());
}

#[test]
fn quota_exceeded_stops_all_searching_until_the_reset() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |_| {});
    let rt = runtime();
    let err = rt
        .block_on(yt.search(&query("quota songs")))
        .expect_err("quota");
    let SourceError::QuotaExceeded { until_ms } = err else {
        panic!("expected QuotaExceeded, got {err:?}");
    };
    assert!(until_ms > xpressify_companion::clock::now_ms());
    assert!(matches!(yt.health(), YoutubeHealth::Paused { .. }));
    // Another query does not reach the server.
    let err = rt
        .block_on(yt.search(&query("sad songs")))
        .expect_err("paused");
    assert!(matches!(err, SourceError::QuotaExceeded { .. }), "{err:?}");
    assert_eq!(
        fake.calls(),
        1,
        "no retry of a quota error, no request while paused"
    );
}

#[test]
fn a_refused_key_is_reported_without_the_key_and_not_retried() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |c| c.api_key = "AIzaWrongKey".into());
    let rt = runtime();
    let err = rt
        .block_on(yt.search(&query("happy")))
        .expect_err("refused");
    assert!(matches!(err, SourceError::KeyInvalid(_)), "{err:?}");
    assert!(!err.to_string().contains("AIzaWrongKey"), "{err}");
    let YoutubeHealth::KeyInvalid { message } = yt.health() else {
        panic!("health {:?}", yt.health());
    };
    assert!(!message.contains("AIzaWrongKey"));
    let _ = rt.block_on(yt.search(&query("other")));
    assert_eq!(fake.calls(), 1);
}

#[test]
fn a_missing_key_never_calls_the_api() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |c| c.api_key = xpressify_protocol::Secret::default());
    let err = runtime()
        .block_on(yt.search(&query("happy")))
        .expect_err("no key");
    assert_eq!(err, SourceError::MissingKey);
    assert!(err.to_string().contains("youtube.api_key"));
    assert_eq!(yt.health(), YoutubeHealth::NoKey);
    assert_eq!(fake.calls(), 0);
}

#[test]
fn server_errors_are_retried_then_given_up() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |_| {});
    let rt = runtime();
    let err = rt
        .block_on(yt.search(&query("boom songs")))
        .expect_err("500");
    assert!(matches!(err, SourceError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.calls(), 3, "first try and two retries");
    assert!(matches!(yt.health(), YoutubeHealth::Failing { .. }));
    // A transient error is survived.
    let found = rt
        .block_on(yt.search(&query("flaky songs")))
        .expect("after a retry");
    assert_eq!(found.len(), 5);
    assert_eq!(fake.calls(), 5);
    assert_eq!(yt.health(), YoutubeHealth::Ok);
}

#[test]
fn a_slow_server_times_out() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |c| c.retries = 0);
    let started = std::time::Instant::now();
    let err = runtime()
        .block_on(yt.search(&query("slow songs")))
        .expect_err("timeout");
    assert_eq!(err, SourceError::Unavailable("timed out".into()));
    assert!(started.elapsed() < std::time::Duration::from_millis(2500));
}

#[test]
fn the_daily_budget_is_kept() {
    let fake = FakeYoutube::start().expect("fake");
    let yt = source(&fake, |c| c.daily_budget = 2);
    let rt = runtime();
    rt.block_on(yt.search(&query("one"))).expect("1");
    rt.block_on(yt.search(&query("two"))).expect("2");
    let err = rt.block_on(yt.search(&query("three"))).expect_err("budget");
    assert!(
        matches!(err, SourceError::BudgetSpent { budget: 2, .. }),
        "{err:?}"
    );
    // Cached answers are still served.
    rt.block_on(yt.search(&query("one"))).expect("cached");
    assert_eq!(fake.calls(), 2);
}
