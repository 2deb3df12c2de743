//! PAY.JP's rules, as data: what the use cases check before any call
//! goes out.

use crate::domain::rules::{AuthorizationWindow, CapturePolicy, RefundPolicy, RefundReason};
use crate::domain::{PaymentMethodKind, ProviderKind, ProviderRules};

/// PAY.JP v2 (seed 003, providers.md): 50–9,999,999 yen; card and Apple Pay
/// 7 days (30 extended), PayPay 30 days.
pub const RULES: ProviderRules = ProviderRules {
    provider: ProviderKind::Payjp,
    currencies: &["JPY"],
    min_amount: 50,
    max_amount: 9_999_999,
    min_capture: 50,
    capture: CapturePolicy::OnePartialThenRemainder,
    refund: RefundPolicy::WholeOrder,
    refund_reasons: &[
        RefundReason::RequestedByCustomer,
        RefundReason::Fraudulent,
        RefundReason::Duplicate,
    ],
    void_before_authorization: true,
    void_after_partial_capture: true,
    windows: &[
        AuthorizationWindow {
            method: PaymentMethodKind::Card,
            days: 7,
            extended_days: Some(30),
        },
        AuthorizationWindow {
            method: PaymentMethodKind::ApplePay,
            days: 7,
            extended_days: Some(30),
        },
        AuthorizationWindow {
            method: PaymentMethodKind::PayPay,
            days: 30,
            extended_days: None,
        },
    ],
};

/// Where an order's page is in the provider's dashboard (`{id}`: the
/// provider's order id), for the console's link. Guess (no seed or SDK names it): the dashboard page of a Payment Flow, after the v1 dashboard's `/d/charges/{id}`. Recorded in docs/providers/payjp.md.
pub const DASHBOARD: Option<&str> = Some("https://pay.jp/d/payment_flows/{id}");
