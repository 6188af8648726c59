//! The web page's embedded YouTube player as a sink: the companion decides, the page plays.
//!
//! The sink publishes the player's desired state (pick, paused or not, volume) on a watch
//! channel that the HTTP server streams to every open page; a page reports back when the
//! pick ended or could not play, naming the pick, so a stale tab cannot end a newer track.

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use xpressify_protocol::PlaybackState;

use super::{PlayItem, PlaybackSink, SinkError, SinkEvent};

/// What every open page should be doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebPlayer {
    /// The pick to show, if any.
    pub item: Option<PlayItem>,
    /// Playing, paused or stopped.
    pub state: PlaybackState,
    /// Volume in percent.
    pub volume: u8,
    /// Grows with every change, so a page can tell a new command from an old one.
    pub revision: u64,
}

/// The companion's end.
pub struct WebSink {
    state: watch::Sender<WebPlayer>,
    reports: mpsc::Receiver<(i64, SinkEvent)>,
}

/// The HTTP server's end: read the state, report what the page saw.
#[derive(Clone)]
pub struct WebPlayerHandle {
    state: watch::Receiver<WebPlayer>,
    reports: mpsc::Sender<(i64, SinkEvent)>,
}

impl WebSink {
    /// A sink and the handle the HTTP server gives to pages.
    pub fn new(volume: u8) -> (WebSink, WebPlayerHandle) {
        let (tx, rx) = watch::channel(WebPlayer {
            item: None,
            state: PlaybackState::Stopped,
            volume,
            revision: 0,
        });
        let (report_tx, report_rx) = mpsc::channel(16);
        (
            WebSink {
                state: tx,
                reports: report_rx,
            },
            WebPlayerHandle {
                state: rx,
                reports: report_tx,
            },
        )
    }

    fn update(&self, f: impl FnOnce(&mut WebPlayer)) {
        self.state.send_modify(|p| {
            f(p);
            p.revision += 1;
        });
    }
}

impl WebPlayerHandle {
    /// The current desired state.
    pub fn current(&self) -> WebPlayer {
        self.state.borrow().clone()
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<WebPlayer> {
        self.state.clone()
    }

    /// A page saw pick `pick_id` end (or fail). Reports about other picks are ignored.
    pub fn report(&self, pick_id: i64, event: SinkEvent) -> bool {
        let current = self.state.borrow().item.as_ref().map(|i| i.pick_id);
        current == Some(pick_id) && self.reports.try_send((pick_id, event)).is_ok()
    }
}

impl PlaybackSink for WebSink {
    fn name(&self) -> &'static str {
        "web"
    }

    async fn play(&mut self, item: &PlayItem) -> Result<(), SinkError> {
        let item = item.clone();
        self.update(|p| {
            p.item = Some(item);
            p.state = PlaybackState::Playing;
        });
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SinkError> {
        self.update(|p| p.state = PlaybackState::Paused);
        Ok(())
    }

    async fn resume(&mut self) -> Result<(), SinkError> {
        self.update(|p| {
            if p.item.is_some() {
                p.state = PlaybackState::Playing;
            }
        });
        Ok(())
    }

    async fn stop(&mut self) -> Result<(), SinkError> {
        self.update(|p| {
            p.item = None;
            p.state = PlaybackState::Stopped;
        });
        Ok(())
    }

    async fn set_volume(&mut self, percent: u8) -> Result<(), SinkError> {
        self.update(|p| p.volume = percent.min(100));
        Ok(())
    }

    async fn poll(&mut self) -> Result<Option<SinkEvent>, SinkError> {
        while let Ok((pick_id, event)) = self.reports.try_recv() {
            let current = self.state.borrow().item.as_ref().map(|i| i.pick_id);
            if current == Some(pick_id) {
                self.update(|p| p.state = PlaybackState::Stopped);
                return Ok(Some(event));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpressify_protocol::Track;

    fn item(id: i64) -> PlayItem {
        PlayItem {
            pick_id: id,
            track: Track::Youtube {
                video_id: "abcdefghijk".into(),
            },
            title: "t".into(),
            artist: "a".into(),
        }
    }

    #[tokio::test]
    async fn pages_see_commands_and_only_the_current_pick_can_end() {
        let (mut sink, page) = WebSink::new(50);
        sink.play(&item(1)).await.expect("play");
        sink.play(&item(2)).await.expect("play");
        assert_eq!(page.current().item.map(|i| i.pick_id), Some(2));
        assert!(!page.report(1, SinkEvent::Ended), "a stale tab");
        assert_eq!(sink.poll().await.expect("poll"), None);
        sink.pause().await.expect("pause");
        assert_eq!(page.current().state, PlaybackState::Paused);
        assert!(page.report(2, SinkEvent::Ended));
        assert_eq!(sink.poll().await.expect("poll"), Some(SinkEvent::Ended));
        assert_eq!(page.current().state, PlaybackState::Stopped);
    }
}
