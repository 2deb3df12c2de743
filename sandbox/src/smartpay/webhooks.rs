//! Smartpay's notifications, as providers.md describes them: events `{id,
//! object: "event", createdAt, test, eventData: {type, version, data}}`
//! signed with `Smartpay-Signature` (hex HMAC-SHA256 over
//! `"{Smartpay-Signature-Timestamp}." + body`, keyed by the base62-decoded
//! signing secret).

use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use super::books::new_id;
use super::{EVENT_VERSION, SmartpaySimulator};
use crate::notifications::{Notifier, Signer};

/// A webhook event, field order as in the SDKs' test event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventWire<'a> {
    id: &'a str,
    object: &'static str,
    created_at: i64,
    test: bool,
    event_data: EventDataWire<'a>,
}

#[derive(Serialize)]
struct EventDataWire<'a> {
    #[serde(rename = "type")]
    event_type: &'static str,
    version: &'static str,
    data: &'a Value,
}

impl SmartpaySimulator {
    /// Notifies `url` of every change from now on, signing with the
    /// endpoint's `signing_secret` (base62). False if the secret is not
    /// base62, and then nothing is sent.
    pub fn deliver_webhooks_to(&self, url: String, signing_secret: SecretString) -> bool {
        let Some(key) = base62_bytes(signing_secret.expose_secret()) else {
            return false;
        };
        let clock = self.core.clock.clone();
        let sign: Signer = Arc::new(move |body: &[u8]| {
            let timestamp = clock.now_ms().to_string();
            vec![
                ("Smartpay-Signature", signature(&key, &timestamp, body)),
                ("Smartpay-Signature-Timestamp", timestamp),
            ]
        });
        self.core.notifier.set_target(url, sign);
        true
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.core.notifier
    }

    /// Sends what the books queued, outside their lock.
    pub(super) fn send_queued_events(&self) {
        let events = std::mem::take(&mut self.core.lock().outbox);
        for (event_type, data) in events {
            let id = new_id("evt");
            let body = serde_json::to_vec(&EventWire {
                id: &id,
                object: "event",
                created_at: self.core.clock.now_ms(),
                test: true,
                event_data: EventDataWire {
                    event_type,
                    version: EVENT_VERSION,
                    data: &data,
                },
            })
            .unwrap_or_default();
            self.core.notifier.send(id, event_type, body, None);
        }
    }
}

/// The signing key of a base62 secret: the secret read as one big-endian
/// number in base 62 (`A` is 0, `9` is 61), each leading `A` an extra zero
/// byte, as Smartpay's Node and Go SDKs read it.
fn base62_bytes(secret: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        _ => None,
    };
    if secret.is_empty() {
        return None;
    }
    // The number as big-endian bytes, multiplied by 62 and added to per digit.
    let mut number: Vec<u8> = Vec::new();
    for c in secret.bytes() {
        let mut carry = digit(c)?;
        for byte in number.iter_mut().rev() {
            let value = u32::from(*byte) * 62 + carry;
            *byte = value as u8;
            carry = value >> 8;
        }
        while carry > 0 {
            number.insert(0, carry as u8);
            carry >>= 8;
        }
    }
    let leading = secret.bytes().take_while(|c| *c == b'A').count();
    let mut key = vec![0u8; leading];
    key.extend(number);
    Some(key)
}

/// `Smartpay-Signature`: lowercase hex HMAC-SHA256 of `"{timestamp}." + body`.
fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
