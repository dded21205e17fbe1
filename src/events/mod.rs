//! Live events: the outbox rows (written in the same transaction as each change) delivered to
//! subscribers of every server instance, in order, with nothing lost.
//!
//! Each instance runs one [`EventHub`] thread with its own connection. It LISTENs for wake-ups,
//! reads the settled outbox rows after the last one it delivered (see `store::events`), and
//! fans them out in-process through one bounded broadcast channel per company. A local commit
//! wakes it directly and it then NOTIFYs the other instances (outside the write transaction,
//! at most once per loop, so commits never queue on NOTIFY's lock). A slow periodic read is the
//! safety net for a lost wake-up; a dropped connection is re-opened and reading resumes from
//! the last delivered position, so subscribers see a delay, never a gap.

pub mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use diesel::PgConnection;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::store::events::{self as outbox, EventRow, Position};

/// What a subscriber listens to: all of a company's events, or one customer's. Customer topics
/// keep fan-out proportional to interest: an event wakes only the subscribers that may want it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    pub company_id: Uuid,
    /// The customer's external id (`customerRef` in event payloads).
    pub customer_ref: Option<String>,
}

impl Topic {
    pub fn company(company_id: Uuid) -> Topic {
        Topic { company_id, customer_ref: None }
    }
}

/// The NOTIFY channel instances wake each other on.
pub const CHANNEL: &str = "callsync_events";

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Read the outbox at least this often, wake-up or not.
    pub safety_poll: Duration,
    /// How often to look for NOTIFYs from other instances.
    pub listen_poll: Duration,
    /// Events kept for resuming; older ones are pruned.
    pub retention: Duration,
    /// Events buffered per company topic for slow subscribers before they catch up from the
    /// table. A broadcast channel allocates all its slots up front (~50 bytes each).
    pub channel_capacity: usize,
    /// The same for one customer's topic: few events each, and there may be tens of thousands.
    pub customer_channel_capacity: usize,
    /// A customer topic with this many subscribers is hot: newcomers get a buffer of
    /// `channel_capacity` (shared by all of them, so cheap per subscriber). With the small one,
    /// a few syncs in a row outran thousands of subscribers, and every one of them lagged and
    /// caught up from the table at once.
    pub hot_topic_subscribers: usize,
    /// What "now" is for retention (events are stamped by the same injected clock).
    pub clock: crate::clock::Clock,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            safety_poll: Duration::from_secs(1),
            listen_poll: Duration::from_millis(5),
            retention: Duration::from_secs(7 * 24 * 3600),
            channel_capacity: 1024,
            customer_channel_capacity: 16,
            hot_topic_subscribers: 32,
            clock: crate::clock::Clock::system(),
        }
    }
}

/// A topic's broadcast channels, each with its capacity: one, or two once a customer topic is
/// hot (the small one stays until its receivers are gone). Events go to all of them.
type Channels = Vec<(broadcast::Sender<Arc<EventRow>>, usize)>;

struct Shared {
    channels: Mutex<HashMap<Topic, Channels>>,
    /// The position of the last event broadcast.
    head: Mutex<Position>,
    /// Set once the thread has read where it starts: every event settled after that is delivered.
    started: AtomicBool,
    /// Subscriptions opened since the hub started (for `/metrics`, and a test's signal that
    /// its subscription is registered: the protocols acknowledge none).
    opened: AtomicU64,
    /// Set by local commits; the hub thread waits on it.
    woken: Mutex<bool>,
    wake: Condvar,
    config: HubConfig,
}

/// One per server instance; cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    shared: Arc<Shared>,
}

impl EventHub {
    /// Starts the hub thread on its own connection to `database_url`. It stops by itself once
    /// every clone of the hub is dropped.
    pub fn start(database_url: &str, config: HubConfig) -> EventHub {
        let shared = Arc::new(Shared {
            channels: Mutex::new(HashMap::new()),
            head: Mutex::new((0, 0)),
            started: AtomicBool::new(false),
            opened: AtomicU64::new(0),
            woken: Mutex::new(false),
            wake: Condvar::new(),
            config,
        });
        let weak = Arc::downgrade(&shared);
        let url = database_url.to_string();
        std::thread::Builder::new()
            .name("callsync-events".into())
            .spawn(move || run(weak, url))
            .expect("spawn the event hub thread");
        EventHub { shared }
    }

