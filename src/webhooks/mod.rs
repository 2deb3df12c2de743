//! The provider webhook listener: one path per provider
//! (`/webhooks/smartpay`, `/webhooks/payjp`, `/webhooks/paymentoptions`),
//! each verifying the request the way its provider signs it (the provider's
//! `webhook.rs`, in its folder), then one shared ingest path into [`Payments::notify`].
//!
//! Answers: 200 once the event is recorded and applied (or acknowledged as
//! one kessai ignores); 401 for a missing or wrong signature or token, 400
//! for a body that cannot be read, in both cases with nothing recorded; 503
//! when the event could not be applied now (the provider delivers again);
//! 404 for a provider kessai does not serve. Neither secrets nor signature
//! values are ever logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::domain::ProviderKind;
use crate::grpc::http_listener::ListenerLimits;
use crate::payments::{Notification, NotifyOutcome, PaymentError, Payments};
pub use crate::providers::Rejection;
pub use crate::providers::payjp::webhook::{self as payjp, PayjpVerifier};
use crate::providers::paymentoptions::webhook as paymentoptions;

pub mod sources;

impl UnsignedLimits {
    /// Refuses a notification from outside the configured networks (403),
    /// or beyond its address's rate (429): nothing is read or stored.
    fn refuse(&self, from: Option<std::net::IpAddr>) -> Option<Response> {
        let from = from?;
        if !self.sources.is_empty() && !self.sources.iter().any(|net| net.contains(from)) {
            tracing::warn!(%from, "a PaymentOptions notification from outside KESSAI_PAYMENTOPTIONS_WEBHOOK_SOURCES; refused");
            return Some(answer(
                StatusCode::FORBIDDEN,
                json!({ "error": "not accepted from this address" }),
            ));
        }
        if let Err(wait) = self.per_address.check(&from.to_string()) {
            let mut refused = answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "error": "too many notifications from this address" }),
            );
            let secs = wait.as_secs().max(1).to_string();
            if let Ok(value) = axum::http::HeaderValue::from_str(&secs) {
                refused
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
            return Some(refused);
        }
        None
    }
}
pub use crate::providers::smartpay::webhook::{self as smartpay, SmartpayVerifier};

/// Notifications are small; anything larger is not one.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the listener needs.
pub struct Webhooks {
    pub payments: Payments,
    pub clock: SharedClock,
    /// `None`: no signing secret configured, so nothing can be verified.
    pub smartpay: Option<SmartpayVerifier>,
    pub payjp: Option<PayjpVerifier>,
    #[cfg(feature = "example-provider")]
    pub example: Option<crate::providers::example::webhook::ExampleVerifier>,
    /// Unsigned notifications: where they may come from (empty: anywhere)
    /// and how many per second from one address.
    pub unsigned: UnsignedLimits,
}

pub struct UnsignedLimits {
    pub sources: Vec<sources::Network>,
    pub per_address: crate::grpc::rate_limit::RateLimiter,
}

impl Webhooks {
    pub fn router(self) -> Router {
        let router = Router::new()
            .route("/webhooks/smartpay", post(smartpay_route))
            .route("/webhooks/payjp", post(payjp_route))
            .route("/webhooks/paymentoptions", post(paymentoptions_route));
        #[cfg(feature = "example-provider")]
        let router = router.route("/webhooks/example", post(example_route));
        router
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::new(self))
    }
}

/// The listener, bound; serves once run (`grpc/http_listener.rs`).
pub struct WebhookServer {
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
}

