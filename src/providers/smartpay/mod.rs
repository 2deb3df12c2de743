//! Smartpay adapter (seeds 000 and 002, providers.md).
//!
//! Authorization is a shopper action: a checkout session whose URL the
//! shopper visits (the order is then REQUIRES_ACTION until Smartpay reports
//! it `requires_capture`), or a token the shopper already approved. Captures
//! are payments against the order; refunds go against a payment. Smartpay
//! honours `Idempotency-Key` for 6 hours only: a call resumed later than that
//! looks its object up first instead of trusting the key.

pub mod config;
mod details;
mod errors;
mod request;
mod rules;
mod snapshot;
#[cfg(test)]
mod tests;
pub mod webhook;
mod wire;

pub use self::details::{
    ItemsTotal, SmartpayCustomer, SmartpayDetails, SmartpayFlow, SmartpayItem, SmartpayItemKind,
    SmartpayShipping,
};
pub use self::rules::{DASHBOARD, RULES};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use self::errors::{map_error, parse_error};
use self::request::{customer, items, shipping};
use self::snapshot::{authorized_outcome, refund_outcome, snapshot};
use self::wire::{
    Address, CheckoutSession, Collection, CreateCheckoutSession, CreateOrder, CreatePayment,
    CreateRefund, CustomerInfo, Item, Order, OrderStatus, Payment, Refund, ShippingInfo,
};
use super::ProviderDetails;
use super::http::{self, HttpSettings, RawResponse, Repeat, SendFailure};
use super::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, CaptureCall, CaptureOutcome, PaymentProvider,
    Plausible, ProviderCapture, ProviderError, ProviderSnapshot, RefundCall, RefundOutcome,
    RejectionKind, SnapshotState, VoidCall,
};
use crate::domain::{
    CaptureMethod, Failure, NextAction, OrderRecord, PaymentMethodKind, PostalAddress,
    ProviderKind, Reason, RefundReason, RefundStatus,
};

/// How long Smartpay remembers an `Idempotency-Key` (providers.md).
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(6);

/// The page size asked for when looking a refund up. GUESS: Smartpay
/// documents the default (20), not the largest page.
const REFUND_PAGE_SIZE: u32 = 100;
/// How many pages of refunds a lookup reads before leaving the refund for
/// review rather than concluding it was never made.
const REFUND_PAGES: usize = 50;

#[derive(Clone)]
pub struct SmartpayConfig {
    /// E.g. `https://api.smartpay.co/v1`.
    pub base_url: String,
    pub secret_key: SecretString,
    pub http: HttpSettings,
}

pub struct Smartpay {
    base_url: String,
    secret_key: SecretString,
    client: reqwest::Client,
    http: HttpSettings,
}

fn failure(error: SendFailure) -> ProviderError {
    match error {
        SendFailure::NotSent(detail) => ProviderError::Unreachable {
            provider: ProviderKind::Smartpay,
            detail,
        },
        SendFailure::Unknown(detail) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::Smartpay,
            detail,
        },
    }
}

fn unreadable(detail: String) -> ProviderError {
    ProviderError::OutcomeUnknown {
        provider: ProviderKind::Smartpay,
        detail,
    }
}

fn parse<T: serde::de::DeserializeOwned + Plausible>(
    response: RawResponse,
) -> Result<T, ProviderError> {
    if response.status.is_success() {
        let value: T = serde_json::from_slice(&response.body)
            .map_err(|e| unreadable(format!("unreadable Smartpay response: {e}")))?;
        if !value.plausible() {
            return Err(unreadable(
                "Smartpay answered with amounts out of any plausible range".into(),
            ));
        }
        Ok(value)
    } else {
        Err(map_error(response.status, &parse_error(&response.body)))
    }
}

fn rejection() -> Failure {
    Failure {
        code: "BNPL_REJECTED".into(),
        message: "Smartpay rejected the shopper's application".into(),
        provider_code: Some("rejected".into()),
    }
}

fn some(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

fn capture_method(method: CaptureMethod) -> &'static str {
    match method {
        CaptureMethod::Manual => "manual",
        CaptureMethod::Automatic => "automatic",
    }
}

