//! The adapter's own decisions, apart from parsing (wire.rs) and error
//! mapping (errors.rs).

use std::sync::{Arc, Mutex};

use super::*;
use crate::domain::{NextAction, PaymentMethodKind};
use crate::providers::SnapshotState;

/// What `f` logs, as text.
fn logs_of(f: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn flow(status: &str, next_action: serde_json::Value) -> PaymentFlow {
    serde_json::from_value(serde_json::json!({
        "id": "pfw_1", "amount": 1000, "status": status,
        "client_secret": "pfw_1_secret_x", "next_action": next_action,
    }))
    .unwrap()
}

#[test]
fn requires_action_without_a_redirect_is_a_warning_naming_the_order() {
    let unreadable = flow("requires_action", serde_json::json!({"type": "display_qr"}));
    let logs = logs_of(|| warn_without_redirect(&unreadable, "ord_01TEST"));
    assert!(
        logs.contains("WARN") && logs.contains("ord_01TEST"),
        "{logs}"
    );
    assert!(logs.contains("display_qr"), "{logs}");
    assert!(
        !logs.contains("pfw_1_secret_x"),
        "no client secret in logs: {logs}"
    );
    // The order still gets something to act on: the client secret.
    assert_eq!(
        authorize_result(&unreadable, true),
        AuthorizeResult::RequiresAction(NextAction::ClientSecret("pfw_1_secret_x".into()))
    );
    let readable = flow(
        "requires_action",
        serde_json::json!({"type": "redirect_to_url", "redirect_to_url": {"url": "https://x.example/3ds"}}),
    );
    assert_eq!(
        logs_of(|| warn_without_redirect(&readable, "ord_01TEST")),
        ""
    );
    let waiting = flow("requires_payment_method", serde_json::Value::Null);
    assert_eq!(
        logs_of(|| warn_without_redirect(&waiting, "ord_01TEST")),
        ""
    );
}

fn failed_flow(code: &str) -> PaymentFlow {
    serde_json::from_value(serde_json::json!({
        "id": "pfw_1", "amount": 1000, "status": "requires_payment_method",
        "client_secret": "pfw_1_secret_x",
        "last_payment_error": {"code": code, "message": "3-D Secure authentication failed."},
    }))
    .unwrap()
}

#[test]
fn a_failed_attempt_kessai_made_declines_and_says_why() {
    let failed = snapshot(&failed_flow("three_d_secure_failed"), true);
    let SnapshotState::Declined(failure) = failed.state else {
        panic!("{failed:?}");
    };
    assert_eq!(failure.code, "AUTHENTICATION_FAILED");
    assert_eq!(
        failure.provider_code.as_deref(),
        Some("three_d_secure_failed")
    );
    assert_eq!(failed.amount_authorized, 0);
    for (code, kessai_code) in [
        (
            "payment_intent_authentication_failure",
            "AUTHENTICATION_FAILED",
        ),
        ("card_declined", "CARD_DECLINED"),
    ] {
        assert_eq!(
            authorize_result(&failed_flow(code), true),
            AuthorizeResult::Declined(declined(code, "3-D Secure authentication failed.".into()))
        );
        assert_eq!(declined(code, String::new()).code, kessai_code);
    }
}

#[test]
fn a_failed_attempt_of_the_front_end_still_waits_for_the_shopper() {
    let waiting = snapshot(&failed_flow("card_declined"), false);
    assert_eq!(
        waiting.state,
        SnapshotState::RequiresAction(Some(NextAction::ClientSecret("pfw_1_secret_x".into())))
    );
    // A flow waiting for its first method has no error to decline with.
    let fresh = flow("requires_payment_method", serde_json::Value::Null);
    assert!(matches!(
        snapshot(&fresh, true).state,
        SnapshotState::RequiresAction(_)
    ));
}

#[test]
fn the_payment_method_is_known_once_the_flow_has_one() {
    let with = |status: &str, types: serde_json::Value| -> Option<PaymentMethodKind> {
        let flow: PaymentFlow = serde_json::from_value(serde_json::json!({
            "id": "pfw_1", "amount": 1000, "status": status, "payment_method_types": types,
        }))
        .unwrap();
        payment_method(&flow)
    };
    let paypay = serde_json::json!(["paypay"]);
    assert_eq!(
        with("requires_capture", paypay.clone()),
        Some(PaymentMethodKind::PayPay)
    );
    assert_eq!(
        with("requires_action", serde_json::json!(["card"])),
        Some(PaymentMethodKind::Card)
    );
    // What the shopper may still choose from is no choice.
    assert_eq!(with("requires_payment_method", paypay), None);
    assert_eq!(
        with("requires_capture", serde_json::json!(["card", "paypay"])),
        None
    );
    assert_eq!(
        with("requires_capture", serde_json::json!(["konbini"])),
        None
    );
}
