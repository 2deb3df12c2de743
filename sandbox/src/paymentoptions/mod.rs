//! A faithful HTTP simulator of the PaymentOptions DASGATEWAY server-to-server
//! card API.
//!
//! Written from `providers.md`, seed 001 (capture) and the
//! `fixtures/paymentoptions` bodies, never from the adapter's types. It serves,
//! under both `/api/v1/server-to-server-interface/` and the doubled
//! `/api/v1/api/v1/server-to-server-interface/` the docs' own curls use:
//!
//! - `POST authorization` (pre-auth), `POST payment` (sale), `POST capture`,
//!   `POST refund`, `POST void`, `GET transaction/status/{transactionId}`
//!   (`Authorization: Basic <key>` raw or base64, plus `x-api-key: <key>`);
//! - `GET /_sandbox/ledger`, `GET /_sandbox/transactions/by-ref/{ref}` and the
//!   fault controls, neither authenticated nor faulted.
//!
//! Sandbox test cards (kept stable, client teams write tests against them):
//! `5200000000001005` (and any other valid card) approves; `4000000000000002`
//! is declined with response code 5 (do not honour), `4000000000009995` with
//! 51 (insufficient funds), `4000000000000069` with 54 (expired card).
//!
//! The real API echoes the full card number in its answers, so this simulator
//! does too (the adapter must mask it); it keeps the number in memory only for
//! that echo, never logs it, and its ledger holds the last four digits only.
//! The CVC is checked and dropped.
//!
//! There is no idempotency header at this provider, so none is implemented:
//! a client that lost an answer looks the transaction up instead of retrying.
//!
//! Each new transaction (PRE_AUTH, SALE, CAPTURE, REFUND, VOID, declines
//! included) is notified, unsigned, to its authorization's
//! `return_url.webhook_url`, or to the URL set with
//! [`PaymentOptionsSimulator::deliver_webhooks_to`] (a sandbox convenience).
//! GUESS: no source shows the notification's body; it is the transaction as
//! the status endpoint shows it (masked card number).
//!
//! Every "now" comes from the injected clock (card expiry, timestamps).
//! Behaviour the sources leave open is marked `GUESS:` where it is implemented.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::faults::{self, Faults};
use crate::notifications::{Notifier, unsigned};
use kessai_clock::SharedClock;

/// The heading's prefix and the doubled one of the docs' curl examples (and
/// the seed); the real host is said to answer on both, so we do too.
const PATH_PREFIXES: [&str; 2] = [
    "/api/v1/server-to-server-interface",
    "/api/v1/api/v1/server-to-server-interface",
];

const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_MERCHANT_ID_CHARS: usize = 10;
const MAX_MERCHANT_TXN_REF_CHARS: usize = 45;
const MAX_TRANSACTION_ID_CHARS: usize = 36;
const MAX_NOTES_CHARS: usize = 128;
const CURRENCY: &str = "JPY";
const GATEWAY_VERSION: &str = "1";
// GUESS: the merchant's legal name comes from PaymentOptions' own records;
// the sandbox has none, so it shows a fixed one.
const LEGAL_NAME: &str = "Kessai Sandbox Merchant";
// GUESS: `ref` looks like a gateway-wide sequence (74818, 74819, …).
const FIRST_REF: i64 = 10_001;

/// Acquirer response codes (`payment_details.response_code`).
const RC_APPROVED: i64 = 0;
const RC_DO_NOT_HONOUR: i64 = 5;
const RC_INVALID_AMOUNT: i64 = 13;
const RC_INSUFFICIENT_FUNDS: i64 = 51;
const RC_EXPIRED_CARD: i64 = 54;
const RC_INVALID_LIFE_CYCLE: i64 = 84;
const RC_OVER_PRE_AUTHORIZED: i64 = 836;

/// The documented declining test cards and what they answer.
const DECLINING_CARDS: [(&str, i64); 3] = [
    ("4000000000000002", RC_DO_NOT_HONOUR),
    ("4000000000009995", RC_INSUFFICIENT_FUNDS),
    ("4000000000000069", RC_EXPIRED_CARD),
];

const JSON: &str = "application/json";

// ---------------------------------------------------------------------------
// Public interface
// ---------------------------------------------------------------------------

/// The simulated PaymentOptions merchant account. Clones share the same books.
#[derive(Clone)]
pub struct PaymentOptionsSimulator {
    books: Arc<Mutex<Books>>,
    faults: Faults,
    clock: SharedClock,
    api_key: Arc<str>,
    merchant_id: Arc<str>,
    notifier: Notifier,
}

/// What the simulated provider holds, for tests that compare the books.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentOptionsLedger {
    /// Every PRE_AUTH and SALE, declined ones included, by creation.
    pub authorizations: Vec<LedgerAuthorization>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerAuthorization {
    /// The PRE_AUTH or SALE transaction id.
    pub id: String,
    pub merchant_txn_ref: String,
    /// `authorized`, `captured`, `voided` or `declined`.
    pub status: String,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    /// The transaction refunds must name: the CAPTURE's id, or for a SALE the
    /// SALE's own id.
    pub capture_id: Option<String>,
    pub card_last4: String,
}

impl PaymentOptionsSimulator {
    /// `merchant_id` is the DASMID every request body must carry; the seed
    /// limits it to 10 characters, and longer ones are refused in bodies.
    pub fn new(clock: SharedClock, api_key: &str, merchant_id: &str) -> Self {
        Self {
            books: Arc::default(),
            faults: Faults::default(),
            clock,
            api_key: api_key.into(),
            merchant_id: merchant_id.into(),
            notifier: Notifier::default(),
        }
    }

    /// Notifies `url` of transactions whose authorization named no
    /// `return_url.webhook_url`.
    pub fn deliver_webhooks_to(&self, url: String) {
        self.notifier.set_target(url, unsigned());
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.notifier
    }

    /// The API under both path prefixes (behind the fault layer) and the
    /// sandbox controls under `/_sandbox` (neither authenticated nor faulted,
    /// so a test can always inspect and repair the simulator).
    pub fn router(&self) -> Router {
        let mut api = Router::new();
        for prefix in PATH_PREFIXES {
            api = api
                .route(&format!("{prefix}/authorization"), post(authorization))
                .route(&format!("{prefix}/payment"), post(payment))
                .route(&format!("{prefix}/capture"), post(capture))
                .route(&format!("{prefix}/refund"), post(refund))
                .route(&format!("{prefix}/void"), post(void))
                .route(
                    &format!("{prefix}/transaction/status/{{transaction_id}}"),
                    get(status),
                )
                .route(&format!("{prefix}/{{*rest}}"), any(unknown_route));
        }
        let api = api
            .with_state(self.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ));
        let control = Router::new()
            .route("/_sandbox/ledger", get(ledger_route))
            .route(
                "/_sandbox/transactions/by-ref/{merchant_txn_ref}",
                get(by_ref_route),
            )
            .with_state(self.clone());
        api.merge(control)
            .merge(faults::control_routes(self.faults.clone()))
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn ledger(&self) -> PaymentOptionsLedger {
        self.lock().ledger()
    }

    /// How many authenticated API requests reached the simulator.
    pub fn requests_seen(&self) -> usize {
        self.lock().requests_seen
    }
}

// ---------------------------------------------------------------------------
// The books
// ---------------------------------------------------------------------------

/// Everything behind one mutex, so a check and the action it guards (one
/// capture only, refunds up to what is left) cannot interleave.
#[derive(Default)]
struct Books {
    authorizations: Vec<Authorization>,
    transactions: Vec<Transaction>,
    last_ref: i64,
    requests_seen: usize,
    /// Transactions to notify, sent once the books are unlocked.
    outbox: Vec<usize>,
}

/// Per-request context the operations need besides the books.
struct Env<'a> {
    now: DateTime<Utc>,
    merchant_id: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PreAuth,
    Sale,
    Capture,
    Refund,
    Void,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::PreAuth => "PRE_AUTH",
            // GUESS: no source shows a sale's answer; "SALE" mirrors PRE_AUTH.
            Self::Sale => "SALE",
            Self::Capture => "CAPTURE",
            Self::Refund => "REFUND",
            Self::Void => "VOID",
        }
    }

    /// `gateway_response` `(code, message)` of a successful POST; the
    /// messages are the Japanese docs' own.
    fn success(self) -> (&'static str, &'static str) {
        match self {
            // GUESS: a sale answers like a pre-auth.
            Self::PreAuth | Self::Sale => ("INFO0000", "Payment Successful."),
            Self::Capture => ("INFO0001", "金額が正常にキャプチャされました。"),
            Self::Refund => ("INFO0002", "金額が正常に払い戻されました。"),
            Self::Void => ("INFO0003", "承認が正常にキャンセルされました。"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthState {
    Authorized,
    Captured,
    Voided,
    Declined,
}

impl AuthState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::Voided => "voided",
            Self::Declined => "declined",
        }
    }
}

