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

mod books;
mod errors;
mod handlers;
mod input;
mod list;
mod operations;
mod pages;
mod requests;
#[cfg(test)]
mod tests;
mod webhooks;
mod wire;

use std::sync::Arc;

use axum::Router;
use chrono::Duration;
use kessai_clock::SharedClock;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::pipeline::Core;
use books::Books;

/// Seed 000: an order must be captured within 7 days of authorization.
const AUTHORIZATION_WINDOW: Duration = Duration::days(7);
/// providers.md: Smartpay honours an `Idempotency-Key` for 6 hours.
const IDEMPOTENCY_RETENTION: Duration = Duration::hours(6);
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

/// The simulated Smartpay merchant account. Clones share the same books.
#[derive(Clone)]
pub struct SmartpaySimulator {
    core: Core<Books>,
    public_base_url: Arc<str>,
    secret_key: Arc<str>,
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
            core: Core::new(clock),
            public_base_url: public_base_url.trim_end_matches('/').into(),
            secret_key: secret_key.into(),
        }
    }

    /// The API under `/v1` (behind the fault layer) and the sandbox controls
    /// under `/_sandbox` (neither authenticated nor faulted, so a test can
    /// always inspect and repair the simulator).
    pub fn router(&self) -> Router {
        self.core
            .router(self.clone(), handlers::api(), handlers::control())
    }

    pub fn faults(&self) -> &Faults {
        &self.core.faults
    }

    pub fn ledger(&self) -> SmartpayLedger {
        let now = self.core.clock.now_ms();
        let mut books = self.core.lock();
        books.settle_expired(now);
        books.ledger()
    }

    /// How many authenticated `/v1` requests reached the simulator.
    pub fn requests_seen(&self) -> usize {
        self.core.requests_seen()
    }
}
