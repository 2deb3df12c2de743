//! Thin handlers: parse the request into a command, call the use case,
//! present the order.

use std::pin::Pin;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{convert, watch};
use crate::payments::{
    AuthorizeCommand, Caller, CaptureCommand, ListOrdersCommand, Payments, RefundCommand,
    VoidCommand, WatchCommand,
};
use crate::proto::v1;
use crate::proto::v1::payment_service_server::PaymentService;

pub struct PaymentApi {
    payments: Payments,
    /// Ends the event streams (they never end by themselves).
    shutdown: CancellationToken,
}

impl PaymentApi {
    pub fn new(payments: Payments) -> Self {
        Self {
            payments,
            shutdown: CancellationToken::new(),
        }
    }

    /// Event streams end with UNAVAILABLE when `shutdown` fires.
    pub fn stop_streams_on(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::WatchOrderEventsResponse, Status>> + Send>>;

/// The authenticated caller, when an interceptor put one on the request.
fn caller<T>(request: &Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(Caller::anonymous)
}

fn order(view: &crate::domain::OrderView) -> Option<v1::Order> {
    about_order(&view.order.id);
    tracing::Span::current().record("provider", view.order.provider.as_str());
    super::access::note_provider(view.order.provider.as_str());
    Some(view.into())
}

/// Puts the call's idempotency key (and order, where the request names
/// one) on its span before any work, so even a failed call carries them.
fn keyed(key: &crate::domain::IdempotencyKey, order_id: Option<&crate::domain::OrderId>) {
    tracing::Span::current().record("idempotency_key", key.as_str());
    if let Some(order_id) = order_id {
        about_order(order_id);
    }
}

/// The order a call names, on its span and access line before any work.
fn about_order(order_id: &crate::domain::OrderId) {
    tracing::Span::current().record("order_id", order_id.as_str());
    super::access::note_order(order_id.as_str());
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    type WatchOrderEventsStream = EventStream;

    #[tracing::instrument(
        name = "Authorize",
        skip_all,
        fields(order_id, provider, idempotency_key)
    )]
    async fn authorize(
        &self,
        request: Request<v1::AuthorizeRequest>,
    ) -> Result<Response<v1::AuthorizeResponse>, Status> {
        let caller = caller(&request);
        let cmd = AuthorizeCommand::try_from(request.into_inner())?;
        keyed(&cmd.key, None);
        tracing::Span::current().record("provider", cmd.details.provider().as_str());
        super::access::note_provider(cmd.details.provider().as_str());
        let view = self.payments.authorize(&caller, cmd).await?;
        // The provider is on the span already, from the request.
        about_order(&view.order.id);
        Ok(Response::new(v1::AuthorizeResponse {
            order: Some((&view).into()),
        }))
    }

    #[tracing::instrument(
        name = "Capture",
        skip_all,
        fields(order_id, provider, idempotency_key)
    )]
    async fn capture(
        &self,
        request: Request<v1::CaptureRequest>,
    ) -> Result<Response<v1::CaptureResponse>, Status> {
        let caller = caller(&request);
        let cmd = CaptureCommand::try_from(request.into_inner())?;
        keyed(&cmd.key, Some(&cmd.order_id));
        let view = self.payments.capture(&caller, cmd).await?;
        Ok(Response::new(v1::CaptureResponse {
            order: order(&view),
        }))
    }

    #[tracing::instrument(name = "Refund", skip_all, fields(order_id, provider, idempotency_key))]
    async fn refund(
        &self,
        request: Request<v1::RefundRequest>,
    ) -> Result<Response<v1::RefundResponse>, Status> {
        let caller = caller(&request);
        let cmd = RefundCommand::try_from(request.into_inner())?;
        keyed(&cmd.key, Some(&cmd.order_id));
        let view = self.payments.refund(&caller, cmd).await?;
        Ok(Response::new(v1::RefundResponse {
            order: order(&view),
        }))
    }

    #[tracing::instrument(name = "Void", skip_all, fields(order_id, provider, idempotency_key))]
    async fn void(
        &self,
        request: Request<v1::VoidRequest>,
    ) -> Result<Response<v1::VoidResponse>, Status> {
        let caller = caller(&request);
        let cmd = VoidCommand::try_from(request.into_inner())?;
        keyed(&cmd.key, Some(&cmd.order_id));
        let view = self.payments.void(&caller, cmd).await?;
        Ok(Response::new(v1::VoidResponse {
            order: order(&view),
        }))
    }

    #[tracing::instrument(name = "GetOrder", skip_all, fields(order_id, provider))]
    async fn get_order(
        &self,
        request: Request<v1::GetOrderRequest>,
    ) -> Result<Response<v1::GetOrderResponse>, Status> {
        let caller = caller(&request);
        let request = request.into_inner();
        let id = convert::order_id(&request.order_id)?;
        about_order(&id);
        let view = self
            .payments
            .get_order(&caller, &id, request.refresh)
            .await?;
        Ok(Response::new(v1::GetOrderResponse {
            order: order(&view),
        }))
    }

    #[tracing::instrument(name = "ListOrders", skip_all)]
    async fn list_orders(
        &self,
        request: Request<v1::ListOrdersRequest>,
    ) -> Result<Response<v1::ListOrdersResponse>, Status> {
        let caller = caller(&request);
        let cmd = ListOrdersCommand::try_from(request.into_inner())?;
        let page = self.payments.list_orders(&caller, cmd).await?;
        Ok(Response::new(v1::ListOrdersResponse {
            orders: page.orders.iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    #[tracing::instrument(name = "WatchOrderEvents", skip_all)]
    async fn watch_order_events(
        &self,
        request: Request<v1::WatchOrderEventsRequest>,
    ) -> Result<Response<Self::WatchOrderEventsStream>, Status> {
        let caller = caller(&request);
        let cmd = WatchCommand::try_from(request.into_inner())?;
        let events = self.payments.watch(&caller, cmd).await?;
        Ok(Response::new(Box::pin(watch::responses(
            events,
            self.shutdown.clone(),
        ))))
    }
}
