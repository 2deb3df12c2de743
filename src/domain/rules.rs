//! Each provider's rules, as data the use cases consult before any provider
//! call, so a caller gets the same answer whichever provider is behind the
//! order and no doomed request goes out.

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
    pub fn for_provider(provider: ProviderKind) -> &'static ProviderRules {
        match provider {
            ProviderKind::Payjp => &PAYJP,
            ProviderKind::Smartpay => &SMARTPAY,
            ProviderKind::PaymentOptions => &PAYMENTOPTIONS,
        }
    }

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

/// PAY.JP v2 (seed 003, providers.md): 50–9,999,999 yen; card and Apple Pay
/// 7 days (30 extended), PayPay 30 days.
pub const PAYJP: ProviderRules = ProviderRules {
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

/// Smartpay (seeds 000, 002): captures within 7 days, several partial
/// captures, refunds per payment, cancellation only once authorized.
pub const SMARTPAY: ProviderRules = ProviderRules {
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

/// PaymentOptions (seed 001): one capture, the rest released; refunds against
/// the capture transaction; void only before capture.
pub const PAYMENTOPTIONS: ProviderRules = ProviderRules {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payjp_windows_follow_the_seed() {
        let r = ProviderRules::for_provider(ProviderKind::Payjp);
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
        let r = ProviderRules::for_provider(ProviderKind::Smartpay);
        assert_eq!(
            r.authorization_window(PaymentMethodKind::Bnpl, false),
            Some(Duration::days(7))
        );
    }

    #[test]
    fn every_provider_is_jpy_only_and_has_its_own_rules() {
        for p in ProviderKind::ALL {
            let r = ProviderRules::for_provider(p);
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
            for code in ProviderRules::for_provider(p).currencies {
                let currency = crate::domain::Currency::parse(code)
                    .unwrap_or_else(|_| panic!("{p:?} accepts {code}, which has no exponent"));
                assert_eq!(currency.code(), *code);
            }
        }
    }
}
