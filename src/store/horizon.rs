//! Which events of the history are final: [`Horizon`] follows a reader's
//! cursor and holds back what a transaction still in progress could
//! precede.
//!
//! On PostgreSQL, event ids come from a sequence, and sequence numbers are
//! not committed in order: a reader that has seen id 10 may later find id 9
//! committed by a transaction that took its number first. Each read
//! therefore also learns which transactions were in progress when its
//! snapshot was taken ([`Running`]), and the horizon holds back every event
//! past a read that had any until all of them have finished; by then
//! whatever they wrote below that point is visible, or will never be. (A
//! transaction takes its id when it first writes, and every event is
//! appended after the order row is written, so a transaction that holds an
//! event number already has an id.) SQLite has one writer at a time, so
//! what a reader sees is always a prefix of the history.

use std::ops::Range;

use super::error::StoreError;
use super::events::{EventBatch, StreamedEvent};

/// The transactions in progress at a read's snapshot.
///
/// A snapshot lists only the running transactions whose ids are below its
/// `xmax` (one past the newest *finished* transaction); one that took a
/// newer id before the snapshot, and may already hold an event number
/// below a visible event, is not listed. A read that found events
/// therefore also takes an id of its own, after its snapshot: every id in
/// `xmax..own` is treated as in progress too, until a later snapshot
/// (whose `xmax` is past them) says which still run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    listed: Vec<u64>,
    unlisted: Range<u64>,
}

impl Running {
    /// From a read's `xmin:xmax:xip` text (see `events::IN_PROGRESS`) and
    /// the id the read took, if it took one.
    pub(super) fn parse(snapshot: &str, own: Option<&str>) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("snapshot: {snapshot:?}"));
        let mut parts = snapshot.splitn(3, ':');
        let (Some(_xmin), Some(xmax), Some(list)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt());
        };
        let xmax: u64 = xmax.parse().map_err(|_| corrupt())?;
        let listed = list
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().map_err(|_| corrupt()))
            .collect::<Result<_, _>>()?;
        let own: Option<u64> = own
            .map(|x| {
                x.parse()
                    .map_err(|_| StoreError::Corrupt(format!("transaction id: {x:?}")))
            })
            .transpose()?;
        Ok(Self {
            listed,
            unlisted: xmax..own.unwrap_or(xmax).max(xmax),
        })
    }

    /// Nothing was in progress: everything visible is final.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.unlisted.is_empty()
    }

    /// Which of these transactions a later read still finds in progress.
    fn still(&self, later: &Running) -> Running {
        let listed = later
            .listed
            .iter()
            .copied()
            .filter(|x| self.listed.contains(x) || self.unlisted.contains(x))
            .collect();
        // Ids the later snapshot does not cover yet stay unknown.
        let start = self.unlisted.start.max(later.unlisted.start);
        Running {
            listed,
            unlisted: start..self.unlisted.end.max(start),
        }
    }
}

/// How far a watcher has read, and what it must wait for before reading on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Horizon {
    /// Every event up to here was delivered (or never committed).
    cursor: i64,
    barrier: Option<Barrier>,
}

/// Events up to `upto` were read while `waiting_on` were in progress: one of
/// them may still commit an event below `upto`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Barrier {
    upto: i64,
    waiting_on: Running,
}

impl Horizon {
    pub fn after(cursor: i64) -> Self {
        Self {
            cursor,
            barrier: None,
        }
    }

    /// Where the next read starts.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Whether events already read are held back until transactions in
    /// progress finish (which may announce nothing: read again soon).
    pub fn held_back(&self) -> bool {
        self.barrier.is_some()
    }

