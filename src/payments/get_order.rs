//! GetOrder, optionally refreshed from the provider first.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::authorize::event_of;
use super::events::PROVIDER_STATE_SYNCED;
use super::{Caller, PaymentError, Payments};
use crate::domain::{
    AuthState, CaptureId, CaptureRecord, CaptureStatus, OrderId, OrderRecord, OrderView,
};
use crate::providers::{ProviderError, ProviderSnapshot, SnapshotState};

impl Payments {
    pub(super) async fn get_order_now(
        &self,
        caller: &Caller,
        id: &OrderId,
        refresh: bool,
    ) -> Result<OrderView, PaymentError> {
        let view = self.view(id).await?;
        if !refresh {
            return Ok(view);
        }
        self.refreshed(caller, view).await
    }

    /// `view` after asking the provider where the order stands and
    /// recording what changed.
    pub(super) async fn refreshed(
        &self,
        caller: &Caller,
        view: OrderView,
    ) -> Result<OrderView, PaymentError> {
        let id = &view.order.id.clone();
        let provider = self.provider(view.order.provider)?.clone();
        let snapshot = match view.order.provider_order_id {
            Some(_) => Some(
                provider
                    .fetch(&view.order)
                    .await
                    .map_err(|e| fetch_error(e, id))?,
            ),
            // Nothing to ask the provider about; the deadline still applies.
            None => None,
        };
        // Most refreshes change nothing: judged on the unlocked view first,
        // they then write nothing and take no lock.
        if !changes(&view.order, snapshot.as_ref(), &view.captures, self.now()) {
            return Ok(view);
        }
        self.sync(caller, id, snapshot.as_ref()).await
    }

    /// Records what the provider's state (and the clock) say changed. Never
    /// moves an order backwards, and leaves alone an order with a call in
    /// flight: its own outcome will settle it.
    async fn sync(
        &self,
        caller: &Caller,
        id: &OrderId,
        snapshot: Option<&ProviderSnapshot>,
    ) -> Result<OrderView, PaymentError> {
        let now = self.now();
        let tx = self.store().begin().await?;
        let mut order = tx
            .lock_order(id)
            .await?
            .ok_or_else(|| PaymentError::OrderNotFound {
                order_id: id.to_string(),
            })?;
        let before = order.clone();
        let known = tx.captures(id).await?;
        let external_captures = apply(&mut order, snapshot, &known, now);
        if order == before {
            tx.rollback().await?;
            return self.view(id).await;
        }
        if order.needs_review && !before.needs_review {
            tracing::warn!(order_id = %order.id, "the provider reports progress on an order kessai has released; flagged for review");
        }
        let order = tx.save_order(&order, now).await?;
        for (provider_capture_id, amount) in &external_captures {
            tx.insert_capture(&external(&order, provider_capture_id.clone(), *amount, now))
                .await?;
        }
        let data = json!({
            "from": before.state.status().as_str(),
            "to": order.state.status().as_str(),
            "amount_authorized": order.state.authorized,
            "amount_captured": order.state.captured,
            "external_captures": external_captures.iter().map(|(_, amount)| amount).collect::<Vec<_>>(),
        });
        tx.append_event(&event_of(&order, PROVIDER_STATE_SYNCED, caller, data), now)
            .await?;
        tx.commit().await?;
        self.view(id).await
    }
}

/// Moves `order` to what the provider's state and the clock say. Returns
/// the captures to record that kessai has no row for.
fn apply(
    order: &mut OrderRecord,
    snapshot: Option<&ProviderSnapshot>,
    known: &[CaptureRecord],
    now: DateTime<Utc>,
) -> Vec<ExternalCapture> {
    let external_captures = match snapshot {
        Some(snapshot) => apply_snapshot(order, snapshot, known, now),
        None => Vec::new(),
    };
    let s = &order.state;
    let busy = s.captures_pending > 0 || s.void_pending || s.unsettled > 0;
    let waiting = s.auth == AuthState::RequiresAction
        && snapshot.is_none_or(|snap| matches!(snap.state, SnapshotState::RequiresAction(_)));
    if !busy
        && (s.auth == AuthState::Authorized || waiting)
        && s.release.is_none()
        && s.is_expired(now)
    {
        order.state = order.state.clone().expired();
        order.next_action = None;
    }
    external_captures
}

/// Whether applying the provider's state to `order` would change it.
fn changes(
    order: &OrderRecord,
    snapshot: Option<&ProviderSnapshot>,
    known: &[CaptureRecord],
    now: DateTime<Utc>,
) -> bool {
    let mut after = order.clone();
    let external = apply(&mut after, snapshot, known, now);
    !external.is_empty() || after != *order
}

/// A fetch moves nothing, so any failure to get an answer is "unavailable".
fn fetch_error(error: ProviderError, id: &OrderId) -> PaymentError {
    match error {
        ProviderError::Rejected { .. } | ProviderError::CredentialsRejected { .. } => {
            PaymentError::from_provider(error, id.as_str())
        }
        ProviderError::Unreachable { provider, detail }
        | ProviderError::OutcomeUnknown { provider, detail } => PaymentError::ProviderUnavailable {
            provider,
            detail,
            retry_after_ms: None,
            order_id: Some(id.to_string()),
        },
        ProviderError::Throttled {
            provider,
            retry_after,
        } => PaymentError::ProviderUnavailable {
            provider,
            detail: "rate limited".into(),
            retry_after_ms: retry_after.map(|d| d.as_millis() as u64),
            order_id: Some(id.to_string()),
        },
    }
}

