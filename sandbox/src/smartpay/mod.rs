//! A faithful HTTP simulator of the Smartpay (BNPL) API.
//!
//! Written from `providers.md`, seed 000 (capture), seed 002 (refunds) and the
//! `fixtures/smartpay` bodies, never from an adapter's types. It serves, under
//! `/v1` (raw-key Basic auth, `Idempotency-Key`, `{statusCode, errorCode,
//! message, details}` errors):
//!
//! - `POST /v1/checkout-sessions`, `POST /v1/orders` (token flow),
//!   `GET /v1/orders/{id}`, `PUT /v1/orders/{id}/cancellation`,
//!   `POST /v1/payments` (capture), `GET /v1/payments/{id}`,
//!   `POST /v1/refunds`, `GET /v1/refunds/{id}`,
//!   `GET /v1/checkout-sessions/{id}`, and the lists `GET /v1/orders`,
//!   `/v1/payments`, `/v1/refunds`, `/v1/checkout-sessions` (`maxResults`,
//!   `pageToken`, `expand`; `{object: "collection", pageToken,
//!   nextPageToken, maxResults, results, data}`, newest first);
//! - and, outside `/v1`, `GET /_sandbox/ledger`, the shopper's checkout page
//!   `GET /_sandbox/checkout/{session}` with `POST …/approve` and
//!   `POST …/reject`, and the fault controls.
//!
//! Once told where ([`SmartpaySimulator::deliver_webhooks_to`]), it notifies
//! as providers.md describes Smartpay: `order.authorized`, `order.rejected`,
//! `order.canceled`, `payment.created`, `refund.created`, each an event
//! `{id, object: "event", createdAt, test, eventData: {type, version, data}}`
//! signed with `Smartpay-Signature` (hex HMAC-SHA256 over
//! `"{Smartpay-Signature-Timestamp}." + body`, keyed by the base62-decoded
//! signing secret).
//!
//! Sandbox test values (kept stable, client teams write tests against them):
//! the checkout `url` is the shopper's page; token `paytok_test_approved`
//! authorizes at once, `paytok_test_rejected` is rejected.
//!
//! Every "now" comes from the injected clock, so tests can cross the 7-day
//! capture deadline. Behaviour the sources leave open is marked `GUESS:`
//! where it is implemented.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post, put};
use chrono::Duration;
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::faults::{self, Faults};
use crate::notifications::{Notifier, Signer};
use kessai_clock::SharedClock;

/// Seed 000: an order must be captured within 7 days of authorization.
const AUTHORIZATION_WINDOW: Duration = Duration::days(7);
/// providers.md: Smartpay honours an `Idempotency-Key` for 6 hours.
const IDEMPOTENCY_RETENTION: Duration = Duration::hours(6);
const MAX_BODY_BYTES: usize = 1 << 20;
/// The fixtures' ids carry 21 or 22 base62 characters after the prefix.
const ID_LENGTH: usize = 22;
const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The webhook event version the SDKs' test event carries.
const EVENT_VERSION: &str = "2022-02-18";

const TOKEN_APPROVED: &str = "paytok_test_approved";
const TOKEN_REJECTED: &str = "paytok_test_rejected";

/// providers.md: send `JPY`; the seed asks for three upper-case letters.
const CURRENCIES: &[&str] = &["JPY"];
const CAPTURE_METHODS: &[&str] = &["automatic", "manual"];
const CANCEL_REMAINDER: &[&str] = &["automatic", "manual"];
const REFUND_REASONS: &[&str] = &["requested_by_customer", "fraudulent"];

const JSON: &str = "application/json";

// ---------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------

/// The simulated Smartpay merchant account. Clones share the same books.
#[derive(Clone)]
pub struct SmartpaySimulator {
    books: Arc<Mutex<Books>>,
    faults: Faults,
    clock: SharedClock,
    public_base_url: Arc<str>,
    secret_key: Arc<str>,
    notifier: Notifier,
}

/// What the simulated provider holds, for tests that compare the books.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmartpayLedger {
    /// Sorted by creation.
    pub orders: Vec<LedgerOrder>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerOrder {
    pub id: String,
    pub status: String,
    pub amount: i64,
    /// The amount reserved when the shopper approved, 0 if never authorized.
    pub authorized: i64,
    /// Sum of the order's payments (captures).
    pub captured: i64,
    /// Sum of the refunds on the order's payments.
    pub refunded: i64,
    pub canceled: bool,
    pub payments: Vec<LedgerPayment>,
    /// The merchant's reference: the order's own, else its checkout session's.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerPayment {
    pub id: String,
    pub amount: i64,
    pub refunded: i64,
}

impl SmartpaySimulator {
    /// `public_base_url` is where this router is reachable from outside (e.g.
    /// `http://127.0.0.1:1234/smartpay`, no trailing slash); the checkout URLs
    /// handed to shoppers are built from it.
    pub fn new(clock: SharedClock, public_base_url: String, secret_key: &str) -> Self {
        Self {
            books: Arc::default(),
            faults: Faults::default(),
            clock,
            public_base_url: public_base_url.trim_end_matches('/').into(),
            secret_key: secret_key.into(),
            notifier: Notifier::default(),
        }
    }

    /// Notifies `url` of every change from now on, signing with the
    /// endpoint's `signing_secret` (base62). False if the secret is not
    /// base62, and then nothing is sent.
    pub fn deliver_webhooks_to(&self, url: String, signing_secret: SecretString) -> bool {
        let Some(key) = base62_bytes(signing_secret.expose_secret()) else {
            return false;
        };
        let clock = self.clock.clone();
        let sign: Signer = Arc::new(move |body: &[u8]| {
            let timestamp = clock.now().timestamp_millis().to_string();
            vec![
                ("Smartpay-Signature", signature(&key, &timestamp, body)),
                ("Smartpay-Signature-Timestamp", timestamp),
            ]
        });
        self.notifier.set_target(url, sign);
        true
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.notifier
    }

    /// The API under `/v1` (behind the fault layer) and the sandbox controls
    /// under `/_sandbox` (neither authenticated nor faulted, so a test can
    /// always inspect and repair the simulator).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route(
                "/v1/checkout-sessions",
                post(create_checkout_session).get(list_checkout_sessions),
            )
            .route("/v1/checkout-sessions/{id}", get(get_checkout_session))
            .route("/v1/orders", post(create_order).get(list_orders))
            .route("/v1/orders/{id}", get(get_order))
            .route("/v1/orders/{id}/cancellation", put(cancel_order))
            .route("/v1/payments", post(create_payment).get(list_payments))
            .route("/v1/payments/{id}", get(get_payment))
            .route("/v1/refunds", post(create_refund).get(list_refunds))
            .route("/v1/refunds/{id}", get(get_refund))
            .route("/v1/{*rest}", any(unknown_route))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ));
        let control = Router::new()
            .route("/_sandbox/ledger", get(ledger_route))
            .route("/_sandbox/checkout/{id}", get(checkout_page))
            .route("/_sandbox/checkout/{id}/approve", post(checkout_approve))
            .route("/_sandbox/checkout/{id}/reject", post(checkout_reject))
            .with_state(self.clone());
        api.merge(control)
            .merge(faults::control_routes(self.faults.clone()))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn ledger(&self) -> SmartpayLedger {
        let now = self.now_ms();
        let mut books = self.lock();
        books.settle_expired(now);
        books.ledger()
    }

    /// Plays the shopper approving on the checkout page. False when the
    /// session is unknown or its order is not awaiting the shopper.
    pub fn approve_checkout(&self, checkout_session_id: &str) -> bool {
        let done = self
            .finish_checkout(checkout_session_id, Verdict::Approve)
            .is_ok();
        self.flush_notifications();
        done
    }

    /// Plays the shopper rejecting (or Smartpay declining) the checkout.
    pub fn reject_checkout(&self, checkout_session_id: &str) -> bool {
        let done = self
            .finish_checkout(checkout_session_id, Verdict::Reject)
            .is_ok();
        self.flush_notifications();
        done
    }

    /// How many authenticated `/v1` requests reached the simulator.
    pub fn requests_seen(&self) -> usize {
        self.lock().requests_seen
    }
}

// ---------------------------------------------------------------------------
// The books
// ---------------------------------------------------------------------------

/// Everything behind one mutex, so an idempotency lookup and the action it
/// guards are atomic: no request can slip in between.
#[derive(Default)]
struct Books {
    sessions: Vec<Session>,
    orders: Vec<Order>,
    payments: Vec<Payment>,
    refunds: Vec<Refund>,
    idempotency: HashMap<String, StoredReply>,
    requests_seen: usize,
    /// Events to notify (type, object), sent once the books are unlocked.
    outbox: Vec<(&'static str, Value)>,
}

struct StoredReply {
    fingerprint: [u8; 32],
    at_ms: i64,
    reply: Reply,
}

/// Per-request context the operations need besides the books.
struct Env<'a> {
    now: i64,
    public_base_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderStatus {
    RequiresAuthorization,
    RequiresCapture,
    Succeeded,
    Canceled,
    Rejected,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::RequiresAuthorization => "requires_authorization",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureMethod {
    Automatic,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Approve,
    Reject,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    order_id: String,
    success_url: String,
    cancel_url: String,
    customer_info: Map<String, Value>,
    metadata: Map<String, Value>,
    reference: Option<String>,
    created_at: i64,
}

#[derive(Debug, Clone)]
struct LineItem {
    id: String,
    price_id: String,
    product_id: String,
    name: String,
    description: Option<String>,
    images: Vec<String>,
    amount: i64,
    currency: String,
    quantity: i64,
}

#[derive(Debug, Clone)]
struct Order {
    id: String,
    amount: i64,
    currency: String,
    capture_method: CaptureMethod,
    status: OrderStatus,
    line_items: Vec<LineItem>,
    metadata: Map<String, Value>,
    shipping_info: Option<Value>,
    /// Only the token flow sets the order's own reference: the fixture's
    /// checkout session keeps its `reference` off the embedded order.
    reference: Option<String>,
    expires_at: Option<i64>,
    payment_ids: Vec<String>,
    created_at: i64,
    updated_at: i64,
    // Bookkeeping the wire object does not show.
    authorized: i64,
    captured: i64,
}

#[derive(Debug, Clone)]
struct Payment {
    id: String,
    order_id: String,
    amount: i64,
    currency: String,
    reference: Option<String>,
    description: Option<String>,
    line_items: Vec<Value>,
    metadata: Map<String, Value>,
    refunded: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone)]
struct Refund {
    id: String,
    payment_id: String,
    amount: i64,
    currency: String,
    reason: String,
    reference: Option<String>,
    description: Option<String>,
    line_items: Vec<Value>,
    metadata: Map<String, Value>,
    created_at: i64,
}

impl Books {
    fn notify<T: Serialize>(&mut self, event_type: &'static str, object: &T) {
        // Our own wire structs have string keys only, so this cannot fail.
        let data = serde_json::to_value(object).unwrap_or_default();
        self.outbox.push((event_type, data));
    }

