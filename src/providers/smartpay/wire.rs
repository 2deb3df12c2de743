//! Smartpay wire types (seeds 000 and 002, providers.md, the SDKs' field
//! names). camelCase JSON, amounts in yen, timestamps in ms since the epoch.
//! Parsing is tolerant: unknown fields are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Item<'a> {
    pub name: &'a str,
    pub amount: i64,
    pub currency: &'static str,
    pub quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<&'a str>,
    /// The JTD `lineItem.kind`: `discount` or `tax`; left out for a product.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

/// The JTD schemas' `address`: `line1`, `locality`, `postalCode` and
/// `country` are required (always sent), the rest optional (left out when
/// empty).
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Address<'a> {
    pub line1: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub line2: &'a str,
    pub locality: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub administrative_area: &'a str,
    pub postal_code: &'a str,
    pub country: &'a str,
}

#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CustomerInfo<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub email_address: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub first_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub last_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub first_name_kana: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub last_name_kana: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub phone_number: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub date_of_birth: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address<'a>>,
}

/// The JTD schemas' `shippingInfo`: `address` required; `feeAmount` is a
/// `uint32`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingInfo<'a> {
    pub address: Address<'a>,
    pub fee_amount: i64,
    pub fee_currency: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCheckoutSession<'a> {
    pub amount: i64,
    pub currency: &'static str,
    pub items: Vec<Item<'a>>,
    pub capture_method: &'static str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub reference: &'a str,
    pub metadata: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_info: Option<CustomerInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_info: Option<ShippingInfo<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder<'a> {
    pub token: &'a str,
    pub amount: i64,
    pub currency: &'static str,
    pub capture_method: &'static str,
    /// Required by `token-order-payload`, even when empty.
    pub items: Vec<Item<'a>>,
    pub reference: &'a str,
    pub metadata: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_info: Option<CustomerInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_info: Option<ShippingInfo<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePayment<'a> {
    pub order: &'a str,
    pub amount: i64,
    pub currency: &'static str,
    pub cancel_remainder: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub metadata: BTreeMap<&'static str, &'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRefund<'a> {
    pub payment: &'a str,
    pub amount: i64,
    pub currency: &'static str,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub metadata: BTreeMap<&'static str, &'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    RequiresAuthorization,
    RequiresCapture,
    Succeeded,
    Canceled,
    Rejected,
    Pending,
    Failed,
    /// A status this adapter does not know: treated as not settled.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub amount: i64,
    pub status: OrderStatus,
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Payment ids (or payment objects when expanded).
    #[serde(default)]
    pub payments: Vec<serde_json::Value>,
    #[serde(default)]
    pub test: Option<bool>,
}

