//! The routes, and what the example provider plugs into the shared request
//! pipeline: Bearer auth, `Idempotency-Key` on POSTs.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::books::{ApiError, Books, Call};
use super::{ExampleLedger, ExampleSimulator};
use crate::pipeline::idempotency::{self, Keyed};
use crate::pipeline::reply::Reply;
use crate::pipeline::{Api, Core, Incoming, auth, serving, serving_id};

pub(super) fn api() -> Router<ExampleSimulator> {
    type Sim = ExampleSimulator;
    Router::new()
        .route("/v1/charges", post(serving::<Sim>(|_| Call::CreateCharge)))
        .route(
            "/v1/charges/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetCharge(id))),
        )
        .route(
            "/v1/charges/{id}/captures",
            post(serving_id::<Sim>(|id, _| Call::Capture(id))),
        )
        .route(
            "/v1/charges/{id}/void",
            post(serving_id::<Sim>(|id, _| Call::Void(id))),
        )
        .route("/v1/refunds", post(serving::<Sim>(|_| Call::CreateRefund)))
}

pub(super) fn control() -> Router<ExampleSimulator> {
    Router::new().route(
        "/_sandbox/ledger",
        get(|State(sim): State<ExampleSimulator>| async move {
            axum::Json::<ExampleLedger>(sim.ledger())
        }),
    )
}

impl Api for ExampleSimulator {
    type Call = Call;
    type Books = Books;

    fn core(&self) -> &Core<Books> {
        &self.core
    }

    fn refusal(&self, headers: &HeaderMap, _: &Call, _: &str) -> Option<Response> {
        let authorized = auth::authorization(headers).is_some_and(|(scheme, key)| {
            scheme.eq_ignore_ascii_case("bearer") && key == &*self.api_key
        });
        (!authorized).then(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid API key is required",
            )
            .reply()
            .into_response()
        })
    }

    fn unreadable_body(&self, _: &Call, _: &str) -> Reply {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unreadable body",
        )
        .reply()
    }

    fn handle(&self, request: &Incoming<'_, Call>) -> Reply {
        let now = self.core.clock.now();
        let keyed = (*request.method == Method::POST)
            .then(|| auth::header_text(request.headers, "idempotency-key"))
            .flatten()
            .filter(|key| !key.is_empty())
            .map(|key| Keyed {
                key: key.to_owned(),
                fingerprint: request.fingerprint(),
                now_ms: now.timestamp_millis(),
            });
        let mut books = self.core.lock();
        idempotency::once(
            &mut *books,
            keyed,
            || {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "the key was used with another request",
                )
                .reply()
            },
            |books| {
                books
                    .perform(request.call, request.body, now)
                    .unwrap_or_else(ApiError::reply)
            },
        )
    }

    fn flush_notifications(&self) {
        self.send_queued_events();
    }
}
