//! Decisions made from an order's stored state and its provider's rules,
//! before any provider is called.

use chrono::{DateTime, Utc};

use super::error::{InvalidInput, Reason, RuleViolation};
use super::ids::CaptureId;
use super::money::Money;
use super::order::{AuthState, OrderState, Release};
use super::rules::{CapturePolicy, ProviderRules, RefundPolicy, RefundReason};

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

/// Checks an Authorize amount and currency against the provider's limits.
pub fn check_authorize(rules: &ProviderRules, money: Money) -> Result<(), InvalidInput> {
    let provider = rules.provider;
    if !rules.accepts_currency(money.currency.code()) {
        return Err(InvalidInput::new(
            Reason::InvalidCurrency,
            "currency",
            format!(
                "{provider} accepts only {}, got {}",
                rules.currencies.join(", "),
                money.currency
            ),
        ));
    }
    let amount = money.amount.get();
    if amount < rules.min_amount || amount > rules.max_amount {
        return Err(InvalidInput::new(
            Reason::InvalidAmount,
            "amount",
            format!(
                "{provider} authorizes {}–{} {}, got {amount}",
                rules.min_amount, rules.max_amount, money.currency
            ),
        ));
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::{Amount, Currency};
    use crate::domain::rules::{PAYJP, PAYMENTOPTIONS, SMARTPAY};
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-10T00:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn authorized(amount: i64) -> OrderState {
        OrderState::new(amount).authorized(amount, Some(now() + Duration::days(7)))
    }

    fn captured(order: OrderState, amount: i64, releases_rest: bool) -> OrderState {
        order
            .capture_reserved(amount)
            .capture_succeeded(amount, releases_rest)
    }

    fn reason(r: Result<impl std::fmt::Debug, Refusal>) -> Reason {
        match r.unwrap_err() {
            Refusal::Invalid(e) => e.reason,
            Refusal::Rule(e) => e.reason,
        }
    }

    #[test]
    fn authorize_limits_are_the_providers() {
        let jpy = |v| Money {
            amount: Amount::parse(v, "amount").unwrap(),
            currency: Currency::JPY,
        };
        assert!(check_authorize(&PAYJP, jpy(50)).is_ok());
        assert!(check_authorize(&PAYJP, jpy(9_999_999)).is_ok());
        assert_eq!(
            check_authorize(&PAYJP, jpy(49)).unwrap_err().reason,
            Reason::InvalidAmount
        );
        assert_eq!(
            check_authorize(&PAYJP, jpy(10_000_000)).unwrap_err().reason,
            Reason::InvalidAmount
        );
        let usd = Money {
            amount: Amount::parse(100, "amount").unwrap(),
            currency: Currency::parse("USD").unwrap(),
        };
        assert_eq!(
            check_authorize(&PAYJP, usd).unwrap_err().reason,
            Reason::InvalidCurrency
        );
    }

    #[test]
    fn payjp_whole_capture_takes_everything() {
        let plan = decide_capture(&authorized(10_000), &PAYJP, None, false, now()).unwrap();
        assert_eq!(
            plan,
            CapturePlan {
                amount: 10_000,
                whole_remainder: true,
                final_capture: true,
                release_after: false
            }
        );
    }

    #[test]
    fn payjp_one_partial_then_only_the_whole_remainder() {
        let order = authorized(10_000);
        let plan = decide_capture(&order, &PAYJP, Some(3_000), false, now()).unwrap();
        assert!(!plan.final_capture && !plan.whole_remainder);
        let order = captured(order, 3_000, false);
        assert_eq!(
            reason(decide_capture(&order, &PAYJP, Some(1_000), false, now())),
            Reason::PartialCaptureNotAllowed
        );
        let rest = decide_capture(&order, &PAYJP, None, false, now()).unwrap();
        assert_eq!(rest.amount, 7_000);
        assert!(decide_capture(&order, &PAYJP, Some(7_000), false, now()).is_ok());
    }

    #[test]
    fn payjp_final_partial_capture_is_followed_by_a_release() {
        let plan = decide_capture(&authorized(10_000), &PAYJP, Some(3_000), true, now()).unwrap();
        assert!(plan.final_capture && plan.release_after);
    }

    #[test]
    fn payjp_refuses_a_partial_that_leaves_less_than_its_minimum() {
        let r = decide_capture(&authorized(10_000), &PAYJP, Some(9_970), false, now());
        assert_eq!(reason(r), Reason::PartialCaptureNotAllowed);
        assert!(decide_capture(&authorized(10_000), &PAYJP, Some(9_970), true, now()).is_ok());
        assert_eq!(
            reason(decide_capture(
                &authorized(10_000),
                &PAYJP,
                Some(49),
                true,
                now()
            )),
            Reason::InvalidAmount
        );
    }

    #[test]
    fn over_capture_is_refused() {
        for rules in [&PAYJP, &SMARTPAY, &PAYMENTOPTIONS] {
            let r = decide_capture(&authorized(1_000), rules, Some(1_001), false, now());
            assert_eq!(reason(r), Reason::AmountExceedsCapturable);
        }
    }

    #[test]
    fn reservations_count_against_what_is_capturable() {
        let order = authorized(1_000).capture_reserved(600);
        assert_eq!(
            reason(decide_capture(&order, &SMARTPAY, Some(500), false, now())),
            Reason::AmountExceedsCapturable
        );
        assert!(decide_capture(&order, &SMARTPAY, Some(400), false, now()).is_ok());
        assert_eq!(
            reason(decide_capture(&order, &PAYJP, Some(100), false, now())),
            Reason::OperationInProgress
        );
    }

    #[test]
    fn capture_after_expiry_is_refused() {
        let order = authorized(1_000);
        let later = now() + Duration::days(7);
        assert_eq!(
            reason(decide_capture(&order, &PAYJP, None, false, later)),
            Reason::AuthorizationExpired
        );
        assert_eq!(
            reason(decide_capture(&order.expired(), &PAYJP, None, false, now())),
            Reason::AuthorizationExpired
        );
    }

    #[test]
    fn capture_needs_an_authorized_settled_order() {
        let cases = [
            (OrderState::new(1_000), Reason::OperationInProgress),
            (
                OrderState::new(1_000).requires_action(),
                Reason::CaptureNotAllowed,
            ),
            (OrderState::new(1_000).declined(), Reason::CaptureNotAllowed),
            (
                authorized(1_000).void_requested().voided(),
                Reason::CaptureNotAllowed,
            ),
            (
                authorized(1_000).void_requested(),
                Reason::OperationInProgress,
            ),
            (
                authorized(1_000).outcome_unknown(),
                Reason::OperationInProgress,
            ),
            (
                captured(authorized(1_000), 500, true),
                Reason::CaptureNotAllowed,
            ),
            (
                captured(authorized(1_000), 1_000, false),
                Reason::CaptureNotAllowed,
            ),
        ];
        for (order, expected) in cases {
            assert_eq!(
                reason(decide_capture(&order, &SMARTPAY, None, false, now())),
                expected,
                "{order:?}"
            );
        }
    }

    #[test]
    fn smartpay_captures_several_times_and_may_release_the_rest() {
        let order = captured(authorized(3_000), 1_000, false);
        let order = captured(order, 1_000, false);
        let plan = decide_capture(&order, &SMARTPAY, Some(500), true, now()).unwrap();
        assert!(plan.final_capture && !plan.release_after);
        let order = captured(order, 500, true);
        assert_eq!(
            reason(decide_capture(&order, &SMARTPAY, Some(100), false, now())),
            Reason::CaptureNotAllowed
        );
    }

    #[test]
    fn paymentoptions_captures_once() {
        let plan =
            decide_capture(&authorized(1_000), &PAYMENTOPTIONS, Some(400), false, now()).unwrap();
        assert!(plan.final_capture);
        let order = captured(authorized(1_000), 400, true);
        assert_eq!(
            reason(decide_capture(&order, &PAYMENTOPTIONS, None, false, now())),
            Reason::CaptureNotAllowed
        );
    }

    fn refundable(id: &CaptureId, refundable: i64) -> RefundableCapture {
        RefundableCapture {
            capture_id: id.clone(),
            refundable,
        }
    }

    #[test]
    fn refunds_go_up_to_what_was_captured() {
        let order = captured(authorized(10_000), 3_000, false);
        assert_eq!(
            reason(decide_refund(&order, &PAYJP, Some(3_001), None, &[])),
            Reason::AmountExceedsRefundable
        );
        let plan = decide_refund(&order, &PAYJP, None, None, &[]).unwrap();
        assert_eq!(
            plan.parts,
            vec![RefundPartPlan {
                capture_id: None,
                amount: 3_000
            }]
        );
        let order = order.refund_reserved(1_000).refund_settled(1_000, 1_000);
        assert_eq!(
            decide_refund(&order, &PAYJP, None, None, &[])
                .unwrap()
                .amount,
            2_000
        );
        let all = order.refund_reserved(2_000).refund_settled(2_000, 2_000);
        assert_eq!(
            reason(decide_refund(&all, &PAYJP, None, None, &[])),
            Reason::RefundNotAllowed
        );
        assert_eq!(
            reason(decide_refund(&authorized(100), &PAYJP, None, None, &[])),
            Reason::RefundNotAllowed
        );
    }

    #[test]
    fn per_capture_refunds_split_oldest_first() {
        let (a, b) = (CaptureId::generate(), CaptureId::generate());
        let order = captured(captured(authorized(3_000), 1_000, false), 2_000, false);
        let plan = decide_refund(
            &order,
            &SMARTPAY,
            Some(1_500),
            None,
            &[refundable(&a, 1_000), refundable(&b, 2_000)],
        )
        .unwrap();
        assert_eq!(
            plan.parts,
            vec![
                RefundPartPlan {
                    capture_id: Some(a.clone()),
                    amount: 1_000
                },
                RefundPartPlan {
                    capture_id: Some(b.clone()),
                    amount: 500
                },
            ]
        );
        let plan = decide_refund(
            &order,
            &SMARTPAY,
            Some(300),
            None,
            &[refundable(&a, 0), refundable(&b, 2_000)],
        )
        .unwrap();
        assert_eq!(
            plan.parts,
            vec![RefundPartPlan {
                capture_id: Some(b),
                amount: 300
            }]
        );
    }

    #[test]
    fn refund_reasons_are_the_providers() {
        let order = captured(authorized(1_000), 1_000, false);
        let id = CaptureId::generate();
        let r = decide_refund(
            &order,
            &SMARTPAY,
            None,
            Some(RefundReason::Duplicate),
            &[refundable(&id, 1_000)],
        );
        assert_eq!(reason(r), Reason::InvalidArgument);
        assert!(decide_refund(&order, &PAYJP, None, Some(RefundReason::Duplicate), &[]).is_ok());
    }

    #[test]
    fn void_releases_what_is_capturable() {
        assert_eq!(
            decide_void(&authorized(1_000), &PAYJP, now())
                .unwrap()
                .releases,
            1_000
        );
        let partly = captured(authorized(1_000), 300, false);
        assert_eq!(decide_void(&partly, &PAYJP, now()).unwrap().releases, 700);
        assert_eq!(
            reason(decide_void(&partly, &PAYMENTOPTIONS, now())),
            Reason::VoidNotAllowed
        );
    }

    #[test]
    fn void_after_capture_or_with_nothing_capturable_is_refused() {
        let full = captured(authorized(1_000), 1_000, false);
        assert_eq!(
            reason(decide_void(&full, &PAYJP, now())),
            Reason::VoidNotAllowed
        );
        let voided = authorized(1_000).void_requested().voided();
        assert_eq!(
            reason(decide_void(&voided, &PAYJP, now())),
            Reason::VoidNotAllowed
        );
        let capturing = authorized(1_000).capture_reserved(100);
        assert_eq!(
            reason(decide_void(&capturing, &PAYJP, now())),
            Reason::OperationInProgress
        );
        assert_eq!(
            reason(decide_void(
                &authorized(1_000),
                &PAYJP,
                now() + Duration::days(8)
            )),
            Reason::AuthorizationExpired
        );
    }

    #[test]
    fn voiding_before_the_shopper_acts_depends_on_the_provider() {
        let waiting = OrderState::new(1_000).requires_action();
        assert!(decide_void(&waiting, &PAYJP, now()).is_ok());
        assert_eq!(
            reason(decide_void(&waiting, &SMARTPAY, now())),
            Reason::VoidNotAllowed
        );
    }
}
