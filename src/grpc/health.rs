//! gRPC health, split as probes need it: the overall service (`""`) answers
//! SERVING while the process can serve (liveness: a database blip never
//! restarts pods); `kessai.v1.PaymentService` answers SERVING only while the
//! database answers (readiness). Both go NOT_SERVING while draining.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::store::Store;

pub const PAYMENT_SERVICE: &str = "kessai.v1.PaymentService";
/// The health service itself, whose probes are not traced.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Watches the database and reports readiness until `stop` fires.
pub async fn watch_database(
    reporter: HealthReporter,
    store: Store,
    every: Duration,
    stop: CancellationToken,
) {
    let mut last = None;
    loop {
        let ok = matches!(
            tokio::time::timeout(every.max(Duration::from_millis(500)), store.ping()).await,
            Ok(Ok(()))
        );
        // Draining owns the status from the moment shutdown begins.
        if stop.is_cancelled() {
            return;
        }
        if last != Some(ok) {
            if ok {
                tracing::info!("database answers: {PAYMENT_SERVICE} is SERVING");
            } else {
                tracing::warn!("database does not answer: {PAYMENT_SERVICE} is NOT_SERVING");
            }
            let status = if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status(PAYMENT_SERVICE, status).await;
            last = Some(ok);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Marks everything NOT_SERVING, for draining.
pub async fn drain(reporter: &HealthReporter) {
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(PAYMENT_SERVICE, ServingStatus::NotServing)
        .await;
}
