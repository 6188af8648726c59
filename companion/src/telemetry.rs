//! The companion's figures in Prometheus' text format on `GET /metrics`: moods heard, picks
//! made, YouTube searches and the day's quota, refused payloads, devices online, and how long
//! each stage takes (picking, searching, starting the player) as histograms. The figures are
//! kept by the `metrics` facade's global recorder (`metrics-exporter-prometheus`), installed
//! once per process; nothing is pushed anywhere — a scraper reads them.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
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

/// Histogram buckets, in seconds: from a millisecond (a local pick) to 10 s (a slow search
/// with retries, a DLNA TV waking up).
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process; later calls return what the first did). `false`
/// when another recorder was installed first: `/metrics` then says so.
pub fn install() -> bool {
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    warn!(error = %e, "no /metrics: another metrics recorder runs in this process");
                    None
                }
            }
        })
        .is_some()
}

/// The figures in Prometheus' text format; `None` without a recorder.
pub fn render() -> Option<String> {
    HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
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