    fn order(&self, id: &str) -> Result<&Order, ApiError> {
        self.orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(ApiError::order_not_found)
    }

    fn order_mut(&mut self, id: &str) -> Result<&mut Order, ApiError> {
        self.orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(ApiError::order_not_found)
    }

    fn payment_mut(&mut self, id: &str) -> Result<&mut Payment, ApiError> {
        self.payments
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(ApiError::payment_not_found)
    }

    /// Smartpay cancels an uncaptured order by itself at its deadline; the
    /// simulator catches up whenever it is touched, dating the change at the
    /// deadline so the books read as if it had happened on time.
    fn settle_expired(&mut self, now: i64) {
        for order in &mut self.orders {
            let overdue = order.status == OrderStatus::RequiresCapture
                && order.expires_at.is_some_and(|deadline| now >= deadline);
            if overdue {
                // A partly captured order keeps what was taken: it ends
                // `succeeded`, as cancelling it by hand would.
                order.status = if order.captured > 0 {
                    OrderStatus::Succeeded
                } else {
                    OrderStatus::Canceled
                };
                order.updated_at = order.expires_at.unwrap_or(now);
            }
        }
    }

    fn forget_old_keys(&mut self, now: i64) {
        let retention = IDEMPOTENCY_RETENTION.num_milliseconds();
        self.idempotency
            .retain(|_, stored| now - stored.at_ms < retention);
    }

    /// The shopper's answer, or the approved token: authorize the order.
    /// Automatic capture takes the whole amount at once as one payment.
    fn authorize(&mut self, order_index: usize, now: i64) {
        let Some(order) = self.orders.get_mut(order_index) else {
            return;
        };
        order.authorized = order.amount;
        // GUESS: an automatically captured order also shows the 7-day
        // `expiresAt` (order.succeeded.json carries one).
        order.expires_at = Some(now + AUTHORIZATION_WINDOW.num_milliseconds());
        order.updated_at = now;
        match order.capture_method {
            CaptureMethod::Manual => order.status = OrderStatus::RequiresCapture,
            CaptureMethod::Automatic => {
                let capture = CaptureRequest {
                    order_id: order.id.clone(),
                    amount: order.amount,
                    currency: order.currency.clone(),
                    cancel_remainder: "automatic",
                    reference: None,
                    description: None,
                    line_items: Vec::new(),
                    metadata: Map::new(),
                };
                self.record_payment(order_index, capture, now);
            }
        }
        if let Some(order) = self.orders.get(order_index) {
            let authorized = serde_json::to_value(order.wire()).unwrap_or_default();
            self.outbox.push(("order.authorized", authorized));
        }
    }

    /// Books a capture on the order and returns the new payment's index.
    fn record_payment(&mut self, order_index: usize, request: CaptureRequest, now: i64) -> usize {
        let payment = Payment {
            id: new_id("payment"),
            order_id: request.order_id,
            amount: request.amount,
            currency: request.currency,
            reference: request.reference,
            description: request.description,
            line_items: request.line_items,
            metadata: request.metadata,
            refunded: 0,
            created_at: now,
            updated_at: now,
        };
        if let Some(order) = self.orders.get_mut(order_index) {
            order.captured += payment.amount;
            order.payment_ids.push(payment.id.clone());
            order.updated_at = now;
            // Seed 000: by default whatever this capture leaves is cancelled
            // and can never be captured; `manual` keeps it capturable.
            if request.cancel_remainder == "automatic" || order.captured >= order.amount {
                order.status = OrderStatus::Succeeded;
            }
        }
        self.notify("payment.created", &payment.wire());
        self.payments.push(payment);
        self.payments.len() - 1
    }

    fn ledger(&self) -> SmartpayLedger {
        SmartpayLedger {
            orders: self.orders.iter().map(|o| self.ledger_order(o)).collect(),
        }
    }

    fn ledger_order(&self, order: &Order) -> LedgerOrder {
        let payments: Vec<LedgerPayment> = self
            .payments
            .iter()
            .filter(|p| p.order_id == order.id)
            .map(|p| LedgerPayment {
                id: p.id.clone(),
                amount: p.amount,
                refunded: p.refunded,
            })
            .collect();
        let session_reference = self
            .sessions
            .iter()
            .find(|s| s.order_id == order.id)
            .and_then(|s| s.reference.clone());
        LedgerOrder {
            id: order.id.clone(),
            status: order.status.as_str().to_owned(),
            amount: order.amount,
            authorized: order.authorized,
            captured: order.captured,
            refunded: payments.iter().map(|p| p.refunded).sum(),
            canceled: order.status == OrderStatus::Canceled,
            payments,
            reference: order.reference.clone().or(session_reference),
        }
    }
}

impl LineItem {
    fn new(item: ItemRequest, order_currency: &str) -> Self {
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

    fn wire(&self, at: i64) -> LineItemWire<'_> {
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
    fn new(fields: OrderFields, reference: Option<String>, now: i64) -> Self {
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

    fn reject(&mut self, now: i64) {
        self.status = OrderStatus::Rejected;
        self.updated_at = now;
    }

    fn uncaptured(&self) -> i64 {
        self.amount - self.captured
    }

    fn wire(&self) -> OrderWire<'_> {
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
    fn expanded_wire(&self) -> ExpandedOrderWire<'_> {
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
    fn wire<'a>(&'a self, order: &'a Order, public_base_url: &str) -> SessionWire<'a> {
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
    fn status(&self) -> &'static str {
        if self.refunded >= self.amount {
            "refunded"
        } else {
            "processed"
        }
    }

    fn wire(&self) -> PaymentWire<'_> {
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
    fn wire(&self) -> RefundWire<'_> {
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

fn checkout_url(public_base_url: &str, session_id: &str) -> String {
    format!("{public_base_url}/_sandbox/checkout/{session_id}")
}

// ---------------------------------------------------------------------------
// Wire shapes (field order as in the fixtures; absent optionals omitted, as
// the SDKs' `omitempty` types and the fixtures show)
// ---------------------------------------------------------------------------

/// Serializes as `{}`.
#[derive(Serialize)]
struct Empty {}

/// A webhook event, field order as in the SDKs' test event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventWire<'a> {
    id: &'a str,
    object: &'static str,
    created_at: i64,
    test: bool,
    event_data: EventDataWire<'a>,
}

#[derive(Serialize)]
struct EventDataWire<'a> {
    #[serde(rename = "type")]
    event_type: &'static str,
    version: &'static str,
    data: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderWire<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    created_at: i64,
    currency: &'a str,
    discounts: &'static [Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    line_items: Vec<&'a str>,
    metadata: &'a Map<String, Value>,
    payments: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping_info: Option<&'a Value>,
    status: &'static str,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExpandedOrderWire<'a> {
    id: &'a str,
    object: &'static str,
    amount: i64,
    created_at: i64,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    line_items: Vec<LineItemWire<'a>>,
    metadata: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping_info: Option<&'a Value>,
    status: &'static str,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LineItemWire<'a> {
    id: &'a str,
    object: &'static str,
    metadata: Empty,
    price: PriceWire<'a>,
    quantity: i64,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PriceWire<'a> {
    id: &'a str,
    object: &'static str,
    active: bool,
    amount: i64,
    created_at: i64,
    currency: &'a str,
    metadata: Empty,
    product: ProductWire<'a>,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductWire<'a> {
    id: &'a str,
    object: &'static str,
    active: bool,
    categories: &'static [Value],
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    images: &'a [String],
    metadata: Empty,
    name: &'a str,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionWire<'a> {
    id: &'a str,
    object: &'static str,
    cancel_url: &'a str,
    created_at: i64,
    customer_info: &'a Map<String, Value>,
    metadata: &'a Map<String, Value>,
    order: ExpandedOrderWire<'a>,
    success_url: &'a str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    test: bool,
    updated_at: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentWire<'a> {
    id: &'a str,
    object: &'static str,
    test: bool,
    created_at: i64,
    updated_at: i64,
    amount: i64,
    currency: &'a str,
    order: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    line_items: &'a [Value],
    status: &'static str,
    metadata: &'a Map<String, Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefundWire<'a> {
    id: &'a str,
    object: &'static str,
    test: bool,
    created_at: i64,
    updated_at: i64,
    amount: i64,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    line_items: &'a [Value],
    metadata: &'a Map<String, Value>,
    payment: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    status: &'static str,
}

/// A page of a collection (sp-go `Expandable…s`: `object: "collection"`,
/// `pageToken`, `nextPageToken`, `maxResults`, `results`, `data`); the last
/// page has no `nextPageToken`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CollectionWire<'a> {
    object: &'static str,
    page_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
    max_results: usize,
    results: usize,
    data: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorWire<'a> {
    status_code: u16,
    error_code: &'a str,
    message: &'a str,
    details: &'a [String],
}

/// The 401 body (sp-go `N401`): no `errorCode`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnauthorizedWire {
    status_code: u16,
    scheme: &'static str,
    realm: &'static str,
}

/// A finished HTTP answer, kept as bytes so an idempotent replay is
/// byte-identical.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    body: Bytes,
}

impl Reply {
    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        Self {
            status,
            // Our own wire structs have string keys only, so this cannot fail.
            body: serde_json::to_vec(value).unwrap_or_default().into(),
        }
    }

    fn ok<T: Serialize>(value: &T) -> Self {
        Self::json(StatusCode::OK, value)
    }

    fn unauthorized() -> Self {
        Self::json(
            StatusCode::UNAUTHORIZED,
            &UnauthorizedWire {
                status_code: 401,
                // GUESS: the fixture's scheme/realm values are themselves guessed.
                scheme: "Basic",
                realm: "smartpay",
            },
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, [(header::CONTENT_TYPE, JSON)], self.body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"smartpay\""),
            );
        }
        response
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A Smartpay error body. The messages of the documented codes are the
/// fixtures' (the docs' descriptions; the real texts are unknown).
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    details: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            details: Vec::new(),
        }
    }