    /// The events of `batch` (a read after [`Horizon::cursor`]) that can be
    /// delivered now, in order. The rest are read again later.
    pub fn admit(&mut self, batch: EventBatch) -> Vec<StreamedEvent> {
        if let Some(barrier) = &mut self.barrier {
            // Transactions that have finished are no longer in progress.
            barrier.waiting_on = barrier.waiting_on.still(&batch.in_progress);
        }
        let last = batch.events.last().map(|e| e.id);
        let mut admitted = Vec::new();
        for event in batch.events {
            if let Some(barrier) = &self.barrier {
                if !barrier.waiting_on.is_empty() {
                    break;
                }
                if event.id > barrier.upto {
                    self.cursor = std::cmp::max(self.cursor, barrier.upto);
                    self.barrier = None;
                }
            }
            if self.barrier.is_none() && !batch.in_progress.is_empty() {
                self.barrier = Some(Barrier {
                    upto: last.unwrap_or(event.id),
                    waiting_on: batch.in_progress.clone(),
                });
                break;
            }
            self.cursor = event.id;
            admitted.push(event);
        }
        // Everything up to a cleared barrier was read: nothing more can
        // appear below it.
        if let Some(barrier) = &self.barrier
            && barrier.waiting_on.is_empty()
            && !batch.full
        {
            self.cursor = std::cmp::max(self.cursor, barrier.upto);
            self.barrier = None;
        }
        admitted
    }
}

/// Waits, at the start of a feed, for the transactions in progress beside
/// the newest event: `first` is what the first read found, `later` each
/// later read's; done once nothing of `first` runs any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StartBarrier(Running);

impl StartBarrier {
    pub(super) fn new(first: Running) -> Self {
        Self(first)
    }

