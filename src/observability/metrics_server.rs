//! The Prometheus endpoint: `GET /metrics` on its own listener
//! (`KESSAI_METRICS_ADDR`), apart from the gRPC port so that scrapers need
//! neither gRPC nor caller credentials. Gauges that describe the database
//! (pool use, reconciliation backlog) are read at each scrape, so they are
//! never staler than the scrape itself. Served with the same connection
//! discipline as the other listeners (`grpc/http_listener.rs`): a cap on
//! open connections, deadlines for the first bytes and the headers, idle
//! connections closed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::metrics;
use crate::grpc::http_listener::{self, ListenerLimits};
use crate::store::Store;

/// The bound, not yet serving, metrics listener.
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
    handle: PrometheusHandle,
    limits: ListenerLimits,
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    store: Store,
}

impl MetricsServer {
    /// Installs the recorder and binds `addr` (port 0 picks a free port),
    /// to serve within `limits`.
    pub async fn bind(addr: SocketAddr, limits: ListenerLimits) -> anyhow::Result<Self> {
        let handle = metrics::install()
            .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("KESSAI_METRICS_ADDR {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            addr,
            handle,
            limits,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` fires.
    pub async fn serve(self, store: Store, stop: CancellationToken) {
        tracing::info!(addr = %self.addr, "kessai serving metrics");
        let upkeep = tokio::spawn({
            // Histograms keep samples until upkeep folds them in; without
            // scrapes they would grow.
            let handle = self.handle.clone();
            let stop = stop.clone();
            async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(5)) => handle.run_upkeep(),
                    }
                }
            }
        });
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(Scrape {
                handle: self.handle,
                store,
            });
        if let Err(error) = http_listener::serve(self.listener, app, self.limits, stop).await {
            tracing::error!(%error, "metrics listener stopped");
        }
        upkeep.abort();
    }
}

async fn scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    refresh_gauges(&scrape.store).await;
    scrape.handle.run_upkeep();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
}

/// Reads what the gauges show from the database, then the statement counts
/// (which so include this scrape's own reads). A database that does not
/// answer leaves the last values (readiness reports the outage).
async fn refresh_gauges(store: &Store) {
    for pool in store.pool_stats() {
        metrics::pool(pool.name, pool.size, pool.idle, pool.max);
    }
    match store.backlog().await {
        Ok(backlog) => metrics::backlog(backlog.unknown_outcome, backlog.needs_review),
        Err(error) => tracing::warn!(%error, "cannot count the reconciliation backlog"),
    }
    metrics::db_statements(&crate::store::statement_counts());
}