/// A card number that never shows itself in `Debug` output, so a stray
/// `{:?}` cannot leak it into a log.
#[derive(Clone, PartialEq, Eq)]
struct Pan(String);

impl Pan {
    fn full(&self) -> &str {
        &self.0
    }

    fn masked(&self) -> String {
        mask_pan(&self.0)
    }

    fn last4(&self) -> &str {
        self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("")
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

#[derive(Debug, Clone)]
struct Card {
    pan: Pan,
    name: String,
    /// As sent, since the answers echo them as strings ("12", "24").
    exp_month: String,
    exp_year: String,
    payment_method: &'static str,
    scheme: &'static str,
}

/// One PRE_AUTH or SALE and what happened to its money since.
struct Authorization {
    id: String,
    merchant_txn_ref: String,
    state: AuthState,
    authorized: i64,
    captured: i64,
    refunded: i64,
    capture_id: Option<String>,
    card: Card,
    auth_code: String,
    customer_ip: Option<String>,
    billing_address: Value,
    shipping_address: Value,
    /// `return_url.webhook_url`: where its transactions are notified.
    webhook_url: Option<String>,
}

/// One gateway transaction: every answer the status endpoint can give.
struct Transaction {
    id: String,
    reference: i64,
    kind: Kind,
    amount: i64,
    at: DateTime<Utc>,
    /// Index into `Books::authorizations`: every transaction stems from one.
    authorization: usize,
    /// The acquirer's code; non-zero only on a declined PRE_AUTH or SALE.
    response_code: i64,
}

impl Transaction {
    fn approved(&self) -> bool {
        self.response_code == RC_APPROVED
    }
}

impl Authorization {
    fn ledger(&self) -> LedgerAuthorization {
        LedgerAuthorization {
            id: self.id.clone(),
            merchant_txn_ref: self.merchant_txn_ref.clone(),
            status: self.state.as_str().to_owned(),
            authorized: self.authorized,
            captured: self.captured,
            refunded: self.refunded,
            capture_id: self.capture_id.clone(),
            card_last4: self.card.pan.last4().to_owned(),
        }
    }
}

impl Books {
    fn ledger(&self) -> PaymentOptionsLedger {
        PaymentOptionsLedger {
            authorizations: self
                .authorizations
                .iter()
                .map(Authorization::ledger)
                .collect(),
        }
    }

    fn find(&self, id: &str) -> Result<usize, ApiError> {
        self.transactions
            .iter()
            .position(|t| t.id == id)
            .ok_or_else(|| ApiError::not_found(id))
    }

    fn ids_for_ref(&self, merchant_txn_ref: &str) -> Vec<String> {
        self.transactions
            .iter()
            .filter(|t| self.authorizations[t.authorization].merchant_txn_ref == merchant_txn_ref)
            .map(|t| t.id.clone())
            .collect()
    }

    /// Records a new transaction and returns its index.
    fn record(&mut self, kind: Kind, amount: i64, authorization: usize, env: &Env<'_>) -> usize {
        self.record_with_code(kind, amount, authorization, RC_APPROVED, env)
    }

    fn record_with_code(
        &mut self,
        kind: Kind,
        amount: i64,
        authorization: usize,
        response_code: i64,
        env: &Env<'_>,
    ) -> usize {
        self.last_ref = self.last_ref.max(FIRST_REF - 1) + 1;
        self.transactions.push(Transaction {
            id: uuid_v4(),
            reference: self.last_ref,
            kind,
            amount,
            at: env.now,
            authorization,
            response_code,
        });
        self.outbox.push(self.transactions.len() - 1);
        self.transactions.len() - 1
    }
}

// ---------------------------------------------------------------------------
// Wire shapes (field order as in the fixtures)
// ---------------------------------------------------------------------------

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    status_code: u16,
    is_live: bool,
    transaction_type: &'static str,
    gateway_response: GatewayResponse<'a>,
    merchant_details: MerchantDetails<'a>,
    payment_details: PaymentDetails<'a>,
    transaction_details: TransactionDetails<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk_details: Option<RiskDetails>,
}

#[derive(Serialize)]
struct GatewayResponse<'a> {
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
    code: String,
}

#[derive(Serialize)]
struct MerchantDetails<'a> {
    legal_name: &'static str,
    mid: &'a str,
    merchant_txn_ref: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_details: Option<BillingDetails<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_details: Option<DeviceDetails<'a>>,
}

#[derive(Clone, Copy, Serialize)]
struct BillingDetails<'a> {
    billing_address: &'a Value,
    shipping_address: &'a Value,
}

#[derive(Serialize)]
struct DeviceDetails<'a> {
    visited_ip: Option<&'a str>,
    customer_ip: Option<&'a str>,
}

#[derive(Serialize)]
struct PaymentDetails<'a> {
    amount: i64,
    response_code: i64,
    #[serde(
        rename = "responseDescription",
        skip_serializing_if = "Option::is_none"
    )]
    response_description: Option<&'static str>,
    auth_code: &'a str,
    currency: &'static str,
    payment_method: &'static str,
    scheme: &'static str,
    card: CardWire<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_data: Option<Value>,
}

#[derive(Serialize)]
struct CardWire<'a> {
    name: &'a str,
    number: String,
    exp_month: &'a str,
    exp_year: &'a str,
}

#[derive(Serialize)]
struct TransactionDetails<'a> {
    id: &'a str,
    #[serde(rename = "ref")]
    reference: i64,
    timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_txn_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_details: Option<BillingDetails<'a>>,
}

#[derive(Serialize)]
struct RiskDetails {
    risk_score: Option<i64>,
}

/// The answer to a request that created no transaction.
#[derive(Serialize)]
struct FailureEnvelope<'a> {
    success: bool,
    status_code: u16,
    is_live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_type: Option<&'static str>,
    gateway_response: GatewayResponse<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_details: Option<FailurePaymentDetails>,
}

#[derive(Serialize)]
struct FailurePaymentDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<i64>,
    response_code: i64,
    #[serde(rename = "responseDescription")]
    response_description: &'static str,
    currency: &'static str,
}

/// Which of the documented envelopes to draw.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// The answer to the POST that created the transaction.
    Created,
    /// `GET transaction/status/{id}`: billing moves under
    /// `transaction_details`, the card number is masked.
    Status,
}

fn response_description(code: i64) -> &'static str {
    match code {
        RC_APPROVED => "The transaction was completed successfully.",
        // The invented failure fixture's wording.
        RC_DO_NOT_HONOUR => "Do not honour OR Declined",
        RC_INVALID_AMOUNT => "Invalid amount",
        RC_INSUFFICIENT_FUNDS => "Insufficient funds",
        RC_EXPIRED_CARD => "Expired card",
        RC_INVALID_LIFE_CYCLE => "Invalid authorization life cycle",
        RC_OVER_PRE_AUTHORIZED => "Amount greater than pre-authorized",
        _ => "Declined",
    }
}

