//! Provider-specific Authorize input, parsed from the contract's
//! `provider_details` oneof. The variant chooses the provider.

use super::provider::ProviderKind;

/// PAY.JP v2 Payment Flow input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayjpDetails {
    /// Without one the flow is created unconfirmed (REQUIRES_ACTION with the
    /// client secret).
    pub payment_method_id: Option<String>,
    pub customer_id: Option<String>,
    pub return_url: Option<String>,
    pub extended_authorization: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderDetails {
    Payjp(PayjpDetails),
}

impl ProviderDetails {
    pub fn provider(&self) -> ProviderKind {
        match self {
            ProviderDetails::Payjp(_) => ProviderKind::Payjp,
        }
    }
}
