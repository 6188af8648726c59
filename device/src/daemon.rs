//! The device daemon (`xpressify-device run`, and the device half of the one-box
//! `xpressify`): the vision loop on its own thread, the MQTT session, the display and the
//! buttons, all stopped together by one future.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::DeviceConfig;
use crate::display::thread::{self, ScreenInputs};
use crate::mqtt::Session;
use crate::privacy::CameraSwitch;
use crate::vision::analyze::Analyzer;
use crate::vision::mood::MoodTracker;
use crate::vision::pipeline::{self, PipelineSettings, Signals, Update};

/// The daemon: the vision loop on its own thread, the MQTT session on this one, until
/// `stop_when` completes (a signal, a duration, the one-box's shutdown) or a non-looping file
/// source ends. Owning the whole lifetime here lets the device binary and the one-box binary
/// run the very same daemon.
pub fn run(config: &DeviceConfig, stop_when: impl Future<Output = ()>) -> anyhow::Result<()> {
    let every = |per_second: f32| {
        if per_second > 0.0 {
            Duration::from_secs_f32(1.0 / per_second)
        } else {
            Duration::ZERO
        }
    };
    let settings = PipelineSettings {
        device_id: config.mqtt.device_id.clone(),
        model: config.classifier.model_info(),
        probabilities_every: every(config.mqtt.probabilities_hz),
        diagnostics_every: Duration::from_secs(config.mqtt.diagnostics_s.into()),
        mood_refresh: Duration::from_secs(config.mqtt.mood_refresh_s.into()),
        started: Instant::now(),
    };
    let camera_switch = Arc::new(CameraSwitch::load(&config.privacy, &config.mqtt.device_id));
    let stop = Arc::new(AtomicBool::new(false));
    let metrics = match config.metrics_addr()? {
        Some(addr) => {
            if let Err(e) = crate::telemetry::install() {
                tracing::warn!(error = %e, "no figures for /metrics: another metrics recorder runs in this process");
            }
            Some(crate::metrics_listener::start(addr, Arc::clone(&stop))?)
        }
        None => None,
    };
    let mut tracker = MoodTracker::new(config.mood);
    // The session fills it from `…/calibration`; the vision loop applies it.
    let calibration = tokio::sync::watch::Sender::new(None);
    let calibration_rx = calibration.subscribe();
    let (tx, mut from_vision) = tokio::sync::mpsc::channel(64);
    let (camera_tx, camera_ok) = tokio::sync::watch::channel(true);
    let (loaded_tx, loaded) = std::sync::mpsc::sync_channel(1);
    let vision = {
        let stop = Arc::clone(&stop);
        let (detector, classifier) = (config.detector.clone(), config.classifier.clone());
        let camera = config.camera.clone();
        let camera_on = camera_switch.subscribe();
        std::thread::Builder::new()
            .name("vision".into())
            .spawn(move || {
                // The thread that runs the models loads them. glibc gives each thread a heap
                // arena of its own: loaded on another thread, the memory that optimising the
                // models frees stays there, and inference takes fresh pages (the daemon's peak
                // RSS with the default model was 88 MiB that way, 57 MiB this way).
                let analyzer = match Analyzer::load(&detector, &classifier) {
                    Ok(analyzer) => analyzer,
                    Err(e) => {
                        let _ = loaded_tx.send(Err(anyhow::Error::from(e)));
                        return;
                    }
                };
                // A camera that cannot be set up (a bad path, no such pattern) stops the start
                // with its reason; one that fails later is retried by the loop.
                let first = match camera.open().context("[camera]") {
                    Ok(source) => source,
                    Err(e) => {
                        let _ = loaded_tx.send(Err(e));
                        return;
                    }
                };
                let _ = loaded_tx.send(Ok(()));
                tracing::info!(
                    rss_mib = crate::bench::rss_mib().unwrap_or(f64::NAN),
                    "models loaded"
                );
                let first = std::cell::Cell::new(Some(first));
                let open = || match first.take() {
                    Some(source) => Ok(source),
                    None => camera.open(),
                };
                pipeline::run(
                    &open,
                    &analyzer,
                    &mut tracker,
                    &settings,
                    &tx,
                    Signals {
                        camera_ok: &camera_tx,
                        camera_on,
                        stop: &stop,
                        calibration: calibration_rx,
                    },
                );
            })
            .context("starting the vision thread")?
    };
    match loaded.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = vision.join();
            return Err(e);
        }
        Err(_) => anyhow::bail!("the vision thread panicked while loading the models"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let session =
            Session::new(config, Arc::clone(&camera_switch))?.with_calibration(calibration);
        // The vision loop's updates go to the session; the announced mood also to the screen.
        let (mood_tx, mood_rx) = tokio::sync::watch::channel(None);
        let (to_session, session_rx) = tokio::sync::mpsc::channel(64);
        let buttons = start_buttons(
            config,
            to_session.clone(),
            (session.watch_link(), camera_ok.clone()),
            session.watch_now_playing(),
            (&camera_switch, &stop),
        );
        tokio::spawn(async move {
            while let Some(update) = from_vision.recv().await {
                if let Update::Mood(event) = &update {
                    mood_tx.send_replace(Some(event.clone()));
                }
                if to_session.send(update).await.is_err() {
                    break;
                }
            }
        });
        let screen = start_screen(
            config,
            ScreenInputs {
                mood: mood_rx,
                link: session.watch_link(),
                now_playing: session.watch_now_playing(),
                camera_ok,
                companion_online: session.watch_companion(),
            },
            &stop,
        );
        let result = session.run(Some(session_rx), stop_when).await;
        stop.store(true, Ordering::Relaxed);
        for (name, thread) in [("display", screen), ("buttons", buttons)] {
            if let Some(thread) = thread
                && thread.join().is_err()
            {
                tracing::error!("the {name} thread panicked");
            }
        }
        result
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(thread) = metrics
        && thread.join().is_err()
    {
        tracing::error!("the metrics thread panicked");
    }
    if vision.join().is_err() {
        anyhow::bail!("the vision thread panicked");
    }
    result
}

