//! Faithful HTTP simulators of the providers, for tests and for the
//! out-of-the-box sandbox mode.
//!
//! They are written from the provider documentation on their own and never
//! import the adapters' wire types: two independent readings of the docs catch
//! each other's mistakes.

mod book;
#[cfg(feature = "example-provider")]
pub mod example;
pub mod faults;
pub mod notifications;
mod pages;
pub mod payjp;
pub mod paymentoptions;
mod pipeline;
pub mod received;
pub mod smartpay;
mod state;
#[cfg(test)]
mod testing;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use kessai_clock::SharedClock;

pub use state::SandboxOptions;

/// The secret key the PAY.JP simulator accepts and sandbox mode configures.
pub const PAYJP_SANDBOX_SECRET_KEY: &str = "sk_test_kessai_sandbox";
/// The secret key the Smartpay simulator accepts.
pub const SMARTPAY_SANDBOX_SECRET_KEY: &str = "sk_test_kessaiSandbox";
/// The API key and merchant id (DASMID) the PaymentOptions simulator accepts.
pub const PAYMENTOPTIONS_SANDBOX_API_KEY: &str = "kessai-sandbox-api-key";
pub const PAYMENTOPTIONS_SANDBOX_MERCHANT_ID: &str = "JP00000001";
/// The webhook signing secret (base62) the Smartpay simulator signs with in
/// sandbox mode, unless one is configured.
pub const SMARTPAY_SANDBOX_WEBHOOK_SECRET: &str = "kessaiSandboxWebhookSigningSecret2026";
/// The webhook token the PAY.JP simulator sends in sandbox mode, unless one
/// is configured.
pub const PAYJP_SANDBOX_WEBHOOK_TOKEN: &str = "whtok_kessai_sandbox";

/// The simulators, served together on one listener under per-provider
/// prefixes (`/payjp/v2/…`, `/smartpay/v1/…`, `/paymentoptions/api/v1/…`).
pub struct Sandbox {
    addr: SocketAddr,
    pub payjp: payjp::PayjpSimulator,
    pub smartpay: smartpay::SmartpaySimulator,
    pub paymentoptions: paymentoptions::PaymentOptionsSimulator,
    #[cfg(feature = "example-provider")]
    pub example: example::ExampleSimulator,
    received: received::Received,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Writes the state file, when there is one.
    saver: Option<state::Saver>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port) and serves every simulator,
    /// their books in memory only.
    pub async fn start(addr: SocketAddr, clock: SharedClock) -> std::io::Result<Self> {
        Self::start_with(addr, clock, SandboxOptions::default()).await
    }

    /// As [`Sandbox::start`], the books first read from and then kept in
    /// `options.state` when it names a file (see [`SandboxOptions`]).
    pub async fn start_with(
        addr: SocketAddr,
        clock: SharedClock,
        options: SandboxOptions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let root = format!("http://{addr}");
        let payjp = payjp::PayjpSimulator::new(
            clock.clone(),
            format!("{root}/payjp"),
            PAYJP_SANDBOX_SECRET_KEY,
        );
        let smartpay = smartpay::SmartpaySimulator::new(
            clock.clone(),
            format!("{root}/smartpay"),
            SMARTPAY_SANDBOX_SECRET_KEY,
        );
        #[cfg(feature = "example-provider")]
        let example = example::ExampleSimulator::new(
            clock.clone(),
            format!("{root}/example"),
            example::SANDBOX_API_KEY,
        );
        let paymentoptions = paymentoptions::PaymentOptionsSimulator::new(
            clock,
            PAYMENTOPTIONS_SANDBOX_API_KEY,
            PAYMENTOPTIONS_SANDBOX_MERCHANT_ID,
        );
        let saver = match options.state {
            Some(path) => {
                let simulators = state::Simulators {
                    payjp: payjp.clone(),
                    smartpay: smartpay.clone(),
                    paymentoptions: paymentoptions.clone(),
                };
                simulators.load(&path);
                Some(state::Saver::spawn(path, simulators))
            }
            None => None,
        };
        let received = received::Received::default();
        let app = axum::Router::new()
            .nest("/payjp", payjp.router())
            .nest("/smartpay", smartpay.router())
            .nest("/paymentoptions", paymentoptions.router());
        #[cfg(feature = "example-provider")]
        let app = app.nest("/example", example.router());
        let app = app.layer(axum::middleware::from_fn_with_state(
            received.clone(),
            received::record,
        ));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        Ok(Self {
            addr,
            payjp,
            smartpay,
            paymentoptions,
            #[cfg(feature = "example-provider")]
            example,
            received,
            shutdown: Some(tx),
            task: Some(task),
            saver,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests the simulators received (method, path, trace context).
    pub fn received(&self) -> &received::Received {
        &self.received
    }

    /// The PAY.JP v2 base URL to configure the adapter with.
    pub fn payjp_base_url(&self) -> String {
        format!("http://{}/payjp/v2", self.addr)
    }

    /// The Smartpay base URL to configure the adapter with.
    pub fn smartpay_base_url(&self) -> String {
        format!("http://{}/smartpay/v1", self.addr)
    }

    /// The PaymentOptions base URL (the path prefix is the adapter's).
    pub fn paymentoptions_base_url(&self) -> String {
        format!("http://{}/paymentoptions", self.addr)
    }

    /// Stops serving, waits for the server task, then saves the books one
    /// last time when they are kept in a file.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        if let Some(saver) = self.saver.take() {
            saver.finish().await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
