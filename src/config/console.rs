//! Settings of the operator console's listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::env_vars::{ConfigError, Env};

/// Where the console listens in sandbox mode unless told otherwise.
pub const SANDBOX_DEFAULT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8088);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// `KESSAI_CONSOLE_ADDR`; in sandbox mode 127.0.0.1:8088 unless set
    /// (`off`: none); otherwise no console unless set.
    pub addr: Option<SocketAddr>,
    /// The address is sandbox mode's default, not the operator's choice: if
    /// it is taken, kessai starts without a console instead of failing.
    pub defaulted: bool,
    /// `KESSAI_CONSOLE_ALLOW_PLAINTEXT`: plain HTTP beyond loopback, for a
    /// proxy in front that terminates TLS (the browser still sees HTTPS).
    pub allow_plaintext: bool,
    /// How long a sign-in lasts.
    pub session: Duration,
    pub max_connections: usize,
}

pub(super) fn from_env(
    env: &Env<'_>,
    sandbox: bool,
    tls: bool,
) -> Result<ConsoleSettings, ConfigError> {
    let (addr, defaulted) = match env.get("KESSAI_CONSOLE_ADDR").as_deref().map(str::trim) {
        Some("off") => (None, false),
        Some(_) => (env.parse::<SocketAddr>("KESSAI_CONSOLE_ADDR")?, false),
        None if sandbox => (Some(SANDBOX_DEFAULT), true),
        None => (None, false),
    };
    let allow_plaintext = env
        .parse_bool("KESSAI_CONSOLE_ALLOW_PLAINTEXT")?
        .unwrap_or(false);
    if let Some(addr) = addr
        && !addr.ip().is_loopback()
        && !tls
        && !allow_plaintext
    {
        env.reject(
            "KESSAI_CONSOLE_ADDR",
            format!(
                "{addr} is reachable from other hosts, and without TLS operators' tokens and \
                 sessions would cross the network in the clear: set KESSAI_TLS_CERT_FILE and \
                 KESSAI_TLS_KEY_FILE, listen on 127.0.0.1, or set \
                 KESSAI_CONSOLE_ALLOW_PLAINTEXT=true when a proxy in front terminates TLS"
            ),
        );
    }
    let hours: u64 = env.parse("KESSAI_CONSOLE_SESSION_HOURS")?.unwrap_or(8);
    if hours == 0 || hours > 24 * 7 {
        env.reject("KESSAI_CONSOLE_SESSION_HOURS", "must be 1–168");
    }
    Ok(ConsoleSettings {
        addr,
        defaulted,
        allow_plaintext,
        session: Duration::from_secs(hours.clamp(1, 24 * 7) * 3600),
        max_connections: super::at_least_one(env, "KESSAI_CONSOLE_MAX_CONNECTIONS", 64)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_exactly as config;
    use super::*;

    #[test]
    fn on_loopback_by_default_in_sandbox_mode_and_off_when_told() {
        let c = config(&[]).unwrap().console;
        assert_eq!(c.addr, Some(SANDBOX_DEFAULT));
        assert!(c.defaulted);
        assert_eq!(c.session, Duration::from_secs(8 * 3600));
        assert_eq!(
            config(&[("KESSAI_CONSOLE_ADDR", "off")])
                .unwrap()
                .console
                .addr,
            None
        );
        let c = config(&[("KESSAI_CONSOLE_ADDR", "127.0.0.1:9000")])
            .unwrap()
            .console;
        assert_eq!(c.addr, Some("127.0.0.1:9000".parse().unwrap()));
        assert!(!c.defaulted);
    }

    #[test]
    fn a_public_address_needs_tls_or_an_explicit_allowance() {
        let error = config(&[("KESSAI_CONSOLE_ADDR", "0.0.0.0:8088")]).unwrap_err();
        assert!(
            error.to_string().contains("KESSAI_CONSOLE_ALLOW_PLAINTEXT"),
            "{error}"
        );
        let c = config(&[
            ("KESSAI_CONSOLE_ADDR", "0.0.0.0:8088"),
            ("KESSAI_CONSOLE_ALLOW_PLAINTEXT", "true"),
        ])
        .unwrap()
        .console;
        assert_eq!(c.addr, Some("0.0.0.0:8088".parse().unwrap()));
    }
}