/// Starts the buttons thread when buttons are enabled; without GPIO it logs why and ends.
fn start_buttons(
    config: &DeviceConfig,
    commands: tokio::sync::mpsc::Sender<Update>,
    (link, camera_ok): (
        tokio::sync::watch::Receiver<bool>,
        tokio::sync::watch::Receiver<bool>,
    ),
    now_playing: tokio::sync::watch::Receiver<Option<xpressify_protocol::NowPlaying>>,
    (camera, stop): (&Arc<CameraSwitch>, &Arc<AtomicBool>),
) -> Option<std::thread::JoinHandle<()>> {
    if !config.buttons.enabled {
        return None;
    }
    let camera = Arc::clone(camera);
    let camera_on = camera.subscribe();
    // The LED is dark while the camera is off: the listener sees that nothing is read.
    let healthy = move || *link.borrow() && *camera_ok.borrow() && *camera_on.borrow();
    let buttons = config.buttons.clone();
    let stop = Arc::clone(stop);
    std::thread::Builder::new()
        .name("buttons".into())
        .spawn(move || {
            if let Err(e) =
                crate::buttons::run(&buttons, &camera, &commands, &healthy, &now_playing, &stop)
            {
                crate::buttons::report_unavailable(&e);
            }
        })
        .map_err(
            |e| tracing::warn!(error = %e, "cannot start the buttons thread; running without them"),
        )
        .ok()
}

/// Starts the display thread when one is configured. A display that fails is logged and the
/// device runs on without it: the mood still reaches MQTT.
fn start_screen(
    config: &DeviceConfig,
    inputs: ScreenInputs,
    stop: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if !config.display.enabled() {
        return None;
    }
    let display = config.display.clone();
    let stop = Arc::clone(stop);
    let spawned =
        std::thread::Builder::new()
            .name("display".into())
            .spawn(move || match thread::run(&display, inputs, &stop) {
                Ok(draws) => tracing::info!(draws, "display stopped"),
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "display unavailable; running without it"
                ),
            });
    match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the display thread; running without it");
            None
        }
    }
}
