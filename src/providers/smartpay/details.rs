//! Smartpay's Authorize input, parsed from the contract's `smartpay`
//! details.

use serde::{Deserialize, Serialize};

use crate::domain::{Customer, PostalAddress, ProviderKind};
use crate::providers::AuthorizeDetails;

/// One line of a Smartpay checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmartpayItem {
    pub name: String,
    /// Unit price in minor units (a discount's too: positive).
    pub amount: i64,
    pub quantity: u32,
    pub description: String,
    pub image_url: Option<String>,
    /// Left out when a product, so requests stored before kinds existed
    /// keep their fingerprint.
    #[serde(default, skip_serializing_if = "SmartpayItemKind::is_product")]
    pub kind: SmartpayItemKind,
}

/// What a line is, as Smartpay adds the lines up (the SDKs' item `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmartpayItemKind {
    #[default]
    Product,
    Discount,
    Tax,
}

impl SmartpayItemKind {
    pub fn is_product(&self) -> bool {
        *self == SmartpayItemKind::Product
    }

    /// The item's `kind` on the wire; none for a product, the SDKs' default.
    pub fn wire_name(self) -> Option<&'static str> {
        match self {
            SmartpayItemKind::Product => None,
            SmartpayItemKind::Discount => Some("discount"),
            SmartpayItemKind::Tax => Some("tax"),
        }
    }
}

/// What the lines of an order add up to, as Smartpay counts them (sdk-python
/// `normalize_flat_checkout_session_payload`, which fills in a missing
/// order amount so): every line's `amount × quantity`, discounts taken
/// away, plus the shipping fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemsTotal {
    /// Products and taxes.
    pub items: i64,
    pub discounts: i64,
    pub shipping_fee: i64,
}

impl ItemsTotal {
    pub fn total(&self) -> i64 {
        self.items - self.discounts + self.shipping_fee
    }
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

impl SmartpayCustomer {
    /// Fills what the shop left empty from the provider-neutral customer:
    /// the e-mail, the phone number, and, when neither first nor last name
    /// is given, the last name with the whole name. A whole name does not
    /// say where it splits (family name first or last), so it is not split:
    /// it goes whole to the last name, the field a Japanese form asks for
    /// first.
    pub fn fill_unset_from(&mut self, customer: &Customer) {
        let fill = |field: &mut String, value: &Option<String>| {
            if field.is_empty()
                && let Some(value) = value
            {
                field.clone_from(value);
            }
        };
        fill(&mut self.email, &customer.email);
        fill(&mut self.phone_number, &customer.phone);
        if self.first_name.is_empty() {
            fill(&mut self.last_name, &customer.name);
        }
    }
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

impl SmartpayDetails {
    /// Amounts fit `uint32`, quantities 9,999 and lines 100 (Authorize
    /// refuses more), so no sum here can overflow.
    pub fn items_total(&self) -> ItemsTotal {
        let sum = |discount: bool| {
            self.items
                .iter()
                .filter(|i| (i.kind == SmartpayItemKind::Discount) == discount)
                .map(|i| i.amount * i64::from(i.quantity))
                .sum()
        };
        ItemsTotal {
            items: sum(false),
            discounts: sum(true),
            shipping_fee: self.shipping.as_ref().map_or(0, |s| s.fee_amount),
        }
    }
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
