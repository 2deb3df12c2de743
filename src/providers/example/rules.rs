//! The example provider's rules, as data.

use crate::domain::rules::{AuthorizationWindow, CapturePolicy, RefundPolicy, RefundReason};
use crate::domain::{PaymentMethodKind, ProviderKind, ProviderRules};

/// Cards only, 100–1,000,000 yen, any number of captures while they fit
/// (each may release the rest), refunds against the charge, a 7-day
/// authorization.
pub const RULES: ProviderRules = ProviderRules {
    provider: ProviderKind::Example,
    currencies: &["JPY"],
    min_amount: 100,
    max_amount: 1_000_000,
    min_capture: 1,
    capture: CapturePolicy::Multiple,
    refund: RefundPolicy::WholeOrder,
    refund_reasons: &[
        RefundReason::RequestedByCustomer,
        RefundReason::Fraudulent,
        RefundReason::Duplicate,
    ],
    void_before_authorization: false,
    void_after_partial_capture: false,
    windows: &[AuthorizationWindow {
        method: PaymentMethodKind::Card,
        days: 7,
        extended_days: None,
    }],
};

/// Where an order's page is in the provider's dashboard (`{id}`: the
/// provider's order id), for the console's link. The test-only provider has no dashboard.
pub const DASHBOARD: Option<&str> = None;
