//! Unsigned notifications (PaymentOptions signs nothing) are hints anyone
//! can post. Each one that names a known order would cost a provider lookup
//! and a stored row, so a flood of distinct bodies naming one order would
//! turn kessai into an amplifier against the provider. The gate lets one
//! hint per order through per interval; the rest are coalesced into a
//! single deferred lookup at the end of the interval, so a genuine
//! notification arriving right after a forged one is never lost, and a
//! flood costs at most two lookups per order per interval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::OrderId;

/// Entries kept before old ones are dropped (each is a few dozen bytes).
const MAX_ENTRIES: usize = 100_000;

/// What to do with a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Look the order up now.
    Now,
    /// A lookup was made moments ago: look again at this instant, once.
    Deferred(Instant),
    /// A deferred lookup is already due: nothing more to do.
    Coalesced,
}

struct Gate {
    /// When a lookup may next be made at once.
    open_at: Instant,
    deferred: bool,
}

pub struct HintGate {
    interval: Duration,
    gates: Mutex<HashMap<OrderId, Gate>>,
}

impl HintGate {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            gates: Mutex::new(HashMap::new()),
        }
    }

    pub fn admit(&self, order: &OrderId, now: Instant) -> Admission {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if gates.len() >= MAX_ENTRIES {
            gates.retain(|_, gate| gate.open_at > now || gate.deferred);
        }
        match gates.get_mut(order) {
            Some(gate) if gate.open_at > now && gate.deferred => Admission::Coalesced,
            Some(gate) if gate.open_at > now => {
                gate.deferred = true;
                Admission::Deferred(gate.open_at)
            }
            Some(_) | None => {
                self.close(&mut gates, order, now);
                Admission::Now
            }
        }
    }

    /// The deferred lookup is being made: the next hint waits another
    /// interval.
    pub fn deferred_done(&self, order: &OrderId, now: Instant) {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        self.close(&mut gates, order, now);
    }

    /// A lookup is being made now: the next one waits an interval.
    fn close(&self, gates: &mut HashMap<OrderId, Gate>, order: &OrderId, now: Instant) {
        gates.insert(
            order.clone(),
            Gate {
                open_at: now + self.interval,
                deferred: false,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_hints_costs_one_lookup_now_and_one_later() {
        let gate = HintGate::new(Duration::from_secs(10));
        let order = OrderId::from_trusted("ord_1".into());
        let other = OrderId::from_trusted("ord_2".into());
        let t0 = Instant::now();
        assert_eq!(gate.admit(&order, t0), Admission::Now);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            gate.admit(&order, t0 + Duration::from_millis(1)),
            Admission::Deferred(later)
        );
        for ms in 2..300 {
            assert_eq!(
                gate.admit(&order, t0 + Duration::from_millis(ms)),
                Admission::Coalesced
            );
        }
        assert_eq!(
            gate.admit(&other, t0),
            Admission::Now,
            "each order has its own gate"
        );
        gate.deferred_done(&order, later);
        assert!(matches!(gate.admit(&order, later), Admission::Deferred(_)));
        assert_eq!(
            gate.admit(&order, later + Duration::from_secs(10)),
            Admission::Now
        );
    }
}
