//! Unsigned notifications (PaymentOptions signs nothing) are hints anyone
//! can post. Each one that names a known order would cost a provider lookup
//! and a stored row, so a flood of distinct bodies naming one order would
//! turn kessai into an amplifier against the provider. The gate lets one
//! hint per order through per interval; the rest are coalesced into a
//! single deferred lookup at the end of the interval, so a genuine
//! notification arriving right after a forged one is never lost, and a
//! flood costs at most two lookups per order per interval. The provider
//! transaction ids the held-back hints name (a few per order) go with the
//! deferred lookup: a call whose answer was lost may be settled by one of
//! them, and kessai asks about them only while such a call waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::OrderId;

/// Entries kept before old ones are dropped (each is a few dozen bytes).
const MAX_ENTRIES: usize = 100_000;

/// Transaction ids kept per order for its deferred lookup; a flood of
/// forged ids cannot make it longer.
const MAX_NAMED: usize = 4;

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
    /// The transaction ids the held-back hints named.
    named: Vec<String>,
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

    /// `named`: the provider transaction id the hint names, if any.
    pub fn admit(&self, order: &OrderId, named: Option<&str>, now: Instant) -> Admission {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if gates.len() >= MAX_ENTRIES {
            gates.retain(|_, gate| gate.open_at > now || gate.deferred);
        }
        match gates.get_mut(order) {
            Some(gate) if gate.open_at > now => {
                if let Some(id) = named
                    && gate.named.len() < MAX_NAMED
                    && !gate.named.iter().any(|n| n == id)
                {
                    gate.named.push(id.to_owned());
                }
                if gate.deferred {
                    Admission::Coalesced
                } else {
                    gate.deferred = true;
                    Admission::Deferred(gate.open_at)
                }
            }
            Some(_) | None => {
                self.close(&mut gates, order, now);
                Admission::Now
            }
        }
    }

    /// The deferred lookup is being made: the next hint waits another
    /// interval. Returns the transaction ids the held-back hints named.
    pub fn deferred_done(&self, order: &OrderId, now: Instant) -> Vec<String> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        let named = gates
            .get_mut(order)
            .map(|gate| std::mem::take(&mut gate.named))
            .unwrap_or_default();
        self.close(&mut gates, order, now);
        named
    }

    /// A lookup is being made now: the next one waits an interval.
    fn close(&self, gates: &mut HashMap<OrderId, Gate>, order: &OrderId, now: Instant) {
        gates.insert(
            order.clone(),
            Gate {
                open_at: now + self.interval,
                deferred: false,
                named: Vec::new(),
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
        assert_eq!(gate.admit(&order, None, t0), Admission::Now);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            gate.admit(&order, None, t0 + Duration::from_millis(1)),
            Admission::Deferred(later)
        );
        for ms in 2..300 {
            assert_eq!(
                gate.admit(&order, None, t0 + Duration::from_millis(ms)),
                Admission::Coalesced
            );
        }
        assert_eq!(
            gate.admit(&other, None, t0),
            Admission::Now,
            "each order has its own gate"
        );
        gate.deferred_done(&order, later);
        assert!(matches!(
            gate.admit(&order, None, later),
            Admission::Deferred(_)
        ));
        assert_eq!(
            gate.admit(&order, None, later + Duration::from_secs(10)),
            Admission::Now
        );
    }

    #[test]
    fn held_back_hints_pass_on_a_few_of_the_ids_they_name() {
        let gate = HintGate::new(Duration::from_secs(10));
        let order = OrderId::from_trusted("ord_1".into());
        let t0 = Instant::now();
        assert_eq!(gate.admit(&order, Some("first"), t0), Admission::Now);
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(matches!(
            gate.admit(&order, Some("a"), at(1)),
            Admission::Deferred(_)
        ));
        for (ms, id) in [(2, "a"), (3, "b"), (4, "c"), (5, "d"), (6, "e")] {
            assert_eq!(gate.admit(&order, Some(id), at(ms)), Admission::Coalesced);
        }
        assert_eq!(gate.admit(&order, None, at(7)), Admission::Coalesced);
        // Once each, at most MAX_NAMED; the hint looked up at once is not
        // among them (it was handled then).
        assert_eq!(gate.deferred_done(&order, at(10_000)), ["a", "b", "c", "d"]);
        assert!(gate.deferred_done(&order, at(20_000)).is_empty());
    }
}
