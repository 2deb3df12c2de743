//! One reader of new order events per store, fanned out to every stream.
//!
//! A single task follows the history after its own cursor, with [`Horizon`]
//! deciding what is final, and sends each final event once on a broadcast
//! channel. A stream reads the database only to catch up to where the feed
//! stood when it subscribed (again if it falls behind the channel), so an
//! idle stream holds no connection and costs no query.
//!
//! The feed reads only when woken: by this process's commits that appended
//! events (`Tx::commit`), by PostgreSQL notifications (other replicas send
//! one after their commits, `announce.rs`; it listens on a connection of its
//! own that is not the pool's), and by a slow poll in case a notification
//! was lost, an operator wrote an event or another process wrote the SQLite
//! file.
//! While a read shows events held back behind transactions in progress it
//! reads again soon, since those transactions may announce nothing. The task
//! stops once no stream listens (the next one starts it again) and when the
//! store closes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kessai_migrations::ORDER_EVENTS_CHANNEL;
use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Store;
use super::error::StoreError;
use super::events::{EventFilter, StreamedEvent};
use super::horizon::{Horizon, StartBarrier};

/// How often the feed reads with nothing announced.
const SAFETY_POLL: Duration = Duration::from_secs(1);
/// How often it reads while events wait for transactions in progress.
const HELD_BACK_POLL: Duration = Duration::from_millis(100);
/// Events read at a time.
const BATCH: u64 = 500;
/// How long closing waits for the feed and its listening connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Feed {
    events: broadcast::Sender<Arc<StreamedEvent>>,
    /// Every event up to here was sent on `events` (or never committed).
    /// Events are sent and the head moved under this channel's lock, so a
    /// subscriber that reads it while subscribing knows exactly which events
    /// it will receive. `None` while no feed knows where the history stands.
    head: watch::Sender<Option<i64>>,
    /// The running feed task, if any.
    task: Mutex<Option<JoinHandle<()>>>,
    /// Woken by this process's commits that appended events.
    pub(super) wake: Arc<Notify>,
    stop: CancellationToken,
    /// PostgreSQL: where the listening connection connects.
    listen: Option<PgConnectOptions>,
}

impl Feed {
    pub(super) fn new(buffer: usize, listen: Option<PgConnectOptions>) -> Self {
        Self {
            events: broadcast::channel(buffer.max(1)).0,
            head: watch::Sender::new(None),
            task: Mutex::new(None),
            wake: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            listen,
        }
    }

    fn publish(&self, events: Vec<StreamedEvent>, head: i64) {
        self.head.send_if_modified(|at| {
            for event in events {
                // Fails only while nobody is subscribed.
                let _ = self.events.send(Arc::new(event));
            }
            let moved = *at != Some(head);
            *at = Some(head);
            moved
        });
    }

    /// Ends the task when no stream listens any more, under the lock that
    /// subscribing takes, so a new subscriber either counts here or starts
    /// a new task.
    fn stop_if_unwatched(&self) -> bool {
        let mut task = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        if self.events.receiver_count() > 0 {
            return false;
        }
        *task = None;
        self.head.send_replace(None);
        true
    }

    /// Stops the feed (the store is closing) and waits a little for it.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(CLOSE_WAIT, task).await;
        }
    }
}

/// A stream's place on the feed.
pub struct EventSubscription {
    events: broadcast::Receiver<Arc<StreamedEvent>>,
    head: watch::Receiver<Option<i64>>,
    at: Option<i64>,
}

impl Store {
    /// Subscribes to new events, starting the feed if none runs.
    pub fn subscribe_events(&self) -> EventSubscription {
        let feed = &self.feed;
        let mut task = feed.task.lock().unwrap_or_else(PoisonError::into_inner);
        let running = task.as_ref().is_some_and(|t| !t.is_finished());
        if !running && !feed.stop.is_cancelled() {
            // A task that ended unexpectedly may have left its head behind:
            // the new one starts from where the history stands now.
            feed.head.send_replace(None);
            *task = Some(tokio::spawn(run(self.clone())));
        }
        let head = feed.head.borrow();
        let events = feed.events.subscribe();
        let at = *head;
        drop(head);
        EventSubscription {
            events,
            head: feed.head.subscribe(),
            at,
        }
    }
}

