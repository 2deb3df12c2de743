//! PAY.JP's Authorize input, parsed from the contract's `payjp` details.

use serde::{Deserialize, Serialize};

use crate::domain::ProviderKind;
use crate::providers::AuthorizeDetails;

/// PAY.JP v2 Payment Flow input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PayjpDetails {
    /// Without one the flow is created unconfirmed (REQUIRES_ACTION with the
    /// client secret).
    pub payment_method_id: Option<String>,
    /// The customer owning the payment method: always set with one (the
    /// gRPC conversion refuses a payment method without it).
    pub customer_id: Option<String>,
    pub return_url: Option<String>,
    pub extended_authorization: bool,
}

impl AuthorizeDetails for PayjpDetails {
    const PROVIDER: ProviderKind = ProviderKind::Payjp;
    const PAYMENT_METHOD_FIELD: &'static str = "payjp.payment_method_id";

    fn extended_authorization(&self) -> bool {
        self.extended_authorization
    }

    fn fingerprint(&self, _keyed: &dyn Fn(&str) -> String) -> serde_json::Value {
        serde_json::json!(self)
    }

    fn replay(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    fn from_replay(value: serde_json::Value) -> Option<Self> {
        serde_json::from_value(value).ok()
    }
}