impl Order {
    pub fn payment_ids(&self) -> Vec<String> {
        self.payments
            .iter()
            .filter_map(|p| match p {
                serde_json::Value::String(id) => Some(id.clone()),
                other => other
                    .get("id")
                    .and_then(|id| id.as_str())
                    .map(str::to_owned),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
    pub order: Order,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    /// The payment refunded.
    #[serde(default)]
    pub payment: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// A page of a list (`GET /refunds`, …): sp-go's collection, `data` the
/// objects, `nextPageToken` absent (or empty) on the last page.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

impl<T: crate::providers::Plausible> crate::providers::Plausible for Collection<T> {
    fn plausible(&self) -> bool {
        self.data.iter().all(crate::providers::Plausible::plausible)
    }
}

impl crate::providers::Plausible for Order {
    fn plausible(&self) -> bool {
        crate::providers::plausible_amount(self.amount)
    }
}

impl crate::providers::Plausible for CheckoutSession {
    fn plausible(&self) -> bool {
        self.order.plausible()
    }
}

impl crate::providers::Plausible for Payment {
    fn plausible(&self) -> bool {
        crate::providers::plausible_amount(self.amount)
    }
}

impl crate::providers::Plausible for Refund {
    fn plausible(&self) -> bool {
        true
    }
}

impl crate::providers::Plausible for serde_json::Value {
    fn plausible(&self) -> bool {
        true
    }
}

/// `{statusCode, errorCode, message, details}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/smartpay/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn every_order_fixture_parses() {
        for (name, status) in [
            (
                "order.requires_authorization.json",
                OrderStatus::RequiresAuthorization,
            ),
            ("order.requires_capture.json", OrderStatus::RequiresCapture),
            (
                "order.requires_capture.partially_captured.json",
                OrderStatus::RequiresCapture,
            ),
            ("order.succeeded.json", OrderStatus::Succeeded),
            (
                "order.succeeded.after_partial_capture_then_cancel.json",
                OrderStatus::Succeeded,
            ),
            ("order.canceled.json", OrderStatus::Canceled),
            ("order.rejected.json", OrderStatus::Rejected),
        ] {
            let order: Order = serde_json::from_str(&fixture(name)).unwrap();
            assert_eq!(order.status, status, "{name}");
        }
    }

    #[test]
    fn payments_are_read_as_ids() {
        let order: Order =
            serde_json::from_str(&fixture("order.requires_capture.partially_captured.json"))
                .unwrap();
        assert_eq!(order.payment_ids(), ["payment_test_6pFdEEUPc3PK9RGTZu4K1X"]);
        assert_eq!(order.expires_at, Some(1_645_583_167_495));
    }

    #[test]
    fn the_checkout_session_fixture_parses() {
        let session: CheckoutSession =
            serde_json::from_str(&fixture("checkout_session.created.json")).unwrap();
        assert!(session.id.starts_with("checkout_test_"));
        assert_eq!(session.order.status, OrderStatus::RequiresAuthorization);
    }

    #[test]
    fn payment_refund_and_error_fixtures_parse() {
        let payment: Payment = serde_json::from_str(&fixture("payment.processed.json")).unwrap();
        assert_eq!(payment.amount, 200);
        let refund: Refund = serde_json::from_str(&fixture("refund.succeeded.json")).unwrap();
        assert_eq!(refund.status.as_deref(), Some("succeeded"));
        let error: ApiError =
            serde_json::from_str(&fixture("error.409.payment.excessive-amount.json")).unwrap();
        assert_eq!(
            error.error_code.as_deref(),
            Some("payment.excessive-amount")
        );
    }

    #[test]
    fn a_checkout_request_uses_the_sdks_field_names() {
        let body = CreateCheckoutSession {
            amount: 350,
            currency: "JPY",
            items: vec![Item {
                name: "オリジナルス STAN SMITH",
                amount: 250,
                currency: "JPY",
                quantity: 1,
                description: None,
                images: vec![],
                kind: None,
            }],
            capture_method: "manual",
            success_url: "https://docs.smartpay.co/example-pages/checkout-successful",
            cancel_url: "https://docs.smartpay.co/example-pages/checkout-canceled",
            reference: "order_ref_1234567",
            metadata: BTreeMap::new(),
            customer_info: Some(CustomerInfo {
                email_address: "merchant-support@smartpay.co",
                first_name: "田中",
                last_name: "太郎",
                address: Some(Address {
                    administrative_area: "東京都",
                    locality: "港区北青山",
                    ..Address::default()
                }),
                ..CustomerInfo::default()
            }),
            shipping_info: Some(ShippingInfo {
                address: Address {
                    line1: "line1",
                    locality: "locality",
                    postal_code: "123",
                    country: "JP",
                    ..Address::default()
                },
                fee_amount: 100,
                fee_currency: "JPY",
            }),
        };
        let ours = serde_json::to_value(&body).unwrap();
        let sdk: serde_json::Value =
            serde_json::from_str(&fixture("checkout_session.create.request.json")).unwrap();
        for key in [
            "amount",
            "currency",
            "captureMethod",
            "successUrl",
            "cancelUrl",
            "reference",
        ] {
            assert_eq!(ours[key], sdk[key], "{key}");
        }
        assert_eq!(ours["items"][0], sdk["items"][0]);
        for key in ["emailAddress", "firstName", "lastName"] {
            assert_eq!(ours["customerInfo"][key], sdk["customerInfo"][key], "{key}");
        }
        for key in ["administrativeArea", "locality"] {
            assert_eq!(
                ours["customerInfo"]["address"][key],
                sdk["customerInfo"]["address"][key]
            );
        }
        assert_eq!(
            ours["shippingInfo"]["feeCurrency"],
            sdk["shippingInfo"]["feeCurrency"]
        );
        assert_eq!(
            ours["shippingInfo"]["address"],
            sdk["shippingInfo"]["address"]
        );
    }

    #[test]
    fn a_payment_request_matches_the_seed_curl() {
        let body = CreatePayment {
            order: "order_test_bA1znhGULw5lROfDTpHChv",
            amount: 1500,
            currency: "JPY",
            cancel_remainder: "automatic",
            reference: Some("my_capture_reference"),
            description: Some("Capture for my smartpay order"),
            metadata: BTreeMap::new(),
        };
        let json = serde_json::to_value(&body).unwrap();
        let seed: serde_json::Value =
            serde_json::from_str(&fixture("payment.create.request.json")).unwrap();
        for key in ["order", "amount", "currency", "cancelRemainder"] {
            assert_eq!(json[key], seed[key], "{key}");
        }
    }
}
