//! PaymentOptions (DASGATEWAY) server-to-server card adapter (seed 001,
//! providers.md).
//!
//! No idempotency header exists here, so no POST is ever repeated after an
//! answer that may have been lost: a resumed call looks the transaction up
//! instead, and what cannot be proven stays unknown for a person to settle.
//! Card data is sent in the one request that needs it and masked in every
//! answer as it is parsed.

pub mod config;
mod details;
mod errors;
#[cfg(test)]
mod fuzz;
mod rules;
pub mod webhook;
mod wire;

pub use self::details::PaymentOptionsDetails;
pub use self::rules::{DASHBOARD, RULES};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use self::errors::{Op, map_failure};
use self::wire::{Authorization, BillingAddress, Capture, Card, Envelope, Refund, ReturnUrl, Void};
use super::ProviderDetails;
use super::http::{self, HttpSettings, RawResponse, Repeat, SendFailure};
use super::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, CaptureCall, CaptureOutcome,
    FoundTransaction, PaymentProvider, ProviderCapture, ProviderError, ProviderSnapshot,
    RefundCall, RefundOutcome, RejectionKind, SnapshotState, VoidCall,
};
use crate::domain::{
    CaptureMethod, CardSummary, Failure, OrderRecord, PaymentMethodKind, ProviderKind, Reason,
    RefundStatus,
};

pub const DEFAULT_PATH_PREFIX: &str = "/api/v1/server-to-server-interface";

/// How the API key goes into `Authorization: Basic …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// The raw key, as the seed shows it (the default: the seed wins).
    Raw,
    /// Base64 of the key, as the manual says.
    Base64,
}

#[derive(Clone)]
pub struct PaymentOptionsConfig {
    /// E.g. `https://api.paymentoptions.com`.
    pub base_url: String,
    /// The docs' own examples use `/api/v1/api/v1/server-to-server-interface`.
    pub path_prefix: String,
    pub api_key: SecretString,
    /// DASMID, e.g. `JP00000328`.
    pub merchant_id: String,
    pub auth: AuthScheme,
    pub http: HttpSettings,
    /// Sent as `return_url.webhook_url` with each authorization, so that
    /// PaymentOptions notifies kessai's listener.
    pub webhook_url: Option<String>,
}

pub struct PaymentOptions {
    root: String,
    config: PaymentOptionsConfig,
    client: reqwest::Client,
}

fn failure(error: SendFailure) -> ProviderError {
    match error {
        SendFailure::NotSent(detail) => ProviderError::Unreachable {
            provider: ProviderKind::PaymentOptions,
            detail,
        },
        SendFailure::Unknown(detail) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::PaymentOptions,
            detail,
        },
    }
}

fn unknown(detail: impl Into<String>) -> ProviderError {
    ProviderError::OutcomeUnknown {
        provider: ProviderKind::PaymentOptions,
        detail: detail.into(),
    }
}

/// The envelope of an answer; an unreadable success body means the
/// provider acted and kessai cannot tell how.
fn envelope(response: &RawResponse) -> Result<Envelope, ProviderError> {
    match serde_json::from_slice::<Envelope>(&response.body) {
        Ok(envelope)
            if response.status.is_success()
                && !envelope
                    .payment_details
                    .as_ref()
                    .and_then(|p| p.amount)
                    .is_none_or(super::plausible_amount) =>
        {
            Err(unknown(
                "PaymentOptions answered with an amount out of any plausible range",
            ))
        }
        Ok(envelope) => Ok(envelope),
        Err(_) if response.status.is_success() => Err(unknown("unreadable PaymentOptions answer")),
        Err(_) => Ok(Envelope::default()),
    }
}

/// An answer that says the operation happened.
fn succeeded(response: &RawResponse, envelope: &Envelope) -> bool {
    response.status.is_success()
        && envelope.success != Some(false)
        && envelope.response_code().unwrap_or(0) == 0
}

fn notes(reference: &str, description: &str) -> Option<String> {
    let joined = [reference, description]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    (!joined.is_empty()).then(|| joined.chars().take(128).collect())
}

fn no_transaction(message: &str) -> ProviderError {
    ProviderError::Rejected {
        provider: ProviderKind::PaymentOptions,
        kind: RejectionKind::NotFound,
        reason: Reason::OrderNotFound,
        provider_code: "404".into(),
        message: message.into(),
    }
}

