//! The routes, and what Smartpay plugs into the shared request pipeline:
//! the raw key after `Basic`, `Idempotency-Key` on writes (kept 6 hours),
//! overdue orders settled before anything else is read.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{any, get, post, put};

use super::books::{Books, Env};
use super::errors::{self, ApiError};
use super::list::Collection;
use super::operations::Call;
use super::{SmartpayLedger, SmartpaySimulator, pages};
use crate::pipeline::idempotency::{self, Keyed};
use crate::pipeline::reply::Reply;
use crate::pipeline::{Api, Core, Incoming, auth, serving, serving_id};

type Sim = SmartpaySimulator;

/// The `/v1` routes. `?expand=` is accepted and ignored on reads: line
/// items and payments stay ids.
pub(super) fn api() -> Router<Sim> {
    Router::new()
        .route(
            "/v1/checkout-sessions",
            post(serving::<Sim>(|_| Call::CreateCheckoutSession)).get(serving::<Sim>(|q| {
                Call::List(Collection::CheckoutSessions, q)
            })),
        )
        .route(
            "/v1/checkout-sessions/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetCheckoutSession(id))),
        )
        .route(
            "/v1/orders",
            post(serving::<Sim>(|_| Call::CreateOrder))
                .get(serving::<Sim>(|q| Call::List(Collection::Orders, q))),
        )
        .route(
            "/v1/orders/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetOrder(id))),
        )
        .route(
            "/v1/orders/{id}/cancellation",
            put(serving_id::<Sim>(|id, _| Call::CancelOrder(id))),
        )
        .route(
            "/v1/payments",
            post(serving::<Sim>(|_| Call::CreatePayment))
                .get(serving::<Sim>(|q| Call::List(Collection::Payments, q))),
        )
        .route(
            "/v1/payments/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetPayment(id))),
        )
        .route(
            "/v1/refunds",
            post(serving::<Sim>(|_| Call::CreateRefund))
                .get(serving::<Sim>(|q| Call::List(Collection::Refunds, q))),
        )
        .route(
            "/v1/refunds/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetRefund(id))),
        )
        // Unknown `/v1` paths answer like the API (auth first, then a JSON
        // 404) instead of axum's empty 404.
        .route("/v1/{*rest}", any(serving::<Sim>(|_| Call::Unknown)))
}

/// The sandbox controls: the ledger and the shopper's checkout page.
pub(super) fn control() -> Router<Sim> {
    Router::new()
        .route("/_sandbox/ledger", get(ledger_route))
        .merge(pages::routes())
}

async fn ledger_route(State(sim): State<Sim>) -> axum::Json<SmartpayLedger> {
    axum::Json(sim.ledger())
}

impl SmartpaySimulator {
    /// providers.md: `Authorization: Basic <secretKey>` with the RAW key, not
    /// base64 of `user:password` as HTTP Basic would have it.
    fn is_authorized(&self, headers: &HeaderMap) -> bool {
        auth::basic(headers).is_some_and(|key| key == &*self.secret_key)
    }
}

impl Api for SmartpaySimulator {
    type Call = Call;
    type Books = Books;

    fn core(&self) -> &Core<Books> {
        &self.core
    }

    fn refusal(&self, headers: &HeaderMap, _: &Call, _: &str) -> Option<Response> {
        (!self.is_authorized(headers)).then(errors::unauthorized)
    }

    fn unreadable_body(&self, _: &Call, _: &str) -> Reply {
        ApiError::invalid(vec!["body: is unreadable or too large".to_owned()]).into_reply()
    }

    fn handle(&self, request: &Incoming<'_, Call>) -> Reply {
        let env = Env {
            now: self.core.clock.now_ms(),
            public_base_url: &self.public_base_url,
        };
        let mut books = self.core.lock();
        books.settle_expired(env.now);
        let writes = [Method::POST, Method::PUT, Method::PATCH].contains(request.method);
        let keyed = idempotency_key(request.headers)
            .filter(|_| writes)
            .map(|key| Keyed {
                key,
                fingerprint: request.fingerprint(),
                now_ms: env.now,
            });
        idempotency::once(
            &mut *books,
            keyed,
            || ApiError::idempotency_conflict().into_reply(),
            |books| books.perform(request.call, request.body, &env),
        )
    }

    fn flush_notifications(&self) {
        self.send_queued_events();
    }
}

/// The `Idempotency-Key` header, if any. GUESS: Smartpay documents no format,
/// so any non-empty value is a key.
fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("idempotency-key")?;
    let key = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!key.is_empty()).then_some(key)
}
