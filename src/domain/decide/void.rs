//! Void: releasing what is still reserved.

use chrono::{DateTime, Utc};

use super::{Refusal, check_settled, rule};
use crate::domain::error::Reason;
use crate::domain::order::{AuthState, OrderState, Release};
use crate::domain::rules::ProviderRules;

/// A void the provider will be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoidPlan {
    /// What it releases.
    pub releases: i64,
}

pub fn decide_void(
    order: &OrderState,
    rules: &ProviderRules,
    now: DateTime<Utc>,
) -> Result<VoidPlan, Refusal> {
    let waiting_for_shopper =
        order.auth == AuthState::RequiresAction && order.unsettled == 0 && order.release.is_none();
    if waiting_for_shopper {
        if rules.void_before_authorization {
            return Ok(VoidPlan { releases: 0 });
        }
        return Err(rule(
            Reason::VoidNotAllowed,
            format!(
                "{} can void an order only once the shopper has authorized it",
                rules.provider
            ),
        ));
    }
    check_settled(order, "void", Reason::VoidNotAllowed)?;
    match order.release {
        None => {}
        Some(Release::Void) => {
            return Err(rule(Reason::VoidNotAllowed, "the order is already voided"));
        }
        Some(Release::Expiry) => {
            return Err(rule(
                Reason::AuthorizationExpired,
                "the authorization has expired",
            ));
        }
        Some(Release::FinalCapture) => {
            return Err(rule(Reason::VoidNotAllowed, "nothing is left to release"));
        }
    }
    if order.void_pending {
        return Err(rule(Reason::OperationInProgress, "a void is in progress"));
    }
    if order.captures_pending > 0 {
        return Err(rule(
            Reason::OperationInProgress,
            "a capture is in progress",
        ));
    }
    if order.is_expired(now) {
        return Err(rule(
            Reason::AuthorizationExpired,
            "the authorization has expired",
        ));
    }
    let releases = order.capturable();
    if releases == 0 {
        return Err(rule(Reason::VoidNotAllowed, "nothing is left to release"));
    }
    if order.captured > 0 && !rules.void_after_partial_capture {
        return Err(rule(
            Reason::VoidNotAllowed,
            format!(
                "{} cannot release the rest of a captured authorization",
                rules.provider
            ),
        ));
    }
    Ok(VoidPlan { releases })
}
