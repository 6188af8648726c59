//! The companion's web page in a real headless Chromium (Debian's `chromium`): a mood
//! published on the broker shows within a second, a click on Skip reaches the sink, a mapping
//! edited on the page survives a restart, a control without the token is refused, and a box
//! that locks reading (`http.read_token`) opens on the page once the token is saved.
//!
//! `XPRESSIFY_CHROMIUM` names the browser (default `/usr/bin/chromium`);
//! `XPRESSIFY_SCREENSHOTS=DIR` saves PNGs of the main views there (how docs/ got them).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use xpressify_protocol::Topics;
use xpressify_tests::fakes::FakeYoutube;
use xpressify_tests::launch;
use xpressify_tests::{Broker, KillOnDrop, free_port, unique_name};

const TOKEN: &str = "page-test-token-123";
const MOOD: &str = r#"{"schema":1,"device_id":"DEV","emotion":"EMO","confidence":0.8,"probabilities":[0.05,0.0,0.05,0.7,0.1,0.0,0.1],"faces":1,"timestamp_ms":1,"seq":1,"model":{"name":"m","version":"1"}}"#;

struct Setup<'a> {
    broker: &'a Broker,
    fake: &'a FakeYoutube,
    prefix: &'a str,
    store: &'a Path,
    port: u16,
    /// Settings on top of the tests' usual ones.
    env: &'a [(&'a str, &'a str)],
}

