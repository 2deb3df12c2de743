//! Counts every call and times it until its status is known, by method and
//! gRPC code. The code is in the `grpc-status` response header when the
//! answer is trailers-only (most errors), and in the trailers otherwise, so
//! the call is recorded when the response body ends. A streaming call is
//! recorded when its stream ends; one the client abandons counts as
//! `CANCELLED`. The same moment writes the call's access line
//! (`access.rs`), with the `ErrorInfo` reason read from the status.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use super::access::{self, AccessRecord, Answer};
use crate::observability::metrics;

const GRPC_STATUS: &str = "grpc-status";

#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer {
    /// Write the access line of every call, not only of faults.
    pub access_log: bool,
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            access_log: self.access_log,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    access_log: bool,
}

/// The call being measured, recorded exactly once.
#[derive(Debug)]
struct Call {
    service: &'static str,
    method: &'static str,
    started: Instant,
    access: AccessRecord,
    access_log: bool,
    /// The `ErrorInfo` reason of the status, once seen.
    reason: Option<String>,
}

impl Call {
    fn finish(self, code: &'static str) {
        let latency = self.started.elapsed();
        metrics::rpc_handled(self.service, self.method, code, latency);
        let answer = Answer {
            service: self.service,
            method: self.method,
            code,
            reason: self.reason.as_deref(),
            latency,
        };
        access::log(self.access_log, &self.access, &answer);
    }
}

/// The `ErrorInfo` reason of an error status in `headers`.
fn reason_in(headers: &HeaderMap) -> Option<String> {
    use tonic_types::StatusExt;
    if headers.get(GRPC_STATUS).is_none_or(|code| code == "0") {
        return None;
    }
    let status = tonic::Status::from_header_map(headers)?;
    Some(status.get_details_error_info()?.reason)
}

fn status_in(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get(GRPC_STATUS)
        .map(|v| metrics::grpc_code_label(v.as_bytes()))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<tokio::task::futures::TaskLocalFuture<AccessRecord, S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let (service, method) = metrics::rpc_labels(request.uri().path());
        let access = AccessRecord::default();
        request.extensions_mut().insert(access.clone());
        ResponseFuture {
            inner: access.clone().scope(self.inner.call(request)),
            call: Some(Call {
                service,
                method,
                started: Instant::now(),
                access,
                access_log: self.access_log,
                reason: None,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MeteredBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                let header_code = status_in(response.headers());
                if let Some(call) = &mut call {
                    call.reason = reason_in(response.headers());
                }
                Ok(response.map(|inner| MeteredBody {
                    inner,
                    call,
                    header_code,
                    ended: AtomicBool::new(false),
                }))
            }
            Err(error) => {
                // No response at all: the connection fails the call.
                if let Some(call) = call {
                    call.finish(metrics::UNKNOWN);
                }
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body, recording the call when it ends.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
        header_code: Option<&'static str>,
        // Whether the body said it had nothing more to send (hyper may then
        // drop it without polling it to its end).
        ended: AtomicBool,
    }

    impl<B> PinnedDrop for MeteredBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(call) = this.call.take() {
                // A trailers-only answer is complete without its body being
                // read; otherwise the client left before the status.
                let code = match *this.header_code {
                    Some(code) => code,
                    None if this.ended.load(Ordering::Relaxed) => metrics::UNKNOWN,
                    None => metrics::CANCELLED,
                };
                call.finish(code);
            }
        }
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => frame.trailers_ref().map(|trailers| {
                status_in(trailers)
                    .or(*this.header_code)
                    .unwrap_or(metrics::UNKNOWN)
            }),
            Some(Err(_)) => Some(metrics::UNKNOWN),
            None => Some(this.header_code.unwrap_or(metrics::UNKNOWN)),
        };
        if let Some(code) = code
            && let Some(mut call) = this.call.take()
        {
            if let Some(Ok(frame)) = &frame
                && let Some(reason) = frame.trailers_ref().and_then(reason_in)
            {
                call.reason = Some(reason);
            }
            call.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            self.ended.store(true, Ordering::Relaxed);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;

    use bytes::Bytes;
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    /// A response body of the given frames.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn trailers(code: &str) -> Frame<Bytes> {
        let mut map = HeaderMap::new();
        map.insert(GRPC_STATUS, code.parse().unwrap());
        Frame::trailers(map)
    }

    fn metered(
        frames: Vec<Frame<Bytes>>,
        header_code: Option<&'static str>,
    ) -> MeteredBody<Frames> {
        MeteredBody {
            inner: Frames(frames.into()),
            call: Some(Call {
                service: "kessai.v1.PaymentService",
                method: "GetOrder",
                started: Instant::now(),
                access: AccessRecord::default(),
                access_log: false,
                reason: None,
            }),
            header_code,
            ended: AtomicBool::new(false),
        }
    }

    /// Polls `frames` of the body, then drops it; returns the exposition.
    fn record(mut body: MeteredBody<Frames>, frames: usize) -> String {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        ::metrics::with_local_recorder(&recorder, || {
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..frames {
                let _ = Pin::new(&mut body).poll_frame(&mut cx);
            }
            drop(body);
        });
        handle.render()
    }

    fn handled(text: &str, code: &str) -> bool {
        text.lines().any(|l| {
            l.starts_with(metrics::RPC_HANDLED)
                && l.contains(&format!("grpc_code=\"{code}\""))
                && l.ends_with(" 1")
        })
    }

    fn count(text: &str) -> usize {
        text.lines()
            .filter(|l| l.starts_with(metrics::RPC_HANDLED))
            .count()
    }

    #[test]
    fn the_code_in_the_trailers_is_recorded_once() {
        let body = metered(
            vec![Frame::data(Bytes::from_static(b"x")), trailers("5")],
            None,
        );
        let text = record(body, 3);
        assert!(handled(&text, "NOT_FOUND"), "{text}");
        assert_eq!(count(&text), 1, "{text}");
    }

    #[test]
    fn a_trailers_only_answer_is_recorded_with_its_header_code_unread() {
        let text = record(metered(vec![], Some("INVALID_ARGUMENT")), 0);
        assert!(handled(&text, "INVALID_ARGUMENT"), "{text}");
        assert_eq!(count(&text), 1, "{text}");
    }

    #[test]
    fn a_stream_the_client_abandons_is_cancelled() {
        let body = metered(
            vec![
                Frame::data(Bytes::from_static(b"1")),
                Frame::data(Bytes::from_static(b"2")),
                trailers("0"),
            ],
            None,
        );
        let text = record(body, 1);
        assert!(handled(&text, "CANCELLED"), "{text}");
        assert_eq!(count(&text), 1, "{text}");
    }

    #[test]
    fn a_body_that_ends_without_any_status_is_unknown() {
        let body = metered(vec![Frame::data(Bytes::from_static(b"x"))], None);
        let text = record(body, 2);
        assert!(handled(&text, "UNKNOWN"), "{text}");
    }
}
