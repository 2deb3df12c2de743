//! Capture, Refund and Void requests → commands.

use super::*;

use crate::domain::{IdempotencyKey, InvalidInput, OrderId, Reason, RefundReason};
use crate::payments::{CaptureCommand, PaymentError, RefundCommand, VoidCommand};
use crate::proto::v1;

impl TryFrom<v1::CaptureRequest> for CaptureCommand {
    type Error = PaymentError;

    fn try_from(r: v1::CaptureRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        let amount = v.check(optional_amount(r.amount));
        let reference = v.check(text(&r.reference, "reference"));
        let description = v.check(text(&r.description, "description"));
        v.finish()?;
        match (key, order_id, amount, reference, description) {
            (Some(key), Some(order_id), Some(amount), Some(reference), Some(description)) => {
                Ok(CaptureCommand {
                    key,
                    order_id,
                    amount,
                    final_capture: r.final_capture,
                    reference,
                    description,
                })
            }
            _ => Err(PaymentError::Internal),
        }
    }
}

fn refund_reason(value: i32) -> Result<Option<RefundReason>, InvalidInput> {
    match v1::RefundReason::try_from(value) {
        Ok(v1::RefundReason::Unspecified) => Ok(None),
        Ok(v1::RefundReason::RequestedByCustomer) => Ok(Some(RefundReason::RequestedByCustomer)),
        Ok(v1::RefundReason::Fraudulent) => Ok(Some(RefundReason::Fraudulent)),
        Ok(v1::RefundReason::Duplicate) => Ok(Some(RefundReason::Duplicate)),
        Err(_) => Err(InvalidInput::new(
            Reason::InvalidArgument,
            "reason",
            format!("unknown value {value}"),
        )),
    }
}

impl TryFrom<v1::RefundRequest> for RefundCommand {
    type Error = PaymentError;

    fn try_from(r: v1::RefundRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        let amount = v.check(optional_amount(r.amount));
        let reason = v.check(refund_reason(r.reason));
        let reference = v.check(text(&r.reference, "reference"));
        let description = v.check(text(&r.description, "description"));
        v.finish()?;
        match (key, order_id, amount, reason, reference, description) {
            (
                Some(key),
                Some(order_id),
                Some(amount),
                Some(reason),
                Some(reference),
                Some(description),
            ) => Ok(RefundCommand {
                key,
                order_id,
                amount,
                reason,
                reference,
                description,
            }),
            _ => Err(PaymentError::Internal),
        }
    }
}

impl TryFrom<v1::VoidRequest> for VoidCommand {
    type Error = PaymentError;

    fn try_from(r: v1::VoidRequest) -> Result<Self, Self::Error> {
        let mut v = Violations::default();
        let key = v.check(IdempotencyKey::parse(&r.idempotency_key));
        let order_id = v.check(OrderId::parse(&r.order_id, "order_id"));
        v.finish()?;
        match (key, order_id) {
            (Some(key), Some(order_id)) => Ok(VoidCommand { key, order_id }),
            _ => Err(PaymentError::Internal),
        }
    }
}
