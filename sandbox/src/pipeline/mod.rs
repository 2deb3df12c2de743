//! The request pipeline the three simulators share: credentials first (a
//! refused request is not counted), then the body (at most 1 MiB), the
//! count, the action under the books' one lock (with idempotency where the
//! provider has it, see [`idempotency`]), and last the notifications the
//! action queued, sent once the books are unlocked. Fault injection and
//! latency wrap the API routes ([`Core::router`]); the `/_sandbox` controls
//! are neither authenticated nor faulted, so a test can always inspect and
//! repair a simulator.

pub(crate) mod auth;
pub(crate) mod clock;
pub(crate) mod idempotency;
pub(crate) mod reply;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use kessai_clock::SharedClock;

use crate::faults::{self, Faults};
use crate::notifications::Notifier;
use clock::SimClock;
use reply::Reply;

const MAX_BODY_BYTES: usize = 1 << 20;

/// What every simulator holds: its books behind one mutex, its fault plan,
/// its clock and its outgoing notifications. Clones share all of it.
pub(crate) struct Core<B> {
    books: Arc<Mutex<B>>,
    pub faults: Faults,
    pub clock: SimClock,
    pub notifier: Notifier,
    requests_seen: Arc<AtomicUsize>,
    /// Counts every lock of the books that may have changed them, so the
    /// state file is written only after something may have moved.
    changes: Arc<AtomicU64>,
}

impl<B> Clone for Core<B> {
    fn clone(&self) -> Self {
        Self {
            books: self.books.clone(),
            faults: self.faults.clone(),
            clock: self.clock.clone(),
            notifier: self.notifier.clone(),
            requests_seen: self.requests_seen.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<B: Default> Core<B> {
    pub(crate) fn new(clock: SharedClock) -> Self {
        Self {
            books: Arc::default(),
            faults: Faults::default(),
            clock: SimClock::new(clock),
            notifier: Notifier::default(),
            requests_seen: Arc::default(),
            changes: Arc::default(),
        }
    }
}

impl<B> Core<B> {
    /// The books, to act on: counted as a change (telling the few locks
    /// that only read apart is not worth a second way in).
    pub(crate) fn lock(&self) -> MutexGuard<'_, B> {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.unlocked()
    }

    fn unlocked(&self) -> MutexGuard<'_, B> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many times the books may have changed since the start.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Reads the books without counting a change (the state file's saver).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&B) -> T) -> T {
        read(&self.unlocked())
    }

    /// Puts saved books in place of these (before serving).
    pub(crate) fn replace(&self, books: B) {
        *self.unlocked() = books;
    }

    /// How many authenticated API requests reached the simulator.
    pub(crate) fn requests_seen(&self) -> usize {
        self.requests_seen.load(Ordering::SeqCst)
    }

    fn count_request(&self) {
        self.requests_seen.fetch_add(1, Ordering::SeqCst);
    }

    /// The API routes behind the fault layer, then the sandbox controls and
    /// the fault controls, all served with `state`.
    pub(crate) fn router<S>(&self, state: S, api: Router<S>, control: Router<S>) -> Router
    where
        S: Clone + Send + Sync + 'static,
    {
        let api = api
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                self.faults.clone(),
                faults::layer,
            ));
        api.merge(control.with_state(state))
            .merge(faults::control_routes(self.faults.clone()))
    }
}

/// A request whose body was read, for a simulator to act on.
pub(crate) struct Incoming<'a, C> {
    pub call: &'a C,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub path: &'a str,
    pub body: &'a [u8],
}

impl<C> Incoming<'_, C> {
    /// What makes two requests "the same" for idempotency.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        idempotency::fingerprint(self.method, self.path, self.body)
    }
}

/// What a simulator plugs into the pipeline.
pub(crate) trait Api: Clone + Send + Sync + 'static {
    /// One API operation, named by the route that received it.
    type Call: Send + 'static;
    type Books;

    fn core(&self) -> &Core<Self::Books>;

    /// The answer to a request without the right credentials, if it is
    /// one.
    fn refusal(&self, headers: &HeaderMap, call: &Self::Call, path: &str) -> Option<Response>;

    /// The answer to a body that is unreadable or too large.
    fn unreadable_body(&self, call: &Self::Call, path: &str) -> Reply;

    /// Acts on a request; everything after the body is read happens here,
    /// under one lock of the books.
    fn handle(&self, request: &Incoming<'_, Self::Call>) -> Reply;

    /// Sends what the books queued, outside their lock.
    fn flush_notifications(&self);
}

/// Serves one API request through the pipeline.
pub(crate) async fn serve<A: Api>(api: &A, call: A::Call, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if let Some(refusal) = api.refusal(&parts.headers, &call, path) {
        return refusal;
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    api.core().count_request();
    let Ok(body) = body else {
        return api.unreadable_body(&call, path).into_response();
    };
    let reply = api.handle(&Incoming {
        call: &call,
        method: &parts.method,
        headers: &parts.headers,
        path,
        body: &body,
    });
    api.flush_notifications();
    reply.into_response()
}

/// A handler serving the call `make` builds from the request's query string.
pub(crate) fn serving<A: Api>(
    make: fn(Option<String>) -> A::Call,
) -> impl Fn(State<A>, Request) -> BoxFuture<'static, Response> + Clone + Send + Sync + 'static {
    move |State(api): State<A>, request: Request| {
        let call = make(request.uri().query().map(str::to_owned));
        Box::pin(async move { serve(&api, call, request).await })
    }
}

/// A handler serving the call `make` builds from the route's one path
/// parameter and the request's query string.
pub(crate) fn serving_id<A: Api>(
    make: fn(String, Option<String>) -> A::Call,
) -> impl Fn(State<A>, Path<String>, Request) -> BoxFuture<'static, Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(api): State<A>, Path(id): Path<String>, request: Request| {
        let call = make(id, request.uri().query().map(str::to_owned));
        Box::pin(async move { serve(&api, call, request).await })
    }
}
