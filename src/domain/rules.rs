//! The shape of a provider's rules, as data the use cases consult before any
//! provider call, so a caller gets the same answer whichever provider is
//! behind the order and no doomed request goes out. Each provider's own set
//! is in its folder (`providers/<p>/rules.rs`).

use chrono::Duration;

use super::provider::{PaymentMethodKind, ProviderKind};

/// How an authorization may be captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapturePolicy {
    /// PAY.JP (seed 003): one partial capture; after it only the whole
    /// remainder may be captured.
    OnePartialThenRemainder,
    /// Smartpay: any number of captures while their sum fits; each may keep
    /// or release the rest.
    Multiple,
    /// PaymentOptions: one capture; whatever it leaves is released.
    Single,
}

/// What a refund request goes to the provider against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundPolicy {
    /// One request against the order (PAY.JP payment flow).
    WholeOrder,
    /// One request per capture, oldest first (Smartpay payments,
    /// PaymentOptions capture transactions).
    PerCapture,
}

/// Why a refund is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundReason {
    RequestedByCustomer,
    Fraudulent,
    Duplicate,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::RequestedByCustomer => "requested_by_customer",
            RefundReason::Fraudulent => "fraudulent",
            RefundReason::Duplicate => "duplicate",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            RefundReason::RequestedByCustomer,
            RefundReason::Fraudulent,
            RefundReason::Duplicate,
        ]
        .into_iter()
        .find(|r| r.as_str() == value)
    }
}

/// How long an authorization lives for one payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationWindow {
    pub method: PaymentMethodKind,
    pub days: i64,
    /// With extended authorization, where the provider offers it.
    pub extended_days: Option<i64>,
}

/// One provider's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderRules {
    pub provider: ProviderKind,
    /// ISO codes the provider accepts.
    pub currencies: &'static [&'static str],
    /// Authorize amount range, inclusive.
    pub min_amount: i64,
    pub max_amount: i64,
    /// The smallest amount one capture may take.
    pub min_capture: i64,
    pub capture: CapturePolicy,
    pub refund: RefundPolicy,
    pub refund_reasons: &'static [RefundReason],
    /// Whether an authorization still waiting for the shopper can be voided.
    pub void_before_authorization: bool,
    /// Whether Void can release the rest of a partly captured order.
    pub void_after_partial_capture: bool,
    pub windows: &'static [AuthorizationWindow],
}

impl ProviderRules {
    pub fn accepts_currency(&self, code: &str) -> bool {
        self.currencies.contains(&code)
    }

    pub fn accepts_refund_reason(&self, reason: RefundReason) -> bool {
        self.refund_reasons.contains(&reason)
    }

    /// How long an authorization with this method lives; `None` where the
    /// provider documents no deadline.
    pub fn authorization_window(
        &self,
        method: PaymentMethodKind,
        extended: bool,
    ) -> Option<Duration> {
        self.windows.iter().find(|w| w.method == method).map(|w| {
            let days = match (extended, w.extended_days) {
                (true, Some(extended_days)) => extended_days,
                (true, None) | (false, _) => w.days,
            };
            Duration::days(days)
        })
    }
}
