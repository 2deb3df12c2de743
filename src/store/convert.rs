//! Rows ⇄ records. A row that cannot be read back is reported as corrupt,
//! never guessed at.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;

use super::entities::{
    captures, idempotency_keys, order_events, orders, provider_attempts, refunds,
};
use super::error::StoreError;
use super::records::{AttemptState, KeyState, NewAttempt, NewEvent, NewKey};
use crate::domain::search::search_text;
use crate::domain::{
    AuthState, CaptureId, CaptureMethod, CaptureRecord, CaptureStatus, CardSummary, Currency,
    Customer, Failure, Metadata, NextAction, OrderId, OrderRecord, OrderState, PaymentMethodKind,
    ProviderKind, RefundId, RefundPart, RefundReason, RefundRecord, RefundStatus, Release,
};

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value:?}"))
}

fn failure(
    code: Option<String>,
    message: Option<String>,
    provider_code: Option<String>,
) -> Option<Failure> {
    code.map(|code| Failure {
        code,
        message: message.unwrap_or_default(),
        provider_code,
    })
}

pub fn order_from_row(row: orders::Model) -> Result<OrderRecord, StoreError> {
    let provider =
        ProviderKind::parse(&row.provider).ok_or_else(|| corrupt("provider", &row.provider))?;
    let currency =
        Currency::parse(&row.currency).map_err(|_| corrupt("currency", &row.currency))?;
    let capture_method = CaptureMethod::parse(&row.capture_method)
        .ok_or_else(|| corrupt("capture_method", &row.capture_method))?;
    let payment_method = row
        .payment_method
        .as_deref()
        .map(|m| PaymentMethodKind::parse(m).ok_or_else(|| corrupt("payment_method", m)))
        .transpose()?;
    let auth =
        AuthState::parse(&row.auth_state).ok_or_else(|| corrupt("auth_state", &row.auth_state))?;
    let release = row
        .release
        .as_deref()
        .map(|r| Release::parse(r).ok_or_else(|| corrupt("release", r)))
        .transpose()?;
    let next_action = match (row.next_action_kind.as_deref(), row.next_action_value) {
        (Some(kind), Some(value)) => Some(
            NextAction::from_parts(kind, value).ok_or_else(|| corrupt("next_action_kind", kind))?,
        ),
        _ => None,
    };
    let metadata: Metadata =
        serde_json::from_str(&row.metadata).map_err(|_| corrupt("metadata", &row.metadata))?;
    let provider_data = row
        .provider_data
        .as_deref()
        .map(|d| serde_json::from_str(d).map_err(|_| corrupt("provider_data", d)))
        .transpose()?;
    let card = match (row.card_bin, row.card_last4) {
        (Some(bin), Some(last4)) => Some(CardSummary {
            bin,
            last4,
            brand: row.card_brand,
            exp_month: row.card_exp_month.unwrap_or_default(),
            exp_year: row.card_exp_year.unwrap_or_default(),
        }),
        _ => None,
    };
    let customer = Customer {
        email: row.customer_email,
        name: row.customer_name,
        phone: row.customer_phone,
    };
    Ok(OrderRecord {
        customer: (customer != Customer::default()).then_some(customer),
        id: OrderId::from_trusted(row.id),
        owner: row.owner,
        provider,
        provider_order_id: row.provider_order_id,
        merchant_reference: row.merchant_reference,
        description: row.description,
        currency,
        capture_method,
        payment_method,
        state: OrderState {
            auth,
            release,
            amount: row.amount,
            authorized: row.amount_authorized,
            captured: row.amount_captured,
            refunded: row.amount_refunded,
            pending_capture: row.pending_capture,
            pending_refund: row.pending_refund,
            captures_succeeded: row.captures_succeeded,
            captures_pending: row.captures_pending,
            void_pending: row.void_pending,
            unsettled: row.unsettled,
            expires_at: row.expires_at,
        },
        next_action,
        failure: failure(
            row.failure_code,
            row.failure_message,
            row.failure_provider_code,
        ),
        livemode: row.livemode,
        metadata,
        provider_data,
        card,
        needs_review: row.needs_review,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.lock_version,
    })
}