/// GUESS: no source shows an error code; the invented fixture's `ERR0005`
/// for response code 5 is generalised to `ERR` + four digits of the acquirer
/// code, or of the HTTP status when there is none.
fn error_code(number: i64) -> String {
    format!("ERR{number:04}")
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Books {
    fn envelope(&self, index: usize, view: View, merchant_id: &str) -> Reply {
        let txn = &self.transactions[index];
        let auth = &self.authorizations[txn.authorization];
        let card = &auth.card;
        let is_authorization = matches!(txn.kind, Kind::PreAuth | Kind::Sale);
        let billing = BillingDetails {
            billing_address: &auth.billing_address,
            shipping_address: &auth.shipping_address,
        };
        let status = match (view, txn.approved()) {
            (View::Status, _) => StatusCode::OK,
            (View::Created, true) => StatusCode::CREATED,
            (View::Created, false) => StatusCode::PAYMENT_REQUIRED,
        };
        let gateway_response = if txn.approved() {
            // The status fixtures show INFO0000 even for a CAPTURE.
            let (code, message) = match view {
                View::Created => txn.kind.success(),
                View::Status => Kind::PreAuth.success(),
            };
            GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "INFO",
                message,
                code: code.to_owned(),
            }
        } else {
            // GUESS: a decline's type is "ERROR" (the invented fixture's).
            GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "ERROR",
                message: response_description(txn.response_code),
                code: error_code(txn.response_code),
            }
        };
        let created_authorization = view == View::Created && is_authorization && txn.approved();
        let envelope = Envelope {
            success: txn.approved(),
            status_code: status.as_u16(),
            is_live: false,
            transaction_type: txn.kind.as_str(),
            gateway_response,
            merchant_details: MerchantDetails {
                legal_name: LEGAL_NAME,
                mid: merchant_id,
                merchant_txn_ref: &auth.merchant_txn_ref,
                billing_details: created_authorization.then_some(billing),
                device_details: created_authorization.then_some(DeviceDetails {
                    // GUESS: the fixture shows both equal; the sandbox does
                    // not see the shopper's address, so it echoes customer_ip.
                    visited_ip: auth.customer_ip.as_deref(),
                    customer_ip: auth.customer_ip.as_deref(),
                }),
            },
            payment_details: PaymentDetails {
                amount: txn.amount,
                response_code: txn.response_code,
                response_description: (view == View::Status)
                    .then(|| response_description(txn.response_code)),
                auth_code: &auth.auth_code,
                currency: CURRENCY,
                payment_method: card.payment_method,
                scheme: card.scheme,
                card: CardWire {
                    name: &card.name,
                    number: match view {
                        // GUESS for declines: echoed like an approval.
                        View::Created => card.pan.full().to_owned(),
                        View::Status => card.pan.masked(),
                    },
                    exp_month: &card.exp_month,
                    exp_year: &card.exp_year,
                },
                additional_data: txn
                    .approved()
                    .then(|| json!({"payment_data_source": {"type": "card"}})),
            },
            transaction_details: TransactionDetails {
                id: &txn.id,
                reference: txn.reference,
                timestamp: timestamp(txn.at),
                merchant_txn_ref: (view == View::Created).then_some(auth.merchant_txn_ref.as_str()),
                billing_details: (view == View::Status).then_some(billing),
            },
            risk_details: (view == View::Status || created_authorization)
                .then_some(RiskDetails { risk_score: None }),
        };
        Reply::json(status, &envelope)
    }
}

/// A finished HTTP answer.
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
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, JSON)], self.body).into_response()
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A refusal that created no transaction.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    response_code: Option<i64>,
    amount: Option<i64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            response_code: None,
            amount: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Unauthorized: {reason}. Send `Authorization: Basic <api key>` and `x-api-key: <api key>`."
            ),
        )
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Transaction not found: {id}"),
        )
    }

    fn invalid_card(message: &str) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("Invalid card: {message}"),
        )
    }

    fn precondition(response_code: i64, amount: Option<i64>, detail: &str) -> Self {
        Self {
            status: StatusCode::PRECONDITION_FAILED,
            message: format!("{}: {detail}", response_description(response_code)),
            response_code: Some(response_code),
            amount,
        }
    }

    fn life_cycle(detail: &str) -> Self {
        Self::precondition(RC_INVALID_LIFE_CYCLE, None, detail)
    }

    fn into_reply(self, transaction_type: Option<&'static str>) -> Reply {
        let number = self
            .response_code
            .unwrap_or(i64::from(self.status.as_u16()));
        let envelope = FailureEnvelope {
            success: false,
            status_code: self.status.as_u16(),
            is_live: false,
            transaction_type,
            gateway_response: GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "ERROR",
                message: &self.message,
                code: error_code(number),
            },
            payment_details: self.response_code.map(|code| FailurePaymentDetails {
                amount: self.amount,
                response_code: code,
                response_description: response_description(code),
                currency: CURRENCY,
            }),
        };
        Reply::json(self.status, &envelope)
    }
}

// ---------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(_) => Err(ApiError::bad_request("The request body is not valid JSON.")),
    }
}

/// A field that is absent or `null` counts as not sent.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn optional_text<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = field(body, name) else {
        return Ok(None);
    };
    let Some(text) = value.as_str() else {
        return Err(ApiError::bad_request(format!("`{name}` must be a string.")));
    };
    if text.chars().count() > max_chars {
        return Err(ApiError::bad_request(format!(
            "`{name}` must be at most {max_chars} characters."
        )));
    }
    Ok(Some(text))
}

fn required_text<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    max_chars: usize,
) -> Result<&'a str, ApiError> {
    optional_text(body, name, max_chars)?
        .filter(|text| !text.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("`{name}` is required.")))
}

/// Whole yen, as a JSON number or a numeric string: the docs' requests send
/// "1000" and their answers 1000.
fn parse_amount(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            // 1000.0 is still whole yen; beyond 2^53 a float is not exact.
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            let digits = !s.is_empty() && s.len() <= 15 && s.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| s.parse().ok()).flatten()
        }
        _ => None,
    }
}

fn required_amount(body: &Map<String, Value>) -> Result<i64, ApiError> {
    let value =
        field(body, "amount").ok_or_else(|| ApiError::bad_request("`amount` is required."))?;
    parse_amount(value).ok_or_else(|| {
        ApiError::bad_request(
            "`amount` must be a whole number of yen (a JSON number or a numeric string).",
        )
    })
}

fn check_merchant(body: &Map<String, Value>, env: &Env<'_>) -> Result<(), ApiError> {
    let sent = required_text(body, "merchant_id", MAX_MERCHANT_ID_CHARS)?;
    if sent == env.merchant_id {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "`merchant_id` does not match this merchant account.",
        ))
    }
}

/// The body of `authorization` and `payment`.
struct AuthorizationRequest {
    amount: i64,
    card: Card,
    merchant_txn_ref: String,
    customer_ip: Option<String>,
    billing_address: Value,
    shipping_address: Value,
    webhook_url: Option<String>,
}

impl AuthorizationRequest {
    /// Request errors (400) come before card errors (406), so a caller fixing
    /// its request sees the structural mistakes first.
    fn parse(body: &Map<String, Value>, env: &Env<'_>) -> Result<Self, ApiError> {
        check_merchant(body, env)?;
        let amount = required_amount(body)?;
        if amount < 1 {
            return Err(ApiError::bad_request("`amount` must be at least 1 yen."));
        }
        match field(body, "currency").and_then(Value::as_str) {
            Some(CURRENCY) => {}
            _ => return Err(ApiError::bad_request("`currency` must be \"JPY\".")),
        }
        let merchant_txn_ref = required_text(body, "merchant_txn_ref", MAX_MERCHANT_TXN_REF_CHARS)?;
        let customer_ip = optional_text(body, "customer_ip", 64)?;
        let webhook_url = optional_object(body, "return_url")?
            .get("webhook_url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let billing_address = optional_object(body, "billing_address")?;
        let shipping_address = optional_object(body, "shipping_address")?;
        let Some(card) = field(body, "card").and_then(Value::as_object) else {
            return Err(ApiError::bad_request("`card` must be an object."));
        };
        Ok(Self {
            amount,
            card: parse_card(card, env.now)?,
            merchant_txn_ref: merchant_txn_ref.to_owned(),
            customer_ip: customer_ip.map(str::to_owned),
            billing_address,
            shipping_address,
            webhook_url,
        })
    }
}

fn optional_object(body: &Map<String, Value>, name: &str) -> Result<Value, ApiError> {
    match field(body, name) {
        None => Ok(Value::Null),
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) => Err(ApiError::bad_request(format!(
            "`{name}` must be an object."
        ))),
    }
}