    /// GUESS: `details` lists one `"<field>: <problem>"` string per problem;
    /// the SDKs type it as an untyped array.
    fn invalid(details: Vec<String>) -> Self {
        Self {
            details,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "request.invalid",
                "The request is invalid.",
            )
        }
    }

    fn order_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "order.not-found",
            "No order was found meeting the requirements.",
        )
    }

    fn payment_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "payment.not-found",
            "No payment was found meeting the requirements.",
        )
    }

    fn refund_not_found() -> Self {
        // GUESS: code and message follow the order/payment pattern.
        Self::new(
            StatusCode::NOT_FOUND,
            "refund.not-found",
            "No refund was found meeting the requirements.",
        )
    }

    fn checkout_session_not_found() -> Self {
        // GUESS: code and message follow the order/payment pattern.
        Self::new(
            StatusCode::NOT_FOUND,
            "checkout-session.not-found",
            "No checkout session was found meeting the requirements.",
        )
    }

    fn token_not_found() -> Self {
        // GUESS: an unknown token is a 404 like an unknown order.
        Self::new(
            StatusCode::NOT_FOUND,
            "token.not-found",
            "No token was found meeting the requirements.",
        )
    }

    fn unknown_route() -> Self {
        // GUESS: Smartpay's answer to an unknown path is not documented.
        Self::new(
            StatusCode::NOT_FOUND,
            "resource.not-found",
            "No resource was found at this path.",
        )
    }

    fn cannot_capture() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "order.cannot-capture",
            "No payment can be created. The order was already captured or has expired.",
        )
    }

    fn excessive_amount() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "payment.excessive-amount",
            "The payment exceeds the order's amount available for capture",
        )
    }

    fn cannot_cancel() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "order.cannot-cancel",
            "The order has a status which doesn't allow cancellation.",
        )
    }

    fn amount_insufficient() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "amount.insufficient",
            "Available amount on payment is insufficient to handle the request.",
        )
    }

    fn idempotency_conflict() -> Self {
        // GUESS: status and code are not documented by Smartpay.
        Self::new(
            StatusCode::CONFLICT,
            "request.idempotency-key-conflict",
            "The Idempotency-Key was already used for a different request.",
        )
    }

    fn into_reply(self) -> Reply {
        Reply::json(
            self.status,
            &ErrorWire {
                status_code: self.status.as_u16(),
                error_code: self.code,
                message: self.message,
                details: &self.details,
            },
        )
    }
}

// ---------------------------------------------------------------------------
// Request validation
// ---------------------------------------------------------------------------

/// Reads fields of a JSON object, collecting every problem so one 400 lists
/// them all. `null` counts as absent (the PHP SDK sends nulls).
struct Input<'a> {
    body: &'a Map<String, Value>,
    prefix: String,
    details: Vec<String>,
}

impl<'a> Input<'a> {
    fn new(body: &'a Map<String, Value>) -> Self {
        Self::nested(body, String::new())
    }

    fn nested(body: &'a Map<String, Value>, prefix: String) -> Self {
        Self {
            body,
            prefix,
            details: Vec::new(),
        }
    }

    fn invalid(&mut self, field: &str, problem: &str) {
        self.details
            .push(format!("{}{field}: {problem}", self.prefix));
    }

    fn value(&mut self, field: &str, required: bool) -> Option<&'a Value> {
        let value = self.body.get(field).filter(|v| !v.is_null());
        if value.is_none() && required {
            self.invalid(field, "is required");
        }
        value
    }

    /// Amounts are integer yen: 100.0 and "100" are refused. The schemas
    /// type every amount and count `uint32`.
    fn integer(&mut self, field: &str, required: bool, min: i64) -> Option<i64> {
        self.bounded(field, required, min, i64::from(u32::MAX))
    }

    fn bounded(&mut self, field: &str, required: bool, min: i64, max: i64) -> Option<i64> {
        let value = self.value(field, required)?;
        match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.invalid(field, &format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    fn text(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.value(field, required)?;
        match value.as_str() {
            Some(s) if !(required && s.is_empty()) => Some(s.to_owned()),
            Some(_) => {
                self.invalid(field, "must not be empty");
                None
            }
            None => {
                self.invalid(field, "must be a string");
                None
            }
        }
    }

    fn choice(
        &mut self,
        field: &str,
        required: bool,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let value = self.value(field, required)?;
        let found = value
            .as_str()
            .and_then(|s| allowed.iter().copied().find(|a| *a == s));
        if found.is_none() {
            self.invalid(field, &format!("must be one of {}", allowed.join(", ")));
        }
        found
    }

    fn object(&mut self, field: &str) -> Option<Map<String, Value>> {
        let value = self.value(field, false)?;
        let object = value.as_object().cloned();
        if object.is_none() {
            self.invalid(field, "must be an object");
        }
        object
    }

    /// An object that may be required; a missing required one is named.
    fn required_object(&mut self, field: &str, required: bool) -> Option<Map<String, Value>> {
        let value = self.value(field, required)?;
        let object = value.as_object().cloned();
        if object.is_none() {
            self.invalid(field, "must be an object");
        }
        object
    }

    fn list(&mut self, field: &str, required: bool) -> Option<Vec<Value>> {
        let value = self.value(field, required)?;
        let list = value.as_array().cloned();
        if list.is_none() {
            self.invalid(field, "must be an array");
        }
        list
    }

    fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        let list = self.list(field, false)?;
        let strings: Option<Vec<String>> =
            list.iter().map(|v| v.as_str().map(str::to_owned)).collect();
        if strings.is_none() {
            self.invalid(field, "must be an array of strings");
        }
        strings
    }

    /// Takes the problems of a nested object's reader.
    fn absorb(&mut self, nested: Input<'_>) {
        self.details.extend(nested.details);
    }

    /// The parsed request, or the 400 listing every problem.
    fn finish<T>(self, parsed: Option<T>) -> Result<T, ApiError> {
        match parsed {
            Some(value) if self.details.is_empty() => Ok(value),
            _ if self.details.is_empty() => {
                Err(ApiError::invalid(vec!["body: is invalid".to_owned()]))
            }
            _ => Err(ApiError::invalid(self.details)),
        }
    }
}

/// The JSON object body; an empty body is `{}` (the cancellation has none).
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(vec![
            "body: must be a JSON object".to_owned(),
        ])),
        Err(_) => Err(ApiError::invalid(vec![
            "body: is not valid JSON".to_owned(),
        ])),
    }
}

struct ItemRequest {
    name: String,
    amount: i64,
    currency: Option<String>,
    quantity: i64,
    description: Option<String>,
    images: Vec<String>,
}

