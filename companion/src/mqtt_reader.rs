//! The broker is read on a thread of its own, so nothing the service waits on (a stalled disk
//! under a pick, a slow sink) ever stops the companion reading.
//!
//! The service runs on one async thread and calls the store synchronously. Were it also the
//! one polling rumqttc's event loop, every wait in it would stop the reading: Mosquitto then
//! queues the companion's messages (1,000 by default, `max_queued_messages`) and drops QoS 1
//! moods past that without a word, which `tests/tests/integration/load.rs` shows with a 3-second disk
//! stall. Here a thread polls the event loop in its own runtime, acknowledges as it reads
//! (rumqttc does), reconnects with back-off, and hands every event to the service: a stall
//! makes the service late, never lossy. What waits meanwhile is held in memory, a few hundred
//! bytes a mood, up to [`QUEUE_BYTES`] of incoming messages (tens of thousands of moods,
//! minutes of a busy house); past that, incoming messages are dropped and counted
//! ([`MqttReader::dropped`]) rather than let a flood on the LAN take the box's memory.
//! Connection events are never dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::{ConnectionError, Event, EventLoop, Outgoing, Packet};
use tokio::sync::mpsc;
use xpressify_protocol::client::{MAX_RECONNECT_WAIT, MIN_RECONNECT_WAIT};

/// Bytes of incoming messages that may wait for the service at most.
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// What an incoming message costs the queue: its payload, its topic and the event around them.
fn cost(event: &BrokerEvent) -> usize {
    match event {
        BrokerEvent::Event(Event::Incoming(Packet::Publish(p))) => {
            p.payload.len() + p.topic.len() + 128
        }
        _ => 0,
    }
}

/// The queue's fill, shared by the reader thread and the service.
#[derive(Default)]
struct Fill {
    bytes: AtomicUsize,
    dropped: AtomicU64,
}

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
    fill: Arc<Fill>,
}

impl MqttReader {
    /// Starts polling `eventloop` on a new thread.
    pub fn start(eventloop: EventLoop) -> std::io::Result<MqttReader> {
        Self::with_budget(eventloop, QUEUE_BYTES)
    }

    /// As [`MqttReader::start`], holding at most `budget` bytes of incoming messages.
    pub fn with_budget(eventloop: EventLoop, budget: usize) -> std::io::Result<MqttReader> {
        let (sender, events) = mpsc::unbounded_channel();
        let fill = Arc::new(Fill::default());
        let queue = Queue {
            sender,
            fill: fill.clone(),
            budget,
        };
        // The runtime is built (and dropped) on the thread: a runtime may not be dropped
        // inside the service's.
        let thread = std::thread::Builder::new()
            .name("mqtt-reader".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(read_until_closed(eventloop, queue)),
                    // The channel closes with the thread, and the service stops with this.
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the broker reader's runtime")
                    }
                }
            })?;
        Ok(MqttReader {
            events,
            thread: Some(thread),
            fill,
        })
    }

    /// The next event; `None` only if the reader thread has ended (it panicked).
    pub async fn next(&mut self) -> Option<BrokerEvent> {
        let event = self.events.recv().await?;
        self.fill.bytes.fetch_sub(cost(&event), Ordering::AcqRel);
        Some(event)
    }

    /// Incoming messages dropped so far because [`QUEUE_BYTES`] were waiting.
    pub fn dropped(&self) -> u64 {
        self.fill.dropped.load(Ordering::Relaxed)
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

/// The reader's end: a channel whose incoming messages are counted against a budget.
struct Queue {
    sender: mpsc::UnboundedSender<BrokerEvent>,
    fill: Arc<Fill>,
    budget: usize,
}

impl Queue {
    /// Hands `event` over, or drops it when it is a message over the budget; `Err` when the
    /// service has gone.
    fn send(&self, event: BrokerEvent) -> Result<(), ()> {
        let cost = cost(&event);
        if cost > 0 {
            let before = self.fill.bytes.fetch_add(cost, Ordering::AcqRel);
            if before + cost > self.budget {
                self.fill.bytes.fetch_sub(cost, Ordering::AcqRel);
                let dropped = self.fill.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        queued_bytes = before,
                        "the service is far behind the broker: incoming messages are being dropped"
                    );
                }
                return Ok(());
            }
        }
        self.sender.send(event).map_err(|_| {
            self.fill.bytes.fetch_sub(cost, Ordering::AcqRel);
        })
    }

    async fn closed(&self) {
        self.sender.closed().await
    }
}

async fn read_until_closed(mut eventloop: EventLoop, sender: Queue) {
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

    fn publish(bytes: usize) -> BrokerEvent {
        BrokerEvent::Event(Event::Incoming(Packet::Publish(rumqttc::Publish::new(
            "xp/dev/mood",
            rumqttc::QoS::AtLeastOnce,
            vec![b'x'; bytes],
        ))))
    }

    /// A flood the service cannot keep up with stops at the byte budget; connection events
    /// still pass, and reading frees the budget again.
    #[test]
    fn a_flood_past_the_budget_is_dropped_and_counted() {
        let (sender, events) = mpsc::unbounded_channel();
        let fill = Arc::new(Fill::default());
        let one = cost(&publish(200));
        let queue = Queue {
            sender,
            fill: fill.clone(),
            budget: 2 * one,
        };
        for _ in 0..10 {
            queue.send(publish(200)).expect("service there");
        }
        let connack = rumqttc::ConnAck::new(rumqttc::ConnectReturnCode::Success, false);
        queue
            .send(BrokerEvent::Event(Event::Incoming(Packet::ConnAck(
                connack,
            ))))
            .expect("service there");
        assert_eq!(fill.dropped.load(Ordering::Relaxed), 8);
        assert_eq!(fill.bytes.load(Ordering::Relaxed), 2 * one);
        let mut reader = MqttReader {
            events,
            thread: None,
            fill: fill.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let mut kinds = Vec::new();
        rt.block_on(async {
            for _ in 0..3 {
                kinds.push(matches!(
                    reader.next().await,
                    Some(BrokerEvent::Event(Event::Incoming(Packet::Publish(_))))
                ));
            }
        });
        assert_eq!(kinds, [true, true, false], "two messages, then the ConnAck");
        assert_eq!(fill.bytes.load(Ordering::Relaxed), 0);
        queue.send(publish(200)).expect("service there");
        assert_eq!(reader.dropped(), 8, "room again after reading");
    }

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
