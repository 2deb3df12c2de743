//! The gRPC surface: thin handlers, the proto ⇄ domain conversions, the one
//! error → status mapping, health and reflection.

pub mod convert;
pub mod health;
mod service;
pub mod status;

use std::time::Duration;

use http::{HeaderName, Request};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

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
pub fn request_layers() -> tower::ServiceBuilder<
    tower::layer::util::Stack<
        PropagateRequestIdLayer,
        tower::layer::util::Stack<
            TraceLayer<
                tower_http::classify::SharedClassifier<tower_http::classify::GrpcErrorsAsFailures>,
                fn(&Request<tonic::body::Body>) -> tracing::Span,
            >,
            tower::layer::util::Stack<SetRequestIdLayer<MakeUlid>, tower::layer::util::Identity>,
        >,
    >,
> {
    tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeUlid))
        .layer(
            TraceLayer::new_for_grpc()
                .make_span_with(rpc_span as fn(&Request<tonic::body::Body>) -> tracing::Span),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

fn rpc_span(request: &Request<tonic::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("rpc", method = %request.uri().path(), request_id = %request_id)
}

/// How often readiness asks the database.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(2);
