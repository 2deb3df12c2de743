//! The example provider's Authorize input, parsed from the contract's
//! `example` details.

use crate::domain::ProviderKind;
use crate::providers::AuthorizeDetails;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExampleDetails {
    /// A single-use token standing for the card (`tok_…`), not card data.
    pub card_token: String,
}

impl AuthorizeDetails for ExampleDetails {
    const PROVIDER: ProviderKind = ProviderKind::Example;
    const PAYMENT_METHOD_FIELD: &'static str = "example.card_token";

    fn fingerprint(&self, _keyed: &dyn Fn(&str) -> String) -> serde_json::Value {
        serde_json::json!({ "card_token": self.card_token })
    }

    /// The provider keeps keys for the charge's life, so a resend with the
    /// same key and token is deduplicated however late it comes.
    fn replay(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "card_token": self.card_token }))
    }

    fn from_replay(value: serde_json::Value) -> Option<Self> {
        let card_token = value.get("card_token")?.as_str()?.to_owned();
        Some(Self { card_token })
    }
}
