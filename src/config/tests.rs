//! Reading the configuration: defaults, refusals, secrets.

use std::collections::HashMap;

use super::*;

const CALLERS: &str = r#"[{"name":"checkout","certificate_cn":"checkout","scopes":["read"]}]"#;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    map.entry("KESSAI_CALLERS".into())
        .or_insert_with(|| CALLERS.into());
    Config::from_lookup(|name| map.get(name).cloned())
}

pub(super) fn config_exactly(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn a_lease_a_live_provider_call_could_outlast_is_refused() {
    let short = config(&[
        ("KESSAI_PROVIDER_TIMEOUT_MS", "2000"),
        ("KESSAI_PROVIDER_MAX_ATTEMPTS", "3"),
        // 3 × 2 s + 2 × 5 s of pauses = 16 s.
        ("KESSAI_IN_FLIGHT_LEASE_SECS", "16"),
    ]);
    let Err(ConfigError::Invalid { name, problem, .. }) = short else {
        panic!("accepted: {short:?}");
    };
    assert_eq!(name, "KESSAI_IN_FLIGHT_LEASE_SECS");
    assert!(problem.contains("16 s"), "{problem}");
    let long = config(&[
        ("KESSAI_PROVIDER_TIMEOUT_MS", "2000"),
        ("KESSAI_PROVIDER_MAX_ATTEMPTS", "3"),
        ("KESSAI_IN_FLIGHT_LEASE_SECS", "17"),
    ])
    .unwrap();
    assert_eq!(long.in_flight_lease, Some(Duration::from_secs(17)));
}

#[test]
fn outside_sandbox_callers_must_authenticate_unless_explicitly_turned_off() {
    let base = [
        ("KESSAI_PAYJP_SECRET_KEY", "sk_live_x"),
        ("KESSAI_FINGERPRINT_KEY", "0123456789abcdef"),
    ];
    let e = config_exactly(&base).unwrap_err();
    assert!(e.to_string().contains("KESSAI_CALLERS"), "{e}");
    assert!(config(&base).unwrap().auth_required);
    let off = [base[0], base[1], ("KESSAI_AUTH", "false")];
    assert!(!config_exactly(&off).unwrap().auth_required);
    assert!(
        !config_exactly(&[]).unwrap().auth_required,
        "off in sandbox mode"
    );
}

#[test]
fn tls_needs_both_halves_and_mutual_tls_needs_tls() {
    let e = config(&[("KESSAI_TLS_CERT_FILE", "/nonexistent/cert.pem")]).unwrap_err();
    assert!(e.to_string().contains("KESSAI_TLS_KEY_FILE"), "{e}");
    let e = config(&[("KESSAI_TLS_CLIENT_CA_FILE", "/nonexistent/ca.pem")]).unwrap_err();
    assert!(e.to_string().contains("mutual TLS"), "{e}");
}

#[test]
fn no_credentials_means_sandbox_with_working_defaults() {
    let c = config(&[]).unwrap();
    assert!(c.sandbox());
    assert_eq!(c.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
    assert_eq!(c.database_url.expose_secret(), DEFAULT_DATABASE_URL);
    assert!(c.providers.payjp.is_none());
}

#[test]
fn any_credential_turns_sandbox_off() {
    let c = config(&[
        ("KESSAI_PAYJP_SECRET_KEY", "sk_live_x"),
        ("KESSAI_FINGERPRINT_KEY", "0123456789abcdef"),
    ])
    .unwrap();
    assert!(!c.sandbox());
    assert_eq!(
        c.providers.payjp.unwrap().base_url,
        crate::providers::payjp::config::BASE_URL
    );
}

#[test]
fn sandbox_off_without_credentials_is_refused_not_a_silent_fallback() {
    assert!(matches!(
        config(&[("KESSAI_SANDBOX", "false")]),
        Err(ConfigError::Inconsistent(_))
    ));
}

#[test]
fn outside_sandbox_a_fingerprint_key_is_required() {
    let e = config(&[("KESSAI_PAYJP_SECRET_KEY", "sk_live_x")]).unwrap_err();
    assert!(e.to_string().contains("KESSAI_FINGERPRINT_KEY"));
}

#[test]
fn secrets_never_show_in_a_debug_dump() {
    let c = config(&[
        ("KESSAI_PAYJP_SECRET_KEY", "sk_live_supersecret"),
        ("KESSAI_FINGERPRINT_KEY", "fingerprint-secret-123"),
        ("KESSAI_DATABASE_URL", "postgres://kessai:hunter2@db/kessai"),
    ])
    .unwrap();
    let dump = format!("{c:?}");
    for secret in ["sk_live_supersecret", "fingerprint-secret-123", "hunter2"] {
        assert!(!dump.contains(secret), "{secret} leaked: {dump}");
    }
}

#[test]
fn a_provider_with_only_some_of_its_credentials_stops_start_up() {
    let e = config(&[
        ("KESSAI_PAYMENTOPTIONS_API_KEY", "key"),
        ("KESSAI_FINGERPRINT_KEY", "0123456789abcdef"),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains("KESSAI_PAYMENTOPTIONS_MERCHANT_ID"),
        "{e}"
    );
    let c = config(&[
        ("KESSAI_PAYMENTOPTIONS_API_KEY", "key"),
        ("KESSAI_PAYMENTOPTIONS_MERCHANT_ID", "JP00000328"),
        ("KESSAI_PAYMENTOPTIONS_AUTH", "base64"),
        ("KESSAI_FINGERPRINT_KEY", "0123456789abcdef"),
    ])
    .unwrap();
    let po = c.providers.paymentoptions.unwrap();
    assert!(po.auth_base64);
    assert_eq!(po.path_prefix, "/api/v1/server-to-server-interface");
    assert!(c.providers.payjp.is_none() && c.providers.smartpay.is_none());
}

#[test]
fn secrets_can_come_from_files() {
    let dir = std::env::temp_dir().join(format!("kessai-config-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payjp");
    std::fs::write(&file, "sk_test_from_file\n").unwrap();
    let c = config(&[
        ("KESSAI_PAYJP_SECRET_KEY_FILE", file.to_str().unwrap()),
        ("KESSAI_FINGERPRINT_KEY", "0123456789abcdef"),
        ("KESSAI_PROVIDER_MODE", "test"),
    ])
    .unwrap();
    assert_eq!(
        c.providers.payjp.unwrap().secret_key.expose_secret(),
        "sk_test_from_file"
    );
}

#[test]
fn metrics_are_served_only_where_asked() {
    assert_eq!(config(&[]).unwrap().metrics_addr, None);
    assert_eq!(config(&[]).unwrap().metrics_max_connections, 64);
    let c = config(&[("KESSAI_METRICS_ADDR", "0.0.0.0:9090")]).unwrap();
    assert_eq!(c.metrics_addr, Some("0.0.0.0:9090".parse().unwrap()));
    let e = config(&[("KESSAI_METRICS_ADDR", ":9090")]).unwrap_err();
    assert!(e.to_string().starts_with("KESSAI_METRICS_ADDR"), "{e}");
}

#[test]
fn malformed_values_name_the_variable() {
    let e = config(&[("KESSAI_LISTEN_ADDR", "not an address")]).unwrap_err();
    assert!(e.to_string().starts_with("KESSAI_LISTEN_ADDR"));
    let e = config(&[("KESSAI_SANDBOX", "maybe")]).unwrap_err();
    assert!(e.to_string().starts_with("KESSAI_SANDBOX"));
}
