//! Serving kessai's plain HTTP listeners — the provider webhooks (the one
//! port that faces the internet) and `/metrics`: HTTP/1.1 and HTTP/2 with a
//! deadline on request headers (a slow sender cannot hold a connection by
//! trickling them), a cap on open connections, and connections closed once
//! idle — the gRPC port's discipline (`connections.rs`) with HTTP/1's
//! header deadline on top.

use std::time::Duration;

use axum::Router;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::connections::{self, ActivityLayer, ConnectionLimits};

#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// What the listener serves, for its log lines ("webhook", "metrics").
    pub name: &'static str,
    pub connections: ConnectionLimits,
    /// How long a request's headers may take to arrive.
    pub header_timeout: Duration,
}

/// Serves `router` on `listener` within `limits` until `stop` fires, then
/// lets the requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let incoming = connections::incoming(listener, limits.connections.clone())
        .map(|admitted| admitted.map(|a| (a.peer().clone(), a)));
    serve_connections(incoming, router, limits, stop).await
}

/// [`serve`] behind TLS (the console with `KESSAI_TLS_*`): a handshake
/// within the first bytes' deadline, its failures told as the gRPC port's.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    tls: std::sync::Arc<rustls::ServerConfig>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let admitted = connections::incoming(listener, limits.connections.clone());
    let incoming = super::tls::incoming(admitted, tls, limits.connections.handshake_timeout)
        .map(|stream| stream.map(|s| (s.get_ref().0.peer().clone(), s)));
    serve_connections(incoming, router, limits, stop).await
}

async fn serve_connections<S, IO>(
    incoming: S,
    router: Router,
    limits: ListenerLimits,
    stop: CancellationToken,
) -> std::io::Result<()>
where
    S: futures::Stream<Item = std::io::Result<(connections::Peer, IO)>>,
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    futures::pin_mut!(incoming);
    loop {
        let (peer, stream) = tokio::select! {
            () = stop.cancelled() => break,
            next = incoming.next() => match next {
                Some(Ok(admitted)) => admitted,
                Some(Err(error)) => {
                    tracing::debug!(listener = limits.name, %error, "a connection failed at once");
                    continue;
                }
                None => break,
            },
        };
        let service = tower::ServiceBuilder::new()
            .map_request(move |request: http::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(peer.clone());
                request
            })
            .layer(ActivityLayer)
            .service(router.clone())
            .map_response(axum::response::IntoResponse::into_response);
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        let name = limits.name;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(listener = name, %error, "a connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}