/// Every column of an order, for inserts and whole-row updates.
pub fn order_to_active(order: &OrderRecord) -> orders::ActiveModel {
    let s = &order.state;
    let card = order.card.as_ref();
    let customer = order.customer.as_ref();
    orders::ActiveModel {
        id: Set(order.id.to_string()),
        owner: Set(order.owner.clone()),
        provider: Set(order.provider.as_str().to_owned()),
        provider_order_id: Set(order.provider_order_id.clone()),
        merchant_reference: Set(order.merchant_reference.clone()),
        description: Set(order.description.clone()),
        currency: Set(order.currency.code().to_owned()),
        capture_method: Set(order.capture_method.as_str().to_owned()),
        payment_method: Set(order.payment_method.map(|m| m.as_str().to_owned())),
        auth_state: Set(s.auth.as_str().to_owned()),
        release: Set(s.release.map(|r| r.as_str().to_owned())),
        status: Set(s.status().as_str().to_owned()),
        amount: Set(s.amount),
        amount_authorized: Set(s.authorized),
        amount_captured: Set(s.captured),
        amount_refunded: Set(s.refunded),
        pending_capture: Set(s.pending_capture),
        pending_refund: Set(s.pending_refund),
        captures_succeeded: Set(s.captures_succeeded),
        captures_pending: Set(s.captures_pending),
        void_pending: Set(s.void_pending),
        unsettled: Set(s.unsettled),
        expires_at: Set(s.expires_at),
        next_action_kind: Set(order.next_action.as_ref().map(|a| a.kind().to_owned())),
        next_action_value: Set(order.next_action.as_ref().map(|a| a.value().to_owned())),
        failure_code: Set(order.failure.as_ref().map(|f| f.code.clone())),
        failure_message: Set(order.failure.as_ref().map(|f| f.message.clone())),
        failure_provider_code: Set(order.failure.as_ref().and_then(|f| f.provider_code.clone())),
        livemode: Set(order.livemode),
        metadata: Set(serde_json::to_string(&order.metadata).unwrap_or_else(|_| "{}".into())),
        provider_data: Set(order.provider_data.as_ref().map(|d| d.to_string())),
        card_bin: Set(card.map(|c| c.bin.clone())),
        card_last4: Set(card.map(|c| c.last4.clone())),
        card_brand: Set(card.and_then(|c| c.brand.clone())),
        card_exp_month: Set(card.map(|c| c.exp_month)),
        card_exp_year: Set(card.map(|c| c.exp_year)),
        needs_review: Set(order.needs_review),
        customer_email: Set(customer.and_then(|c| c.email.clone())),
        customer_name: Set(customer.and_then(|c| c.name.clone())),
        customer_phone: Set(customer.and_then(|c| c.phone.clone())),
        customer_email_norm: Set(customer.and_then(Customer::email_key)),
        customer_name_norm: Set(customer.and_then(Customer::name_key)),
        customer_email_local_rev: Set(customer.and_then(Customer::email_local_reversed)),
        search_text: Set(search_text(
            order.id.as_str(),
            &order.merchant_reference,
            customer,
        )),
        // Owned by reconciliation's claims, never by whole-order writes.
        next_sync_at: sea_orm::ActiveValue::NotSet,
        created_at: Set(order.created_at),
        updated_at: Set(order.updated_at),
        lock_version: Set(order.version),
    }
}

