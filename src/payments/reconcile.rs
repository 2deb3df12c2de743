//! Reconciliation: settles provider calls whose answer was lost (timeouts,
//! crashes) and asks the providers about orders whose state may have moved
//! without kessai hearing of it, so the books converge to what the providers
//! did. Safe with several replicas: each piece of work is leased by a
//! conditional update only one replica can win, and every outcome commit
//! ignores a call that was settled meanwhile.

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, stream};

use super::authorize::AuthorizeCommand;
use super::idempotency::KeyedRequest;
use super::{Caller, PaymentError, Payments};
use crate::domain::{AuthState, OrderId, OrderRecord, OrderView};
use crate::store::{AttemptRecord, KeyState, Operation};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Lost-answer calls examined.
    pub attempts: usize,
    /// Orders whose provider was asked.
    pub orders: usize,
    /// Completed idempotency keys removed after their replay window.
    pub keys_reaped: u64,
    /// Provider events forgotten after [`WEBHOOK_EVENT_RETENTION`].
    pub webhook_events_reaped: u64,
    /// Work that failed this pass (retried on a later one).
    pub errors: usize,
}

/// What reconciling one order on request did.
#[derive(Debug, Clone)]
pub struct OrderReconciliation {
    /// The order afterwards.
    pub order: OrderView,
    /// Provider calls without an outcome that were sent again or looked up.
    pub calls_checked: usize,
    /// What could not be settled this time (the order may still be right).
    pub errors: Vec<String>,
}

/// How long a provider event id is remembered: far beyond the providers'
/// redelivery windows (days).
pub const WEBHOOK_EVENT_RETENTION: Duration = Duration::days(30);

/// The actor reconciliation writes into order histories.
pub const RECONCILER: &str = "reconciler";

/// What a pass reads at a time.
const BATCH: u64 = 64;

/// Calls a pass works on at once: enough to keep up with a provider's
/// latency, few enough to leave the database pool to the callers.
const CONCURRENCY: usize = 8;

/// How long one pass keeps taking batches while they come back full.
const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// Calls grouped by order, groups and calls in the order they came.
fn by_order(attempts: Vec<AttemptRecord>) -> Vec<Vec<AttemptRecord>> {
    let mut groups: Vec<Vec<AttemptRecord>> = Vec::new();
    let mut index: std::collections::HashMap<OrderId, usize> = std::collections::HashMap::new();
    for attempt in attempts {
        match index.get(&attempt.order_id) {
            Some(&i) => groups[i].push(attempt),
            None => {
                index.insert(attempt.order_id.clone(), groups.len());
                groups.push(vec![attempt]);
            }
        }
    }
    groups
}

/// What became of one piece of due work.
enum Worked {
    /// Another replica or pass holds it.
    Skipped,
    Done,
    /// Logged; tried again on a later pass.
    Failed,
}

impl ReconcileReport {
    /// Counts a failure; returns how many pieces of work were done (0 or 1).
    fn tally(&mut self, worked: Worked) -> usize {
        match worked {
            Worked::Skipped => 0,
            Worked::Done => 1,
            Worked::Failed => {
                self.errors += 1;
                1
            }
        }
    }
}

/// How long before a call is checked again: growing with each check, from
/// 10 seconds to an hour.
fn backoff(checks: i32) -> Duration {
    let seconds = 10i64.saturating_mul(1i64 << checks.clamp(0, 9));
    Duration::seconds(seconds.min(3_600))
}

/// How long before an order is asked about again: a quarter of its age,
/// between 30 seconds and 30 minutes, so fresh checkouts are polled often
/// and old ones rarely.
fn sync_interval(created_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    let quarter = (now - created_at) / 4;
    quarter.clamp(Duration::seconds(30), Duration::minutes(30))
}