impl PaymentOptions {
    pub fn new(config: PaymentOptionsConfig) -> Self {
        let root = format!(
            "{}/{}",
            config.base_url.trim_end_matches('/'),
            config.path_prefix.trim_matches('/')
        );
        Self {
            root,
            client: config.http.client(),
            config,
        }
    }

    fn authorization(&self) -> HeaderValue {
        let key = self.config.api_key.expose_secret();
        let credential = match self.config.auth {
            AuthScheme::Raw => key.to_owned(),
            AuthScheme::Base64 => STANDARD.encode(key),
        };
        let mut value = HeaderValue::from_str(&format!("Basic {credential}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic -"));
        value.set_sensitive(true);
        value
    }

    fn api_key(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(self.config.api_key.expose_secret())
            .unwrap_or_else(|_| HeaderValue::from_static("-"));
        value.set_sensitive(true);
        value
    }

    /// One POST. Never repeated after an answer that may have been lost: only
    /// a request that never left is sent again.
    async fn post<T: Serialize>(
        &self,
        operation: &str,
        body: &T,
    ) -> Result<RawResponse, ProviderError> {
        let url = format!("{}/{operation}", self.root);
        http::send(&self.config.http, Repeat::Unsafe, || {
            self.client
                .post(&url)
                .header(AUTHORIZATION, self.authorization())
                .header("x-api-key", self.api_key())
                .header(CONTENT_TYPE, "application/json")
                .json(body)
        })
        .await
        .map_err(failure)
    }

    async fn status(&self, transaction_id: &str) -> Result<(RawResponse, Envelope), ProviderError> {
        let url = format!("{}/transaction/status/{transaction_id}", self.root);
        let response = http::send(&self.config.http, Repeat::Safe, || {
            self.client
                .get(&url)
                .header(AUTHORIZATION, self.authorization())
                .header("x-api-key", self.api_key())
        })
        .await
        .map_err(failure)?;
        let envelope = envelope(&response)?;
        Ok((response, envelope))
    }

    fn transaction<'a>(&self, order: &'a OrderRecord) -> Result<&'a str, ProviderError> {
        order
            .provider_order_id
            .as_deref()
            .ok_or_else(|| no_transaction("the order has no PaymentOptions transaction"))
    }
}

#[async_trait::async_trait]
impl PaymentProvider for PaymentOptions {
    fn kind(&self) -> ProviderKind {
        ProviderKind::PaymentOptions
    }

    fn livemode(&self) -> bool {
        // The API answers `is_live`; the dev host is api-dev.
        !self.config.base_url.contains("api-dev.") && !self.config.base_url.starts_with("http://")
    }

