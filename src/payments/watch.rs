//! WatchOrderEvents: the order history after a cursor, then each new event
//! as it is recorded. It reads the database, not memory, so a watcher sees
//! every replica's changes; [`Horizon`] makes sure no event is skipped
//! however transactions commit.

use std::collections::VecDeque;
use std::time::Duration;

use futures::Stream;

use super::{Caller, PaymentError, Payments};
use crate::store::{EventFilter, Horizon, Store, StreamedEvent};

/// How often a watcher looks for new events once it has caught up.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Events read at a time while catching up.
const BATCH: u64 = 500;

/// Which events, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchCommand {
    /// Deliver events after this one (0: the whole history).
    pub after: i64,
    pub filter: EventFilter,
}

struct Watch {
    store: Store,
    filter: EventFilter,
    horizon: Horizon,
    ready: VecDeque<StreamedEvent>,
    /// Read again at once: the last read stopped at its limit.
    behind: bool,
    failed: bool,
}

impl Payments {
    /// Every event after the cursor, oldest first, then new ones as they
    /// come, without end. It stops when dropped (the caller went away); a
    /// database error is the stream's last item. Watching one order that
    /// does not exist is refused at once.
    pub async fn watch(
        &self,
        caller: &Caller,
        mut cmd: WatchCommand,
    ) -> Result<
        impl Stream<Item = Result<StreamedEvent, PaymentError>> + Send + 'static,
        PaymentError,
    > {
        if let Some(order_id) = &cmd.filter.order_id {
            self.view_as(&caller.sees, order_id).await?;
        }
        cmd.filter.owner = caller.sees.owner().map(str::to_owned);
        let watch = Watch {
            store: self.store().clone(),
            filter: cmd.filter,
            horizon: Horizon::after(cmd.after),
            ready: VecDeque::new(),
            behind: true,
            failed: false,
        };
        Ok(futures::stream::unfold(watch, |mut watch| async move {
            if watch.failed {
                return None;
            }
            loop {
                if let Some(event) = watch.ready.pop_front() {
                    return Some((Ok(event), watch));
                }
                if !watch.behind {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                let read = watch
                    .store
                    .events_after(watch.horizon.cursor(), &watch.filter, BATCH)
                    .await;
                match read {
                    Ok(batch) => {
                        let full = batch.full;
                        watch.ready.extend(watch.horizon.admit(batch));
                        watch.behind = full && !watch.ready.is_empty();
                    }
                    Err(error) => {
                        watch.failed = true;
                        return Some((Err(error.into()), watch));
                    }
                }
            }
        }))
    }
}
