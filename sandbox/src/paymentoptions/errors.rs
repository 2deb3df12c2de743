//! Refusals that create no transaction: the failure envelope.

use axum::http::StatusCode;

use super::wire::{
    FailureEnvelope, FailurePaymentDetails, GatewayResponse, error_code, response_description,
};
use super::{CURRENCY, GATEWAY_VERSION, RC_INVALID_LIFE_CYCLE};
use crate::pipeline::reply::Reply;

/// A refusal that created no transaction.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) message: String,
    pub(super) response_code: Option<i64>,
    pub(super) amount: Option<i64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            response_code: None,
            amount: None,
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn unauthorized(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "Unauthorized: {reason}. Send `Authorization: Basic <api key>` and `x-api-key: <api key>`."
            ),
        )
    }

    pub(super) fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("Transaction not found: {id}"),
        )
    }

    pub(super) fn invalid_card(message: &str) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("Invalid card: {message}"),
        )
    }

    pub(super) fn precondition(response_code: i64, amount: Option<i64>, detail: &str) -> Self {
        Self {
            status: StatusCode::PRECONDITION_FAILED,
            message: format!("{}: {detail}", response_description(response_code)),
            response_code: Some(response_code),
            amount,
        }
    }

    pub(super) fn life_cycle(detail: &str) -> Self {
        Self::precondition(RC_INVALID_LIFE_CYCLE, None, detail)
    }

    pub(super) fn into_reply(self, transaction_type: Option<&'static str>) -> Reply {
        let number = self
            .response_code
            .unwrap_or(i64::from(self.status.as_u16()));
        let envelope = FailureEnvelope {
            success: false,
            status_code: self.status.as_u16(),
            is_live: false,
            transaction_type,
            gateway_response: GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "ERROR",
                message: &self.message,
                code: error_code(number),
            },
            payment_details: self.response_code.map(|code| FailurePaymentDetails {
                amount: self.amount,
                response_code: code,
                response_description: response_description(code),
                currency: CURRENCY,
            }),
        };
        Reply::json(self.status, &envelope)
    }
}
