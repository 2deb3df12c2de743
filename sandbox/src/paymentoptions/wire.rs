//! The gateway's envelopes, field order as in the fixtures, and how a
//! transaction is drawn in them.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::books::{Books, Kind};
use super::{
    CURRENCY, GATEWAY_VERSION, LEGAL_NAME, RC_APPROVED, RC_DO_NOT_HONOUR, RC_EXPIRED_CARD,
    RC_INSUFFICIENT_FUNDS, RC_INVALID_AMOUNT, RC_INVALID_LIFE_CYCLE, RC_OVER_PRE_AUTHORIZED,
};
use crate::pipeline::reply::Reply;

#[derive(Serialize)]
pub(super) struct Envelope<'a> {
    pub(super) success: bool,
    pub(super) status_code: u16,
    pub(super) is_live: bool,
    pub(super) transaction_type: &'static str,
    pub(super) gateway_response: GatewayResponse<'a>,
    pub(super) merchant_details: MerchantDetails<'a>,
    pub(super) payment_details: PaymentDetails<'a>,
    pub(super) transaction_details: TransactionDetails<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) risk_details: Option<RiskDetails>,
}

#[derive(Serialize)]
pub(super) struct GatewayResponse<'a> {
    pub(super) version: &'static str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) message: &'a str,
    pub(super) code: String,
}

#[derive(Serialize)]
pub(super) struct MerchantDetails<'a> {
    pub(super) legal_name: &'static str,
    pub(super) mid: &'a str,
    pub(super) merchant_txn_ref: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) billing_details: Option<BillingDetails<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) device_details: Option<DeviceDetails<'a>>,
}

#[derive(Clone, Copy, Serialize)]
pub(super) struct BillingDetails<'a> {
    pub(super) billing_address: &'a Value,
    pub(super) shipping_address: &'a Value,
}

#[derive(Serialize)]
pub(super) struct DeviceDetails<'a> {
    pub(super) visited_ip: Option<&'a str>,
    pub(super) customer_ip: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct PaymentDetails<'a> {
    pub(super) amount: i64,
    pub(super) response_code: i64,
    #[serde(
        rename = "responseDescription",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) response_description: Option<&'static str>,
    pub(super) auth_code: &'a str,
    pub(super) currency: &'static str,
    pub(super) payment_method: &'static str,
    pub(super) scheme: &'static str,
    pub(super) card: CardWire<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_data: Option<Value>,
}

#[derive(Serialize)]
pub(super) struct CardWire<'a> {
    pub(super) name: &'a str,
    pub(super) number: String,
    pub(super) exp_month: &'a str,
    pub(super) exp_year: &'a str,
}

#[derive(Serialize)]
pub(super) struct TransactionDetails<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "ref")]
    pub(super) reference: i64,
    pub(super) timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) merchant_txn_ref: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) billing_details: Option<BillingDetails<'a>>,
}

#[derive(Serialize)]
pub(super) struct RiskDetails {
    pub(super) risk_score: Option<i64>,
}

/// The answer to a request that created no transaction.
#[derive(Serialize)]
pub(super) struct FailureEnvelope<'a> {
    pub(super) success: bool,
    pub(super) status_code: u16,
    pub(super) is_live: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) transaction_type: Option<&'static str>,
    pub(super) gateway_response: GatewayResponse<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) payment_details: Option<FailurePaymentDetails>,
}

#[derive(Serialize)]
pub(super) struct FailurePaymentDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) amount: Option<i64>,
    pub(super) response_code: i64,
    #[serde(rename = "responseDescription")]
    pub(super) response_description: &'static str,
    pub(super) currency: &'static str,
}

/// Which of the documented envelopes to draw.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum View {
    /// The answer to the POST that created the transaction.
    Created,
    /// `GET transaction/status/{id}`: billing moves under
    /// `transaction_details`, the card number is masked.
    Status,
}

