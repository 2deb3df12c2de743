//! The crash rows: for every provider, a `kessai` process killed between the
//! intent commit and the provider call, or after the provider answered but
//! before the outcome commit, first during an authorization and then
//! during a capture, while the providers (a `kessai sandbox` process) live
//! on. The caller retries with the same key on another process: where the
//! provider deduplicates, the retry replays the outcome and the provider
//! holds exactly one charge, captured once; where it cannot (PaymentOptions),
//! the call is never sent again, the order waits for a person, and the
//! provider holds at most the one transaction the dead process sent.
//! Reconciliation afterwards sends nothing either.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{Conformer, PROVIDERS};
use crate::crash::{providers_and_env, retried, start_kessai};
use crate::helpers::{assert_error, unique_key};

type Client = PaymentServiceClient<Channel>;

/// Where kessai is killed, and the process the caller retries on.
struct Crash<'a> {
    point: &'a str,
    env: &'a HashMap<String, String>,
    healthy: Client,
    /// The simulators' root URL.
    root: &'a str,
}

impl Crash<'_> {
    /// Whether the call reached the provider before the process died.
    fn reached_the_provider(&self) -> bool {
        self.point == "after_provider_answer"
    }

    /// Makes `call` on a process that aborts at the crash point, then again
    /// (the same request, so the same key) on the healthy process until the
    /// call is no longer in progress: that answer.
    async fn during<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut env = self.env.clone();
        env.insert("KESSAI_TEST_CRASH_AT".into(), format!("{}:1", self.point));
        // Its reconciliation would reach the crash point too.
        env.insert("KESSAI_RECONCILE_INTERVAL_SECS".into(), "0".into());
        let (mut doomed, client) = start_kessai(&env).await;
        let first = call(client).await;
        assert!(first.is_err(), "the process aborted at {}", self.point);
        assert!(!doomed.wait_exit().success(), "it aborted");
        let answer = retried(|| call(self.healthy.clone())).await;
        answer.map(tonic::Response::into_inner)
    }

    async fn order(&self, id: &str) -> v1::Order {
        let request = v1::GetOrderRequest {
            order_id: id.into(),
            refresh: false,
        };
        let answer = self.healthy.clone().get_order(request).await.unwrap();
        answer.into_inner().order.unwrap()
    }

    /// The retry was told a person settles it: the order so flagged.
    async fn in_review<T: std::fmt::Debug>(&self, retried: Result<T, Status>) -> v1::Order {
        let status = assert_error(retried, Code::FailedPrecondition, "NEEDS_REVIEW");
        let info = status.get_details_error_info().unwrap();
        let order = self.order(&info.metadata["order_id"]).await;
        assert!(order.needs_review, "{order:?}");
        assert_eq!(order.status(), OrderStatus::Pending, "{order:?}");
        order
    }

    async fn authorization(&self, provider: &Conformer) {
        let name = provider.name;
        let before = provider.charges(self.root).await.len();
        let request = (provider.authorize)(10_000);
        let retried = self
            .during(|mut c| {
                let request = request.clone();
                async move { c.authorize(request).await }
            })
            .await;
        let charges = provider.charges(self.root).await;
        let made = charges.len() - before;
        if provider.deduplicates {
            let order = retried
                .expect("the retry replays the outcome")
                .order
                .unwrap();
            assert_eq!(order.status(), OrderStatus::Authorized, "{name}: {order:?}");
            assert_eq!(made, 1, "{name}: exactly one charge at the provider");
            assert_eq!(charges[before].id, order.provider_order_id, "{name}");
            provider.assert_books(self.root, &order).await;
        } else {
            self.in_review(retried).await;
            let sent = usize::from(self.reached_the_provider());
            assert_eq!(made, sent, "{name}: only what the dead process sent");
        }
    }

    async fn capture(&self, provider: &Conformer) {
        let name = provider.name;
        let authorize = (provider.authorize)(10_000);
        let order = self.healthy.clone().authorize(authorize).await.unwrap();
        let order = order.into_inner().order.unwrap();
        assert_eq!(order.status(), OrderStatus::Authorized, "{name}: {order:?}");
        let request = v1::CaptureRequest {
            idempotency_key: unique_key("crash-capture"),
            order_id: order.id.clone(),
            amount: Some(3_000),
            ..Default::default()
        };
        let retried = self
            .during(|mut c| {
                let request = request.clone();
                async move { c.capture(request).await }
            })
            .await;
        let captured = (provider.charge(self.root, &order.provider_order_id).await).captured;
        if provider.deduplicates {
            let order = retried
                .expect("the retry replays the outcome")
                .order
                .unwrap();
            assert_eq!(order.amount_captured, 3_000, "{name}: {order:?}");
            // Twice would be 6,000 where it fits, refused where it does not.
            assert_eq!(captured, 3_000, "{name}: captured once at the provider");
            provider.assert_books(self.root, &order).await;
        } else {
            self.in_review(retried).await;
            let sent = if self.reached_the_provider() {
                3_000
            } else {
                0
            };
            assert_eq!(captured, sent, "{name}: only what the dead process sent");
        }
    }
}

async fn every_provider_after_a_crash(postgres: bool) {
    let Some((providers, env)) = providers_and_env(postgres).await else {
        return;
    };
    // Reconciles every second, taking over a dead process's calls.
    let (_healthy, healthy) = start_kessai(&env).await;
    for point in ["after_intent_commit", "after_provider_answer"] {
        let crash = Crash {
            point,
            env: &env,
            healthy: healthy.clone(),
            root: &providers.root,
        };
        for provider in PROVIDERS {
            crash.authorization(provider).await;
            crash.capture(provider).await;
        }
    }
    let mut ledgers = Vec::new();
    for provider in PROVIDERS {
        ledgers.push(provider.charges(&providers.root).await);
    }
    // Reconciliation passes send nothing again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for (provider, ledger) in PROVIDERS.iter().zip(ledgers) {
        let now = provider.charges(&providers.root).await;
        assert_eq!(now, ledger, "{}: after reconciliation", provider.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_after_a_crash_before_and_after_the_provider_call_sqlite() {
    every_provider_after_a_crash(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_after_a_crash_before_and_after_the_provider_call_postgres() {
    every_provider_after_a_crash(true).await;
}
