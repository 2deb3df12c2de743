//! Wiring of the operator console's listener (`KESSAI_CONSOLE_ADDR`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{Config, TlsSettings};
use crate::console::{Console, Sessions};
use crate::grpc::callers::Callers;
use crate::grpc::http_listener::{self, ListenerLimits};
use crate::payments::Payments;

/// The console, bound and ready to serve.
pub(super) struct ConsoleListener {
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ListenerLimits,
}

/// Binds the console's address, if there is one. Sandbox mode's default
/// address, when taken, leaves kessai without a console rather than not
/// starting.
pub(super) async fn bind(
    config: &Config,
    payments: &Payments,
    clock: SharedClock,
) -> anyhow::Result<Option<ConsoleListener>> {
    let settings = &config.console;
    let Some(addr) = settings.addr else {
        return Ok(None);
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) if settings.defaulted => {
            tracing::info!(%addr, %error, "the console's default address is taken: no console (set KESSAI_CONSOLE_ADDR)");
            return Ok(None);
        }
        Err(error) => anyhow::bail!("KESSAI_CONSOLE_ADDR {addr}: {error}"),
    };
    let callers = match (&config.callers, config.auth_required) {
        (_, false) => None,
        (Some(json), true) => Some(Arc::new(
            Callers::parse(json).map_err(|e| anyhow::anyhow!("KESSAI_CALLERS: {e}"))?,
        )),
        (None, true) => anyhow::bail!("KESSAI_CALLERS names no caller, so nobody could sign in"),
    };
    let tls = config.tls.as_ref().map(browser_tls).transpose()?;
    let sessions = Sessions::new(
        &config.fingerprint_key,
        chrono::Duration::from_std(settings.session)?,
        tls.is_some() || settings.allow_plaintext,
    );
    let console = Console::new(payments.clone(), callers, sessions, clock);
    let limits = ListenerLimits {
        name: "console",
        connections: crate::grpc::connections::ConnectionLimits {
            max_connections: settings.max_connections,
            handshake_timeout: config.limits.handshake_timeout,
            idle_timeout: config.limits.idle_timeout,
        },
        header_timeout: config.limits.handshake_timeout,
    };
    Ok(Some(ConsoleListener {
        listener,
        router: console.router(),
        tls,
        limits,
    }))
}

/// The gRPC port's certificate for browsers: HTTP/1.1 and HTTP/2, and no
/// client certificate asked for (operators sign in with their token).
fn browser_tls(tls: &TlsSettings) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let without_clients = TlsSettings {
        client_ca_pem: None,
        ..tls.clone()
    };
    let mut config = (*crate::grpc::tls::server_config(&without_clients)?).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl ConsoleListener {
    pub(super) fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub(super) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves until `stop`, then lets the requests in progress finish.
    pub(super) async fn serve(self, stop: CancellationToken) -> std::io::Result<()> {
        match self.tls {
            Some(tls) => {
                http_listener::serve_tls(self.listener, self.router, self.limits, tls, stop).await
            }
            None => http_listener::serve(self.listener, self.router, self.limits, stop).await,
        }
    }
}
