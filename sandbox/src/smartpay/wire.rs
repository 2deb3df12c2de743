//! Smartpay's wire shapes, field order as in the fixtures; absent optionals
//! are omitted, as the SDKs' `omitempty` types and the fixtures show.

use serde::Serialize;
use serde_json::{Map, Value};

use super::books::{LineItem, Order, OrderStatus, Payment, Refund, Session, new_id};
use super::requests::{ItemRequest, OrderFields};

impl LineItem {
    pub(super) fn new(item: ItemRequest, order_currency: &str) -> Self {
        Self {
            id: new_id("li"),
            price_id: new_id("price"),
            product_id: new_id("product"),
            name: item.name,
            description: item.description,
            images: item.images,
            amount: item.amount,
            currency: item.currency.unwrap_or_else(|| order_currency.to_owned()),
            quantity: item.quantity,
        }
    }

    pub(super) fn wire(&self, at: i64) -> LineItemWire<'_> {
        LineItemWire {
            id: &self.id,
            object: "lineItem",
            metadata: Empty {},
            price: PriceWire {
                id: &self.price_id,
                object: "price",
                active: true,
                amount: self.amount,
                created_at: at,
                currency: &self.currency,
                metadata: Empty {},
                product: ProductWire {
                    id: &self.product_id,
                    object: "product",
                    active: true,
                    categories: &[],
                    created_at: at,
                    description: self.description.as_deref(),
                    images: &self.images,
                    metadata: Empty {},
                    name: &self.name,
                    test: true,
                    updated_at: at,
                },
                test: true,
                updated_at: at,
            },
            quantity: self.quantity,
            test: true,
            updated_at: at,
        }
    }
}

impl Order {
    pub(super) fn new(fields: OrderFields, reference: Option<String>, now: i64) -> Self {
        let line_items = fields
            .items
            .into_iter()
            .map(|item| LineItem::new(item, &fields.currency))
            .collect();
        Self {
            id: new_id("order"),
            amount: fields.amount,
            currency: fields.currency,
            capture_method: fields.capture_method,
            status: OrderStatus::RequiresAuthorization,
            line_items,
            metadata: fields.metadata,
            shipping_info: fields.shipping_info,
            reference,
            expires_at: None,
            payment_ids: Vec::new(),
            created_at: now,
            updated_at: now,
            authorized: 0,
            captured: 0,
        }
    }

    pub(super) fn reject(&mut self, now: i64) {
        self.status = OrderStatus::Rejected;
        self.updated_at = now;
    }

    pub(super) fn uncaptured(&self) -> i64 {
        self.amount - self.captured
    }

    pub(super) fn wire(&self) -> OrderWire<'_> {
        OrderWire {
            id: &self.id,
            object: "order",
            amount: self.amount,
            created_at: self.created_at,
            currency: &self.currency,
            discounts: &[],
            expires_at: self.expires_at,
            line_items: self.line_items.iter().map(|li| li.id.as_str()).collect(),
            metadata: &self.metadata,
            payments: &self.payment_ids,
            reference: self.reference.as_deref(),
            shipping_info: self.shipping_info.as_ref(),
            status: self.status.as_str(),
            test: true,
            updated_at: self.updated_at,
        }
    }

    /// The order as a checkout session embeds it: line items expanded, and
    /// (as in checkout_session.created.json) no `discounts`/`payments`.
    pub(super) fn expanded_wire(&self) -> ExpandedOrderWire<'_> {
        ExpandedOrderWire {
            id: &self.id,
            object: "order",
            amount: self.amount,
            created_at: self.created_at,
            currency: &self.currency,
            expires_at: self.expires_at,
            line_items: self
                .line_items
                .iter()
                .map(|li| li.wire(self.created_at))
                .collect(),
            metadata: &self.metadata,
            shipping_info: self.shipping_info.as_ref(),
            status: self.status.as_str(),
            test: true,
            updated_at: self.updated_at,
        }
    }
}

impl Session {
    pub(super) fn wire<'a>(&'a self, order: &'a Order, public_base_url: &str) -> SessionWire<'a> {
        SessionWire {
            id: &self.id,
            object: "checkoutSession",
            cancel_url: &self.cancel_url,
            created_at: self.created_at,
            customer_info: &self.customer_info,
            metadata: &self.metadata,
            order: order.expanded_wire(),
            success_url: &self.success_url,
            url: checkout_url(public_base_url, &self.id),
            reference: self.reference.as_deref(),
            test: true,
            updated_at: self.created_at,
        }
    }
}

