//! Provider keys are checked at start, with every other configuration
//! mistake in one message (exit code 2): each provider's own key shape, and
//! a key for the other environment than `KESSAI_PROVIDER_MODE` names. What
//! is said of a key is at most its prefix.

use std::process::Output;

use crate::process::kessai;

/// What no output may contain: the part of each key after its prefix.
const HUSH: &str = "Hush0Secret9";

fn temp_sqlite_url() -> String {
    crate::helpers::fresh_sqlite()
}

/// `kessai migrate` (configuration first, then the database) with `vars`.
fn migrate(vars: &[(&str, String)]) -> (Output, String) {
    let output = kessai()
        .arg("migrate")
        .env("KESSAI_DATABASE_URL", temp_sqlite_url())
        .env("KESSAI_AUTH", "false")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output, text)
}

fn refused(vars: &[(&str, String)], expected: &[&str]) -> String {
    let (output, text) = migrate(vars);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert_eq!(text.matches("configuration error").count(), 1, "{text}");
    for line in expected {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    assert!(!text.contains(HUSH), "a key was printed:\n{text}");
    text
}

fn fingerprint() -> (&'static str, String) {
    ("KESSAI_FINGERPRINT_KEY", "a-fingerprint-key-of-16+".into())
}

#[test]
fn keys_of_the_wrong_shape_or_environment_are_refused_with_every_other_mistake() {
    refused(
        &[
            fingerprint(),
            ("KESSAI_PAYJP_SECRET_KEY", format!("sk_test_{HUSH}")),
            ("KESSAI_SMARTPAY_SECRET_KEY", format!("pk_live_{HUSH}")),
            ("KESSAI_PAYMENTOPTIONS_API_KEY", format!("{HUSH} {HUSH}")),
            ("KESSAI_PAYMENTOPTIONS_MERCHANT_ID", "JP00000328".into()),
            (
                "KESSAI_PAYMENTOPTIONS_BASE_URL",
                "https://api-dev.paymentoptions.com".into(),
            ),
            ("KESSAI_REFLECTION", "perhaps".into()),
        ],
        &[
            "5 problems:",
            "KESSAI_PAYJP_SECRET_KEY: is a test key (sk_test_…) but kessai is in live mode",
            "KESSAI_PROVIDER_MODE=test to use the providers' test environments (for example KESSAI_PAYJP_SECRET_KEY=sk_live_…)",
            "KESSAI_SMARTPAY_SECRET_KEY: is a public key (pk_live_…), which only a browser or an app uses; kessai needs the Smartpay secret key (for example KESSAI_SMARTPAY_SECRET_KEY=sk_live_…)",
            "KESSAI_PAYMENTOPTIONS_API_KEY: the API key must be printable ASCII without spaces",
            "KESSAI_PAYMENTOPTIONS_BASE_URL: https://api-dev.paymentoptions.com is the test host but kessai is in live mode",
            "KESSAI_REFLECTION: must be true or false",
        ],
    );
}

/// Every provider configured, with these PAY.JP and Smartpay key prefixes,
/// in `mode` (when set).
fn every_provider(mode: Option<&str>, payjp: &str, smartpay: &str) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        fingerprint(),
        ("KESSAI_PAYJP_SECRET_KEY", format!("{payjp}{HUSH}")),
        ("KESSAI_SMARTPAY_SECRET_KEY", format!("{smartpay}{HUSH}")),
        ("KESSAI_PAYMENTOPTIONS_API_KEY", HUSH.into()),
        ("KESSAI_PAYMENTOPTIONS_MERCHANT_ID", "JP00000328".into()),
    ];
    vars.extend(mode.map(|mode| ("KESSAI_PROVIDER_MODE", mode.to_owned())));
    vars
}

#[test]
fn a_live_key_in_test_mode_or_in_sandbox_mode_is_refused() {
    refused(
        &every_provider(Some("test"), "sk_live_", "sk_test_x_"),
        &[
            "3 problems:",
            "KESSAI_PAYJP_SECRET_KEY: is a live key (sk_live_…) but KESSAI_PROVIDER_MODE is test, where it would charge real cards; set the test key, or KESSAI_PROVIDER_MODE=live (for example KESSAI_PAYJP_SECRET_KEY=sk_test_…)",
            "KESSAI_SMARTPAY_SECRET_KEY: is not a Smartpay secret key (it starts sk_test_… but what follows does not fit): one is sk_test_ or sk_live_ followed by letters and digits (for example KESSAI_SMARTPAY_SECRET_KEY=sk_test_…)",
            "KESSAI_PAYMENTOPTIONS_BASE_URL: https://api.paymentoptions.com (the default) is the live host but KESSAI_PROVIDER_MODE is test, where it would charge real cards (for example KESSAI_PAYMENTOPTIONS_BASE_URL=https://api-dev.paymentoptions.com)",
        ],
    );
    refused(
        &[
            ("KESSAI_SANDBOX", "true".into()),
            ("KESSAI_PAYJP_SECRET_KEY", format!("sk_live_{HUSH}")),
        ],
        &[
            "KESSAI_PAYJP_SECRET_KEY: is a live key (sk_live_…) while kessai serves its built-in simulators (KESSAI_SANDBOX=true), which never use it",
        ],
    );
}

#[test]
fn a_key_from_a_file_is_named_by_its_file_variable() {
    let dir = std::env::temp_dir().join(format!("kessai-keys-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payjp");
    std::fs::write(&file, format!("sk_test_{HUSH}\n")).unwrap();
    refused(
        &[
            fingerprint(),
            ("KESSAI_PAYJP_SECRET_KEY_FILE", file.display().to_string()),
        ],
        &[
            "KESSAI_PAYJP_SECRET_KEY_FILE: is a test key (sk_test_…)",
            "(for example a file holding sk_live_…)",
        ],
    );
}

#[test]
fn keys_for_the_mode_start() {
    let mut test = every_provider(Some("test"), "sk_test_", "sk_test_");
    test.push((
        "KESSAI_PAYMENTOPTIONS_BASE_URL",
        "https://api-dev.paymentoptions.com".into(),
    ));
    for vars in [test, every_provider(None, "sk_live_", "sk_live_")] {
        let (output, text) = migrate(&vars);
        assert!(output.status.success(), "{vars:?}:\n{text}");
        assert!(!text.contains(HUSH), "a key was printed:\n{text}");
    }
}

/// The configuration reference's example of a refused key is what kessai says.
#[test]
fn the_configuration_reference_shows_the_message_kessai_gives() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let shown = readme
        .lines()
        .find(|l| l.starts_with("kessai: configuration error: KESSAI_PAYJP_SECRET_KEY"))
        .expect("the configuration reference shows a refused key");
    let (_, text) = migrate(&[
        fingerprint(),
        ("KESSAI_PAYJP_SECRET_KEY", format!("sk_test_{HUSH}")),
    ]);
    assert!(
        text.lines().any(|l| l == shown),
        "{shown:?} is not what kessai says:\n{text}"
    );
}
