//! PaymentOptions notifications: nothing signs them, so a notification is
//! only a hint of which order to ask PaymentOptions about.
//!
//! GUESS: no source shows the body PaymentOptions posts to
//! `return_url.webhook_url`; it is read as the transaction envelope the API
//! answers with (`transaction_type`, `merchant_details.merchant_txn_ref`,
//! `transaction_details{id, merchant_txn_ref}`), and any of those that is
//! there is enough. No event id is documented either: the body's SHA-256
//! stands for one, so an identical redelivery is recognised.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::ProviderKind;
use crate::providers::notification::text;
use crate::providers::{Notification, Rejection, Subject};

pub fn parse(body: &[u8]) -> Result<Notification, Rejection> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| Rejection::Malformed("the body is not JSON".into()))?;
    if !envelope.is_object() {
        return Err(Rejection::Malformed("the body is not a JSON object".into()));
    }
    let text = |path: &[&str]| text(&envelope, path);
    // kessai sends its order id as merchant_txn_ref.
    let order_id = text(&["merchant_details", "merchant_txn_ref"])
        .or_else(|| text(&["transaction_details", "merchant_txn_ref"]));
    let transaction_id = text(&["transaction_details", "id"]);
    let subject = if order_id.is_none() && transaction_id.is_none() {
        Subject::Ignored
    } else {
        Subject::Hint {
            order_id,
            transaction_id,
        }
    };
    Ok(Notification {
        provider: ProviderKind::PaymentOptions,
        event_id: hex::encode(Sha256::digest(body)),
        event_type: text(&["transaction_type"]).unwrap_or_else(|| "unknown".into()),
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str =
        include_str!("../../../tests/fixtures/paymentoptions/capture.response.json");

    #[test]
    fn the_envelope_names_kessais_order_and_the_transaction() {
        let n = parse(CAPTURE.as_bytes()).unwrap();
        assert_eq!(n.event_type, "CAPTURE");
        assert_eq!(
            n.subject,
            Subject::Hint {
                order_id: Some("qwe".into()),
                transaction_id: Some("9dfd39ec-eb4a-4f8b-a526-17abf140a717".into()),
            }
        );
        assert_eq!(n.event_id.len(), 64);
        assert_eq!(parse(CAPTURE.as_bytes()).unwrap().event_id, n.event_id);
        let other = parse(br#"{"transaction_type":"CAPTURE"}"#).unwrap();
        assert_ne!(other.event_id, n.event_id);
        assert_eq!(other.subject, Subject::Ignored);
        assert!(parse(b"\"a string\"").is_err());
    }
}
