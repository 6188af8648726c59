//! The broker is read on a thread of its own, so nothing the service waits on (a stalled disk
//! under a pick, a slow sink) ever stops the companion reading.
//!
//! The service runs on one async thread and calls the store synchronously. Were it also the
//! one polling rumqttc's event loop, every wait in it would stop the reading: Mosquitto then
//! queues the companion's messages (1,000 by default, `max_queued_messages`) and drops QoS 1
//! moods past that without a word, which `tests/tests/load.rs` shows with a 3-second disk
//! stall. Here a thread polls the event loop in its own runtime, acknowledges as it reads
//! (rumqttc does), reconnects with back-off, and hands every event to the service over an
//! unbounded channel: a stall makes the service late, never lossy. What waits meanwhile is held
//! in memory, a few hundred bytes a mood.

use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{ConnectionError, Event, EventLoop, Outgoing, Packet};
use tokio::sync::mpsc;
use xpressify_protocol::client::{MAX_RECONNECT_WAIT, MIN_RECONNECT_WAIT};

/// What the reader hands the service.
#[derive(Debug)]
pub enum BrokerEvent {
    /// Something read from or written to the broker.
    Event(Event),
    /// The connection failed (or never came); the reader tries again after `retry_in`.
    Lost {
        /// Why, as rumqttc tells it.
        error: ConnectionError,
        /// How long the reader waits before it tries again.
        retry_in: Duration,
    },
}

/// The service's end of the reader: events in the order the broker gave them.
pub struct MqttReader {
    events: mpsc::UnboundedReceiver<BrokerEvent>,
    thread: Option<JoinHandle<()>>,
}

impl MqttReader {
    /// Starts polling `eventloop` on a new thread.
    pub fn start(eventloop: EventLoop) -> std::io::Result<MqttReader> {
        let (sender, events) = mpsc::unbounded_channel();
        // The runtime is built (and dropped) on the thread: a runtime may not be dropped
        // inside the service's.
        let thread = std::thread::Builder::new()
            .name("mqtt-reader".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(read_until_closed(eventloop, sender)),
                    // The channel closes with the thread, and the service stops with this.
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the broker reader's runtime")
                    }
                }
            })?;
        Ok(MqttReader {
            events,
            thread: Some(thread),
        })
    }

    /// The next event; `None` only if the reader thread has ended (it panicked).
    pub async fn next(&mut self) -> Option<BrokerEvent> {
        self.events.recv().await
    }

    /// Waits, at most `limit`, until the event loop has written a packet that `sent` accepts:
    /// how the service knows its goodbye left before it lets go of the connection.
    pub async fn until_sent(&mut self, sent: impl Fn(&Outgoing) -> bool, limit: Duration) {
        let wait = async {
            while let Some(event) = self.next().await {
                if matches!(&event, BrokerEvent::Event(Event::Outgoing(o)) if sent(o)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }

    /// Stops the reader thread and waits for it: it ends at once, even mid back-off.
    pub fn close(&mut self) {
        self.events.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MqttReader {
    fn drop(&mut self) {
        self.close();
    }
}

async fn read_until_closed(mut eventloop: EventLoop, sender: mpsc::UnboundedSender<BrokerEvent>) {
    let mut backoff = MIN_RECONNECT_WAIT;
    loop {
        let event = tokio::select! {
            () = sender.closed() => return,
            event = eventloop.poll() => event,
        };
        let wait = match event {
            Ok(event) => {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    backoff = MIN_RECONNECT_WAIT;
                }
                if sender.send(BrokerEvent::Event(event)).is_err() {
                    return;
                }
                continue;
            }
            Err(error) => {
                let retry_in = backoff;
                backoff = (backoff * 2).min(MAX_RECONNECT_WAIT);
                if sender.send(BrokerEvent::Lost { error, retry_in }).is_err() {
                    return;
                }
                retry_in
            }
        };
        tokio::select! {
            () = sender.closed() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No broker on the port: the reader reports each failure with a doubling wait, and
    /// closing it mid-wait returns at once.
    #[tokio::test]
    async fn an_absent_broker_is_retried_with_back_off_and_close_is_prompt() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let options = rumqttc::MqttOptions::new("reader-test", "127.0.0.1", port);
        let (_client, eventloop) = rumqttc::AsyncClient::new(options, 8);
        let mut reader = MqttReader::start(eventloop).expect("reader");
        let mut waits = Vec::new();
        while waits.len() < 2 {
            match reader.next().await {
                Some(BrokerEvent::Lost { retry_in, .. }) => waits.push(retry_in),
                Some(BrokerEvent::Event(_)) => {}
                None => panic!("the reader ended"),
            }
        }
        assert_eq!(waits, [MIN_RECONNECT_WAIT, MIN_RECONNECT_WAIT * 2]);
        let started = std::time::Instant::now();
        reader.close();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "close waited out the back-off"
        );
    }
}
