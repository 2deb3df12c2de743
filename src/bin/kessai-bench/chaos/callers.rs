//! The cancelling callers: each calls one RPC after another, at random,
//! and gives up on every call after 0.5–50 ms.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kessai::proto::v1;
use rand::Rng;
use tonic::{Code, Request, Status};

use crate::calls;
use crate::load::Client;

/// What a cancelling caller calls, each as often as the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rpc {
    AuthorizePayjp,
    AuthorizeSmartpay,
    AuthorizePaymentOptions,
    Capture,
    Refund,
    Void,
    GetOrderRefresh,
    ListOrders,
    WatchOrderEvents,
}

impl Rpc {
    const ALL: [Rpc; 9] = [
        Rpc::AuthorizePayjp,
        Rpc::AuthorizeSmartpay,
        Rpc::AuthorizePaymentOptions,
        Rpc::Capture,
        Rpc::Refund,
        Rpc::Void,
        Rpc::GetOrderRefresh,
        Rpc::ListOrders,
        Rpc::WatchOrderEvents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Rpc::AuthorizePayjp => "Authorize (PAY.JP)",
            Rpc::AuthorizeSmartpay => "Authorize (Smartpay)",
            Rpc::AuthorizePaymentOptions => "Authorize (PaymentOptions)",
            Rpc::Capture => "Capture",
            Rpc::Refund => "Refund",
            Rpc::Void => "Void",
            Rpc::GetOrderRefresh => "GetOrder refresh",
            Rpc::ListOrders => "ListOrders",
            Rpc::WatchOrderEvents => "WatchOrderEvents",
        }
    }
}

/// How a given-up call ended for its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// kessai answered before the caller gave up.
    Answered(Code),
    /// The caller's deadline passed first: tonic's client ends a call that
    /// carries one itself, just before the caller would reset it.
    DeadlinePassed,
    /// The caller reset the stream first (mostly calls with no deadline).
    GaveUp,
    /// The caller's connection broke under it, with the code tonic made of
    /// the transport error (HTTP/2's reset limits, on either side, close a
    /// connection with ENHANCE_YOUR_CALM, RESOURCE_EXHAUSTED to the
    /// caller): no answer of kessai's.
    ConnectionLost(Code),
}

impl Ending {
    pub fn label(self) -> String {
        match self {
            Ending::Answered(code) => format!("{code:?}"),
            Ending::DeadlinePassed => "deadline passed at the caller".into(),
            Ending::GaveUp => "reset by the caller".into(),
            Ending::ConnectionLost(code) => format!("connection lost ({code:?})"),
        }
    }

    /// Answers first (OK first), then the endings without one.
    pub fn rank(self) -> (u8, i32) {
        match self {
            Ending::Answered(code) => (0, code as i32),
            Ending::DeadlinePassed => (1, 0),
            Ending::GaveUp => (2, 0),
            Ending::ConnectionLost(code) => (3, code as i32),
        }
    }

    pub fn is_internal(self) -> bool {
        matches!(self, Ending::Answered(Code::Internal | Code::Unknown))
    }
}

/// The cancelling callers' calls, counted by RPC and ending.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: HashMap<(Rpc, Ending), u64>,
    /// The first INTERNAL or UNKNOWN answers' messages.
    pub internal_messages: Vec<String>,
    /// For each code of a lost connection, the transport error behind the
    /// first one.
    pub transport_errors: HashMap<Code, String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (key, n) in other.counts {
            *self.counts.entry(key).or_default() += n;
        }
        for (code, error) in other.transport_errors {
            self.transport_errors.entry(code).or_insert(error);
        }
        for message in other.internal_messages {
            if self.internal_messages.len() < 5 {
                self.internal_messages.push(message);
            }
        }
    }

    pub fn count(&self, which: impl Fn(Ending) -> bool) -> u64 {
        self.counts
            .iter()
            .filter(|((_, ending), _)| which(*ending))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Orders the callers capture, refund, void and refresh: the seeded ones,
/// then the newest learned from answers, so that money operations keep
/// meeting orders in every state (some still being authorized) rather than
/// a handful settled long ago.
#[derive(Default)]
pub struct Recent(Mutex<VecDeque<String>>);

impl Recent {
    const KEEP: usize = 256;

    pub fn add(&self, ids: Vec<String>) {
        let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if recent.len() == Self::KEEP {
                recent.pop_front();
            }
            recent.push_back(id);
        }
    }

    pub fn pick(&self) -> String {
        let recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if recent.is_empty() {
            return String::new();
        }
        recent[rand::rng().random_range(0..recent.len())].clone()
    }
}

