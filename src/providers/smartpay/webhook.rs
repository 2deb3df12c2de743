//! Smartpay notifications: `Smartpay-Signature` is the lowercase hex
//! HMAC-SHA256 of `"{Smartpay-Signature-Timestamp}." + raw body`, keyed by
//! the endpoint's signing secret decoded from base62 (alphabet `A-Za-z0-9`,
//! decoded as the Node and Go SDKs do: each leading `A` is a zero byte). The
//! timestamp is milliseconds since the epoch; one too far from now is
//! refused, so a captured request cannot be replayed later.
//!
//! The body is `{"id": "evt_…", "object": "event", "eventData": {"type": …,
//! "data": <the object>}}` (the SDKs' test event): `order.*` carry the order,
//! `payment.*` a payment naming its `order`, `refund.*` a refund naming its
//! `payment`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::ProviderKind;
use crate::providers::notification::text;
use crate::providers::{Notification, Rejection, Subject};

pub const SIGNATURE_HEADER: &str = "smartpay-signature";
pub const TIMESTAMP_HEADER: &str = "smartpay-signature-timestamp";

const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The HMAC key of a signing secret, or `None` when it is not base62.
pub fn signing_key(secret: &SecretString) -> Option<SecretSlice<u8>> {
    base62_decode(secret.expose_secret()).map(SecretSlice::from)
}

/// Big-endian base 62 to bytes, keeping one zero byte per leading `A`.
fn base62_decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    // Little-endian while accumulating.
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len());
    for c in text.bytes() {
        let mut carry = BASE62.iter().position(|b| *b == c)? as u32;
        for byte in &mut bytes {
            carry += u32::from(*byte) * 62;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|c| *c == BASE62[0]).count();
    bytes.extend(std::iter::repeat_n(0, zeros));
    bytes.reverse();
    Some(bytes)
}

/// Checks Smartpay's signature on a raw request.
pub struct SmartpayVerifier {
    key: SecretSlice<u8>,
    tolerance: chrono::Duration,
}

impl SmartpayVerifier {
    pub fn new(key: SecretSlice<u8>, tolerance: std::time::Duration) -> Self {
        Self {
            key,
            tolerance: chrono::Duration::from_std(tolerance).unwrap_or(chrono::Duration::MAX),
        }
    }

    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(timestamp)) =
            (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER))
        else {
            return Err(Rejection::Unauthenticated("signature or timestamp missing"));
        };
        let millis: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Rejection::Malformed("the signature timestamp is not a number".into()))?;
        let signed_at = DateTime::<Utc>::from_timestamp_millis(millis).ok_or_else(|| {
            Rejection::Malformed("the signature timestamp is out of range".into())
        })?;
        if (now - signed_at).abs() > self.tolerance {
            return Err(Rejection::Unauthenticated(
                "the signature timestamp is too far from now",
            ));
        }
        let signature = hex::decode(signature.trim())
            .map_err(|_| Rejection::Unauthenticated("the signature is not hex"))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .map_err(|_| Rejection::Unauthenticated("no usable signing key"))?;
        // The header's exact text is what was signed, never a re-formatting.
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&signature)
            .map_err(|_| Rejection::Unauthenticated("the signature does not match"))
    }
}

