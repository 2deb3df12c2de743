//! The `/v1` operations on the books.

use super::books::{Books, Env, Order, OrderStatus, Refund, Session, new_id};
use super::errors::ApiError;
use super::input::parse_body;
use super::list::{Collection, ListQuery};
use super::requests::{CaptureRequest, CheckoutRequest, RefundRequest, TokenOrderRequest};
use super::{TOKEN_APPROVED, TOKEN_REJECTED};
use crate::pipeline::reply::Reply;

/// One `/v1` operation, named by the route that received it.
pub(crate) enum Call {
    CreateCheckoutSession,
    CreateOrder,
    GetOrder(String),
    CancelOrder(String),
    CreatePayment,
    GetPayment(String),
    CreateRefund,
    GetRefund(String),
    GetCheckoutSession(String),
    /// `GET` on a collection, with the request's query string.
    List(Collection, Option<String>),
    Unknown,
}

impl Books {
    pub(super) fn perform(&mut self, call: &Call, body: &[u8], env: &Env<'_>) -> Reply {
        let result = match call {
            Call::CreateCheckoutSession => parse_body(body)
                .and_then(|b| CheckoutRequest::parse(&b))
                .map(|r| self.create_checkout_session(r, env)),
            Call::CreateOrder => parse_body(body)
                .and_then(|b| TokenOrderRequest::parse(&b))
                .and_then(|r| self.create_token_order(r, env.now)),
            Call::GetOrder(id) => self.order(id).map(|o| Reply::ok(&o.wire())),
            // The cancellation has no body: whatever is sent is ignored.
            Call::CancelOrder(id) => self.cancel_order(id, env.now),
            Call::CreatePayment => parse_body(body)
                .and_then(|b| CaptureRequest::parse(&b))
                .and_then(|r| self.create_payment(r, env.now)),
            Call::GetPayment(id) => self
                .payments
                .find(id)
                .map(|p| Reply::ok(&p.wire()))
                .ok_or_else(ApiError::payment_not_found),
            Call::CreateRefund => parse_body(body)
                .and_then(|b| RefundRequest::parse(&b))
                .and_then(|r| self.create_refund(r, env.now)),
            Call::GetRefund(id) => self
                .refunds
                .find(id)
                .map(|r| Reply::ok(&r.wire()))
                .ok_or_else(ApiError::refund_not_found),
            Call::GetCheckoutSession(id) => self
                .sessions
                .find(id)
                .and_then(|session| {
                    let order = self.orders.find(&session.order_id)?;
                    Some(Reply::ok(&session.wire(order, env.public_base_url)))
                })
                .ok_or_else(ApiError::checkout_session_not_found),
            Call::List(collection, query) => ListQuery::parse(query.as_deref())
                .and_then(|query| self.list(*collection, &query, env)),
            Call::Unknown => Err(ApiError::unknown_route()),
        };
        result.unwrap_or_else(ApiError::into_reply)
    }

    pub(super) fn create_checkout_session(
        &mut self,
        request: CheckoutRequest,
        env: &Env<'_>,
    ) -> Reply {
        let fields = request.order;
        let customer_info = fields.customer_info.clone();
        // GUESS: the session's metadata is also the order's.
        let metadata = fields.metadata.clone();
        // The fixture keeps the session's reference off its order.
        let reference = fields.reference.clone();
        let order = Order::new(fields, None, env.now);
        let session = Session {
            id: new_id("checkout"),
            order_id: order.id.clone(),
            success_url: request.success_url,
            cancel_url: request.cancel_url,
            customer_info,
            metadata,
            reference,
            created_at: env.now,
        };
        let reply = Reply::ok(&session.wire(&order, env.public_base_url));
        self.orders.push(order);
        self.add_session(session);
        reply
    }

    /// The token flow: the shopper approved once already, so the order is
    /// decided at once by the sandbox token.
    pub(super) fn create_token_order(
        &mut self,
        request: TokenOrderRequest,
        now: i64,
    ) -> Result<Reply, ApiError> {
        let approved = match request.token.as_str() {
            TOKEN_APPROVED => true,
            TOKEN_REJECTED => false,
            _ => return Err(ApiError::token_not_found()),
        };
        let reference = request.order.reference.clone();
        let mut order = Order::new(request.order, reference, now);
        // GUESS: a rejected token still creates the order (`rejected`) and
        // answers 200 with it, rather than an error.
        if !approved {
            order.reject(now);
            self.notify("order.rejected", &order.wire());
        }
        let index = self.orders.push(order);
        if approved {
            self.authorize(index, now);
        }
        Ok(Reply::ok(&self.orders[index].wire()))
    }

    pub(super) fn create_payment(
        &mut self,
        request: CaptureRequest,
        now: i64,
    ) -> Result<Reply, ApiError> {
        let index = self
            .orders
            .position(&request.order_id)
            .ok_or_else(ApiError::order_not_found)?;
        let order = &self.orders[index];
        // An expired order was already settled (canceled/succeeded) before
        // this operation ran, so the status check covers the deadline too.
        if order.status != OrderStatus::RequiresCapture {
            return Err(ApiError::cannot_capture());
        }
        if request.amount > order.uncaptured() {
            return Err(ApiError::excessive_amount());
        }
        let payment = self.record_payment(index, request, now);
        Ok(Reply::ok(&self.payments[payment].wire()))
    }

    pub(super) fn cancel_order(&mut self, id: &str, now: i64) -> Result<Reply, ApiError> {
        let order = self.order_mut(id)?;
        match order.status {
            // Cancelling releases the uncaptured remainder; a partly captured
            // order keeps its payments and ends `succeeded` (sp-php test).
            OrderStatus::RequiresCapture => {
                order.status = if order.captured > 0 {
                    OrderStatus::Succeeded
                } else {
                    OrderStatus::Canceled
                };
                order.updated_at = now;
                // GUESS: releasing a partly captured order's remainder is
                // notified as a cancellation too.
                let canceled = serde_json::to_value(order.wire()).unwrap_or_default();
                self.outbox.push(("order.canceled", canceled));
            }
            // Repeating a cancellation is harmless and answers the order.
            OrderStatus::Canceled => {}
            _ => return Err(ApiError::cannot_cancel()),
        }
        let order = self.order(id)?;
        Ok(Reply::ok(&order.wire()))
    }

    pub(super) fn create_refund(
        &mut self,
        request: RefundRequest,
        now: i64,
    ) -> Result<Reply, ApiError> {
        let payment = self.payment_mut(&request.payment_id)?;
        if request.amount > payment.amount - payment.refunded {
            return Err(ApiError::amount_insufficient());
        }
        payment.refunded += request.amount;
        payment.updated_at = now;
        let refund = Refund {
            id: new_id("refund"),
            payment_id: payment.id.clone(),
            amount: request.amount,
            currency: request.currency,
            reason: request.reason.to_owned(),
            reference: request.reference,
            description: request.description,
            line_items: request.line_items,
            metadata: request.metadata,
            created_at: now,
        };
        let reply = Reply::ok(&refund.wire());
        self.notify("refund.created", &refund.wire());
        self.refunds.push(refund);
        Ok(reply)
    }
}
