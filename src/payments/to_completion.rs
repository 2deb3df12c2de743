//! Money operations run to completion once they start.
//!
//! tonic drops a handler's future when its caller goes away (a deadline, a
//! reset, a pod restart), at whatever `.await` it has reached. Between an
//! intent commit and its outcome commit that would leave a provider call
//! whose answer nobody records: the order stays `PENDING`, and where the
//! provider cannot deduplicate, a retry could not tell whether to resend.
//! So every use case that calls a provider or writes runs on a task of its
//! own, which the caller's cancellation cannot drop; the caller awaits its
//! result. A caller who has gone away finds the outcome recorded when it
//! retries with the same key (while the task still runs, the retry is told
//! to retry: `ABORTED` with `RetryInfo`).
//!
//! The tasks are bounded by the provider client's timeouts and the
//! database's acquire timeout, and are tracked: shutdown waits for them
//! ([`Payments::drain`]) before the process closes its database pool.
//!
//! Their number is bounded too (`KESSAI_MAX_OPERATIONS`). A caller that
//! gives up and calls again at once would otherwise leave one more task
//! behind on every call, until the database pool's queue timed out for
//! everyone. A call waits for a place before anything is recorded — a wait
//! its cancellation may end, leaving nothing behind — and is refused
//! `RESOURCE_EXHAUSTED` `OVERLOADED` (retry, on any replica) when none frees
//! within [`PaymentsConfig::admission_wait`](super::PaymentsConfig).

use std::future::Future;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

use super::{
    Caller, CaptureCommand, Notification, NotifyOutcome, OrderReconciliation, PaymentError,
    Payments, ReconcileReport, RefundCommand, VoidCommand,
};
use crate::domain::{OrderId, OrderView};
use crate::payments::AuthorizeCommand;

/// What an overloaded caller is told to wait before retrying.
const RETRY_AFTER_OVERLOAD: Duration = Duration::from_millis(250);

impl Payments {
    /// Waits for a place among the running operations, then runs `work` on
    /// a tracked task of its own and waits for its result.
    ///
    /// `work` is boxed before anything waits: a use case's future is
    /// kilobytes, and held by value it made every future around it as large
    /// (the admission wait's, the gRPC handler's, the task's). With 1,000
    /// calls in flight that was 30 MiB of kessai's resident memory
    /// (BENCHMARKS.md).
    fn to_completion<T, F>(
        &self,
        work: F,
    ) -> impl Future<Output = Result<T, PaymentError>> + Send + '_
    where
        F: Future<Output = Result<T, PaymentError>> + Send + 'static,
        T: Send + 'static,
    {
        let work = Box::pin(work);
        async move {
            let place = self.admit().await?;
            self.detached(async move {
                let result = work.await;
                drop(place);
                result
            })
            .await
        }
    }

    /// A place among the running operations, or `Overloaded` when none
    /// frees in time.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, PaymentError> {
        let wait = self.inner.config.admission_wait;
        let places = self.inner.admission.clone();
        match tokio::time::timeout(wait, places.acquire_owned()).await {
            Ok(Ok(place)) => Ok(place),
            // The semaphore is never closed.
            Ok(Err(_)) => Err(PaymentError::Internal),
            Err(_) => Err(PaymentError::Overloaded {
                retry_after_ms: RETRY_AFTER_OVERLOAD.as_millis() as u64,
            }),
        }
    }

    /// Runs `work` on a tracked task of its own, outside admission (the
    /// reconciler, which bounds its own work), and waits for its result.
    /// The task logs in its caller's span and to its caller's subscriber.
    async fn detached<T, F>(&self, work: F) -> Result<T, PaymentError>
    where
        F: Future<Output = Result<T, PaymentError>> + Send + 'static,
        T: Send + 'static,
    {
        let task = self.inner.tasks.spawn(
            work.instrument(tracing::Span::current())
                .with_current_subscriber(),
        );
        match task.await {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(%error, "a payment operation's task failed");
                Err(PaymentError::Internal)
            }
        }
    }

    /// Waits until every started operation has recorded its outcome, or
    /// `timeout` passes; true when none is left. Operations started later
    /// still run to completion.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let tasks = &self.inner.tasks;
        tasks.close();
        let drained = tokio::time::timeout(timeout, tasks.wait()).await.is_ok();
        tasks.reopen();
        if !drained {
            tracing::warn!(
                running = tasks.len(),
                "payment operations still running after the shutdown timeout"
            );
        }
        drained
    }

    /// How many operations are running now (the reconciler's pass
    /// included).
    pub fn operations_running(&self) -> usize {
        self.inner.tasks.len()
    }

    pub async fn authorize(
        &self,
        caller: &Caller,
        cmd: AuthorizeCommand,
    ) -> Result<OrderView, PaymentError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.to_completion(async move { this.authorize_now(&caller, cmd).await })
            .await
    }

    pub async fn capture(
        &self,
        caller: &Caller,
        cmd: CaptureCommand,
    ) -> Result<OrderView, PaymentError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.to_completion(async move { this.capture_now(&caller, cmd).await })
            .await
    }

    pub async fn refund(
        &self,
        caller: &Caller,
        cmd: RefundCommand,
    ) -> Result<OrderView, PaymentError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.to_completion(async move { this.refund_now(&caller, cmd).await })
            .await
    }

    pub async fn void(&self, caller: &Caller, cmd: VoidCommand) -> Result<OrderView, PaymentError> {
        let (this, caller) = (self.clone(), caller.clone());
        self.to_completion(async move { this.void_now(&caller, cmd).await })
            .await
    }

    /// The order; with `refresh`, first asks the provider and records what
    /// changed (a write, so it runs to completion too).
    pub async fn get_order(
        &self,
        caller: &Caller,
        id: &OrderId,
        refresh: bool,
    ) -> Result<OrderView, PaymentError> {
        let view = self.view_as(&caller.sees, id).await?;
        if !refresh {
            return Ok(view);
        }
        let (this, caller) = (self.clone(), caller.clone());
        self.to_completion(async move { this.refreshed(&caller, view).await })
            .await
    }

    pub async fn notify(&self, notification: &Notification) -> Result<NotifyOutcome, PaymentError> {
        let (this, notification) = (self.clone(), notification.clone());
        self.to_completion(async move { this.notify_now(&notification).await })
            .await
    }

    /// One pass over what is due. Called periodically by the worker; tests
    /// call it directly.
    pub async fn reconcile_once(&self) -> Result<ReconcileReport, PaymentError> {
        let this = self.clone();
        self.detached(async move { this.reconcile_once_now().await })
            .await
    }

    /// Reconciles one order now, whatever its schedule (for operators).
    pub async fn reconcile_order(
        &self,
        caller: &Caller,
        id: &OrderId,
    ) -> Result<OrderReconciliation, PaymentError> {
        let (this, caller, id) = (self.clone(), caller.clone(), id.clone());
        self.to_completion(async move { this.reconcile_order_now(&caller, &id).await })
            .await
    }
}
