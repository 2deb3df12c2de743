//! Caps on open event streams, per caller and per replica.
//!
//! An idle stream is cheap (no connection, no query), but each holds memory,
//! a place on the feed and an HTTP/2 stream, and a caller that opens them
//! without end would take them from everyone. Beyond a cap a new stream is
//! refused `RESOURCE_EXHAUSTED` `TOO_MANY_STREAMS`; a place frees when its
//! stream ends or is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Caller, PaymentError};

/// Which cap on open event streams was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamLimit {
    /// `KESSAI_MAX_WATCHERS_PER_CALLER`.
    Caller,
    /// `KESSAI_MAX_WATCHERS`.
    Replica,
}

impl StreamLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamLimit::Caller => "caller",
            StreamLimit::Replica => "replica",
        }
    }
}

impl std::fmt::Display for StreamLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The open streams of one replica.
#[derive(Debug)]
pub(super) struct Watchers {
    max: usize,
    per_caller: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_caller: HashMap<String, usize>,
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub(super) struct WatcherSlot {
    watchers: Arc<Watchers>,
    caller: String,
}

impl Watchers {
    pub(super) fn new(max: usize, per_caller: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_caller,
            open: Mutex::default(),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more stream of `caller`, or the cap it would pass.
    pub(super) fn admit(self: &Arc<Self>, caller: &Caller) -> Result<WatcherSlot, PaymentError> {
        let mut open = self.open();
        if open.total >= self.max {
            return Err(PaymentError::TooManyStreams {
                limit: StreamLimit::Replica,
                max: self.max,
            });
        }
        let mine = open.by_caller.get(&caller.name).copied().unwrap_or(0);
        if mine >= self.per_caller {
            return Err(PaymentError::TooManyStreams {
                limit: StreamLimit::Caller,
                max: self.per_caller,
            });
        }
        open.by_caller.insert(caller.name.clone(), mine + 1);
        open.total += 1;
        Ok(WatcherSlot {
            watchers: self.clone(),
            caller: caller.name.clone(),
        })
    }

    /// Streams open now.
    pub(super) fn count(&self) -> usize {
        self.open().total
    }
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.open();
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.by_caller.get_mut(&self.caller) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.by_caller.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<WatcherSlot, PaymentError>) -> StreamLimit {
        match result {
            Err(PaymentError::TooManyStreams { limit, .. }) => limit,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn each_cap_refuses_the_next_stream_and_a_dropped_one_frees_its_place() {
        let watchers = Watchers::new(3, 2);
        let (a, b) = (Caller::new("a"), Caller::new("b"));
        let a1 = watchers.admit(&a).unwrap();
        let _a2 = watchers.admit(&a).unwrap();
        assert_eq!(refused(watchers.admit(&a)), StreamLimit::Caller);
        let _b1 = watchers.admit(&b).unwrap();
        assert_eq!(refused(watchers.admit(&b)), StreamLimit::Replica);
        drop(a1);
        assert_eq!(watchers.count(), 2);
        let _b2 = watchers.admit(&b).unwrap();
        assert_eq!(refused(watchers.admit(&a)), StreamLimit::Replica);
    }

    #[test]
    fn a_caller_with_no_stream_left_is_forgotten() {
        let watchers = Watchers::new(10, 10);
        drop(watchers.admit(&Caller::new("gone")).unwrap());
        assert!(watchers.open().by_caller.is_empty());
        assert_eq!(watchers.count(), 0);
    }
}
