//! A simulated day: the mood changes every 2 minutes for 24 hours, tracks last 3.5 minutes,
//! and the companion (schedule + recommender + YouTube against the local fake) must stay
//! within 100 searches — the default quota allows about 100 a day.

use std::sync::Arc;
use std::time::Duration;

use xpressify_companion::mapping::Mapping;
use xpressify_companion::recommend::{RecommendOptions, Recommender};
use xpressify_companion::schedule::{Action, Player, Schedule, Timing};
use xpressify_companion::source::{YoutubeConfig, YoutubeSource};
use xpressify_companion::store::Store;
use xpressify_protocol::Emotion;
use xpressify_tests::fakes::{FakeYoutube, GOOD_KEY};

#[test]
fn a_day_of_mood_changes_spends_at_most_100_searches() {
    let fake = FakeYoutube::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&dir.path().join("day.sqlite")).expect("store"));
    let youtube = YoutubeSource::new(
        YoutubeConfig {
            api_key: GOOD_KEY.into(),
            api_base_url: fake.base_url.clone(),
            // No budget cap here: the count must come out low by itself.
            daily_budget: 100_000,
            ..YoutubeConfig::default()
        },
        store.clone(),
    )
    .expect("youtube");
    let recommender = Recommender::new(
        store.clone(),
        Some(youtube),
        None,
        Mapping::default(),
        RecommendOptions {
            prefer_local: false,
            avoid_recent: 20,
            choose_from_top: 5,
        },
        Some(42),
    )
    .expect("recommender");
    let mut schedule = Schedule::new(Timing {
        start_after: Duration::from_secs(5),
        switch_after: Duration::from_secs(60),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let day_ms: u64 = 24 * 3_600_000;
    let track_ms: u64 = 210_000;
    let mut seed: u64 = 7;
    let mut track_end: Option<u64> = None;
    let mut picks = 0;
    let mut now = 0;
    while now < day_ms {
        if now % 120_000 == 0 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            schedule.on_mood(Emotion::from_index((seed >> 33) as usize % 7), now);
        }
        let mut action = None;
        if track_end.is_some_and(|end| now >= end) {
            track_end = None;
            action = schedule.on_ended();
        }
        let player = if track_end.is_some() {
            Player::Playing
        } else {
            Player::Idle
        };
        action = action.or(schedule.on_tick(player, now));
        if let Some(Action::Start(mood) | Action::Switch(mood)) = action {
            rt.block_on(recommender.pick("home", "living-room", mood, now, true))
                .expect("pick");
            schedule.on_started(mood);
            track_end = Some(now + track_ms);
            picks += 1;
        }
        now += 1_000;
    }
    let searches = fake.calls();
    eprintln!("simulated day: {picks} picks, {searches} searches");
    assert!(picks > 500, "the day played music: {picks} picks");
    assert!(searches <= 100, "{searches} searches in a day");
}
