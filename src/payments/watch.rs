//! WatchOrderEvents: the order history after a cursor, then each new event
//! as it is recorded, on any replica.
//!
//! A stream subscribes to its store's event feed first, then reads the
//! database from its cursor up to where the feed stood at that moment (every
//! event up to there is final, see `store::feed`), then takes the feed's
//! events past what it has delivered: no gap, no event twice. One that falls
//! behind the feed's buffer subscribes again and catches up the same way.
//! While it waits for new events it holds no connection and makes no query.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::Stream;

use super::watchers::WatcherSlot;
use super::{Caller, PaymentError, Payments};
use crate::domain::OrderId;
use crate::store::{EventFilter, EventSubscription, Store, StreamedEvent};

/// Events read at a time while catching up.
const BATCH: u64 = 500;

/// Which events, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchCommand {
    /// Deliver events after this one (0: the whole history).
    pub after: i64,
    pub filter: EventFilter,
}

/// Where a stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Subscribed; waiting to learn where the feed stood.
    Joining,
    /// Reading the database up to where the feed stood.
    CatchingUp { until: i64 },
    /// Taking the feed's events.
    Live,
}

struct Watch {
    store: Store,
    filter: EventFilter,
    /// Every event up to here was delivered, filtered out or never
    /// committed.
    cursor: i64,
    feed: EventSubscription,
    phase: Phase,
    ready: VecDeque<StreamedEvent>,
    failed: bool,
    /// Counts this stream against the caps until it is dropped.
    _slot: WatcherSlot,
}

impl Payments {
    /// Every event after the cursor, oldest first, then new ones as they
    /// come, without end. It stops when dropped (the caller went away); a
    /// database error is the stream's last item. Refused at once beyond the
    /// caps on open streams, or when watching one order that does not exist.
    pub async fn watch(
        &self,
        caller: &Caller,
        mut cmd: WatchCommand,
    ) -> Result<
        impl Stream<Item = Result<StreamedEvent, PaymentError>> + Send + 'static,
        PaymentError,
    > {
        let slot = self.inner.watchers.admit(caller)?;
        if let Some(order_id) = &cmd.filter.order_id {
            self.view_as(&caller.sees, order_id).await?;
        }
        cmd.filter.owner = caller.sees.owner().map(str::to_owned);
        let watch = Watch {
            store: self.store().clone(),
            feed: self.store().subscribe_events(),
            filter: cmd.filter,
            cursor: cmd.after,
            phase: Phase::Joining,
            ready: VecDeque::new(),
            failed: false,
            _slot: slot,
        };
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            if watch.failed {
                return None;
            }
            loop {
                if let Some(event) = watch.ready.pop_front() {
                    return Some((Ok(event), watch));
                }
                if let Err(error) = watch.step().await {
                    watch.failed = true;
                    return Some((Err(error), watch));
                }
            }
        }))
    }
}

impl Payments {
    /// One order's history as it stands, oldest first: the events
    /// WatchOrderEvents delivers for it. `OrderNotFound` for an order the
    /// caller may not see.
    pub async fn order_events(
        &self,
        caller: &Caller,
        order_id: &OrderId,
    ) -> Result<Vec<StreamedEvent>, PaymentError> {
        self.view_as(&caller.sees, order_id).await?;
        let filter = EventFilter {
            order_id: Some(order_id.clone()),
            provider: None,
            owner: caller.sees.owner().map(str::to_owned),
        };
        let mut events: Vec<StreamedEvent> = Vec::new();
        loop {
            let after = events.last().map_or(0, |e| e.id);
            let batch = self.store().events_after(after, &filter, BATCH).await?;
            events.extend(batch.events);
            if !batch.full {
                return Ok(events);
            }
        }
    }
}

impl Watch {
    /// Moves on by one read of the database or one event of the feed.
    async fn step(&mut self) -> Result<(), PaymentError> {
        match self.phase {
            Phase::Joining => {
                let until = self.feed.start().await;
                self.phase = Phase::CatchingUp { until };
            }
            Phase::CatchingUp { until } if self.cursor >= until => self.phase = Phase::Live,
            Phase::CatchingUp { until } => {
                let batch = self
                    .store
                    .events_between(self.cursor, until, &self.filter, BATCH)
                    .await?;
                self.cursor = match batch.events.last() {
                    Some(last) if batch.full => last.id,
                    Some(_) | None => until,
                };
                self.ready.extend(batch.events);
            }
            Phase::Live => match self.feed.recv().await {
                Some(event) if event.id > self.cursor => {
                    self.cursor = event.id;
                    if self.filter.matches(&event) {
                        self.ready.push_back(Arc::unwrap_or_clone(event));
                    }
                }
                // Sent before this stream caught up past it.
                Some(_) => {}
                None => {
                    tracing::debug!(
                        cursor = self.cursor,
                        "an event stream fell behind the feed; catching up from the database"
                    );
                    self.feed = self.store.subscribe_events();
                    self.phase = Phase::Joining;
                }
            },
        }
        Ok(())
    }
}
