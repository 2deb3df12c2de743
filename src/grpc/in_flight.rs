//! Counts calls in flight, so shutdown can wait for them rather than for
//! clients to close their (possibly idle, long-lived) connections.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

#[derive(Clone, Default)]
pub struct InFlight {
    count: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until no call is in flight, or `timeout` passes. Returns
    /// whether every call finished.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.current() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S> Layer<S> for InFlight {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            count: self.count.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    count: Arc<AtomicUsize>,
}

impl<S, R> Service<R> for Counted<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.count.fetch_add(1, Ordering::AcqRel);
        let guard = Guard(self.count.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(guard);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn counts_a_call_until_it_finishes() {
        let in_flight = InFlight::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rx = std::sync::Mutex::new(Some(rx));
        let service = in_flight.layer(tower::service_fn(move |_: ()| {
            let rx = rx.lock().unwrap().take();
            async move {
                if let Some(rx) = rx {
                    let _ = rx.await;
                }
                Ok::<_, std::convert::Infallible>(())
            }
        }));
        let call = tokio::spawn(service.oneshot(()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(in_flight.current(), 1);
        assert!(!in_flight.wait_idle(Duration::from_millis(50)).await);
        tx.send(()).unwrap();
        call.await.unwrap().unwrap();
        assert!(in_flight.wait_idle(Duration::from_millis(50)).await);
    }
}
