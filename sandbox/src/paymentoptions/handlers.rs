//! The routes, and what PaymentOptions plugs into the shared request
//! pipeline: the key after `Basic` (raw or base64) and in `x-api-key`, no
//! idempotency (there is no such header at this provider: a client that
//! lost an answer looks the transaction up instead of retrying).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::books::{Books, Env, Kind};
use super::errors::ApiError;
use super::operations::Call;
use super::{PATH_PREFIXES, PaymentOptionsLedger, PaymentOptionsSimulator};
use crate::pipeline::reply::Reply;
use crate::pipeline::{Api, Core, Incoming, auth, serving, serving_id};

type Sim = PaymentOptionsSimulator;

/// The API, under both path prefixes.
pub(super) fn api() -> Router<Sim> {
    let mut api = Router::new();
    for prefix in PATH_PREFIXES {
        api = api
            .route(
                &format!("{prefix}/authorization"),
                post(serving::<Sim>(|_| Call::Authorize(Kind::PreAuth))),
            )
            .route(
                &format!("{prefix}/payment"),
                post(serving::<Sim>(|_| Call::Authorize(Kind::Sale))),
            )
            .route(
                &format!("{prefix}/capture"),
                post(serving::<Sim>(|_| Call::Capture)),
            )
            .route(
                &format!("{prefix}/refund"),
                post(serving::<Sim>(|_| Call::Refund)),
            )
            .route(
                &format!("{prefix}/void"),
                post(serving::<Sim>(|_| Call::Void)),
            )
            .route(
                &format!("{prefix}/transaction/status/{{transaction_id}}"),
                get(serving_id::<Sim>(|id, _| Call::Status(id))),
            )
            // Unknown API paths answer like the API does (auth first, then a
            // 404 envelope) instead of axum's empty 404.
            .route(
                &format!("{prefix}/{{*rest}}"),
                any(serving::<Sim>(|_| Call::Unknown)),
            );
    }
    api
}

/// The sandbox controls: the ledger and the lookup by reference.
pub(super) fn control() -> Router<Sim> {
    Router::new()
        .route("/_sandbox/ledger", get(ledger_route))
        .route(
            "/_sandbox/transactions/by-ref/{merchant_txn_ref}",
            get(by_ref_route),
        )
}

async fn ledger_route(State(sim): State<Sim>) -> axum::Json<PaymentOptionsLedger> {
    axum::Json(sim.ledger())
}

/// Sandbox only: the real API has no lookup by `merchant_txn_ref`.
async fn by_ref_route(
    State(sim): State<Sim>,
    Path(merchant_txn_ref): Path<String>,
) -> axum::Json<Vec<String>> {
    axum::Json(sim.core.lock().ids_for_ref(&merchant_txn_ref))
}

impl PaymentOptionsSimulator {
    pub(super) fn env(&self) -> Env<'_> {
        Env {
            // Whole seconds, like the wire timestamps (`….000Z`).
            now: self.core.clock.now(),
            merchant_id: &self.merchant_id,
        }
    }

    /// Both headers must carry the key. After `Basic ` the seed shows the raw
    /// key and the manual base64 of it; both are accepted.
    fn check_auth(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let key = &*self.api_key;
        auth::header_text(headers, header::AUTHORIZATION.as_str())
            .ok_or("the Authorization header is missing")?;
        let credentials =
            auth::basic(headers).ok_or("the Authorization header must be `Basic <api key>`")?;
        let decoded = auth::base64_text(credentials);
        if credentials.is_empty() || (credentials != key && decoded.as_deref() != Some(key)) {
            return Err("the Authorization header carries a wrong API key");
        }
        match auth::header_text(headers, "x-api-key") {
            None => Err("the x-api-key header is missing"),
            Some(sent) if sent.is_empty() || sent != key => {
                Err("the x-api-key header carries a wrong API key")
            }
            Some(_) => Ok(()),
        }
    }
}

impl Api for PaymentOptionsSimulator {
    type Call = Call;
    type Books = Books;

    fn core(&self) -> &Core<Books> {
        &self.core
    }

    fn refusal(&self, headers: &HeaderMap, call: &Call, _: &str) -> Option<Response> {
        let reason = self.check_auth(headers).err()?;
        Some(
            ApiError::unauthorized(reason)
                .into_reply(call.transaction_type())
                .into_response(),
        )
    }

    fn unreadable_body(&self, call: &Call, _: &str) -> Reply {
        ApiError::bad_request("The request body is unreadable or too large.")
            .into_reply(call.transaction_type())
    }

    fn handle(&self, request: &Incoming<'_, Call>) -> Reply {
        let env = self.env();
        self.core
            .lock()
            .perform(request.call, request.body, &env)
            .unwrap_or_else(|e| e.into_reply(request.call.transaction_type()))
    }

    fn flush_notifications(&self) {
        self.send_queued_events();
    }
}
