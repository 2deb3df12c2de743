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

mod books;
mod cards;
mod errors;
mod handlers;
mod input;
mod operations;
#[cfg(test)]
mod tests;
mod webhooks;
mod wire;

use std::sync::Arc;

use axum::Router;
use kessai_clock::SharedClock;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::pipeline::Core;
use books::Books;

/// The heading's prefix and the doubled one of the docs' curl examples (and
/// the seed); the real host is said to answer on both, so we do too.
const PATH_PREFIXES: [&str; 2] = [
    "/api/v1/server-to-server-interface",
    "/api/v1/api/v1/server-to-server-interface",
];

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

/// The simulated PaymentOptions merchant account. Clones share the same books.
#[derive(Clone)]
pub struct PaymentOptionsSimulator {
    core: Core<Books>,
    api_key: Arc<str>,
    merchant_id: Arc<str>,
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
            core: Core::new(clock),
            api_key: api_key.into(),
            merchant_id: merchant_id.into(),
        }
    }

    /// The API under both path prefixes (behind the fault layer) and the
    /// sandbox controls under `/_sandbox` (neither authenticated nor faulted,
    /// so a test can always inspect and repair the simulator).
    pub fn router(&self) -> Router {
        self.core
            .router(self.clone(), handlers::api(), handlers::control())
    }

    pub fn faults(&self) -> &Faults {
        &self.core.faults
    }

    pub fn ledger(&self) -> PaymentOptionsLedger {
        self.core.lock().ledger()
    }

    /// How many authenticated API requests reached the simulator.
    pub fn requests_seen(&self) -> usize {
        self.core.requests_seen()
    }
}
