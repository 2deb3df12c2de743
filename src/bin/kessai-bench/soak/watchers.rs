//! WatchOrderEvents held open for the whole soak: many idle streams, each
//! on one order nobody touches (after its history, nothing comes), and a
//! few on every order, which receive each event the callers cause. A
//! stream that ends is opened again after the last event received, as a
//! client resumes; how each ended is counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kessai::proto::v1;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::samples::{Interval, answer};
use crate::load::Client;

#[derive(Default)]
pub struct Watchers {
    /// Idle streams open now.
    pub idle_open: AtomicI64,
    /// How streams ended before the soak closed them, by (idle, answer).
    ended: Mutex<BTreeMap<(bool, String), u64>>,
}

impl Watchers {
    pub fn ended(&self, idle: bool) -> BTreeMap<String, u64> {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended
            .iter()
            .filter(|((i, _), _)| *i == idle)
            .map(|((_, answer), n)| (answer.clone(), *n))
            .collect()
    }

    fn end(&self, idle: bool, answer: String) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        *ended.entry((idle, answer)).or_default() += 1;
    }
}

/// Streams on `clients` until `stop`: one idle stream per order of
/// `quiet`, `active` streams on every order, whose events count into
/// `interval`. Streams open 8 at a time, so that hundreds of first reads
/// do not all wait for kessai's pool at once.
pub async fn watch(
    clients: &[Client],
    quiet: Vec<String>,
    active: usize,
    interval: Arc<Interval>,
    watchers: Arc<Watchers>,
    stop: CancellationToken,
) {
    let opening = Arc::new(Semaphore::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    let requests = quiet
        .into_iter()
        .map(|order_id| {
            let request = v1::WatchOrderEventsRequest {
                order_id,
                ..Default::default()
            };
            (request, None)
        })
        .chain((0..active).map(|_| (Default::default(), Some(interval.clone()))));
    for (n, (request, interval)) in requests.enumerate() {
        tasks.spawn(stream(
            clients[n % clients.len()].clone(),
            request,
            interval,
            watchers.clone(),
            opening.clone(),
            stop.clone(),
        ));
    }
    tasks.join_all().await;
}

/// One watcher: opens, reads until `stop`, and opens again after the last
/// event it received when the stream ends first.
async fn stream(
    client: Client,
    mut request: v1::WatchOrderEventsRequest,
    interval: Option<Arc<Interval>>,
    watchers: Arc<Watchers>,
    opening: Arc<Semaphore>,
    stop: CancellationToken,
) {
    let idle = interval.is_none();
    loop {
        let opened = {
            let _turn = opening.acquire().await;
            client.clone().watch_order_events(request.clone()).await
        };
        let ended = match opened {
            Ok(events) => {
                let mut events = events.into_inner();
                if idle {
                    watchers.idle_open.fetch_add(1, Ordering::Relaxed);
                }
                let ended = loop {
                    tokio::select! {
                        () = stop.cancelled() => break None,
                        next = events.message() => match next {
                            Ok(Some(v1::WatchOrderEventsResponse { event: Some(event) })) => {
                                if let Some(interval) = &interval {
                                    interval.event();
                                }
                                request.after_cursor = event.cursor;
                            }
                            Ok(_) => break Some("ended without an error".to_owned()),
                            Err(status) => break Some(answer::<()>(&Err(status))),
                        },
                    }
                };
                if idle {
                    watchers.idle_open.fetch_sub(1, Ordering::Relaxed);
                }
                ended
            }
            Err(status) => Some(format!("refused: {}", answer::<()>(&Err(status)))),
        };
        let Some(ended) = ended else { return };
        watchers.end(idle, ended);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}