impl ItemRequest {
    fn parse(input: &mut Input<'_>, index: usize, value: &Value) -> Option<Self> {
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
struct OrderFields {
    amount: i64,
    currency: String,
    capture_method: CaptureMethod,
    items: Vec<ItemRequest>,
    metadata: Map<String, Value>,
    shipping_info: Option<Value>,
    customer_info: Map<String, Value>,
    reference: Option<String>,
}

impl OrderFields {
    fn parse(input: &mut Input<'_>) -> Option<Self> {
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
    fn address(input: &mut Input<'_>, field: &str, required: bool) -> Option<Map<String, Value>> {
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
    fn shipping_info(input: &mut Input<'_>) -> Option<Map<String, Value>> {
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
    fn customer_info(input: &mut Input<'_>) -> Option<Map<String, Value>> {
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

    fn items(input: &mut Input<'_>) -> Option<Vec<ItemRequest>> {
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

struct CheckoutRequest {
    order: OrderFields,
    success_url: String,
    cancel_url: String,
}

impl CheckoutRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
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

struct TokenOrderRequest {
    token: String,
    order: OrderFields,
}

impl TokenOrderRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
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

struct CaptureRequest {
    order_id: String,
    amount: i64,
    currency: String,
    cancel_remainder: &'static str,
    reference: Option<String>,
    description: Option<String>,
    line_items: Vec<Value>,
    metadata: Map<String, Value>,
}

impl CaptureRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
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

struct RefundRequest {
    payment_id: String,
    amount: i64,
    currency: String,
    reason: &'static str,
    reference: Option<String>,
    description: Option<String>,
    line_items: Vec<Value>,
    metadata: Map<String, Value>,
}

impl RefundRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
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

// ---------------------------------------------------------------------------
// The API operations
// ---------------------------------------------------------------------------

/// One `/v1` operation, named by the route that received it.
enum Call {
    CreateCheckoutSession,
    CreateOrder,
    GetOrder(String),
    CancelOrder(String),
    CreatePayment,
    GetPayment(String),
    CreateRefund,
    GetRefund(String),
    GetCheckoutSession(String),
    /// `GET` on a collection, with the request's query string.
    List(Collection, Option<String>),
    Unknown,
}

/// The collections `GET /v1/{collection}` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    CheckoutSessions,
    Orders,
    Payments,
    Refunds,
}

/// The SDKs' list parameters (sp-go `ListAll…Params`): `maxResults`
/// (default 20), `pageToken`, `expand`. Other parameters (the SDKs'
/// `dev-lang`, `sdk-version`) are ignored.
struct ListQuery {
    max_results: usize,
    page_token: Option<String>,
}

/// sp-go: "Number of objects to return. Defaults to 20 if not set."
const DEFAULT_MAX_RESULTS: usize = 20;
/// GUESS: the largest page Smartpay serves is not documented.
const MAX_RESULTS_LIMIT: usize = 100;

impl ListQuery {
    fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut max_results = DEFAULT_MAX_RESULTS;
        let mut page_token = None;
        let mut details = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "maxResults" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_RESULTS_LIMIT).contains(&n) => max_results = n,
                    _ => details.push(format!(
                        "maxResults: must be an integer from 1 to {MAX_RESULTS_LIMIT}"
                    )),
                },
                "pageToken" if !value.is_empty() => page_token = Some(value.into_owned()),
                // GUESS: `all` expands references, `no` keeps ids; the
                // simulator always answers with ids.
                "expand" if !matches!(value.as_ref(), "all" | "no" | "") => {
                    details.push("expand: must be one of all, no".to_owned());
                }
                _ => {}
            }
        }
        if details.is_empty() {
            Ok(Self {
                max_results,
                page_token,
            })
        } else {
            Err(ApiError::invalid(details))
        }
    }
}

impl Books {
    fn perform(&mut self, call: &Call, body: &[u8], env: &Env<'_>) -> Reply {
        let result = match call {
            Call::CreateCheckoutSession => parse_body(body)
                .and_then(|b| CheckoutRequest::parse(&b))
                .map(|r| self.create_checkout_session(r, env)),
            Call::CreateOrder => parse_body(body)
                .and_then(|b| TokenOrderRequest::parse(&b))
                .and_then(|r| self.create_token_order(r, env.now)),
            Call::GetOrder(id) => self.order(id).map(|o| Reply::ok(&o.wire())),
            // The cancellation has no body: whatever is sent is ignored.
            Call::CancelOrder(id) => self.cancel_order(id, env.now),
            Call::CreatePayment => parse_body(body)
                .and_then(|b| CaptureRequest::parse(&b))
                .and_then(|r| self.create_payment(r, env.now)),
            Call::GetPayment(id) => self
                .payments
                .iter()
                .find(|p| p.id == *id)
                .map(|p| Reply::ok(&p.wire()))
                .ok_or_else(ApiError::payment_not_found),
            Call::CreateRefund => parse_body(body)
                .and_then(|b| RefundRequest::parse(&b))
                .and_then(|r| self.create_refund(r, env.now)),
            Call::GetRefund(id) => self
                .refunds
                .iter()
                .find(|r| r.id == *id)
                .map(|r| Reply::ok(&r.wire()))
                .ok_or_else(ApiError::refund_not_found),
            Call::GetCheckoutSession(id) => self
                .sessions
                .iter()
                .find(|s| s.id == *id)
                .and_then(|session| {
                    let order = self.orders.iter().find(|o| o.id == session.order_id)?;
                    Some(Reply::ok(&session.wire(order, env.public_base_url)))
                })
                .ok_or_else(ApiError::checkout_session_not_found),
            Call::List(collection, query) => ListQuery::parse(query.as_deref())
                .and_then(|query| self.list(*collection, &query, env)),
            Call::Unknown => Err(ApiError::unknown_route()),
        };
        result.unwrap_or_else(ApiError::into_reply)
    }

    /// One page of a collection, newest first (GUESS: the order is not
    /// documented). A page token is the id of the page's first object
    /// (GUESS: the SDKs treat tokens as opaque strings), so pages stay put
    /// while new objects are created.
    fn list(
        &self,
        collection: Collection,
        query: &ListQuery,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        fn value<T: Serialize>(wire: T) -> Value {
            serde_json::to_value(wire).unwrap_or_default()
        }
        let objects: Vec<(&str, Value)> = match collection {
            Collection::CheckoutSessions => self
                .sessions
                .iter()
                .rev()
                .filter_map(|session| {
                    let order = self.orders.iter().find(|o| o.id == session.order_id)?;
                    Some((
                        session.id.as_str(),
                        value(session.wire(order, env.public_base_url)),
                    ))
                })
                .collect(),
            Collection::Orders => self
                .orders
                .iter()
                .rev()
                .map(|o| (o.id.as_str(), value(o.wire())))
                .collect(),
            Collection::Payments => self
                .payments
                .iter()
                .rev()
                .map(|p| (p.id.as_str(), value(p.wire())))
                .collect(),
            Collection::Refunds => self
                .refunds
                .iter()
                .rev()
                .map(|r| (r.id.as_str(), value(r.wire())))
                .collect(),
        };
        let start = match &query.page_token {
            None => 0,
            Some(token) => objects
                .iter()
                .position(|(id, _)| id == token)
                .ok_or_else(|| ApiError::invalid(vec!["pageToken: is invalid".to_owned()]))?,
        };
        let end = (start + query.max_results).min(objects.len());
        let page_token = objects.get(start).map(|(id, _)| *id).unwrap_or_default();
        let next_page_token = objects.get(end).map(|(id, _)| *id);
        let data: Vec<Value> = objects[start..end].iter().map(|(_, v)| v.clone()).collect();
        Ok(Reply::ok(&CollectionWire {
            object: "collection",
            page_token,
            next_page_token,
            max_results: query.max_results,
            results: data.len(),
            data,
        }))
    }

    fn create_checkout_session(&mut self, request: CheckoutRequest, env: &Env<'_>) -> Reply {
        let fields = request.order;
        let customer_info = fields.customer_info.clone();
        // GUESS: the session's metadata is also the order's.
        let metadata = fields.metadata.clone();
        // The fixture keeps the session's reference off its order.
        let reference = fields.reference.clone();
        let order = Order::new(fields, None, env.now);
        let session = Session {
            id: new_id("checkout"),
            order_id: order.id.clone(),
            success_url: request.success_url,
            cancel_url: request.cancel_url,
            customer_info,
            metadata,
            reference,
            created_at: env.now,
        };
        let reply = Reply::ok(&session.wire(&order, env.public_base_url));
        self.orders.push(order);
        self.sessions.push(session);
        reply
    }

    /// The token flow: the shopper approved once already, so the order is
    /// decided at once by the sandbox token.
    fn create_token_order(
        &mut self,
        request: TokenOrderRequest,
        now: i64,
    ) -> Result<Reply, ApiError> {
        let approved = match request.token.as_str() {
            TOKEN_APPROVED => true,
            TOKEN_REJECTED => false,
            _ => return Err(ApiError::token_not_found()),
        };
        let reference = request.order.reference.clone();
        let mut order = Order::new(request.order, reference, now);
        // GUESS: a rejected token still creates the order (`rejected`) and
        // answers 200 with it, rather than an error.
        if !approved {
            order.reject(now);
            self.notify("order.rejected", &order.wire());
        }
        self.orders.push(order);
        let index = self.orders.len() - 1;
        if approved {
            self.authorize(index, now);
        }
        Ok(Reply::ok(&self.orders[index].wire()))
    }

    fn create_payment(&mut self, request: CaptureRequest, now: i64) -> Result<Reply, ApiError> {
        let index = self
            .orders
            .iter()
            .position(|o| o.id == request.order_id)
            .ok_or_else(ApiError::order_not_found)?;
        let order = &self.orders[index];
        // An expired order was already settled (canceled/succeeded) before
        // this operation ran, so the status check covers the deadline too.
        if order.status != OrderStatus::RequiresCapture {
            return Err(ApiError::cannot_capture());
        }
        if request.amount > order.uncaptured() {
            return Err(ApiError::excessive_amount());
        }
        let payment = self.record_payment(index, request, now);
        Ok(Reply::ok(&self.payments[payment].wire()))
    }

    fn cancel_order(&mut self, id: &str, now: i64) -> Result<Reply, ApiError> {
        let order = self.order_mut(id)?;
        match order.status {
            // Cancelling releases the uncaptured remainder; a partly captured
            // order keeps its payments and ends `succeeded` (sp-php test).
            OrderStatus::RequiresCapture => {
                order.status = if order.captured > 0 {
                    OrderStatus::Succeeded
                } else {
                    OrderStatus::Canceled
                };
                order.updated_at = now;
                // GUESS: releasing a partly captured order's remainder is
                // notified as a cancellation too.
                let canceled = serde_json::to_value(order.wire()).unwrap_or_default();
                self.outbox.push(("order.canceled", canceled));
            }
            // Repeating a cancellation is harmless and answers the order.
            OrderStatus::Canceled => {}
            _ => return Err(ApiError::cannot_cancel()),
        }
        let order = self.order(id)?;
        Ok(Reply::ok(&order.wire()))
    }

    fn create_refund(&mut self, request: RefundRequest, now: i64) -> Result<Reply, ApiError> {
        let payment = self.payment_mut(&request.payment_id)?;
        if request.amount > payment.amount - payment.refunded {
            return Err(ApiError::amount_insufficient());
        }
        payment.refunded += request.amount;
        payment.updated_at = now;
        let refund = Refund {
            id: new_id("refund"),
            payment_id: payment.id.clone(),
            amount: request.amount,
            currency: request.currency,
            reason: request.reason.to_owned(),
            reference: request.reference,
            description: request.description,
            line_items: request.line_items,
            metadata: request.metadata,
            created_at: now,
        };
        let reply = Reply::ok(&refund.wire());
        self.notify("refund.created", &refund.wire());
        self.refunds.push(refund);
        Ok(reply)
    }
}

// ---------------------------------------------------------------------------
// Request pipeline: auth, counting, idempotency, action
// ---------------------------------------------------------------------------

impl SmartpaySimulator {
    fn lock(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds since the epoch, the unit of every Smartpay timestamp.
    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    async fn serve(&self, call: Call, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        if !self.is_authorized(&parts.headers) {
            return Reply::unauthorized().into_response();
        }
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                self.lock().requests_seen += 1;
                return ApiError::invalid(vec!["body: is unreadable or too large".to_owned()])
                    .into_reply()
                    .into_response();
            }
        };
        let reply = self.handle(
            &call,
            &parts.method,
            &parts.headers,
            parts.uri.path(),
            &body,
        );
        self.flush_notifications();
        reply.into_response()
    }

    /// Sends what the books queued, outside their lock.
    fn flush_notifications(&self) {
        let events = std::mem::take(&mut self.lock().outbox);
        for (event_type, data) in events {
            let id = new_id("evt");
            let body = serde_json::to_vec(&EventWire {
                id: &id,
                object: "event",
                created_at: self.now_ms(),
                test: true,
                event_data: EventDataWire {
                    event_type,
                    version: EVENT_VERSION,
                    data: &data,
                },
            })
            .unwrap_or_default();
            self.notifier.send(id, event_type, body, None);
        }
    }

    /// Everything after the body is read happens under one lock.
    fn handle(
        &self,
        call: &Call,
        method: &Method,
        headers: &HeaderMap,
        path: &str,
        body: &[u8],
    ) -> Reply {
        let env = Env {
            now: self.now_ms(),
            public_base_url: &self.public_base_url,
        };
        let mut books = self.lock();
        books.requests_seen += 1;
        books.settle_expired(env.now);
        let writes = [Method::POST, Method::PUT, Method::PATCH].contains(method);
        let Some(key) = idempotency_key(headers).filter(|_| writes) else {
            return books.perform(call, body, &env);
        };
        books.forget_old_keys(env.now);
        let fingerprint = fingerprint(method, path, body);
        if let Some(stored) = books.idempotency.get(&key) {
            return if stored.fingerprint == fingerprint {
                stored.reply.clone()
            } else {
                ApiError::idempotency_conflict().into_reply()
            };
        }
        let reply = books.perform(call, body, &env);
        // GUESS: every answer is remembered, errors included, so a retry
        // learns exactly what the first attempt learned.
        books.idempotency.insert(
            key,
            StoredReply {
                fingerprint,
                at_ms: env.now,
                reply: reply.clone(),
            },
        );
        reply
    }

    /// providers.md: `Authorization: Basic <secretKey>` with the RAW key, not
    /// base64 of `user:password` as HTTP Basic would have it.
    fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, credentials)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("basic") && credentials.trim() == &*self.secret_key
    }

    fn finish_checkout(&self, session_id: &str, verdict: Verdict) -> Result<Outcome, PageError> {
        let now = self.now_ms();
        let mut books = self.lock();
        books.settle_expired(now);
        let session = books
            .sessions
            .iter()
            .find(|s| s.id == session_id)
            .cloned()
            .ok_or(PageError::UnknownSession)?;
        let index = books
            .orders
            .iter()
            .position(|o| o.id == session.order_id)
            .ok_or(PageError::UnknownSession)?;
        let status = books.orders[index].status;
        if status != OrderStatus::RequiresAuthorization {
            return Err(PageError::NotAwaiting(status));
        }
        match verdict {
            Verdict::Approve => books.authorize(index, now),
            Verdict::Reject => {
                books.orders[index].reject(now);
                let rejected = serde_json::to_value(books.orders[index].wire()).unwrap_or_default();
                books.outbox.push(("order.rejected", rejected));
            }
        }
        let order = &books.orders[index];
        Ok(Outcome {
            order_id: order.id.clone(),
            status: order.status,
            back_url: match verdict {
                Verdict::Approve => session.success_url,
                Verdict::Reject => session.cancel_url,
            },
        })
    }
}

/// The `Idempotency-Key` header, if any. GUESS: Smartpay documents no format,
/// so any non-empty value is a key.
fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("idempotency-key")?;
    let key = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!key.is_empty()).then_some(key)
}

/// What makes two requests "the same" for idempotency.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

