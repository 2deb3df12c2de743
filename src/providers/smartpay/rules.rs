//! Smartpay's rules, as data: what the use cases check before any call
//! goes out.

use crate::domain::rules::{AuthorizationWindow, CapturePolicy, RefundPolicy, RefundReason};
use crate::domain::{PaymentMethodKind, ProviderKind, ProviderRules};

/// Smartpay (seeds 000, 002): captures within 7 days, several partial
/// captures, refunds per payment, cancellation only once authorized.
pub const RULES: ProviderRules = ProviderRules {
    provider: ProviderKind::Smartpay,
    currencies: &["JPY"],
    min_amount: 1,
    max_amount: 9_999_999_999,
    min_capture: 1,
    capture: CapturePolicy::Multiple,
    refund: RefundPolicy::PerCapture,
    refund_reasons: &[RefundReason::RequestedByCustomer, RefundReason::Fraudulent],
    void_before_authorization: false,
    void_after_partial_capture: true,
    windows: &[AuthorizationWindow {
        method: PaymentMethodKind::Bnpl,
        days: 7,
        extended_days: None,
    }],
};

/// Where an order's page is in the provider's dashboard (`{id}`: the
/// provider's order id), for the console's link. Guess (the seeds name the dashboard, not its addresses): an order's page. Recorded in docs/providers/smartpay.md.
pub const DASHBOARD: Option<&str> = Some("https://dashboard.smartpay.co/app/orders/{id}");
