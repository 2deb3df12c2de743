//! The `/v2` operations on the books.

use serde_json::{Map, Value};

use super::books::{Books, Env, Flow, Refund, Status, random_hex};
use super::errors::ApiError;
use super::input::{Input, parse_body};
use super::requests::{ConfirmRequest, CreateRequest, RefundRequest, check_payment_method};
use super::{CANCELLATION_REASONS, MAX_AMOUNT, MIN_AMOUNT};
use crate::pipeline::reply::Reply;

/// One `/v2` operation, named by the route that received it.
pub(crate) enum Call {
    CreateFlow,
    GetFlow(String),
    ConfirmFlow(String),
    CaptureFlow(String),
    CancelFlow(String),
    ListFlows(Option<String>),
    ListFlowRefunds(String, Option<String>),
    ListRefunds(Option<String>),
    CreateRefund,
    GetRefund(String),
    Unknown,
}

impl Books {
    pub(super) fn perform(
        &mut self,
        call: &Call,
        body: &[u8],
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        match call {
            Call::CreateFlow => self.create_flow(&parse_body(body)?, env),
            Call::GetFlow(id) => Ok(Reply::ok(&self.flow(id)?.wire())),
            Call::ConfirmFlow(id) => self.confirm_flow(id, &parse_body(body)?, env),
            Call::CaptureFlow(id) => self.capture_flow(id, &parse_body(body)?, env),
            Call::CancelFlow(id) => self.cancel_flow(id, &parse_body(body)?, env),
            Call::ListFlows(query) => self.list_flows(query.as_deref()),
            Call::ListFlowRefunds(id, query) => self.list_flow_refunds(id, query.as_deref()),
            Call::ListRefunds(query) => self.list_refunds(query.as_deref()),
            Call::CreateRefund => self.create_refund(&parse_body(body)?, env),
            Call::GetRefund(id) => self.get_refund(id),
            Call::Unknown => Err(ApiError::unknown_route()),
        }
    }

    pub(super) fn create_flow(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = CreateRequest::parse(body)?;
        if let Some(method) = &request.payment_method_id {
            check_payment_method(method, request.customer_id.as_deref())?;
        }
        let confirm = request.confirm;
        let mut flow = Flow::new(request, env.now);
        // A declined confirm still creates the flow (back in
        // requires_payment_method); only the answer is the 402.
        let attempt = if confirm {
            flow.attempt_payment(env)
        } else {
            Ok(())
        };
        if confirm {
            self.outbox.extend(flow.event(attempt.is_err()));
        }
        let reply = attempt.map(|()| Reply::ok(&flow.wire()));
        self.add_flow(flow);
        reply
    }

    pub(super) fn confirm_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = ConfirmRequest::parse(body)?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[Status::RequiresPaymentMethod, Status::RequiresConfirmation])?;
        let method = request
            .payment_method_id
            .clone()
            .or_else(|| flow.payment_method_id.clone())
            .ok_or_else(|| ApiError::field("payment_method_id", "Field required"))?;
        check_payment_method(&method, flow.customer_id.as_deref())?;
        request.apply_to(flow);
        let attempt = flow.attempt_payment(env);
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(attempt.is_err());
        self.outbox.extend(event);
        attempt.map(|()| reply)
    }

    pub(super) fn capture_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let mut input = Input::new(body);
        let amount_to_capture = input.integer("amount_to_capture", MIN_AMOUNT, MAX_AMOUNT);
        input.finish()?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[Status::RequiresCapture])?;
        if flow.expired_at.is_some_and(|deadline| env.now >= deadline) {
            // Nothing moves: the authorization is simply no longer capturable.
            return Err(ApiError::expired());
        }
        let capturable = flow.amount_capturable;
        // Without amount_to_capture the whole capturable amount is taken, even
        // a remainder under the 50 yen minimum of the parameter.
        let amount = amount_to_capture.unwrap_or(capturable);
        if amount > capturable {
            return Err(ApiError::field(
                "amount_to_capture",
                format!("Input should be less than or equal to amount_capturable ({capturable})"),
            ));
        }
        if amount < capturable {
            // Seed 003: partial capture is allowed once; after it only the
            // whole remainder may be captured.
            if flow.partially_captured {
                return Err(ApiError::invalid_amount_to_capture(capturable));
            }
            flow.partially_captured = true;
            flow.amount_received += amount;
            flow.amount_capturable -= amount;
        } else {
            flow.amount_received += capturable;
            flow.amount_capturable = 0;
            flow.status = Status::Succeeded;
        }
        flow.updated_at = env.now;
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(false);
        self.outbox.extend(event);
        Ok(reply)
    }

    pub(super) fn cancel_flow(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let mut input = Input::new(body);
        let reason = input.choice("cancellation_reason", CANCELLATION_REASONS);
        input.finish()?;
        let flow = self.flow_mut(id)?;
        flow.require_status(&[
            Status::RequiresPaymentMethod,
            Status::RequiresConfirmation,
            Status::RequiresAction,
            Status::RequiresCapture,
        ])?;
        // ASSUMPTION (documented, not confirmed by PAY.JP): cancelling after a
        // partial capture releases only the uncaptured remainder; what was
        // captured stays in amount_received and can still be refunded.
        flow.status = Status::Canceled;
        flow.amount_capturable = 0;
        flow.next_action = None;
        flow.canceled_at = Some(env.now);
        flow.cancellation_reason = reason;
        flow.updated_at = env.now;
        let reply = Reply::ok(&flow.wire());
        let event = flow.event(false);
        self.outbox.extend(event);
        Ok(reply)
    }

    pub(super) fn create_refund(
        &mut self,
        body: &Map<String, Value>,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        let request = RefundRequest::parse(body)?;
        let flow = self.flow_mut(&request.payment_flow_id)?;
        let remaining = flow.amount_received - flow.refunded;
        if remaining <= 0 {
            return Err(ApiError::invalid_status_detail(format!(
                "This operation can only be executed when the payment_flow has a received amount that is not yet refunded. The current status is {}, amount_received is {} and {} is already refunded.",
                flow.status.as_str(),
                flow.amount_received,
                flow.refunded
            )));
        }
        let amount = request.amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::refund_exceeds_payment());
        }
        flow.refunded += amount;
        let refund = Refund {
            id: format!("pyr_{}", random_hex(12)),
            payment_flow_id: flow.id.clone(),
            amount,
            reason: request.reason,
            metadata: request.metadata.unwrap_or_default(),
            created_at: env.now,
        };
        let reply = Reply::ok(&refund.wire());
        let data = serde_json::to_value(refund.wire()).unwrap_or_default();
        self.outbox.push(("refund.created", data));
        self.add_refund(refund);
        Ok(reply)
    }

    pub(super) fn get_refund(&self, id: &str) -> Result<Reply, ApiError> {
        self.refunds
            .find(id)
            .map(|r| Reply::ok(&r.wire()))
            .ok_or_else(|| ApiError::not_found("payment_refund", id))
    }
}
