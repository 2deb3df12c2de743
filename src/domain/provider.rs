//! The providers kessai can drive, and the payment methods whose rules differ.

use std::fmt;

/// The one list of providers: a variant, the name stored in the database and
/// used in configuration, and the name people know it by. Everything else
/// about a provider lives in its folder under `providers/`.
macro_rules! provider_kinds {
    ($($(#[$cfg:meta])* $variant:ident => $stored:literal, $display:literal;)+) => {
        /// A payment provider.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "lowercase")]
        pub enum ProviderKind {
            $($(#[$cfg])* $variant,)+
        }

        impl ProviderKind {
            pub const ALL: [ProviderKind; [$($(#[$cfg])* $stored,)+].len()] =
                [$($(#[$cfg])* ProviderKind::$variant,)+];

            /// The name stored in the database and used in configuration.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($(#[$cfg])* ProviderKind::$variant => $stored,)+
                }
            }

            /// The name people know the provider by.
            pub fn display_name(self) -> &'static str {
                match self {
                    $($(#[$cfg])* ProviderKind::$variant => $display,)+
                }
            }
        }
    };
}

provider_kinds! {
    Smartpay => "smartpay", "Smartpay";
    Payjp => "payjp", "PAY.JP";
    PaymentOptions => "paymentoptions", "PaymentOptions";
    #[cfg(feature = "example-provider")]
    Example => "example", "Example";
}

impl ProviderKind {
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// How the shopper pays; it decides how long an authorization lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethodKind {
    Card,
    ApplePay,
    PayPay,
    /// Smartpay's buy-now-pay-later.
    Bnpl,
}

impl PaymentMethodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethodKind::Card => "card",
            PaymentMethodKind::ApplePay => "apple_pay",
            PaymentMethodKind::PayPay => "paypay",
            PaymentMethodKind::Bnpl => "bnpl",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            PaymentMethodKind::Card,
            PaymentMethodKind::ApplePay,
            PaymentMethodKind::PayPay,
            PaymentMethodKind::Bnpl,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(p.as_str()), Some(p));
        }
        assert_eq!(ProviderKind::parse("stripe"), None);
        for m in ["card", "apple_pay", "paypay", "bnpl"] {
            assert_eq!(PaymentMethodKind::parse(m).unwrap().as_str(), m);
        }
    }
}