    fn deduplicates_retries(&self) -> bool {
        false
    }

    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError> {
        let ProviderDetails::PaymentOptions(details) = call.details else {
            return Err(ProviderError::wrong_details(ProviderKind::PaymentOptions));
        };
        let card = &details.card;
        let body = Authorization {
            amount: call.money.amount.get().to_string(),
            currency: call.money.currency.code(),
            card: Card {
                number: card.number.expose(),
                cvc: card.cvc.expose(),
                expiry_month: format!("{:02}", card.exp_month),
                expiry_year: format!("{:02}", card.exp_year % 100),
                name: card.name.expose_secret(),
            },
            merchant_txn_ref: call.order_id.as_str(),
            customer_ip: details.customer_ip.as_deref(),
            merchant_id: &self.config.merchant_id,
            return_url: self
                .config
                .webhook_url
                .as_deref()
                .map(|webhook_url| ReturnUrl { webhook_url }),
            billing_address: details.billing_address.as_ref().map(|a| BillingAddress {
                country: &a.country,
                address1: &a.line1,
                address2: &a.line2,
                city: &a.city,
                state: &a.state,
                postal_code: &a.postal_code,
            }),
        };
        let operation = match call.capture_method {
            CaptureMethod::Manual => "authorization",
            CaptureMethod::Automatic => "payment",
        };
        let response = self.post(operation, &body).await?;
        drop(body);
        let envelope = envelope(&response)?;
        let summary = CardSummary {
            bin: card.number.bin(),
            last4: card.number.last4(),
            brand: None,
            exp_month: card.exp_month as i32,
            exp_year: card.exp_year,
        };
        let sent = Sent {
            amount: call.money.amount.get(),
            capture_method: call.capture_method,
            livemode: self.livemode(),
        };
        authorize_outcome(&response, envelope, summary, sent)
    }

    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError> {
        let authorization = self.transaction(call.order)?;
        if call.resumed_after.is_some() {
            // The capture is a new transaction whose id was in the lost
            // answer; the authorization's status does not show it.
            return Err(unknown(
                "a capture whose answer was lost cannot be looked up at PaymentOptions: booked when its notification names it, else left for review",
            ));
        }
        let body = Capture {
            transaction_id: authorization,
            amount: call.capture.amount,
            merchant_id: &self.config.merchant_id,
            notes: notes(&call.capture.reference, &call.capture.description),
        };
        let response = self.post("capture", &body).await?;
        capture_outcome(&response, envelope(&response)?, call.capture.amount)
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError> {
        let capture = call
            .capture
            .and_then(|c| c.provider_capture_id.as_deref())
            .ok_or_else(|| ProviderError::Rejected {
                provider: ProviderKind::PaymentOptions,
                kind: RejectionKind::Precondition,
                reason: Reason::RefundNotAllowed,
                provider_code: "no_capture_transaction".into(),
                message: "the capture has no PaymentOptions transaction to refund".into(),
            })?;
        if call.resumed_after.is_some() {
            return Err(unknown(
                "a refund whose answer was lost cannot be looked up at PaymentOptions: booked when its notification names it, else left for review",
            ));
        }
        let body = Refund {
            transaction_id: capture,
            amount: call.amount,
            merchant_id: &self.config.merchant_id,
            notes: notes(call.reference, call.description),
        };
        let response = self.post("refund", &body).await?;
        refund_outcome(&response, envelope(&response)?)
    }

    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError> {
        let authorization = self.transaction(call.order)?;
        if call.resumed_after.is_some() {
            return Err(unknown(
                "a void whose answer was lost cannot be proven at PaymentOptions: booked when its notification names it, else left for review",
            ));
        }
        let body = Void {
            transaction_id: authorization,
            merchant_id: &self.config.merchant_id,
        };
        let response = self.post("void", &body).await?;
        void_outcome(&response, envelope(&response)?)
    }

    async fn fetch(&self, order: &OrderRecord) -> Result<ProviderSnapshot, ProviderError> {
        let (response, envelope) = self.status(self.transaction(order)?).await?;
        snapshot(&response, &envelope)
    }

    /// The status call on the id a notification named: only what
    /// PaymentOptions itself answers counts, and only for this order.
    async fn transaction(
        &self,
        order: &OrderRecord,
        id: &str,
    ) -> Result<Option<FoundTransaction>, ProviderError> {
        let (response, envelope) = self.status(id).await?;
        let ours = envelope.merchant_txn_ref() == Some(order.id.as_str());
        if !succeeded(&response, &envelope) || !ours || envelope.transaction_id() != Some(id) {
            return Ok(None);
        }
        let amount = envelope.payment_details.as_ref().and_then(|d| d.amount);
        let id = id.to_owned();
        Ok(Some(match (envelope.transaction_type.as_deref(), amount) {
            (Some("CAPTURE"), Some(amount)) => FoundTransaction::Capture { id, amount },
            (Some("REFUND"), Some(amount)) => FoundTransaction::Refund { id, amount },
            (Some("VOID"), _) => FoundTransaction::Void { id },
            _ => FoundTransaction::Other,
        }))
    }
}

/// What an authorization sent, that its answer is read against.
#[derive(Clone, Copy)]
struct Sent {
    amount: i64,
    capture_method: CaptureMethod,
    livemode: bool,
}

/// An authorization's answer: approved, declined by the acquirer, or a
/// mapped failure. The card summary is what kessai sent, with the brand the
/// answer names.
fn authorize_outcome(
    response: &RawResponse,
    envelope: Envelope,
    summary: CardSummary,
    sent: Sent,
) -> Result<AuthorizeOutcome, ProviderError> {
    let summary = CardSummary {
        brand: envelope
            .payment_details
            .as_ref()
            .and_then(|p| p.scheme.clone()),
        ..summary
    };
    if let Some(echoed) = envelope.card_last4()
        && echoed != summary.last4
    {
        tracing::warn!(sent = %summary.last4, echoed, "PaymentOptions echoed another card's last four digits");
    }
    let transaction_id = envelope.transaction_id().map(str::to_owned);
    let livemode = envelope.is_live.unwrap_or(sent.livemode);
    if succeeded(response, &envelope) {
        let id = transaction_id.ok_or_else(|| unknown("an approval without a transaction id"))?;
        let amount = envelope
            .payment_details
            .as_ref()
            .and_then(|p| p.amount)
            .unwrap_or(sent.amount);
        let sale = sent.capture_method == CaptureMethod::Automatic;
        return Ok(AuthorizeOutcome {
            provider_order_id: Some(id.clone()),
            result: AuthorizeResult::Authorized {
                amount,
                captured: if sale { amount } else { 0 },
            },
            livemode,
            payment_method: Some(PaymentMethodKind::Card),
            expires_at: None,
            provider_data: None,
            card: Some(summary),
            captures: if sale {
                vec![ProviderCapture { id, amount }]
            } else {
                Vec::new()
            },
        });
    }
    if let Some(code) = envelope.response_code().filter(|code| *code != 0) {
        return Ok(AuthorizeOutcome {
            provider_order_id: transaction_id,
            result: AuthorizeResult::Declined(Failure {
                code: errors::decline_code(code).into(),
                message: envelope
                    .explanation()
                    .unwrap_or_else(|| "the card was declined".into()),
                provider_code: Some(code.to_string()),
            }),
            livemode,
            payment_method: Some(PaymentMethodKind::Card),
            expires_at: None,
            provider_data: None,
            card: Some(summary),
            captures: Vec::new(),
        });
    }
    Err(map_failure(Op::Authorize, response.status, &envelope))
}

fn capture_outcome(
    response: &RawResponse,
    envelope: Envelope,
    requested: i64,
) -> Result<CaptureOutcome, ProviderError> {
    if !succeeded(response, &envelope) {
        return Err(map_failure(Op::Capture, response.status, &envelope));
    }
    let id = envelope
        .transaction_id()
        .ok_or_else(|| unknown("a capture without a transaction id"))?;
    Ok(CaptureOutcome {
        provider_capture_id: Some(id.to_owned()),
        amount: envelope
            .payment_details
            .as_ref()
            .and_then(|p| p.amount)
            .unwrap_or(requested),
    })
}

fn refund_outcome(
    response: &RawResponse,
    envelope: Envelope,
) -> Result<RefundOutcome, ProviderError> {
    if !succeeded(response, &envelope) {
        return Err(map_failure(Op::Refund, response.status, &envelope));
    }
    let id = envelope
        .transaction_id()
        .ok_or_else(|| unknown("a refund without a transaction id"))?;
    Ok(RefundOutcome {
        provider_refund_id: id.to_owned(),
        status: RefundStatus::Succeeded,
    })
}

fn void_outcome(response: &RawResponse, envelope: Envelope) -> Result<(), ProviderError> {
    if succeeded(response, &envelope) {
        Ok(())
    } else {
        Err(map_failure(Op::Void, response.status, &envelope))
    }
}

/// What a transaction's status says, in kessai's terms.
fn snapshot(
    response: &RawResponse,
    envelope: &Envelope,
) -> Result<ProviderSnapshot, ProviderError> {
    if !response.status.is_success() {
        return Err(map_failure(Op::Status, response.status, envelope));
    }
    let amount = envelope
        .payment_details
        .as_ref()
        .and_then(|p| p.amount)
        .unwrap_or(0);
    let approved = envelope.success != Some(false) && envelope.response_code().unwrap_or(0) == 0;
    let (state, authorized, captured) = match (envelope.transaction_type.as_deref(), approved) {
        (_, false) => {
            let code = envelope.response_code().unwrap_or(0);
            let failure = Failure {
                code: errors::decline_code(code).into(),
                message: envelope.explanation().unwrap_or_default(),
                provider_code: Some(code.to_string()),
            };
            (SnapshotState::Declined(failure), 0, 0)
        }
        (Some("PRE_AUTH"), true) => (SnapshotState::Authorized, amount, 0),
        (Some("SALE" | "CAPTURE"), true) => (SnapshotState::Closed, amount, amount),
        (Some("VOID"), true) => (SnapshotState::Canceled, amount, 0),
        (Some(_) | None, true) => (SnapshotState::Processing, 0, 0),
    };
    Ok(ProviderSnapshot {
        state,
        amount_authorized: authorized,
        amount_captured: captured,
        amount_capturable: authorized - captured,
        expires_at: None,
        payment_method: Some(PaymentMethodKind::Card),
        captures: Vec::new(),
    })
}