/// A card field as text; numbers are tolerated for the expiry fields, which
/// some clients send as integers.
fn card_text(card: &Map<String, Value>, name: &str) -> Option<String> {
    match field(card, name)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    }
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Validates the card as an acquirer would before asking the issuer. The
/// messages never repeat what was sent: card data stays out of answers that
/// a client may log.
fn parse_card(card: &Map<String, Value>, now: DateTime<Utc>) -> Result<Card, ApiError> {
    let number = match field(card, "number") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(ApiError::invalid_card("card.number is required")),
    };
    if !all_digits(&number) || !(12..=19).contains(&number.len()) {
        return Err(ApiError::invalid_card(
            "card.number must be 12 to 19 digits",
        ));
    }
    if !luhn_valid(&number) {
        return Err(ApiError::invalid_card("card.number fails the Luhn check"));
    }
    let cvc = match field(card, "cvc") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(ApiError::invalid_card("card.cvc is required")),
    };
    if !all_digits(cvc) || !(3..=4).contains(&cvc.len()) {
        return Err(ApiError::invalid_card("card.cvc must be 3 or 4 digits"));
    }
    let exp_month = card_text(card, "expiry_month").unwrap_or_default();
    let month = Some(exp_month.as_str())
        .filter(|m| all_digits(m) && m.len() <= 2)
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| (1..=12).contains(m))
        .ok_or_else(|| ApiError::invalid_card("card.expiry_month must be 1 to 12"))?;
    let exp_year = card_text(card, "expiry_year").unwrap_or_default();
    let year = expiry_year(&exp_year)
        .ok_or_else(|| ApiError::invalid_card("card.expiry_year must be 2 or 4 digits"))?;
    // A card is good through the last day of its expiry month.
    // GUESS: judged in UTC; the gateway's own time zone is not documented.
    if (year, month) < (now.year(), now.month()) {
        return Err(ApiError::invalid_card("the card has expired"));
    }
    let name = match field(card, "name") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::invalid_card("card.name must be a string")),
    };
    let (payment_method, scheme) = card_scheme(&number);
    Ok(Card {
        pan: Pan(number),
        name,
        exp_month,
        exp_year,
        payment_method,
        scheme,
    })
}

/// "24" is 2024, "2024" is 2024.
fn expiry_year(text: &str) -> Option<i32> {
    if !all_digits(text) {
        return None;
    }
    let year: i32 = text.parse().ok()?;
    match text.len() {
        2 => Some(2000 + year),
        4 => Some(year),
        _ => None,
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `(payment_method, scheme)` from the card's leading digits.
/// GUESS: only MASTERCARD / ECMC-SSL is shown by the sources; the other names
/// follow the same (Worldpay-style) pattern.
fn card_scheme(pan: &str) -> (&'static str, &'static str) {
    let prefix = |n: usize| pan.get(..n).and_then(|p| p.parse::<u32>().ok());
    let in_range =
        |n: usize, low: u32, high: u32| prefix(n).is_some_and(|p| (low..=high).contains(&p));
    if pan.starts_with('4') {
        ("VISA-SSL", "VISA")
    } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
        ("ECMC-SSL", "MASTERCARD")
    } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
        ("AMEX-SSL", "AMEX")
    } else if in_range(4, 3528, 3589) {
        ("JCB-SSL", "JCB")
    } else if in_range(2, 36, 36) || in_range(2, 38, 39) || in_range(3, 300, 305) {
        ("DINERS-SSL", "DINERS")
    } else {
        ("CARD-SSL", "UNKNOWN")
    }
}

/// First six, stars, last four: the status fixture's `545454******5454`.
fn mask_pan(pan: &str) -> String {
    if pan.len() < 10 || !pan.is_ascii() {
        return "*".repeat(pan.len());
    }
    let stars = "*".repeat(pan.len() - 10);
    format!("{}{stars}{}", &pan[..6], &pan[pan.len() - 4..])
}

/// The body of `capture`, `refund` and `void`.
struct FollowUpRequest {
    transaction_id: String,
    amount: Option<i64>,
}

impl FollowUpRequest {
    fn parse(
        body: &Map<String, Value>,
        env: &Env<'_>,
        needs_amount: bool,
    ) -> Result<Self, ApiError> {
        check_merchant(body, env)?;
        let transaction_id = required_text(body, "transactionId", MAX_TRANSACTION_ID_CHARS)?;
        let amount = if needs_amount {
            Some(required_amount(body)?)
        } else {
            None
        };
        // Notes are accepted and validated but not shown in any answer.
        optional_text(body, "notes", MAX_NOTES_CHARS)?;
        Ok(Self {
            transaction_id: transaction_id.to_owned(),
            amount,
        })
    }
}

// ---------------------------------------------------------------------------
// The API operations
// ---------------------------------------------------------------------------

/// One API operation, named by the route that received it.
enum Call {
    Authorize(Kind),
    Capture,
    Refund,
    Void,
    Status(String),
    Unknown,
}

impl Call {
    /// The `transaction_type` of this call's failure answers.
    fn transaction_type(&self) -> Option<&'static str> {
        match self {
            Self::Authorize(kind) => Some(kind.as_str()),
            Self::Capture => Some(Kind::Capture.as_str()),
            Self::Refund => Some(Kind::Refund.as_str()),
            Self::Void => Some(Kind::Void.as_str()),
            Self::Status(_) | Self::Unknown => None,
        }
    }
}

impl Books {
    fn perform(&mut self, call: &Call, body: &[u8], env: &Env<'_>) -> Result<Reply, ApiError> {
        match call {
            Call::Authorize(kind) => self.authorize(*kind, &parse_object(body)?, env),
            Call::Capture => self.capture(&parse_object(body)?, env),
            Call::Refund => self.refund(&parse_object(body)?, env),
            Call::Void => self.void(&parse_object(body)?, env),
            Call::Status(id) => Ok(self.envelope(self.find(id)?, View::Status, env.merchant_id)),
            Call::Unknown => Err(ApiError::new(StatusCode::NOT_FOUND, "No such API route.")),
        }
    }

