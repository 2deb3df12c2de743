//! "Now" as the simulators read it: from the injected clock, so tests can
//! cross an authorization deadline, in the unit of each provider's wire.

use chrono::{DateTime, SubsecRound, Utc};
use kessai_clock::SharedClock;

/// The injected clock. Clones share it.
#[derive(Clone)]
pub(crate) struct SimClock(SharedClock);

impl SimClock {
    pub(crate) fn new(clock: SharedClock) -> Self {
        Self(clock)
    }

    /// Whole seconds, like the wire timestamps of PAY.JP and PaymentOptions,
    /// so a deadline shown as `…:44Z` is passed exactly when the clock reads
    /// `…:44`.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.0.now().trunc_subsecs(0)
    }

    /// Milliseconds since the epoch, the unit of every Smartpay timestamp.
    pub(crate) fn now_ms(&self) -> i64 {
        self.0.now().timestamp_millis()
    }
}
