//! The use cases, one per RPC: check the domain rules, record the intent,
//! call the provider, record the outcome. The gRPC handlers call these; the
//! reconciliation and webhooks reuse the same settle functions.
//!
//! Every call that moves money makes two commits: the intent (idempotency
//! key claimed, amount reserved, provider call logged) before the provider
//! is called, and the outcome after. No transaction is held across a
//! provider call.

mod authorize;
mod capture;
mod crash;
mod error;
mod events;
mod get_order;
mod hints;
mod idempotency;
mod list_orders;
mod named;
mod notify;
mod page_token;
mod reconcile;
mod refund;
mod to_completion;
mod unlocked;
mod void;
mod watch;
mod watchers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretSlice;

use crate::clock::SharedClock;
use crate::domain::{OrderId, OrderView, ProviderKind, Reason, Visibility};
use crate::providers::{PaymentProvider, Registry};
use crate::store::{AttemptState, Store};

/// Keeps the order's count of calls with an unknown outcome: a call that
/// turns unknown adds one, an unknown call that settles removes one, and a
/// call resumed and still unknown changes nothing.
fn account_unknown(order: &mut crate::domain::OrderRecord, prior: AttemptState, now_unknown: bool) {
    let was_unknown = prior == AttemptState::Unknown;
    if now_unknown {
        tell_unknown(order, was_unknown);
    }
    match (was_unknown, now_unknown) {
        (false, true) => order.state = order.state.clone().outcome_unknown(),
        (true, false) => order.state = order.state.clone().outcome_settled(),
        (true, true) | (false, false) => {}
    }
}

/// Runs an outcome step: for a first call from the records its intent
/// wrote (`step(true)`), and from locked reads (`step(false)`) for a
/// resumed call or when the order moved since the intent.
async fn outcome_step<T, F, Fut>(first_call: bool, step: F) -> Result<T, PaymentError>
where
    F: Fn(bool) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, PaymentError>>,
{
    if first_call {
        match step(true).await {
            Ok(Some(done)) => return Ok(done),
            Ok(None) => {}
            // The order moved since the intent: found by the guarded first
            // write when the step was sent (`Tx::save_order_unless_moved`);
            // nothing was written.
            Err(error) if order_moved(&error) => {}
            Err(other) => return Err(other),
        }
    }
    step(false).await?.ok_or(PaymentError::Internal)
}

/// Whether a step failed because the order was written since it was read
/// (its guarded write found another version: `StoreError::Conflict`).
fn order_moved(error: &PaymentError) -> bool {
    matches!(error, PaymentError::Refused(refusal) if refusal.reason == Reason::OperationInProgress)
}

/// An outcome step's first write. From an `assumed` order (not read under
/// the lock), `None` when someone wrote the order since: the step starts
/// again from a locked read. From a locked read a conflict is an error.
async fn save_first(
    tx: &crate::store::Tx,
    order: &crate::domain::OrderRecord,
    now: chrono::DateTime<chrono::Utc>,
    assumed: bool,
) -> Result<Option<crate::domain::OrderRecord>, PaymentError> {
    if assumed {
        Ok(tx.save_order_unless_moved(order, now).await?)
    } else {
        Ok(Some(tx.save_order(order, now).await?))
    }
}

/// Tells that a provider call's outcome is unknown: at WARN when its answer
/// has just been lost, at DEBUG when a later check (reconciliation retries
/// one for hours, on a growing backoff) still cannot tell.
fn tell_unknown(order: &crate::domain::OrderRecord, was_unknown: bool) {
    if was_unknown {
        tracing::debug!(order_id = %order.id, provider = %order.provider, "a provider call's outcome is still unknown");
    } else {
        tracing::warn!(order_id = %order.id, provider = %order.provider, "provider outcome unknown");
    }
}

/// The money counters move once per committed outcome that moved money:
/// replays and rolled-back attempts commit no change to the amounts.
fn count_money(moved: &crate::store::MoneyMoved) {
    crate::observability::metrics::money_moved(
        moved.provider,
        moved.currency,
        moved.authorized,
        moved.captured,
        moved.refunded,
    );
}

