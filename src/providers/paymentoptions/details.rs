//! PaymentOptions' Authorize input: a card, never stored and never resent.

use secrecy::ExposeSecret;

use crate::domain::{CardInput, PostalAddress, ProviderKind};
use crate::providers::AuthorizeDetails;

/// A card authorization through PaymentOptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOptionsDetails {
    pub card: CardInput,
    pub customer_ip: Option<String>,
    pub billing_address: Option<PostalAddress>,
}

impl AuthorizeDetails for PaymentOptionsDetails {
    const PROVIDER: ProviderKind = ProviderKind::PaymentOptions;
    const PAYMENT_METHOD_FIELD: &'static str = "paymentoptions.card";

    /// Card data goes in only as `keyed` fingerprints: an unkeyed hash of a
    /// card whose BIN and last four are stored could be brute-forced.
    fn fingerprint(&self, keyed: &dyn Fn(&str) -> String) -> serde_json::Value {
        serde_json::json!({
            "card_number": keyed(self.card.number.expose()),
            "cvc": keyed(self.card.cvc.expose()),
            "name": keyed(self.card.name.expose_secret()),
            "expiry": [self.card.exp_month, self.card.exp_year],
            "customer_ip": self.customer_ip,
            "billing_address": self.billing_address,
        })
    }

    /// PaymentOptions has no idempotency: an authorization is never sent
    /// twice, so nothing is kept to send it again (and no card data is).
    fn replay(&self) -> Option<serde_json::Value> {
        None
    }

    fn from_replay(_value: serde_json::Value) -> Option<Self> {
        None
    }
}
