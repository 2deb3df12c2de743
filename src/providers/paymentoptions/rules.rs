//! PaymentOptions's rules, as data: what the use cases check before any call
//! goes out.

use crate::domain::rules::{CapturePolicy, RefundPolicy, RefundReason};
use crate::domain::{ProviderKind, ProviderRules};

/// PaymentOptions (seed 001): one capture, the rest released; refunds against
/// the capture transaction; void only before capture.
pub const RULES: ProviderRules = ProviderRules {
    provider: ProviderKind::PaymentOptions,
    currencies: &["JPY"],
    min_amount: 1,
    max_amount: 9_999_999_999,
    min_capture: 1,
    capture: CapturePolicy::Single,
    refund: RefundPolicy::PerCapture,
    refund_reasons: &[
        RefundReason::RequestedByCustomer,
        RefundReason::Fraudulent,
        RefundReason::Duplicate,
    ],
    void_before_authorization: false,
    void_after_partial_capture: false,
    windows: &[],
};

/// Where an order's page is in the provider's dashboard (`{id}`: the
/// provider's order id), for the console's link. The seed names no merchant dashboard addresses: no link.
pub const DASHBOARD: Option<&str> = None;
