//! The example provider: a small card API kessai's own tests define, which
//! exists to prove that a provider is a folder plus one line per list
//! (ARCHITECTURE.md, "Adding a provider"). Built only with the
//! `example-provider` cargo feature.
//!
//! The API (`{base}/v1`, `Authorization: Bearer <key>`, JSON): `POST
//! /charges` authorizes a card token for manual capture, `POST
//! /charges/{id}/captures` captures part (`final` releases the rest), `POST
//! /charges/{id}/void` releases an uncaptured charge, `POST /refunds`
//! refunds up to what was captured, `GET /charges/{id}` reads it. Every POST
//! carries an `Idempotency-Key` derived from kessai's ids and the provider
//! keeps keys for the life of the charge, so a call whose answer was lost is
//! simply sent again.

pub mod config;
mod details;
mod errors;
mod rules;
pub mod webhook;
mod wire;

pub use self::details::ExampleDetails;
pub use self::rules::{DASHBOARD, RULES};

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use self::errors::{map_error, parse_error};
use self::wire::{
    CHARGES, Capture, Charge, ChargeStatus, CreateCapture, CreateCharge, CreateRefund, REFUNDS,
    Refund,
};
use super::http::{self, HttpSettings, RawResponse, Repeat, SendFailure};
use super::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, CaptureCall, CaptureOutcome, PaymentProvider,
    Plausible, ProviderDetails, ProviderError, ProviderSnapshot, RefundCall, RefundOutcome,
    RejectionKind, SnapshotState, VoidCall,
};
use crate::domain::{Failure, OrderRecord, PaymentMethodKind, ProviderKind, Reason, RefundStatus};

pub struct Example {
    base_url: String,
    api_key: SecretString,
    client: reqwest::Client,
    http: HttpSettings,
}

impl Example {
    async fn post<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        key: &str,
    ) -> Result<RawResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        http::send(&self.http, Repeat::Safe, || {
            self.client
                .post(&url)
                .bearer_auth(self.api_key.expose_secret())
                .header("Idempotency-Key", key)
                .json(body)
        })
        .await
        .map_err(failure)
    }

    fn charge_path(order: &OrderRecord, suffix: &str) -> Result<String, ProviderError> {
        let id = order
            .provider_order_id
            .as_deref()
            .ok_or_else(|| ProviderError::Rejected {
                provider: ProviderKind::Example,
                kind: RejectionKind::NotFound,
                reason: Reason::OrderNotFound,
                provider_code: "not_found".into(),
                message: "the order has no example charge".into(),
            })?;
        Ok(format!("{CHARGES}/{id}{suffix}"))
    }
}

fn failure(error: SendFailure) -> ProviderError {
    match error {
        SendFailure::NotSent(detail) => ProviderError::Unreachable {
            provider: ProviderKind::Example,
            detail,
        },
        SendFailure::Unknown(detail) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::Example,
            detail,
        },
    }
}

/// A 2xx answer read, or the error a non-2xx one maps to. A 2xx body that
/// cannot be read means the provider acted in a way kessai cannot tell.
fn parse<T: serde::de::DeserializeOwned + Plausible>(
    not_allowed: Reason,
    response: RawResponse,
) -> Result<T, ProviderError> {
    if !response.status.is_success() {
        return Err(map_error(
            not_allowed,
            response.status,
            &parse_error(&response.body),
        ));
    }
    match serde_json::from_slice::<T>(&response.body) {
        Ok(value) if value.plausible() => Ok(value),
        Ok(_) | Err(_) => Err(ProviderError::OutcomeUnknown {
            provider: ProviderKind::Example,
            detail: "an unreadable answer from the example provider".into(),
        }),
    }
}