    /// A receiver of the topic's events from now on, and the position it starts after.
    pub fn subscribe(&self, topic: Topic) -> (broadcast::Receiver<Arc<EventRow>>, Position) {
        let mut channels = lock(&self.shared.channels);
        let config = &self.shared.config;
        let customer = topic.customer_ref.is_some();
        let senders = channels.entry(topic).or_default();
        let subscribers: usize = senders.iter().map(|(sender, _)| sender.receiver_count()).sum();
        let capacity = if customer && subscribers < config.hot_topic_subscribers {
            config.customer_channel_capacity
        } else {
            config.channel_capacity
        };
        if senders.last().is_none_or(|(_, c)| *c < capacity) {
            senders.push((broadcast::channel(capacity).0, capacity));
        }
        let receiver = senders.last().map(|(sender, _)| sender.subscribe()).expect("a channel was just made");
        self.shared.opened.fetch_add(1, Ordering::SeqCst);
        // Read under the channels lock: the hub broadcasts under it too, so nothing falls
        // between this position and the receiver.
        let head = *lock(&self.shared.head);
        (receiver, head)
    }

    /// Subscriptions opened on this hub so far.
    pub fn subscriptions_opened(&self) -> u64 {
        self.shared.opened.load(Ordering::SeqCst)
    }

    /// Subscriptions open now.
    pub fn subscribers(&self) -> usize {
        let channels = lock(&self.shared.channels);
        channels.values().flatten().map(|(sender, _)| sender.receiver_count()).sum()
    }

    /// Whether the hub has connected and read where it starts from; events committed before
    /// then are replayed from the table only, never broadcast.
    pub fn has_started(&self) -> bool {
        self.shared.started.load(Ordering::SeqCst)
    }

    /// The position of the last event broadcast.
    pub fn delivered(&self) -> Position {
        *lock(&self.shared.head)
    }

