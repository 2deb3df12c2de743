//! PAY.JP v2 Payment Flow adapter (seed 003, providers.md).
//!
//! Authorize is one `POST /payment_flows` with `confirm: true` when a payment
//! method is given; without one the flow waits for the shop's front end.
//! Every POST carries an `Idempotency-Key` derived from kessai's ids, so the
//! bounded retries in [`crate::providers::http`] are safe here.

pub mod config;
mod details;
mod errors;
mod outcome;
mod rules;
pub mod webhook;
mod wire;

pub use self::details::PayjpDetails;
pub use self::rules::{DASHBOARD, RULES};

use std::collections::BTreeMap;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use self::errors::{Op, map_error, parse_problem};
use self::outcome::{
    authorize_result, confirmed_by_kessai, declined, payment_method, provider_data, snapshot,
    warn_without_redirect,
};
use self::wire::{
    CancelPaymentFlow, CapturePaymentFlow, CardOptions, CreatePaymentFlow, CreateRefund, List,
    PAYMENT_FLOWS, PAYMENT_REFUNDS, PaymentFlow, PaymentMethodOptions, PaymentRefund, REFUND_KEY,
};
use super::ProviderDetails;
use super::http::{self, HttpSettings, RawResponse, Repeat, SendFailure};
use super::{
    AuthorizeCall, AuthorizeOutcome, AuthorizeResult, CaptureCall, CaptureOutcome, PaymentProvider,
    Plausible, ProviderError, ProviderSnapshot, RefundCall, RefundOutcome, RejectionKind, VoidCall,
};
use crate::domain::{CaptureMethod, OrderRecord, ProviderKind, Reason, RefundStatus};

/// Where and how to reach PAY.JP.
#[derive(Clone)]
pub struct PayjpConfig {
    /// E.g. `https://api.pay.jp/v2`.
    pub base_url: String,
    pub secret_key: SecretString,
    pub http: HttpSettings,
}

pub struct Payjp {
    base_url: String,
    secret_key: SecretString,
    client: reqwest::Client,
    http: HttpSettings,
}

impl Payjp {
    pub fn new(config: PayjpConfig) -> Self {
        Self {
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            client: config.http.client(),
            secret_key: config.secret_key,
            http: config.http,
        }
    }

    async fn post<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        key: &str,
    ) -> Result<RawResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let response = http::send(&self.http, Repeat::Safe, || {
            self.client
                .post(&url)
                .bearer_auth(self.secret_key.expose_secret())
                .header("Idempotency-Key", key)
                .json(body)
        })
        .await;
        response.map_err(failure)
    }

    async fn get(&self, path: &str) -> Result<RawResponse, ProviderError> {
        let url = format!("{}{path}", self.base_url);
        let response = http::send(&self.http, Repeat::Safe, || {
            self.client
                .get(&url)
                .bearer_auth(self.secret_key.expose_secret())
        })
        .await;
        response.map_err(failure)
    }

    /// The flow's refund made with kessai's idempotency `key`, if PAY.JP has
    /// one: how a refund whose answer was lost is settled without sending it
    /// again (past PAY.JP's idempotency window a resend would refund twice).
    async fn find_refund(
        &self,
        flow_id: &str,
        key: &str,
    ) -> Result<Option<PaymentRefund>, ProviderError> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_REFUND_PAGES {
            let mut path = format!("{PAYMENT_FLOWS}/{flow_id}/refunds?limit=100");
            if let Some(id) = &after {
                path.push_str("&starting_after=");
                path.extend(url::form_urlencoded::byte_serialize(id.as_bytes()));
            }
            let page: List<PaymentRefund> = parse(Op::Fetch, self.get(&path).await?)?;
            let found = page
                .data
                .iter()
                .find(|r| r.metadata.get(REFUND_KEY).and_then(|v| v.as_str()) == Some(key));
            if let Some(refund) = found {
                return Ok(Some(refund.clone()));
            }
            match (page.has_more, page.data.last()) {
                (true, Some(last)) => after = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
        // More refunds than any order can have: do not guess.
        Err(ProviderError::OutcomeUnknown {
            provider: ProviderKind::Payjp,
            detail: "too many PAY.JP refunds to look the lost one up".into(),
        })
    }

    fn flow_path(order: &OrderRecord, suffix: &str) -> Result<String, ProviderError> {
        let id = order
            .provider_order_id
            .as_deref()
            .ok_or_else(|| ProviderError::Rejected {
                provider: ProviderKind::Payjp,
                kind: RejectionKind::NotFound,
                reason: Reason::OrderNotFound,
                provider_code: "not_found".into(),
                message: "the order has no PAY.JP payment flow".into(),
            })?;
        Ok(format!("{PAYMENT_FLOWS}/{id}{suffix}"))
    }
}