/// `callers` callers on `clients`, each calling one RPC after another and
/// giving up on each, until `duration` has passed.
pub async fn storm(
    clients: &[Client],
    callers: usize,
    duration: Duration,
    recent: Arc<Recent>,
    prefix: &str,
    calls: Arc<AtomicU64>,
) -> Tally {
    let until = Instant::now() + duration;
    let sequence = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let client = clients[caller % clients.len()].clone();
            let (recent, sequence, calls) = (recent.clone(), sequence.clone(), calls.clone());
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < until {
                    let rpc = Rpc::ALL[rand::rng().random_range(0..Rpc::ALL.len())];
                    let key = format!("{prefix}-{}", sequence.fetch_add(1, Ordering::Relaxed));
                    let (ending, message) = give_up_on(client.clone(), rpc, key, &recent).await;
                    *tally.counts.entry((rpc, ending)).or_default() += 1;
                    match (ending, message) {
                        (Ending::ConnectionLost(code), Some(error)) => {
                            tally.transport_errors.entry(code).or_insert(error);
                        }
                        (_, Some(message)) if tally.internal_messages.len() < 5 => {
                            tally.internal_messages.push(message);
                        }
                        _ => {}
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        match task.await {
            Ok(tally) => all.merge(tally),
            // A bug of the harness's: nothing it counted can be trusted.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    all
}

/// A request of one of the RPCs, ready to send.
enum Message {
    Authorize(Box<v1::AuthorizeRequest>),
    Capture(v1::CaptureRequest),
    Refund(v1::RefundRequest),
    Void(v1::VoidRequest),
    GetOrder(v1::GetOrderRequest),
    List(v1::ListOrdersRequest),
    Watch(v1::WatchOrderEventsRequest),
}

impl Message {
    /// `rpc`'s request with idempotency key `key`, on `order_id` where it
    /// takes an order; amounts and capture methods drawn at random.
    fn new(rpc: Rpc, key: String, order_id: String) -> Self {
        let mut rng = rand::rng();
        match rpc {
            Rpc::AuthorizePayjp => Self::Authorize(Box::new(calls::authorize_request(key, 5_000))),
            Rpc::AuthorizeSmartpay => {
                Self::Authorize(Box::new(calls::smartpay_request(key, 5_000)))
            }
            Rpc::AuthorizePaymentOptions => {
                let method = if rng.random_bool(0.5) {
                    v1::CaptureMethod::Automatic
                } else {
                    v1::CaptureMethod::Manual
                };
                Self::Authorize(Box::new(calls::paymentoptions_request(key, 5_000, method)))
            }
            // A part or everything, the rest kept or released.
            Rpc::Capture => Self::Capture(v1::CaptureRequest {
                idempotency_key: key,
                order_id,
                amount: rng.random_bool(0.7).then_some(1_000),
                final_capture: rng.random_bool(0.5),
                ..Default::default()
            }),
            Rpc::Refund => Self::Refund(v1::RefundRequest {
                idempotency_key: key,
                order_id,
                amount: Some(500),
                ..Default::default()
            }),
            Rpc::Void => Self::Void(v1::VoidRequest {
                idempotency_key: key,
                order_id,
            }),
            Rpc::GetOrderRefresh => Self::GetOrder(v1::GetOrderRequest {
                order_id,
                refresh: true,
            }),
            Rpc::ListOrders => Self::List(v1::ListOrdersRequest::default()),
            Rpc::WatchOrderEvents => Self::Watch(v1::WatchOrderEventsRequest::default()),
        }
    }

    /// Sends it, carrying the caller's deadline (`grpc-timeout`) when there
    /// is one, so that the server gives up too, not only the caller. The
    /// order ids the answer names (the newest few of a page).
    async fn send(
        self,
        mut client: Client,
        deadline: Option<Duration>,
    ) -> Result<Vec<String>, Status> {
        fn carrying<T>(message: T, deadline: Option<Duration>) -> Request<T> {
            let mut request = Request::new(message);
            if let Some(deadline) = deadline {
                request.set_timeout(deadline);
            }
            request
        }
        fn nothing<T>(_: T) -> Vec<String> {
            Vec::new()
        }
        match self {
            Self::Authorize(m) => {
                let order = client.authorize(carrying(*m, deadline)).await?.into_inner();
                Ok(order.order.map(|o| o.id).into_iter().collect())
            }
            Self::Capture(m) => client.capture(carrying(m, deadline)).await.map(nothing),
            Self::Refund(m) => client.refund(carrying(m, deadline)).await.map(nothing),
            Self::Void(m) => client.void(carrying(m, deadline)).await.map(nothing),
            Self::GetOrder(m) => client.get_order(carrying(m, deadline)).await.map(nothing),
            Self::List(m) => {
                let page = client
                    .list_orders(carrying(m, deadline))
                    .await?
                    .into_inner();
                Ok(page.orders.into_iter().take(4).map(|o| o.id).collect())
            }
            Self::Watch(m) => {
                let answer = client.watch_order_events(carrying(m, deadline)).await?;
                let mut events = answer.into_inner();
                while events.message().await?.is_some() {}
                Ok(Vec::new())
            }
        }
    }
}

/// One call of `rpc`, given up on after 0.5–50 ms (the client resets the
/// stream); half the calls tell the server that deadline. Order ids learned
/// from answers feed `recent`. With the ending, the message of an INTERNAL
/// or UNKNOWN answer, or the transport error behind a lost connection.
async fn give_up_on(
    client: Client,
    rpc: Rpc,
    key: String,
    recent: &Recent,
) -> (Ending, Option<String>) {
    let (within, deadline) = {
        let mut rng = rand::rng();
        let within = Duration::from_micros(rng.random_range(500..=50_000));
        (within, rng.random_bool(0.5).then_some(within))
    };
    let message = Message::new(rpc, key, recent.pick());
    match tokio::time::timeout(within, message.send(client, deadline)).await {
        Err(_) => (Ending::GaveUp, None),
        Ok(Ok(learned)) => {
            recent.add(learned);
            (Ending::Answered(Code::Ok), None)
        }
        Ok(Err(status)) if is_source::<tonic::TimeoutExpired>(&status) => {
            (Ending::DeadlinePassed, None)
        }
        // Only a status tonic makes on the client's side has a source;
        // kessai's answers arrive as trailers.
        Ok(Err(status)) if std::error::Error::source(&status).is_some() => {
            let error = transport_error(&status);
            (Ending::ConnectionLost(status.code()), Some(error))
        }
        Ok(Err(status)) => {
            let ending = Ending::Answered(status.code());
            (ending, ending.is_internal().then(|| calls::failed(status)))
        }
    }
}

/// Whether an `E` is anywhere under `status`.
fn is_source<E: std::error::Error + 'static>(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<E>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The chain of errors under a status tonic made on the client's side.
fn transport_error(status: &Status) -> String {
    let mut chain = vec![status.message().to_owned()];
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        chain.push(error.to_string());
        source = error.source();
    }
    chain.join(": ")
}
