//! A faithful HTTP simulator of the PAY.JP v2 Payment Flow API.
//!
//! Written from `providers.md`, seed 003 (authorization and capture) and the
//! `fixtures/payjp` bodies, never from the adapter's types. It serves:
//!
//! - `POST /v2/payment_flows`, `GET /v2/payment_flows/{id}`,
//!   `POST /v2/payment_flows/{id}/{confirm,capture,cancel}`,
//!   `GET /v2/payment_flows/{id}/refunds`, the lists `GET /v2/payment_flows`
//!   and `GET /v2/payment_refunds` (`limit`, `starting_after`, `ending_before`),
//!   `POST /v2/payment_refunds`, `GET /v2/payment_refunds/{id}`
//!   (Bearer or Basic auth, `Idempotency-Key`, RFC 9457 problem+json errors);
//! - `GET /_sandbox/ledger`, the 3-D Secure page `GET /_sandbox/3ds/{id}` with
//!   `POST …/complete` and `POST …/fail`, and the fault controls.
//!
//! Sandbox test values (kept stable, client teams write tests against them):
//! the customer `cus_test_kessai` owns every test payment method (PAY.JP
//! takes a `payment_method_id` only with the `customer_id` that owns it);
//! `pm_test_approve` (and any other `pm_…`) authorizes as a card,
//! `pm_test_decline` is declined (`card_declined`), `pm_test_3ds` needs the
//! shopper (`requires_action`), `pm_test_paypay` authorizes as PayPay for 30
//! days, and `pm_test_unattached` belongs to no customer.
//!
//! Errors are the SDK's `ErrorResponse` exactly (`type`, `title`, `status`,
//! `detail`, `instance`, `errors`; no `code`), every `type` being
//! `https://docs.pay.jp/v2/errors/<slug>` (GUESS: the pattern of the two such
//! URIs the docs show, `invalid-status` and `validation-error`).
//!
//! Once told where ([`PayjpSimulator::deliver_webhooks_to`]), it notifies:
//! events `{object: "event", id: "evnt_…", livemode, type, data, …}` (the
//! fixture's shape) with the endpoint's token in `X-Payjp-Webhook-Token`, for
//! `payment_flow.requires_action`, `payment_flow.amount_capturable_updated`
//! (GUESS: the name integrations of v2 handle for an authorization awaiting
//! capture; providers.md lists no such event), `payment_flow.succeeded`,
//! `payment_flow.payment_failed`, `payment_flow.canceled` (GUESS) and
//! `refund.created`.
//!
//! Every "now" comes from the injected clock so tests can cross an
//! authorization deadline. Behaviour the sources leave open is marked
//! `GUESS:` where it is implemented.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

mod list;

use crate::faults::{self, Faults};
use crate::notifications::{Notifier, Signer};
use kessai_clock::SharedClock;

/// The refunds collection. The SDKs use `/v2/payment_refunds`, the docs
/// guide shows `/v2/refunds`; keeping it in one place makes a switch trivial.
const REFUNDS_PATH: &str = "/v2/payment_refunds";

const MIN_AMOUNT: i64 = 50;
const MAX_AMOUNT: i64 = 9_999_999;
const CARD_AUTHORIZATION: Duration = Duration::days(7);
const EXTENDED_AUTHORIZATION: Duration = Duration::days(30);
const PAYPAY_AUTHORIZATION: Duration = Duration::days(30);
const IDEMPOTENCY_RETENTION: Duration = Duration::hours(24);
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
const MAX_METADATA_KEYS: usize = 20;
const MAX_BODY_BYTES: usize = 1 << 20;

const PM_DECLINE: &str = "pm_test_decline";
const PM_THREE_D_SECURE: &str = "pm_test_3ds";
const PM_PAYPAY: &str = "pm_test_paypay";
const PM_UNATTACHED: &str = "pm_test_unattached";
/// The sandbox customer, owner of every test payment method.
pub const SANDBOX_CUSTOMER_ID: &str = "cus_test_kessai";
/// The list endpoints' `limit`: 1 to 100 (the SDK), GUESS: 10 by default.
const LIST_LIMIT_DEFAULT: usize = 10;
const LIST_LIMIT_MAX: i64 = 100;

const CAPTURE_METHODS: &[&str] = &["automatic", "manual"];
const CURRENCIES: &[&str] = &["jpy"];
/// The SDK's `PaymentMethodTypes`.
const PAYMENT_METHOD_TYPES: &[&str] = &["card", "paypay", "apple_pay"];
// `must_extend` is in providers.md, the Python SDK only knows the other two.
const EXTENDED_AUTHORIZATION_CHOICES: &[&str] = &["if_available", "must_extend", "never"];
const THREE_D_SECURE_CHOICES: &[&str] = &["any", "automatic"];
/// The SDK's `PaymentFlowCancellationReason`.
const CANCELLATION_REASONS: &[&str] = &[
    "abandoned",
    "automatic",
    "duplicate",
    "expired",
    "failed_invoice",
    "fraudulent",
    "requested_by_customer",
    "void_invoice",
];
const REFUND_REASONS: &[&str] = &["duplicate", "fraudulent", "requested_by_customer"];

/// Every problem's `type` is this followed by its slug (`invalid-status`).
const TYPE_PREFIX: &str = "https://docs.pay.jp/v2/errors/";

const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";

// ---------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------

/// The simulated PAY.JP account. Clones share the same books.
#[derive(Clone)]
pub struct PayjpSimulator {
    books: Arc<Mutex<Books>>,
    faults: Faults,
    clock: SharedClock,
    public_base_url: Arc<str>,
    secret_key: Arc<str>,
    notifier: Notifier,
}

/// What the simulated provider holds, for tests that compare the books.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PayjpLedger {
    /// Sorted by creation.
    pub flows: Vec<LedgerFlow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerFlow {
    pub id: String,
    pub status: String,
    pub amount: i64,
    /// Amount reserved at authorization, 0 if never authorized.
    pub authorized: i64,
    /// `amount_received`.
    pub captured: i64,
    pub refunded: i64,
    pub canceled: bool,
    pub metadata: Map<String, Value>,
}

impl PayjpSimulator {
    /// `public_base_url` is where this router is reachable from outside
    /// (e.g. `http://127.0.0.1:1234/payjp`, no trailing slash); the 3-D Secure
    /// URLs handed to shoppers are built from it.
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

    /// Notifies `url` of every change from now on, with the endpoint's
    /// `token` in `X-Payjp-Webhook-Token`.
    pub fn deliver_webhooks_to(&self, url: String, token: SecretString) {
        let sign: Signer = Arc::new(move |_body: &[u8]| {
            vec![("X-Payjp-Webhook-Token", token.expose_secret().to_owned())]
        });
        self.notifier.set_target(url, sign);
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.notifier
    }

    /// The API under `/v2` (behind the fault layer) and the sandbox controls
    /// under `/_sandbox` (neither authenticated nor faulted, so a test can
    /// always inspect and repair the simulator).
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/v2/payment_flows", post(create_flow).get(list_flows))
            .route("/v2/payment_flows/{id}", get(get_flow))
            .route("/v2/payment_flows/{id}/confirm", post(confirm_flow))
            .route("/v2/payment_flows/{id}/capture", post(capture_flow))
            .route("/v2/payment_flows/{id}/cancel", post(cancel_flow))
            .route("/v2/payment_flows/{id}/refunds", get(list_flow_refunds))
            .route(REFUNDS_PATH, post(create_refund).get(list_refunds))
            .route(&format!("{REFUNDS_PATH}/{{id}}"), get(get_refund))
            .route("/v2/{*rest}", any(unknown_route))
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ));
        let control = Router::new()
            .route("/_sandbox/ledger", get(ledger_route))
            .route("/_sandbox/3ds/{id}", get(three_d_secure_page))
            .route("/_sandbox/3ds/{id}/complete", post(three_d_secure_complete))
            .route("/_sandbox/3ds/{id}/fail", post(three_d_secure_fail))
            .with_state(self.clone());
        api.merge(control)
            .merge(faults::control_routes(self.faults.clone()))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn ledger(&self) -> PayjpLedger {
        self.lock().ledger()
    }

    /// Plays the shopper on the 3-D Secure page: `succeed` authorizes the
    /// flow, otherwise it goes back to `requires_payment_method`. False when
    /// the flow does not exist or is not waiting for the shopper.
    pub fn complete_three_d_secure(&self, flow_id: &str, succeed: bool) -> bool {
        let done = self.finish_three_d_secure(flow_id, succeed).is_ok();
        self.flush_notifications();
        done
    }

    /// How many authenticated `/v2` requests reached the simulator.
    pub fn requests_seen(&self) -> usize {
        self.lock().requests_seen
    }
}

// ---------------------------------------------------------------------------
// The books
// ---------------------------------------------------------------------------

/// Everything behind one mutex, so an idempotency lookup and the action it
/// guards are atomic: no request can slip in between, and there is never an
/// "in flight" key to report.
#[derive(Default)]
struct Books {
    flows: Vec<Flow>,
    refunds: Vec<Refund>,
    idempotency: HashMap<String, StoredReply>,
    requests_seen: usize,
    /// Events to notify (type, object), sent once the books are unlocked.
    outbox: Vec<(&'static str, Value)>,
}

struct StoredReply {
    fingerprint: [u8; 32],
    at: DateTime<Utc>,
    reply: Reply,
}

/// Per-request context the handlers need besides the books.
struct Env<'a> {
    now: DateTime<Utc>,
    public_base_url: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone)]
struct Flow {
    id: String,
    client_secret: String,
    amount: i64,
    currency: String,
    amount_capturable: i64,
    amount_received: i64,
    customer_id: Option<String>,
    description: Option<String>,
    payment_method_id: Option<String>,
    payment_method_options: Option<Value>,
    payment_method_types: Vec<String>,
    status: Status,
    next_action: Option<Value>,
    return_url: Option<String>,
    include_client_secret: bool,
    capture_method: String,
    last_payment_error: Option<Value>,
    cancellation_reason: Option<String>,
    canceled_at: Option<DateTime<Utc>>,
    expired_at: Option<DateTime<Utc>>,
    metadata: Map<String, Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    // Bookkeeping the wire object does not show.
    authorized: i64,
    partially_captured: bool,
    refunded: i64,
}

