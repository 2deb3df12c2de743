//! What kessai reads from PAY.JP's answers: an authorization's outcome,
//! and a payment flow's state for refresh and reconciliation.

use super::wire::{FlowStatus, PaymentFlow};
use crate::domain::{Failure, NextAction, OrderRecord, PaymentMethodKind};
use crate::providers::{AuthorizeResult, ProviderSnapshot, SnapshotState};

/// How the shopper pays, when the flow says: `payment_method_types` holding
/// one type. A flow waiting for its payment method lists what the shopper
/// may choose from (the simulator `["card"]` by default), not a choice:
/// nothing is known until the front end confirms one.
pub(super) fn payment_method(flow: &PaymentFlow) -> Option<PaymentMethodKind> {
    if flow.status == FlowStatus::RequiresPaymentMethod {
        return None;
    }
    match flow.payment_method_types.as_deref()? {
        [only] => match only.as_str() {
            "card" => Some(PaymentMethodKind::Card),
            "paypay" => Some(PaymentMethodKind::PayPay),
            "apple_pay" => Some(PaymentMethodKind::ApplePay),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn next_action(flow: &PaymentFlow) -> Option<NextAction> {
    flow.redirect_url()
        .map(NextAction::RedirectUrl)
        .or_else(|| flow.client_secret.clone().map(NextAction::ClientSecret))
}

/// A flow waiting for the shopper should say where to send them; when its
/// `next_action` (untyped in the SDK) gives no URL kessai can read, the
/// order falls back to the client secret and an operator should know.
pub(super) fn warn_without_redirect(flow: &PaymentFlow, order_id: &str) {
    if flow.status == FlowStatus::RequiresAction && flow.redirect_url().is_none() {
        tracing::warn!(
            order_id,
            payment_flow_id = %flow.id,
            next_action_type = flow
                .next_action
                .as_ref()
                .and_then(|a| a.get("type"))
                .and_then(|t| t.as_str())
                .unwrap_or("none"),
            "PAY.JP payment flow requires action but its next_action has no redirect URL"
        );
    }
}

/// A refused payment attempt in kessai's terms: a shopper who did not pass
/// 3-D Secure is `AUTHENTICATION_FAILED`, any other refusal `CARD_DECLINED`.
/// The authentication codes: PAY.JP's `three_d_secure_*` (v1 names them so;
/// the simulator reports `three_d_secure_failed`) and a Stripe-like
/// `payment_intent_authentication_failure`.
pub(super) fn declined(code: &str, message: String) -> Failure {
    let authentication = code.starts_with("three_d_secure") || code.contains("authentication");
    Failure {
        code: if authentication {
            "AUTHENTICATION_FAILED"
        } else {
            "CARD_DECLINED"
        }
        .into(),
        message,
        provider_code: Some(code.to_owned()),
    }
}

/// The key of [`OrderRecord::provider_data`] that says kessai confirmed the
/// flow itself, with the caller's payment method.
const CONFIRMED: &str = "confirmed";

/// What an authorization kessai `confirmed` keeps with the order.
pub(super) fn provider_data(confirmed: bool) -> Option<serde_json::Value> {
    confirmed.then(|| serde_json::json!({ CONFIRMED: true }))
}

pub(super) fn confirmed_by_kessai(order: &OrderRecord) -> bool {
    order
        .provider_data
        .as_ref()
        .and_then(|data| data.get(CONFIRMED))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// Why the attempt kessai made failed, when it did: a flow kessai confirmed
/// that is back to waiting for a payment method, with `last_payment_error`
/// (the SDK's statuses have no failed one: a failed 3-D Secure or a declined
/// card sends the flow back). Nobody else holds such a flow to try another
/// method, so the order ends. A flow the shop's front end confirms only
/// waits: the shopper may try another card.
fn attempt_failed(flow: &PaymentFlow, confirmed: bool) -> Option<Failure> {
    match flow.status {
        FlowStatus::RequiresPaymentMethod | FlowStatus::RequiresConfirmation if confirmed => flow
            .payment_error()
            .map(|(code, message)| declined(&code, message)),
        FlowStatus::RequiresPaymentMethod
        | FlowStatus::RequiresConfirmation
        | FlowStatus::RequiresAction
        | FlowStatus::Processing
        | FlowStatus::RequiresCapture
        | FlowStatus::Succeeded
        | FlowStatus::Canceled
        | FlowStatus::Unknown => None,
    }
}

pub(super) fn authorize_result(flow: &PaymentFlow, confirmed: bool) -> AuthorizeResult {
    match flow.status {
        FlowStatus::RequiresCapture => AuthorizeResult::Authorized {
            amount: flow.amount_capturable.unwrap_or(flow.amount)
                + flow.amount_received.unwrap_or(0),
            captured: flow.amount_received.unwrap_or(0),
        },
        FlowStatus::Succeeded => AuthorizeResult::Authorized {
            amount: flow.amount,
            captured: flow.amount_received.unwrap_or(flow.amount),
        },
        FlowStatus::RequiresAction => match next_action(flow) {
            Some(action) => AuthorizeResult::RequiresAction(action),
            None => AuthorizeResult::Processing,
        },
        FlowStatus::RequiresPaymentMethod | FlowStatus::RequiresConfirmation => {
            match (attempt_failed(flow, confirmed), &flow.client_secret) {
                (Some(failure), _) => AuthorizeResult::Declined(failure),
                (None, Some(secret)) => {
                    AuthorizeResult::RequiresAction(NextAction::ClientSecret(secret.clone()))
                }
                (None, None) => AuthorizeResult::Processing,
            }
        }
        FlowStatus::Canceled => AuthorizeResult::Declined(Failure {
            code: "CANCELED".into(),
            message: "PAY.JP canceled the payment flow".into(),
            provider_code: Some("canceled".into()),
        }),
        FlowStatus::Processing | FlowStatus::Unknown => AuthorizeResult::Processing,
    }
}

/// What a payment flow says about the order; `confirmed`: kessai confirmed
/// it (see [`attempt_failed`]).
pub(super) fn snapshot(flow: &PaymentFlow, confirmed: bool) -> ProviderSnapshot {
    let received = flow.amount_received.unwrap_or(0);
    let capturable = flow.amount_capturable.unwrap_or(0);
    let state = match flow.status {
        FlowStatus::RequiresPaymentMethod | FlowStatus::RequiresConfirmation => {
            match attempt_failed(flow, confirmed) {
                Some(failure) => SnapshotState::Declined(failure),
                None => SnapshotState::RequiresAction(next_action(flow)),
            }
        }
        FlowStatus::RequiresAction => SnapshotState::RequiresAction(next_action(flow)),
        FlowStatus::Processing | FlowStatus::Unknown => SnapshotState::Processing,
        FlowStatus::RequiresCapture => SnapshotState::Authorized,
        FlowStatus::Succeeded => SnapshotState::Closed,
        FlowStatus::Canceled if received > 0 => SnapshotState::Closed,
        FlowStatus::Canceled => SnapshotState::Canceled,
    };
    let authorized = match flow.status {
        FlowStatus::RequiresCapture => received + capturable,
        FlowStatus::Succeeded | FlowStatus::Canceled => flow.amount,
        FlowStatus::RequiresPaymentMethod
        | FlowStatus::RequiresConfirmation
        | FlowStatus::RequiresAction
        | FlowStatus::Processing
        | FlowStatus::Unknown => 0,
    };
    ProviderSnapshot {
        state,
        amount_authorized: authorized,
        amount_captured: received,
        amount_capturable: capturable,
        expires_at: flow.expired_at,
        payment_method: payment_method(flow),
        captures: Vec::new(),
    }
}
