//! Every configuration mistake is told at once, not one per start.

use std::collections::HashMap;

use super::{Config, ConfigError};

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Config::from_vars(&vars)
}

#[test]
fn bad_values_and_unknown_names_are_listed_together() {
    let e = config(&[
        ("KESSAI_LISTEN_ADDR", "not an address"),
        ("KESSAI_MAX_OPERATIONS", "0"),
        ("KESSAI_RECONCILE_INTERVAL_SECS", "soon"),
        ("KESSAI_DATABSE_URL", "sqlite://typo.sqlite"),
        ("KESSAI_TEST_DATABASE_URL", "postgres://harness"),
        ("PATH", "/usr/bin"),
    ])
    .unwrap_err();
    let ConfigError::Several(errors) = &e else {
        panic!("one error only: {e}");
    };
    assert_eq!(errors.len(), 4, "{e}");
    let text = e.to_string();
    for expected in [
        "KESSAI_LISTEN_ADDR: invalid socket address syntax, got \"not an address\" (for example KESSAI_LISTEN_ADDR=0.0.0.0:50051)",
        "KESSAI_MAX_OPERATIONS: must be at least 1 (for example KESSAI_MAX_OPERATIONS=256)",
        "KESSAI_RECONCILE_INTERVAL_SECS: invalid digit",
        "KESSAI_DATABSE_URL: not a kessai variable; did you mean KESSAI_DATABASE_URL?",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
}

#[test]
fn one_mistake_reads_as_before_and_a_clean_environment_passes() {
    let e = config(&[("KESSAI_SANDBOX", "maybe")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("KESSAI_SANDBOX: must be true or false"),
        "{e}"
    );
    assert!(config(&[("KESSAI_LOG", "debug"), ("HOME", "/root")]).is_ok());
}

#[test]
fn an_unreadable_secret_file_is_said_once() {
    let e = config(&[("KESSAI_PAYJP_SECRET_KEY_FILE", "/nonexistent/payjp")]).unwrap_err();
    assert_eq!(
        e.to_string()
            .matches("KESSAI_PAYJP_SECRET_KEY_FILE")
            .count(),
        1,
        "{e}"
    );
}
