//! Smartpay's errors: `{statusCode, errorCode, message, details}`, and the
//! 401 without an `errorCode`.

use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::pipeline::reply::Reply;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorWire<'a> {
    pub(super) status_code: u16,
    pub(super) error_code: &'a str,
    pub(super) message: &'a str,
    pub(super) details: &'a [String],
}

/// The 401 body (sp-go `N401`): no `errorCode`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnauthorizedWire {
    pub(super) status_code: u16,
    pub(super) scheme: &'static str,
    pub(super) realm: &'static str,
}

/// A Smartpay error body. The messages of the documented codes are the
/// fixtures' (the docs' descriptions; the real texts are unknown).
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: &'static str,
    pub(super) details: Vec<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            details: Vec::new(),
        }
    }

    /// GUESS: `details` lists one `"<field>: <problem>"` string per problem;
    /// the SDKs type it as an untyped array.
    pub(super) fn invalid(details: Vec<String>) -> Self {
        Self {
            details,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "request.invalid",
                "The request is invalid.",
            )
        }
    }

    pub(super) fn order_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "order.not-found",
            "No order was found meeting the requirements.",
        )
    }

    pub(super) fn payment_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "payment.not-found",
            "No payment was found meeting the requirements.",
        )
    }

    pub(super) fn refund_not_found() -> Self {
        // GUESS: code and message follow the order/payment pattern.
        Self::new(
            StatusCode::NOT_FOUND,
            "refund.not-found",
            "No refund was found meeting the requirements.",
        )
    }

    pub(super) fn checkout_session_not_found() -> Self {
        // GUESS: code and message follow the order/payment pattern.
        Self::new(
            StatusCode::NOT_FOUND,
            "checkout-session.not-found",
            "No checkout session was found meeting the requirements.",
        )
    }

    pub(super) fn token_not_found() -> Self {
        // GUESS: an unknown token is a 404 like an unknown order.
        Self::new(
            StatusCode::NOT_FOUND,
            "token.not-found",
            "No token was found meeting the requirements.",
        )
    }

    pub(super) fn unknown_route() -> Self {
        // GUESS: Smartpay's answer to an unknown path is not documented.
        Self::new(
            StatusCode::NOT_FOUND,
            "resource.not-found",
            "No resource was found at this path.",
        )
    }

    pub(super) fn cannot_capture() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "order.cannot-capture",
            "No payment can be created. The order was already captured or has expired.",
        )
    }

    pub(super) fn excessive_amount() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "payment.excessive-amount",
            "The payment exceeds the order's amount available for capture",
        )
    }

    pub(super) fn cannot_cancel() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "order.cannot-cancel",
            "The order has a status which doesn't allow cancellation.",
        )
    }

    pub(super) fn amount_insufficient() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "amount.insufficient",
            "Available amount on payment is insufficient to handle the request.",
        )
    }

    pub(super) fn idempotency_conflict() -> Self {
        // GUESS: status and code are not documented by Smartpay.
        Self::new(
            StatusCode::CONFLICT,
            "request.idempotency-key-conflict",
            "The Idempotency-Key was already used for a different request.",
        )
    }

    pub(super) fn into_reply(self) -> Reply {
        Reply::json(
            self.status,
            &ErrorWire {
                status_code: self.status.as_u16(),
                error_code: self.code,
                message: self.message,
                details: &self.details,
            },
        )
    }
}

/// The 401 (sp-go `N401`), with the challenge a Basic realm sends.
pub(super) fn unauthorized() -> Response {
    let mut response = Reply::json(
        StatusCode::UNAUTHORIZED,
        &UnauthorizedWire {
            status_code: 401,
            // GUESS: the fixture's scheme/realm values are themselves guessed.
            scheme: "Basic",
            realm: "smartpay",
        },
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"smartpay\""),
    );
    response
}
