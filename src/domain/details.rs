//! Provider-specific Authorize input, parsed from the contract's
//! `provider_details` oneof. The variant chooses the provider.

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::card::CardInput;
use super::provider::ProviderKind;

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

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: String,
    pub line2: String,
    /// City or ward.
    pub city: String,
    /// Prefecture or state.
    pub state: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

/// One line of a Smartpay checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartpayItem {
    pub name: String,
    /// Unit price in minor units.
    pub amount: i64,
    pub quantity: u32,
    pub description: String,
    pub image_url: Option<String>,
}

/// The shopper, passed through to Smartpay.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SmartpayCustomer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub first_name_kana: String,
    pub last_name_kana: String,
    pub phone_number: String,
    pub date_of_birth: String,
    pub address: Option<PostalAddress>,
}

/// Where the goods go, passed through to Smartpay.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SmartpayShipping {
    pub address: Option<PostalAddress>,
    pub fee_amount: i64,
}

/// How the shopper authorizes a Smartpay order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
pub enum SmartpayFlow {
    /// A checkout page the shopper visits.
    Checkout {
        success_url: String,
        cancel_url: String,
    },
    /// A token the shopper already approved: the order is made server-side.
    Token { token: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartpayDetails {
    pub flow: SmartpayFlow,
    pub items: Vec<SmartpayItem>,
    pub customer: Option<Box<SmartpayCustomer>>,
    pub shipping: Option<Box<SmartpayShipping>>,
}

/// A card authorization through PaymentOptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOptionsDetails {
    pub card: CardInput,
    pub customer_ip: Option<String>,
    pub billing_address: Option<PostalAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderDetails {
    Payjp(PayjpDetails),
    Smartpay(SmartpayDetails),
    PaymentOptions(Box<PaymentOptionsDetails>),
}

impl ProviderDetails {
    /// The request field naming what the shopper pays with: what a
    /// provider that does not know it was given refers to.
    pub fn payment_method_field(&self) -> &'static str {
        match self {
            ProviderDetails::Payjp(_) => "payjp.payment_method_id",
            ProviderDetails::Smartpay(_) => "smartpay.token",
            ProviderDetails::PaymentOptions(_) => "paymentoptions.card",
        }
    }

    pub fn provider(&self) -> ProviderKind {
        match self {
            ProviderDetails::Payjp(_) => ProviderKind::Payjp,
            ProviderDetails::Smartpay(_) => ProviderKind::Smartpay,
            ProviderDetails::PaymentOptions(_) => ProviderKind::PaymentOptions,
        }
    }

    /// Whether the caller asked for the longer card authorization window.
    pub fn extended_authorization(&self) -> bool {
        match self {
            ProviderDetails::Payjp(d) => d.extended_authorization,
            ProviderDetails::Smartpay(_) | ProviderDetails::PaymentOptions(_) => false,
        }
    }

    /// What makes two requests' details different, for idempotency. Card
    /// data goes in only as `keyed` fingerprints: an unkeyed hash of a card
    /// whose BIN and last four are stored could be brute-forced.
    pub fn fingerprint(&self, keyed: &dyn Fn(&str) -> String) -> serde_json::Value {
        match self {
            ProviderDetails::Payjp(d) => serde_json::json!({ "payjp": d }),
            ProviderDetails::Smartpay(d) => serde_json::json!({ "smartpay": d }),
            ProviderDetails::PaymentOptions(d) => serde_json::json!({
                "paymentoptions": {
                    "card_number": keyed(d.card.number.expose()),
                    "cvc": keyed(d.card.cvc.expose()),
                    "name": keyed(d.card.name.expose_secret()),
                    "expiry": [d.card.exp_month, d.card.exp_year],
                    "customer_ip": d.customer_ip,
                    "billing_address": d.billing_address,
                }
            }),
        }
    }
}
