//! Decisions made from an order's stored state and its provider's rules,
//! before any provider is called.

mod authorize;
mod capture;
mod refund;
mod void;

use super::error::{InvalidInput, Reason, RuleViolation};
use super::order::{AuthState, OrderState};

pub use authorize::check_authorize;
pub use capture::{CapturePlan, decide_capture};
pub use refund::{RefundPartPlan, RefundPlan, RefundableCapture, decide_refund};
pub use void::{VoidPlan, decide_void};

/// Why a request is refused before the provider is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself is wrong for this provider (INVALID_ARGUMENT).
    Invalid(InvalidInput),
    /// The order's state forbids it (FAILED_PRECONDITION).
    Rule(RuleViolation),
}

impl From<InvalidInput> for Refusal {
    fn from(e: InvalidInput) -> Self {
        Refusal::Invalid(e)
    }
}

impl From<RuleViolation> for Refusal {
    fn from(e: RuleViolation) -> Self {
        Refusal::Rule(e)
    }
}

fn rule(reason: Reason, message: impl Into<String>) -> Refusal {
    Refusal::Rule(RuleViolation::new(reason, message))
}

/// Why an order cannot be acted on, whatever the operation.
fn check_settled(order: &OrderState, operation: &str, not_allowed: Reason) -> Result<(), Refusal> {
    if order.unsettled > 0 {
        return Err(rule(
            Reason::OperationInProgress,
            format!(
                "an earlier call's outcome is not known yet; {operation} is possible once the order is reconciled"
            ),
        ));
    }
    match order.auth {
        AuthState::Authorized => Ok(()),
        AuthState::Pending => Err(rule(
            Reason::OperationInProgress,
            format!("the authorization's outcome is not known yet; cannot {operation}"),
        )),
        AuthState::RequiresAction => Err(rule(
            not_allowed,
            format!("the order is waiting for the shopper; cannot {operation}"),
        )),
        AuthState::Declined => Err(rule(
            not_allowed,
            format!("the order was declined; cannot {operation}"),
        )),
    }
}
