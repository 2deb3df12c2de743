//! Refund: what may be given back, and split over which captures.

use super::{Refusal, rule};
use crate::domain::error::{InvalidInput, Reason};
use crate::domain::ids::CaptureId;
use crate::domain::order::OrderState;
use crate::domain::rules::{ProviderRules, RefundPolicy, RefundReason};

/// What one capture can still give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundableCapture {
    pub capture_id: CaptureId,
    /// Succeeded amount minus what is refunded or reserved by refunds.
    pub refundable: i64,
}

/// One provider request of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPartPlan {
    /// The capture it goes against; `None` where the provider refunds the
    /// order as a whole.
    pub capture_id: Option<CaptureId>,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPlan {
    pub amount: i64,
    pub parts: Vec<RefundPartPlan>,
}

/// `captures` are the order's succeeded captures, oldest first.
pub fn decide_refund(
    order: &OrderState,
    rules: &ProviderRules,
    requested: Option<i64>,
    reason: Option<RefundReason>,
    captures: &[RefundableCapture],
) -> Result<RefundPlan, Refusal> {
    if let Some(reason) = reason
        && !rules.accepts_refund_reason(reason)
    {
        return Err(InvalidInput::new(
            Reason::InvalidArgument,
            "reason",
            format!(
                "{} does not accept the refund reason {}",
                rules.provider,
                reason.as_str()
            ),
        )
        .into());
    }
    if order.captured == 0 {
        return Err(rule(Reason::RefundNotAllowed, "nothing has been captured"));
    }
    let refundable = order.refundable();
    let amount = match requested {
        Some(amount) if amount > refundable => {
            return Err(rule(
                Reason::AmountExceedsRefundable,
                format!("{amount} exceeds the {refundable} that can be refunded now"),
            ));
        }
        Some(amount) => amount,
        None if refundable == 0 => {
            return Err(rule(
                Reason::RefundNotAllowed,
                "everything captured is already refunded",
            ));
        }
        None => refundable,
    };
    let parts = match rules.refund {
        RefundPolicy::WholeOrder => vec![RefundPartPlan {
            capture_id: None,
            amount,
        }],
        RefundPolicy::PerCapture => split_across_captures(amount, captures)?,
    };
    Ok(RefundPlan { amount, parts })
}

/// Oldest capture first, each part within what its capture can give back.
fn split_across_captures(
    amount: i64,
    captures: &[RefundableCapture],
) -> Result<Vec<RefundPartPlan>, Refusal> {
    let mut left = amount;
    let mut parts = Vec::new();
    for capture in captures.iter().filter(|c| c.refundable > 0) {
        if left == 0 {
            break;
        }
        let take = left.min(capture.refundable);
        parts.push(RefundPartPlan {
            capture_id: Some(capture.capture_id.clone()),
            amount: take,
        });
        left -= take;
    }
    if left > 0 {
        return Err(rule(
            Reason::AmountExceedsRefundable,
            format!("{amount} exceeds what the order's captures can give back"),
        ));
    }
    Ok(parts)
}