/// How many pages of 100 refunds a lookup reads before giving up.
const MAX_REFUND_PAGES: usize = 50;

fn failure(error: SendFailure) -> ProviderError {
    match error {
        SendFailure::NotSent(detail) => ProviderError::Unreachable {
            provider: ProviderKind::Payjp,
            detail,
        },
        SendFailure::Unknown(detail) => ProviderError::OutcomeUnknown {
            provider: ProviderKind::Payjp,
            detail,
        },
    }
}

/// A 2xx body that cannot be read: PAY.JP acted, kessai cannot tell how.
fn unreadable(error: serde_json::Error) -> ProviderError {
    ProviderError::OutcomeUnknown {
        provider: ProviderKind::Payjp,
        detail: format!("unreadable PAY.JP response: {error}"),
    }
}

fn parse<T: serde::de::DeserializeOwned + Plausible>(
    op: Op,
    response: RawResponse,
) -> Result<T, ProviderError> {
    if response.status.is_success() {
        let value: T = serde_json::from_slice(&response.body).map_err(unreadable)?;
        if !value.plausible() {
            return Err(ProviderError::OutcomeUnknown {
                provider: ProviderKind::Payjp,
                detail: "PAY.JP answered with amounts out of any plausible range".into(),
            });
        }
        Ok(value)
    } else {
        Err(map_error(
            op,
            response.status,
            &parse_problem(&response.body),
        ))
    }
}

fn kessai_metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

