//! The start-up summary: one line per concern, for the person reading the
//! first lines of the log. It names what is configured, never a secret: the
//! database shows its kind, host and name, not the URL (whose userinfo holds
//! the password).

use secrecy::ExposeSecret;

use super::{Config, Mode, SqliteDatabase, sqlite_database};
use crate::domain::ProviderKind;

impl Config {
    /// The lines `kessai serve` logs before it starts.
    pub fn summary(&self) -> Vec<String> {
        let on_off = |on: bool| if on { "on" } else { "off" };
        let mode = match self.mode {
            Mode::Sandbox => {
                "sandbox (built-in provider simulators, no real money; orders are livemode: false)"
            }
            Mode::Test => {
                "test (the providers' test environments, no real money; KESSAI_PROVIDER_MODE=test)"
            }
            Mode::Live => "live (the providers' live environments: real money)",
        };
        let providers: Vec<&str> = if self.sandbox() {
            ProviderKind::ALL.iter().map(|p| p.as_str()).collect()
        } else {
            self.providers
                .configured()
                .into_iter()
                .map(ProviderKind::as_str)
                .collect()
        };
        let simulated = if self.sandbox() { " (simulated)" } else { "" };
        let tls = match &self.tls {
            None => "off".to_owned(),
            Some(tls) if tls.client_ca_pem.is_some() => {
                "on, client certificates required".to_owned()
            }
            Some(_) => "on".to_owned(),
        };
        let webhooks = self
            .webhooks
            .addr
            .map_or("off (KESSAI_WEBHOOK_ADDR unset)".to_owned(), |addr| {
                format!("{addr} (/webhooks/<provider>)")
            });
        let health = self.health_addr.map_or(
            "on the gRPC port (KESSAI_HEALTH_ADDR unset)".to_owned(),
            |addr| format!("on the gRPC port and {addr} (plaintext)"),
        );
        let metrics = self
            .metrics_addr
            .map_or("off (KESSAI_METRICS_ADDR unset)".to_owned(), |addr| {
                format!("http://{addr}/metrics")
            });
        let console = match self.console.addr {
            None => "off (KESSAI_CONSOLE_ADDR unset)".to_owned(),
            Some(addr) => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{addr}/")
            }
        };
        vec![
            format!("listen address: {}", self.listen_addr),
            format!("database: {}", database(self.database_url.expose_secret())),
            format!("mode: {mode}"),
            format!("providers: {}{simulated}", providers.join(", ")),
            format!("caller authentication: {}", on_off(self.auth_required)),
            format!("TLS: {tls}"),
            format!("webhook listener: {webhooks}"),
            format!("metrics: {metrics}"),
            format!("health: {health}"),
            format!("console: {console}"),
        ]
    }
}

/// The database's kind and where it is, without credentials.
fn database(url: &str) -> String {
    match sqlite_database(url) {
        Some(SqliteDatabase::File(path)) => return format!("SQLite, file {}", path.display()),
        Some(SqliteDatabase::InMemory) => return "SQLite, in memory".to_owned(),
        None => {}
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return "an unreadable URL (not shown)".to_owned();
    };
    let kind = match parsed.scheme() {
        "postgres" | "postgresql" => "PostgreSQL",
        _ => "unknown kind",
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .unwrap_or("local socket");
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let name = parsed.path().trim_start_matches('/');
    if name.is_empty() {
        format!("{kind} at {host}{port}")
    } else {
        format!("{kind} at {host}{port}, database {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::config_exactly as config;

    #[test]
    fn the_summary_says_each_concern_and_no_secret() {
        let secrets = [
            ("KESSAI_PAYJP_SECRET_KEY", "sk_live_payjp_hush"),
            ("KESSAI_SMARTPAY_SECRET_KEY", "sk_live_smartpayhush"),
            ("KESSAI_FINGERPRINT_KEY", "fingerprint-hush-123"),
            (
                "KESSAI_DATABASE_URL",
                "postgres://kessai:hunter2@db.internal:5432/payments?sslmode=require",
            ),
            (
                "KESSAI_CALLERS",
                r#"[{"name":"c","token_sha256":"ab","scopes":[]}]"#,
            ),
            ("KESSAI_PAYJP_WEBHOOK_TOKEN", "whtok_hush"),
        ];
        let mut vars = secrets.to_vec();
        vars.extend([
            ("KESSAI_WEBHOOK_ADDR", "0.0.0.0:8080"),
            ("KESSAI_METRICS_ADDR", "0.0.0.0:9090"),
        ]);
        let lines = config(&vars).unwrap().summary();
        let text = lines.join("\n");
        for expected in [
            "listen address: 127.0.0.1:50051",
            "database: PostgreSQL at db.internal:5432, database payments",
            "mode: live",
            "providers: payjp, smartpay",
            "caller authentication: on",
            "TLS: off",
            "webhook listener: 0.0.0.0:8080",
            "metrics: http://0.0.0.0:9090/metrics",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(expected)),
                "{expected:?} missing from:\n{text}"
            );
        }
        for (name, secret) in secrets {
            let leaked = ["hush", "hunter2", "kessai:"]
                .iter()
                .any(|s| text.contains(s))
                || (name != "KESSAI_CALLERS" && text.contains(secret));
            assert!(!leaked, "{name} leaked:\n{text}");
        }
        assert!(!text.contains("Config {"), "{text}");
    }

    #[test]
    fn in_sandbox_mode_the_summary_says_so() {
        let text = config(&[]).unwrap().summary().join("\n");
        assert!(text.contains("mode: sandbox"), "{text}");
        assert!(
            text.contains("database: SQLite, file kessai.sqlite"),
            "{text}"
        );
        assert!(text.contains("(simulated)"), "{text}");
        assert!(text.contains("caller authentication: off"), "{text}");
        assert!(text.contains("webhook listener: off"), "{text}");
        assert!(text.contains("console: http://127.0.0.1:8088/"), "{text}");
    }
}