    /// A PRE_AUTH reserves the amount; a SALE takes it at once. A decline
    /// still creates a transaction (with an id the status endpoint knows).
    fn authorize(
        &mut self,
        kind: Kind,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = AuthorizationRequest::parse(body, env)?;
        let decline = DECLINING_CARDS
            .iter()
            .find(|(pan, _)| *pan == request.card.pan.full())
            .map(|(_, code)| *code);
        let approved = decline.is_none();
        // The transaction first: the authorization is known by its id.
        let auth_index = self.authorizations.len();
        let code = decline.unwrap_or(RC_APPROVED);
        let index = self.record_with_code(kind, request.amount, auth_index, code, env);
        let id = self.transactions[index].id.clone();
        let sale = approved && kind == Kind::Sale;
        self.authorizations.push(Authorization {
            // Refunds of a sale name the sale itself.
            capture_id: sale.then(|| id.clone()),
            id,
            merchant_txn_ref: request.merchant_txn_ref,
            state: match (approved, kind) {
                (false, _) => AuthState::Declined,
                (true, Kind::Sale) => AuthState::Captured,
                (true, _) => AuthState::Authorized,
            },
            authorized: if approved { request.amount } else { 0 },
            captured: if sale { request.amount } else { 0 },
            refunded: 0,
            card: request.card,
            auth_code: if approved {
                format!("{:06}", rand::rng().random_range(0..1_000_000))
            } else {
                String::new()
            },
            customer_ip: request.customer_ip,
            billing_address: request.billing_address,
            shipping_address: request.shipping_address,
            webhook_url: request.webhook_url,
        });
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// One capture per pre-auth, up to the authorized amount; the rest is
    /// released to the cardholder.
    fn capture(&mut self, body: &Map<String, Value>, env: &Env<'_>) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, true)?;
        let amount = request.amount.unwrap_or_default();
        let original = &self.transactions[self.find(&request.transaction_id)?];
        if original.kind != Kind::PreAuth {
            return Err(ApiError::life_cycle("only a PRE_AUTH can be captured"));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        if auth.state != AuthState::Authorized {
            return Err(ApiError::life_cycle(&format!(
                "the authorization is {}",
                auth.state.as_str()
            )));
        }
        if amount < 1 {
            return Err(ApiError::precondition(
                RC_INVALID_AMOUNT,
                Some(amount),
                "the capture amount must be at least 1 yen",
            ));
        }
        if amount > auth.authorized {
            return Err(ApiError::precondition(
                RC_OVER_PRE_AUTHORIZED,
                Some(amount),
                "the capture amount exceeds the authorized amount",
            ));
        }
        auth.state = AuthState::Captured;
        auth.captured = amount;
        let index = self.record(Kind::Capture, amount, auth_index, env);
        self.authorizations[auth_index].capture_id = Some(self.transactions[index].id.clone());
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// Refunds name the CAPTURE (or SALE); several partial ones may follow
    /// each other until the captured amount is used up.
    fn refund(&mut self, body: &Map<String, Value>, env: &Env<'_>) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, true)?;
        let amount = request.amount.unwrap_or_default();
        let original = &self.transactions[self.find(&request.transaction_id)?];
        let refundable = matches!(original.kind, Kind::Capture | Kind::Sale) && original.approved();
        if !refundable {
            return Err(ApiError::life_cycle(
                "refunds take the transactionId of a CAPTURE or SALE",
            ));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        let remaining = auth.captured - auth.refunded;
        if amount < 1 || amount > remaining {
            return Err(ApiError::precondition(
                RC_INVALID_AMOUNT,
                Some(amount),
                &format!(
                    "the refund amount must be between 1 and the {remaining} yen not yet refunded"
                ),
            ));
        }
        auth.refunded += amount;
        let index = self.record(Kind::Refund, amount, auth_index, env);
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }

    /// Cancels a pre-auth that was not captured, releasing all of it.
    fn void(&mut self, body: &Map<String, Value>, env: &Env<'_>) -> Result<Reply, ApiError> {
        let request = FollowUpRequest::parse(body, env, false)?;
        let original = &self.transactions[self.find(&request.transaction_id)?];
        if original.kind != Kind::PreAuth {
            return Err(ApiError::life_cycle("only a PRE_AUTH can be voided"));
        }
        let auth_index = original.authorization;
        let auth = &mut self.authorizations[auth_index];
        if auth.state != AuthState::Authorized {
            return Err(ApiError::life_cycle(&format!(
                "the authorization is {}",
                auth.state.as_str()
            )));
        }
        auth.state = AuthState::Voided;
        let amount = auth.authorized;
        let index = self.record(Kind::Void, amount, auth_index, env);
        Ok(self.envelope(index, View::Created, env.merchant_id))
    }
}

// ---------------------------------------------------------------------------
// Request pipeline: auth, counting, action
// ---------------------------------------------------------------------------

impl PaymentOptionsSimulator {
    fn lock(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn env(&self) -> Env<'_> {
        Env {
            // Whole seconds, like the wire timestamps (`….000Z`).
            now: self.clock.now().trunc_subsecs(0),
            merchant_id: &self.merchant_id,
        }
    }

    async fn serve(&self, call: Call, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        if let Err(reason) = self.check_auth(&parts.headers) {
            return ApiError::unauthorized(reason)
                .into_reply(call.transaction_type())
                .into_response();
        }
        let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            self.lock().requests_seen += 1;
            return ApiError::bad_request("The request body is unreadable or too large.")
                .into_reply(call.transaction_type())
                .into_response();
        };
        let reply = self.handle(&call, &body);
        self.flush_notifications();
        reply.into_response()
    }

    /// Sends what the books queued, outside their lock.
    fn flush_notifications(&self) {
        let notifications: Vec<_> = {
            let mut books = self.lock();
            let outbox = std::mem::take(&mut books.outbox);
            outbox
                .into_iter()
                .map(|index| {
                    let txn = &books.transactions[index];
                    let url = books.authorizations[txn.authorization].webhook_url.clone();
                    let body = books.envelope(index, View::Status, &self.merchant_id).body;
                    (txn.id.clone(), txn.kind.as_str(), body, url)
                })
                .collect()
        };
        for (id, kind, body, url) in notifications {
            self.notifier.send(id, kind, body.to_vec(), url);
        }
    }

    /// Everything after the body is read happens under one lock.
    fn handle(&self, call: &Call, body: &[u8]) -> Reply {
        let env = self.env();
        let mut books = self.lock();
        books.requests_seen += 1;
        books
            .perform(call, body, &env)
            .unwrap_or_else(|e| e.into_reply(call.transaction_type()))
    }

    /// Both headers must carry the key. After `Basic ` the seed shows the raw
    /// key and the manual base64 of it; both are accepted.
    fn check_auth(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let key = &*self.api_key;
        let authorization =
            text(header::AUTHORIZATION.as_str()).ok_or("the Authorization header is missing")?;
        let credentials = authorization
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, credentials)| credentials.trim())
            .ok_or("the Authorization header must be `Basic <api key>`")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if credentials.is_empty() || (credentials != key && decoded.as_deref() != Some(key)) {
            return Err("the Authorization header carries a wrong API key");
        }
        match text("x-api-key") {
            None => Err("the x-api-key header is missing"),
            Some(sent) if sent.is_empty() || sent != key => {
                Err("the x-api-key header carries a wrong API key")
            }
            Some(_) => Ok(()),
        }
    }
}

/// A random (version 4, RFC 4122 variant) UUID, lower-case and hyphenated.
fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

// ---------------------------------------------------------------------------
// Axum handlers
// ---------------------------------------------------------------------------

async fn authorization(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Authorize(Kind::PreAuth), request).await
}

async fn payment(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Authorize(Kind::Sale), request).await
}

async fn capture(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Capture, request).await
}

async fn refund(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Refund, request).await
}

async fn void(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Void, request).await
}

async fn status(
    State(sim): State<PaymentOptionsSimulator>,
    Path(transaction_id): Path<String>,
    request: Request,
) -> Response {
    sim.serve(Call::Status(transaction_id), request).await
}

/// Unknown API paths answer like the API does (auth first, then a 404
/// envelope) instead of axum's empty 404.
async fn unknown_route(State(sim): State<PaymentOptionsSimulator>, request: Request) -> Response {
    sim.serve(Call::Unknown, request).await
}

async fn ledger_route(
    State(sim): State<PaymentOptionsSimulator>,
) -> axum::Json<PaymentOptionsLedger> {
    axum::Json(sim.ledger())
}

