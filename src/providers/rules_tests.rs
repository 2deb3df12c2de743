//! Each provider's rules as the domain's decisions apply them: the limits,
//! capture and refund policies and windows the seeds document, checked
//! through `domain::decide` with the rule sets in the providers' folders.

use chrono::{DateTime, Duration, Utc};

use crate::domain::decide::*;
use crate::domain::money::{Amount, Currency, Money};
use crate::domain::order::OrderState;
use crate::domain::rules::RefundReason;
use crate::domain::{CaptureId, PaymentMethodKind, ProviderKind, Reason};
use crate::providers::payjp::RULES as PAYJP;
use crate::providers::paymentoptions::RULES as PAYMENTOPTIONS;
use crate::providers::rules;
use crate::providers::smartpay::RULES as SMARTPAY;

#[test]
fn payjp_windows_follow_the_seed() {
    let r = rules(ProviderKind::Payjp);
    assert_eq!(
        r.authorization_window(PaymentMethodKind::Card, false),
        Some(Duration::days(7))
    );
    assert_eq!(
        r.authorization_window(PaymentMethodKind::Card, true),
        Some(Duration::days(30))
    );
    assert_eq!(
        r.authorization_window(PaymentMethodKind::ApplePay, true),
        Some(Duration::days(30))
    );
    assert_eq!(
        r.authorization_window(PaymentMethodKind::PayPay, false),
        Some(Duration::days(30))
    );
    assert_eq!(
        r.authorization_window(PaymentMethodKind::PayPay, true),
        Some(Duration::days(30))
    );
}

#[test]
fn smartpay_orders_live_seven_days() {
    let r = rules(ProviderKind::Smartpay);
    assert_eq!(
        r.authorization_window(PaymentMethodKind::Bnpl, false),
        Some(Duration::days(7))
    );
}

#[test]
fn every_provider_is_jpy_only_and_has_its_own_rules() {
    for p in ProviderKind::ALL {
        let r = rules(p);
        assert_eq!(r.provider, p);
        assert!(r.accepts_currency("JPY"));
        assert!(!r.accepts_currency("USD"));
    }
    assert!(!SMARTPAY.accepts_refund_reason(RefundReason::Duplicate));
    assert!(PAYJP.accepts_refund_reason(RefundReason::Duplicate));
}

/// Amounts go to providers in minor units: a currency a rule set
/// accepts must have a known exponent, or its amounts would be misread.
#[test]
fn every_accepted_currency_has_a_minor_unit_exponent() {
    for p in ProviderKind::ALL {
        for code in rules(p).currencies {
            let currency = Currency::parse(code)
                .unwrap_or_else(|_| panic!("{p:?} accepts {code}, which has no exponent"));
            assert_eq!(currency.code(), *code);
        }
    }
}

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