fn millis(value: Option<i64>) -> Option<DateTime<Utc>> {
    value.and_then(DateTime::from_timestamp_millis)
}

fn past_idempotency_window(resumed_after: Option<chrono::Duration>) -> bool {
    resumed_after.is_some_and(|elapsed| elapsed >= IDEMPOTENCY_WINDOW)
}

fn not_provable(what: &str) -> ProviderError {
    ProviderError::OutcomeUnknown {
        provider: ProviderKind::Smartpay,
        detail: format!(
            "the first {what} was sent more than 6 hours ago, Smartpay no longer deduplicates it, and it cannot be looked up; left for review"
        ),
    }
}

fn no_object(message: &str) -> ProviderError {
    ProviderError::Rejected {
        provider: ProviderKind::Smartpay,
        kind: RejectionKind::NotFound,
        reason: Reason::OrderNotFound,
        provider_code: "not-found".into(),
        message: message.into(),
    }
}

impl Smartpay {
    pub fn new(config: SmartpayConfig) -> Self {
        Self {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            client: config.http.client(),
            secret_key: config.secret_key,
            http: config.http,
        }
    }

    /// `Basic <secret key>`: the raw key, not base64 (providers.md).
    fn authorization(&self) -> HeaderValue {
        let mut value =
            HeaderValue::from_str(&format!("Basic {}", self.secret_key.expose_secret()))
                .unwrap_or_else(|_| HeaderValue::from_static("Basic invalid-key"));
        value.set_sensitive(true);
        value
    }