    /// Whether, after `later`, nothing of the first read runs any more.
    pub(super) fn passed(&mut self, later: &Running) -> bool {
        self.0 = self.0.still(later);
        self.0.is_empty()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{Currency, OrderId, OrderStatus, ProviderKind};

    fn event(id: i64) -> StreamedEvent {
        StreamedEvent {
            id,
            order_id: OrderId::from_trusted(format!("ord_{id}")),
            owner: "shop".into(),
            provider: ProviderKind::Payjp,
            event_type: "capture.succeeded".into(),
            actor: "test".into(),
            status: OrderStatus::Captured,
            currency: Currency::parse("JPY").unwrap(),
            amount: 100,
            amounts: None,
            created_at: Utc::now(),
        }
    }

    /// A read whose snapshot listed `listed` (its xmax past all of them),
    /// and which took no id of its own.
    fn batch(ids: &[i64], listed: &[u64]) -> EventBatch {
        let xmax = listed.iter().max().map_or(1_000, |x| x + 1).max(1_000);
        read(ids, listed, xmax, None)
    }

    fn read(ids: &[i64], listed: &[u64], xmax: u64, own: Option<u64>) -> EventBatch {
        let list: Vec<String> = listed.iter().map(u64::to_string).collect();
        let snapshot = format!("1:{xmax}:{}", list.join(","));
        let own = own.map(|x| x.to_string());
        EventBatch {
            events: ids.iter().copied().map(event).collect(),
            full: false,
            in_progress: Running::parse(&snapshot, own.as_deref()).unwrap(),
        }
    }

    fn ids(events: &[StreamedEvent]) -> Vec<i64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn with_nothing_in_progress_every_visible_event_is_final() {
        let mut h = Horizon::after(0);
        assert_eq!(ids(&h.admit(batch(&[1, 2, 4], &[]))), [1, 2, 4]);
        assert_eq!(h.cursor(), 4);
    }

    #[test]
    fn an_event_committed_late_below_one_already_seen_is_not_skipped() {
        // 10 commits while the transaction holding 9 (xid 77) is open.
        let mut h = Horizon::after(8);
        assert!(h.admit(batch(&[10], &[77])).is_empty());
        assert_eq!(h.cursor(), 8, "nothing past 8 is final yet");
        // Still open: still nothing.
        assert!(h.admit(batch(&[10], &[77, 80])).is_empty());
        // 77 committed 9; a newer transaction (80) does not hold anything
        // below 10, so 9 and 10 go out, in order.
        assert_eq!(ids(&h.admit(batch(&[9, 10], &[80]))), [9, 10]);
        assert_eq!(h.cursor(), 10);
    }

    #[test]
    fn a_transaction_newer_than_the_snapshot_knows_is_waited_for_too() {
        // Transaction 120 took number 9 and runs; 10 was committed by 110,
        // the newest finished, so the snapshot's xmax is 111 and 120 is not
        // listed. The read took id 130 after its snapshot.
        let mut h = Horizon::after(8);
        assert!(h.admit(read(&[10], &[], 111, Some(130))).is_empty());
        assert_eq!(h.cursor(), 8, "120 may hold a number below 10");
        // The next snapshot covers 120 and lists it: still nothing.
        assert!(h.admit(read(&[10], &[120], 131, None)).is_empty());
        // 120 committed 9.
        assert_eq!(ids(&h.admit(read(&[9, 10], &[], 131, None))), [9, 10]);
    }

    #[test]
    fn ids_a_later_snapshot_does_not_cover_yet_stay_in_doubt() {
        let mut h = Horizon::after(8);
        assert!(h.admit(read(&[10], &[], 111, Some(130))).is_empty());
        // A snapshot whose xmax (121) is not past 121..130: still in doubt.
        assert!(h.admit(read(&[10], &[], 121, None)).is_empty());
        assert_eq!(ids(&h.admit(read(&[10], &[], 131, None))), [10]);
    }

    #[test]
    fn a_read_that_found_no_event_takes_no_id_and_waits_for_none() {
        let running = Running::parse("5:111:", None).unwrap();
        assert!(running.is_empty());
        let running = Running::parse("5:111:", Some("111")).unwrap();
        assert!(running.is_empty(), "nothing between xmax and its own id");
    }

    #[test]
    fn a_gap_left_by_a_rolled_back_transaction_is_passed_once_it_has_finished() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[2, 3], &[5])).is_empty());
        // 5 rolled back: id 1 never appears.
        assert_eq!(ids(&h.admit(batch(&[2, 3], &[]))), [2, 3]);
        assert_eq!(h.cursor(), 3);
    }

    #[test]
    fn events_past_a_cleared_barrier_wait_for_the_transactions_of_their_own_read() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[2], &[5])).is_empty());
        // 5 finished, but 6 started and 7 is visible beyond the barrier.
        assert_eq!(ids(&h.admit(batch(&[1, 2, 7], &[6]))), [1, 2]);
        assert_eq!(h.cursor(), 2);
        assert_eq!(ids(&h.admit(batch(&[5, 7], &[]))), [5, 7]);
    }

    #[test]
    fn a_full_read_keeps_the_cleared_barrier_for_the_rest() {
        let mut h = Horizon::after(0);
        assert!(h.admit(batch(&[1, 2, 3, 4], &[9])).is_empty());
        let mut first = batch(&[1, 2], &[]);
        first.full = true;
        assert_eq!(ids(&h.admit(first)), [1, 2]);
        assert_eq!(h.cursor(), 2);
        // Nothing is in progress any more, yet the barrier still covers up
        // to 4 until the read reaches it.
        assert_eq!(ids(&h.admit(batch(&[3, 4, 5], &[11]))), [3, 4]);
        assert_eq!(h.cursor(), 4);
        assert!(h.admit(batch(&[5], &[11])).is_empty());
    }

    #[test]
    fn a_filtered_read_with_nothing_new_leaves_the_cursor() {
        let mut h = Horizon::after(3);
        assert!(h.admit(batch(&[], &[4])).is_empty());
        assert_eq!(h.cursor(), 3);
    }

    #[test]
    fn the_start_waits_for_listed_and_unlisted_transactions() {
        let mut start = StartBarrier::new(Running::parse("1:100:90", Some("105")).unwrap());
        assert!(!start.passed(&Running::parse("1:106:90,103", None).unwrap()));
        assert!(!start.passed(&Running::parse("1:106:103,104", None).unwrap()));
        assert!(start.passed(&Running::parse("1:110:107", None).unwrap()));
    }

    #[test]
    fn snapshots_list_their_transactions_in_progress() {
        assert!(Running::parse("10:20:", None).unwrap().is_empty());
        let r = Running::parse("10:20:10,14,15", Some("25")).unwrap();
        assert_eq!(r.listed, [10, 14, 15]);
        assert_eq!(r.unlisted, 20..25);
        assert!(Running::parse("garbage", None).is_err());
        assert!(Running::parse("1:2:", Some("x")).is_err());
    }
}
