//! The companion daemon (`xpressify-companion run`, and the music half of the one-box
//! `xpressify`): store, sources, sink, HTTP API and the MQTT loop, stopped by one future.

use anyhow::Context;
use tracing::{info, warn};

use crate::config::CompanionConfig;

/// The service: store, sources, sink, HTTP API and the MQTT loop.
pub async fn run(
    config: CompanionConfig,
    stop_when: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    use crate::recommend::Recommender;
    use crate::sink::PlaybackSink;
    use crate::source::{LocalCatalogue, YoutubeSource};
    use crate::store::Store;
    use std::sync::Arc;

    crate::install_tls();
    crate::telemetry::install();
    {
        let store = Arc::new(
            Store::open(std::path::Path::new(&config.store.path))
                .context("opening the store (store.path)")?,
        );
        let youtube = YoutubeSource::new(config.youtube.clone(), store.clone())?;
        let mapping = config.mapping().map_err(anyhow::Error::msg)?;
        let local = if !config.library.folder.is_empty() {
            let c = LocalCatalogue::library(std::path::Path::new(&config.library.folder))
                .context("opening the music library (library.folder)")?;
            Some(c)
        } else if config.local.folder.is_empty() {
            None
        } else {
            let c = LocalCatalogue::open(std::path::Path::new(&config.local.folder))
                .context("reading the local catalogue (local.folder)")?;
            info!(tracks = c.tracks().len(), folder = %config.local.folder, "local catalogue");
            Some(c)
        };
        let catalogue = local.as_ref().map(|c| c.folder().to_path_buf());
        let media = local
            .as_ref()
            .map(|c| Arc::new(crate::http::media::MediaFiles::new(c)));
        let youtube_streams = Arc::new(crate::http::stream::YoutubeStreams::new(
            config.stream.clone(),
        ));
        // Players that open URLs get YouTube picks through yt-dlp: without it, the rooms with
        // such a player play the catalogue (when there is one), and the log and the page say
        // how to fix it.
        let mut missing_yt_dlp = None;
        let youtube_on = !config.youtube.api_key.expose().trim().is_empty();
        if config.player_streams_youtube() && youtube_on {
            match youtube_streams.check().await {
                Ok(version) => info!(%version, "yt-dlp for YouTube picks"),
                Err(why) => missing_yt_dlp = Some(why),
            }
        }
        let has_catalogue = local.is_some();
        if let Some(c) = &local {
            // Where listeners moved tracks on the page.
            let key = crate::library::scan::folder_key(c.folder())?;
            c.set_moved(store.library_places(&key)?, |e| mapping.own_place(e));
        }
        // Kept until the service stops: dropping it ends the rescans.
        let _rescans = match &local {
            Some(c) if !config.library.folder.is_empty() => {
                let places = crate::library::background::Places::from_fn(|e| mapping.own_place(e));
                Some(
                    crate::library::background::start(
                        c.clone(),
                        store.clone(),
                        config.library.scan_options(),
                        config.library.rescan_minutes,
                        places,
                    )
                    .context("starting the music library's scans (library.folder)")?,
                )
            }
            _ => None,
        };
        let recommender = Arc::new(Recommender::new(
            store.clone(),
            Some(youtube),
            local,
            mapping,
            config.recommend_options(),
            None,
        )?);
        let plans = config.rooms();
        // A store from before rooms: its history and taste go to the first room.
        let adopted = store
            .adopt_roomless(&plans[0].name)
            .context("giving the history to the first room")?;
        if adopted > 0 {
            info!(room = %plans[0].name, rows = adopted, "picks and taste from before rooms go to the first room");
        }
        let mut rooms = Vec::new();
        let mut web_player = None;
        for plan in plans {
            let (sink, web) = start_sink(&config, &plan, catalogue.clone())
                .await
                .with_context(|| format!("starting the player of room {:?}", plan.name))?;
            web_player = web_player.or(web);
            info!(room = %plan.name, sink = sink.name(), devices = ?plan.devices, "room");
            let mut room = crate::room::Room::new(
                plan.name.clone(),
                plan.devices.iter().cloned().collect(),
                sink,
                crate::schedule::Schedule::new(config.timing()),
            );
            room.volume = Some(plan.volume);
            // "Music follows my mood" is kept in the store, so a switch turned off stays off.
            room.follow =
                store.setting(&room.follow_key()).ok().flatten().as_deref() != Some("off");
            if let Some(why) = missing_yt_dlp.as_deref().filter(|_| plan.streams_youtube()) {
                let fallback = if has_catalogue {
                    room.youtube = false;
                    "it plays the local catalogue only"
                } else {
                    "its YouTube picks will fail (no local catalogue to fall back to)"
                };
                warn!(room = %plan.name, "YouTube picks need yt-dlp for this room's player: {why}; {fallback}");
                room.notice = Some(format!(
                    "YouTube picks need yt-dlp for this player: {why}; {fallback}"
                ));
            }
            rooms.push(room);
        }
        let (status_tx, status_rx) = tokio::sync::watch::channel(Default::default());
        let (control_tx, control_rx) = tokio::sync::mpsc::channel(32);
        let addr = config.http_listen()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (http.listen)"))?;
        info!(
            "HTTP API on http://{}",
            listener.local_addr().unwrap_or(addr)
        );
        let (token, generated) = crate::http::control_token(config.http.token.expose(), &store)?;
        if generated {
            // Printed once, on purpose on stderr and not in the log's structured fields.
            eprintln!(
                "xpressify: generated the web control token (shown only now; set http.token to choose one): {token}"
            );
        }
        let hosts = crate::http::guard::HostCheck::new(
            &config.http.allowed_hosts,
            crate::http::guard::HostCheck::machine_hostname().as_deref(),
        );
        let limits = config.http.limits();
        let event_streams = Arc::new(tokio::sync::Semaphore::new(
            config.http.max_event_streams as usize,
        ));
        let app = crate::http::router(
            crate::http::AppState {
                tokens: crate::http::auth::Tokens::new(&token, config.http.read_token.expose()),
                store: store.clone(),
                recommender: recommender.clone(),
                status: status_rx,
                control: control_tx,
                web_player,
                media,
                event_streams,
                youtube_streams,
            },
            hosts,
        );
        let server = tokio::spawn(crate::http::serve::serve(listener, app, limits));
        let pruning = tokio::spawn(config.store.retention().run(store.clone()));
        let service = crate::service::Service::new(config, store, recommender, rooms, status_tx)
            .context("starting the thread that writes moods")?;
        let result = service.run(control_rx, stop_when).await;
        server.abort();
        pruning.abort();
        info!(
            peak_rss_mib = format!("{:.1}", crate::bench::peak_rss_mib()),
            "stopped"
        );
        result
    }
}

