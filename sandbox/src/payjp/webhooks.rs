//! PAY.JP's notifications: events `{object: "event", id: "evnt_…",
//! livemode, type, data, …}` with the endpoint's token in
//! `X-Payjp-Webhook-Token`.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use super::PayjpSimulator;
use super::books::random_hex;
use super::wire::timestamp;
use crate::notifications::{Notifier, Signer};

/// A webhook event, as event.payment_flow.succeeded.json shows one.
#[derive(Serialize)]
struct EventWire<'a> {
    object: &'static str,
    id: &'a str,
    livemode: bool,
    #[serde(rename = "type")]
    event_type: &'static str,
    pending_webhooks: u32,
    data: &'a Value,
    created_at: &'a str,
    updated_at: &'a str,
}

impl PayjpSimulator {
    /// Notifies `url` of every change from now on, with the endpoint's
    /// `token` in `X-Payjp-Webhook-Token`.
    pub fn deliver_webhooks_to(&self, url: String, token: SecretString) {
        let sign: Signer = Arc::new(move |_body: &[u8]| {
            vec![("X-Payjp-Webhook-Token", token.expose_secret().to_owned())]
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
        for (event_type, data) in events {
            let id = format!("evnt_{}", random_hex(12));
            let now = timestamp(self.core.clock.now());
            let body = serde_json::to_vec(&EventWire {
                object: "event",
                id: &id,
                livemode: false,
                event_type,
                pending_webhooks: 1,
                data: &data,
                created_at: &now,
                updated_at: &now,
            })
            .unwrap_or_default();
            self.core.notifier.send(id, event_type, body, None);
        }
    }
}
