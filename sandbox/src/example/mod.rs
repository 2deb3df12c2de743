//! The simulator of kessai's test-only example provider (the cargo feature
//! `example-provider`): a small card API of kessai's own design, written
//! from its description in `src/providers/example/mod.rs`'s documentation,
//! never from the adapter's types. It serves, under `/v1` with `Authorization:
//! Bearer <key>` and an optional `Idempotency-Key` on every POST (kept for
//! the life of the charge):
//!
//! - `POST /v1/charges` `{amount, currency, card_token, capture, reference}`:
//!   `tok_decline` is declined (402 `card_declined`, no charge made), any
//!   other `tok_…` authorizes for 7 days, anything else is 404
//!   `token_not_found`;
//! - `GET /v1/charges/{id}`;
//! - `POST /v1/charges/{id}/captures` `{amount, final}`: any number while
//!   they fit; `final` (or nothing left) releases the rest;
//! - `POST /v1/charges/{id}/void`: releases a charge nothing was captured of;
//! - `POST /v1/refunds` `{charge, amount, reason}`: up to what was captured;
//! - `GET /_sandbox/ledger` and the fault controls.
//!
//! Errors are `{"error": {"code", "message"}}`. Once told where
//! ([`ExampleSimulator::deliver_webhooks_to`]) it notifies
//! `{"id": "evt_…", "type": "charge.authorized|captured|voided|refunded",
//! "charge": "ch_…"}` signed with `Example-Signature: t=…,v1=…`.

mod books;
mod handlers;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use kessai_clock::SharedClock;
use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::pipeline::Core;
use books::Books;

/// The API key the simulator accepts and sandbox mode configures.
pub const SANDBOX_API_KEY: &str = "test_kessai_example";
/// The shared secret it signs notifications with in sandbox mode.
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_kessai_example_sandbox";

/// The simulated account. Clones share the same books.
#[derive(Clone)]
pub struct ExampleSimulator {
    core: Core<Books>,
    api_key: Arc<str>,
    base_url: Arc<str>,
}

/// What the simulated provider holds, for tests that compare the books.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExampleLedger {
    /// Sorted by creation.
    pub charges: Vec<LedgerCharge>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LedgerCharge {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub captured: i64,
    pub refunded: i64,
    /// How many capture requests moved money (a replay moves none).
    pub captures: usize,
}

impl ExampleSimulator {
    /// `base_url` is where [`ExampleSimulator::router`] is served from
    /// outside (e.g. `http://127.0.0.1:1234/example`).
    pub fn new(clock: SharedClock, base_url: String, api_key: &str) -> Self {
        Self {
            core: Core::new(clock),
            api_key: api_key.into(),
            base_url: base_url.trim_end_matches('/').into(),
        }
    }

    /// The base URL to configure the adapter with.
    pub fn base_url(&self) -> String {
        self.base_url.to_string()
    }

    /// The API under `/v1` (behind the fault layer), the sandbox controls
    /// under `/_sandbox`.
    pub fn router(&self) -> Router {
        self.core
            .router(self.clone(), handlers::api(), handlers::control())
    }

    pub fn faults(&self) -> &Faults {
        &self.core.faults
    }

    pub fn ledger(&self) -> ExampleLedger {
        self.core.lock().ledger()
    }
}
