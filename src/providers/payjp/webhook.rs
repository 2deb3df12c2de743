//! PAY.JP v2 notifications: the request carries the endpoint's static token
//! in `X-Payjp-Webhook-Token` (the scheme PAY.JP's v2 samples verify; no
//! signature scheme is documented), compared in constant time. The body is
//! an event `{"object": "event", "id": "evnt_…", "type": …, "data": <the
//! object>}`: `payment_flow.*` carry the flow, refund events a refund naming
//! its `payment_flow_id`.

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::domain::ProviderKind;
use crate::providers::notification::text;
use crate::providers::{Notification, Rejection, Subject};

pub const TOKEN_HEADER: &str = "x-payjp-webhook-token";

pub struct PayjpVerifier {
    token: SecretString,
}

impl PayjpVerifier {
    pub fn new(token: SecretString) -> Self {
        Self { token }
    }

    pub fn verify(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let Some(sent) = headers.get(TOKEN_HEADER) else {
            return Err(Rejection::Unauthenticated("the webhook token is missing"));
        };
        let expected = self.token.expose_secret().as_bytes();
        if bool::from(sent.as_bytes().ct_eq(expected)) {
            Ok(())
        } else {
            Err(Rejection::Unauthenticated(
                "the webhook token does not match",
            ))
        }
    }
}

/// What a verified event is about.
pub fn parse(body: &[u8]) -> Result<Notification, Rejection> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| Rejection::Malformed("the body is not JSON".into()))?;
    let event_id =
        text(&event, &["id"]).ok_or_else(|| Rejection::Malformed("the event has no id".into()))?;
    let event_type = text(&event, &["type"])
        .ok_or_else(|| Rejection::Malformed("the event has no type".into()))?;
    let data = |field| {
        text(&event, &["data", field]).ok_or_else(|| {
            Rejection::Malformed(format!("a {event_type} event without data.{field}"))
        })
    };
    // GUESS: refund events are `refund.*` (providers.md); `payment_refund.*`
    // (the object's own name) is read the same way.
    let subject = match event_type.split_once('.').map(|(object, _)| object) {
        Some("payment_flow") => Subject::ProviderOrder(data("id")?),
        Some("refund" | "payment_refund") => Subject::ProviderOrder(data("payment_flow_id")?),
        _ => Subject::Ignored,
    };
    Ok(Notification {
        provider: ProviderKind::Payjp,
        event_id,
        event_type,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str =
        include_str!("../../../tests/fixtures/payjp/event.payment_flow.succeeded.json");

    fn with_token(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TOKEN_HEADER, token.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_configured_token_passes() {
        let v = PayjpVerifier::new(SecretString::from("whtok_0123456789"));
        assert!(v.verify(&with_token("whtok_0123456789")).is_ok());
        for wrong in [
            "whtok_0123456788",
            "whtok_012345678",
            "whtok_01234567890",
            "",
        ] {
            assert!(v.verify(&with_token(wrong)).is_err(), "{wrong:?}");
        }
        assert!(v.verify(&HeaderMap::new()).is_err());
    }

    #[test]
    fn flow_and_refund_events_name_the_flow() {
        let n = parse(EVENT.as_bytes()).unwrap();
        assert_eq!(n.event_id, "evnt_2b392fd1e99cf8585cbf3d41");
        assert_eq!(n.event_type, "payment_flow.succeeded");
        assert_eq!(
            n.subject,
            Subject::ProviderOrder("pfw_1f00b8fd3cffc0a70860f97e".into())
        );
        let refund = br#"{"id":"evnt_1","type":"refund.created","data":{"object":"payment_refund","id":"pyr_1","payment_flow_id":"pfw_9"}}"#;
        assert_eq!(
            parse(refund).unwrap().subject,
            Subject::ProviderOrder("pfw_9".into())
        );
        let other = br#"{"id":"evnt_2","type":"customer.created","data":{"id":"cus_1"}}"#;
        assert_eq!(parse(other).unwrap().subject, Subject::Ignored);
        assert!(parse(br#"{"id":"evnt_3","type":"payment_flow.succeeded","data":{}}"#).is_err());
        assert!(parse(b"[1]").is_err());
    }
}
