//! The operator console (`KESSAI_CONSOLE_ADDR`): server-rendered pages in
//! Japanese and English that work without JavaScript — the order list with
//! its tabs and search (`orders.rs`), an order's page (`detail.rs`) with
//! its actions (`actions.rs`), the overview (`overview.rs`) — behind
//! operators' sessions (`session.rs`). It is one more caller of the use
//! cases, like the gRPC handlers: the same rules, reservations, idempotency
//! and visibility hold. Served by `grpc/http_listener.rs` with the same
//! connection discipline as the other listeners, behind TLS when
//! `KESSAI_TLS_*` is set.

mod actions;
mod detail;
mod html;
mod i18n;
mod orders;
mod overview;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::clock::SharedClock;
use crate::grpc::callers::Callers;
use crate::payments::{PaymentError, Payments};

pub use session::Sessions;

/// Forms are small: a token, an amount, a description.
const MAX_BODY: usize = 16 * 1024;

/// The console's state, shared by every request.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    payments: Payments,
    /// `None`: authentication is off (sandbox mode) and whoever reaches
    /// the console enters as the sandbox operator.
    callers: Option<Arc<Callers>>,
    sessions: Sessions,
    clock: SharedClock,
}

impl Inner {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

impl Console {
    pub fn new(
        payments: Payments,
        callers: Option<Arc<Callers>>,
        sessions: Sessions,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                payments,
                callers,
                sessions,
                clock,
            }),
        }
    }

    /// Every page and action.
    pub fn router(self) -> Router {
        Router::new()
            .route("/", get(|| async { Redirect::to("/orders") }))
            .route(
                "/sign-in",
                get(session::sign_in_page).post(session::sign_in),
            )
            .route("/sign-out", post(session::sign_out))
            .route("/lang", get(i18n::switch))
            .route("/orders", get(orders::list))
            .route("/orders/{id}", get(detail::show))
            .route("/orders/{id}/capture", post(actions::capture))
            .route("/orders/{id}/refund", post(actions::refund))
            .route("/orders/{id}/void", post(actions::void))
            .route("/orders/{id}/reconcile", post(actions::reconcile))
            .route("/overview", get(overview::show))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(axum::middleware::map_response(protect))
            .with_state(self)
    }
}

/// Headers on every answer: nothing framed, sniffed, cached or run from
/// elsewhere (the pages carry no script at all).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The HTTP status an action's or a read's failure is answered with.
fn status_of(error: &PaymentError) -> StatusCode {
    match error {
        PaymentError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PaymentError::OrderNotFound { .. } => StatusCode::NOT_FOUND,
        PaymentError::Refused(_)
        | PaymentError::KeyReused
        | PaymentError::KeyInUse
        | PaymentError::NeedsReview { .. }
        | PaymentError::ProviderRejected { .. } => StatusCode::CONFLICT,
        PaymentError::ProviderNotConfigured { .. }
        | PaymentError::ProviderUnavailable { .. }
        | PaymentError::OutcomeUnknown { .. }
        | PaymentError::ProviderCredentialsRejected { .. }
        | PaymentError::DatabaseUnavailable
        | PaymentError::Overloaded { .. }
        | PaymentError::TooManyStreams { .. } => StatusCode::SERVICE_UNAVAILABLE,
        PaymentError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the operator is told: the use case's own sentence (the same the
/// gRPC callers get, which quotes no card, secret or shopper).
fn said(error: &PaymentError) -> String {
    crate::domain::error::shortened(error.to_string(), 300)
}

/// A page saying a read failed, without anything of its internals.
fn error_page(operator: &session::Operator, error: &PaymentError) -> Response {
    let lang = operator.lang;
    let body = format!(
        r#"<p class="error" role="alert">{}: {}</p>"#,
        html::esc(lang.t(i18n::M::Refused)),
        html::esc(&said(error))
    );
    (
        status_of(error),
        Html(html::page(
            lang,
            Some(operator),
            lang.t(i18n::M::Refused),
            "/orders",
            &body,
        )),
    )
        .into_response()
}