pub fn capture_from_row(row: captures::Model) -> Result<CaptureRecord, StoreError> {
    Ok(CaptureRecord {
        status: CaptureStatus::parse(&row.status)
            .ok_or_else(|| corrupt("capture status", &row.status))?,
        id: CaptureId::from_trusted(row.id),
        order_id: OrderId::from_trusted(row.order_id),
        amount: row.amount,
        final_capture: row.final_capture,
        provider_capture_id: row.provider_capture_id,
        reference: row.reference,
        description: row.description,
        amount_refunded: row.amount_refunded,
        pending_refund: row.pending_refund,
        failure: failure(
            row.failure_code,
            row.failure_message,
            row.failure_provider_code,
        ),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn capture_to_active(c: &CaptureRecord) -> captures::ActiveModel {
    captures::ActiveModel {
        id: Set(c.id.to_string()),
        order_id: Set(c.order_id.to_string()),
        amount: Set(c.amount),
        status: Set(c.status.as_str().to_owned()),
        final_capture: Set(c.final_capture),
        provider_capture_id: Set(c.provider_capture_id.clone()),
        reference: Set(c.reference.clone()),
        description: Set(c.description.clone()),
        amount_refunded: Set(c.amount_refunded),
        pending_refund: Set(c.pending_refund),
        failure_code: Set(c.failure.as_ref().map(|f| f.code.clone())),
        failure_message: Set(c.failure.as_ref().map(|f| f.message.clone())),
        failure_provider_code: Set(c.failure.as_ref().and_then(|f| f.provider_code.clone())),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    }
}

pub fn refund_from_row(row: refunds::Model) -> Result<RefundRecord, StoreError> {
    let parts: Vec<RefundPart> =
        serde_json::from_str(&row.parts).map_err(|_| corrupt("refund parts", &row.parts))?;
    Ok(RefundRecord {
        status: RefundStatus::parse(&row.status)
            .ok_or_else(|| corrupt("refund status", &row.status))?,
        reason: row
            .reason
            .as_deref()
            .map(|r| RefundReason::parse(r).ok_or_else(|| corrupt("refund reason", r)))
            .transpose()?,
        id: RefundId::from_trusted(row.id),
        order_id: OrderId::from_trusted(row.order_id),
        amount: row.amount,
        reference: row.reference,
        description: row.description,
        parts,
        failure: failure(
            row.failure_code,
            row.failure_message,
            row.failure_provider_code,
        ),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub fn refund_to_active(r: &RefundRecord) -> refunds::ActiveModel {
    refunds::ActiveModel {
        id: Set(r.id.to_string()),
        order_id: Set(r.order_id.to_string()),
        amount: Set(r.amount),
        status: Set(r.status.as_str().to_owned()),
        reason: Set(r.reason.map(|x| x.as_str().to_owned())),
        reference: Set(r.reference.clone()),
        description: Set(r.description.clone()),
        parts: Set(serde_json::to_string(&r.parts).unwrap_or_else(|_| "[]".into())),
        failure_code: Set(r.failure.as_ref().map(|f| f.code.clone())),
        failure_message: Set(r.failure.as_ref().map(|f| f.message.clone())),
        failure_provider_code: Set(r.failure.as_ref().and_then(|f| f.provider_code.clone())),
        created_at: Set(r.created_at),
        updated_at: Set(r.updated_at),
    }
}

/// A key's row as claimed.
pub fn key_to_active(key: &NewKey) -> idempotency_keys::ActiveModel {
    idempotency_keys::ActiveModel {
        scope: Set(key.scope.clone()),
        key: Set(key.key.clone()),
        rpc: Set(key.rpc.to_owned()),
        request_hash: Set(key.request_hash.clone()),
        order_id: Set(key.order_id.clone()),
        attempt_id: Set(key.attempt_id.clone()),
        state: Set(KeyState::InFlight.as_str().to_owned()),
        outcome: Set(None),
        created_at: Set(key.now),
        updated_at: Set(key.now),
        expires_at: Set(key.expires_at),
    }
}

/// An attempt's row as recorded before the call.
pub fn attempt_to_active(
    attempt: &NewAttempt,
    now: DateTime<Utc>,
) -> provider_attempts::ActiveModel {
    provider_attempts::ActiveModel {
        id: Set(attempt.id.to_string()),
        order_id: Set(attempt.order_id.to_string()),
        operation: Set(attempt.operation.as_str().to_owned()),
        target_id: Set(attempt.target_id.clone()),
        provider_key: Set(attempt.provider_key.clone()),
        amount: Set(attempt.amount),
        request: Set(attempt.request.to_string()),
        state: Set(AttemptState::InFlight.as_str().to_owned()),
        error: Set(None),
        checks: Set(0),
        next_check_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// An event's row as appended.
pub fn event_to_active(event: &NewEvent, now: DateTime<Utc>) -> order_events::ActiveModel {
    order_events::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        order_id: Set(event.order_id.to_string()),
        event_type: Set(event.event_type.to_owned()),
        actor: Set(event.actor.clone()),
        status: Set(event.status.as_str().to_owned()),
        data: Set(event.data.to_string()),
        created_at: Set(now),
        amount_authorized: Set(Some(event.amounts.authorized)),
        amount_captured: Set(Some(event.amounts.captured)),
        amount_refunded: Set(Some(event.amounts.refunded)),
        amount_capturable: Set(Some(event.amounts.capturable)),
    }
}
