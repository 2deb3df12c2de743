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
    pub async fn get_order(
        &self,
        caller: &Caller,
        id: &OrderId,
        refresh: bool,
    ) -> Result<OrderView, PaymentError> {
        let view = self.view(id).await?;
        if !refresh {
            return Ok(view);
        }
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
        let external_capture = match snapshot {
            Some(snapshot) => apply_snapshot(&mut order, snapshot),
            None => None,
        };
        let s = &order.state;
        let busy = s.captures_pending > 0 || s.void_pending || s.unsettled > 0;
        if !busy && s.auth == AuthState::Authorized && s.release.is_none() && s.is_expired(now) {
            order.state = order.state.clone().expired();
        }
        if order == before {
            tx.rollback().await?;
            return self.view(id).await;
        }
        let order = tx.save_order(&order, now).await?;
        if let Some(amount) = external_capture {
            tx.insert_capture(&external(&order, amount, now)).await?;
        }
        let data = json!({
            "from": before.state.status().as_str(),
            "to": order.state.status().as_str(),
            "amount_authorized": order.state.authorized,
            "amount_captured": order.state.captured,
            "external_capture": external_capture,
        });
        tx.append_event(&event_of(&order, PROVIDER_STATE_SYNCED, caller, data), now)
            .await?;
        tx.commit().await?;
        self.view(id).await
    }
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

/// Moves the order forward to the provider's state. Returns an amount the
/// provider captured that kessai has no capture for (a capture made outside
/// kessai, or an automatic one).
fn apply_snapshot(order: &mut OrderRecord, snapshot: &ProviderSnapshot) -> Option<i64> {
    let s = order.state.clone();
    let busy = s.captures_pending > 0 || s.void_pending || s.unsettled > 0;
    if let Some(method) = snapshot.payment_method {
        order.payment_method.get_or_insert(method);
    }
    match (s.auth, &snapshot.state) {
        (_, SnapshotState::Processing) => None,
        (
            AuthState::Pending | AuthState::RequiresAction,
            SnapshotState::Authorized | SnapshotState::Closed,
        ) => {
            let authorized = snapshot.amount_authorized.max(snapshot.amount_captured);
            order.state = s.authorized(authorized, snapshot.expires_at);
            order.next_action = None;
            let captured = take_external_capture(order, snapshot.amount_captured);
            if snapshot.state == SnapshotState::Closed && order.state.capturable() > 0 {
                order.state = order.state.clone().remainder_released();
            }
            captured
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::Declined(failure)) => {
            order.state = s.declined();
            order.failure = Some(failure.clone());
            order.next_action = None;
            None
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::Canceled) => {
            order.state = s.voided();
            order.next_action = None;
            None
        }
        (AuthState::Pending | AuthState::RequiresAction, SnapshotState::RequiresAction(action)) => {
            order.state = s.requires_action();
            if action.is_some() {
                order.next_action = action.clone();
            }
            None
        }
        (AuthState::Authorized, _) if busy => None,
        (AuthState::Authorized, SnapshotState::Authorized) => {
            if snapshot.expires_at.is_some() {
                order.state.expires_at = snapshot.expires_at;
            }
            take_external_capture(order, snapshot.amount_captured)
        }
        (AuthState::Authorized, SnapshotState::Closed) => {
            let captured = take_external_capture(order, snapshot.amount_captured);
            if order.state.capturable() > 0 && order.state.release.is_none() {
                order.state = order.state.clone().remainder_released();
            }
            captured
        }
        (AuthState::Authorized, SnapshotState::Canceled) => {
            order.state = s.voided();
            None
        }
        (AuthState::Authorized, SnapshotState::RequiresAction(_) | SnapshotState::Declined(_)) => {
            tracing::warn!(order_id = %order.id, "the provider reports an authorized order as not authorized; left for review");
            None
        }
        (AuthState::Declined, _) => None,
    }
}

fn take_external_capture(order: &mut OrderRecord, provider_captured: i64) -> Option<i64> {
    let missing = provider_captured - order.state.captured;
    if missing <= 0 || missing > order.state.capturable() {
        return None;
    }
    order.state = order
        .state
        .clone()
        .capture_reserved(missing)
        .capture_succeeded(missing, false);
    Some(missing)
}

fn external(order: &OrderRecord, amount: i64, now: DateTime<Utc>) -> CaptureRecord {
    CaptureRecord {
        id: CaptureId::generate(),
        order_id: order.id.clone(),
        amount,
        status: CaptureStatus::Succeeded,
        final_capture: false,
        provider_capture_id: None,
        reference: String::new(),
        description: "captured at the provider, outside kessai".into(),
        amount_refunded: 0,
        pending_refund: 0,
        failure: None,
        created_at: now,
        updated_at: now,
    }
}
