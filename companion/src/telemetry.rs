//! The companion's figures in Prometheus' text format on `GET /metrics`: moods heard, picks
//! made, YouTube searches and the day's quota, refused payloads, devices online, and how long
//! each stage takes (picking, searching, starting the player) as histograms. The figures are
//! kept by the process's one recorder ([`xpressify_protocol::telemetry`]); nothing is pushed
//! anywhere — a scraper reads them.

use std::time::Duration;

use tracing::warn;
use xpressify_protocol::Emotion;

/// Moods heard from devices, by device and emotion (`no_face`, `paused` included).
pub const MOODS: &str = "xpressify_moods_total";
/// Picks made, by room, source and the mood they were picked for.
pub const PICKS: &str = "xpressify_picks_total";
/// YouTube searches, by outcome (`ok`, `cached`, or the error).
pub const SEARCHES: &str = "xpressify_youtube_searches_total";
/// Searches made since midnight Pacific time (the quota's day).
pub const QUOTA_SPENT: &str = "xpressify_youtube_quota_spent";
/// The day's budget of searches (`youtube.daily_budget`).
pub const QUOTA_BUDGET: &str = "xpressify_youtube_quota_budget";
/// Payloads refused, by channel.
pub const REFUSED: &str = "xpressify_refused_payloads_total";
/// Devices whose availability says online.
pub const DEVICES_ONLINE: &str = "xpressify_devices_online";
/// 1 while the broker is connected.
pub const BROKER_CONNECTED: &str = "xpressify_broker_connected";
/// Seconds the recommender took for a pick (search included).
pub const PICK_SECONDS: &str = "xpressify_pick_seconds";
/// Seconds a YouTube search took (not the cached ones).
pub const SEARCH_SECONDS: &str = "xpressify_youtube_search_seconds";
/// Seconds a player took to accept a pick.
pub const PLAYER_START_SECONDS: &str = "xpressify_player_start_seconds";

/// Installs the process's recorder (see [`xpressify_protocol::telemetry`]) and describes
/// the companion's figures. `false` when another recorder was installed first: `/metrics`
/// then says so.
pub fn install() -> bool {
    match xpressify_protocol::telemetry::install() {
        Ok(()) => {
            describe();
            true
        }
        Err(e) => {
            warn!(error = %e, "no /metrics: another metrics recorder runs in this process");
            false
        }
    }
}

/// The figures in Prometheus' text format; `None` without a recorder.
pub fn render() -> Option<String> {
    xpressify_protocol::telemetry::render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(MOODS, "Moods heard from devices, by device and emotion.");
    describe_counter!(PICKS, "Picks made, by room, source and mood.");
    describe_counter!(SEARCHES, "YouTube searches, by outcome.");
    describe_gauge!(QUOTA_SPENT, "YouTube searches made in the quota's day.");
    describe_gauge!(QUOTA_BUDGET, "The day's budget of YouTube searches.");
    describe_counter!(REFUSED, "Payloads refused, by channel.");
    describe_gauge!(DEVICES_ONLINE, "Devices whose availability says online.");
    describe_gauge!(BROKER_CONNECTED, "1 while the MQTT broker is connected.");
    describe_histogram!(PICK_SECONDS, metrics::Unit::Seconds, "Time to make a pick.");
    describe_histogram!(
        SEARCH_SECONDS,
        metrics::Unit::Seconds,
        "Time a YouTube search took."
    );
    describe_histogram!(
        PLAYER_START_SECONDS,
        metrics::Unit::Seconds,
        "Time a player took to accept a pick."
    );
}

/// A mood heard from `device`.
pub fn mood(device: &str, emotion: Option<Emotion>, paused: bool) {
    let emotion = match (emotion, paused) {
        (_, true) => "paused",
        (Some(e), false) => e.as_str(),
        (None, false) => "no_face",
    };
    metrics::counter!(MOODS, "device" => device.to_string(), "emotion" => emotion).increment(1);
}

/// A payload refused on `channel`.
pub fn refused(channel: &str) {
    metrics::counter!(REFUSED, "channel" => channel.to_string()).increment(1);
}

/// A pick for `room` from `source` for `mood`, made in `took`.
pub fn pick(room: &str, source: &'static str, mood: Emotion, took: Duration) {
    metrics::counter!(PICKS, "room" => room.to_string(), "source" => source, "mood" => mood.as_str())
        .increment(1);
    metrics::histogram!(PICK_SECONDS).record(took.as_secs_f64());
}

/// A player accepted (or refused) a pick in `took`.
pub fn player_start(took: Duration) {
    metrics::histogram!(PLAYER_START_SECONDS).record(took.as_secs_f64());
}

/// A YouTube search with `outcome`; `took` for those that went to YouTube.
pub fn search(outcome: &'static str, took: Option<Duration>) {
    metrics::counter!(SEARCHES, "outcome" => outcome).increment(1);
    if let Some(t) = took {
        metrics::histogram!(SEARCH_SECONDS).record(t.as_secs_f64());
    }
}

/// The gauges, from the service's status.
pub fn status(devices_online: usize, broker_connected: bool, quota: Option<(u32, u32)>) {
    metrics::gauge!(DEVICES_ONLINE).set(devices_online as f64);
    metrics::gauge!(BROKER_CONNECTED).set(f64::from(u8::from(broker_connected)));
    if let Some((spent, budget)) = quota {
        metrics::gauge!(QUOTA_SPENT).set(f64::from(spent));
        metrics::gauge!(QUOTA_BUDGET).set(f64::from(budget));
    }
}