/// What a verified event is about.
pub fn parse(body: &[u8]) -> Result<Notification, Rejection> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| Rejection::Malformed("the body is not JSON".into()))?;
    let event_id =
        text(&event, &["id"]).ok_or_else(|| Rejection::Malformed("the event has no id".into()))?;
    let event_type = text(&event, &["eventData", "type"])
        .ok_or_else(|| Rejection::Malformed("the event has no eventData.type".into()))?;
    let data = |field| {
        text(&event, &["eventData", "data", field]).ok_or_else(|| {
            Rejection::Malformed(format!("a {event_type} event without data.{field}"))
        })
    };
    let subject = match event_type.split_once('.').map(|(object, _)| object) {
        Some("order") => Subject::ProviderOrder(data("id")?),
        Some("payment") => Subject::ProviderOrder(data("order")?),
        Some("refund") => Subject::ProviderCapture(data("payment")?),
        _ => Subject::Ignored,
    };
    Ok(Notification {
        provider: ProviderKind::Smartpay,
        event_id,
        event_type,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str =
        include_str!("../../../tests/fixtures/smartpay/webhook.signature_vectors.json");
    const PAYMENT_CREATED: &str =
        include_str!("../../../tests/fixtures/smartpay/webhook.payment.created.body.json");
    const ORDER_AUTHORIZED: &str =
        include_str!("../../../tests/fixtures/smartpay/webhook.order.authorized.body.json");

    fn verifier(secret: &str) -> SmartpayVerifier {
        let key = signing_key(&SecretString::from(secret)).expect("base62");
        SmartpayVerifier::new(key, std::time::Duration::from_secs(300))
    }

    fn headers(signature: &str, timestamp: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        headers.insert(TIMESTAMP_HEADER, timestamp.parse().unwrap());
        headers
    }

    fn at(millis: &str) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis.parse().unwrap()).unwrap()
    }

    fn body_of(vector: &Value) -> String {
        match vector["raw_body"].as_str() {
            Some(body) => body.to_owned(),
            None => match vector["raw_body_file"].as_str() {
                Some("webhook.payment.created.body.json") => PAYMENT_CREATED.to_owned(),
                Some("webhook.order.authorized.body.json") => ORDER_AUTHORIZED.to_owned(),
                other => panic!("unknown body file {other:?}"),
            },
        }
    }

    #[test]
    fn base62_keeps_a_zero_byte_per_leading_a_as_the_node_and_go_sdks_do() {
        assert_eq!(base62_decode("AAB").unwrap(), [0, 0, 1]);
        assert_eq!(base62_decode("9").unwrap(), [61]);
        assert_eq!(base62_decode("BA").unwrap(), [62]);
        assert!(base62_decode("not-base62").is_none());
        assert!(base62_decode("").is_none());
    }

    #[test]
    fn the_fixture_vectors_verify_and_the_negative_ones_do_not() {
        let vectors: Value = serde_json::from_str(VECTORS).unwrap();
        let mut checked = 0;
        for vector in vectors["vectors"].as_array().unwrap() {
            let name = vector["name"].as_str().unwrap();
            let secret = vector["signing_secret"].as_str().unwrap();
            let timestamp = vector["timestamp"].as_str().unwrap();
            let body = body_of(vector);
            if let Some(key) = vector["key_hex"].as_str() {
                let decoded = base62_decode(secret).unwrap();
                assert_eq!(hex::encode(decoded), key, "{name}");
            }
            let (signature, valid) = match vector["valid"].as_bool() {
                Some(true) => (vector["expected_signature"].as_str().unwrap(), true),
                Some(false) => (vector["signature_header"].as_str().unwrap(), false),
                // The SDK-divergence case: the Node/Go reading is ours.
                None => {
                    let node_go = vector["expected_signature_node_go"].as_str().unwrap();
                    let python = vector["expected_signature_python_sdk"].as_str().unwrap();
                    let check = |sig| {
                        verifier(secret)
                            .verify(&headers(sig, timestamp), body.as_bytes(), at(timestamp))
                            .is_ok()
                    };
                    assert!(check(node_go), "{name}: the Node/Go signature verifies");
                    assert!(!check(python), "{name}: the Python SDK's does not");
                    checked += 1;
                    continue;
                }
            };
            let result = verifier(secret).verify(
                &headers(signature, timestamp),
                body.as_bytes(),
                at(timestamp),
            );
            assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
            checked += 1;
        }
        assert_eq!(checked, 5, "every vector was checked");
    }

    #[test]
    fn a_known_answer_computed_independently_verifies() {
        // Computed with Python's hmac and a base62 decoder written for it:
        // key 3df2438a0440b9e11ab72a9366a35803742df8925e.
        let secret = "kessaiWebhookKnownAnswer2026";
        assert_eq!(
            hex::encode(base62_decode(secret).unwrap()),
            "3df2438a0440b9e11ab72a9366a35803742df8925e"
        );
        let body = br#"{"id":"evt_test_kat","object":"event"}"#;
        let signature = "fc081ccde13428230aea7d1aba073e2835b6a708ac29a794949f9dc9f5479eb0";
        let timestamp = "1700000000000";
        let v = verifier(secret);
        assert!(
            v.verify(&headers(signature, timestamp), body, at(timestamp))
                .is_ok()
        );
        // Upper-case hex is the same signature.
        let upper = signature.to_uppercase();
        assert!(
            v.verify(&headers(&upper, timestamp), body, at(timestamp))
                .is_ok()
        );
        // One byte of the body changed.
        let tampered = br#"{"id":"evt_test_kat","object":"evenT"}"#;
        assert!(
            v.verify(&headers(signature, timestamp), tampered, at(timestamp))
                .is_err()
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_within_the_tolerance_accepted() {
        let vectors: Value = serde_json::from_str(VECTORS).unwrap();
        let vector = &vectors["vectors"][1];
        let secret = vector["signing_secret"].as_str().unwrap();
        let timestamp = vector["timestamp"].as_str().unwrap();
        let signature = vector["expected_signature"].as_str().unwrap();
        let v = verifier(secret);
        let h = headers(signature, timestamp);
        let body = ORDER_AUTHORIZED.as_bytes();
        let signed = at(timestamp);
        assert!(
            v.verify(&h, body, signed + chrono::Duration::seconds(299))
                .is_ok()
        );
        assert!(
            v.verify(&h, body, signed - chrono::Duration::seconds(299))
                .is_ok()
        );
        for now in [
            signed + chrono::Duration::seconds(301),
            signed - chrono::Duration::seconds(301),
        ] {
            assert!(matches!(
                v.verify(&h, body, now),
                Err(Rejection::Unauthenticated(_))
            ));
        }
    }

    #[test]
    fn missing_headers_are_unauthenticated_and_a_garbled_timestamp_malformed() {
        let v = verifier("CY8NE6nvX9THLBFP9p0UgEsX1fg46GFTDL8AygzFR");
        let now = Utc::now();
        assert!(matches!(
            v.verify(&HeaderMap::new(), b"{}", now),
            Err(Rejection::Unauthenticated(_))
        ));
        assert!(matches!(
            v.verify(&headers("00", "yesterday"), b"{}", now),
            Err(Rejection::Malformed(_))
        ));
        assert!(matches!(
            v.verify(
                &headers("zz", &now.timestamp_millis().to_string()),
                b"{}",
                now
            ),
            Err(Rejection::Unauthenticated(_))
        ));
    }

    #[test]
    fn events_name_their_order_or_payment() {
        let n = parse(ORDER_AUTHORIZED.as_bytes()).unwrap();
        assert_eq!(n.event_id, "evt_test_m0aQQyWUnlCSitpwchTzm5");
        assert_eq!(n.event_type, "order.authorized");
        assert_eq!(
            n.subject,
            Subject::ProviderOrder("order_test_bA1znhGULw5lROfDTpHChv".into())
        );
        let n = parse(PAYMENT_CREATED.as_bytes()).unwrap();
        assert_eq!(
            n.subject,
            Subject::ProviderOrder("order_test_RiYq2rthzRHrkKVGeucSwn".into())
        );
        let refund = br#"{"id":"evt_1","eventData":{"type":"refund.created","data":{"id":"refund_test_1","payment":"payment_test_1"}}}"#;
        assert_eq!(
            parse(refund).unwrap().subject,
            Subject::ProviderCapture("payment_test_1".into())
        );
        let other = br#"{"id":"evt_2","eventData":{"type":"customer.updated","data":{}}}"#;
        assert_eq!(parse(other).unwrap().subject, Subject::Ignored);
        for bad in [
            &b"not json"[..],
            br#"{"eventData":{"type":"order.authorized","data":{"id":"o"}}}"#,
            br#"{"id":"evt_3","eventData":{"type":"order.authorized","data":{}}}"#,
        ] {
            assert!(matches!(parse(bad), Err(Rejection::Malformed(_))));
        }
    }
}