fn start_companion(s: &Setup<'_>) -> KillOnDrop {
    let child = launch::companion(&s.broker.url, s.prefix, s.store, s.port, TOKEN, s.fake)
        .expect("companion binary")
        .envs(s.env.iter().copied())
        .spawn()
        .expect("spawn companion");
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
        assert!(Instant::now() < deadline, "the companion did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Evaluates a JS expression and returns its value as JSON.
fn eval(tab: &Tab, js: &str) -> serde_json::Value {
    tab.evaluate(js, true)
        .ok()
        .and_then(|r| r.value)
        .unwrap_or(serde_json::Value::Null)
}

/// Polls a JS expression until it is truthy; returns how long it took. (DOM nodes do not
/// cross the DevTools protocol by value: test them with `!!`.)
fn until(tab: &Tab, what: &str, js: &str, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let v = eval(tab, js);
        if !(v.is_null() || v == false || v == "" || v == 0) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "timed out waiting for {what} ({js}); page errors: {}",
            eval(tab, "window.__errors ? window.__errors.join('; ') : ''")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn screenshot(tab: &Tab, name: &str) {
    let Some(dir) = std::env::var_os("XPRESSIFY_SCREENSHOTS").map(PathBuf::from) else {
        return;
    };
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(dir.join(name), png).expect("write screenshot");
}

/// A new tab on `url` with the control token saved, as a listener who entered it in Settings
/// (the page reads it at each request).
fn open_with_token(browser: &Browser, url: &str) -> std::sync::Arc<Tab> {
    let tab = browser.new_tab().expect("tab");
    tab.navigate_to(url)
        .expect("navigate")
        .wait_until_navigated()
        .expect("loaded");
    eval(
        &tab,
        &format!("localStorage.setItem('xpressify-token', '{TOKEN}')"),
    );
    tab
}

/// Headless Chromium: `XPRESSIFY_CHROMIUM`, else Debian's, with a desktop's window.
fn browser() -> Browser {
    browser_sized(1200, 1000)
}

/// Headless Chromium with a window of `width` × `height` CSS pixels.
fn browser_sized(width: u32, height: u32) -> Browser {
    let chromium = std::env::var_os("XPRESSIFY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    Browser::new(
        LaunchOptions::default_builder()
            .path(Some(chromium))
            .sandbox(false)
            .window_size(Some((width, height)))
            .idle_browser_timeout(Duration::from_secs(120))
            .build()
            .expect("launch options"),
    )
    .expect("chromium starts (apt install chromium)")
}

#[test]
fn the_page_shows_moods_live_and_controls_need_the_token() {
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = unique_name("xp");
    let device = unique_name("kitchen");
    let topics = Topics::new(prefix.clone(), device.clone()).expect("topics");
    let setup = Setup {
        broker: &broker,
        fake: &fake,
        prefix: &prefix,
        store: &dir.path().join("companion.sqlite"),
        port: free_port().expect("port"),
        env: &[],
    };
    let mut companion = start_companion(&setup);
    let base = format!("http://127.0.0.1:{}/", setup.port);

    let browser = browser();
    let tab = browser.new_tab().expect("tab");
    tab.navigate_to(&base)
        .expect("navigate")
        .wait_until_navigated()
        .expect("loaded");
    assert_eq!(eval(&tab, "document.title"), "Xpressify");
    until(
        &tab,
        "the live link",
        "document.getElementById('link').textContent === 'live'",
        Duration::from_secs(10),
    );

    // A mood on the broker shows within a second.
    let mood = |e: &str| MOOD.replace("DEV", &device).replace("EMO", e);
    let shown = format!(
        "(document.querySelector('[data-device=\"{device}\"] .mood') || {{}}).textContent === 'happy'"
    );
    let published = Instant::now();
    broker
        .publish(&topics.mood(), mood("happy").as_bytes(), true)
        .expect("publish");
    until(&tab, "the mood on the page", &shown, Duration::from_secs(5));
    let latency = published.elapsed();
    eprintln!("mood on the broker -> on the page: {latency:?}");
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    let bar = eval(
        &tab,
        &format!(
            "document.querySelector('[data-device=\"{device}\"] [aria-label=happy]').getAttribute('aria-valuenow')"
        ),
    );
    assert_eq!(bar, "70");

    // Music starts; Skip without the token is refused, with it the sink moves on.
    until(
        &tab,
        "a pick",
        "document.getElementById('np').textContent !== 'Nothing yet.'",
        Duration::from_secs(10),
    );
    let pick = |tab: &Tab| {
        eval(
            tab,
            "fetch('/api/player').then(r => r.json()).then(p => p.item.pick_id)",
        )
    };
    let first = pick(&tab);
    eval(&tab, "document.getElementById('skip').click()");
    until(
        &tab,
        "the refusal",
        "document.getElementById('control-msg').textContent.includes('token')",
        Duration::from_secs(5),
    );
    assert_eq!(pick(&tab), first, "nothing changed without the token");
    eval(
        &tab,
        &format!("localStorage.setItem('xpressify-token', '{TOKEN}')"),
    );
    eval(&tab, "document.getElementById('skip').click()");
    let t0 = Instant::now();
    while pick(&tab) == first {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "skip did not reach the sink"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    screenshot(&tab, "page-now.png");

    // "That's not my mood" is stored and listed in the history.
    eval(
        &tab,
        &format!("document.querySelector('[data-device=\"{device}\"] select').value = 'sad'"),
    );
    eval(
        &tab,
        &format!("document.querySelector('[data-device=\"{device}\"] form button').click()"),
    );
    until(
        &tab,
        "the correction in the history",
        "document.getElementById('corrections').textContent.includes('really sad')",
        Duration::from_secs(10),
    );
    until(
        &tab,
        "picks in the history",
        "document.querySelectorAll('#picks tbody tr').length >= 2",
        Duration::from_secs(10),
    );
    until(
        &tab,
        "the timeline",
        "document.querySelectorAll('#timeline rect').length > 7",
        Duration::from_secs(10),
    );
    eval(&tab, "document.getElementById('history').scrollIntoView()");
    screenshot(&tab, "page-history.png");

    // Edit the mapping on the page; it survives a restart.
    until(
        &tab,
        "the mapping form",
        "!!document.querySelector('fieldset[data-emotion=sad] textarea[name=match]')",
        Duration::from_secs(5),
    );
    eval(
        &tab,
        "document.querySelector('fieldset[data-emotion=sad] textarea[name=match]').value = 'blues for rainy days\\nsad songs'",
    );
    eval(
        &tab,
        "document.querySelector('input[name=policy][value=lift]').click()",
    );
    eval(
        &tab,
        "document.querySelector('#mapping-form button[type=submit]').click()",
    );
    until(
        &tab,
        "saved",
        "document.getElementById('mapping-msg').textContent === 'Saved.'",
        Duration::from_secs(10),
    );
    eval(&tab, "document.getElementById('settings').scrollIntoView()");
    screenshot(&tab, "page-settings.png");
    drop(companion);
    companion = start_companion(&setup);
    tab.reload(true, None).expect("reload");
    until(
        &tab,
        "the edited mapping after a restart",
        "(document.querySelector('fieldset[data-emotion=sad] textarea[name=match]') || {}).value === 'blues for rainy days\\nsad songs'",
        Duration::from_secs(15),
    );
    assert_eq!(
        eval(
            &tab,
            "document.querySelector('input[name=policy][value=lift]').checked"
        ),
        true
    );
    drop(companion);
}

/// A box that locks reading (`http.read_token`): the page says it needs a token, and once the
/// token is saved in Settings it goes live — its event stream carries the token in the URL.
#[test]
fn a_locked_box_opens_on_the_page_with_the_read_token() {
    const READ: &str = "page-read-token-456";
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = unique_name("xp");
    let device = unique_name("lounge");
    let topics = Topics::new(prefix.clone(), device.clone()).expect("topics");
    let port = free_port().expect("port");
    let _companion = start_companion(&Setup {
        broker: &broker,
        fake: &fake,
        prefix: &prefix,
        store: &dir.path().join("companion.sqlite"),
        port,
        env: &[("XPRESSIFY__HTTP__READ_TOKEN", READ)],
    });

    let browser = browser();
    let tab = browser.new_tab().expect("tab");
    tab.navigate_to(&format!("http://127.0.0.1:{port}/"))
        .expect("navigate")
        .wait_until_navigated()
        .expect("loaded");
    until(
        &tab,
        "the page asking for a token",
        "document.getElementById('link').textContent.includes('needs a token')",
        Duration::from_secs(10),
    );
    eval(
        &tab,
        &format!("document.getElementById('token').value = '{READ}'"),
    );
    eval(
        &tab,
        "document.getElementById('token-form').requestSubmit()",
    );
    until(
        &tab,
        "the live link",
        "document.getElementById('link').textContent === 'live'",
        Duration::from_secs(10),
    );
    broker
        .publish(
            &topics.mood(),
            MOOD.replace("DEV", &device)
                .replace("EMO", "sad")
                .as_bytes(),
            true,
        )
        .expect("publish");
    until(
        &tab,
        "the mood on the page",
        &format!(
            "(document.querySelector('[data-device=\"{device}\"] .mood') || {{}}).textContent === 'sad'"
        ),
        Duration::from_secs(5),
    );
    assert_eq!(
        eval(&tab, "window.__errors.join('; ')"),
        "",
        "script errors on the page"
    );
}

/// On a phone (390 × 844), a house with two rooms shows a player per room; a room's Skip
/// moves that room on and leaves the other playing, and nothing is wider than the screen.
#[test]
fn each_room_has_a_player_on_a_phone() {
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    xpressify_tests::music::write_catalogue(&music, &[("happy", 3), ("sad", 3)], 60.0);
    let prefix = unique_name("xp");
    let kitchen = Topics::new(prefix.clone(), unique_name("kitchen")).expect("topics");
    let bedroom = Topics::new(prefix.clone(), unique_name("bedroom")).expect("topics");
    let config = dir.path().join("companion.toml");
    std::fs::write(
        &config,
        format!(
            "[mpv]\naudio_output = \"null\"\n\n[[rooms]]\nname = \"kitchen\"\ndevices = [\"{}\"]\n\n[[rooms]]\nname = \"bedroom\"\ndevices = [\"{}\"]\n[rooms.player]\nsink = \"mpv\"\n",
            kitchen.device_id(),
            bedroom.device_id()
        ),
    )
    .expect("config");
    let config_env = config.display().to_string();
    let music_env = music.display().to_string();
    let setup = Setup {
        broker: &broker,
        fake: &fake,
        prefix: &prefix,
        store: &dir.path().join("companion.sqlite"),
        port: free_port().expect("port"),
        env: &[
            ("XPRESSIFY_CONFIG", &config_env),
            ("XPRESSIFY__YOUTUBE__API_KEY", ""),
            ("XPRESSIFY__LOCAL__FOLDER", &music_env),
        ],
    };
    let _companion = start_companion(&setup);
    let base = format!("http://127.0.0.1:{}/", setup.port);
    let browser = browser_sized(390, 844);
    let tab = open_with_token(&browser, &base);
    until(
        &tab,
        "the live link",
        "document.getElementById('link').textContent === 'live'",
        Duration::from_secs(10),
    );
    for (topics, emotion) in [(&kitchen, "happy"), (&bedroom, "sad")] {
        let mood = MOOD
            .replace("DEV", topics.device_id())
            .replace("EMO", emotion);
        broker
            .publish(&topics.mood(), mood.as_bytes(), true)
            .expect("publish");
    }
    until(
        &tab,
        "the kitchen's player",
        "document.getElementById('player-title').textContent === 'Playing in kitchen' && document.getElementById('np').textContent.startsWith('A happy song')",
        Duration::from_secs(15),
    );
    let bedroom_np =
        "(document.querySelector('[data-room=\"bedroom\"] .np') || {}).textContent || ''";
    until(
        &tab,
        "the bedroom's player",
        &format!("{bedroom_np}.startsWith('A sad song')"),
        Duration::from_secs(15),
    );
    // (Arrays do not cross the DevTools protocol by value: they come as JSON text.)
    let picks = |tab: &Tab| -> Vec<serde_json::Value> {
        let text = eval(
            tab,
            "fetch('/api/status').then(r => r.json()).then(s => JSON.stringify(s.rooms.map(r => r.pick_id)))",
        );
        serde_json::from_str(text.as_str().unwrap_or("[]")).unwrap_or_default()
    };
    let before = picks(&tab);
    assert!(
        before.len() == 2 && before.iter().all(serde_json::Value::is_i64),
        "{before:?}"
    );
    eval(
        &tab,
        "document.querySelector('[data-room=\"bedroom\"] [data-room-command=\"skip\"]').click()",
    );
    until(
        &tab,
        "the sent skip",
        "document.getElementById('control-msg').textContent === 'Sent: skip in bedroom.'",
        Duration::from_secs(5),
    );
    let t0 = Instant::now();
    loop {
        let now = picks(&tab);
        if now[1] != before[1] {
            assert_eq!(now[0], before[0], "the kitchen played on");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "skip did not reach the bedroom"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    until(
        &tab,
        "the bedroom's new pick on the page",
        &format!("{bedroom_np}.startsWith('A sad song')"),
        Duration::from_secs(5),
    );
    // "Play for this mood" in the bedroom: the bedroom plays a happy pick, says why, and
    // the kitchen is left alone.
    eval(
        &tab,
        "(() => { const s = document.querySelector('[data-room=\"bedroom\"] select'); s.value = 'happy'; s.dispatchEvent(new Event('change')); })()",
    );
    until(
        &tab,
        "the bedroom playing for the chosen mood",
        &format!("{bedroom_np}.startsWith('A happy song')"),
        Duration::from_secs(10),
    );
    until(
        &tab,
        "the choice and the reason on the bedroom's card",
        "(() => { const c = document.querySelector('[data-room=\"bedroom\"]'); return c.textContent.includes('chosen: happy') && c.textContent.includes('Why this song: for happy'); })()",
        Duration::from_secs(5),
    );
    let chosen = eval(
        &tab,
        "fetch('/api/status').then(r => r.json()).then(s => JSON.stringify(s.rooms.map(r => r.chosen && r.chosen.mood)))",
    );
    assert_eq!(chosen, "[null,\"happy\"]");
    assert_eq!(
        eval(
            &tab,
            "document.documentElement.scrollWidth <= window.innerWidth"
        ),
        true,
        "the page is wider than the phone"
    );
    assert_eq!(eval(&tab, "window.__errors.length"), 0);
    eval(
        &tab,
        "document.getElementById('player-title').scrollIntoView(); window.scrollBy(0, -60)",
    );
    screenshot(&tab, "page-rooms.png");
}

#[test]
fn the_library_shows_on_the_mood_plane_and_a_listener_moves_a_track() {
    xpressify_companion::install_tls();
    let broker = Broker::get().expect("broker");
    let fake = FakeYoutube::start().expect("fake");
    let dir = tempfile::tempdir().expect("tempdir");
    let music = dir.path().join("music");
    xpressify_tests::music::write_pieces(&music, 2, 12.0, 3);
    let music_env = music.display().to_string();
    let prefix = unique_name("xp");
    let setup = Setup {
        broker: &broker,
        fake: &fake,
        prefix: &prefix,
        store: &dir.path().join("companion.sqlite"),
        port: free_port().expect("port"),
        env: &[
            ("XPRESSIFY__YOUTUBE__API_KEY", ""),
            ("XPRESSIFY__LIBRARY__FOLDER", &music_env),
            ("XPRESSIFY__LIBRARY__THREADS", "2"),
        ],
    };
    let _companion = start_companion(&setup);
    let api = xpressify_tests::api::Api::new(setup.port, Some(TOKEN)).expect("client");
    api.wait_for("the scan", "/api/library", Duration::from_secs(120), |l| {
        l["total"] == 14
    })
    .expect("fourteen tracks");
    let browser = browser();
    let tab = open_with_token(
        &browser,
        &format!("http://127.0.0.1:{}/#library", setup.port),
    );
    until(
        &tab,
        "every track listed and drawn",
        "document.querySelectorAll('#tracks tbody tr').length === 14 && document.querySelectorAll('#plane .track').length === 14",
        Duration::from_secs(10),
    );
    let row = "document.querySelector('#tracks tr[data-file=\"sad-00.wav\"]')";
    assert_eq!(
        eval(&tab, &format!("{row}.cells[2].textContent.split(', ')[0]")),
        "sad"
    );
    screenshot(&tab, "page-library.png");
    // Move the sad piece to the happy music, as a listener would with the select.
    eval(
        &tab,
        &format!(
            "(() => {{ const s = {row}.querySelector('select'); s.value = 'happy'; s.dispatchEvent(new Event('change')); }})()"
        ),
    );
    until(
        &tab,
        "the moved track",
        &format!(
            "{row} && {row}.cells[3].textContent === 'listener' && {row}.cells[2].textContent.startsWith('happy')"
        ),
        Duration::from_secs(10),
    );
    let moved = api.get("/api/library").expect("library");
    let track = moved["tracks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["file"] == "sad-00.wav"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(track["source"], "listener", "{track}");
    // Undo gives it back the place its sound gave it.
    eval(&tab, &format!("{row}.querySelector('button').click()"));
    until(
        &tab,
        "the track back in place",
        &format!("{row} && {row}.cells[3].textContent === 'audio'"),
        Duration::from_secs(10),
    );
}
