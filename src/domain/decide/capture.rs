//! Capture: how much may be taken now, under the provider's capture policy.

use chrono::{DateTime, Utc};

use super::{Refusal, check_settled, rule};
use crate::domain::error::{InvalidInput, Reason};
use crate::domain::order::{OrderState, Release};
use crate::domain::rules::{CapturePolicy, ProviderRules};

/// A capture the provider will be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapturePlan {
    pub amount: i64,
    /// It takes everything still capturable.
    pub whole_remainder: bool,
    /// Nothing will be capturable after it (the provider releases the rest,
    /// or kessai does with `release_after`).
    pub final_capture: bool,
    /// kessai must release the rest itself after the capture (PAY.JP has no
    /// "capture and release" call: a final partial capture is followed by a
    /// cancel).
    pub release_after: bool,
}

pub fn decide_capture(
    order: &OrderState,
    rules: &ProviderRules,
    requested: Option<i64>,
    final_capture: bool,
    now: DateTime<Utc>,
) -> Result<CapturePlan, Refusal> {
    check_settled(order, "capture", Reason::CaptureNotAllowed)?;
    match order.release {
        None => {}
        Some(Release::Void) => return Err(rule(Reason::CaptureNotAllowed, "the order was voided")),
        Some(Release::Expiry) => {
            return Err(rule(
                Reason::AuthorizationExpired,
                "the authorization has expired",
            ));
        }
        Some(Release::FinalCapture) => {
            return Err(rule(
                Reason::CaptureNotAllowed,
                "a final capture released the rest of the authorization",
            ));
        }
    }
    if order.void_pending {
        return Err(rule(Reason::OperationInProgress, "a void is in progress"));
    }
    if order.is_expired(now) {
        return Err(rule(
            Reason::AuthorizationExpired,
            "the authorization has expired",
        ));
    }
    let remaining = order.capturable();
    let one_at_a_time = matches!(
        rules.capture,
        CapturePolicy::OnePartialThenRemainder | CapturePolicy::Single
    );
    if one_at_a_time && order.captures_pending > 0 {
        return Err(rule(
            Reason::OperationInProgress,
            format!(
                "another capture is in progress; {} allows one at a time",
                rules.provider
            ),
        ));
    }
    if rules.capture == CapturePolicy::Single && order.captures_succeeded > 0 {
        return Err(rule(
            Reason::CaptureNotAllowed,
            format!("{} allows one capture per authorization", rules.provider),
        ));
    }
    let amount = match requested {
        Some(amount) if amount > remaining => {
            return Err(rule(
                Reason::AmountExceedsCapturable,
                format!("{amount} exceeds the {remaining} that can be captured now"),
            ));
        }
        Some(amount) => amount,
        None if remaining == 0 => {
            return Err(rule(
                Reason::CaptureNotAllowed,
                "nothing is left to capture",
            ));
        }
        None => remaining,
    };
    let whole_remainder = amount == remaining;
    if amount < rules.min_capture {
        return Err(InvalidInput::new(
            Reason::InvalidAmount,
            "amount",
            format!(
                "{} captures at least {}, got {amount}",
                rules.provider, rules.min_capture
            ),
        )
        .into());
    }
    let plan = match rules.capture {
        CapturePolicy::OnePartialThenRemainder => {
            if order.captures_succeeded > 0 && !whole_remainder {
                return Err(rule(
                    Reason::PartialCaptureNotAllowed,
                    format!(
                        "{} allows one partial capture; after it only the whole remainder ({remaining}) can be captured",
                        rules.provider
                    ),
                ));
            }
            let left = remaining - amount;
            if !whole_remainder && !final_capture && left < rules.min_capture {
                return Err(rule(
                    Reason::PartialCaptureNotAllowed,
                    format!(
                        "this capture would leave {left}, below the {} that {} can capture later; capture all, or set final_capture to release the rest",
                        rules.min_capture, rules.provider
                    ),
                ));
            }
            CapturePlan {
                amount,
                whole_remainder,
                final_capture: whole_remainder || final_capture,
                release_after: final_capture && !whole_remainder,
            }
        }
        CapturePolicy::Multiple => CapturePlan {
            amount,
            whole_remainder,
            final_capture: whole_remainder || final_capture,
            release_after: false,
        },
        CapturePolicy::Single => CapturePlan {
            amount,
            whole_remainder,
            final_capture: true,
            release_after: false,
        },
    };
    Ok(plan)
}
