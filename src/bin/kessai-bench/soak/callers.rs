//! The soak's callers: each lives through one checkout after another as a
//! shop's backend would — authorize at one of the three providers, look at
//! the order, capture a part and then the rest, or everything, or void,
//! refund some — and walks the order list now and then. Every call waits
//! for its answer (a 30 s deadline) and is retried with the same
//! idempotency key when kessai says it may be.

use std::future::Future;
use std::time::{Duration, Instant};

use kessai::proto::v1;
use rand::Rng;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use super::samples::{Interval, Op, answer};
use crate::calls;
use crate::load::Client;

/// Long enough for any answer kessai gives, short enough that a hung call
/// shows within the soak.
const DEADLINE: Duration = Duration::from_secs(30);
/// With the backoff doubling to 2 s, about 15 s of retrying: the
/// reconciler settles a lost answer well within that.
const TRIES: u32 = 10;

/// `callers` callers on `clients` until `duration` has passed.
pub async fn shop(
    clients: &[Client],
    callers: usize,
    duration: Duration,
    interval: &Interval,
    prefix: &str,
) {
    let until = Instant::now() + duration;
    let each = (0..callers).map(|n| {
        let caller = Caller {
            client: clients[n % clients.len()].clone(),
            interval,
        };
        async move {
            let mut checkout = 0;
            while Instant::now() < until {
                caller.checkout(&format!("{prefix}-{n}-{checkout}")).await;
                checkout += 1;
            }
        }
    });
    futures::future::join_all(each).await;
}

fn carrying<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// What a client may call again with the same key: kessai busy with the
/// key or the order (ABORTED), overloaded, unavailable, the outcome not yet
/// known (DEADLINE_EXCEEDED OUTCOME_UNKNOWN), or no answer in time.
fn retryable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Aborted | Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded
    )
}

struct Caller<'a> {
    client: Client,
    interval: &'a Interval,
}

impl Caller<'_> {
    /// One RPC with `message`, retried while kessai says so, after the
    /// pause it asks for (else a backoff from 100 ms doubling to 2 s).
    /// Every attempt is counted.
    async fn call<M, T, F, Fut>(&self, op: Op, message: &M, send: F) -> Result<T, Status>
    where
        M: Clone,
        F: Fn(Client, Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut backoff = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            let began = Instant::now();
            let result = send(self.client.clone(), carrying(message.clone())).await;
            self.interval.record(op, began.elapsed(), answer(&result));
            match result {
                Err(status) if retryable(&status) && tries < TRIES => {
                    let asked = status.get_details_retry_info().and_then(|r| r.retry_delay);
                    tokio::time::sleep(asked.unwrap_or(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                done => return done.map(tonic::Response::into_inner),
            }
        }
    }

    async fn capture(&self, request: v1::CaptureRequest) -> bool {
        let send = |mut c: Client, r| async move { c.capture(r).await };
        self.call(Op::Capture, &request, send).await.is_ok()
    }

    async fn get_order(&self, order_id: &str, refresh: bool) {
        let request = v1::GetOrderRequest {
            order_id: order_id.to_owned(),
            refresh,
        };
        let op = if refresh {
            Op::GetOrderRefresh
        } else {
            Op::GetOrder
        };
        let send = |mut c: Client, r| async move { c.get_order(r).await };
        let _ = self.call(op, &request, send).await;
    }

    /// The newest orders, up to three pages of 20, as a back office
    /// scrolls.
    async fn list_pages(&self) {
        let mut request = v1::ListOrdersRequest {
            page_size: 20,
            ..Default::default()
        };
        for _ in 0..3 {
            let send = |mut c: Client, r| async move { c.list_orders(r).await };
            match self.call(Op::ListOrders, &request, send).await {
                Ok(page) if !page.next_page_token.is_empty() => {
                    request.page_token = page.next_page_token;
                }
                _ => return,
            }
        }
    }

    /// One order's life, keys derived from `key`. What happens after the
    /// authorization is drawn: capture 4,000 then the rest (and refund
    /// 1,000 of it half the time; at PaymentOptions 4,000 and the rest
    /// released), capture everything and refund 2,000, void, or leave it
    /// authorized.
    async fn checkout(&self, key: &str) {
        let (provider, plan, refresh, list) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..3),
                rng.random_range(0..10),
                rng.random_bool(0.2),
                rng.random_bool(0.3),
            )
        };
        let authorize_key = format!("{key}-a");
        let request = match provider {
            0 => calls::authorize_request(authorize_key, 10_000),
            1 => calls::smartpay_request(authorize_key, 10_000),
            _ => calls::paymentoptions_request(authorize_key, 10_000, v1::CaptureMethod::Manual),
        };
        if list {
            self.list_pages().await;
        }
        let send = |mut c: Client, r| async move { c.authorize(r).await };
        let Some(order) = self
            .call(Op::Authorize, &request, send)
            .await
            .ok()
            .and_then(|a| a.order)
        else {
            return;
        };
        self.get_order(&order.id, refresh).await;
        if order.status() != v1::OrderStatus::Authorized {
            return;
        }
        let capture = |n: u8, amount: Option<i64>, final_capture: bool| v1::CaptureRequest {
            idempotency_key: format!("{key}-c{n}"),
            order_id: order.id.clone(),
            amount,
            final_capture,
            ..Default::default()
        };
        let refund_after = match plan {
            // PaymentOptions releases what a capture leaves: no rest.
            0..=3 if provider == 2 => self
                .capture(capture(1, Some(4_000), true))
                .await
                .then_some(1_000),
            0..=3 => {
                let rest = self.capture(capture(1, Some(4_000), false)).await
                    && self.capture(capture(2, None, true)).await;
                (rest && plan % 2 == 0).then_some(1_000)
            }
            4..=5 => self.capture(capture(1, None, true)).await.then_some(2_000),
            6..=7 => {
                let void = v1::VoidRequest {
                    idempotency_key: format!("{key}-v"),
                    order_id: order.id.clone(),
                };
                let send = |mut c: Client, r| async move { c.void(r).await };
                let _ = self.call(Op::Void, &void, send).await;
                None
            }
            _ => None,
        };
        if let Some(amount) = refund_after {
            let refund = v1::RefundRequest {
                idempotency_key: format!("{key}-r"),
                order_id: order.id.clone(),
                amount: Some(amount),
                ..Default::default()
            };
            let send = |mut c: Client, r| async move { c.refund(r).await };
            let _ = self.call(Op::Refund, &refund, send).await;
        }
    }
}