impl Payments {
    /// One pass over what is due. Called periodically by the worker; tests
    /// call it directly.
    ///
    /// A pass takes what is due in batches and works on several calls at
    /// once, until a batch comes back short or [`PASS_BUDGET`] is spent: a
    /// burst of lost answers (a provider outage) is worked off at the
    /// providers' pace, not a fixed number a pass.
    pub(super) async fn reconcile_once_now(&self) -> Result<ReconcileReport, PaymentError> {
        let started = std::time::Instant::now();
        let caller = Caller::system(RECONCILER);
        let mut report = ReconcileReport::default();
        let store = self.store();
        loop {
            let now = self.now();
            let due = store
                .due_attempts(now, self.inner.config.in_flight_lease, BATCH)
                .await?;
            let full = due.len() as u64 == BATCH;
            // One order's calls in the order they were made, one at a time:
            // each locks the order, and a later one may depend on an earlier.
            let outcomes = stream::iter(by_order(due))
                .map(|calls| async {
                    let mut outcomes = Vec::with_capacity(calls.len());
                    for attempt in calls {
                        outcomes.push(self.reconcile_due_attempt(&caller, attempt, now).await);
                    }
                    outcomes
                })
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await;
            for outcome in outcomes.into_iter().flatten() {
                let counted = report.tally(outcome?);
                report.attempts += counted;
            }
            if !full || started.elapsed() > PASS_BUDGET {
                break;
            }
        }
        loop {
            let now = self.now();
            let due = store.due_orders(now, BATCH).await?;
            let full = due.len() as u64 == BATCH;
            let outcomes = stream::iter(due)
                .map(|order| self.sync_due_order(&caller, order, now))
                .buffer_unordered(CONCURRENCY)
                .collect::<Vec<_>>()
                .await;
            for outcome in outcomes {
                let counted = report.tally(outcome?);
                report.orders += counted;
            }
            if !full || started.elapsed() > PASS_BUDGET {
                break;
            }
        }
        let now = self.now();
        report.keys_reaped = store.reap_keys(now).await?;
        report.webhook_events_reaped = store
            .reap_webhook_events(now - WEBHOOK_EVENT_RETENTION)
            .await?;
        Ok(report)
    }

    /// Leases one due call and settles it; `Skipped` when another replica
    /// (or pass) holds it.
    async fn reconcile_due_attempt(
        &self,
        caller: &Caller,
        attempt: AttemptRecord,
        now: DateTime<Utc>,
    ) -> Result<Worked, PaymentError> {
        let until = now + backoff(attempt.checks);
        if !self.store().claim_attempt(&attempt.id, now, until).await? {
            return Ok(Worked::Skipped);
        }
        match self.reconcile_attempt(caller, &attempt).await {
            Ok(()) => Ok(Worked::Done),
            // Said once per call at WARN; a call that stays unsettled is
            // checked again on a growing backoff for hours, and repeating
            // the warning each time would bury everything else.
            Err(error) if attempt.checks == 0 => {
                tracing::warn!(attempt_id = %attempt.id, order_id = %attempt.order_id, %error, "reconciliation of a provider call did not settle it; checked again later (logged at debug)");
                Ok(Worked::Failed)
            }
            Err(error) => {
                tracing::debug!(attempt_id = %attempt.id, order_id = %attempt.order_id, checks = attempt.checks, %error, "reconciliation of a provider call did not settle it");
                Ok(Worked::Failed)
            }
        }
    }

    /// Leases one due order's provider check and asks the provider.
    async fn sync_due_order(
        &self,
        caller: &Caller,
        order: OrderRecord,
        now: DateTime<Utc>,
    ) -> Result<Worked, PaymentError> {
        let until = now + sync_interval(order.created_at, now);
        if !self.store().claim_order_sync(&order.id, now, until).await? {
            return Ok(Worked::Skipped);
        }
        match self.get_order_now(caller, &order.id, true).await {
            Ok(_) => Ok(Worked::Done),
            Err(error) => {
                tracing::warn!(order_id = %order.id, %error, "asking the provider about an order failed");
                Ok(Worked::Failed)
            }
        }
    }

    /// Reconciles one order now, whatever its schedule: settles its
    /// provider calls whose answer was lost, then asks the provider about
    /// it. For operators; `caller` names who asked in the order history.
    pub(super) async fn reconcile_order_now(
        &self,
        caller: &Caller,
        id: &OrderId,
    ) -> Result<OrderReconciliation, PaymentError> {
        self.view(id).await?;
        let now = self.now();
        let lease = self.inner.config.in_flight_lease;
        let store = self.store();
        let mut calls_checked = 0;
        let mut errors = Vec::new();
        for attempt in store.open_attempts_of(id, now, lease).await? {
            let until = now + backoff(attempt.checks);
            if !store
                .claim_attempt_now(&attempt.id, now, lease, until)
                .await?
            {
                continue;
            }
            calls_checked += 1;
            if let Err(error) = self.reconcile_attempt(caller, &attempt).await {
                errors.push(format!("{} call: {error}", attempt.operation.as_str()));
            }
        }
        let order = match self.get_order_now(caller, id, true).await {
            Ok(order) => order,
            Err(error) => {
                errors.push(format!("asking the provider: {error}"));
                self.view(id).await?
            }
        };
        Ok(OrderReconciliation {
            order,
            calls_checked,
            errors,
        })
    }