    async fn send<T: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&T>,
        key: Option<&str>,
    ) -> Result<RawResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        // A write without a key is not safe to repeat after a lost answer.
        let repeat = if method == reqwest::Method::GET || key.is_some() {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        http::send(&self.http, repeat, || {
            let mut request = self
                .client
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.authorization())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            request
        })
        .await
        .map_err(failure)
    }

    async fn get<T: serde::de::DeserializeOwned + Plausible>(
        &self,
        path: &str,
    ) -> Result<T, ProviderError> {
        parse(
            self.send::<()>(reqwest::Method::GET, path, None, None)
                .await?,
        )
    }

    async fn order(&self, id: &str) -> Result<Order, ProviderError> {
        self.get(&format!("/orders/{id}?expand=no")).await
    }

    async fn payments(&self, order: &Order) -> Result<Vec<Payment>, ProviderError> {
        let mut payments = Vec::new();
        for id in order.payment_ids() {
            payments.push(self.get::<Payment>(&format!("/payments/{id}")).await?);
        }
        Ok(payments)
    }

    fn order_id<'a>(&self, order: &'a OrderRecord) -> Result<&'a str, ProviderError> {
        order
            .provider_order_id
            .as_deref()
            .ok_or_else(|| no_object("the order has no Smartpay order"))
    }

    /// The outcome of an authorized (or captured) Smartpay order.
    async fn authorized(
        &self,
        order: &Order,
        livemode: bool,
    ) -> Result<AuthorizeOutcome, ProviderError> {
        let payments = self.payments(order).await?;
        authorized_outcome(order, payments, livemode)
    }

    fn rejected(order: &Order, livemode: bool) -> AuthorizeOutcome {
        AuthorizeOutcome {
            provider_order_id: Some(order.id.clone()),
            result: AuthorizeResult::Declined(rejection()),
            livemode,
            payment_method: Some(PaymentMethodKind::Bnpl),
            expires_at: None,
            provider_data: None,
            card: None,
            captures: Vec::new(),
        }
    }

    async fn order_outcome(&self, order: Order) -> Result<AuthorizeOutcome, ProviderError> {
        let livemode = order.test == Some(false);
        match order.status {
            OrderStatus::RequiresCapture | OrderStatus::Succeeded => {
                self.authorized(&order, livemode).await
            }
            OrderStatus::Rejected | OrderStatus::Failed | OrderStatus::Canceled => {
                Ok(Self::rejected(&order, livemode))
            }
            OrderStatus::RequiresAuthorization | OrderStatus::Pending | OrderStatus::Unknown => {
                Ok(AuthorizeOutcome {
                    provider_order_id: Some(order.id.clone()),
                    result: AuthorizeResult::Processing,
                    livemode,
                    payment_method: Some(PaymentMethodKind::Bnpl),
                    expires_at: None,
                    provider_data: None,
                    card: None,
                    captures: Vec::new(),
                })
            }
        }
    }

    /// The refund kessai sent with `key` (its `kessai_refund_key` metadata)
    /// against `payment`, looked for through `GET /refunds`, newest first,
    /// page by page. `None` once the whole list was read without it; an
    /// unknown outcome when the list is longer than a lookup reads.
    async fn find_refund(&self, payment: &str, key: &str) -> Result<Option<Refund>, ProviderError> {
        let mut page_token: Option<String> = None;
        for _ in 0..REFUND_PAGES {
            let mut path = format!("/refunds?maxResults={REFUND_PAGE_SIZE}");
            if let Some(token) = &page_token {
                path.push_str("&pageToken=");
                path.extend(url::form_urlencoded::byte_serialize(token.as_bytes()));
            }
            let page: Collection<Refund> = self.get(&path).await?;
            if let Some(refund) = page.data.into_iter().find(|r| {
                r.payment.as_deref() == Some(payment)
                    && r.metadata.get("kessai_refund_key").and_then(|v| v.as_str()) == Some(key)
            }) {
                return Ok(Some(refund));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) if page_token.as_deref() != Some(token.as_str()) => {
                    page_token = Some(token);
                }
                _ => return Ok(None),
            }
        }
        Err(ProviderError::OutcomeUnknown {
            provider: ProviderKind::Smartpay,
            detail: format!(
                "the refund was not among Smartpay's latest {} refunds; left for review",
                REFUND_PAGES * REFUND_PAGE_SIZE as usize
            ),
        })
    }

    /// The payment a capture made, found by the capture id kessai put in its
    /// metadata.
    async fn find_payment(
        &self,
        order_id: &str,
        capture_id: &str,
    ) -> Result<Option<Payment>, ProviderError> {
        let order = self.order(order_id).await?;
        let payments = self.payments(&order).await?;
        Ok(payments.into_iter().find(|p| {
            p.metadata.get("kessai_capture_id").and_then(|v| v.as_str()) == Some(capture_id)
        }))
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Smartpay {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Smartpay
    }

    fn livemode(&self) -> bool {
        self.secret_key.expose_secret().starts_with("sk_live_")
    }

    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError> {
        let ProviderDetails::Smartpay(details) = call.details else {
            return Err(ProviderError::wrong_details(ProviderKind::Smartpay));
        };
        let reference = some(call.merchant_reference).unwrap_or(call.order_id.as_str());
        let metadata = BTreeMap::from([("kessai_order_id", call.order_id.as_str())]);
        match &details.flow {
            SmartpayFlow::Checkout {
                success_url,
                cancel_url,
            } => {
                // A second checkout session is harmless (the shopper never saw
                // the first), so a resume always resends.
                let body = CreateCheckoutSession {
                    amount: call.money.amount.get(),
                    currency: call.money.currency.code(),
                    items: items(details, call.money.currency.code()),
                    capture_method: capture_method(call.capture_method),
                    success_url,
                    cancel_url,
                    reference,
                    metadata,
                    customer_info: customer(details),
                    shipping_info: shipping(details, call.money.currency.code()),
                };
                let response = self
                    .send(
                        reqwest::Method::POST,
                        "/checkout-sessions",
                        Some(&body),
                        Some(&call.idempotency_key),
                    )
                    .await?;
                let session: CheckoutSession = parse(response)?;
                Ok(AuthorizeOutcome {
                    provider_order_id: Some(session.order.id.clone()),
                    result: AuthorizeResult::RequiresAction(NextAction::RedirectUrl(
                        session.url.clone(),
                    )),
                    livemode: session.order.test == Some(false),
                    payment_method: Some(PaymentMethodKind::Bnpl),
                    expires_at: None,
                    provider_data: Some(serde_json::json!({ "checkout_session_id": session.id })),
                    card: None,
                    captures: Vec::new(),
                })
            }
            SmartpayFlow::Token { token } => {
                // Past the window a resend could make a second order.
                if past_idempotency_window(call.resumed_after) {
                    return Err(not_provable("order"));
                }
                let body = CreateOrder {
                    token,
                    amount: call.money.amount.get(),
                    currency: call.money.currency.code(),
                    capture_method: capture_method(call.capture_method),
                    items: items(details, call.money.currency.code()),
                    reference,
                    metadata,
                    customer_info: customer(details),
                    shipping_info: shipping(details, call.money.currency.code()),
                };
                let response = self
                    .send(
                        reqwest::Method::POST,
                        "/orders",
                        Some(&body),
                        Some(&call.idempotency_key),
                    )
                    .await?;
                let order: Order = parse(response)?;
                self.order_outcome(order).await
            }
        }
    }

    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError> {
        let order_id = self.order_id(call.order)?;
        let capture_id = call.capture.id.as_str();
        if past_idempotency_window(call.resumed_after)
            && let Some(payment) = self.find_payment(order_id, capture_id).await?
        {
            return Ok(CaptureOutcome {
                provider_capture_id: Some(payment.id),
                amount: payment.amount,
            });
        }
        let body = CreatePayment {
            order: order_id,
            amount: call.capture.amount,
            currency: call.order.currency.code(),
            cancel_remainder: if call.final_capture {
                "automatic"
            } else {
                "manual"
            },
            reference: some(&call.capture.reference),
            description: some(&call.capture.description),
            metadata: BTreeMap::from([("kessai_capture_id", capture_id)]),
        };
        let response = self
            .send(
                reqwest::Method::POST,
                "/payments",
                Some(&body),
                Some(&call.idempotency_key),
            )
            .await?;
        let payment: Payment = parse(response)?;
        Ok(CaptureOutcome {
            provider_capture_id: Some(payment.id),
            amount: payment.amount,
        })
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError> {
        let payment = call
            .capture
            .and_then(|c| c.provider_capture_id.as_deref())
            .ok_or_else(|| ProviderError::Rejected {
                provider: ProviderKind::Smartpay,
                kind: RejectionKind::Precondition,
                reason: Reason::RefundNotAllowed,
                provider_code: "payment.unknown".into(),
                message: "the capture has no Smartpay payment to refund".into(),
            })?;
        // Past the window Smartpay no longer deduplicates a resend, which
        // could refund twice: the refund is looked up by its key first. Found,
        // it is the outcome. Not found (the whole list read), no refund was
        // ever made with this key, so sending it now refunds once, as a
        // resend within the window would; this is also how a part of a split
        // refund that was never sent (it waited behind the lost one) gets
        // made. A list too long to read leaves it for review.
        if past_idempotency_window(call.resumed_after)
            && let Some(refund) = self.find_refund(payment, &call.idempotency_key).await?
        {
            return Ok(refund_outcome(refund));
        }
        let body = CreateRefund {
            payment,
            amount: call.amount,
            currency: call.order.currency.code(),
            reason: match call.reason {
                Some(RefundReason::Fraudulent) => "fraudulent",
                Some(RefundReason::RequestedByCustomer) | Some(RefundReason::Duplicate) | None => {
                    "requested_by_customer"
                }
            },
            reference: some(call.reference),
            description: some(call.description),
            metadata: BTreeMap::from([("kessai_refund_key", call.idempotency_key.as_str())]),
        };
        let response = self
            .send(
                reqwest::Method::POST,
                "/refunds",
                Some(&body),
                Some(&call.idempotency_key),
            )
            .await?;
        let refund: Refund = parse(response)?;
        Ok(refund_outcome(refund))
    }

    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError> {
        let order_id = self.order_id(call.order)?;
        let path = format!("/orders/{order_id}/cancellation");
        let response = self
            .send::<()>(
                reqwest::Method::PUT,
                &path,
                None,
                Some(&call.idempotency_key),
            )
            .await?;
        if response.status == StatusCode::NO_CONTENT {
            return Ok(());
        }
        let _order: serde_json::Value = parse(response)?;
        Ok(())
    }

    async fn fetch(&self, record: &OrderRecord) -> Result<ProviderSnapshot, ProviderError> {
        let order = self.order(self.order_id(record)?).await?;
        let payments = self.payments(&order).await?;
        snapshot(order, payments)
    }
}
