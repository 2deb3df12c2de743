//! The benchmark ceiling: kessai's own gRPC stack (the same layers, the same
//! codec) answering every call with a canned order, with no database and no
//! provider behind it. Whatever kessai adds on top is measured against this.

use std::net::SocketAddr;

use prost_types::Timestamp;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;

use super::auth::{AuthLayer, AuthMode, AuthSettings};
use super::callers::Callers;
use super::rate_limit::RateLimiter;
use super::{InFlight, call_layers, health};
use crate::proto::v1;
use crate::proto::v1::payment_service_server::{PaymentService, PaymentServiceServer};

/// Answers every call with [`canned_order`].
#[derive(Clone)]
pub struct NullApi {
    order: v1::Order,
}

impl Default for NullApi {
    fn default() -> Self {
        Self {
            order: canned_order(),
        }
    }
}

/// An order as large as a typical answer: captured once, refunded once,
/// with a card summary and metadata.
pub fn canned_order() -> v1::Order {
    let at = Timestamp {
        seconds: 1_795_000_000,
        nanos: 0,
    };
    v1::Order {
        id: "ord_01KAR2P7Z3W9Q4M8X6T5V1N0BC".into(),
        provider: v1::Provider::Payjp.into(),
        provider_order_id: "pi_01kar2p7z3w9q4m8x6t5v1n0bc".into(),
        merchant_reference: "cart-1234".into(),
        status: v1::OrderStatus::Captured.into(),
        currency: "JPY".into(),
        amount: 12_000,
        amount_authorized: 12_000,
        amount_captured: 12_000,
        amount_refunded: 2_000,
        amount_capturable: 0,
        captures: vec![v1::Capture {
            id: "cap_01KAR2P8A1B2C3D4E5F6G7H8J9".into(),
            amount: 12_000,
            status: v1::CaptureStatus::Succeeded.into(),
            final_capture: true,
            provider_capture_id: "pi_01kar2p7z3w9q4m8x6t5v1n0bc".into(),
            created_at: Some(at),
            amount_refunded: 2_000,
            ..Default::default()
        }],
        refunds: vec![v1::Refund {
            id: "ref_01KAR2P9K1M2N3P4Q5R6S7T8V9".into(),
            amount: 2_000,
            status: v1::RefundStatus::Succeeded.into(),
            reason: v1::RefundReason::RequestedByCustomer.into(),
            parts: vec![v1::RefundPart {
                capture_id: "cap_01KAR2P8A1B2C3D4E5F6G7H8J9".into(),
                amount: 2_000,
                status: v1::RefundStatus::Succeeded.into(),
                provider_refund_id: "re_01kar2p9k1m2n3p4q5r6s7t8v9".into(),
            }],
            created_at: Some(at),
            ..Default::default()
        }],
        created_at: Some(at),
        updated_at: Some(at),
        livemode: false,
        metadata: [("cart".to_owned(), "1234".to_owned())].into(),
        capture_method: v1::CaptureMethod::Manual.into(),
        description: "order 1234".into(),
        card: Some(v1::CardSummary {
            bin: "424242".into(),
            last4: "4242".into(),
            brand: "Visa".into(),
            expiry_month: 12,
            expiry_year: 2030,
        }),
        ..Default::default()
    }
}

impl NullApi {
    fn order(&self) -> Option<v1::Order> {
        Some(self.order.clone())
    }
}

#[tonic::async_trait]
impl PaymentService for NullApi {
    type WatchOrderEventsStream = tokio_stream::Empty<Result<v1::WatchOrderEventsResponse, Status>>;

    async fn authorize(
        &self,
        _: Request<v1::AuthorizeRequest>,
    ) -> Result<Response<v1::AuthorizeResponse>, Status> {
        Ok(Response::new(v1::AuthorizeResponse {
            order: self.order(),
        }))
    }

    async fn capture(
        &self,
        _: Request<v1::CaptureRequest>,
    ) -> Result<Response<v1::CaptureResponse>, Status> {
        Ok(Response::new(v1::CaptureResponse {
            order: self.order(),
        }))
    }

    async fn refund(
        &self,
        _: Request<v1::RefundRequest>,
    ) -> Result<Response<v1::RefundResponse>, Status> {
        Ok(Response::new(v1::RefundResponse {
            order: self.order(),
        }))
    }

    async fn void(
        &self,
        _: Request<v1::VoidRequest>,
    ) -> Result<Response<v1::VoidResponse>, Status> {
        Ok(Response::new(v1::VoidResponse {
            order: self.order(),
        }))
    }

    async fn get_order(
        &self,
        _: Request<v1::GetOrderRequest>,
    ) -> Result<Response<v1::GetOrderResponse>, Status> {
        Ok(Response::new(v1::GetOrderResponse {
            order: self.order(),
        }))
    }

    async fn list_orders(
        &self,
        request: Request<v1::ListOrdersRequest>,
    ) -> Result<Response<v1::ListOrdersResponse>, Status> {
        let size = match request.get_ref().page_size {
            n if n <= 0 => 50,
            n => n.min(crate::payments::MAX_PAGE_SIZE),
        };
        Ok(Response::new(v1::ListOrdersResponse {
            orders: vec![self.order.clone(); usize::try_from(size).unwrap_or(50)],
            next_page_token: "null-backend-next-page".into(),
        }))
    }

    async fn watch_order_events(
        &self,
        _: Request<v1::WatchOrderEventsRequest>,
    ) -> Result<Response<Self::WatchOrderEventsStream>, Status> {
        Ok(Response::new(tokio_stream::empty()))
    }
}

/// Serves the null backend on `listener` behind the same layers as
/// `kessai serve` (authentication off, no rate limit) until `stop` fires.
pub async fn serve(listener: TcpListener, stop: CancellationToken) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status(health::PAYMENT_SERVICE, ServingStatus::Serving)
        .await;
    let auth = AuthLayer::new(AuthSettings {
        mode: AuthMode::Off,
        callers: Callers::default(),
        limiter: RateLimiter::new(None),
        max_metadata_entries: 64,
        max_metadata_bytes: 16 * 1024,
    });
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "null backend serving gRPC");
    tonic::transport::Server::builder()
        .layer(call_layers(InFlight::default(), auth, true))
        .add_service(health_service)
        .add_service(PaymentServiceServer::new(NullApi::default()))
        .serve_with_incoming_shutdown(
            // The same accept path as `kessai serve`, so the ceiling it
            // measures is comparable; idle connections are the bench's own.
            super::connections::incoming(
                listener,
                super::connections::ConnectionLimits {
                    max_connections: 1_000,
                    handshake_timeout: std::time::Duration::from_secs(10),
                    idle_timeout: None,
                },
            ),
            stop.cancelled_owned(),
        )
        .await?;
    Ok(())
}
