//! Webhook delivery as the providers do it: each event is POSTed to the
//! configured URL with the provider's own headers (signed afresh for every
//! attempt), and retried with growing delays until a 2xx answer. Events are
//! sent concurrently, so they may arrive out of order, as real ones do.
//!
//! The sandbox's schedule is minutes shorter than a real provider's (which
//! retries for days), so a test or a demo sees the retries happen.
//!
//! Tests can list what was sent and deliver an event again (a replay, or an
//! old event after a newer one).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;

/// Waits before each retry.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(15),
];
const TIMEOUT: Duration = Duration::from_secs(10);

/// The headers to send with a body: a provider's signature or token.
pub type Signer = Arc<dyn Fn(&[u8]) -> Vec<(&'static str, String)> + Send + Sync>;

/// One event sent (or being sent), for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// The exact bytes sent.
    pub body: Bytes,
    pub attempts: u32,
    /// Whether an attempt got a 2xx answer.
    pub delivered: bool,
    /// The last answer's status; `None` while none came (or the connection
    /// failed).
    pub last_status: Option<u16>,
}

/// No headers: a provider that signs nothing.
pub fn unsigned() -> Signer {
    Arc::new(|_: &[u8]| Vec::new())
}

#[derive(Clone)]
struct Target {
    url: String,
    sign: Signer,
}

#[derive(Default)]
struct State {
    target: Option<Target>,
    deliveries: Vec<Delivery>,
    /// Deliveries with attempts still to come.
    pending: usize,
}

/// A provider's outgoing notifications. Clones share the same state.
#[derive(Clone)]
pub struct Notifier {
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
}

impl Default for Notifier {
    fn default() -> Self {
        // reqwest needs the process's TLS crypto provider even for http.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            state: Arc::default(),
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                // The listener is a local one; no proxy stands in between.
                .no_proxy()
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Notifier {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where events go, and how each request is signed. Until this is set,
    /// nothing is sent.
    pub fn set_target(&self, url: String, sign: Signer) {
        self.lock().target = Some(Target { url, sign });
    }

    /// Sends an event in the background, to `url` if given (a per-request
    /// URL, signed as the target is if there is one) or else to the target.
    /// Without a runtime (or a URL) nothing is sent.
    pub fn send(&self, event_id: String, event_type: &str, body: Vec<u8>, url: Option<String>) {
        let (target, index) = {
            let mut state = self.lock();
            let target = match (state.target.clone(), url) {
                (Some(target), None) => target,
                (Some(target), Some(url)) => Target { url, ..target },
                (None, Some(url)) => Target {
                    url,
                    sign: unsigned(),
                },
                (None, None) => return,
            };
            state.deliveries.push(Delivery {
                event_id,
                event_type: event_type.to_owned(),
                url: target.url.clone(),
                body: body.into(),
                attempts: 0,
                delivered: false,
                last_status: None,
            });
            state.pending += 1;
            (target, state.deliveries.len() - 1)
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.lock().pending -= 1;
            return;
        };
        let notifier = self.clone();
        runtime.spawn(async move {
            for delay in std::iter::once(Duration::ZERO).chain(RETRY_DELAYS) {
                tokio::time::sleep(delay).await;
                if notifier.attempt(&target, index).await {
                    break;
                }
            }
            notifier.lock().pending -= 1;
        });
    }

    /// One attempt; true on a 2xx answer.
    async fn attempt(&self, target: &Target, index: usize) -> bool {
        let Some(body) = self.lock().deliveries.get(index).map(|d| d.body.clone()) else {
            return true;
        };
        let status = self.post(&target.url, &target.sign, body).await;
        let mut state = self.lock();
        let Some(delivery) = state.deliveries.get_mut(index) else {
            return true;
        };
        delivery.attempts += 1;
        delivery.last_status = status;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        delivery.delivered |= ok;
        ok
    }

    async fn post(&self, url: &str, sign: &Signer, body: Bytes) -> Option<u16> {
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in sign(&body) {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) => Some(response.status().as_u16()),
            Err(error) => {
                tracing::debug!(%error, "sandbox webhook delivery failed");
                None
            }
        }
    }

    /// Every event sent so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Sends an event again, once and now, signed afresh: the answer's
    /// status, or `None` if it is unknown or the connection failed.
    pub async fn redeliver(&self, event_id: &str) -> Option<u16> {
        let (delivery, sign) = {
            let state = self.lock();
            let delivery = state
                .deliveries
                .iter()
                .find(|d| d.event_id == event_id)?
                .clone();
            let sign = state.target.as_ref().map(|t| t.sign.clone());
            (delivery, sign.unwrap_or_else(unsigned))
        };
        self.post(&delivery.url, &sign, delivery.body).await
    }

    /// Waits until every delivery has got its answer or used its attempts,
    /// at most `timeout`; true if they all have.
    pub async fn settled(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.lock().pending > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}
