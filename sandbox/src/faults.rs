//! Latency and fault injection shared by the provider simulators.
//!
//! A simulator wraps its router in [`layer`]: every request first waits the
//! configured latency, then meets the first queued [`Fault`] that matches it.
//! Faults can be queued in-process through [`Faults`] or over HTTP through
//! [`control_routes`], so a test can break a simulator that runs in another
//! process.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post, put};
use serde::{Deserialize, Serialize};

/// What a matching request meets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and JSON body without acting.
    Status {
        status: u16,
        #[serde(default)]
        body: serde_json::Value,
    },
    /// Do not act and do not answer: the client times out.
    Hang,
    /// Act, then break the connection before the response body is sent: the
    /// provider moved, the caller never learns it.
    DropAfterActing,
    /// Act, then answer after `ms` milliseconds (past a short client timeout).
    DelayAfterActing { ms: u64 },
}

/// A fault for the next `times` requests whose method and path match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP method to match; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Substring of the request path to match; any when empty.
    #[serde(default)]
    pub path_contains: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests meet it.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn new(method: &str, path_contains: &str, kind: FaultKind) -> Self {
        Self {
            method: Some(method.to_owned()),
            path_contains: path_contains.to_owned(),
            kind,
            times: 1,
        }
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.contains(&self.path_contains)
    }
}

/// Faults met at random: each matching request meets one of `kinds` with
/// probability `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFaults {
    pub rate: f64,
    pub kinds: Vec<FaultKind>,
    /// HTTP method to match; any when absent (reads are usually spared).
    #[serde(default)]
    pub method: Option<String>,
}

#[derive(Debug, Default)]
struct State_ {
    queue: Vec<Fault>,
    latency: Duration,
    random: Option<RandomFaults>,
}

/// The fault plan of one simulator. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<State_>>,
}

impl Faults {
    pub fn inject(&self, fault: Fault) {
        self.lock().queue.push(fault);
    }

    pub fn clear(&self) {
        let mut state = self.lock();
        state.queue.clear();
        state.latency = Duration::ZERO;
        state.random = None;
    }

    /// Meets requests with faults at random, on top of the queued ones.
    pub fn set_random(&self, random: Option<RandomFaults>) {
        self.lock().random = random;
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// Takes one use of the first fault matching the request, or, failing
    /// that, draws a random one.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultKind> {
        let mut state = self.lock();
        let queued = state
            .queue
            .iter()
            .position(|f| f.times > 0 && f.matches(method, path));
        let Some(index) = queued else {
            let random = state.random.as_ref()?;
            let applies = random
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method));
            if !applies
                || random.kinds.is_empty()
                || !rand::random_bool(random.rate.clamp(0.0, 1.0))
            {
                return None;
            }
            let pick = rand::random_range(0..random.kinds.len());
            return Some(random.kinds[pick].clone());
        };
        let fault = &mut state.queue[index];
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            state.queue.remove(index);
        }
        Some(kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware applying latency and faults; use with
/// `axum::middleware::from_fn_with_state(faults, layer)`.
pub async fn layer(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let latency = faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    match faults.take(&method, &path) {
        None => next.run(request).await,
        Some(FaultKind::Status { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(body)).into_response()
        }
        Some(FaultKind::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(FaultKind::DropAfterActing) => {
            let response = next.run(request).await;
            let (parts, _) = response.into_parts();
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "sandbox fault: connection dropped after acting",
                ))
            });
            Response::from_parts(parts, Body::from_stream(broken))
        }
        Some(FaultKind::DelayAfterActing { ms }) => {
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response
        }
    }
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

/// `POST /_sandbox/faults` queues a fault, `DELETE /_sandbox/faults` clears
/// faults and latency, `PUT /_sandbox/latency {"ms": …}` sets the latency.
pub fn control_routes<S>(faults: Faults) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    axum::Router::new()
        .route(
            "/_sandbox/faults",
            post(
                |State(f): State<Faults>, Json(fault): Json<Fault>| async move {
                    f.inject(fault);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sandbox/faults",
            delete(|State(f): State<Faults>| async move {
                f.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_sandbox/random-faults",
            put(
                |State(f): State<Faults>, Json(random): Json<Option<RandomFaults>>| async move {
                    f.set_random(random);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/_sandbox/latency",
            put(
                |State(f): State<Faults>, Json(body): Json<LatencyBody>| async move {
                    f.set_latency(Duration::from_millis(body.ms));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_met_as_many_times_as_asked_then_gone() {
        let faults = Faults::default();
        faults.inject(Fault::new("POST", "/capture", FaultKind::Hang).times(2));
        assert_eq!(faults.take("GET", "/v2/payment_flows/x/capture"), None);
        assert_eq!(faults.take("POST", "/v2/payment_flows"), None);
        assert_eq!(
            faults.take("POST", "/v2/payment_flows/x/capture"),
            Some(FaultKind::Hang)
        );
        assert_eq!(
            faults.take("post", "/v2/payment_flows/x/capture"),
            Some(FaultKind::Hang)
        );
        assert_eq!(faults.take("POST", "/v2/payment_flows/x/capture"), None);
    }

    #[test]
    fn random_faults_hit_about_as_often_as_asked() {
        let faults = Faults::default();
        faults.set_random(Some(RandomFaults {
            rate: 0.25,
            kinds: vec![FaultKind::Hang, FaultKind::DropAfterActing],
            method: Some("POST".into()),
        }));
        let hits = (0..4_000)
            .filter(|_| faults.take("POST", "/x").is_some())
            .count();
        assert!((800..1_200).contains(&hits), "{hits}");
        assert!(
            (0..100).all(|_| faults.take("GET", "/x").is_none()),
            "reads are spared"
        );
        faults.clear();
        assert!(faults.take("POST", "/x").is_none());
    }

    #[test]
    fn faults_deserialize_from_the_http_control_shape() {
        let fault: Fault = serde_json::from_str(
            r#"{"method":"POST","path_contains":"/refunds","kind":"status","status":503,"body":{"x":1},"times":3}"#,
        )
        .unwrap();
        assert_eq!(fault.times, 3);
        assert_eq!(
            fault.kind,
            FaultKind::Status {
                status: 503,
                body: serde_json::json!({"x":1})
            }
        );
    }
}
