//! The example provider's notifications: `Example-Signature:
//! t=<unix seconds>,v1=<hex>` where `v1` is the HMAC-SHA256 of
//! `"{t}." + raw body` keyed by the endpoint's shared secret, compared in
//! constant time; a `t` more than five minutes from now is refused, so a
//! captured request cannot be replayed later. The body is
//! `{"id": "evt_…", "type": "charge.…", "charge": "ch_…"}`.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::ProviderKind;
use crate::providers::notification::text;
use crate::providers::{Notification, Rejection, Subject};

pub const SIGNATURE_HEADER: &str = "example-signature";
const TOLERANCE: Duration = Duration::minutes(5);

pub struct ExampleVerifier {
    secret: SecretString,
}

impl ExampleVerifier {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    /// What a verified request says.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, Rejection> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(Rejection::Unauthenticated("the signature is missing"))?;
        let mut timestamp = None;
        let mut signature = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
                Some(("v1", value)) => signature = hex::decode(value).ok(),
                Some(_) | None => {}
            }
        }
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(Rejection::Unauthenticated("the signature is malformed"));
        };
        let sent = DateTime::from_timestamp(timestamp, 0)
            .ok_or(Rejection::Unauthenticated("the signature is malformed"))?;
        if (now - sent).abs() > TOLERANCE {
            return Err(Rejection::Unauthenticated(
                "the signature's timestamp is too far from now",
            ));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .map_err(|_| Rejection::Unauthenticated("no usable secret"))?;
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&signature)
            .map_err(|_| Rejection::Unauthenticated("the signature does not match"))?;
        parse(body)
    }
}

fn parse(body: &[u8]) -> Result<Notification, Rejection> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|_| Rejection::Malformed("the body is not JSON".into()))?;
    let field = |name: &str| {
        text(&event, &[name])
            .ok_or_else(|| Rejection::Malformed(format!("the event has no {name}")))
    };
    let event_id = field("id")?;
    let event_type = field("type")?;
    let subject = match event_type.split_once('.') {
        Some(("charge", _)) => Subject::ProviderOrder(field("charge")?),
        Some(_) | None => Subject::Ignored,
    };
    Ok(Notification {
        provider: ProviderKind::Example,
        event_id,
        event_type,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"charge.captured","charge":"ch_1"}"#;

    fn signed(secret: &str, t: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        let value = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_fresh_signature_by_the_secret_passes() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let v = ExampleVerifier::new(SecretString::from("whsec_example"));
        let n = v.verify(&signed("whsec_example", 1_700_000_000, BODY), BODY, now);
        assert_eq!(n.unwrap().subject, Subject::ProviderOrder("ch_1".into()));
        for headers in [
            signed("whsec_other", 1_700_000_000, BODY),
            signed("whsec_example", 1_700_000_000 - 301, BODY),
            signed("whsec_example", 1_700_000_000, b"{}"),
            HeaderMap::new(),
        ] {
            assert!(matches!(
                v.verify(&headers, BODY, now),
                Err(Rejection::Unauthenticated(_))
            ));
        }
    }
}
