//! Connection discipline on the gRPC port. tonic bounds calls, not
//! connections: a client that opens connections and never speaks, sends
//! half a preface, or keeps thousands of idle connections would hold a
//! descriptor each until the process runs out, and at the descriptor limit
//! tonic's accept loop retries at once, forever. Here:
//!
//! - at most `max_connections` are open: beyond it kessai stops accepting
//!   (new ones wait in the kernel's backlog) instead of failing calls;
//! - a connection must send its first bytes — the HTTP/2 preface, or a TLS
//!   client hello — within `handshake_timeout`, or it is closed;
//! - a connection with no call in progress (streams included) for
//!   `idle_timeout` is closed;
//! - an accept error other than a peer's reset (descriptors exhausted)
//!   pauses accepting briefly, logged once a minute at most.
//!
//! Streams per connection, keepalive pings and the per-call deadline are
//! tonic's own settings (`startup.rs`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TlsConnectInfo};
use tower::{Layer, Service};

/// The HTTP/2 client preface is 24 bytes; a TLS client hello is longer.
const FIRST_BYTES: usize = 24;

/// How long accepting pauses after an error that is not a peer's reset.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// `None`: idle connections stay open.
    pub idle_timeout: Option<Duration>,
}

/// Accepted connections within `limits`, with Nagle's algorithm off (a
/// small answer leaves at once instead of waiting for the caller's delayed
/// ACK).
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<Admitted>> {
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let state = (listener, places, limits, None::<Instant>);
    futures::stream::unfold(state, |(listener, places, limits, mut warned)| async move {
        loop {
            let Ok(place) = places.clone().acquire_owned().await else {
                return None;
            };
            match listener.accept().await {
                Ok((stream, remote_addr)) => {
                    let admitted = stream
                        .set_nodelay(true)
                        .map(|()| Admitted::new(stream, remote_addr, place, &limits));
                    return Some((admitted, (listener, places, limits, warned)));
                }
                Err(error) if peer_gone(&error) => {}
                Err(error) => {
                    let now = Instant::now();
                    if warned.is_none_or(|at| now - at > Duration::from_secs(60)) {
                        tracing::warn!(%error, "accepting connections failed; pausing briefly");
                        warned = Some(now);
                    }
                    drop(place);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    })
}

/// Errors about one connection that is already gone: the next accept may
/// succeed at once.
fn peer_gone(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Calls in progress on one connection, and since when it had none.
#[derive(Debug)]
pub struct Activity {
    calls: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            calls: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    fn begin(self: &Arc<Self>) -> CallGuard {
        self.calls.fetch_add(1, Ordering::AcqRel);
        CallGuard(self.clone())
    }

    /// When the connection becomes idle too long, if it has no call now.
    fn idle_deadline(&self, idle_timeout: Duration) -> Option<Instant> {
        if self.calls.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        Some(since + idle_timeout)
    }
}

/// One call in progress, until its response (stream) ends.
pub struct CallGuard(Arc<Activity>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let mut since = self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        if self.0.calls.fetch_sub(1, Ordering::AcqRel) == 1 {
            *since = Instant::now();
        }
    }
}

/// What a call learns of its connection (tonic puts it in the request's
/// extensions; with TLS inside [`TlsConnectInfo`]).
#[derive(Debug, Clone)]
pub struct Peer {
    pub remote_addr: SocketAddr,
    activity: Arc<Activity>,
}

/// An accepted connection: holds its place until closed, and closes itself
/// on a handshake that never comes or a long idle.
pub struct Admitted {
    stream: TcpStream,
    peer: Peer,
    _place: OwnedSemaphorePermit,
    /// Until the first bytes have arrived.
    handshake: Option<(Pin<Box<Sleep>>, usize)>,
    idle: Option<(Pin<Box<Sleep>>, Duration)>,
}

impl Admitted {
    fn new(
        stream: TcpStream,
        remote_addr: SocketAddr,
        place: OwnedSemaphorePermit,
        limits: &ConnectionLimits,
    ) -> Self {
        let activity = Arc::new(Activity::new());
        Self {
            stream,
            peer: Peer {
                remote_addr,
                activity,
            },
            _place: place,
            handshake: Some((Box::pin(tokio::time::sleep(limits.handshake_timeout)), 0)),
            idle: limits
                .idle_timeout
                .map(|timeout| (Box::pin(tokio::time::sleep(timeout)), timeout)),
        }
    }

    /// The connection, as its calls see it.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// An error once a deadline has passed; otherwise registers the wakers.
    fn check_deadlines(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some((deadline, _)) = &mut self.handshake
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no handshake in time",
            ));
        }
        if let Some((timer, timeout)) = &mut self.idle {
            while timer.as_mut().poll(cx).is_ready() {
                match self.peer.activity.idle_deadline(*timeout) {
                    Some(at) if at <= Instant::now() => {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"));
                    }
                    Some(at) => timer.as_mut().reset(at),
                    None => timer.as_mut().reset(Instant::now() + *timeout),
                }
            }
        }
        Ok(())
    }
}

impl Connected for Admitted {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Err(error) = this.check_deadlines(cx) {
            return Poll::Ready(Err(error));
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some((_, seen))) = (&read, &mut this.handshake) {
            *seen += buf.filled().len() - before;
            if *seen >= FIRST_BYTES {
                this.handshake = None;
            }
        }
        read
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The connection a request came on, with or without TLS.
pub fn peer<B>(request: &http::Request<B>) -> Option<&Peer> {
    let extensions = request.extensions();
    extensions.get::<Peer>().or_else(|| {
        extensions
            .get::<TlsConnectInfo<Peer>>()
            .map(TlsConnectInfo::get_ref)
    })
}

/// Marks a connection busy from a call's start until its response body
/// (a stream's last message included) ends, for the idle timeout.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActivityLayer;

impl<S> Layer<S> for ActivityLayer {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Tracked { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
}

impl<S, B, ResBody> Service<http::Request<B>> for Tracked<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<GuardedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let guard = peer(&request).map(|peer| peer.activity.begin());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|inner| GuardedBody {
                inner,
                _guard: guard,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call counted until it is done or
    /// dropped.
    pub struct GuardedBody<B> {
        #[pin]
        inner: B,
        _guard: Option<CallGuard>,
    }
}

impl<B: http_body::Body> http_body::Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_without_calls() {
        let activity = Arc::new(Activity::new());
        let timeout = Duration::from_secs(60);
        let start = Instant::now();
        assert_eq!(activity.idle_deadline(timeout), Some(start + timeout));
        let call = activity.begin();
        tokio::time::advance(Duration::from_secs(120)).await;
        assert_eq!(activity.idle_deadline(timeout), None, "a call in progress");
        let second = activity.begin();
        drop(call);
        assert_eq!(activity.idle_deadline(timeout), None, "one call left");
        drop(second);
        assert_eq!(
            activity.idle_deadline(timeout),
            Some(Instant::now() + timeout),
            "idle from the last call's end"
        );
    }
}