pub use crate::providers::{Notification, Subject};
pub use authorize::AuthorizeCommand;
pub use capture::CaptureCommand;
pub use crash::{CrashPoint, CrashSwitch};
pub use error::{PaymentError, RejectionKindData};
pub use list_orders::{ListOrdersCommand, MAX_PAGE_SIZE, OrderPage};
pub use notify::NotifyOutcome;
pub use reconcile::{OrderReconciliation, RECONCILER, ReconcileReport};
pub use refund::RefundCommand;
pub use void::VoidCommand;
pub use watch::WatchCommand;
pub use watchers::StreamLimit;

/// Who is calling: scopes idempotency keys, names the actor in the order
/// history, owns the orders it authorizes, and sees what its visibility
/// allows (`domain/owner.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    /// Written into the orders this caller authorizes.
    pub owner: String,
    pub sees: Visibility,
}

impl Caller {
    /// A caller that owns and sees the orders under its own name.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self::owning(name.clone(), name)
    }

    /// A caller that owns and sees the orders of `owner` (callers that
    /// share one see each other's orders).
    pub fn owning(name: impl Into<String>, owner: impl Into<String>) -> Self {
        let owner = owner.into();
        Self {
            name: name.into(),
            sees: Visibility::Owner(owner.clone()),
            owner,
        }
    }

    /// Sees every order as well.
    pub fn seeing_all(mut self) -> Self {
        self.sees = Visibility::All;
        self
    }

    /// kessai itself or an operator (reconciliation, webhooks, the CLI):
    /// every order.
    pub fn system(name: impl Into<String>) -> Self {
        Self::new(name).seeing_all()
    }

    /// The caller when authentication is off (sandbox mode): there is no
    /// identity to tell owners apart, so every order.
    pub fn anonymous() -> Self {
        Self::new("anonymous").seeing_all()
    }
}

/// Tunables of the use cases.
#[derive(Clone)]
pub struct PaymentsConfig {
    /// How long a key's first outcome is replayed.
    pub idempotency_ttl: chrono::Duration,
    /// How long a call may hold its key before a retry presumes it dead and
    /// takes over (longer than any provider call with its retries).
    pub in_flight_lease: chrono::Duration,
    /// How long an order may wait for the shopper before it expires (once
    /// the provider confirms nothing happened).
    pub action_ttl: chrono::Duration,
    /// Keys the request fingerprints; must be the same on every replica.
    pub fingerprint_key: SecretSlice<u8>,
    /// Test-only: abort at a crash point.
    pub crash: Option<Arc<CrashSwitch>>,
    /// How many money operations may run at once (`to_completion.rs`).
    pub max_operations: usize,
    /// How long a call waits for a place among them before it is refused.
    pub admission_wait: std::time::Duration,
    /// At most one provider lookup per order per interval for unsigned
    /// notifications (`hints.rs`).
    pub hint_interval: std::time::Duration,
    /// Event streams open at once on this replica, and per caller.
    pub max_watchers: usize,
    pub max_watchers_per_caller: usize,
}

impl std::fmt::Debug for PaymentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentsConfig")
            .field("idempotency_ttl", &self.idempotency_ttl)
            .field("in_flight_lease", &self.in_flight_lease)
            .field("action_ttl", &self.action_ttl)
            .field("max_operations", &self.max_operations)
            .field("admission_wait", &self.admission_wait)
            .field("max_watchers", &self.max_watchers)
            .field("max_watchers_per_caller", &self.max_watchers_per_caller)
            .field("fingerprint_key", &"[REDACTED]")
            .finish()
    }
}

struct Inner {
    store: Store,
    providers: Registry,
    clock: SharedClock,
    config: PaymentsConfig,
    /// Operations running to completion (`to_completion.rs`).
    tasks: tokio_util::task::TaskTracker,
    /// Places for them: `config.max_operations`.
    admission: Arc<tokio::sync::Semaphore>,
    hints: hints::HintGate,
    /// Open event streams (`watchers.rs`).
    watchers: Arc<watchers::Watchers>,
}

/// The payment use cases. Cheap to clone.
#[derive(Clone)]
pub struct Payments {
    inner: Arc<Inner>,
}