impl EventSubscription {
    /// Where the feed stood when this subscription began: every event up to
    /// here was sent before it, every later one is received here, in order
    /// (unless this subscription falls behind). Waits while the feed starts.
    pub async fn start(&mut self) -> i64 {
        loop {
            if let Some(at) = self.at.or(*self.head.borrow_and_update()) {
                self.at = Some(at);
                return at;
            }
            if self.head.changed().await.is_err() {
                // The sender lives in the store, which the caller holds.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The next event, or `None` if this subscription fell behind the
    /// channel and lost events: subscribe again and catch up from the
    /// database. Holds nothing while it waits.
    pub async fn recv(&mut self) -> Option<Arc<StreamedEvent>> {
        match self.events.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => None,
            Err(broadcast::error::RecvError::Closed) => {
                // The sender lives in the store, which the caller holds.
                std::future::pending().await
            }
        }
    }
}

async fn run(store: Store) {
    let feed = store.feed.clone();
    let listening = feed.listen.clone().map(|options| {
        let stop = feed.stop.child_token();
        let task = tokio::spawn(listen(options, feed.wake.clone(), stop.clone()));
        (task, stop)
    });
    tokio::select! {
        () = feed.stop.cancelled() => {}
        () = follow(&store) => {}
    }
    if let Some((task, stop)) = listening {
        stop.cancel();
        let _ = task.await;
    }
}

/// Reads and publishes new events until no stream listens.
async fn follow(store: &Store) {
    let feed = &store.feed;
    let mut horizon = start(store).await;
    feed.publish(Vec::new(), horizon.cursor());
    let mut failures = 0;
    let mut pause = Duration::ZERO;
    loop {
        tokio::select! {
            () = feed.wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
        if feed.stop_if_unwatched() {
            return;
        }
        let read = store
            .events_after(horizon.cursor(), &EventFilter::default(), BATCH)
            .await;
        pause = match read {
            Ok(batch) => {
                failures = 0;
                let full = batch.full;
                let admitted = horizon.admit(batch);
                let more = full && !admitted.is_empty();
                feed.publish(admitted, horizon.cursor());
                if more {
                    Duration::ZERO
                } else if horizon.held_back() {
                    HELD_BACK_POLL
                } else {
                    SAFETY_POLL
                }
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "reading new order events failed; streams wait");
                backoff(failures)
            }
        };
    }
}

/// Where the feed starts: the newest event, once every transaction that
/// might still commit one below it has finished.
async fn start(store: &Store) -> Horizon {
    let mut failures = 0;
    loop {
        match start_position(store).await {
            Ok(horizon) => return horizon,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "the event feed cannot start; retrying");
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

async fn start_position(store: &Store) -> Result<Horizon, StoreError> {
    let (latest, running) = store.latest_event().await?;
    let mut waiting = StartBarrier::new(running);
    while !waiting.is_empty() {
        tokio::time::sleep(HELD_BACK_POLL).await;
        let (_, running) = store.latest_event().await?;
        if waiting.passed(&running) {
            break;
        }
    }
    Ok(Horizon::after(latest))
}

/// Listens for PostgreSQL's announcements of new events and wakes the feed,
/// reconnecting with backoff; a catch-up read follows every (re)connection,
/// since announcements made meanwhile are lost.
async fn listen(options: PgConnectOptions, wake: Arc<Notify>, stop: CancellationToken) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options);
    tokio::select! {
        () = stop.cancelled() => {}
        () = listen_on(&pool, &wake) => {}
    }
    // The listener hands its connection back as it drops.
    let _ = tokio::time::timeout(CLOSE_WAIT, pool.close()).await;
}

async fn listen_on(pool: &PgPool, wake: &Notify) {
    let mut failures = 0;
    loop {
        let error = match listener(pool).await {
            Ok(mut listener) => {
                failures = 0;
                wake.notify_one();
                loop {
                    match listener.try_recv().await {
                        // `None`: the connection was lost and made again.
                        Ok(Some(_) | None) => wake.notify_one(),
                        Err(error) => break error,
                    }
                }
            }
            Err(error) => error,
        };
        failures += 1;
        tracing::warn!(%error, "listening for new order events failed; the feed polls meanwhile");
        tokio::time::sleep(backoff(failures)).await;
    }
}

async fn listener(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(ORDER_EVENTS_CHANNEL).await?;
    Ok(listener)
}

/// 250 ms, doubling, at most 10 s.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(6);
    Duration::from_millis(250 * (1 << exponent)).min(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_seconds() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(7), Duration::from_secs(10));
        assert_eq!(backoff(100), Duration::from_secs(10));
    }
}