    /// Tells the hub that a local transaction committed (possibly with events).
    pub fn wake(&self) {
        *lock(&self.shared.woken) = true;
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The listener connection, with the backend pid so our own NOTIFYs can be told apart.
struct Listener {
    conn: PgConnection,
    pid: i32,
}

fn connect(url: &str) -> Result<Listener, String> {
    let (conn, pid) = outbox::listen(url, CHANNEL).map_err(|e| e.to_string())?;
    Ok(Listener { conn, pid })
}

fn config_listen_poll(weak: &Weak<Shared>) -> Duration {
    weak.upgrade().map_or(Duration::from_millis(5), |shared| shared.config.listen_poll)
}

fn run(weak: Weak<Shared>, url: String) {
    let mut listener: Option<Listener> = None;
    let mut backoff = Duration::from_millis(100);
    let mut last_read = Instant::now();
    let mut next_prune = Instant::now();
    // The transaction of the first event still unsettled, if one holds delivery back, and how
    // long to wait before looking again (doubling while nothing changes).
    let mut blocked_by: Option<i64> = None;
    let mut blocked_wait = config_listen_poll(&weak);
    let mut last_blocked_check = Instant::now();
    // Start from the newest settled event: subscribers replay older ones from the table.
    let mut started = false;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let config = shared.config.clone();
        if listener.is_none() {
            match connect(&url) {
                Ok(l) => {
                    tracing::info!(pid = l.pid, "event listener connected");
                    listener = Some(l);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event listener cannot connect; retrying");
                    drop(shared);
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        let Some(l) = listener.as_mut() else { continue };
        if !started {
            match outbox::settled_head(&mut l.conn) {
                Ok(head) => {
                    *lock(&shared.head) = head;
                    shared.started.store(true, Ordering::SeqCst);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event listener lost its connection");
                    listener = None;
                    continue;
                }
            }
            started = true;
        }

        // Wait for a local commit, or the listen poll interval.
        let local = {
            let woken = lock(&shared.woken);
            let (mut woken, _) = shared
                .wake
                .wait_timeout_while(woken, config.listen_poll, |w| !*w)
                .unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *woken, false)
        };
        let result = (|| -> Result<(), String> {
            let mut remote = false;
            for n in l.conn.notifications_iter() {
                let n = n.map_err(|e| e.to_string())?;
                remote |= n.process_id != l.pid;
            }
            if local {
                outbox::notify(&mut l.conn, CHANNEL).map_err(|e| e.to_string())?;
            }
            // While an open transaction holds delivery back, ask only whether it has finished
            // (one cheap query, less and less often), not reload the payloads behind it.
            let mut read = local || remote || last_read.elapsed() >= config.safety_poll;
            if let Some(tx) = blocked_by.filter(|_| !read) {
                if last_blocked_check.elapsed() >= blocked_wait {
                    last_blocked_check = Instant::now();
                    if outbox::settled_horizon(&mut l.conn).map_err(|e| e.to_string())? > tx {
                        read = true;
                    } else {
                        blocked_wait = (blocked_wait * 2).min(Duration::from_millis(200));
                    }
                }
            }
            if read {
                last_read = Instant::now();
                blocked_by = deliver(&shared, &mut l.conn)?;
                blocked_wait = config.listen_poll;
            }
            if Instant::now() >= next_prune {
                lock(&shared.channels).retain(|_, senders| {
                    senders.retain(|(sender, _)| sender.receiver_count() > 0);
                    !senders.is_empty()
                });
                let cutoff =
                    config.clock.now() - chrono::Duration::from_std(config.retention).unwrap_or_default();
                // 10,000 a statement, up to 100 statements a pass; sooner again if more remain
                // (one 10,000-record import alone writes 50,000+ events).
                let (pruned, more) =
                    outbox::prune_before(&mut l.conn, cutoff, 10_000, 100).map_err(|e| e.to_string())?;
                if pruned > 0 {
                    tracing::info!(pruned, more, "old events pruned");
                }
                // Idempotency keys' first answers are kept 24 hours (few: one per retried write).
                let answers = crate::store::idempotency::prune(&mut l.conn, config.clock.now())
                    .map_err(|e| e.to_string())?;
                if answers > 0 {
                    tracing::info!(answers, "expired idempotency answers pruned");
                }
                next_prune =
                    Instant::now() + if more { Duration::from_secs(60) } else { Duration::from_secs(3600) };
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
            listener = None;
        }
    }
}

/// The companies someone listens to (a topic of theirs has a channel).
fn subscribed_companies(channels: &HashMap<Topic, Channels>) -> Vec<Uuid> {
    let mut companies: Vec<Uuid> = channels.keys().map(|t| t.company_id).collect();
    companies.sort_unstable();
    companies.dedup();
    companies
}

/// Broadcasts every settled event after the head; returns the `seq` of the first one still
/// unsettled, if delivery waits behind it (it settles once the horizon passes it).
fn deliver(shared: &Shared, conn: &mut PgConnection) -> Result<Option<i64>, String> {
    const BATCH: i64 = 1000;
    loop {
        let head = *lock(&shared.head);
        let wanted = subscribed_companies(&lock(&shared.channels));
        let rows = outbox::after_with_settled(conn, head, BATCH, &wanted).map_err(|e| e.to_string())?;
        let full = rows.len() as i64 == BATCH;
        let channels = lock(&shared.channels);
        // A company subscribed to since the read got no payloads: read again.
        if channels.keys().any(|topic| !wanted.contains(&topic.company_id)) {
            continue;
        }
        let mut head = lock(&shared.head);
        for (row, settled) in rows {
            if !settled {
                return Ok(Some(row.seq));
            }
            *head = row.position();
            broadcast(&channels, row);
        }
        if !full {
            return Ok(None);
        }
    }
}

/// Sends `row` to its company's topic and its customer's.
fn broadcast(channels: &HashMap<Topic, Channels>, row: EventRow) {
    let row = Arc::new(row);
    let mut topic = Topic::company(row.company_id);
    for (sender, _) in channels.get(&topic).into_iter().flatten() {
        let _ = sender.send(row.clone());
    }
    topic.customer_ref = row.payload["customerRef"].as_str().map(str::to_string);
    if topic.customer_ref.is_some() {
        for (sender, _) in channels.get(&topic).into_iter().flatten() {
            let _ = sender.send(row.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::broadcast::error::TryRecvError;

    use super::*;

    fn event(id: i64, customer: &str) -> EventRow {
        EventRow {
            id,
            tx_id: id,
            company_id: Uuid::nil(),
            kind: "task.created".into(),
            payload: serde_json::json!({"customerRef": customer}),
            created_at: chrono::DateTime::UNIX_EPOCH,
            seq: id,
        }
    }

    #[test]
    fn a_hot_customer_topic_gives_newcomers_a_larger_buffer() {
        let config = HubConfig {
            channel_capacity: 64,
            customer_channel_capacity: 2,
            hot_topic_subscribers: 3,
            ..HubConfig::default()
        };
        // No database: the hub thread only retries connecting until the hub is dropped.
        let hub = EventHub::start("postgres://127.0.0.1:1/none", config);
        let topic = Topic { company_id: Uuid::nil(), customer_ref: Some("hot".into()) };
        let mut early: Vec<_> = (0..3).map(|_| hub.subscribe(topic.clone()).0).collect();
        let mut late = hub.subscribe(topic.clone()).0;
        let mut other = hub.subscribe(Topic { customer_ref: Some("quiet".into()), ..topic.clone() }).0;
        for id in 1..=10 {
            broadcast(&lock(&hub.shared.channels), event(id, "hot"));
        }
        // The newcomer on the hot topic got everything, in order; the first subscribers share
        // the small buffer, lag, and catch up from the table (see `stream`).
        let got: Vec<i64> = std::iter::from_fn(|| late.try_recv().ok().map(|e| e.id)).collect();
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
        for rx in &mut early {
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Lagged(8))));
        }
        assert!(matches!(other.try_recv(), Err(TryRecvError::Empty)), "other customers see nothing");
        let capacities: Vec<usize> = lock(&hub.shared.channels)[&topic].iter().map(|(_, c)| *c).collect();
        assert_eq!(capacities, [2, 64]);
    }
}