#[derive(Debug, Clone)]
struct Refund {
    id: String,
    payment_flow_id: String,
    amount: i64,
    reason: Option<String>,
    metadata: Map<String, Value>,
    created_at: DateTime<Utc>,
}

impl Flow {
    /// The event this flow's new state is notified as, with the flow;
    /// `failed`: the payment attempt was refused.
    fn event(&self, failed: bool) -> Option<(&'static str, Value)> {
        let event_type = match (failed, self.status) {
            (true, _) => "payment_flow.payment_failed",
            (false, Status::RequiresAction) => "payment_flow.requires_action",
            (false, Status::RequiresCapture) => "payment_flow.amount_capturable_updated",
            (false, Status::Succeeded) => "payment_flow.succeeded",
            (false, Status::Canceled) => "payment_flow.canceled",
            // GUESS: a flow still waiting for a method is not notified.
            (false, Status::RequiresPaymentMethod | Status::RequiresConfirmation) => return None,
        };
        // Our own wire structs have string keys only, so this cannot fail.
        Some((
            event_type,
            serde_json::to_value(self.wire()).unwrap_or_default(),
        ))
    }
}

impl Books {
    fn flow(&self, id: &str) -> Result<&Flow, ApiError> {
        self.flows
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| ApiError::not_found("payment_flow", id))
    }

    fn flow_mut(&mut self, id: &str) -> Result<&mut Flow, ApiError> {
        self.flows
            .iter_mut()
            .find(|f| f.id == id)
            .ok_or_else(|| ApiError::not_found("payment_flow", id))
    }

    fn ledger(&self) -> PayjpLedger {
        PayjpLedger {
            flows: self.flows.iter().map(Flow::ledger).collect(),
        }
    }

    fn forget_old_keys(&mut self, now: DateTime<Utc>) {
        self.idempotency
            .retain(|_, stored| now - stored.at < IDEMPOTENCY_RETENTION);
    }
}

impl Flow {
    fn new(request: CreateRequest, now: DateTime<Utc>) -> Self {
        let id = format!("pfw_{}", random_hex(12));
        let client_secret = format!("{id}_secret_{}", random_hex(16));
        let status = if request.payment_method_id.is_some() {
            Status::RequiresConfirmation
        } else {
            Status::RequiresPaymentMethod
        };
        Self {
            id,
            client_secret,
            amount: request.amount,
            currency: request.currency,
            amount_capturable: 0,
            amount_received: 0,
            customer_id: request.customer_id,
            description: request.description,
            payment_method_id: request.payment_method_id,
            payment_method_options: request.payment_method_options,
            // GUESS: the fixtures show ["card"] on a flow created without types.
            payment_method_types: request
                .payment_method_types
                .unwrap_or_else(|| vec!["card".to_owned()]),
            status,
            next_action: None,
            return_url: request.return_url,
            include_client_secret: request.include_client_secret,
            capture_method: request.capture_method,
            last_payment_error: None,
            cancellation_reason: None,
            canceled_at: None,
            expired_at: None,
            metadata: request.metadata.unwrap_or_default(),
            created_at: now,
            updated_at: now,
            authorized: 0,
            partially_captured: false,
            refunded: 0,
        }
    }

    fn require_status(&self, allowed: &[Status]) -> Result<(), ApiError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(ApiError::invalid_status(allowed, self.status))
        }
    }

    fn is_manual_capture(&self) -> bool {
        self.capture_method == "manual"
    }

    /// The authorization succeeded: reserve the amount (manual capture) or
    /// take it at once (automatic capture).
    fn authorize(&mut self, window: Duration, now: DateTime<Utc>) {
        self.authorized = self.amount;
        self.next_action = None;
        self.last_payment_error = None;
        self.updated_at = now;
        if self.is_manual_capture() {
            self.status = Status::RequiresCapture;
            self.amount_capturable = self.amount;
            self.expired_at = Some(now + window);
        } else {
            self.status = Status::Succeeded;
            self.amount_received = self.amount;
            self.amount_capturable = 0;
            // GUESS: nothing is left to capture, so no deadline is shown.
            self.expired_at = None;
        }
    }

    /// The attempt failed; the shopper may try another payment method.
    fn fail_attempt(&mut self, code: &str, message: &str, now: DateTime<Utc>) {
        self.last_payment_error = Some(json!({ "code": code, "message": message }));
        // GUESS (Stripe-like): a failed method is detached, so a bare re-confirm
        // cannot silently retry the same declined card.
        self.payment_method_id = None;
        self.next_action = None;
        self.status = Status::RequiresPaymentMethod;
        self.updated_at = now;
    }

    /// The card's authorization window: 7 days unless an extension was asked.
    fn card_window(&self) -> Duration {
        let extension = self
            .payment_method_options
            .as_ref()
            .and_then(|o| o.pointer("/card/request_extended_authorization"))
            .and_then(Value::as_str);
        match extension {
            Some("if_available" | "must_extend") => EXTENDED_AUTHORIZATION,
            _ => CARD_AUTHORIZATION,
        }
    }

    fn three_d_secure_action(&self, public_base_url: &str) -> Value {
        json!({
            "type": "redirect_to_url",
            "redirect_to_url": {
                "url": format!("{public_base_url}/_sandbox/3ds/{}", self.id),
                "return_url": self.return_url,
            }
        })
    }

    /// Runs the payment attempt with the attached method, by test value.
    fn attempt_payment(&mut self, env: &Env<'_>) -> Result<(), ApiError> {
        let method = self.payment_method_id.clone().unwrap_or_default();
        match method.as_str() {
            PM_DECLINE => {
                self.fail_attempt("card_declined", "Your card was declined.", env.now);
                Err(ApiError::payment_failed())
            }
            PM_THREE_D_SECURE => {
                self.status = Status::RequiresAction;
                self.next_action = Some(self.three_d_secure_action(env.public_base_url));
                self.last_payment_error = None;
                self.updated_at = env.now;
                Ok(())
            }
            PM_PAYPAY => {
                self.payment_method_types = vec!["paypay".to_owned()];
                self.authorize(PAYPAY_AUTHORIZATION, env.now);
                Ok(())
            }
            _ => {
                let window = self.card_window();
                self.authorize(window, env.now);
                Ok(())
            }
        }
    }

    fn wire(&self) -> FlowWire<'_> {
        FlowWire {
            object: "payment_flow",
            id: &self.id,
            livemode: false,
            amount: self.amount,
            currency: &self.currency,
            amount_capturable: self.amount_capturable,
            amount_received: self.amount_received,
            client_secret: &self.client_secret,
            customer_id: self.customer_id.as_deref(),
            description: self.description.as_deref(),
            payment_method_id: self.payment_method_id.as_deref(),
            payment_method_options: self.payment_method_options.as_ref(),
            payment_method_types: &self.payment_method_types,
            status: self.status.as_str(),
            next_action: self.next_action.as_ref(),
            return_url: self.return_url.as_deref(),
            redirect_options: RedirectOptionsWire {
                include_client_secret: self.include_client_secret,
            },
            capture_method: &self.capture_method,
            last_payment_error: self.last_payment_error.as_ref(),
            cancellation_reason: self.cancellation_reason.as_deref(),
            canceled_at: self.canceled_at.map(timestamp),
            expired_at: self.expired_at.map(timestamp),
            metadata: &self.metadata,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.updated_at),
        }
    }

    fn ledger(&self) -> LedgerFlow {
        LedgerFlow {
            id: self.id.clone(),
            status: self.status.as_str().to_owned(),
            amount: self.amount,
            authorized: self.authorized,
            captured: self.amount_received,
            refunded: self.refunded,
            canceled: self.status == Status::Canceled,
            metadata: self.metadata.clone(),
        }
    }
}

impl Refund {
    fn wire(&self) -> RefundWire<'_> {
        RefundWire {
            object: "payment_refund",
            id: &self.id,
            livemode: false,
            payment_flow_id: &self.payment_flow_id,
            amount: self.amount,
            // Refunds settle at once in the sandbox.
            status: "succeeded",
            reason: self.reason.as_deref(),
            metadata: &self.metadata,
            created_at: timestamp(self.created_at),
            updated_at: timestamp(self.created_at),
        }
    }
}

// ---------------------------------------------------------------------------
// Wire shapes (field order as in the fixtures)
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct FlowWire<'a> {
    object: &'static str,
    id: &'a str,
    livemode: bool,
    amount: i64,
    currency: &'a str,
    amount_capturable: i64,
    amount_received: i64,
    client_secret: &'a str,
    customer_id: Option<&'a str>,
    description: Option<&'a str>,
    payment_method_id: Option<&'a str>,
    payment_method_options: Option<&'a Value>,
    payment_method_types: &'a [String],
    status: &'static str,
    next_action: Option<&'a Value>,
    return_url: Option<&'a str>,
    redirect_options: RedirectOptionsWire,
    capture_method: &'a str,
    last_payment_error: Option<&'a Value>,
    cancellation_reason: Option<&'a str>,
    canceled_at: Option<String>,
    expired_at: Option<String>,
    metadata: &'a Map<String, Value>,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct RefundWire<'a> {
    object: &'static str,
    id: &'a str,
    livemode: bool,
    payment_flow_id: &'a str,
    amount: i64,
    status: &'static str,
    reason: Option<&'a str>,
    metadata: &'a Map<String, Value>,
    created_at: String,
    updated_at: String,
}

/// The SDK's `RedirectOptionsResponse` (required on every flow).
#[derive(Serialize)]
struct RedirectOptionsWire {
    include_client_secret: bool,
}

