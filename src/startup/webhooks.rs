//! Wiring of the provider webhook listener, and in sandbox mode of the
//! simulators that notify it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::payments::Payments;
#[cfg(feature = "sandbox")]
use crate::sandbox::{PAYJP_SANDBOX_WEBHOOK_TOKEN, SMARTPAY_SANDBOX_WEBHOOK_SECRET, Sandbox};
use crate::webhooks::{PayjpVerifier, SmartpayVerifier, WebhookServer, Webhooks};

/// Binds `KESSAI_WEBHOOK_ADDR`, if set.
pub(super) async fn bind(config: &Config) -> anyhow::Result<Option<TcpListener>> {
    match config.webhooks.addr {
        Some(addr) => Ok(Some(TcpListener::bind(addr).await?)),
        None => Ok(None),
    }
}

/// Where providers reach the listener: the configured public URL, or in
/// sandbox mode the listener itself (the simulators are on this host).
pub(super) fn base_url(config: &Config, bound: Option<SocketAddr>) -> Option<String> {
    if let Some(url) = &config.webhooks.public_url {
        return Some(url.clone());
    }
    let addr = bound.filter(|_| config.sandbox())?;
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Some(format!("http://{}", SocketAddr::new(ip, addr.port())))
}

/// The secrets the listener verifies with; in sandbox mode the simulators'
/// own when none is set, so the out-of-the-box sandbox notifies itself.
fn secrets(config: &Config) -> (Option<SecretString>, Option<SecretString>) {
    let sandbox = |value: Option<&str>| value.filter(|_| config.sandbox()).map(SecretString::from);
    let [smartpay, payjp] = simulator_secrets();
    (
        config
            .webhooks
            .smartpay_secret
            .clone()
            .or_else(|| sandbox(smartpay)),
        config
            .webhooks
            .payjp_token
            .clone()
            .or_else(|| sandbox(payjp)),
    )
}

/// The simulators' own Smartpay signing secret and PAY.JP token.
#[cfg(feature = "sandbox")]
fn simulator_secrets() -> [Option<&'static str>; 2] {
    [
        Some(SMARTPAY_SANDBOX_WEBHOOK_SECRET),
        Some(PAYJP_SANDBOX_WEBHOOK_TOKEN),
    ]
}

/// Built without the simulators there are none (and sandbox mode is refused
/// before the listener is wired).
#[cfg(not(feature = "sandbox"))]
fn simulator_secrets() -> [Option<&'static str>; 2] {
    [None, None]
}

pub(super) fn server(
    listener: TcpListener,
    config: &Config,
    payments: Payments,
    clock: SharedClock,
) -> anyhow::Result<WebhookServer> {
    let (smartpay_secret, payjp_token) = secrets(config);
    let smartpay = match &smartpay_secret {
        Some(secret) => Some(SmartpayVerifier::new(
            crate::providers::smartpay::webhook::signing_key(secret)
                .ok_or_else(|| anyhow::anyhow!("KESSAI_SMARTPAY_WEBHOOK_SECRET is not base62"))?,
            config.webhooks.smartpay_tolerance,
        )),
        None => None,
    };
    for (provider, missing) in [
        (
            "Smartpay",
            smartpay
                .is_none()
                .then_some("KESSAI_SMARTPAY_WEBHOOK_SECRET"),
        ),
        (
            "PAY.JP",
            payjp_token
                .is_none()
                .then_some("KESSAI_PAYJP_WEBHOOK_TOKEN"),
        ),
    ] {
        if let Some(variable) = missing {
            tracing::warn!("{variable} is not set: {provider} notifications will be refused");
        }
    }
    let server = WebhookServer::new(
        listener,
        Webhooks {
            payments,
            clock,
            smartpay,
            payjp: payjp_token.map(PayjpVerifier::new),
            #[cfg(feature = "example-provider")]
            example: crate::providers::example::config::verifier(
                config.providers.example.as_ref(),
                config.sandbox(),
            ),
            unsigned: crate::webhooks::UnsignedLimits {
                sources: config.webhooks.paymentoptions_sources.clone(),
                per_address: crate::grpc::rate_limit::RateLimiter::new(
                    (config.webhooks.hints_per_second > 0.0).then_some(
                        crate::grpc::rate_limit::RateLimit {
                            per_second: config.webhooks.hints_per_second,
                            burst: (config.webhooks.hints_per_second * 2.0).max(1.0),
                        },
                    ),
                ),
            },
        },
        crate::grpc::http_listener::ListenerLimits {
            name: "webhook",
            connections: crate::grpc::connections::ConnectionLimits {
                max_connections: config.webhooks.max_connections,
                handshake_timeout: config.webhooks.header_timeout,
                idle_timeout: Some(config.webhooks.idle_timeout),
            },
            header_timeout: config.webhooks.header_timeout,
        },
    );
    tracing::info!(addr = %server.local_addr()?, "kessai serving provider webhooks");
    Ok(server)
}

/// Points the simulators' notifications at the listener.
#[cfg(feature = "sandbox")]
pub(super) fn notify_self(sandbox: &Sandbox, config: &Config, base_url: &str) {
    let (smartpay_secret, payjp_token) = secrets(config);
    if let Some(secret) = smartpay_secret {
        sandbox
            .smartpay
            .deliver_webhooks_to(format!("{base_url}/webhooks/smartpay"), secret);
    }
    if let Some(token) = payjp_token {
        sandbox
            .payjp
            .deliver_webhooks_to(format!("{base_url}/webhooks/payjp"), token);
    }
    sandbox
        .paymentoptions
        .deliver_webhooks_to(format!("{base_url}/webhooks/paymentoptions"));
    #[cfg(feature = "example-provider")]
    sandbox.example.deliver_webhooks_to(
        format!("{base_url}/webhooks/example"),
        crate::sandbox::example::SANDBOX_WEBHOOK_SECRET.into(),
    );
    tracing::info!(%base_url, "the simulators notify kessai's webhook listener");
}