#[async_trait::async_trait]
impl PaymentProvider for Payjp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Payjp
    }

    fn livemode(&self) -> bool {
        self.secret_key.expose_secret().starts_with("sk_live_")
    }

    async fn authorize(&self, call: AuthorizeCall<'_>) -> Result<AuthorizeOutcome, ProviderError> {
        let ProviderDetails::Payjp(details) = call.details else {
            return Err(ProviderError::wrong_details(ProviderKind::Payjp));
        };
        let confirm = details.payment_method_id.is_some();
        let body = CreatePaymentFlow {
            amount: call.money.amount.get(),
            // The API's currency codes are lower case.
            currency: call.money.currency.code().to_ascii_lowercase(),
            capture_method: match call.capture_method {
                CaptureMethod::Manual => "manual",
                CaptureMethod::Automatic => "automatic",
            },
            customer_id: details.customer_id.as_deref(),
            payment_method_id: details.payment_method_id.as_deref(),
            payment_method_options: details.extended_authorization.then_some(
                PaymentMethodOptions {
                    card: CardOptions {
                        request_extended_authorization: "if_available",
                    },
                },
            ),
            confirm,
            return_url: details.return_url.as_deref(),
            description: non_empty(call.description),
            // Caller metadata stays in kessai: PAY.JP's own limits differ.
            metadata: kessai_metadata(&[
                ("kessai_order_id", call.order_id.as_str()),
                ("merchant_reference", call.merchant_reference),
            ]),
        };
        let response = self
            .post(PAYMENT_FLOWS, &body, &call.idempotency_key)
            .await?;
        if response.status == StatusCode::PAYMENT_REQUIRED {
            // The decline names no flow: the order keeps no provider id.
            let problem = parse_problem(&response.body);
            let code = problem.name().unwrap_or_else(|| "payment_failed".into());
            let message = problem
                .detail
                .clone()
                .unwrap_or_else(|| "the card was declined".into());
            return Ok(AuthorizeOutcome {
                provider_order_id: None,
                result: AuthorizeResult::Declined(declined(&code, message)),
                livemode: self.livemode(),
                payment_method: None,
                expires_at: None,
                provider_data: None,
                card: None,
                captures: Vec::new(),
            });
        }
        let flow: PaymentFlow = parse(Op::Authorize, response)?;
        warn_without_redirect(&flow, call.order_id.as_str());
        Ok(AuthorizeOutcome {
            result: authorize_result(&flow, confirm),
            provider_order_id: Some(flow.id.clone()),
            livemode: flow.livemode,
            payment_method: payment_method(&flow),
            expires_at: flow.expired_at,
            provider_data: provider_data(confirm),
            card: None,
            captures: Vec::new(),
        })
    }

    async fn capture(&self, call: CaptureCall<'_>) -> Result<CaptureOutcome, ProviderError> {
        let path = Self::flow_path(call.order, "/capture")?;
        let body = CapturePaymentFlow {
            amount_to_capture: (!call.whole_remainder).then_some(call.capture.amount),
        };
        let response = self.post(&path, &body, &call.idempotency_key).await?;
        let flow: PaymentFlow = parse(Op::Capture, response)?;
        // PAY.JP reports what the flow has received in all; this capture is
        // what it added to what kessai had booked before.
        let amount = flow
            .amount_received
            .map(|received| received - call.order.state.captured)
            .unwrap_or(call.capture.amount);
        Ok(CaptureOutcome {
            provider_capture_id: None,
            amount,
        })
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<RefundOutcome, ProviderError> {
        let flow_id = Self::flow_path(call.order, "")?;
        let flow_id = flow_id
            .trim_start_matches(PAYMENT_FLOWS)
            .trim_start_matches('/');
        // A resend: the first request may have refunded already.
        let found = match call.resumed_after {
            Some(_) => self.find_refund(flow_id, &call.idempotency_key).await?,
            None => None,
        };
        let refund = match found {
            Some(refund) => refund,
            None => {
                let body = CreateRefund {
                    payment_flow_id: flow_id,
                    amount: call.amount,
                    reason: call.reason.map(|r| r.as_str()),
                    metadata: kessai_metadata(&[
                        ("kessai_order_id", call.order.id.as_str()),
                        ("reference", call.reference),
                        (REFUND_KEY, call.idempotency_key.as_str()),
                    ]),
                };
                let response = self
                    .post(PAYMENT_REFUNDS, &body, &call.idempotency_key)
                    .await?;
                parse::<PaymentRefund>(Op::Refund, response)?
            }
        };
        let status = match refund.status.as_deref() {
            Some("succeeded") => RefundStatus::Succeeded,
            Some("failed") | Some("canceled") => RefundStatus::Failed,
            // pending, requires_action, or a status this adapter does not
            // know: not settled yet.
            Some(_) | None => RefundStatus::Pending,
        };
        Ok(RefundOutcome {
            provider_refund_id: refund.id,
            status,
        })
    }

    async fn void(&self, call: VoidCall<'_>) -> Result<(), ProviderError> {
        let path = Self::flow_path(call.order, "/cancel")?;
        let body = CancelPaymentFlow {
            cancellation_reason: "requested_by_customer",
        };
        let response = self.post(&path, &body, &call.idempotency_key).await?;
        let _flow: PaymentFlow = parse(Op::Void, response)?;
        Ok(())
    }

    async fn fetch(&self, order: &OrderRecord) -> Result<ProviderSnapshot, ProviderError> {
        let path = Self::flow_path(order, "")?;
        let flow: PaymentFlow = parse(Op::Fetch, self.get(&path).await?)?;
        warn_without_redirect(&flow, order.id.as_str());
        Ok(snapshot(&flow, confirmed_by_kessai(order)))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_support::{body, fixture, mutated, status};

    const KEYS: &[&str] = &[
        "id",
        "object",
        "livemode",
        "amount",
        "currency",
        "amount_capturable",
        "amount_received",
        "client_secret",
        "status",
        "next_action",
        "redirect_to_url",
        "url",
        "payment_method_types",
        "last_payment_error",
        "code",
        "message",
        "expired_at",
        "title",
        "detail",
        "errors",
        "field",
    ];
    const WORDS: &[&str] = &[
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "processing",
        "requires_capture",
        "succeeded",
        "canceled",
        "card",
        "paypay",
        "apple_pay",
        "pfw_1",
        "invalid_status",
        "payment_flow_expired",
        "2025-06-09T03:15:44Z",
        "not-a-date",
        "succeeded ",
    ];

    fn answer() -> impl Strategy<Value = Vec<u8>> {
        let flows = [
            "payment_flow.confirmed.requires_capture.json",
            "payment_flow.partially_captured.requires_capture.json",
            "payment_flow.requires_action.3ds.json",
            "payment_flow.succeeded.json",
            "payment_flow.canceled.json",
            "payment_refund.succeeded.json",
        ]
        .map(|name| mutated(fixture(&format!("payjp/{name}")), KEYS, WORDS).boxed());
        prop_oneof![
            3 => proptest::strategy::Union::new(flows).prop_map(|v| v.to_string().into_bytes()),
            1 => body(KEYS, WORDS),
        ]
    }

    proptest! {
        /// Any answer, to any call, becomes a value or a mapped error.
        #[test]
        fn any_answer_maps_without_panicking(
            status in prop_oneof![Just(reqwest::StatusCode::OK), status()],
            body in answer(),
            confirmed: bool,
        ) {
            let response = RawResponse { status, body: body.clone().into(), retry_after: None };
            if let Ok(flow) = parse::<PaymentFlow>(Op::Capture, response) {
                let _ = authorize_result(&flow, confirmed);
                let snapshot = snapshot(&flow, confirmed);
                prop_assert!(snapshot.amount_authorized >= 0);
            }
            let response = RawResponse { status, body: body.into(), retry_after: None };
            let _ = parse::<PaymentRefund>(Op::Refund, response);
        }

        #[test]
        fn any_error_body_maps(status in status(), body in body(KEYS, WORDS)) {
            let _ = map_error(Op::Authorize, status, &parse_problem(&body));
        }
    }
}