/// A webhook event, as event.payment_flow.succeeded.json shows one.
#[derive(Serialize)]
struct EventWire<'a> {
    object: &'static str,
    id: &'a str,
    livemode: bool,
    #[serde(rename = "type")]
    event_type: &'static str,
    pending_webhooks: u32,
    data: &'a Value,
    created_at: &'a str,
    updated_at: &'a str,
}

/// The SDK's `ErrorResponse`: RFC 9457 problem details, no `code`.
#[derive(Serialize)]
struct ProblemWire<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    instance: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

#[derive(Debug, Clone, Serialize)]
struct FieldError {
    field: String,
    message: String,
}

/// A finished HTTP answer, kept as bytes so an idempotent replay is
/// byte-identical.
#[derive(Debug, Clone)]
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
}

impl Reply {
    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        Self {
            status,
            content_type: JSON,
            // Our own wire structs have string keys only, so this cannot fail.
            body: serde_json::to_vec(value).unwrap_or_default().into(),
        }
    }

    fn ok<T: Serialize>(value: &T) -> Self {
        Self::json(StatusCode::OK, value)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// An RFC 9457 problem; `instance` is filled with the request path on reply.
/// `code` names the problem (snake case) and makes its `type` URI.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// `https://docs.pay.jp/v2/errors/<code with dashes>`.
    fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.code.replace('_', "-"))
    }

    fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "Validation Error",
                "The request parameters didn't pass validation.",
            )
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    fn invalid_status(allowed: &[Status], current: Status) -> Self {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        Self::invalid_status_detail(format!(
            "This operation can only be executed when the payment_flow status is {}. The current status is {}.",
            join_alternatives(&names),
            current.as_str()
        ))
    }

    fn invalid_status_detail(detail: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_status",
            "Invalid Status",
            detail,
        )
    }

    fn not_found(resource: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found",
            format!("{resource}: {id} not found."),
        )
    }

    fn unknown_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found",
            "The requested resource was not found.",
        )
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "Invalid API key provided.",
        )
    }

    fn payment_failed() -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            "Payment Failed",
            "The payment could not be completed.",
        )
    }

    fn expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "payment_flow_expired",
            "Payment Flow Expired",
            "This payment flow has expired and can no longer be captured.",
        )
    }

    fn invalid_amount_to_capture(remaining: i64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_amount_to_capture",
            "Invalid Amount To Capture",
            format!(
                "This payment flow was already partially captured; only the whole remaining amount_capturable ({remaining}) can be captured."
            ),
        )
    }

    fn refund_exceeds_payment() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "refund_exceeds_payment",
            "Refund Exceeds Payment",
            "The refund amount exceeds the payment amount.",
        )
    }

    /// 400: the SDK lists no 409 for any endpoint (`_response_types_map`:
    /// 200, 400, 402, 404, 422, 429), so the conflict is a bad request.
    fn idempotency_conflict() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "idempotency_conflict",
            "Idempotency Conflict",
            "A request with the same Idempotency-Key but different parameters was already sent.",
        )
    }

    /// GUESS: a payment method given with a customer that does not own it
    /// (the SDK: "Customer が所持する PaymentMethod のみ指定できます").
    fn payment_method_not_owned(method: &str, customer: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_payment_method",
            "Invalid Payment Method",
            format!("payment_method: {method} does not belong to customer: {customer}."),
        )
    }

    fn into_reply(self, instance: &str) -> Reply {
        let problem = ProblemWire {
            kind: self.type_uri(),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            instance,
            errors: (!self.errors.is_empty()).then_some(self.errors.as_slice()),
        };
        Reply {
            content_type: PROBLEM_JSON,
            ..Reply::json(self.status, &problem)
        }
    }
}

/// "a", "a or b", "a, b or c".
fn join_alternatives(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

// ---------------------------------------------------------------------------
// Request validation (pydantic-style messages, as PAY.JP's 422 shows)
// ---------------------------------------------------------------------------

/// Reads fields of a JSON object body, collecting every problem so one 422
/// lists them all. `null` counts as absent, as for optional pydantic fields.
struct Input<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Input<'a> {
    fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: Vec::new(),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    fn invalid(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    fn require(&mut self, field: &str) -> bool {
        let present = self.get(field).is_some();
        if !present {
            self.invalid(field, "Field required");
        }
        present
    }

    fn string(&mut self, field: &str) -> Option<String> {
        let value = self.get(field)?;
        self.string_value(field, value)
    }

    fn string_value(&mut self, field: &str, value: &Value) -> Option<String> {
        match value.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.invalid(field, "Input should be a valid string");
                None
            }
        }
    }

    /// Strict integers only (PAY.JP's schema says `strict=True`): 100.0 and
    /// "100" are refused.
    fn integer(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.get(field)?;
        let Some(n) = value.as_i64() else {
            self.invalid(field, "Input should be a valid integer");
            return None;
        };
        if n < min {
            self.invalid(
                field,
                format!("Input should be greater than or equal to {min}"),
            );
            None
        } else if n > max {
            self.invalid(
                field,
                format!("Input should be less than or equal to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        let value = self.get(field)?;
        let parsed = value.as_bool();
        if parsed.is_none() {
            self.invalid(field, "Input should be a valid boolean");
        }
        parsed
    }

    fn choice(&mut self, field: &str, allowed: &[&str]) -> Option<String> {
        let value = self.get(field)?;
        self.choice_value(field, value, allowed)
    }

    fn choice_value(&mut self, field: &str, value: &Value, allowed: &[&str]) -> Option<String> {
        let text = self.string_value(field, value)?;
        if allowed.contains(&text.as_str()) {
            return Some(text);
        }
        let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
        let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
        self.invalid(
            field,
            format!("Input should be {}", join_alternatives(&quoted)),
        );
        None
    }

    fn choices(&mut self, field: &str, allowed: &[&str]) -> Option<Vec<String>> {
        let value = self.get(field)?;
        let Some(items) = value.as_array() else {
            self.invalid(field, "Input should be a valid list");
            return None;
        };
        let chosen: Vec<String> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.choice_value(&format!("{field}.{i}"), item, allowed))
            .collect();
        (chosen.len() == items.len()).then_some(chosen)
    }

    fn object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        let value = self.get(field)?;
        let object = value.as_object();
        if object.is_none() {
            self.invalid(field, "Input should be a valid dictionary");
        }
        object
    }

    /// Metadata values are strings, numbers or booleans, at most 20 keys.
    fn metadata(&mut self, field: &str) -> Option<Map<String, Value>> {
        let map = self.object(field)?;
        if map.len() > MAX_METADATA_KEYS {
            self.invalid(
                field,
                format!("Dictionary should have at most {MAX_METADATA_KEYS} items"),
            );
            return None;
        }
        let before = self.errors.len();
        for (key, value) in map {
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                self.invalid(
                    &format!("{field}.{key}"),
                    "Input should be a valid string, integer or boolean",
                );
            }
        }
        (self.errors.len() == before).then(|| map.clone())
    }

    /// `payment_method_options` is kept as given (it is echoed back), after
    /// checking the card options the simulator acts on.
    fn payment_method_options(&mut self, field: &str) -> Option<Value> {
        let options = self.object(field)?;
        let Some(card) = options.get("card").filter(|v| !v.is_null()) else {
            return Some(Value::Object(options.clone()));
        };
        let Some(card) = card.as_object() else {
            self.invalid(
                &format!("{field}.card"),
                "Input should be a valid dictionary",
            );
            return None;
        };
        let before = self.errors.len();
        let checks = [
            (
                "request_extended_authorization",
                EXTENDED_AUTHORIZATION_CHOICES,
            ),
            ("request_three_d_secure", THREE_D_SECURE_CHOICES),
        ];
        for (name, allowed) in checks {
            if let Some(value) = card.get(name).filter(|v| !v.is_null()) {
                self.choice_value(&format!("{field}.card.{name}"), value, allowed);
            }
        }
        (self.errors.len() == before).then(|| Value::Object(options.clone()))
    }

    /// `redirect_options.include_client_secret`, `true` unless given.
    fn redirect_options(&mut self, field: &str) -> bool {
        let Some(options) = self.object(field) else {
            return true;
        };
        match options
            .get("include_client_secret")
            .filter(|v| !v.is_null())
        {
            None => true,
            Some(Value::Bool(include)) => *include,
            Some(_) => {
                self.invalid(
                    &format!("{field}.include_client_secret"),
                    "Input should be a valid boolean",
                );
                true
            }
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// The JSON object body; an empty body is `{}` because capture, cancel and
/// confirm may be sent without one.
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::field(
            "body",
            "Input should be a valid dictionary",
        )),
        Err(_) => Err(ApiError::field("body", "JSON decode error")),
    }
}

/// Only `pm_…` ids name a payment method in this account.
/// The message of the 422 when a payment method comes without its customer.
const CUSTOMER_REQUIRED: &str = "Field required when payment_method_id is given";

/// Only `pm_…` ids name a payment method in this account, and a payment
/// method is usable only with the customer that owns it: the sandbox
/// customer owns every `pm_…` but `pm_test_unattached`.
fn check_payment_method(id: &str, customer: Option<&str>) -> Result<(), ApiError> {
    if !id.starts_with("pm_") {
        // GUESS: an unknown payment method is a 404 like an unknown flow.
        return Err(ApiError::not_found("payment_method", id));
    }
    let Some(customer) = customer else {
        return Err(ApiError::field("customer_id", CUSTOMER_REQUIRED));
    };
    if customer != SANDBOX_CUSTOMER_ID || id == PM_UNATTACHED {
        return Err(ApiError::payment_method_not_owned(id, customer));
    }
    Ok(())
}

struct CreateRequest {
    amount: i64,
    currency: String,
    capture_method: String,
    customer_id: Option<String>,
    payment_method_id: Option<String>,
    payment_method_types: Option<Vec<String>>,
    payment_method_options: Option<Value>,
    confirm: bool,
    return_url: Option<String>,
    include_client_secret: bool,
    description: Option<String>,
    metadata: Option<Map<String, Value>>,
}