pub(super) fn response_description(code: i64) -> &'static str {
    match code {
        RC_APPROVED => "The transaction was completed successfully.",
        // The invented failure fixture's wording.
        RC_DO_NOT_HONOUR => "Do not honour OR Declined",
        RC_INVALID_AMOUNT => "Invalid amount",
        RC_INSUFFICIENT_FUNDS => "Insufficient funds",
        RC_EXPIRED_CARD => "Expired card",
        RC_INVALID_LIFE_CYCLE => "Invalid authorization life cycle",
        RC_OVER_PRE_AUTHORIZED => "Amount greater than pre-authorized",
        _ => "Declined",
    }
}

/// GUESS: no source shows an error code; the invented fixture's `ERR0005`
/// for response code 5 is generalised to `ERR` + four digits of the acquirer
/// code, or of the HTTP status when there is none.
pub(super) fn error_code(number: i64) -> String {
    format!("ERR{number:04}")
}

pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Books {
    pub(super) fn envelope(&self, index: usize, view: View, merchant_id: &str) -> Reply {
        let txn = &self.transactions[index];
        let auth = &self.authorizations[txn.authorization];
        let card = &auth.card;
        let is_authorization = matches!(txn.kind, Kind::PreAuth | Kind::Sale);
        let billing = BillingDetails {
            billing_address: &auth.billing_address,
            shipping_address: &auth.shipping_address,
        };
        let status = match (view, txn.approved()) {
            (View::Status, _) => StatusCode::OK,
            (View::Created, true) => StatusCode::CREATED,
            (View::Created, false) => StatusCode::PAYMENT_REQUIRED,
        };
        let gateway_response = if txn.approved() {
            // The status fixtures show INFO0000 even for a CAPTURE.
            let (code, message) = match view {
                View::Created => txn.kind.success(),
                View::Status => Kind::PreAuth.success(),
            };
            GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "INFO",
                message,
                code: code.to_owned(),
            }
        } else {
            // GUESS: a decline's type is "ERROR" (the invented fixture's).
            GatewayResponse {
                version: GATEWAY_VERSION,
                kind: "ERROR",
                message: response_description(txn.response_code),
                code: error_code(txn.response_code),
            }
        };
        let created_authorization = view == View::Created && is_authorization && txn.approved();
        let envelope = Envelope {
            success: txn.approved(),
            status_code: status.as_u16(),
            is_live: false,
            transaction_type: txn.kind.as_str(),
            gateway_response,
            merchant_details: MerchantDetails {
                legal_name: LEGAL_NAME,
                mid: merchant_id,
                merchant_txn_ref: &auth.merchant_txn_ref,
                billing_details: created_authorization.then_some(billing),
                device_details: created_authorization.then_some(DeviceDetails {
                    // GUESS: the fixture shows both equal; the sandbox does
                    // not see the shopper's address, so it echoes customer_ip.
                    visited_ip: auth.customer_ip.as_deref(),
                    customer_ip: auth.customer_ip.as_deref(),
                }),
            },
            payment_details: PaymentDetails {
                amount: txn.amount,
                response_code: txn.response_code,
                response_description: (view == View::Status)
                    .then(|| response_description(txn.response_code)),
                auth_code: &auth.auth_code,
                currency: CURRENCY,
                payment_method: card.payment_method,
                scheme: card.scheme,
                card: CardWire {
                    name: &card.name,
                    number: match view {
                        // GUESS for declines: echoed like an approval.
                        View::Created => card.pan.full().to_owned(),
                        View::Status => card.pan.masked(),
                    },
                    exp_month: &card.exp_month,
                    exp_year: &card.exp_year,
                },
                additional_data: txn
                    .approved()
                    .then(|| json!({"payment_data_source": {"type": "card"}})),
            },
            transaction_details: TransactionDetails {
                id: &txn.id,
                reference: txn.reference,
                timestamp: timestamp(txn.at),
                merchant_txn_ref: (view == View::Created).then_some(auth.merchant_txn_ref.as_str()),
                billing_details: (view == View::Status).then_some(billing),
            },
            risk_details: (view == View::Status || created_authorization)
                .then_some(RiskDetails { risk_score: None }),
        };
        Reply::json(status, &envelope)
    }
}