impl Payments {
    pub fn new(
        mut store: Store,
        providers: Registry,
        clock: SharedClock,
        config: PaymentsConfig,
    ) -> Self {
        store.observe_money(Arc::new(count_money));
        let places = config
            .max_operations
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                admission: Arc::new(tokio::sync::Semaphore::new(places)),
                hints: hints::HintGate::new(config.hint_interval),
                watchers: watchers::Watchers::new(
                    config.max_watchers,
                    config.max_watchers_per_caller,
                ),
                store,
                providers,
                clock,
                config,
                tasks: tokio_util::task::TaskTracker::new(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Event streams open on this replica.
    pub fn streams_open(&self) -> usize {
        self.inner.watchers.count()
    }

    /// Now, to the microsecond: what both databases keep, so an answer
    /// built from the rows just written equals one read back later.
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        self.inner.clock.now().trunc_subsecs(6)
    }

    fn provider(&self, kind: ProviderKind) -> Result<&Arc<dyn PaymentProvider>, PaymentError> {
        self.inner
            .providers
            .get(kind)
            .ok_or(PaymentError::ProviderNotConfigured { provider: kind })
    }

    /// Where the provider does not deduplicate a resend, a call whose answer
    /// was lost is never sent again: the order waits for a person (or for
    /// the provider's status answer), and is flagged so ListOrders finds it.
    fn flag_unknown(&self, order: &mut crate::domain::OrderRecord) {
        let unprovable = self
            .inner
            .providers
            .get(order.provider)
            .is_some_and(|p| !p.deduplicates_retries());
        if unprovable {
            order.needs_review = true;
        }
    }

    /// A provider that answers it does not know an order kessai has (or
    /// its capture): the books disagree, and a person looks at it.
    fn flag_if_lost_at_provider(
        order: &mut crate::domain::OrderRecord,
        error: &crate::providers::ProviderError,
    ) {
        if let crate::providers::ProviderError::Rejected {
            kind: crate::providers::RejectionKind::NotFound,
            ..
        } = error
        {
            tracing::warn!(order_id = %order.id, provider = %order.provider, "the provider does not know this order; flagged for review");
            order.needs_review = true;
        }
    }

    /// The attempt's state before this outcome is recorded.
    async fn prior_state(
        tx: &crate::store::Tx,
        attempt_id: &crate::domain::AttemptId,
    ) -> Result<AttemptState, PaymentError> {
        Ok(tx
            .attempt(attempt_id)
            .await?
            .map(|a| a.state)
            .unwrap_or(AttemptState::InFlight))
    }

    fn crash_point(&self, point: CrashPoint) {
        if let Some(switch) = &self.inner.config.crash {
            switch.reached(point);
        }
    }

    /// A caller's retry of a call whose outcome only a person can settle
    /// now (its provider cannot be asked, and the order is flagged): told
    /// so, `NEEDS_REVIEW`, instead of `OUTCOME_UNKNOWN` on every retry
    /// forever. The first answer, while the outcome was merely late, stays
    /// `OUTCOME_UNKNOWN`.
    async fn unless_under_review(
        &self,
        resumed: Result<OrderView, PaymentError>,
    ) -> Result<OrderView, PaymentError> {
        let Err(PaymentError::OutcomeUnknown { provider, order_id }) = resumed else {
            return resumed;
        };
        let flagged = self
            .view(&OrderId::from_trusted(order_id.clone()))
            .await
            .is_ok_and(|view| view.order.needs_review);
        Err(if flagged {
            PaymentError::NeedsReview { provider, order_id }
        } else {
            PaymentError::OutcomeUnknown { provider, order_id }
        })
    }

    /// The order as stored now.
    async fn view(&self, id: &OrderId) -> Result<OrderView, PaymentError> {
        self.view_as(&Visibility::All, id).await
    }

    /// The order as stored now, if `sees` allows it; `OrderNotFound`
    /// otherwise, as for an order that does not exist.
    async fn view_as(&self, sees: &Visibility, id: &OrderId) -> Result<OrderView, PaymentError> {
        self.inner
            .store
            .order_view(id, sees)
            .await?
            .ok_or_else(|| PaymentError::OrderNotFound {
                order_id: id.to_string(),
            })
    }
}