    /// The idempotency key an attempt's outcome completes, taken over from
    /// a caller that went away; `None` while a caller's retry drives it.
    pub(super) async fn key_to_settle(
        &self,
        attempt: &AttemptRecord,
    ) -> Result<Option<KeyedRequest>, PaymentError> {
        Ok(Some(
            match self.store().key_for_attempt(&attempt.id).await? {
                Some(key) if key.state == KeyState::Completed => KeyedRequest::none(),
                Some(key) => {
                    let live = key.state == KeyState::InFlight
                        && self.now() - key.updated_at < self.inner.config.in_flight_lease;
                    if live {
                        return Ok(None);
                    }
                    self.take_over(&key).await?;
                    KeyedRequest::of_record(&key)
                }
                None => KeyedRequest::none(),
            },
        ))
    }

    /// Sends a call again with the provider key it was first sent with (or,
    /// where the provider cannot deduplicate, has the adapter look it up
    /// instead), and records what happened.
    async fn reconcile_attempt(
        &self,
        caller: &Caller,
        attempt: &AttemptRecord,
    ) -> Result<(), PaymentError> {
        let Some(request) = self.key_to_settle(attempt).await? else {
            // A caller's retry is driving it right now.
            return Ok(());
        };
        let order_id = attempt.order_id.clone();
        let attempt_id = attempt.id.clone();
        match attempt.operation {
            Operation::Authorize => {
                self.reconcile_authorize(caller, &request, order_id, attempt)
                    .await
            }
            Operation::Capture => self
                .redrive_capture(caller, &request, order_id, attempt_id)
                .await
                .map(drop),
            Operation::Refund => self
                .redrive_refund(caller, &request, order_id, attempt_id)
                .await
                .map(drop),
            Operation::Void => self
                .redrive_void(caller, &request, order_id, attempt_id)
                .await
                .map(drop),
            Operation::Release => self.reconcile_release(caller, &order_id, attempt).await,
        }
    }

    async fn reconcile_authorize(
        &self,
        caller: &Caller,
        request: &KeyedRequest,
        order_id: OrderId,
        attempt: &AttemptRecord,
    ) -> Result<(), PaymentError> {
        let order = self.view(&order_id).await?.order;
        if order.state.auth != AuthState::Pending {
            return Ok(());
        }
        let provider = self.provider(order.provider)?.clone();
        // Card data is never stored, so a card authorization cannot be sent
        // again; it waits for a person (its order is flagged).
        let Some(cmd) = AuthorizeCommand::from_replay(&attempt.request) else {
            if provider.deduplicates_retries() {
                return Ok(());
            }
            let tx = self.store().begin().await?;
            let Some(order) = tx.lock_order(&order_id).await? else {
                return Ok(());
            };
            if order.state.auth != AuthState::Pending {
                return Ok(());
            }
            let prior = tx.attempt(&attempt.id).await?.map(|a| a.state);
            let now = self.now();
            self.hold_for_review(&tx, caller, order, &attempt.id, prior, now)
                .await?;
            // A caller's retry is answered at once that the outcome is unknown.
            tx.open_key(&request.scope, &request.key, now).await?;
            tx.commit().await?;
            return Ok(());
        };
        self.redrive_authorize(
            caller,
            request,
            order_id,
            attempt.id.clone(),
            &cmd,
            provider,
        )
        .await
        .map(drop)
    }

    async fn reconcile_release(
        &self,
        caller: &Caller,
        order_id: &OrderId,
        attempt: &AttemptRecord,
    ) -> Result<(), PaymentError> {
        let key = attempt
            .provider_key
            .clone()
            .or_else(|| {
                attempt
                    .target_id
                    .as_ref()
                    .map(|capture| format!("{capture}-release"))
            })
            .ok_or(PaymentError::Internal)?;
        self.release_remainder(caller, order_id, &attempt.id, key)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_back_off_to_an_hour() {
        assert_eq!(backoff(0), Duration::seconds(10));
        assert_eq!(backoff(3), Duration::seconds(80));
        assert_eq!(backoff(20), Duration::hours(1));
    }

    #[test]
    fn young_orders_are_asked_about_often_and_old_ones_rarely() {
        let now = Utc::now();
        assert_eq!(sync_interval(now, now), Duration::seconds(30));
        assert_eq!(
            sync_interval(now - Duration::minutes(20), now),
            Duration::minutes(5)
        );
        assert_eq!(
            sync_interval(now - Duration::days(3), now),
            Duration::minutes(30)
        );
    }
}