impl Payment {
    pub(super) fn status(&self) -> &'static str {
        if self.refunded >= self.amount {
            "refunded"
        } else {
            "processed"
        }
    }

    pub(super) fn wire(&self) -> PaymentWire<'_> {
        PaymentWire {
            id: &self.id,
            object: "payment",
            test: true,
            created_at: self.created_at,
            updated_at: self.updated_at,
            amount: self.amount,
            currency: &self.currency,
            order: &self.order_id,
            reference: self.reference.as_deref(),
            description: self.description.as_deref(),
            line_items: &self.line_items,
            status: self.status(),
            metadata: &self.metadata,
        }
    }
}

impl Refund {
    pub(super) fn wire(&self) -> RefundWire<'_> {
        RefundWire {
            id: &self.id,
            object: "refund",
            test: true,
            created_at: self.created_at,
            updated_at: self.created_at,
            amount: self.amount,
            currency: &self.currency,
            description: self.description.as_deref(),
            line_items: &self.line_items,
            metadata: &self.metadata,
            payment: &self.payment_id,
            reason: &self.reason,
            reference: self.reference.as_deref(),
            // Refunds settle at once in the sandbox; `failed` never happens.
            status: "succeeded",
        }
    }
}

pub(super) fn checkout_url(public_base_url: &str, session_id: &str) -> String {
    format!("{public_base_url}/_sandbox/checkout/{session_id}")
}

/// Serializes as `{}`.
#[derive(Serialize)]
pub(super) struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) amount: i64,
    pub(super) created_at: i64,
    pub(super) currency: &'a str,
    pub(super) discounts: &'static [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expires_at: Option<i64>,
    pub(super) line_items: Vec<&'a str>,
    pub(super) metadata: &'a Map<String, Value>,
    pub(super) payments: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) shipping_info: Option<&'a Value>,
    pub(super) status: &'static str,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExpandedOrderWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) amount: i64,
    pub(super) created_at: i64,
    pub(super) currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expires_at: Option<i64>,
    pub(super) line_items: Vec<LineItemWire<'a>>,
    pub(super) metadata: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) shipping_info: Option<&'a Value>,
    pub(super) status: &'static str,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LineItemWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) metadata: Empty,
    pub(super) price: PriceWire<'a>,
    pub(super) quantity: i64,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PriceWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) active: bool,
    pub(super) amount: i64,
    pub(super) created_at: i64,
    pub(super) currency: &'a str,
    pub(super) metadata: Empty,
    pub(super) product: ProductWire<'a>,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProductWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) active: bool,
    pub(super) categories: &'static [Value],
    pub(super) created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) images: &'a [String],
    pub(super) metadata: Empty,
    pub(super) name: &'a str,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) cancel_url: &'a str,
    pub(super) created_at: i64,
    pub(super) customer_info: &'a Map<String, Value>,
    pub(super) metadata: &'a Map<String, Value>,
    pub(super) order: ExpandedOrderWire<'a>,
    pub(super) success_url: &'a str,
    pub(super) url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<&'a str>,
    pub(super) test: bool,
    pub(super) updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PaymentWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) test: bool,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) amount: i64,
    pub(super) currency: &'a str,
    pub(super) order: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    pub(super) line_items: &'a [Value],
    pub(super) status: &'static str,
    pub(super) metadata: &'a Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundWire<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) test: bool,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) amount: i64,
    pub(super) currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) description: Option<&'a str>,
    pub(super) line_items: &'a [Value],
    pub(super) metadata: &'a Map<String, Value>,
    pub(super) payment: &'a str,
    pub(super) reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reference: Option<&'a str>,
    pub(super) status: &'static str,
}

/// A page of a collection (sp-go `Expandable…s`: `object: "collection"`,
/// `pageToken`, `nextPageToken`, `maxResults`, `results`, `data`); the last
/// page has no `nextPageToken`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CollectionWire<'a> {
    pub(super) object: &'static str,
    pub(super) page_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_page_token: Option<&'a str>,
    pub(super) max_results: usize,
    pub(super) results: usize,
    pub(super) data: Vec<Value>,
}
