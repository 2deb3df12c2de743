//! The notification rows: for every provider, what its simulator really sent
//! (authenticated its way: PAY.JP's token, Smartpay's and the example's
//! signatures, PaymentOptions' unsigned hint that kessai confirms with a
//! lookup) brings kessai's order to the provider's ledger; a forged one and
//! a replayed one change nothing. The simulators notify an inbox the test
//! serves, so the test chooses when kessai gets each notification.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use futures::future::BoxFuture;
use kessai::clock::Clock;
use kessai::proto::v1;

use super::{Conformer, PROVIDERS, http_client};
use crate::db_test;
use crate::helpers::TestApp;
use crate::webhooks::{Answer, post_webhook, smartpay_headers};

/// POSTs `body` to a provider's own API with this `Authorization`, as its
/// dashboard would: kessai records nothing of it.
pub fn at_the_provider(
    url: String,
    authorization: String,
    body: serde_json::Value,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let request = http_client()
            .post(&url)
            .header("Authorization", authorization);
        let answer = request.json(&body).send().await.unwrap();
        let status = answer.status();
        assert!(
            status.is_success(),
            "{url}: {status}: {}",
            answer.text().await.unwrap()
        );
    })
}

/// A notification: the headers that authenticate it, and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Webhook {
    /// The same body under other headers.
    pub fn signed_as(&self, headers: Vec<(&str, String)>) -> Self {
        let headers = headers.into_iter().map(|(k, v)| (k.to_owned(), v));
        Self {
            headers: headers.collect(),
            body: self.body.clone(),
        }
    }

    /// Posts it to kessai's route for `provider`.
    async fn post(&self, app: &TestApp, provider: &Conformer) -> Answer {
        let headers: Vec<(&str, String)> = (self.headers.iter())
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let addr = app.webhook_addr.to_string();
        post_webhook(&addr, provider.slug, &headers, &self.body).await
    }
}

/// Smartpay's notification signed with a key that is not the endpoint's.
pub fn smartpay_forged(app: &TestApp, _: &v1::Order, news: &Webhook) -> Webhook {
    let wrong_key = "00c019ef8c14058df9343e16b22aaf3240aa0c0bb9fb61670109e8cd0bb3";
    let now = app.clock.now().timestamp_millis();
    news.signed_as(smartpay_headers(&news.body, now, wrong_key))
}

/// PaymentOptions' refund notification with the order's capture in the
/// refund's place: a refund PaymentOptions does not confirm.
pub fn paymentoptions_forged(_: &TestApp, order: &v1::Order, news: &Webhook) -> Webhook {
    let mut body: serde_json::Value = serde_json::from_str(&news.body).unwrap();
    assert_eq!(body["transaction_type"], "REFUND", "{body}");
    let capture = order.captures[0].provider_capture_id.clone();
    body["transaction_details"]["id"] = capture.into();
    Webhook {
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// Where the simulators' notifications go instead of kessai: each is kept
/// with the headers it came with, answered 200.
struct Inbox {
    url: String,
    kept: Arc<Mutex<Vec<Webhook>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Inbox {
    async fn start() -> Self {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let keep = {
            let kept = kept.clone();
            move |headers: HeaderMap, body: String| async move {
                let headers = headers
                    .iter()
                    .filter(|(name, _)| {
                        !["host", "content-length", "content-type"].contains(&name.as_str())
                    })
                    .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()));
                let webhook = Webhook {
                    headers: headers.collect(),
                    body,
                };
                kept.lock().unwrap().push(webhook);
                StatusCode::OK
            }
        };
        let router = axum::Router::new().route("/", axum::routing::post(keep));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, kept, server }
    }

    /// The provider's most recent notification, as it arrived.
    async fn latest(&self, app: &TestApp, provider: &Conformer) -> Webhook {
        let name = provider.name;
        let notifier = (provider.notifier)(app);
        assert!(
            notifier.settled(Duration::from_secs(10)).await,
            "{name}: delivered"
        );
        let sent = notifier.deliveries().pop();
        let sent = sent.unwrap_or_else(|| panic!("{name}: a notification was sent"));
        let body = String::from_utf8(sent.body.to_vec()).unwrap();
        let kept = self.kept.lock().unwrap();
        let arrived = kept.iter().rev().find(|w| w.body == body);
        arrived.cloned().expect("it reached the inbox")
    }
}

/// The requests the provider's simulator got from kessai.
fn requests(app: &TestApp, provider: &Conformer) -> usize {
    let prefix = format!("/{}/", provider.slug);
    let received = app.sandbox().received().all();
    let api = |path: &str| path.starts_with(&prefix) && !path.contains("/_sandbox/");
    received.iter().filter(|r| api(&r.path)).count()
}

db_test! {
    // Every PaymentOptions hint looked up at once, however close together.
    env: [("KESSAI_WEBHOOK_HINT_INTERVAL_MS", "0")];
    async fn every_provider_is_believed_only_in_its_own_notifications_and_only_once(app: TestApp) {
        let inbox = Inbox::start().await;
        let root = app.simulators();
        for provider in PROVIDERS {
            let name = provider.name;
            (provider.deliver_to)(&app, inbox.url.clone());
            let order = app.authorize((provider.authorize)(10_000)).await.unwrap();
            // What the provider sent of the authorization: taken, nothing new.
            let authorized = inbox.latest(&app, provider).await;
            let answer = authorized.post(&app, provider).await;
            assert_eq!((answer.status, answer.json["outcome"].as_str()), (200, Some("applied")), "{name}: {}", answer.json);

            // The provider moves on; kessai is not told.
            let order = app.get_order(&order.id, false).await.unwrap();
            (provider.diverge)(&app, &order).await;
            let stale = app.get_order(&order.id, false).await.unwrap();
            let charge = provider.charge(&root, &stale.provider_order_id).await;
            let books = (stale.amount_captured, stale.amount_refunded);
            assert_ne!(books, (charge.captured, charge.refunded), "{name}: the provider moved on alone");
            let news = inbox.latest(&app, provider).await;
            assert_ne!(news, authorized, "{name}: the provider notified it");

            // The first notification again: recognised, the provider not
            // even asked, nothing changed.
            let asked = requests(&app, provider);
            let replay = authorized.post(&app, provider).await;
            assert_eq!((replay.status, replay.json["outcome"].as_str()), (200, Some("duplicate")), "{name}: {}", replay.json);
            assert_eq!(requests(&app, provider), asked, "{name}: a replay costs no lookup");
            assert_eq!(app.get_order(&order.id, false).await.unwrap(), stale, "{name}: a replay changes nothing");

            // A forgery of the news changes nothing either.
            let forged = (provider.forge)(&app, &stale, &news);
            let answer = forged.post(&app, provider).await;
            assert_eq!(app.get_order(&order.id, false).await.unwrap(), stale, "{name}: a forgery changes nothing: {}", answer.json);

            // The provider's own notification of it brings kessai to its ledger.
            let answer = news.post(&app, provider).await;
            assert_eq!(answer.json["outcome"], "applied", "{name}: {}", answer.json);
            let now = app.get_order(&order.id, false).await.unwrap();
            assert_ne!(now, stale, "{name}: the notification was acted on");
            provider.assert_books(&root, &now).await;
        }
    }
}
