//! The routes, and what PAY.JP plugs into the shared request pipeline:
//! Bearer or Basic auth, `Idempotency-Key` on POSTs (kept 24 hours), RFC
//! 9457 problems.

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use super::books::{Books, Env};
use super::errors::ApiError;
use super::operations::Call;
use super::{MAX_IDEMPOTENCY_KEY_LEN, PayjpLedger, PayjpSimulator, REFUNDS_PATH, pages};
use crate::pipeline::idempotency::{self, Keyed};
use crate::pipeline::reply::Reply;
use crate::pipeline::{Api, Core, Incoming, auth, serving, serving_id};

/// The `/v2` routes.
pub(super) fn api() -> Router<PayjpSimulator> {
    type Sim = PayjpSimulator;
    Router::new()
        .route(
            "/v2/payment_flows",
            post(serving::<Sim>(|_| Call::CreateFlow)).get(serving::<Sim>(Call::ListFlows)),
        )
        .route(
            "/v2/payment_flows/{id}",
            get(serving_id::<Sim>(|id, _| Call::GetFlow(id))),
        )
        .route(
            "/v2/payment_flows/{id}/confirm",
            post(serving_id::<Sim>(|id, _| Call::ConfirmFlow(id))),
        )
        .route(
            "/v2/payment_flows/{id}/capture",
            post(serving_id::<Sim>(|id, _| Call::CaptureFlow(id))),
        )
        .route(
            "/v2/payment_flows/{id}/cancel",
            post(serving_id::<Sim>(|id, _| Call::CancelFlow(id))),
        )
        .route(
            "/v2/payment_flows/{id}/refunds",
            get(serving_id::<Sim>(Call::ListFlowRefunds)),
        )
        .route(
            REFUNDS_PATH,
            post(serving::<Sim>(|_| Call::CreateRefund)).get(serving::<Sim>(Call::ListRefunds)),
        )
        .route(
            &format!("{REFUNDS_PATH}/{{id}}"),
            get(serving_id::<Sim>(|id, _| Call::GetRefund(id))),
        )
        // Unknown `/v2` paths answer like the API does (auth first, then a
        // 404 problem) instead of axum's empty 404.
        .route("/v2/{*rest}", any(serving::<Sim>(|_| Call::Unknown)))
}

/// The sandbox controls: the ledger and the 3-D Secure page.
pub(super) fn control() -> Router<PayjpSimulator> {
    Router::new()
        .route("/_sandbox/ledger", get(ledger_route))
        .merge(pages::routes())
}

async fn ledger_route(
    axum::extract::State(sim): axum::extract::State<PayjpSimulator>,
) -> axum::Json<PayjpLedger> {
    axum::Json(sim.ledger())
}

impl PayjpSimulator {
    pub(super) fn env(&self) -> Env<'_> {
        Env {
            now: self.core.clock.now(),
            public_base_url: &self.public_base_url,
        }
    }

    /// `Bearer <key>` (what the SDKs send) or `Basic base64(<key>:)` (the
    /// curl samples' `-u sk_…:`).
    fn is_authorized(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, credentials)) = auth::authorization(headers) else {
            return false;
        };
        if scheme.eq_ignore_ascii_case("bearer") {
            credentials == &*self.secret_key
        } else if scheme.eq_ignore_ascii_case("basic") {
            auth::basic_user(credentials).is_some_and(|user| *user == *self.secret_key)
        } else {
            false
        }
    }
}

impl Api for PayjpSimulator {
    type Call = Call;
    type Books = Books;

    fn core(&self) -> &Core<Books> {
        &self.core
    }

    fn refusal(&self, headers: &HeaderMap, _: &Call, path: &str) -> Option<Response> {
        (!self.is_authorized(headers))
            .then(|| ApiError::unauthorized().into_reply(path).into_response())
    }

    fn unreadable_body(&self, _: &Call, path: &str) -> Reply {
        ApiError::field("body", "The request body is unreadable or too large").into_reply(path)
    }

    fn handle(&self, request: &Incoming<'_, Call>) -> Reply {
        let env = self.env();
        let mut books = self.core.lock();
        let path = request.path;
        let key = if *request.method == Method::POST {
            match idempotency_key(request.headers) {
                Ok(key) => key,
                Err(error) => return error.into_reply(path),
            }
        } else {
            None
        };
        let keyed = key.map(|key| Keyed {
            key,
            fingerprint: request.fingerprint(),
            now_ms: env.now.timestamp_millis(),
        });
        idempotency::once(
            &mut *books,
            keyed,
            || ApiError::idempotency_conflict().into_reply(path),
            |books| {
                books
                    .perform(request.call, request.body, &env)
                    .unwrap_or_else(|e| e.into_reply(path))
            },
        )
    }

    fn flush_notifications(&self) {
        self.send_queued_events();
    }
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