/// The signing key of a base62 secret: the secret read as one big-endian
/// number in base 62 (`A` is 0, `9` is 61), each leading `A` an extra zero
/// byte, as Smartpay's Node and Go SDKs read it.
fn base62_bytes(secret: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        _ => None,
    };
    if secret.is_empty() {
        return None;
    }
    // The number as big-endian bytes, multiplied by 62 and added to per digit.
    let mut number: Vec<u8> = Vec::new();
    for c in secret.bytes() {
        let mut carry = digit(c)?;
        for byte in number.iter_mut().rev() {
            let value = u32::from(*byte) * 62 + carry;
            *byte = value as u8;
            carry = value >> 8;
        }
        while carry > 0 {
            number.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    let leading = secret.bytes().take_while(|c| *c == b'A').count();
    let mut key = vec![0u8; leading];
    key.extend(number);
    Some(key)
}

/// `Smartpay-Signature`: lowercase hex HMAC-SHA256 of `"{timestamp}." + body`.
fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `<prefix>_test_<22 base62>`, like the fixtures' ids.
fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..ID_LENGTH)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    format!("{prefix}_test_{tail}")
}

// ---------------------------------------------------------------------------
// Axum handlers
// ---------------------------------------------------------------------------

async fn create_checkout_session(
    State(sim): State<SmartpaySimulator>,
    request: Request,
) -> Response {
    sim.serve(Call::CreateCheckoutSession, request).await
}

async fn create_order(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(Call::CreateOrder, request).await
}

/// `?expand=` is accepted and ignored: line items and payments stay ids.
async fn get_order(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetOrder(id), request).await
}

async fn cancel_order(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::CancelOrder(id), request).await
}

async fn create_payment(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(Call::CreatePayment, request).await
}

async fn get_payment(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetPayment(id), request).await
}

async fn create_refund(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(Call::CreateRefund, request).await
}

async fn get_refund(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetRefund(id), request).await
}

async fn get_checkout_session(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetCheckoutSession(id), request).await
}

fn list_call(collection: Collection, request: &Request) -> Call {
    Call::List(collection, request.uri().query().map(str::to_owned))
}

async fn list_checkout_sessions(
    State(sim): State<SmartpaySimulator>,
    request: Request,
) -> Response {
    sim.serve(list_call(Collection::CheckoutSessions, &request), request)
        .await
}

async fn list_orders(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(list_call(Collection::Orders, &request), request)
        .await
}

async fn list_payments(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(list_call(Collection::Payments, &request), request)
        .await
}

async fn list_refunds(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(list_call(Collection::Refunds, &request), request)
        .await
}

/// Unknown `/v1` paths answer like the API (auth first, then a JSON 404)
/// instead of axum's empty 404.
async fn unknown_route(State(sim): State<SmartpaySimulator>, request: Request) -> Response {
    sim.serve(Call::Unknown, request).await
}

async fn ledger_route(State(sim): State<SmartpaySimulator>) -> axum::Json<SmartpayLedger> {
    axum::Json(sim.ledger())
}

// ---------------------------------------------------------------------------
// The checkout page (the shopper's side)
// ---------------------------------------------------------------------------

struct Outcome {
    order_id: String,
    status: OrderStatus,
    back_url: String,
}

enum PageError {
    UnknownSession,
    NotAwaiting(OrderStatus),
}

impl PageError {
    fn into_page(self, session_id: &str) -> Response {
        let id = escape_html(session_id);
        let (status, message) = match self {
            Self::UnknownSession => (StatusCode::NOT_FOUND, format!("No checkout session {id}.")),
            Self::NotAwaiting(current) => (
                StatusCode::CONFLICT,
                format!(
                    "Checkout session {id} is not awaiting the shopper (order status {}).",
                    current.as_str()
                ),
            ),
        };
        (status, Html(html_page(&format!("<p>{message}</p>")))).into_response()
    }
}

async fn checkout_page(State(sim): State<SmartpaySimulator>, Path(id): Path<String>) -> Response {
    let now = sim.now_ms();
    let mut books = sim.lock();
    books.settle_expired(now);
    let Some(session) = books.sessions.iter().find(|s| s.id == id) else {
        return PageError::UnknownSession.into_page(&id);
    };
    let Ok(order) = books.order(&session.order_id) else {
        return PageError::UnknownSession.into_page(&id);
    };
    if order.status != OrderStatus::RequiresAuthorization {
        return PageError::NotAwaiting(order.status).into_page(&id);
    }
    let items: String = order
        .line_items
        .iter()
        .map(|li| {
            format!(
                "<li>{} × {} — {} {}</li>",
                escape_html(&li.name),
                li.quantity,
                li.amount,
                escape_html(&li.currency)
            )
        })
        .collect();
    let session_id = escape_html(&session.id);
    // Relative actions keep working behind any prefix or proxy.
    let body = format!(
        "<h1>Smartpay checkout (sandbox)</h1>\
         <p>Order {order_id}: {amount} {currency}</p><ul>{items}</ul>\
         <form method=\"post\" action=\"./{session_id}/approve\"><button type=\"submit\">Approve</button></form>\
         <form method=\"post\" action=\"./{session_id}/reject\"><button type=\"submit\">Reject</button></form>",
        order_id = escape_html(&order.id),
        amount = order.amount,
        currency = escape_html(&order.currency),
    );
    Html(html_page(&body)).into_response()
}

async fn checkout_approve(
    State(sim): State<SmartpaySimulator>,
    Path(id): Path<String>,
) -> Response {
    checkout_answer(&sim, &id, Verdict::Approve)
}

async fn checkout_reject(State(sim): State<SmartpaySimulator>, Path(id): Path<String>) -> Response {
    checkout_answer(&sim, &id, Verdict::Reject)
}

/// A page rather than a redirect to the shop's URL, so an HTTP test client
/// that follows redirects does not wander off to a shop that does not exist.
fn checkout_answer(sim: &SmartpaySimulator, id: &str, verdict: Verdict) -> Response {
    let outcome = sim.finish_checkout(id, verdict);
    sim.flush_notifications();
    match outcome {
        Err(error) => error.into_page(id),
        Ok(outcome) => {
            let body = format!(
                "<p>Order {} is now {}.</p><p><a href=\"{}\">Return to the shop</a></p>",
                escape_html(&outcome.order_id),
                outcome.status.as_str(),
                escape_html(&outcome.back_url)
            );
            Html(html_page(&body)).into_response()
        }
    }
}