/// A capture the provider made that kessai has no record of (made outside
/// kessai, or automatic): its provider id where known, and its amount.
type ExternalCapture = (Option<String>, i64);

/// Moves the order forward to the provider's state. Returns the captures
/// to record that kessai has no row for.
fn apply_snapshot(
    order: &mut OrderRecord,
    snapshot: &ProviderSnapshot,
    known: &[CaptureRecord],
    now: DateTime<Utc>,
) -> Vec<ExternalCapture> {
    let s = order.state.clone();
    let busy = s.captures_pending > 0 || s.void_pending || s.unsettled > 0;
    if let Some(method) = snapshot.payment_method {
        order.payment_method.get_or_insert(method);
    }
    if s.auth != AuthState::Authorized && s.release.is_some() {
        let moved = !matches!(
            snapshot.state,
            SnapshotState::RequiresAction(_) | SnapshotState::Canceled
        );
        if moved && !order.needs_review {
            // Released here (expired or voided) but the provider moved on:
            // only a person can square that with the shopper (told once,
            // by `sync`, which records it).
            order.needs_review = true;
        }
        return Vec::new();
    }
    match (s.auth, &snapshot.state) {
        (_, SnapshotState::Processing) => Vec::new(),
        (
            AuthState::Pending | AuthState::RequiresAction,
            SnapshotState::Authorized | SnapshotState::Closed,
        ) => {
            // What the shopper finally paid with wins over a guess made
            // while they were choosing.
            order.payment_method = snapshot.payment_method.or(order.payment_method);
            let authorized = snapshot.amount_authorized.max(snapshot.amount_captured);
            let window = order.payment_method.and_then(|m| {
                crate::providers::rules(order.provider).authorization_window(m, false)
            });
            let expires_at = snapshot.expires_at.or_else(|| window.map(|w| now + w));
            order.state = s.authorized(authorized, expires_at);
            order.next_action = None;
            let captured = take_external_captures(order, snapshot, known);
            if snapshot.state == SnapshotState::Closed && order.state.capturable() > 0 {
                order.state = order.state.clone().remainder_released();
            }
            captured
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::Declined(failure)) => {
            order.state = s.declined();
            // The shopper's deadline is gone with the shopper; nothing
            // was authorized to capture by any date.
            order.state.expires_at = None;
            order.failure = Some(failure.clone());
            order.next_action = None;
            Vec::new()
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::Canceled) => {
            order.state = s.voided();
            order.next_action = None;
            Vec::new()
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::RequiresAction(action)) => {
            order.state = s.requires_action();
            if action.is_some() {
                order.next_action = action.clone();
            }
            Vec::new()
        }
        (AuthState::Authorized, _) if busy => Vec::new(),
        (AuthState::Authorized, SnapshotState::Authorized) => {
            if snapshot.expires_at.is_some() {
                order.state.expires_at = snapshot.expires_at;
            }
            take_external_captures(order, snapshot, known)
        }
        (AuthState::Authorized, SnapshotState::Closed) => {
            let captured = take_external_captures(order, snapshot, known);
            if order.state.capturable() > 0 && order.state.release.is_none() {
                order.state = order.state.clone().remainder_released();
            }
            captured
        }
        (AuthState::Authorized, SnapshotState::Canceled) => {
            order.state = s.voided();
            Vec::new()
        }
        (AuthState::Authorized, SnapshotState::RequiresAction(_) | SnapshotState::Declined(_)) => {
            tracing::warn!(order_id = %order.id, "the provider reports an authorized order as not authorized; left for review");
            Vec::new()
        }
        (AuthState::Declined, _) => Vec::new(),
    }
}

fn take_external_captures(
    order: &mut OrderRecord,
    snapshot: &ProviderSnapshot,
    known: &[CaptureRecord],
) -> Vec<ExternalCapture> {
    let mut taken = Vec::new();
    if snapshot.captures.is_empty() {
        // The provider reports only a total (PAY.JP's amount_received).
        let missing = snapshot.amount_captured - order.state.captured;
        if missing > 0 && missing <= order.state.capturable() {
            take(order, missing);
            taken.push((None, missing));
        }
        return taken;
    }
    for capture in &snapshot.captures {
        let recorded = known
            .iter()
            .any(|k| k.provider_capture_id.as_deref() == Some(capture.id.as_str()));
        if !recorded && capture.amount <= order.state.capturable() {
            take(order, capture.amount);
            taken.push((Some(capture.id.clone()), capture.amount));
        }
    }
    taken
}

fn take(order: &mut OrderRecord, amount: i64) {
    order.state = order
        .state
        .clone()
        .capture_reserved(amount)
        .capture_succeeded(amount, false);
}

fn external(
    order: &OrderRecord,
    provider_capture_id: Option<String>,
    amount: i64,
    now: DateTime<Utc>,
) -> CaptureRecord {
    CaptureRecord {
        id: CaptureId::generate(),
        order_id: order.id.clone(),
        amount,
        status: CaptureStatus::Succeeded,
        final_capture: false,
        provider_capture_id,
        reference: String::new(),
        description: "captured at the provider, outside kessai".into(),
        amount_refunded: 0,
        pending_refund: 0,
        failure: None,
        created_at: now,
        updated_at: now,
    }
}