/// Sandbox only: the real API has no lookup by `merchant_txn_ref`.
async fn by_ref_route(
    State(sim): State<PaymentOptionsSimulator>,
    Path(merchant_txn_ref): Path<String>,
) -> axum::Json<Vec<String>> {
    axum::Json(sim.lock().ids_for_ref(&merchant_txn_ref))
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

    const KEY: &str = "po_test_key_123";
    const MID: &str = "JP00000328";
    const P: &str = "/api/v1/server-to-server-interface";
    const DOUBLED: &str = "/api/v1/api/v1/server-to-server-interface";
    const APPROVE: &str = "5200000000001005";
    const AUTHORIZATION_REQUEST: &str =
        include_str!("../../../tests/fixtures/paymentoptions/authorization.request.json");
    const AUTHORIZATION_FIXTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/authorization.response.pre_auth.json");
    const CAPTURE_FIXTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/capture.response.json");
    const REFUND_FIXTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/refund.response.json");
    const VOID_FIXTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/void.response.json");
    const STATUS_FIXTURE: &str = include_str!(
        "../../../tests/fixtures/paymentoptions/transaction_status.response.capture.json"
    );
    const FAILURE_FIXTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/failure.INVENTED.declined_406.json");

    struct Sim {
        sim: PaymentOptionsSimulator,
        clock: ManualClock,
        app: Router,
    }

    struct Answer {
        status: StatusCode,
        json: Value,
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 2, 3, 15, 42)
            .single()
            .expect("a valid date")
    }

    fn sim() -> Sim {
        let clock = ManualClock::new(start());
        let sim = PaymentOptionsSimulator::new(Arc::new(clock.clone()), KEY, MID);
        let app = sim.router();
        Sim { sim, clock, app }
    }

    /// The fixture's request with our merchant, a future expiry and `pan`.
    fn authorization_body(pan: &str, amount: Value) -> Value {
        let mut body: Value = serde_json::from_str(AUTHORIZATION_REQUEST).expect("fixture JSON");
        body["merchant_id"] = json!(MID);
        body["amount"] = amount;
        body["card"]["number"] = json!(pan);
        body["card"]["expiry_year"] = json!("30");
        body
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn is_uuid_v4(id: &str) -> bool {
        let parts: Vec<&str> = id.split('-').collect();
        let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        lengths == [8, 4, 4, 4, 12]
            && parts.iter().all(|p| {
                p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            && parts[2].starts_with('4')
            && parts[3].starts_with(['8', '9', 'a', 'b'])
    }

    impl Sim {
        async fn send(&self, request: HttpRequest<Body>) -> Answer {
            let response = self.app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("a complete body");
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Answer { status, json }
        }

        async fn call_with(
            &self,
            method: &str,
            path: &str,
            body: Option<&Value>,
            authorization: &str,
            api_key: Option<&str>,
        ) -> Answer {
            let mut builder = HttpRequest::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, authorization)
                .header(header::CONTENT_TYPE, JSON);
            if let Some(key) = api_key {
                builder = builder.header("x-api-key", key);
            }
            let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
            self.send(builder.body(body).expect("a valid request"))
                .await
        }

        async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
            self.call_with(method, path, body, &format!("Basic {KEY}"), Some(KEY))
                .await
        }

        async fn post(&self, operation: &str, body: &Value) -> Answer {
            self.call("POST", &format!("{P}/{operation}"), Some(body))
                .await
        }

        async fn authorize(&self, pan: &str, amount: i64) -> Answer {
            self.post("authorization", &authorization_body(pan, json!(amount)))
                .await
        }

        /// An approved PRE_AUTH's id.
        async fn pre_auth(&self, amount: i64) -> String {
            let answer = self.authorize(APPROVE, amount).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
            id_of(&answer)
        }

        async fn follow_up(&self, operation: &str, id: &str, amount: Option<i64>) -> Answer {
            let mut body = json!({"transactionId": id, "merchant_id": MID, "notes": "test"});
            if let Some(amount) = amount {
                body["amount"] = json!(amount);
            }
            self.post(operation, &body).await
        }

        async fn status_of(&self, id: &str) -> Answer {
            self.call("GET", &format!("{P}/transaction/status/{id}"), None)
                .await
        }
    }

    fn id_of(answer: &Answer) -> String {
        answer.json["transaction_details"]["id"]
            .as_str()
            .expect("a transaction id")
            .to_owned()
    }

    fn assert_failure(answer: &Answer, status: StatusCode, response_code: Option<i64>) {
        assert_eq!(answer.status, status, "{}", answer.json);
        assert_eq!(answer.json["success"], false);
        assert_eq!(answer.json["status_code"], status.as_u16());
        assert_eq!(answer.json["gateway_response"]["type"], "ERROR");
        assert!(answer.json["gateway_response"]["message"].is_string());
        match response_code {
            Some(code) => assert_eq!(answer.json["payment_details"]["response_code"], code),
            None => assert!(answer.json.get("payment_details").is_none()),
        }
    }

    #[tokio::test]
    async fn a_pre_auth_is_approved_echoing_the_full_pan_and_the_status_masks_it() {
        let s = sim();
        let answer = s.authorize(APPROVE, 1000).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let json = &answer.json;
        assert_eq!(json["success"], true);
        assert_eq!(json["status_code"], 201);
        assert_eq!(json["is_live"], false);
        assert_eq!(json["transaction_type"], "PRE_AUTH");
        assert_eq!(json["gateway_response"]["code"], "INFO0000");
        assert_eq!(json["payment_details"]["card"]["number"], APPROVE);
        assert_eq!(json["payment_details"]["amount"], 1000);
        assert_eq!(json["payment_details"]["response_code"], 0);
        assert_eq!(json["payment_details"]["scheme"], "MASTERCARD");
        assert_eq!(json["merchant_details"]["mid"], MID);
        assert_eq!(json["transaction_details"]["merchant_txn_ref"], "qwe");
        assert_eq!(
            json["transaction_details"]["timestamp"],
            "2025-06-02T03:15:42.000Z"
        );
        assert!(json["transaction_details"]["ref"].is_i64());
        let id = id_of(&answer);
        assert!(is_uuid_v4(&id), "{id}");
        assert!(json.to_string().find("\"100\"").is_none(), "no CVC echoed");
        assert_eq!(keys(json), keys(&fixture(AUTHORIZATION_FIXTURE)));
        assert_eq!(
            keys(&json["merchant_details"]),
            keys(&fixture(AUTHORIZATION_FIXTURE)["merchant_details"])
        );

        let status = s.status_of(&id).await;
        assert_eq!(status.status, StatusCode::OK);
        assert_eq!(status.json["status_code"], 200);
        assert_eq!(status.json["transaction_type"], "PRE_AUTH");
        assert_eq!(
            status.json["payment_details"]["card"]["number"],
            "520000******1005"
        );
        assert_eq!(status.json["transaction_details"]["id"], id.as_str());
        assert!(!status.json.to_string().contains(APPROVE));
        let status_fixture = fixture(STATUS_FIXTURE);
        assert_eq!(keys(&status.json), keys(&status_fixture));
        for part in ["payment_details", "transaction_details", "merchant_details"] {
            assert_eq!(
                keys(&status.json[part]),
                keys(&status_fixture[part]),
                "{part}"
            );
        }
    }

    #[tokio::test]
    async fn each_declining_card_answers_402_with_its_response_code() {
        let s = sim();
        for (pan, code) in DECLINING_CARDS {
            let answer = s.authorize(pan, 1000).await;
            assert_eq!(answer.status, StatusCode::PAYMENT_REQUIRED, "{pan}");
            let json = &answer.json;
            assert_eq!(json["success"], false);
            assert_eq!(json["status_code"], 402);
            assert_eq!(json["transaction_type"], "PRE_AUTH");
            assert_eq!(json["payment_details"]["response_code"], code);
            assert_eq!(json["gateway_response"]["type"], "ERROR");
            assert_eq!(json["payment_details"]["scheme"], "VISA");
            let id = id_of(&answer);
            assert!(is_uuid_v4(&id));
            let status = s.status_of(&id).await;
            assert_eq!(status.json["success"], false);
            assert_eq!(status.json["payment_details"]["response_code"], code);
        }
        assert_eq!(
            keys(&s.authorize("4000000000000002", 1000).await.json),
            keys(&fixture(FAILURE_FIXTURE))
        );
        let ledger = s.sim.ledger();
        assert_eq!(ledger.authorizations.len(), 4);
        assert!(
            ledger
                .authorizations
                .iter()
                .all(|a| a.status == "declined" && a.authorized == 0 && a.capture_id.is_none())
        );
        let declined = s
            .follow_up("capture", &ledger.authorizations[0].id, Some(1))
            .await;
        assert_failure(&declined, StatusCode::PRECONDITION_FAILED, Some(84));
    }

    #[tokio::test]
    async fn invalid_cards_are_406_and_create_nothing() {
        let s = sim();
        let cases: [(&str, &str, Value); 8] = [
            ("number", "5200000000001006", json!("30")),
            ("number", "52000000000a1005", json!("30")),
            ("number", "42424242424", json!("30")),
            ("number", "42424242424242424242", json!("30")),
            ("expiry_year", APPROVE, json!("24")),
            ("expiry_year", APPROVE, json!("2025x")),
            ("cvc", APPROVE, json!("30")),
            ("expiry_month", APPROVE, json!("30")),
        ];
        for (what, pan, year) in cases {
            let mut body = authorization_body(pan, json!(1000));
            body["card"]["expiry_year"] = year;
            match what {
                "cvc" => body["card"]["cvc"] = json!("12"),
                "expiry_month" => body["card"]["expiry_month"] = json!("13"),
                _ => {}
            }
            let answer = s.post("authorization", &body).await;
            assert_failure(&answer, StatusCode::NOT_ACCEPTABLE, None);
            assert_eq!(answer.json["transaction_type"], "PRE_AUTH");
            let message = answer.json.to_string();
            assert!(!message.contains(pan), "the answer repeats the card number");
        }
        assert!(s.sim.ledger().authorizations.is_empty());
        assert_eq!(s.sim.requests_seen(), 8);
    }

    #[tokio::test]
    async fn card_expiry_follows_the_clock() {
        let s = sim();
        let mut body = authorization_body(APPROVE, json!(1000));
        body["card"]["expiry_month"] = json!(6);
        body["card"]["expiry_year"] = json!("2025");
        assert_eq!(
            s.post("authorization", &body).await.status,
            StatusCode::CREATED
        );
        s.clock.set(
            Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0)
                .single()
                .expect("a date"),
        );
        let answer = s.post("authorization", &body).await;
        assert_failure(&answer, StatusCode::NOT_ACCEPTABLE, None);
    }

    #[tokio::test]
    async fn a_partial_capture_is_a_new_capture_transaction_and_only_one_is_allowed() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        let capture = s.follow_up("capture", &pre_auth, Some(600)).await;
        assert_eq!(capture.status, StatusCode::CREATED, "{}", capture.json);
        assert_eq!(capture.json["transaction_type"], "CAPTURE");
        assert_eq!(capture.json["gateway_response"]["code"], "INFO0001");
        assert_eq!(capture.json["status_code"], 201);
        assert_eq!(capture.json["payment_details"]["amount"], 600);
        // As seed 001 shows: the capture echoes the full card number.
        assert_eq!(capture.json["payment_details"]["card"]["number"], APPROVE);
        let capture_id = id_of(&capture);
        assert_ne!(capture_id, pre_auth);
        assert!(is_uuid_v4(&capture_id));

        let again = s.follow_up("capture", &pre_auth, Some(400)).await;
        assert_failure(&again, StatusCode::PRECONDITION_FAILED, Some(84));
        let ledger = s.sim.ledger();
        let auth = &ledger.authorizations[0];
        assert_eq!(auth.status, "captured");
        assert_eq!((auth.authorized, auth.captured), (1000, 600));
        assert_eq!(auth.capture_id.as_deref(), Some(capture_id.as_str()));

        let status = s.status_of(&capture_id).await;
        assert_eq!(status.json["transaction_type"], "CAPTURE");
        assert_eq!(status.json["payment_details"]["amount"], 600);
        assert_eq!(status.json["gateway_response"]["code"], "INFO0000");
    }

    #[tokio::test]
    async fn the_capture_answer_has_the_seed_shape() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        let capture = s.follow_up("capture", &pre_auth, Some(1000)).await;
        let seed = fixture(CAPTURE_FIXTURE);
        assert_eq!(keys(&capture.json), keys(&seed));
        for part in [
            "gateway_response",
            "merchant_details",
            "payment_details",
            "transaction_details",
        ] {
            assert_eq!(keys(&capture.json[part]), keys(&seed[part]), "{part}");
        }
        assert_eq!(
            keys(&capture.json["payment_details"]["card"]),
            keys(&seed["payment_details"]["card"])
        );
        assert_eq!(capture.json["gateway_response"], seed["gateway_response"]);
    }

    #[tokio::test]
    async fn capturing_more_than_authorized_is_412_836() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        let answer = s.follow_up("capture", &pre_auth, Some(1001)).await;
        assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(836));
        assert_eq!(answer.json["transaction_type"], "CAPTURE");
        let zero = s.follow_up("capture", &pre_auth, Some(0)).await;
        assert_failure(&zero, StatusCode::PRECONDITION_FAILED, Some(13));
        assert_eq!(s.sim.ledger().authorizations[0].status, "authorized");
        let unknown = s
            .follow_up("capture", "9dfd39ec-eb4a-4f8b-a526-17abf140a717", Some(1))
            .await;
        assert_failure(&unknown, StatusCode::NOT_FOUND, None);
    }

    #[tokio::test]
    async fn refunds_take_the_capture_id_several_partials_then_no_more() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        let capture_id = id_of(&s.follow_up("capture", &pre_auth, Some(800)).await);
        let first = s.follow_up("refund", &capture_id, Some(300)).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
        assert_eq!(first.json["transaction_type"], "REFUND");
        assert_eq!(first.json["gateway_response"]["code"], "INFO0002");
        assert_eq!(keys(&first.json), keys(&fixture(REFUND_FIXTURE)));
        let second = s.follow_up("refund", &capture_id, Some(500)).await;
        assert_eq!(second.status, StatusCode::CREATED);
        assert_ne!(id_of(&first), id_of(&second));
        let beyond = s.follow_up("refund", &capture_id, Some(1)).await;
        assert_failure(&beyond, StatusCode::PRECONDITION_FAILED, Some(13));
        let auth = &s.sim.ledger().authorizations[0];
        assert_eq!((auth.captured, auth.refunded), (800, 800));
        assert_eq!(auth.status, "captured");
    }

    #[tokio::test]
    async fn a_refund_beyond_the_captured_amount_is_412() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        let capture_id = id_of(&s.follow_up("capture", &pre_auth, Some(500)).await);
        let answer = s.follow_up("refund", &capture_id, Some(501)).await;
        assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(13));
        assert_eq!(s.sim.ledger().authorizations[0].refunded, 0);
    }

    #[tokio::test]
    async fn a_refund_naming_the_pre_auth_is_412() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        s.follow_up("capture", &pre_auth, Some(1000)).await;
        let answer = s.follow_up("refund", &pre_auth, Some(100)).await;
        assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(84));
        assert_eq!(answer.json["transaction_type"], "REFUND");
        assert_eq!(s.sim.ledger().authorizations[0].refunded, 0);
    }

    #[tokio::test]
    async fn a_void_before_capture_succeeds_and_after_capture_is_412() {
        let s = sim();
        let voided = s.pre_auth(1000).await;
        let void = s.follow_up("void", &voided, None).await;
        assert_eq!(void.status, StatusCode::CREATED, "{}", void.json);
        assert_eq!(void.json["transaction_type"], "VOID");
        assert_eq!(void.json["gateway_response"]["code"], "INFO0003");
        assert_eq!(void.json["payment_details"]["amount"], 1000);
        assert_eq!(keys(&void.json), keys(&fixture(VOID_FIXTURE)));
        assert_ne!(id_of(&void), voided);
        let twice = s.follow_up("void", &voided, None).await;
        assert_failure(&twice, StatusCode::PRECONDITION_FAILED, Some(84));
        let capture = s.follow_up("capture", &voided, Some(1000)).await;
        assert_failure(&capture, StatusCode::PRECONDITION_FAILED, Some(84));

        let captured = s.pre_auth(2000).await;
        let capture_id = id_of(&s.follow_up("capture", &captured, Some(2000)).await);
        let late = s.follow_up("void", &captured, None).await;
        assert_failure(&late, StatusCode::PRECONDITION_FAILED, Some(84));
        let of_capture = s.follow_up("void", &capture_id, None).await;
        assert_failure(&of_capture, StatusCode::PRECONDITION_FAILED, Some(84));

        let ledger = s.sim.ledger();
        assert_eq!(ledger.authorizations[0].status, "voided");
        assert_eq!(ledger.authorizations[0].captured, 0);
        assert_eq!(ledger.authorizations[1].status, "captured");
    }

    #[tokio::test]
    async fn a_sale_is_authorized_and_captured_at_once_and_refunded_by_its_own_id() {
        let s = sim();
        let sale = s
            .post("payment", &authorization_body(APPROVE, json!("1500")))
            .await;
        assert_eq!(sale.status, StatusCode::CREATED, "{}", sale.json);
        assert_eq!(sale.json["transaction_type"], "SALE");
        assert_eq!(sale.json["gateway_response"]["code"], "INFO0000");
        assert_eq!(sale.json["payment_details"]["amount"], 1500);
        let id = id_of(&sale);
        let auth = &s.sim.ledger().authorizations[0];
        assert_eq!(auth.status, "captured");
        assert_eq!((auth.authorized, auth.captured), (1500, 1500));
        assert_eq!(auth.capture_id.as_deref(), Some(id.as_str()));

        let capture = s.follow_up("capture", &id, Some(1500)).await;
        assert_failure(&capture, StatusCode::PRECONDITION_FAILED, Some(84));
        let void = s.follow_up("void", &id, None).await;
        assert_failure(&void, StatusCode::PRECONDITION_FAILED, Some(84));
        let refund = s.follow_up("refund", &id, Some(1500)).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.json);

        let declined = s
            .post(
                "payment",
                &authorization_body("4000000000009995", json!(10)),
            )
            .await;
        assert_eq!(declined.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(declined.json["transaction_type"], "SALE");
        assert_eq!(declined.json["payment_details"]["response_code"], 51);
    }

    #[tokio::test]
    async fn both_path_prefixes_serve_the_api() {
        let s = sim();
        let body = authorization_body(APPROVE, json!(1000));
        let doubled = s
            .call("POST", &format!("{DOUBLED}/authorization"), Some(&body))
            .await;
        assert_eq!(doubled.status, StatusCode::CREATED);
        let id = id_of(&doubled);
        let single = s.status_of(&id).await;
        assert_eq!(single.status, StatusCode::OK);
        let status = s
            .call("GET", &format!("{DOUBLED}/transaction/status/{id}"), None)
            .await;
        assert_eq!(status.json, single.json);
        let capture = s
            .call(
                "POST",
                &format!("{DOUBLED}/capture"),
                Some(&json!({"transactionId": id, "amount": 1000, "merchant_id": MID})),
            )
            .await;
        assert_eq!(capture.status, StatusCode::CREATED);
        let unknown = s.call("GET", &format!("{P}/charges"), None).await;
        assert_failure(&unknown, StatusCode::NOT_FOUND, None);
    }

    #[tokio::test]
    async fn raw_and_base64_basic_keys_are_accepted_and_wrong_keys_are_401() {
        let s = sim();
        let body = authorization_body(APPROVE, json!(1000));
        let path = format!("{P}/authorization");
        let encoded = base64::engine::general_purpose::STANDARD.encode(KEY);
        for authorization in [format!("Basic {KEY}"), format!("basic {encoded}")] {
            let answer = s
                .call_with("POST", &path, Some(&body), &authorization, Some(KEY))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{authorization}");
        }
        assert_eq!(s.sim.requests_seen(), 2);
        let raw = format!("Basic {KEY}");
        let refusals = [
            (raw.as_str(), Some("wrong")),
            (raw.as_str(), None),
            ("Basic wrong", Some(KEY)),
            (KEY, Some(KEY)),
            ("Bearer po_test_key_123", Some(KEY)),
        ];
        for (authorization, api_key) in refusals {
            let answer = s
                .call_with("POST", &path, Some(&body), authorization, api_key)
                .await;
            assert_failure(&answer, StatusCode::UNAUTHORIZED, None);
        }
        let missing = HttpRequest::builder()
            .uri(format!("{P}/transaction/status/x"))
            .body(Body::empty())
            .expect("a valid request");
        assert_eq!(s.send(missing).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(s.sim.requests_seen(), 2, "refused requests are not counted");
        assert_eq!(s.sim.ledger().authorizations.len(), 2);
    }

    #[tokio::test]
    async fn the_ledger_never_holds_the_full_pan() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        s.follow_up("capture", &pre_auth, Some(1000)).await;
        s.authorize("4000000000000002", 1000).await;
        let ledger = s.sim.ledger();
        let text = serde_json::to_string(&ledger).expect("serializable");
        assert!(!text.contains(APPROVE));
        assert!(!text.contains("4000000000000002"));
        assert_eq!(ledger.authorizations[0].card_last4, "1005");
        assert_eq!(ledger.authorizations[1].card_last4, "0002");

        let served = s
            .send(
                HttpRequest::builder()
                    .uri("/_sandbox/ledger")
                    .body(Body::empty())
                    .expect("a valid request"),
            )
            .await;
        assert_eq!(served.status, StatusCode::OK);
        assert!(!served.json.to_string().contains(APPROVE));
        let parsed: PaymentOptionsLedger = serde_json::from_value(served.json).expect("a ledger");
        assert_eq!(parsed, ledger);
        assert_eq!(s.sim.requests_seen(), 3, "control routes are not counted");
        let debug = format!("{:?}", Pan(APPROVE.to_owned()));
        assert!(!debug.contains(APPROVE));
    }

    #[tokio::test]
    async fn an_injected_fault_is_met_before_the_provider_acts() {
        let s = sim();
        s.sim.faults().inject(Fault::new(
            "POST",
            "/authorization",
            FaultKind::Status {
                status: 503,
                body: json!({"success": false}),
            },
        ));
        let faulted = s.authorize(APPROVE, 1000).await;
        assert_eq!(faulted.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(s.sim.ledger().authorizations.is_empty());
        assert_eq!(s.sim.requests_seen(), 0);
        assert_eq!(s.authorize(APPROVE, 1000).await.status, StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_capture_whose_answer_was_dropped_is_found_by_looking_it_up() {
        let s = sim();
        let pre_auth = s.pre_auth(1000).await;
        s.sim
            .faults()
            .inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
        let request = HttpRequest::builder()
            .method("POST")
            .uri(format!("{P}/capture"))
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .header("x-api-key", KEY)
            .body(Body::from(
                json!({"transactionId": pre_auth, "amount": 1000, "merchant_id": MID}).to_string(),
            ))
            .expect("a valid request");
        let response = s.app.clone().oneshot(request).await.expect("infallible");
        assert!(
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .is_err()
        );
        let capture_id = s.sim.ledger().authorizations[0]
            .capture_id
            .clone()
            .expect("the provider acted");
        let by_ref = s
            .send(
                HttpRequest::builder()
                    .uri("/_sandbox/transactions/by-ref/qwe")
                    .body(Body::empty())
                    .expect("a valid request"),
            )
            .await;
        assert_eq!(by_ref.json, json!([pre_auth, capture_id]));
        let status = s.status_of(&capture_id).await;
        assert_eq!(status.json["transaction_type"], "CAPTURE");
    }

    #[tokio::test]
    async fn bad_requests_are_400_envelopes_not_panics() {
        let s = sim();
        let path = format!("{P}/authorization");
        for raw in ["{not json", "[1,2]", "\"text\"", ""] {
            let request = HttpRequest::builder()
                .method("POST")
                .uri(&path)
                .header(header::AUTHORIZATION, format!("Basic {KEY}"))
                .header("x-api-key", KEY)
                .body(Body::from(raw))
                .expect("a valid request");
            assert_failure(&s.send(request).await, StatusCode::BAD_REQUEST, None);
        }
        let good = authorization_body(APPROVE, json!(1000));
        let edits: [(&str, Value); 9] = [
            ("merchant_id", json!("JP00000329")),
            ("merchant_id", json!("JP000003280")),
            ("merchant_id", Value::Null),
            ("currency", json!("USD")),
            ("merchant_txn_ref", json!("r".repeat(46))),
            ("merchant_txn_ref", Value::Null),
            ("amount", json!("12a")),
            ("amount", json!(0)),
            ("card", json!("5200000000001005")),
        ];
        for (name, value) in edits {
            let mut body = good.clone();
            body[name] = value;
            let answer = s.post("authorization", &body).await;
            assert_failure(&answer, StatusCode::BAD_REQUEST, None);
        }
        let capture = s
            .post("capture", &json!({"amount": 1, "merchant_id": MID}))
            .await;
        assert_failure(&capture, StatusCode::BAD_REQUEST, None);
        let long_notes = s
            .post(
                "refund",
                &json!({"transactionId": "x", "amount": 1, "merchant_id": MID, "notes": "n".repeat(129)}),
            )
            .await;
        assert_failure(&long_notes, StatusCode::BAD_REQUEST, None);
        assert!(s.sim.ledger().authorizations.is_empty());
    }

    #[tokio::test]
    async fn amounts_may_be_numbers_or_numeric_strings() {
        let s = sim();
        for amount in [json!(1000), json!("1000"), json!(1000.0)] {
            let answer = s
                .post("authorization", &authorization_body(APPROVE, amount))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED);
            assert_eq!(answer.json["payment_details"]["amount"], 1000);
        }
        let id = s.sim.ledger().authorizations[0].id.clone();
        let capture = s
            .post(
                "capture",
                &json!({"transactionId": id, "amount": "400", "merchant_id": MID}),
            )
            .await;
        assert_eq!(capture.json["payment_details"]["amount"], 400);
    }

    #[tokio::test]
    async fn unknown_transactions_are_404() {
        let s = sim();
        let status = s.status_of("e0b0731e-7170-4b64-8a21-7d835eebd641").await;
        assert_failure(&status, StatusCode::NOT_FOUND, None);
        for operation in ["refund", "void"] {
            let answer = s.follow_up(operation, "nope", Some(1)).await;
            assert_failure(&answer, StatusCode::NOT_FOUND, None);
        }
    }

    #[tokio::test]
    async fn nested_under_a_prefix_the_api_and_the_controls_work() {
        let s = sim();
        let app = Router::new().nest("/paymentoptions", s.sim.router());
        let request = HttpRequest::builder()
            .method("POST")
            .uri(format!("/paymentoptions{DOUBLED}/authorization"))
            .header(header::AUTHORIZATION, format!("Basic {KEY}"))
            .header("x-api-key", KEY)
            .body(Body::from(
                authorization_body(APPROVE, json!(1000)).to_string(),
            ))
            .expect("a valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::CREATED);
        let ledger = HttpRequest::builder()
            .uri("/paymentoptions/_sandbox/ledger")
            .body(Body::empty())
            .expect("a valid request");
        let response = app.oneshot(ledger).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn helpers_check_luhn_mask_pans_and_make_v4_uuids() {
        for pan in [
            APPROVE,
            "5454545454545454",
            "4000000000000002",
            "4000000000009995",
        ] {
            assert!(luhn_valid(pan), "{pan}");
        }
        assert!(!luhn_valid("5200000000001006"));
        assert_eq!(mask_pan("5454545454545454"), "545454******5454");
        assert_eq!(mask_pan("520000000001"), "520000**0001");
        assert!((0..100).map(|_| uuid_v4()).all(|id| is_uuid_v4(&id)));
        assert_ne!(uuid_v4(), uuid_v4());
        assert_eq!(card_scheme("3530111333300000"), ("JCB-SSL", "JCB"));
        assert_eq!(card_scheme("2223000048400011").1, "MASTERCARD");
    }
}
