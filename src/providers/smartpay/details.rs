//! Smartpay's Authorize input, parsed from the contract's `smartpay`
//! details.

use serde::{Deserialize, Serialize};

use crate::domain::{PostalAddress, ProviderKind};
use crate::providers::AuthorizeDetails;

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

impl AuthorizeDetails for SmartpayDetails {
    const PROVIDER: ProviderKind = ProviderKind::Smartpay;
    const PAYMENT_METHOD_FIELD: &'static str = "smartpay.token";

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
