//! The bodies of the operations that create or change something, parsed.

use serde_json::{Map, Value};

use super::books::CaptureMethod;
use super::errors::ApiError;
use super::input::Input;
use super::{CANCEL_REMAINDER, CAPTURE_METHODS, CURRENCIES, REFUND_REASONS};

pub(super) struct ItemRequest {
    pub(super) name: String,
    pub(super) amount: i64,
    pub(super) currency: Option<String>,
    pub(super) quantity: i64,
    pub(super) description: Option<String>,
    pub(super) images: Vec<String>,
}

impl ItemRequest {
    pub(super) fn parse(input: &mut Input<'_>, index: usize, value: &Value) -> Option<Self> {
        let Some(object) = value.as_object() else {
            input.invalid(&format!("items[{index}]"), "must be an object");
            return None;
        };
        let mut item = Input::nested(object, format!("{}items[{index}].", input.prefix));
        let name = item.text("name", true);
        // sp-go: the unit amount; a free item costs 0.
        let amount = item.integer("amount", true, 0);
        let currency = item
            .choice("currency", false, CURRENCIES)
            .map(str::to_owned);
        // sp-go: "Needs to be positive or zero"; the schemas: `uint16`.
        let quantity = item.bounded("quantity", true, 0, i64::from(u16::MAX));
        let description = item.text("description", false);
        let images = item.strings("images").unwrap_or_default();
        input.absorb(item);
        Some(Self {
            name: name?,
            amount: amount?,
            currency,
            quantity: quantity?,
            description,
            images,
        })
    }
}

/// What a checkout session and a token order share.
pub(super) struct OrderFields {
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) capture_method: CaptureMethod,
    pub(super) items: Vec<ItemRequest>,
    pub(super) metadata: Map<String, Value>,
    pub(super) shipping_info: Option<Value>,
    pub(super) customer_info: Map<String, Value>,
    pub(super) reference: Option<String>,
}

impl OrderFields {
    pub(super) fn parse(input: &mut Input<'_>) -> Option<Self> {
        // providers.md: `amount` need not equal the sum of the items.
        let amount = input.integer("amount", true, 1);
        let currency = input.choice("currency", true, CURRENCIES);
        // Seed 000: capture is automatic unless asked otherwise.
        let capture_method = match input.choice("captureMethod", false, CAPTURE_METHODS) {
            Some("manual") => CaptureMethod::Manual,
            _ => CaptureMethod::Automatic,
        };
        let items = Self::items(input);
        let metadata = input.object("metadata").unwrap_or_default();
        let shipping_info = Self::shipping_info(input);
        let customer_info = Self::customer_info(input);
        let reference = input.text("reference", false);
        Some(Self {
            amount: amount?,
            currency: currency?.to_owned(),
            capture_method,
            items: items?,
            metadata,
            shipping_info: Some(Value::Object(shipping_info?)),
            customer_info: customer_info?,
            reference,
        })
    }

    /// The JTD schemas' `address`: `line1`, `locality`, `postalCode`,
    /// `country` required, every listed property a string.
    pub(super) fn address(
        input: &mut Input<'_>,
        field: &str,
        required: bool,
    ) -> Option<Map<String, Value>> {
        let object = input.required_object(field, required)?;
        let mut address = Input::nested(&object, format!("{}{field}.", input.prefix));
        for name in ["line1", "locality", "postalCode", "country"] {
            address.text(name, true);
        }
        for name in [
            "line2",
            "line3",
            "line4",
            "line5",
            "administrativeArea",
            "subLocality",
            "addressType",
        ] {
            address.text(name, false);
        }
        let valid = address.details.is_empty();
        input.absorb(address);
        valid.then_some(object)
    }

    /// `shippingInfo`, required by the schemas, with its required `address`.
    pub(super) fn shipping_info(input: &mut Input<'_>) -> Option<Map<String, Value>> {
        let object = input.required_object("shippingInfo", true)?;
        let mut shipping = Input::nested(&object, format!("{}shippingInfo.", input.prefix));
        let address = Self::address(&mut shipping, "address", true);
        shipping.text("addressType", false);
        shipping.integer("feeAmount", false, 0);
        shipping.choice("feeCurrency", false, CURRENCIES);
        let valid = shipping.details.is_empty();
        input.absorb(shipping);
        address?;
        valid.then_some(object)
    }