impl CreateRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let amount = if input.require("amount") {
            input.integer("amount", MIN_AMOUNT, MAX_AMOUNT)
        } else {
            None
        };
        let currency = input.choice("currency", CURRENCIES);
        // The seed: automatic is the default capture method.
        let capture_method = input.choice("capture_method", CAPTURE_METHODS);
        let customer_id = input.string("customer_id");
        let payment_method_id = input.string("payment_method_id");
        let payment_method_types = input.choices("payment_method_types", PAYMENT_METHOD_TYPES);
        let payment_method_options = input.payment_method_options("payment_method_options");
        let confirm = input.boolean("confirm").unwrap_or(false);
        let return_url = input.string("return_url");
        let include_client_secret = input.redirect_options("redirect_options");
        let description = input.string("description");
        let metadata = input.metadata("metadata");
        if confirm && input.get("payment_method_id").is_none() {
            input.invalid("payment_method_id", "Field required when confirm is true");
        }
        if input.get("payment_method_id").is_some() && input.get("customer_id").is_none() {
            input.invalid("customer_id", CUSTOMER_REQUIRED);
        }
        input.finish()?;
        let amount = amount.ok_or_else(|| ApiError::field("amount", "Field required"))?;
        Ok(Self {
            amount,
            currency: currency.unwrap_or_else(|| "jpy".to_owned()),
            capture_method: capture_method.unwrap_or_else(|| "automatic".to_owned()),
            customer_id,
            payment_method_id,
            payment_method_types,
            payment_method_options,
            confirm,
            return_url,
            include_client_secret,
            description,
            metadata,
        })
    }
}

/// The confirm body: the Python SDK's `PaymentFlowConfirmRequest` fields.
struct ConfirmRequest {
    payment_method_id: Option<String>,
    payment_method_options: Option<Value>,
    payment_method_types: Option<Vec<String>>,
    capture_method: Option<String>,
    return_url: Option<String>,
    description: Option<String>,
}

impl ConfirmRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let request = Self {
            payment_method_id: input.string("payment_method_id"),
            payment_method_options: input.payment_method_options("payment_method_options"),
            payment_method_types: input.choices("payment_method_types", PAYMENT_METHOD_TYPES),
            capture_method: input.choice("capture_method", CAPTURE_METHODS),
            return_url: input.string("return_url"),
            description: input.string("description"),
        };
        input.finish()?;
        Ok(request)
    }

    fn apply_to(self, flow: &mut Flow) {
        if let Some(id) = self.payment_method_id {
            flow.payment_method_id = Some(id);
        }
        if let Some(options) = self.payment_method_options {
            flow.payment_method_options = Some(options);
        }
        if let Some(types) = self.payment_method_types {
            flow.payment_method_types = types;
        }
        if let Some(method) = self.capture_method {
            flow.capture_method = method;
        }
        if let Some(url) = self.return_url {
            flow.return_url = Some(url);
        }
        if let Some(description) = self.description {
            flow.description = Some(description);
        }
    }
}

struct RefundRequest {
    payment_flow_id: String,
    amount: Option<i64>,
    reason: Option<String>,
    metadata: Option<Map<String, Value>>,
}

impl RefundRequest {
    fn parse(body: &Map<String, Value>) -> Result<Self, ApiError> {
        let mut input = Input::new(body);
        let payment_flow_id = if input.require("payment_flow_id") {
            input.string("payment_flow_id")
        } else {
            None
        };
        let amount = input.integer("amount", 1, MAX_AMOUNT);
        let reason = input.choice("reason", REFUND_REASONS);
        let metadata = input.metadata("metadata");
        input.finish()?;
        let payment_flow_id =
            payment_flow_id.ok_or_else(|| ApiError::field("payment_flow_id", "Field required"))?;
        Ok(Self {
            payment_flow_id,
            amount,
            reason,
            metadata,
        })
    }
}

// ---------------------------------------------------------------------------
// The API operations
// ---------------------------------------------------------------------------

/// One `/v2` operation, named by the route that received it.
enum Call {
    CreateFlow,
    GetFlow(String),
    ConfirmFlow(String),
    CaptureFlow(String),
    CancelFlow(String),
    ListFlows(Option<String>),
    ListFlowRefunds(String, Option<String>),
    ListRefunds(Option<String>),
    CreateRefund,
    GetRefund(String),
    Unknown,
}

impl Books {
    fn perform(&mut self, call: &Call, body: &[u8], env: &Env<'_>) -> Result<Reply, ApiError> {
        match call {
            Call::CreateFlow => self.create_flow(&parse_body(body)?, env),
            Call::GetFlow(id) => Ok(Reply::ok(&self.flow(id)?.wire())),
            Call::ConfirmFlow(id) => self.confirm_flow(id, &parse_body(body)?, env),
            Call::CaptureFlow(id) => self.capture_flow(id, &parse_body(body)?, env),
            Call::CancelFlow(id) => self.cancel_flow(id, &parse_body(body)?, env),
            Call::ListFlows(query) => self.list_flows(query.as_deref()),
            Call::ListFlowRefunds(id, query) => self.list_flow_refunds(id, query.as_deref()),
            Call::ListRefunds(query) => self.list_refunds(query.as_deref()),
            Call::CreateRefund => self.create_refund(&parse_body(body)?, env),
            Call::GetRefund(id) => self.get_refund(id),
            Call::Unknown => Err(ApiError::unknown_route()),
        }
    }

    fn create_flow(&mut self, body: &Map<String, Value>, env: &Env<'_>) -> Result<Reply, ApiError> {
        let request = CreateRequest::parse(body)?;
        if let Some(method) = &request.payment_method_id {
            check_payment_method(method, request.customer_id.as_deref())?;
        }
        let confirm = request.confirm;
        let mut flow = Flow::new(request, env.now);
        // A declined confirm still creates the flow (back in
        // requires_payment_method); only the answer is the 402.
        let attempt = if confirm {
            flow.attempt_payment(env)
        } else {
            Ok(())
        };
        if confirm {
            self.outbox.extend(flow.event(attempt.is_err()));
        }
        let reply = attempt.map(|()| Reply::ok(&flow.wire()));
        self.flows.push(flow);
        reply
    }

    fn confirm_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = ConfirmRequest::parse(body)?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[Status::RequiresPaymentMethod, Status::RequiresConfirmation])?;
        let method = request
            .payment_method_id
            .clone()
            .or_else(|| flow.payment_method_id.clone())
            .ok_or_else(|| ApiError::field("payment_method_id", "Field required"))?;
        check_payment_method(&method, flow.customer_id.as_deref())?;
        request.apply_to(flow);
        let attempt = flow.attempt_payment(env);
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(attempt.is_err());
        self.outbox.extend(event);
        attempt.map(|()| reply)
    }

    fn capture_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let mut input = Input::new(body);
        let amount_to_capture = input.integer("amount_to_capture", MIN_AMOUNT, MAX_AMOUNT);
        input.finish()?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[Status::RequiresCapture])?;
        if flow.expired_at.is_some_and(|deadline| env.now >= deadline) {
            // Nothing moves: the authorization is simply no longer capturable.
            return Err(ApiError::expired());
        }
        let capturable = flow.amount_capturable;
        // Without amount_to_capture the whole capturable amount is taken, even
        // a remainder under the 50 yen minimum of the parameter.
        let amount = amount_to_capture.unwrap_or(capturable);
        if amount > capturable {
            return Err(ApiError::field(
                "amount_to_capture",
                format!("Input should be less than or equal to amount_capturable ({capturable})"),
            ));
        }
        if amount < capturable {
            // Seed 003: partial capture is allowed once; after it only the
            // whole remainder may be captured.
            if flow.partially_captured {
                return Err(ApiError::invalid_amount_to_capture(capturable));
            }
            flow.partially_captured = true;
            flow.amount_received += amount;
            flow.amount_capturable -= amount;
        } else {
            flow.amount_received += capturable;
            flow.amount_capturable = 0;
            flow.status = Status::Succeeded;
        }
        flow.updated_at = env.now;
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(false);
        self.outbox.extend(event);
        Ok(reply)
    }

    fn cancel_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let mut input = Input::new(body);
        let reason = input.choice("cancellation_reason", CANCELLATION_REASONS);
        input.finish()?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[
            Status::RequiresPaymentMethod,
            Status::RequiresConfirmation,
            Status::RequiresAction,
            Status::RequiresCapture,
        ])?;
        // ASSUMPTION (documented, not confirmed by PAY.JP): cancelling after a
        // partial capture releases only the uncaptured remainder; what was
        // captured stays in amount_received and can still be refunded.
        flow.status = Status::Canceled;
        flow.amount_capturable = 0;
        flow.next_action = None;
        flow.canceled_at = Some(env.now);
        flow.cancellation_reason = reason;
        flow.updated_at = env.now;
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(false);
        self.outbox.extend(event);
        Ok(reply)
    }

    fn create_refund(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = RefundRequest::parse(body)?;
        let flow = self.flow_mut(&request.payment_flow_id)?;
        let remaining = flow.amount_received - flow.refunded;
        if remaining <= 0 {
            return Err(ApiError::invalid_status_detail(format!(
                "This operation can only be executed when the payment_flow has a received amount that is not yet refunded. The current status is {}, amount_received is {} and {} is already refunded.",
                flow.status.as_str(),
                flow.amount_received,
                flow.refunded
            )));
        }
        let amount = request.amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::refund_exceeds_payment());
        }
        flow.refunded += amount;
        let refund = Refund {
            id: format!("pyr_{}", random_hex(12)),
            payment_flow_id: flow.id.clone(),
            amount,
            reason: request.reason,
            metadata: request.metadata.unwrap_or_default(),
            created_at: env.now,
        };
        let reply = Reply::ok(&refund.wire());
        let data = serde_json::to_value(refund.wire()).unwrap_or_default();
        self.outbox.push(("refund.created", data));
        self.refunds.push(refund);
        Ok(reply)
    }

    fn get_refund(&self, id: &str) -> Result<Reply, ApiError> {
        self.refunds
            .iter()
            .find(|r| r.id == id)
            .map(|r| Reply::ok(&r.wire()))
            .ok_or_else(|| ApiError::not_found("payment_refund", id))
    }
}

