//! PaymentOptions' notifications: each new transaction, unsigned, to its
//! authorization's `return_url.webhook_url` or to the sandbox's own target.
//! GUESS: no source shows the body; it is the transaction as the status
//! endpoint shows it (masked card number).

use super::PaymentOptionsSimulator;
use super::wire::View;
use crate::notifications::{Notifier, unsigned};

impl PaymentOptionsSimulator {
    /// Notifies `url` of transactions whose authorization named no
    /// `return_url.webhook_url`.
    pub fn deliver_webhooks_to(&self, url: String) {
        self.core.notifier.set_target(url, unsigned());
    }

    /// The notifications sent, for tests (and to deliver one again).
    pub fn webhooks(&self) -> &Notifier {
        &self.core.notifier
    }

    /// Sends what the books queued, outside their lock.
    pub(super) fn send_queued_events(&self) {
        let notifications: Vec<_> = {
            let mut books = self.core.lock();
            let outbox = std::mem::take(&mut books.outbox);
            outbox
                .into_iter()
                .map(|index| {
                    let txn = &books.transactions[index];
                    let url = books.authorizations[txn.authorization].webhook_url.clone();
                    let body = books.envelope(index, View::Status, &self.merchant_id).body;
                    (txn.id.clone(), txn.kind.as_str(), body, url)
                })
                .collect()
        };
        for (id, kind, body, url) in notifications {
            self.core.notifier.send(id, kind, body.to_vec(), url);
        }
    }
}