    /// `customerInfo`, required by the schemas; all its properties are
    /// optional, typed as the schemas type them.
    pub(super) fn customer_info(input: &mut Input<'_>) -> Option<Map<String, Value>> {
        let object = input.required_object("customerInfo", true)?;
        let mut customer = Input::nested(&object, format!("{}customerInfo.", input.prefix));
        for name in [
            "emailAddress",
            "firstName",
            "lastName",
            "phoneNumber",
            "firstNameKana",
            "lastNameKana",
            "dateOfBirth",
            "legalGender",
            "reference",
        ] {
            customer.text(name, false);
        }
        customer.integer("accountAge", false, 0);
        Self::address(&mut customer, "address", false);
        let valid = customer.details.is_empty();
        input.absorb(customer);
        valid.then_some(object)
    }

    pub(super) fn items(input: &mut Input<'_>) -> Option<Vec<ItemRequest>> {
        let list = input.list("items", true)?;
        if list.is_empty() {
            input.invalid("items", "must hold at least one item");
            return None;
        }
        let parsed: Vec<Option<ItemRequest>> = list
            .iter()
            .enumerate()
            .map(|(i, value)| ItemRequest::parse(input, i, value))
            .collect();
        parsed.into_iter().collect()
    }
}

pub(super) struct CheckoutRequest {
    pub(super) order: OrderFields,
    pub(super) success_url: String,
    pub(super) cancel_url: String,
}

impl CheckoutRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let order = OrderFields::parse(&mut input);
        let success_url = input.text("successUrl", true);
        let cancel_url = input.text("cancelUrl", true);
        let parsed = (|| {
            Some(Self {
                order: order?,
                success_url: success_url?,
                cancel_url: cancel_url?,
            })
        })();
        input.finish(parsed)
    }
}

pub(super) struct TokenOrderRequest {
    pub(super) token: String,
    pub(super) order: OrderFields,
}

impl TokenOrderRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let token = input.text("token", true);
        let order = OrderFields::parse(&mut input);
        let parsed = (|| {
            Some(Self {
                token: token?,
                order: order?,
            })
        })();
        input.finish(parsed)
    }
}

pub(super) struct CaptureRequest {
    pub(super) order_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) cancel_remainder: &'static str,
    pub(super) reference: Option<String>,
    pub(super) description: Option<String>,
    pub(super) line_items: Vec<Value>,
    pub(super) metadata: Map<String, Value>,
}

impl CaptureRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let order_id = input.text("order", true);
        let amount = input.integer("amount", true, 1);
        let currency = input.choice("currency", true, CURRENCIES);
        let cancel_remainder = input
            .choice("cancelRemainder", false, CANCEL_REMAINDER)
            .unwrap_or("automatic");
        let reference = input.text("reference", false);
        let description = input.text("description", false);
        let line_items = input.list("lineItems", false).unwrap_or_default();
        let metadata = input.object("metadata").unwrap_or_default();
        let parsed = (|| {
            Some(Self {
                order_id: order_id?,
                amount: amount?,
                currency: currency?.to_owned(),
                cancel_remainder,
                reference,
                description,
                line_items,
                metadata,
            })
        })();
        input.finish(parsed)
    }
}

pub(super) struct RefundRequest {
    pub(super) payment_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    pub(super) reason: &'static str,
    pub(super) reference: Option<String>,
    pub(super) description: Option<String>,
    pub(super) line_items: Vec<Value>,
    pub(super) metadata: Map<String, Value>,
}

impl RefundRequest {
    pub(super) fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let payment_id = input.text("payment", true);
        let amount = input.integer("amount", true, 1);
        let currency = input.choice("currency", true, CURRENCIES);
        let reason = input.choice("reason", true, REFUND_REASONS);
        let reference = input.text("reference", false);
        let description = input.text("description", false);
        let line_items = input.list("lineItems", false).unwrap_or_default();
        let metadata = input.object("metadata").unwrap_or_default();
        let parsed = (|| {
            Some(Self {
                payment_id: payment_id?,
                amount: amount?,
                currency: currency?.to_owned(),
                reason: reason?,
                reference,
                description,
                line_items,
                metadata,
            })
        })();
        input.finish(parsed)
    }
}