fn html_page(body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Smartpay sandbox checkout</title></head><body>{body}</body></html>"
    )
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use base64::Engine as _;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;
    use tower::ServiceExt;

    use super::*;
    use crate::faults::{Fault, FaultKind};
    use kessai_clock::ManualClock;

    const KEY: &str = "sk_test_smartpaySimulator";
    const BASE: &str = "http://sim.test/smartpay";
    const SESSION_REQUEST: &str =
        include_str!("../../../tests/fixtures/smartpay/checkout_session.create.request.json");
    const SESSION_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/checkout_session.created.json");
    const ORDER_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/order.requires_capture.json");
    const ORDER_AUTHORIZATION_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/order.requires_authorization.json");
    const PAYMENT_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/payment.processed.json");
    const PARTIAL_CAPTURE_REQUEST: &str =
        include_str!("../../../tests/fixtures/smartpay/payment.create.request.partial_manual.json");
    const REFUND_REQUEST: &str =
        include_str!("../../../tests/fixtures/smartpay/refund.create.request.json");
    const REFUND_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/refund.succeeded.json");
    const UNAUTHORIZED_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.401.json");
    const CANNOT_CAPTURE_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.409.order.cannot-capture.json");
    const EXCESSIVE_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.409.payment.excessive-amount.json");
    const CANNOT_CANCEL_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.409.order.cannot-cancel.json");
    const INSUFFICIENT_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.403.amount.insufficient.json");
    const ORDER_NOT_FOUND_FIXTURE: &str =
        include_str!("../../../tests/fixtures/smartpay/error.404.order.not-found.json");

    struct Sim {
        sim: SmartpaySimulator,
        clock: ManualClock,
        app: Router,
    }

    struct Answer {
        status: StatusCode,
        bytes: Bytes,
        json: Value,
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 2, 3, 15, 42)
            .single()
            .expect("a valid date")
    }

    fn ms(at: DateTime<Utc>) -> i64 {
        at.timestamp_millis()
    }

    fn sim() -> Sim {
        let clock = ManualClock::new(start());
        let sim = SmartpaySimulator::new(Arc::new(clock.clone()), format!("{BASE}/"), KEY);
        let app = sim.router();
        Sim { sim, clock, app }
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn id_of(value: &Value) -> String {
        value["id"].as_str().expect("an id").to_owned()
    }

    fn is_id(id: &str, prefix: &str) -> bool {
        id.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("_test_"))
            .is_some_and(|tail| {
                tail.len() == ID_LENGTH && tail.bytes().all(|b| b.is_ascii_alphanumeric())
            })
    }

    fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
        assert_eq!(answer.status, status, "{}", answer.json);
        assert_eq!(answer.json["statusCode"], status.as_u16());
        assert_eq!(answer.json["errorCode"], code, "{}", answer.json);
        assert!(answer.json["message"].is_string());
        assert!(answer.json["details"].is_array());
    }

    impl Sim {
        async fn send(&self, request: HttpRequest<Body>) -> Answer {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a complete body");
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Answer {
                status,
                bytes,
                json,
            }
        }

        async fn call_with(
            &self,
            method: &str,
            path: &str,
            body: Option<Value>,
            headers: &[(&str, &str)],
        ) -> Answer {
            let mut builder = HttpRequest::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Basic {KEY}"));
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let body = match body {
                Some(json) => {
                    builder = builder.header(header::CONTENT_TYPE, JSON);
                    Body::from(json.to_string())
                }
                None => Body::empty(),
            };
            self.send(builder.body(body).expect("a valid request"))
                .await
        }

        async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
            self.call_with(method, path, body, &[]).await
        }

        /// Unauthenticated, like a shopper's browser.
        async fn browse(&self, method: &str, path: &str) -> Answer {
            let request = HttpRequest::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .expect("a valid request");
            self.send(request).await
        }

        async fn checkout(&self, amount: i64, capture_method: &str) -> Answer {
            let mut body = fixture(SESSION_REQUEST);
            body["amount"] = json!(amount);
            body["captureMethod"] = json!(capture_method);
            let answer = self.call("POST", "/v1/checkout-sessions", Some(body)).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
            answer
        }

        /// A manual-capture order the shopper approved.
        async fn authorized(&self, amount: i64) -> String {
            let session = self.checkout(amount, "manual").await;
            assert!(self.sim.approve_checkout(&id_of(&session.json)));
            id_of(&session.json["order"])
        }

        async fn order(&self, id: &str) -> Value {
            let answer = self.call("GET", &format!("/v1/orders/{id}"), None).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
            answer.json
        }

        async fn capture(&self, order: &str, amount: i64, remainder: &str) -> Answer {
            self.call(
                "POST",
                "/v1/payments",
                Some(json!({"order": order, "amount": amount, "currency": "JPY", "cancelRemainder": remainder})),
            )
            .await
        }

        async fn cancel(&self, order: &str) -> Answer {
            self.call("PUT", &format!("/v1/orders/{order}/cancellation"), None)
                .await
        }

        async fn refund(&self, payment: &str, amount: i64) -> Answer {
            let mut body = fixture(REFUND_REQUEST);
            body["payment"] = json!(payment);
            body["amount"] = json!(amount);
            self.call("POST", "/v1/refunds", Some(body)).await
        }

        async fn token_order(&self, token: &str, capture_method: &str) -> Answer {
            self.call(
                "POST",
                "/v1/orders",
                Some(json!({
                    "token": token, "amount": 5000, "currency": "JPY", "captureMethod": capture_method,
                    "items": [{"name": "Tea", "amount": 5000, "quantity": 1}], "reference": "order-77",
                    "customerInfo": {"emailAddress": "shopper@example.jp"},
                    "shippingInfo": {"address": {"line1": "1-2-3", "locality": "渋谷区", "postalCode": "150-0002", "country": "JP"}}
                })),
            )
            .await
        }
    }

    #[tokio::test]
    async fn a_checkout_session_has_the_fixture_shape_and_a_sandbox_url() {
        let s = sim();
        let answer = s.checkout(350, "manual").await;
        let session = &answer.json;
        assert_eq!(keys(session), keys(&fixture(SESSION_FIXTURE)));
        let session_id = id_of(session);
        assert!(is_id(&session_id, "checkout"), "{session_id}");
        assert_eq!(session["object"], "checkoutSession");
        assert_eq!(
            session["url"],
            format!("{BASE}/_sandbox/checkout/{session_id}")
        );
        assert_eq!(session["reference"], "order_ref_1234567");
        assert_eq!(session["createdAt"], ms(start()));
        assert_eq!(session["test"], true);
        let order = &session["order"];
        assert_eq!(keys(order), keys(&fixture(SESSION_FIXTURE)["order"]));
        assert!(is_id(&id_of(order), "order"));
        assert_eq!(order["status"], "requires_authorization");
        assert_eq!(order["amount"], 350, "the order amount, not the items' sum");
        let line_item = &order["lineItems"][0];
        assert_eq!(
            keys(line_item),
            keys(&fixture(SESSION_FIXTURE)["order"]["lineItems"][0])
        );
        assert!(is_id(&id_of(line_item), "li"));
        assert_eq!(
            line_item["price"]["product"]["name"],
            "オリジナルス STAN SMITH"
        );
        assert_eq!(line_item["price"]["amount"], 250);
    }

    #[tokio::test]
    async fn an_order_awaiting_the_shopper_has_no_expires_at() {
        let s = sim();
        let answer = s.checkout(2100, "manual").await;
        let order = s.order(&id_of(&answer.json["order"])).await;
        assert_eq!(keys(&order), keys(&fixture(ORDER_AUTHORIZATION_FIXTURE)));
        assert_eq!(order["status"], "requires_authorization");
        assert_eq!(order["payments"], json!([]));
        assert!(is_id(
            order["lineItems"][0].as_str().unwrap_or_default(),
            "li"
        ));
        let expanded = s
            .call(
                "GET",
                &format!("/v1/orders/{}?expand=all", id_of(&order)),
                None,
            )
            .await;
        assert_eq!(expanded.json, order, "expand is ignored");
    }

    #[tokio::test]
    async fn approving_the_checkout_authorizes_for_seven_days() {
        let s = sim();
        let answer = s.checkout(2100, "manual").await;
        let session_id = id_of(&answer.json);
        s.clock.advance(Duration::minutes(3));
        assert!(s.sim.approve_checkout(&session_id));
        let order = s.order(&id_of(&answer.json["order"])).await;
        assert_eq!(keys(&order), keys(&fixture(ORDER_FIXTURE)));
        assert_eq!(order["status"], "requires_capture");
        let approved_at = ms(start() + Duration::minutes(3));
        assert_eq!(order["updatedAt"], approved_at);
        assert_eq!(
            order["expiresAt"],
            approved_at + Duration::days(7).num_milliseconds()
        );
        assert_eq!(order["payments"], json!([]));
        assert!(!s.sim.approve_checkout(&session_id), "no longer awaiting");
        assert!(!s.sim.reject_checkout(&session_id));
        assert!(!s.sim.approve_checkout("checkout_test_nope"));
        let ledger = s.sim.ledger();
        assert_eq!(ledger.orders[0].authorized, 2100);
        assert_eq!(
            ledger.orders[0].reference.as_deref(),
            Some("order_ref_1234567")
        );
    }

    #[tokio::test]
    async fn rejecting_the_checkout_rejects_the_order() {
        let s = sim();
        let answer = s.checkout(2100, "manual").await;
        assert!(s.sim.reject_checkout(&id_of(&answer.json)));
        let order = s.order(&id_of(&answer.json["order"])).await;
        assert_eq!(order["status"], "rejected");
        assert!(order.get("expiresAt").is_none());
        assert_eq!(s.sim.ledger().orders[0].authorized, 0);
        assert!(!s.sim.approve_checkout(&id_of(&answer.json)));
    }

    #[tokio::test]
    async fn automatic_capture_takes_the_whole_amount_on_approval() {
        let s = sim();
        let answer = s.checkout(3000, "automatic").await;
        assert!(s.sim.approve_checkout(&id_of(&answer.json)));
        let order = s.order(&id_of(&answer.json["order"])).await;
        assert_eq!(order["status"], "succeeded");
        let payment_id = order["payments"][0].as_str().unwrap_or_default();
        let payment = s
            .call("GET", &format!("/v1/payments/{payment_id}"), None)
            .await;
        assert_eq!(payment.json["amount"], 3000);
        assert_eq!(payment.json["status"], "processed");
        assert_eq!(payment.json["order"], id_of(&order));
        assert_eq!(s.sim.ledger().orders[0].captured, 3000);
    }

    #[tokio::test]
    async fn the_checkout_page_offers_both_buttons_and_they_work() {
        let s = sim();
        let answer = s.checkout(2100, "manual").await;
        let session_id = id_of(&answer.json);
        let page = s
            .browse("GET", &format!("/_sandbox/checkout/{session_id}"))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let html = String::from_utf8_lossy(&page.bytes);
        assert!(
            html.contains(&format!("action=\"./{session_id}/approve\"")),
            "{html}"
        );
        assert!(
            html.contains(&format!("action=\"./{session_id}/reject\"")),
            "{html}"
        );

        let approved = s
            .browse("POST", &format!("/_sandbox/checkout/{session_id}/approve"))
            .await;
        assert_eq!(approved.status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&approved.bytes).contains("requires_capture"));
        assert_eq!(
            s.order(&id_of(&answer.json["order"])).await["status"],
            "requires_capture"
        );
        let again = s
            .browse("POST", &format!("/_sandbox/checkout/{session_id}/reject"))
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let unknown = s
            .browse("GET", "/_sandbox/checkout/checkout_test_nope")
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(
            s.sim.requests_seen(),
            2,
            "the shopper's pages are not counted"
        );
    }

    #[tokio::test]
    async fn an_approved_token_authorizes_at_once() {
        let s = sim();
        let manual = s.token_order(TOKEN_APPROVED, "manual").await;
        assert_eq!(manual.status, StatusCode::OK, "{}", manual.json);
        assert_eq!(manual.json["status"], "requires_capture");
        assert_eq!(
            manual.json["expiresAt"],
            ms(start()) + Duration::days(7).num_milliseconds()
        );
        assert_eq!(manual.json["reference"], "order-77");
        let automatic = s.token_order(TOKEN_APPROVED, "automatic").await;
        assert_eq!(automatic.json["status"], "succeeded");
        assert_eq!(automatic.json["payments"].as_array().map(Vec::len), Some(1));
        let ledger = s.sim.ledger();
        assert_eq!(ledger.orders[0].reference.as_deref(), Some("order-77"));
        assert_eq!(ledger.orders[1].captured, 5000);
    }

    #[tokio::test]
    async fn a_rejected_token_creates_a_rejected_order_and_an_unknown_one_is_404() {
        let s = sim();
        let rejected = s.token_order(TOKEN_REJECTED, "manual").await;
        assert_eq!(rejected.status, StatusCode::OK);
        assert_eq!(rejected.json["status"], "rejected");
        assert_eq!(s.order(&id_of(&rejected.json)).await["status"], "rejected");
        let unknown = s.token_order("paytok_test_other", "manual").await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "token.not-found");
        assert_eq!(s.sim.ledger().orders.len(), 1);
    }

    #[tokio::test]
    async fn several_manual_partial_captures_then_an_automatic_remainder() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let mut body = fixture(PARTIAL_CAPTURE_REQUEST);
        body["order"] = json!(order_id);
        body["amount"] = json!(500);
        let first = s.call("POST", "/v1/payments", Some(body)).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.json);
        assert_eq!(
            keys(&first.json),
            keys(&fixture(PAYMENT_FIXTURE))
                .union(&BTreeSet::from(["description".to_owned()]))
                .cloned()
                .collect()
        );
        assert!(is_id(&id_of(&first.json), "payment"));
        assert_eq!(first.json["status"], "processed");
        assert_eq!(first.json["reference"], "my_capture_reference");
        assert_eq!(s.order(&order_id).await["status"], "requires_capture");

        let second = s.capture(&order_id, 600, "manual").await;
        assert_eq!(second.status, StatusCode::OK);
        let order = s.order(&order_id).await;
        assert_eq!(order["status"], "requires_capture");
        assert_eq!(
            order["payments"],
            json!([id_of(&first.json), id_of(&second.json)])
        );

        let rest = s.capture(&order_id, 400, "automatic").await;
        assert_eq!(rest.status, StatusCode::OK);
        assert_eq!(s.order(&order_id).await["status"], "succeeded");
        let ledger = &s.sim.ledger().orders[0];
        assert_eq!(ledger.captured, 1500, "600 yen were released");
        assert_eq!(ledger.payments.len(), 3);
    }

    #[tokio::test]
    async fn manual_captures_reaching_the_amount_succeed_the_order() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.capture(&order_id, 1000, "manual").await;
        s.capture(&order_id, 1100, "manual").await;
        assert_eq!(s.order(&order_id).await["status"], "succeeded");
    }

    #[tokio::test]
    async fn an_automatic_capture_releases_the_rest() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let payment = s.capture(&order_id, 1500, "automatic").await;
        assert_eq!(payment.status, StatusCode::OK);
        assert_eq!(s.order(&order_id).await["status"], "succeeded");
        let more = s.capture(&order_id, 100, "manual").await;
        assert_eq!(more.status, StatusCode::CONFLICT);
        assert_eq!(more.json, fixture(CANNOT_CAPTURE_FIXTURE));
        assert_eq!(s.sim.ledger().orders[0].captured, 1500);
    }

    #[tokio::test]
    async fn cancel_remainder_defaults_to_automatic() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let answer = s
            .call(
                "POST",
                "/v1/payments",
                Some(json!({"order": order_id, "amount": 100, "currency": "JPY"})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(s.order(&order_id).await["status"], "succeeded");
    }

    #[tokio::test]
    async fn a_capture_over_the_remainder_is_an_excessive_amount() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.capture(&order_id, 1500, "manual").await;
        let answer = s.capture(&order_id, 601, "manual").await;
        assert_eq!(answer.status, StatusCode::CONFLICT);
        assert_eq!(answer.json, fixture(EXCESSIVE_FIXTURE));
        assert_eq!(s.sim.ledger().orders[0].captured, 1500);
        assert_eq!(
            s.capture(&order_id, 600, "manual").await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_capture_after_seven_days_is_refused_and_the_order_canceled() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let expires_at = s.order(&order_id).await["expiresAt"].clone();
        s.clock.advance(Duration::days(7));
        let answer = s.capture(&order_id, 2100, "automatic").await;
        assert_eq!(answer.status, StatusCode::CONFLICT);
        assert_eq!(answer.json, fixture(CANNOT_CAPTURE_FIXTURE));
        let order = s.order(&order_id).await;
        assert_eq!(order["status"], "canceled");
        assert_eq!(order["updatedAt"], expires_at, "canceled at the deadline");
        let ledger = &s.sim.ledger().orders[0];
        assert!(ledger.canceled);
        assert_eq!(ledger.captured, 0);
    }

    #[tokio::test]
    async fn a_capture_just_before_the_deadline_succeeds() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.clock
            .advance(Duration::days(7) - Duration::milliseconds(1));
        assert_eq!(
            s.capture(&order_id, 2100, "automatic").await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_partly_captured_order_expires_as_succeeded() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.capture(&order_id, 700, "manual").await;
        s.clock.advance(Duration::days(8));
        // The ledger is a read too: Smartpay has long acted by now.
        let ledger = &s.sim.ledger().orders[0];
        assert_eq!(ledger.status, "succeeded");
        assert_eq!(ledger.captured, 700);
        assert_eq!(s.order(&order_id).await["status"], "succeeded");
    }

    #[tokio::test]
    async fn cancelling_an_untouched_authorization_cancels_it() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let canceled = s.cancel(&order_id).await;
        assert_eq!(canceled.status, StatusCode::OK);
        assert_eq!(canceled.json["status"], "canceled");
        assert_eq!(keys(&canceled.json), keys(&fixture(ORDER_FIXTURE)));
        let again = s.cancel(&order_id).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json["status"], "canceled");
        assert_error(
            &s.capture(&order_id, 100, "automatic").await,
            StatusCode::CONFLICT,
            "order.cannot-capture",
        );
        assert!(s.sim.ledger().orders[0].canceled);
    }

    #[tokio::test]
    async fn cancelling_after_a_partial_capture_leaves_the_order_succeeded() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let payment = s.capture(&order_id, 1500, "manual").await;
        let answer = s.cancel(&order_id).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json["status"], "succeeded");
        assert_eq!(answer.json["payments"], json!([id_of(&payment.json)]));
        let ledger = &s.sim.ledger().orders[0];
        assert!(!ledger.canceled);
        assert_eq!(ledger.captured, 1500);

        let again = s.cancel(&order_id).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.json, fixture(CANNOT_CANCEL_FIXTURE));
    }

    #[tokio::test]
    async fn an_order_awaiting_the_shopper_cannot_be_cancelled() {
        let s = sim();
        let answer = s.checkout(2100, "manual").await;
        let cancel = s.cancel(&id_of(&answer.json["order"])).await;
        assert_error(&cancel, StatusCode::CONFLICT, "order.cannot-cancel");
    }

    #[tokio::test]
    async fn refunds_go_per_payment_up_to_its_amount() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let first = id_of(&s.capture(&order_id, 1500, "manual").await.json);
        let second = id_of(&s.capture(&order_id, 600, "manual").await.json);

        let refund = s.refund(&first, 1000).await;
        assert_eq!(refund.status, StatusCode::OK, "{}", refund.json);
        assert_eq!(keys(&refund.json), keys(&fixture(REFUND_FIXTURE)));
        assert!(is_id(&id_of(&refund.json), "refund"));
        assert_eq!(refund.json["status"], "succeeded");
        assert_eq!(refund.json["payment"], first.as_str());
        assert_eq!(refund.json["reason"], "requested_by_customer");

        let too_much = s.refund(&first, 501).await;
        assert_eq!(too_much.status, StatusCode::FORBIDDEN);
        assert_eq!(too_much.json, fixture(INSUFFICIENT_FIXTURE));
        assert_eq!(s.refund(&first, 500).await.status, StatusCode::OK);
        let payment = s.call("GET", &format!("/v1/payments/{first}"), None).await;
        assert_eq!(payment.json["status"], "refunded");
        assert_error(
            &s.refund(&first, 1).await,
            StatusCode::FORBIDDEN,
            "amount.insufficient",
        );

        assert_eq!(
            s.refund(&second, 600).await.status,
            StatusCode::OK,
            "its own amount"
        );
        let fetched = s
            .call("GET", &format!("/v1/refunds/{}", id_of(&refund.json)), None)
            .await;
        assert_eq!(fetched.bytes, refund.bytes);
        let ledger = &s.sim.ledger().orders[0];
        assert_eq!(ledger.refunded, 2100);
        assert_eq!(ledger.payments[0].refunded, 1500);
        assert_eq!(ledger.status, "succeeded");
    }

    #[tokio::test]
    async fn refund_requests_are_validated() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let payment = id_of(&s.capture(&order_id, 2100, "automatic").await.json);
        let bad_reason = s
            .call(
                "POST",
                "/v1/refunds",
                Some(json!({"payment": payment, "amount": 100, "currency": "JPY", "reason": "changed_mind"})),
            )
            .await;
        assert_error(&bad_reason, StatusCode::BAD_REQUEST, "request.invalid");
        assert!(
            bad_reason.json["details"][0]
                .as_str()
                .unwrap_or_default()
                .starts_with("reason:")
        );
        let unknown = s.refund("payment_test_nope", 100).await;
        assert_error(&unknown, StatusCode::NOT_FOUND, "payment.not-found");
        assert_eq!(s.sim.ledger().orders[0].refunded, 0);
    }

    #[tokio::test]
    async fn unknown_ids_and_routes_are_404s() {
        let s = sim();
        let order = s.call("GET", "/v1/orders/order_test_nope", None).await;
        assert_eq!(order.status, StatusCode::NOT_FOUND);
        assert_eq!(order.json, fixture(ORDER_NOT_FOUND_FIXTURE));
        assert_error(
            &s.capture("order_test_nope", 100, "automatic").await,
            StatusCode::NOT_FOUND,
            "order.not-found",
        );
        assert_error(
            &s.call("GET", "/v1/payments/payment_test_nope", None).await,
            StatusCode::NOT_FOUND,
            "payment.not-found",
        );
        assert_error(
            &s.call("GET", "/v1/refunds/refund_test_nope", None).await,
            StatusCode::NOT_FOUND,
            "refund.not-found",
        );
        assert_eq!(
            s.call("GET", "/v1/coupons", None).await.status,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn checkout_validation_names_every_bad_field() {
        let s = sim();
        let answer = s
            .call(
                "POST",
                "/v1/checkout-sessions",
                Some(json!({
                    "amount": 0, "currency": "jpy", "captureMethod": "later",
                    "items": [{"name": "Tea", "amount": 1.5}], "successUrl": "https://shop.test/ok"
                })),
            )
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
        let fields: BTreeSet<String> = answer.json["details"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter_map(|d| d.as_str()?.split(':').next().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let expected = [
            "amount",
            "currency",
            "captureMethod",
            "items[0].amount",
            "items[0].quantity",
            "shippingInfo",
            "customerInfo",
            "cancelUrl",
        ];
        assert_eq!(fields, expected.iter().map(|f| (*f).to_owned()).collect());
        assert!(s.sim.ledger().orders.is_empty());
    }

    #[tokio::test]
    async fn collections_page_newest_first_with_the_sdks_parameters() {
        let s = sim();
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(id_of(&s.token_order(TOKEN_APPROVED, "manual").await.json));
        }
        let first = s.call("GET", "/v1/orders?maxResults=2", None).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.json);
        let page = &first.json;
        assert_eq!(
            keys(page),
            [
                "data",
                "maxResults",
                "nextPageToken",
                "object",
                "pageToken",
                "results"
            ]
            .into_iter()
            .map(str::to_owned)
            .collect()
        );
        assert_eq!(
            (
                page["object"].as_str(),
                page["maxResults"].as_i64(),
                page["results"].as_i64()
            ),
            (Some("collection"), Some(2), Some(2))
        );
        let listed: Vec<String> = page["data"].as_array().unwrap().iter().map(id_of).collect();
        assert_eq!(listed, [ids[2].clone(), ids[1].clone()]);
        assert_eq!(keys(&page["data"][0]), keys(&s.order(&ids[2]).await));
        let token = page["nextPageToken"].as_str().unwrap().to_owned();
        let second = s
            .call(
                "GET",
                &format!("/v1/orders?maxResults=2&pageToken={token}&expand=no"),
                None,
            )
            .await;
        assert_eq!(second.json["pageToken"], token.as_str());
        assert_eq!(second.json["results"], 1);
        assert!(second.json.get("nextPageToken").is_none(), "the last page");
        assert_eq!(id_of(&second.json["data"][0]), ids[0]);
        let everything = s.call("GET", "/v1/orders", None).await;
        assert_eq!(
            (
                everything.json["maxResults"].as_i64(),
                everything.json["results"].as_i64()
            ),
            (Some(20), Some(3))
        );
        for bad in [
            "/v1/orders?maxResults=0",
            "/v1/payments?maxResults=x",
            "/v1/refunds?pageToken=refund_test_nope",
            "/v1/checkout-sessions?expand=some",
        ] {
            assert_error(
                &s.call("GET", bad, None).await,
                StatusCode::BAD_REQUEST,
                "request.invalid",
            );
        }
        let payment = id_of(&s.capture(&ids[0], 1_000, "manual").await.json);
        let refund = id_of(&s.refund(&payment, 400).await.json);
        let refunds = s.call("GET", "/v1/refunds", None).await;
        assert_eq!(id_of(&refunds.json["data"][0]), refund);
        assert_eq!(
            keys(&refunds.json["data"][0]),
            keys(&fixture(REFUND_FIXTURE))
        );
        let payments = s.call("GET", "/v1/payments?maxResults=100", None).await;
        assert_eq!(id_of(&payments.json["data"][0]), payment);
        let empty = s.call("GET", "/v1/checkout-sessions", None).await;
        assert_eq!(
            (
                empty.json["results"].as_i64(),
                empty.json["pageToken"].as_str()
            ),
            (Some(0), Some(""))
        );
    }

    #[tokio::test]
    async fn a_checkout_session_is_retrieved_and_listed_as_created() {
        let s = sim();
        let created = s.checkout(350, "manual").await.json;
        let id = id_of(&created);
        let got = s
            .call("GET", &format!("/v1/checkout-sessions/{id}"), None)
            .await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.json, created);
        let listed = s
            .call("GET", "/v1/checkout-sessions?maxResults=1", None)
            .await;
        assert_eq!(listed.json["data"][0], created);
        let unknown = s
            .call("GET", "/v1/checkout-sessions/checkout_test_nope", None)
            .await;
        assert_error(
            &unknown,
            StatusCode::NOT_FOUND,
            "checkout-session.not-found",
        );
    }

    #[tokio::test]
    async fn checkout_and_token_orders_need_what_the_schemas_require() {
        let s = sim();
        let details = |answer: &Answer| -> BTreeSet<String> {
            answer.json["details"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|d| d.as_str()?.split(':').next().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut body = fixture(SESSION_REQUEST);
        body["shippingInfo"]["address"] = json!({"line2": "", "country": 81});
        body["customerInfo"]["address"] = json!({"line1": "3-6-7"});
        body["customerInfo"]["accountAge"] = json!(-1);
        let answer = s.call("POST", "/v1/checkout-sessions", Some(body)).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
        let expected: BTreeSet<String> = [
            "shippingInfo.address.line1",
            "shippingInfo.address.locality",
            "shippingInfo.address.postalCode",
            "shippingInfo.address.country",
            "customerInfo.address.locality",
            "customerInfo.address.postalCode",
            "customerInfo.address.country",
            "customerInfo.accountAge",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(details(&answer), expected);
        let mut order = json!({
            "token": TOKEN_APPROVED, "amount": 5000, "currency": "JPY",
            "items": [{"name": "Tea", "amount": 5000, "quantity": 1}],
            "shippingInfo": {"feeAmount": 100}
        });
        let answer = s.call("POST", "/v1/orders", Some(order.clone())).await;
        assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
        let expected: BTreeSet<String> = ["shippingInfo.address", "customerInfo"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(details(&answer), expected);
        order["customerInfo"] = json!({});
        order["shippingInfo"]["address"] = json!({"line1": "1-2-3", "locality": "渋谷区", "postalCode": "150-0002", "country": "JP"});
        let answer = s.call("POST", "/v1/orders", Some(order)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert!(s.sim.ledger().orders.len() == 1);
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_not_a_panic() {
        let s = sim();
        for raw in ["{not json", "[1,2]", "\"text\""] {
            let request = HttpRequest::builder()
                .method("POST")
                .uri("/v1/payments")
                .header(header::AUTHORIZATION, format!("Basic {KEY}"))
                .body(Body::from(raw))
                .expect("a valid request");
            let answer = s.send(request).await;
            assert_error(&answer, StatusCode::BAD_REQUEST, "request.invalid");
        }
    }

    #[tokio::test]
    async fn an_idempotent_retry_replays_the_first_answer_without_acting() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let body = json!({"order": order_id, "amount": 500, "currency": "JPY", "cancelRemainder": "manual"});
        let key = [("Idempotency-Key", "capture-1")];
        let first = s
            .call_with("POST", "/v1/payments", Some(body.clone()), &key)
            .await;
        s.clock.advance(Duration::hours(5));
        let second = s.call_with("POST", "/v1/payments", Some(body), &key).await;
        assert_eq!(second.status, first.status);
        assert_eq!(second.bytes, first.bytes);
        let ledger = &s.sim.ledger().orders[0];
        assert_eq!(ledger.captured, 500, "captured once");
        assert_eq!(ledger.payments.len(), 1);

        let cancel_key = [("Idempotency-Key", "cancel-1")];
        let path = format!("/v1/orders/{order_id}/cancellation");
        let c1 = s.call_with("PUT", &path, None, &cancel_key).await;
        let c2 = s.call_with("PUT", &path, None, &cancel_key).await;
        assert_eq!(c1.bytes, c2.bytes);
        assert_eq!(s.sim.requests_seen(), 5);
    }

    #[tokio::test]
    async fn a_key_reused_for_another_request_is_a_409() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        let key = [("Idempotency-Key", "k1")];
        s.call_with(
            "POST",
            "/v1/payments",
            Some(json!({"order": order_id, "amount": 500, "currency": "JPY", "cancelRemainder": "manual"})),
            &key,
        )
        .await;
        let other_body = s
            .call_with(
                "POST",
                "/v1/payments",
                Some(json!({"order": order_id, "amount": 600, "currency": "JPY", "cancelRemainder": "manual"})),
                &key,
            )
            .await;
        assert_error(
            &other_body,
            StatusCode::CONFLICT,
            "request.idempotency-key-conflict",
        );
        let other_path = s
            .call_with(
                "PUT",
                &format!("/v1/orders/{order_id}/cancellation"),
                None,
                &key,
            )
            .await;
        assert_eq!(other_path.status, StatusCode::CONFLICT);
        let ledger = &s.sim.ledger().orders[0];
        assert_eq!(ledger.captured, 500);
        assert_eq!(ledger.status, "requires_capture");
    }

    #[tokio::test]
    async fn keys_are_forgotten_after_six_hours() {
        let s = sim();
        let key = [("Idempotency-Key", "session-1")];
        let body = fixture(SESSION_REQUEST);
        let first = s
            .call_with("POST", "/v1/checkout-sessions", Some(body.clone()), &key)
            .await;
        s.clock
            .advance(Duration::hours(6) - Duration::milliseconds(1));
        let replay = s
            .call_with("POST", "/v1/checkout-sessions", Some(body.clone()), &key)
            .await;
        assert_eq!(replay.bytes, first.bytes);
        s.clock.advance(Duration::milliseconds(1));
        let again = s
            .call_with("POST", "/v1/checkout-sessions", Some(body), &key)
            .await;
        assert_eq!(again.status, StatusCode::OK);
        assert_ne!(id_of(&again.json), id_of(&first.json));
        assert_eq!(s.sim.ledger().orders.len(), 2);
    }

    #[tokio::test]
    async fn a_base64_key_is_refused_the_raw_key_is_required() {
        let s = sim();
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
        for authorization in [
            format!("Basic {encoded}"),
            format!("Bearer {KEY}"),
            "Basic sk_test_wrong".to_owned(),
        ] {
            let request = HttpRequest::builder()
                .method("POST")
                .uri("/v1/checkout-sessions")
                .header(header::AUTHORIZATION, authorization)
                .header("Idempotency-Key", "k1")
                .body(Body::from(SESSION_REQUEST))
                .expect("a valid request");
            let answer = s.send(request).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            assert_eq!(answer.json, fixture(UNAUTHORIZED_FIXTURE));
        }
        let missing = HttpRequest::builder()
            .uri("/v1/orders/order_test_x")
            .body(Body::empty())
            .expect("a valid request");
        assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.sim.requests_seen(), 0);
        assert!(s.sim.ledger().orders.is_empty());
        // The refused requests did not take the key.
        let ok = s
            .call_with(
                "POST",
                "/v1/checkout-sessions",
                Some(fixture(SESSION_REQUEST)),
                &[("Idempotency-Key", "k1")],
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_injected_fault_is_met_before_the_provider_acts() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.sim.faults().inject(Fault::new(
            "POST",
            "/v1/payments",
            FaultKind::Status {
                status: 503,
                body: json!({"statusCode": 503}),
            },
        ));
        let seen = s.sim.requests_seen();
        let faulted = s.capture(&order_id, 2100, "automatic").await;
        assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(s.sim.ledger().orders[0].captured, 0);
        assert_eq!(s.sim.requests_seen(), seen, "the provider was not called");
        let ok = s.capture(&order_id, 2100, "automatic").await;
        assert_eq!(ok.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_dropped_answer_is_recovered_by_retrying_with_the_same_key() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.sim.faults().inject(Fault::new(
            "POST",
            "/v1/payments",
            FaultKind::DropAfterActing,
        ));
        let request = || {
            HttpRequest::builder()
                .method("POST")
                .uri("/v1/payments")
                .header(header::AUTHORIZATION, format!("Basic {KEY}"))
                .header("Idempotency-Key", "retry-me")
                .body(Body::from(
                    json!({"order": order_id, "amount": 2100, "currency": "JPY"}).to_string(),
                ))
                .expect("a valid request")
        };
        let response = s.app.clone().oneshot(request()).await.expect("infallible");
        assert!(
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .is_err()
        );
        assert_eq!(
            s.sim.ledger().orders[0].captured,
            2100,
            "the provider acted"
        );
        let retry = s.send(request()).await;
        assert_eq!(retry.status, StatusCode::OK);
        assert_eq!(
            retry.json["id"],
            s.sim.ledger().orders[0].payments[0].id.as_str()
        );
        assert_eq!(s.sim.ledger().orders[0].payments.len(), 1);
    }

    #[tokio::test]
    async fn nested_under_a_prefix_the_api_the_page_and_the_fault_controls_work() {
        let s = sim();
        let app = Router::new().nest("/smartpay", s.sim.router());
        let send = |request: HttpRequest<Body>| {
            let app = app.clone();
            async move { app.oneshot(request).await.expect("infallible") }
        };
        let fault = HttpRequest::builder()
            .method("POST")
            .uri("/smartpay/_sandbox/faults")
            .header(header::CONTENT_TYPE, JSON)
            .body(Body::from(
                json!({"method": "GET", "path_contains": "/orders/", "kind": "status", "status": 500})
                    .to_string(),
            ))
            .expect("a valid request");
        assert_eq!(send(fault).await.status(), StatusCode::NO_CONTENT);
        let get = || {
            HttpRequest::builder()
                .uri("/smartpay/v1/orders/order_test_missing")
                .header(header::AUTHORIZATION, format!("Basic {KEY}"))
                .body(Body::empty())
                .expect("a valid request")
        };
        assert_eq!(
            send(get()).await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(send(get()).await.status(), StatusCode::NOT_FOUND);

        let session = s.checkout(2100, "manual").await;
        let url = session.json["url"].as_str().unwrap_or_default();
        let path = url.strip_prefix("http://sim.test").unwrap_or_default();
        let page = HttpRequest::builder()
            .method("POST")
            .uri(format!("{path}/approve"))
            .body(Body::empty())
            .expect("a valid request");
        assert_eq!(send(page).await.status(), StatusCode::OK);
        assert_eq!(s.sim.ledger().orders[0].status, "requires_capture");
    }

    #[tokio::test]
    async fn the_ledger_is_served_without_auth() {
        let s = sim();
        let order_id = s.authorized(2100).await;
        s.capture(&order_id, 1000, "manual").await;
        let answer = s.browse("GET", "/_sandbox/ledger").await;
        assert_eq!(answer.status, StatusCode::OK);
        let ledger: SmartpayLedger = serde_json::from_value(answer.json).expect("a ledger");
        assert_eq!(ledger, s.sim.ledger());
        assert_eq!(
            ledger.orders[0],
            LedgerOrder {
                id: order_id,
                status: "requires_capture".to_owned(),
                amount: 2100,
                authorized: 2100,
                captured: 1000,
                refunded: 0,
                canceled: false,
                payments: ledger.orders[0].payments.clone(),
                reference: Some("order_ref_1234567".to_owned()),
            }
        );
        assert_eq!(ledger.orders[0].payments[0].amount, 1000);
        assert_eq!(s.sim.requests_seen(), 2, "control routes are not counted");
    }
}
