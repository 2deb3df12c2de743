//! The order view → the contract's `Order`.

use super::*;

use crate::domain::{
    CaptureMethod, CaptureRecord, CaptureStatus, Failure, NextAction, OrderStatus, OrderView,
    PaymentMethodKind, ProviderKind, RefundPart, RefundReason, RefundRecord, RefundStatus,
};
use crate::proto::v1;

pub fn provider(kind: ProviderKind) -> v1::Provider {
    match kind {
        ProviderKind::Smartpay => v1::Provider::Smartpay,
        ProviderKind::Payjp => v1::Provider::Payjp,
        ProviderKind::PaymentOptions => v1::Provider::Paymentoptions,
        #[cfg(feature = "example-provider")]
        ProviderKind::Example => v1::Provider::Example,
    }
}

pub fn status(status: OrderStatus) -> v1::OrderStatus {
    match status {
        OrderStatus::RequiresAction => v1::OrderStatus::RequiresAction,
        OrderStatus::Authorized => v1::OrderStatus::Authorized,
        OrderStatus::PartiallyCaptured => v1::OrderStatus::PartiallyCaptured,
        OrderStatus::Captured => v1::OrderStatus::Captured,
        OrderStatus::Voided => v1::OrderStatus::Voided,
        OrderStatus::Expired => v1::OrderStatus::Expired,
        OrderStatus::Declined => v1::OrderStatus::Declined,
        OrderStatus::Pending => v1::OrderStatus::Pending,
    }
}

pub fn payment_method(method: Option<PaymentMethodKind>) -> v1::PaymentMethod {
    match method {
        None => v1::PaymentMethod::Unspecified,
        Some(PaymentMethodKind::Card) => v1::PaymentMethod::Card,
        Some(PaymentMethodKind::PayPay) => v1::PaymentMethod::Paypay,
        Some(PaymentMethodKind::ApplePay) => v1::PaymentMethod::ApplePay,
        Some(PaymentMethodKind::Bnpl) => v1::PaymentMethod::Bnpl,
    }
}

fn failure(f: &Failure) -> v1::Failure {
    v1::Failure {
        code: f.code.clone(),
        message: f.message.clone(),
        provider_code: f.provider_code.clone().unwrap_or_default(),
    }
}

fn refund_status(s: RefundStatus) -> v1::RefundStatus {
    match s {
        RefundStatus::Pending => v1::RefundStatus::Pending,
        RefundStatus::Succeeded => v1::RefundStatus::Succeeded,
        RefundStatus::Failed => v1::RefundStatus::Failed,
    }
}

fn capture(c: &CaptureRecord) -> v1::Capture {
    v1::Capture {
        id: c.id.to_string(),
        amount: c.amount,
        status: match c.status {
            CaptureStatus::Pending => v1::CaptureStatus::Pending,
            CaptureStatus::Succeeded => v1::CaptureStatus::Succeeded,
            CaptureStatus::Failed => v1::CaptureStatus::Failed,
        } as i32,
        final_capture: c.final_capture,
        provider_capture_id: c.provider_capture_id.clone().unwrap_or_default(),
        reference: c.reference.clone(),
        description: c.description.clone(),
        created_at: Some(ts(c.created_at)),
        failure: c.failure.as_ref().map(failure),
        amount_refunded: c.amount_refunded,
    }
}

fn refund_part(p: &RefundPart) -> v1::RefundPart {
    v1::RefundPart {
        capture_id: p.capture_id.clone().unwrap_or_default(),
        amount: p.amount,
        status: refund_status(p.status) as i32,
        provider_refund_id: p.provider_refund_id.clone().unwrap_or_default(),
    }
}

fn refund(r: &RefundRecord) -> v1::Refund {
    v1::Refund {
        id: r.id.to_string(),
        amount: r.amount,
        status: refund_status(r.status) as i32,
        reason: match r.reason {
            None => v1::RefundReason::Unspecified,
            Some(RefundReason::RequestedByCustomer) => v1::RefundReason::RequestedByCustomer,
            Some(RefundReason::Fraudulent) => v1::RefundReason::Fraudulent,
            Some(RefundReason::Duplicate) => v1::RefundReason::Duplicate,
        } as i32,
        reference: r.reference.clone(),
        description: r.description.clone(),
        parts: r.parts.iter().map(refund_part).collect(),
        created_at: Some(ts(r.created_at)),
        failure: r.failure.as_ref().map(failure),
    }
}

impl From<&OrderView> for v1::Order {
    fn from(view: &OrderView) -> Self {
        let o = &view.order;
        v1::Order {
            id: o.id.to_string(),
            provider: provider(o.provider) as i32,
            provider_order_id: o.provider_order_id.clone().unwrap_or_default(),
            merchant_reference: o.merchant_reference.clone(),
            status: status(o.state.status()) as i32,
            currency: o.currency.code().to_owned(),
            amount: o.state.amount,
            amount_authorized: o.state.authorized,
            amount_captured: o.state.captured,
            amount_refunded: o.state.refunded,
            amount_capturable: o.state.capturable(),
            captures: view.captures.iter().map(capture).collect(),
            refunds: view.refunds.iter().map(refund).collect(),
            created_at: Some(ts(o.created_at)),
            updated_at: Some(ts(o.updated_at)),
            expires_at: o.state.expires_at.map(ts),
            next_action: o.next_action.as_ref().map(|a| v1::NextAction {
                action: Some(match a {
                    NextAction::RedirectUrl(url) => {
                        v1::next_action::Action::RedirectUrl(url.clone())
                    }
                    NextAction::ClientSecret(secret) => {
                        v1::next_action::Action::ClientSecret(secret.clone())
                    }
                }),
            }),
            failure: o.failure.as_ref().map(failure),
            livemode: o.livemode,
            metadata: o
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            capture_method: match o.capture_method {
                CaptureMethod::Manual => v1::CaptureMethod::Manual,
                CaptureMethod::Automatic => v1::CaptureMethod::Automatic,
            } as i32,
            description: o.description.clone(),
            card: o.card.as_ref().map(|c| v1::CardSummary {
                bin: c.bin.clone(),
                last4: c.last4.clone(),
                brand: c.brand.clone().unwrap_or_default(),
                expiry_month: c.exp_month,
                expiry_year: c.exp_year,
            }),
            needs_review: o.needs_review,
            payment_method: payment_method(o.payment_method) as i32,
            customer: o.customer.as_ref().map(|c| v1::Customer {
                email: c.email.clone().unwrap_or_default(),
                name: c.name.clone().unwrap_or_default(),
                phone: c.phone.clone().unwrap_or_default(),
            }),
        }
    }
}
