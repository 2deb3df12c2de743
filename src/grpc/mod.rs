//! The gRPC surface: thin handlers, the proto ⇄ domain conversions, the one
//! error → status mapping, health and reflection.

mod access;
pub mod auth;
pub mod callers;
pub mod connections;
pub mod convert;
pub mod health;
pub mod health_listener;
pub mod http_listener;
mod in_flight;
mod metrics;
pub mod null_backend;
pub mod rate_limit;
mod service;
pub mod status;
pub mod tls;
mod unread_request;
mod watch;

use std::time::Duration;

use http::{HeaderName, Request};
use tower::layer::util::{Identity, Stack};
use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{
    DefaultOnBodyChunk, DefaultOnEos, DefaultOnRequest, DefaultOnResponse, TraceLayer,
};

pub use in_flight::InFlight;
pub use metrics::RpcMetricsLayer;
pub use service::PaymentApi;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids for calls that arrive without one.
#[derive(Clone, Copy, Default)]
pub struct MakeUlid;

impl MakeRequestId for MakeUlid {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        http::HeaderValue::from_str(&ulid::Ulid::new().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// A span per call carrying its method and request id (taken from the
/// caller's `x-request-id` metadata, or made up), echoed in the response.
/// The span continues the caller's trace when its metadata carries a W3C
/// `traceparent`.
type RpcSpan = fn(&Request<tonic::body::Body>) -> tracing::Span;
type TraceRpc = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    RpcSpan,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    (),
>;
type RequestLayers =
    Stack<PropagateRequestIdLayer, Stack<TraceRpc, Stack<SetRequestIdLayer<MakeUlid>, Identity>>>;

/// Every layer a call passes through, outermost first: RPC metrics, the
/// in-flight count shutdown waits on, request id and span, then caller
/// authentication, and calls whose request never arrived told apart from
/// faults (`unread_request.rs`). `kessai serve` and the benchmark's null backend share it.
pub type CallLayers = Stack<
    unread_request::UnreadRequestLayer,
    Stack<
        auth::AuthLayer,
        Stack<
            tower::ServiceBuilder<RequestLayers>,
            Stack<InFlight, Stack<RpcMetricsLayer, Identity>>,
        >,
    >,
>;

pub fn call_layers(
    in_flight: InFlight,
    auth: auth::AuthLayer,
    access_log: bool,
) -> tower::ServiceBuilder<CallLayers> {
    tower::ServiceBuilder::new()
        .layer(RpcMetricsLayer { access_log })
        .layer(in_flight)
        .layer(request_layers())
        .layer(auth)
        .layer(unread_request::UnreadRequestLayer)
}

pub fn request_layers() -> tower::ServiceBuilder<RequestLayers> {
    tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeUlid))
        .layer(
            // Failures are the access line's to tell, at the level their
            // cause deserves (`access.rs`), not all at ERROR.
            TraceLayer::new(SharedClassifier::new(server_faults()))
                .make_span_with(rpc_span as RpcSpan)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

/// Only the answers that mean kessai or a provider failed are logged as
/// failures; a caller's bad input or a refused capture is not.
fn server_faults() -> GrpcErrorsAsFailures {
    [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
    ]
    .into_iter()
    .fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    )
}

fn rpc_span(request: &Request<tonic::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = request.uri().path();
    let (service, method) = crate::observability::metrics::rpc_labels(path);
    macro_rules! rpc_span {
        ($level:expr) => {
            tracing::span!(
                $level,
                "rpc",
                otel.name = %path.trim_start_matches('/'),
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.service = service,
                rpc.method = method,
                method = %path,
                request_id = %request_id,
                caller = tracing::field::Empty
            )
        };
    }
    // Probes every few seconds would drown the traces (and the logs).
    let span = if service == health::HEALTH_SERVICE {
        rpc_span!(tracing::Level::DEBUG)
    } else {
        rpc_span!(tracing::Level::INFO)
    };
    crate::observability::trace_context::continue_from(&span, request.headers());
    if let Some(access) = request.extensions().get::<access::AccessRecord>() {
        access.set_ids(
            request_id,
            crate::observability::trace_context::trace_id_of(&span),
        );
    }
    span
}

/// How often readiness asks the database.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
