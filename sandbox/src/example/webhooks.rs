//! The example provider's notifications: `{"id", "type", "charge"}` with
//! `Example-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}." +
//! body>` keyed by the endpoint's shared secret.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::ExampleSimulator;
use crate::notifications::{Notifier, Signer};

impl ExampleSimulator {
    /// Notifies `url` of every change from now on, signed with `secret`.
    pub fn deliver_webhooks_to(&self, url: String, secret: SecretString) {
        let clock = self.core.clock.clone();
        let sign: Signer = Arc::new(move |body: &[u8]| {
            let t = clock.now().timestamp();
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            let v1 = hex::encode(mac.finalize().into_bytes());
            vec![("Example-Signature", format!("t={t},v1={v1}"))]
        });
        self.core.notifier.set_target(url, sign);
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.core.notifier
    }

    /// Sends what the books queued, outside their lock.
    pub(super) fn send_queued_events(&self) {
        let events = std::mem::take(&mut self.core.lock().outbox);
        for (event_type, charge) in events {
            let id = format!("evt_{}", ulid_like());
            let body = serde_json::json!({ "id": id, "type": event_type, "charge": charge });
            self.core
                .notifier
                .send(id, event_type, body.to_string().into_bytes(), None);
        }
    }
}

/// An event id no other event has.
fn ulid_like() -> String {
    format!("{:032x}", rand::random::<u128>())
}