/// What a charge says about the order.
fn snapshot(charge: &Charge) -> ProviderSnapshot {
    let state = match charge.status {
        ChargeStatus::Authorized | ChargeStatus::PartiallyCaptured => SnapshotState::Authorized,
        ChargeStatus::Captured => SnapshotState::Closed,
        ChargeStatus::Voided | ChargeStatus::Expired if charge.amount_captured > 0 => {
            SnapshotState::Closed
        }
        ChargeStatus::Voided | ChargeStatus::Expired => SnapshotState::Canceled,
        ChargeStatus::Unknown => SnapshotState::Processing,
    };
    ProviderSnapshot {
        state,
        amount_authorized: charge.amount,
        amount_captured: charge.amount_captured,
        amount_capturable: charge.amount_capturable,
        expires_at: charge.expires_at,
        payment_method: Some(PaymentMethodKind::Card),
        captures: Vec::new(),
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Example {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Example
    }

    fn livemode(&self) -> bool {
        self.api_key.expose_secret().starts_with("live_")
    }

    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError> {
        let ProviderDetails::Example(details) = call.details else {
            return Err(ProviderError::wrong_details(ProviderKind::Example));
        };
        let body = CreateCharge {
            amount: call.money.amount.get(),
            currency: call.money.currency.code(),
            card_token: &details.card_token,
            capture: false,
            reference: call.order_id.as_str(),
        };
        let response = self.post(CHARGES, &body, &call.idempotency_key).await?;
        let mut outcome = AuthorizeOutcome {
            provider_order_id: None,
            result: AuthorizeResult::Processing,
            livemode: self.livemode(),
            payment_method: Some(PaymentMethodKind::Card),
            expires_at: None,
            provider_data: None,
            card: None,
            captures: Vec::new(),
        };
        if response.status == StatusCode::PAYMENT_REQUIRED {
            // A decline makes no charge: the order keeps no provider id.
            let error = parse_error(&response.body).error;
            outcome.result = AuthorizeResult::Declined(Failure {
                code: "CARD_DECLINED".into(),
                message: error.message,
                provider_code: Some(error.code),
            });
            return Ok(outcome);
        }
        let charge: Charge = parse(Reason::ProviderRejected, response)?;
        let snapshot = snapshot(&charge);
        outcome.result = match snapshot.state {
            SnapshotState::Authorized | SnapshotState::Closed => AuthorizeResult::Authorized {
                amount: charge.amount,
                captured: charge.amount_captured,
            },
            SnapshotState::Canceled => AuthorizeResult::Declined(Failure {
                code: "CANCELED".into(),
                message: "the example provider released the charge".into(),
                provider_code: Some("voided".into()),
            }),
            SnapshotState::RequiresAction(_)
            | SnapshotState::Processing
            | SnapshotState::Declined(_) => AuthorizeResult::Processing,
        };
        outcome.provider_order_id = Some(charge.id);
        outcome.livemode = charge.livemode;
        outcome.expires_at = charge.expires_at;
        Ok(outcome)
    }

    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError> {
        let path = Self::charge_path(call.order, "/captures")?;
        let body = CreateCapture {
            amount: call.capture.amount,
            final_capture: call.final_capture,
        };
        let response = self.post(&path, &body, &call.idempotency_key).await?;
        let capture: Capture = parse(Reason::CaptureNotAllowed, response)?;
        Ok(CaptureOutcome {
            provider_capture_id: Some(capture.id),
            amount: capture.amount,
        })
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError> {
        let path = Self::charge_path(call.order, "")?;
        let body = CreateRefund {
            charge: path.trim_start_matches(CHARGES).trim_start_matches('/'),
            amount: call.amount,
            reason: call.reason.map(|r| r.as_str()),
        };
        let response = self.post(REFUNDS, &body, &call.idempotency_key).await?;
        let refund: Refund = parse(Reason::RefundNotAllowed, response)?;
        if refund.amount != call.amount {
            tracing::warn!(order_id = %call.order.id, asked = call.amount, refunded = refund.amount, "the example provider refunded another amount than was asked");
        }
        Ok(RefundOutcome {
            provider_refund_id: refund.id,
            // Its refunds settle at once.
            status: RefundStatus::Succeeded,
        })
    }

    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError> {
        let path = Self::charge_path(call.order, "/void")?;
        let response = self
            .post(&path, &serde_json::json!({}), &call.idempotency_key)
            .await?;
        let _charge: Charge = parse(Reason::VoidNotAllowed, response)?;
        Ok(())
    }

    async fn fetch(&self, order: &OrderRecord) -> Result<ProviderSnapshot, ProviderError> {
        let url = format!("{}{}", self.base_url, Self::charge_path(order, "")?);
        let response = http::send(&self.http, Repeat::Safe, || {
            self.client
                .get(&url)
                .bearer_auth(self.api_key.expose_secret())
        })
        .await
        .map_err(failure)?;
        Ok(snapshot(&parse(Reason::ProviderRejected, response)?))
    }
}