/// Starts a room's player; the web page's player also gives the handle the HTTP API drives it
/// through.
async fn start_sink(
    config: &CompanionConfig,
    plan: &crate::config::RoomPlan,
    catalogue: Option<std::path::PathBuf>,
) -> anyhow::Result<(crate::sink::AnySink, Option<crate::sink::WebPlayerHandle>)> {
    use crate::config::SinkKind;
    use crate::sink::{
        AnySink, DlnaSink, HomeAssistantSink, MpdSink, MpvSink, StreamUrls, WebSink,
    };
    let volume = plan.volume;
    let read_token = config.http.read_token.expose();
    Ok(match plan.sink {
        SinkKind::Web => {
            let (sink, handle) = WebSink::new(volume);
            (AnySink::Web(sink), Some(handle))
        }
        SinkKind::Mpv => (
            AnySink::Mpv(Box::new(
                MpvSink::start(&plan.mpv, catalogue, volume).await?,
            )),
            None,
        ),
        SinkKind::HomeAssistant => (
            AnySink::HomeAssistant(
                HomeAssistantSink::new(plan.home_assistant.clone())?.with_media_token(read_token),
            ),
            None,
        ),
        SinkKind::Mpd => {
            let urls = StreamUrls::new(&config.public_url()?, read_token);
            let sink = MpdSink::start(plan.mpd.clone(), urls, volume)
                .await
                .context("starting the MPD sink (player.sink = \"mpd\")")?;
            (AnySink::Mpd(sink), None)
        }
        SinkKind::Dlna => {
            let urls = StreamUrls::new(&config.public_url()?, read_token);
            let sink = DlnaSink::start(plan.dlna.clone(), urls, volume)
                .await
                .context("starting the DLNA sink (player.sink = \"dlna\")")?;
            (AnySink::Dlna(Box::new(sink)), None)
        }
    })
}