// ---------------------------------------------------------------------------
// Request pipeline: auth, counting, idempotency, action
// ---------------------------------------------------------------------------

impl PayjpSimulator {
    fn lock(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whole seconds, like the wire timestamps, so a deadline shown as
    /// `…:44Z` is passed exactly when the clock reads `…:44`.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(0)
    }

    fn env(&self) -> Env<'_> {
        Env {
            now: self.now(),
            public_base_url: &self.public_base_url,
        }
    }

    async fn serve(&self, call: Call, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        if !self.is_authorized(&parts.headers) {
            return ApiError::unauthorized().into_reply(&path).into_response();
        }
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                self.lock().requests_seen += 1;
                return ApiError::field("body", "The request body is unreadable or too large")
                    .into_reply(&path)
                    .into_response();
            }
        };
        let reply = self.handle(&call, &parts.method, &parts.headers, &path, &body);
        self.flush_notifications();
        reply.into_response()
    }

    /// Sends what the books queued, outside their lock.
    fn flush_notifications(&self) {
        let events = std::mem::take(&mut self.lock().outbox);
        for (event_type, data) in events {
            let id = format!("evnt_{}", random_hex(12));
            let now = timestamp(self.now());
            let body = serde_json::to_vec(&EventWire {
                object: "event",
                id: &id,
                livemode: false,
                event_type,
                pending_webhooks: 1,
                data: &data,
                created_at: &now,
                updated_at: &now,
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
        let env = self.env();
        let mut books = self.lock();
        books.requests_seen += 1;
        let key = if method == Method::POST {
            match idempotency_key(headers) {
                Ok(key) => key,
                Err(error) => return error.into_reply(path),
            }
        } else {
            None
        };
        let Some(key) = key else {
            return books
                .perform(call, body, &env)
                .unwrap_or_else(|e| e.into_reply(path));
        };
        books.forget_old_keys(env.now);
        let fingerprint = fingerprint(method, path, body);
        if let Some(stored) = books.idempotency.get(&key) {
            return if stored.fingerprint == fingerprint {
                stored.reply.clone()
            } else {
                ApiError::idempotency_conflict().into_reply(path)
            };
        }
        let reply = books
            .perform(call, body, &env)
            .unwrap_or_else(|e| e.into_reply(path));
        // A request whose parameters failed validation never started acting,
        // so (as with Stripe) it is not remembered and may be corrected.
        if reply.status != StatusCode::UNPROCESSABLE_ENTITY {
            books.idempotency.insert(
                key,
                StoredReply {
                    fingerprint,
                    at: env.now,
                    reply: reply.clone(),
                },
            );
        }
        reply
    }

    /// `Bearer <key>` (what the SDKs send) or `Basic base64(<key>:)` (the
    /// curl samples' `-u sk_…:`).
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
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            credentials == &*self.secret_key
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic_user(credentials).is_some_and(|user| *user == *self.secret_key)
        } else {
            false
        }
    }

    fn finish_three_d_secure(&self, flow_id: &str, succeed: bool) -> Result<Flow, ThreeDsError> {
        let now = self.now();
        let mut books = self.lock();
        let flow = books
            .flows
            .iter_mut()
            .find(|f| f.id == flow_id)
            .ok_or(ThreeDsError::UnknownFlow)?;
        if flow.status != Status::RequiresAction {
            return Err(ThreeDsError::NotWaiting(flow.status));
        }
        if succeed {
            // pm_test_3ds is a card: the card window applies.
            let window = flow.card_window();
            flow.authorize(window, now);
        } else {
            flow.fail_attempt(
                "three_d_secure_failed",
                "3-D Secure authentication failed.",
                now,
            );
        }
        let (flow, event) = (flow.clone(), flow.event(!succeed));
        books.outbox.extend(event);
        Ok(flow)
    }
}

/// The user part of HTTP Basic credentials.
fn basic_user(credentials: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, _password) = text.split_once(':')?;
    Some(user.to_owned())
}

/// The `Idempotency-Key` header, if any: ≤ 255 of `[A-Za-z0-9_-]`.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    let well_formed = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(Some(key.to_owned()))
    } else {
        // PAY.JP's idempotency guide: a malformed key is 400
        // `invalid_idempotency_key`.
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Invalid Idempotency Key",
            "Idempotency-Key must be 1 to 255 characters of A-Z, a-z, 0-9, '-' and '_'.",
        ))
    }
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

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------
// Axum handlers
// ---------------------------------------------------------------------------

async fn create_flow(State(sim): State<PayjpSimulator>, request: Request) -> Response {
    sim.serve(Call::CreateFlow, request).await
}

async fn get_flow(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetFlow(id), request).await
}

async fn confirm_flow(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::ConfirmFlow(id), request).await
}

async fn capture_flow(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::CaptureFlow(id), request).await
}

async fn cancel_flow(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::CancelFlow(id), request).await
}

async fn list_flow_refunds(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    sim.serve(Call::ListFlowRefunds(id, query), request).await
}

async fn list_flows(
    State(sim): State<PayjpSimulator>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    sim.serve(Call::ListFlows(query), request).await
}

async fn list_refunds(
    State(sim): State<PayjpSimulator>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    sim.serve(Call::ListRefunds(query), request).await
}

async fn create_refund(State(sim): State<PayjpSimulator>, request: Request) -> Response {
    sim.serve(Call::CreateRefund, request).await
}

async fn get_refund(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::GetRefund(id), request).await
}

/// Unknown `/v2` paths answer like the API does (auth first, then a 404
/// problem) instead of axum's empty 404.
async fn unknown_route(State(sim): State<PayjpSimulator>, request: Request) -> Response {
    sim.serve(Call::Unknown, request).await
}

async fn ledger_route(State(sim): State<PayjpSimulator>) -> axum::Json<PayjpLedger> {
    axum::Json(sim.ledger())
}

// ---------------------------------------------------------------------------
// The 3-D Secure page (the shopper's side)
// ---------------------------------------------------------------------------

enum ThreeDsError {
    UnknownFlow,
    NotWaiting(Status),
}

impl ThreeDsError {
    fn into_page(self, flow_id: &str) -> Response {
        let (status, message) = match self {
            Self::UnknownFlow => (
                StatusCode::NOT_FOUND,
                format!("No payment flow {}.", escape_html(flow_id)),
            ),
            Self::NotWaiting(current) => (
                StatusCode::CONFLICT,
                format!(
                    "Payment flow {} is not waiting for 3-D Secure (status {}).",
                    escape_html(flow_id),
                    current.as_str()
                ),
            ),
        };
        (status, Html(html_page(&format!("<p>{message}</p>")))).into_response()
    }
}

async fn three_d_secure_page(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    let books = sim.lock();
    let flow = match books.flows.iter().find(|f| f.id == id) {
        None => return ThreeDsError::UnknownFlow.into_page(&id),
        Some(flow) if flow.status != Status::RequiresAction => {
            return ThreeDsError::NotWaiting(flow.status).into_page(&id);
        }
        Some(flow) => flow,
    };
    let id = escape_html(&flow.id);
    // Relative actions keep working behind any prefix or proxy.
    let body = format!(
        "<h1>3-D Secure (PAY.JP sandbox)</h1>\
         <p>Payment flow {id}: {amount} JPY</p>\
         <form method=\"post\" action=\"./{id}/complete\"><button type=\"submit\">Authenticate</button></form>\
         <form method=\"post\" action=\"./{id}/fail\"><button type=\"submit\">Fail authentication</button></form>",
        amount = flow.amount
    );
    Html(html_page(&body)).into_response()
}

async fn three_d_secure_complete(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    three_d_secure_answer(&sim, &id, true)
}

async fn three_d_secure_fail(
    State(sim): State<PayjpSimulator>,
    Path(id): Path<String>,
) -> Response {
    three_d_secure_answer(&sim, &id, false)
}

/// A page rather than a redirect to `return_url`, so an HTTP test client that
/// follows redirects does not wander off to a shop that does not exist.
fn three_d_secure_answer(sim: &PayjpSimulator, id: &str, succeed: bool) -> Response {
    let outcome = sim.finish_three_d_secure(id, succeed);
    sim.flush_notifications();
    match outcome {
        Err(error) => error.into_page(id),
        Ok(flow) => {
            let back = flow
                .return_url
                .as_deref()
                .map(|url| {
                    format!(
                        "<p><a href=\"{}\">Return to the shop</a></p>",
                        escape_html(url)
                    )
                })
                .unwrap_or_default();
            let body = format!(
                "<p>Payment flow {} is now {}.</p>{back}",
                escape_html(&flow.id),
                flow.status.as_str()
            );
            Html(html_page(&body)).into_response()
        }
    }
}

fn html_page(body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>PAY.JP sandbox 3-D Secure</title></head><body>{body}</body></html>"
    )
}

fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use chrono::TimeZone;
    use tower::ServiceExt;

    use super::*;
    use crate::faults::{Fault, FaultKind};
    use kessai_clock::ManualClock;

    const KEY: &str = "sk_test_simulator";
    const BASE: &str = "http://sim.test/payjp";
    const FLOW_FIXTURE: &str =
        include_str!("../../../tests/fixtures/payjp/payment_flow.confirmed.requires_capture.json");
    const REFUND_FIXTURE: &str =
        include_str!("../../../tests/fixtures/payjp/payment_refund.succeeded.json");
    const INVALID_STATUS_FIXTURE: &str =
        include_str!("../../../tests/fixtures/payjp/error.400.invalid_status.json");
    const VALIDATION_FIXTURE: &str =
        include_str!("../../../tests/fixtures/payjp/error.422.validation_error.json");

    struct Sim {
        sim: PayjpSimulator,
        clock: ManualClock,
        app: Router,
    }

    struct Answer {
        status: StatusCode,
        content_type: String,
        bytes: Bytes,
        json: Value,
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 2, 3, 15, 42)
            .single()
            .expect("a valid date")
    }

    fn sim() -> Sim {
        let clock = ManualClock::new(start());
        let sim = PayjpSimulator::new(Arc::new(clock.clone()), BASE.to_owned(), KEY);
        let app = sim.router();
        Sim { sim, clock, app }
    }

    impl Sim {
        async fn send(&self, request: HttpRequest<Body>) -> Answer {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a complete body");
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Answer {
                status,
                content_type,
                bytes,
                json,
            }
        }

        async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
            self.call_with(method, path, body, &[]).await
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
                .header(header::AUTHORIZATION, format!("Bearer {KEY}"));
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

        async fn create(&self, body: Value) -> Answer {
            self.call("POST", "/v2/payment_flows", Some(body)).await
        }

        /// A manual-capture flow authorized with `method`.
        async fn authorized(&self, amount: i64, method: &str) -> String {
            let answer = self
                .create(json!({
                    "amount": amount,
                    "capture_method": "manual",
                    "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": method,
                    "confirm": true,
                    "metadata": {"order_id": "1001"}
                }))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
            answer.json["id"].as_str().expect("an id").to_owned()
        }

        async fn capture(&self, id: &str, body: Option<Value>) -> Answer {
            self.call("POST", &format!("/v2/payment_flows/{id}/capture"), body)
                .await
        }

        async fn get(&self, id: &str) -> Value {
            self.call("GET", &format!("/v2/payment_flows/{id}"), None)
                .await
                .json
        }
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn fixture_keys(text: &str) -> BTreeSet<String> {
        keys(&serde_json::from_str(text).expect("fixture is JSON"))
    }

    fn at(value: &Value) -> DateTime<Utc> {
        value
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .expect("an RFC 3339 timestamp")
    }

    fn assert_problem(answer: &Answer, status: StatusCode, code: &str, instance: &str) {
        assert_eq!(answer.status, status, "{}", answer.json);
        assert_eq!(answer.content_type, PROBLEM_JSON);
        assert_eq!(answer.json["status"], status.as_u16());
        // The SDK's ErrorResponse: no `code`; the problem is named by `type`.
        assert!(answer.json.get("code").is_none(), "{}", answer.json);
        assert_eq!(
            answer.json["type"],
            format!("{TYPE_PREFIX}{}", code.replace('_', "-")),
            "{}",
            answer.json
        );
        assert_eq!(answer.json["instance"], instance);
        assert!(answer.json["title"].is_string() && answer.json["type"].is_string());
        assert!(answer.json["detail"].is_string());
    }

    #[tokio::test]
    async fn approve_authorizes_for_seven_days_with_the_fixture_shape() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        let flow = s.get(&id).await;
        assert_eq!(flow["status"], "requires_capture");
        assert_eq!(flow["amount_capturable"], 10_000);
        assert_eq!(flow["amount_received"], 0);
        assert_eq!(flow["livemode"], false);
        assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(7));
        assert_eq!(flow["created_at"], "2025-06-02T03:15:42Z");
        let mut expected = fixture_keys(FLOW_FIXTURE);
        expected.insert("redirect_options".to_owned());
        assert_eq!(keys(&flow), expected);
        let hex24 = |s: &str| {
            s.len() == 24
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        assert!(id.strip_prefix("pfw_").is_some_and(hex24), "{id}");
        let secret = flow["client_secret"].as_str().unwrap_or_default();
        let tail = secret
            .strip_prefix(&format!("{id}_secret_"))
            .unwrap_or_default();
        assert_eq!(tail.len(), 32, "{secret}");
        let ledger = s.sim.ledger();
        assert_eq!(ledger.flows.len(), 1);
        assert_eq!(ledger.flows[0].authorized, 10_000);
        assert_eq!(ledger.flows[0].metadata["order_id"], "1001");
    }

    #[tokio::test]
    async fn a_flow_waits_for_a_method_or_a_confirmation_then_confirms() {
        let s = sim();
        let bare = s.create(json!({"amount": 1000})).await;
        assert_eq!(bare.status, StatusCode::OK);
        assert_eq!(bare.json["status"], "requires_payment_method");
        assert_eq!(bare.json["capture_method"], "automatic");
        assert_eq!(bare.json["currency"], "jpy");
        assert_eq!(bare.json["payment_method_types"], json!(["card"]));
        assert!(bare.json["expired_at"].is_null() && bare.json["payment_method_id"].is_null());

        let with_method = s
            .create(json!({"amount": 1000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve"}))
            .await;
        assert_eq!(with_method.json["status"], "requires_confirmation");
        let id = with_method.json["id"].as_str().unwrap_or_default();
        let confirmed = s
            .call("POST", &format!("/v2/payment_flows/{id}/confirm"), None)
            .await;
        assert_eq!(confirmed.status, StatusCode::OK);
        assert_eq!(confirmed.json["status"], "requires_capture");
    }

    #[tokio::test]
    async fn automatic_capture_succeeds_at_once() {
        let s = sim();
        let answer = s
            .create(
                json!({"amount": 3000, "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve", "confirm": true}),
            )
            .await;
        assert_eq!(answer.json["status"], "succeeded");
        assert_eq!(answer.json["amount_received"], 3000);
        assert_eq!(answer.json["amount_capturable"], 0);
        assert_eq!(s.sim.ledger().flows[0].captured, 3000);
    }

    #[tokio::test]
    async fn paypay_authorizes_for_thirty_days() {
        let s = sim();
        let id = s.authorized(5000, "pm_test_paypay").await;
        let flow = s.get(&id).await;
        assert_eq!(flow["status"], "requires_capture");
        assert_eq!(flow["payment_method_types"], json!(["paypay"]));
        assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(30));
    }

    #[tokio::test]
    async fn an_extended_card_authorization_lasts_thirty_days() {
        let s = sim();
        let answer = s
            .create(json!({
                "amount": 5000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve",
                "confirm": true,
                "payment_method_options": {"card": {"request_extended_authorization": "if_available"}}
            }))
            .await;
        assert_eq!(at(&answer.json["expired_at"]) - start(), Duration::days(30));
    }

    #[tokio::test]
    async fn a_decline_is_a_402_and_the_flow_waits_for_another_method() {
        let s = sim();
        let created = s
            .create(json!({"amount": 5000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID}))
            .await;
        let id = created.json["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/v2/payment_flows/{id}/confirm");
        let declined = s
            .call(
                "POST",
                &path,
                Some(json!({"payment_method_id": "pm_test_decline"})),
            )
            .await;
        assert_problem(
            &declined,
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            &path,
        );
        let flow = s.get(&id).await;
        assert_eq!(flow["status"], "requires_payment_method");
        assert_eq!(flow["last_payment_error"]["code"], "card_declined");
        assert!(flow["last_payment_error"]["message"].is_string());
        assert_eq!(s.sim.ledger().flows[0].authorized, 0);

        let retried = s
            .call(
                "POST",
                &path,
                Some(json!({"payment_method_id": "pm_test_approve"})),
            )
            .await;
        assert_eq!(retried.json["status"], "requires_capture");
        assert!(retried.json["last_payment_error"].is_null());
    }

    #[tokio::test]
    async fn three_d_secure_waits_for_the_shopper_then_authorizes() {
        let s = sim();
        let answer = s
            .create(json!({
                "amount": 8000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_3ds",
                "confirm": true, "return_url": "https://shop.example.com/back"
            }))
            .await;
        assert_eq!(answer.json["status"], "requires_action");
        let id = answer.json["id"].as_str().unwrap_or_default().to_owned();
        let action = &answer.json["next_action"];
        assert_eq!(action["type"], "redirect_to_url");
        assert_eq!(
            action["redirect_to_url"]["url"],
            format!("{BASE}/_sandbox/3ds/{id}")
        );
        assert_eq!(
            action["redirect_to_url"]["return_url"],
            "https://shop.example.com/back"
        );

        let page = s.call("GET", &format!("/_sandbox/3ds/{id}"), None).await;
        let html = String::from_utf8_lossy(&page.bytes);
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            html.contains(&format!("./{id}/complete")) && html.contains(&format!("./{id}/fail"))
        );

        let done = s
            .call("POST", &format!("/_sandbox/3ds/{id}/complete"), None)
            .await;
        assert_eq!(done.status, StatusCode::OK);
        let flow = s.get(&id).await;
        assert_eq!(flow["status"], "requires_capture");
        assert!(flow["next_action"].is_null());
        assert_eq!(at(&flow["expired_at"]) - start(), Duration::days(7));
        assert!(
            !s.sim.complete_three_d_secure(&id, true),
            "not waiting any more"
        );
        assert!(!s.sim.complete_three_d_secure("pfw_nope", true));
    }

    #[tokio::test]
    async fn a_failed_three_d_secure_sends_the_flow_back() {
        let s = sim();
        let answer = s
            .create(json!({"amount": 8000, "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_3ds", "confirm": true}))
            .await;
        let id = answer.json["id"].as_str().unwrap_or_default().to_owned();
        assert!(s.sim.complete_three_d_secure(&id, false));
        let flow = s.get(&id).await;
        assert_eq!(flow["status"], "requires_payment_method");
        assert!(flow["last_payment_error"]["code"].is_string());
    }

    #[tokio::test]
    async fn a_partial_capture_is_allowed_once_then_only_the_whole_remainder() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        s.clock.advance(Duration::days(2));
        let partial = s
            .capture(&id, Some(json!({"amount_to_capture": 3000})))
            .await;
        assert_eq!(partial.status, StatusCode::OK);
        assert_eq!(partial.json["status"], "requires_capture");
        assert_eq!(partial.json["amount_received"], 3000);
        assert_eq!(partial.json["amount_capturable"], 7000);

        let path = format!("/v2/payment_flows/{id}/capture");
        let second_partial = s
            .capture(&id, Some(json!({"amount_to_capture": 2000})))
            .await;
        assert_problem(
            &second_partial,
            StatusCode::BAD_REQUEST,
            "invalid_amount_to_capture",
            &path,
        );
        assert_eq!(second_partial.json["title"], "Invalid Amount To Capture");
        assert_eq!(s.get(&id).await["amount_received"], 3000, "nothing moved");

        let whole = s
            .capture(&id, Some(json!({"amount_to_capture": 7000})))
            .await;
        assert_eq!(whole.json["status"], "succeeded");
        assert_eq!(whole.json["amount_received"], 10_000);
        assert_eq!(whole.json["amount_capturable"], 0);
    }

    #[tokio::test]
    async fn the_remainder_can_be_captured_without_an_amount() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        s.capture(&id, Some(json!({"amount_to_capture": 9980})))
            .await;
        let rest = s.capture(&id, None).await;
        assert_eq!(rest.json["status"], "succeeded");
        assert_eq!(rest.json["amount_received"], 10_000);
    }

    #[tokio::test]
    async fn capture_amounts_outside_the_rules_are_422() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        let path = format!("/v2/payment_flows/{id}/capture");
        for amount in [json!(49), json!(10_001), json!("3000"), json!(3000.5)] {
            let answer = s
                .capture(&id, Some(json!({"amount_to_capture": amount})))
                .await;
            assert_problem(
                &answer,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                &path,
            );
            assert_eq!(answer.json["errors"][0]["field"], "amount_to_capture");
        }
        assert_eq!(s.get(&id).await["amount_capturable"], 10_000);
    }

    #[tokio::test]
    async fn capture_after_the_deadline_is_payment_flow_expired() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        s.clock.advance(Duration::days(7));
        let before = s.sim.ledger();
        let answer = s.capture(&id, None).await;
        assert_problem(
            &answer,
            StatusCode::BAD_REQUEST,
            "payment_flow_expired",
            &format!("/v2/payment_flows/{id}/capture"),
        );
        assert_eq!(s.sim.ledger(), before);
        assert_eq!(s.get(&id).await["status"], "requires_capture");
    }

    #[tokio::test]
    async fn capture_just_before_the_deadline_succeeds() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        s.clock.advance(Duration::days(7) - Duration::seconds(1));
        assert_eq!(s.capture(&id, None).await.json["status"], "succeeded");
    }

    #[tokio::test]
    async fn capture_on_a_canceled_flow_is_invalid_status() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        let canceled = s
            .call(
                "POST",
                &format!("/v2/payment_flows/{id}/cancel"),
                Some(json!({"cancellation_reason": "requested_by_customer"})),
            )
            .await;
        assert_eq!(canceled.json["status"], "canceled");
        assert_eq!(canceled.json["amount_capturable"], 0);
        assert_eq!(
            canceled.json["cancellation_reason"],
            "requested_by_customer"
        );
        assert_eq!(canceled.json["canceled_at"], "2025-06-02T03:15:42Z");
        let answer = s.capture(&id, None).await;
        let path = format!("/v2/payment_flows/{id}/capture");
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_status", &path);
        let mut expected = fixture_keys(INVALID_STATUS_FIXTURE);
        expected.remove("code");
        assert_eq!(keys(&answer.json), expected);
        assert!(s.sim.ledger().flows[0].canceled);
    }

    #[tokio::test]
    async fn cancel_after_a_partial_capture_keeps_what_was_received() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        s.capture(&id, Some(json!({"amount_to_capture": 3000})))
            .await;
        let canceled = s
            .call("POST", &format!("/v2/payment_flows/{id}/cancel"), None)
            .await;
        assert_eq!(canceled.json["status"], "canceled");
        assert_eq!(canceled.json["amount_received"], 3000);
        assert_eq!(canceled.json["amount_capturable"], 0);
        let again = s
            .call("POST", &format!("/v2/payment_flows/{id}/cancel"), None)
            .await;
        assert_eq!(again.json["type"], format!("{TYPE_PREFIX}invalid-status"));
    }

    #[tokio::test]
    async fn confirm_is_refused_outside_its_statuses_and_without_a_method() {
        let s = sim();
        let id = s.authorized(1000, "pm_test_approve").await;
        let path = format!("/v2/payment_flows/{id}/confirm");
        let again = s.call("POST", &path, None).await;
        assert_problem(&again, StatusCode::BAD_REQUEST, "invalid_status", &path);

        let bare = s.create(json!({"amount": 1000})).await;
        let bare_id = bare.json["id"].as_str().unwrap_or_default();
        let path = format!("/v2/payment_flows/{bare_id}/confirm");
        let missing = s.call("POST", &path, Some(json!({}))).await;
        assert_problem(
            &missing,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            &path,
        );
        assert_eq!(missing.json["errors"][0]["field"], "payment_method_id");
    }

    #[tokio::test]
    async fn refunds_go_up_to_the_amount_received_then_refund_exceeds_payment() {
        let s = sim();
        let id = s.authorized(10_000, "pm_test_approve").await;
        let early = s
            .call("POST", REFUNDS_PATH, Some(json!({"payment_flow_id": id})))
            .await;
        assert_problem(
            &early,
            StatusCode::BAD_REQUEST,
            "invalid_status",
            REFUNDS_PATH,
        );

        s.capture(&id, Some(json!({"amount_to_capture": 6000})))
            .await;
        let first = s
            .call(
                "POST",
                REFUNDS_PATH,
                Some(json!({"payment_flow_id": id, "amount": 1000, "reason": "requested_by_customer", "metadata": {"order_id": "1001"}})),
            )
            .await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.json);
        assert_eq!(keys(&first.json), fixture_keys(REFUND_FIXTURE));
        assert_eq!(first.json["status"], "succeeded");
        let refund_id = first.json["id"].as_str().unwrap_or_default().to_owned();
        assert!(refund_id.starts_with("pyr_") && refund_id.len() == 28);

        let too_much = s
            .call(
                "POST",
                REFUNDS_PATH,
                Some(json!({"payment_flow_id": id, "amount": 5001})),
            )
            .await;
        assert_problem(
            &too_much,
            StatusCode::BAD_REQUEST,
            "refund_exceeds_payment",
            REFUNDS_PATH,
        );
        assert_eq!(
            too_much.json["detail"],
            "The refund amount exceeds the payment amount."
        );
        assert_eq!(too_much.json["title"], "Refund Exceeds Payment");

        let rest = s
            .call("POST", REFUNDS_PATH, Some(json!({"payment_flow_id": id})))
            .await;
        assert_eq!(rest.json["amount"], 5000);
        let none_left = s
            .call(
                "POST",
                REFUNDS_PATH,
                Some(json!({"payment_flow_id": id, "amount": 1})),
            )
            .await;
        assert_eq!(
            none_left.json["type"],
            format!("{TYPE_PREFIX}invalid-status")
        );
        assert_eq!(s.sim.ledger().flows[0].refunded, 6000);

        let fetched = s
            .call("GET", &format!("{REFUNDS_PATH}/{refund_id}"), None)
            .await;
        assert_eq!(fetched.bytes, first.bytes);
        let list = s
            .call("GET", &format!("/v2/payment_flows/{id}/refunds"), None)
            .await;
        assert_eq!(list.json["object"], "list");
        assert_eq!(list.json["has_more"], false);
        assert_eq!(list.json["url"], format!("/v2/payment_flows/{id}/refunds"));
        assert_eq!(list.json["data"].as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn refund_requests_are_validated() {
        let s = sim();
        let answer = s
            .call(
                "POST",
                REFUNDS_PATH,
                Some(json!({"amount": 0, "reason": "because"})),
            )
            .await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            REFUNDS_PATH,
        );
        let fields: BTreeSet<&str> = answer.json["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(
            fields,
            BTreeSet::from(["payment_flow_id", "amount", "reason"])
        );
        let unknown = s
            .call(
                "POST",
                REFUNDS_PATH,
                Some(json!({"payment_flow_id": "pfw_nope"})),
            )
            .await;
        assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found", REFUNDS_PATH);
    }

    #[tokio::test]
    async fn an_idempotent_retry_replays_the_first_answer_without_acting() {
        let s = sim();
        let body = json!({"amount": 10_000, "capture_method": "manual", "customer_id": SANDBOX_CUSTOMER_ID, "payment_method_id": "pm_test_approve", "confirm": true});
        let key = [("Idempotency-Key", "order-1001_authorize")];
        let first = s
            .call_with("POST", "/v2/payment_flows", Some(body.clone()), &key)
            .await;
        let ledger = s.sim.ledger();
        s.clock.advance(Duration::hours(23));
        let second = s
            .call_with("POST", "/v2/payment_flows", Some(body), &key)
            .await;
        assert_eq!(second.status, first.status);
        assert_eq!(second.bytes, first.bytes);
        assert_eq!(s.sim.ledger(), ledger);
        assert_eq!(s.sim.requests_seen(), 2);

        let id = first.json["id"].as_str().unwrap_or_default().to_owned();
        let capture_key = [("Idempotency-Key", "capture-1")];
        let path = format!("/v2/payment_flows/{id}/capture");
        let capture = json!({"amount_to_capture": 3000});
        let c1 = s
            .call_with("POST", &path, Some(capture.clone()), &capture_key)
            .await;
        let c2 = s
            .call_with("POST", &path, Some(capture), &capture_key)
            .await;
        assert_eq!(c1.bytes, c2.bytes);
        assert_eq!(s.sim.ledger().flows[0].captured, 3000, "captured once");
    }

    #[tokio::test]
    async fn a_payment_method_needs_the_customer_that_owns_it() {
        let s = sim();
        let body = |customer: Option<&str>, method: &str| {
            let mut body = json!({"amount": 1000, "payment_method_id": method, "confirm": true});
            if let Some(customer) = customer {
                body["customer_id"] = json!(customer);
            }
            body
        };
        let missing = s.create(body(None, "pm_test_approve")).await;
        assert_problem(
            &missing,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "/v2/payment_flows",
        );
        assert_eq!(missing.json["errors"][0]["field"], "customer_id");
        for (customer, method) in [
            ("cus_someone_else", "pm_test_approve"),
            (SANDBOX_CUSTOMER_ID, PM_UNATTACHED),
        ] {
            let refused = s.create(body(Some(customer), method)).await;
            assert_problem(
                &refused,
                StatusCode::BAD_REQUEST,
                "invalid_payment_method",
                "/v2/payment_flows",
            );
        }
        assert!(s.sim.ledger().flows.is_empty(), "nothing was created");
        // A flow made without a customer cannot be confirmed with a method.
        let bare = s.create(json!({"amount": 1000})).await;
        let id = bare.json["id"].as_str().unwrap_or_default().to_owned();
        let path = format!("/v2/payment_flows/{id}/confirm");
        let confirm = s
            .call(
                "POST",
                &path,
                Some(json!({"payment_method_id": "pm_test_approve"})),
            )
            .await;
        assert_problem(
            &confirm,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            &path,
        );
        let approved = s
            .create(body(Some(SANDBOX_CUSTOMER_ID), "pm_test_approve"))
            .await;
        assert_eq!(approved.json["status"], "succeeded", "{}", approved.json);
    }

    #[tokio::test]
    async fn a_key_reused_with_other_parameters_is_a_400() {
        let s = sim();
        let key = [("Idempotency-Key", "k1")];
        s.call_with(
            "POST",
            "/v2/payment_flows",
            Some(json!({"amount": 1000})),
            &key,
        )
        .await;
        let other_body = s
            .call_with(
                "POST",
                "/v2/payment_flows",
                Some(json!({"amount": 2000})),
                &key,
            )
            .await;
        assert_problem(
            &other_body,
            StatusCode::BAD_REQUEST,
            "idempotency_conflict",
            "/v2/payment_flows",
        );
        let other_path = s
            .call_with("POST", REFUNDS_PATH, Some(json!({"amount": 1000})), &key)
            .await;
        assert_eq!(other_path.status, StatusCode::BAD_REQUEST);
        assert_eq!(s.sim.ledger().flows.len(), 1);
    }

    #[tokio::test]
    async fn keys_are_forgotten_after_24_hours() {
        let s = sim();
        let key = [("Idempotency-Key", "k1")];
        let body = Some(json!({"amount": 1000}));
        s.call_with("POST", "/v2/payment_flows", body.clone(), &key)
            .await;
        s.clock.advance(Duration::hours(24));
        let again = s.call_with("POST", "/v2/payment_flows", body, &key).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(s.sim.ledger().flows.len(), 2);
    }

    #[tokio::test]
    async fn a_malformed_idempotency_key_is_refused() {
        let s = sim();
        let long = "a".repeat(256);
        for bad in ["has space", "dots.not.allowed", long.as_str()] {
            let answer = s
                .call_with(
                    "POST",
                    "/v2/payment_flows",
                    Some(json!({"amount": 1000})),
                    &[("Idempotency-Key", bad)],
                )
                .await;
            assert_problem(
                &answer,
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "/v2/payment_flows",
            );
        }
        assert!(s.sim.ledger().flows.is_empty());
    }

    #[tokio::test]
    async fn a_wrong_key_is_a_401_and_not_counted() {
        let s = sim();
        let wrong = HttpRequest::builder()
            .method("POST")
            .uri("/v2/payment_flows")
            .header(header::AUTHORIZATION, "Bearer sk_test_wrong")
            .header("Idempotency-Key", "k1")
            .body(Body::from(json!({"amount": 1000}).to_string()))
            .expect("a valid request");
        let answer = s.send(wrong).await;
        assert_problem(
            &answer,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "/v2/payment_flows",
        );
        let missing = HttpRequest::builder()
            .uri("/v2/payment_flows/pfw_x")
            .body(Body::empty())
            .expect("a valid request");
        assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.sim.requests_seen(), 0);
        // The rejected request did not take the key.
        let ok = s
            .call_with(
                "POST",
                "/v2/payment_flows",
                Some(json!({"amount": 2000})),
                &[("Idempotency-Key", "k1")],
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn basic_auth_with_the_key_as_user_is_accepted() {
        let s = sim();
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
        let request = HttpRequest::builder()
            .method("POST")
            .uri("/v2/payment_flows")
            .header(header::AUTHORIZATION, format!("Basic {credentials}"))
            .body(Body::from(json!({"amount": 1000}).to_string()))
            .expect("a valid request");
        assert_eq!(s.send(request).await.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn amount_49_and_other_bad_parameters_are_422() {
        let s = sim();
        let answer = s
            .create(json!({"amount": 49, "currency": "usd", "capture_method": "later"}))
            .await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "/v2/payment_flows",
        );
        let mut expected = fixture_keys(VALIDATION_FIXTURE);
        expected.remove("code");
        assert_eq!(keys(&answer.json), expected);
        let errors = &answer.json["errors"];
        assert_eq!(errors[0]["field"], "amount");
        assert_eq!(
            errors[0]["message"],
            "Input should be greater than or equal to 50"
        );
        assert_eq!(errors[1]["field"], "currency");
        assert_eq!(errors[1]["message"], "Input should be 'jpy'");
        assert_eq!(errors[2]["field"], "capture_method");
        let missing = s.create(json!({"currency": "jpy"})).await;
        assert_eq!(missing.json["errors"][0]["message"], "Field required");
        let too_big = s.create(json!({"amount": 10_000_000})).await;
        assert_eq!(too_big.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(s.create(json!({"amount": 50})).await.status, StatusCode::OK);
        assert_eq!(s.sim.ledger().flows.len(), 1);
    }

    #[tokio::test]
    async fn malformed_json_is_a_422_not_a_panic() {
        let s = sim();
        for raw in ["{not json", "[1,2]", "\"text\""] {
            let request = HttpRequest::builder()
                .method("POST")
                .uri("/v2/payment_flows")
                .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                .body(Body::from(raw))
                .expect("a valid request");
            let answer = s.send(request).await;
            assert_problem(
                &answer,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                "/v2/payment_flows",
            );
        }
    }

    #[tokio::test]
    async fn unknown_ids_and_routes_are_404_problems() {
        let s = sim();
        let answer = s.capture("pfw_doesnotexist", None).await;
        assert_problem(
            &answer,
            StatusCode::NOT_FOUND,
            "not_found",
            "/v2/payment_flows/pfw_doesnotexist/capture",
        );
        assert_eq!(
            answer.json["detail"],
            "payment_flow: pfw_doesnotexist not found."
        );
        let refund = s
            .call("GET", &format!("{REFUNDS_PATH}/pyr_nope"), None)
            .await;
        assert_eq!(refund.json["detail"], "payment_refund: pyr_nope not found.");
        let route = s.call("GET", "/v2/charges", None).await;
        assert_problem(&route, StatusCode::NOT_FOUND, "not_found", "/v2/charges");
    }

    #[tokio::test]
    async fn an_injected_fault_is_met_before_the_provider_acts() {
        let s = sim();
        s.sim.faults().inject(Fault::new(
            "POST",
            "/v2/payment_flows",
            FaultKind::Status {
                status: 503,
                body: json!({"status": 503}),
            },
        ));
        let faulted = s.create(json!({"amount": 1000})).await;
        assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(s.sim.ledger().flows.is_empty());
        assert_eq!(s.sim.requests_seen(), 0, "the provider was not called");
        assert_eq!(
            s.create(json!({"amount": 1000})).await.status,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn a_dropped_answer_is_recovered_by_retrying_with_the_same_key() {
        let s = sim();
        s.sim.faults().inject(Fault::new(
            "POST",
            "/v2/payment_flows",
            FaultKind::DropAfterActing,
        ));
        let request = || {
            HttpRequest::builder()
                .method("POST")
                .uri("/v2/payment_flows")
                .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                .header("Idempotency-Key", "retry-me")
                .body(Body::from(json!({"amount": 1000}).to_string()))
                .expect("a valid request")
        };
        let response = s.app.clone().oneshot(request()).await.expect("infallible");
        assert!(
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .is_err()
        );
        let ledger = s.sim.ledger();
        assert_eq!(ledger.flows.len(), 1, "the provider acted");
        let retry = s.send(request()).await;
        assert_eq!(retry.json["id"], ledger.flows[0].id.as_str());
        assert_eq!(s.sim.ledger().flows.len(), 1);
    }

    #[tokio::test]
    async fn nested_under_a_prefix_the_api_and_the_fault_controls_still_work() {
        let s = sim();
        let app = Router::new().nest("/payjp", s.sim.router());
        let fault = HttpRequest::builder()
            .method("POST")
            .uri("/payjp/_sandbox/faults")
            .header(header::CONTENT_TYPE, JSON)
            .body(Body::from(
                json!({"method": "GET", "path_contains": "/payment_flows/", "kind": "status", "status": 500})
                    .to_string(),
            ))
            .expect("a valid request");
        let queued = app.clone().oneshot(fault).await.expect("infallible");
        assert_eq!(queued.status(), StatusCode::NO_CONTENT);
        let get = || {
            HttpRequest::builder()
                .uri("/payjp/v2/payment_flows/pfw_missing")
                .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                .body(Body::empty())
                .expect("a valid request")
        };
        let faulted = app.clone().oneshot(get()).await.expect("infallible");
        assert_eq!(faulted.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = app.clone().oneshot(get()).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a complete body");
        let problem: Value = serde_json::from_slice(&bytes).expect("a problem body");
        assert_eq!(problem["instance"], "/v2/payment_flows/pfw_missing");
    }

    #[tokio::test]
    async fn the_ledger_is_served_without_auth() {
        let s = sim();
        s.authorized(1000, "pm_test_approve").await;
        let request = HttpRequest::builder()
            .uri("/_sandbox/ledger")
            .body(Body::empty())
            .expect("a valid request");
        let answer = s.send(request).await;
        assert_eq!(answer.status, StatusCode::OK);
        let ledger: PayjpLedger = serde_json::from_value(answer.json).expect("a ledger");
        assert_eq!(ledger, s.sim.ledger());
        assert_eq!(s.sim.requests_seen(), 1, "control routes are not counted");
    }
}