impl WebhookServer {
    pub fn new(listener: TcpListener, webhooks: Webhooks, limits: ListenerLimits) -> Self {
        Self {
            listener,
            router: webhooks.router(),
            limits,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` fires, then lets requests in progress finish.
    pub async fn run(self, stop: CancellationToken) -> std::io::Result<()> {
        crate::grpc::http_listener::serve(self.listener, self.router, self.limits, stop).await
    }
}

async fn smartpay_route(
    State(hooks): State<Arc<Webhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verified = match &hooks.smartpay {
        Some(verifier) => verifier
            .verify(&headers, &body, hooks.clock.now())
            .and_then(|()| smartpay::parse(&body)),
        None => return not_configured(ProviderKind::Smartpay, "KESSAI_SMARTPAY_WEBHOOK_SECRET"),
    };
    ingest(&hooks, ProviderKind::Smartpay, verified).await
}

async fn payjp_route(
    State(hooks): State<Arc<Webhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verified = match &hooks.payjp {
        Some(verifier) => verifier.verify(&headers).and_then(|()| payjp::parse(&body)),
        None => return not_configured(ProviderKind::Payjp, "KESSAI_PAYJP_WEBHOOK_TOKEN"),
    };
    ingest(&hooks, ProviderKind::Payjp, verified).await
}

async fn paymentoptions_route(
    State(hooks): State<Arc<Webhooks>>,
    peer: Option<axum::Extension<crate::grpc::connections::Peer>>,
    body: Bytes,
) -> Response {
    if let Some(refused) = hooks.unsigned.refuse(peer.map(|p| p.0.remote_addr.ip())) {
        return refused;
    }
    ingest(
        &hooks,
        ProviderKind::PaymentOptions,
        paymentoptions::parse(&body),
    )
    .await
}

#[cfg(feature = "example-provider")]
async fn example_route(
    State(hooks): State<Arc<Webhooks>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verified = match &hooks.example {
        Some(verifier) => verifier.verify(&headers, &body, hooks.clock.now()),
        None => return not_configured(ProviderKind::Example, "KESSAI_EXAMPLE_WEBHOOK_SECRET"),
    };
    ingest(&hooks, ProviderKind::Example, verified).await
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Without its secret the path cannot tell a provider from anyone else; it
/// answers 503 so that the provider keeps the events until it is set.
fn not_configured(provider: ProviderKind, variable: &str) -> Response {
    tracing::warn!(%provider, "a {provider} notification arrived but {variable} is not set; refused");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "error": format!("{provider} notifications are not configured") }),
    )
}

/// The path every verified notification takes.
async fn ingest(
    hooks: &Webhooks,
    provider: ProviderKind,
    verified: Result<Notification, Rejection>,
) -> Response {
    if !hooks.payments.serves(provider) {
        return answer(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("{provider} is not configured") }),
        );
    }
    let notification = match verified {
        Ok(notification) => notification,
        Err(Rejection::Unauthenticated(why)) => {
            tracing::warn!(%provider, why, "a notification failed verification; refused");
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "the notification could not be verified" }),
            );
        }
        Err(Rejection::Malformed(why)) => {
            tracing::warn!(%provider, why, "an unreadable notification; refused");
            return answer(StatusCode::BAD_REQUEST, json!({ "error": why }));
        }
    };
    let event_id = notification.event_id.as_str();
    let event_type = notification.event_type.as_str();
    match hooks.payments.notify(&notification).await {
        Ok(outcome) => {
            let outcome = match outcome {
                NotifyOutcome::Synced { order_id } => {
                    tracing::info!(%provider, event_id, event_type, %order_id, "notification applied");
                    "applied"
                }
                NotifyOutcome::Duplicate => {
                    tracing::info!(%provider, event_id, event_type, "notification seen before; nothing to do");
                    "duplicate"
                }
                NotifyOutcome::Ignored => {
                    tracing::info!(%provider, event_id, event_type, "notification of a kind kessai ignores");
                    "ignored"
                }
                NotifyOutcome::UnknownOrder => {
                    tracing::info!(%provider, event_id, event_type, "notification about no order of kessai's");
                    "unknown_order"
                }
                NotifyOutcome::Coalesced { order_id } => {
                    tracing::debug!(%provider, %order_id, event_type, "a hint about an order looked up moments ago; one lookup follows");
                    "coalesced"
                }
            };
            answer(
                StatusCode::OK,
                json!({ "received": true, "outcome": outcome }),
            )
        }
        Err(error) => {
            let status = match error {
                PaymentError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(%provider, event_id, event_type, %error, "a notification could not be applied now; the provider will deliver it again");
            answer(
                status,
                json!({ "error": "not applied now; deliver again later" }),
            )
        }
    }
}
