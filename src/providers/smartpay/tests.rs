//! The key pattern, and arbitrary answers through the adapter's parsing.

use super::*;

mod key_tests {
    fn is_secret_key(key: &str) -> bool {
        super::super::config::KEY_SHAPE.fits(key)
    }

    #[test]
    fn secret_keys_have_the_sdks_pattern() {
        assert!(is_secret_key("sk_test_kessaiSandbox"));
        assert!(is_secret_key("sk_live_0aZ9"));
        #[cfg(feature = "sandbox")]
        assert!(is_secret_key(crate::sandbox::SMARTPAY_SANDBOX_SECRET_KEY));
        for bad in [
            "sk_test_",
            "sk_test_a_b",
            "pk_test_abc",
            "sk_prod_abc",
            "sk_test_abc ",
            "",
        ] {
            assert!(!is_secret_key(bad), "{bad}");
        }
    }
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_support::{body, fixture, json_like, mutated, status};

    const KEYS: &[&str] = &[
        "id",
        "object",
        "amount",
        "currency",
        "status",
        "expiresAt",
        "payments",
        "test",
        "url",
        "order",
        "metadata",
        "kessai_capture_id",
        "statusCode",
        "errorCode",
        "message",
        "details",
    ];
    const WORDS: &[&str] = &[
        "requires_authorization",
        "requires_capture",
        "succeeded",
        "canceled",
        "rejected",
        "failed",
        "pending",
        "order_test_1",
        "payment_test_1",
        "refund_test_1",
        "payment.excessive-amount",
        "order.cannot-capture",
        "unauthorized",
        "not-found",
        "JPY",
    ];

    fn order_answer() -> impl Strategy<Value = Vec<u8>> {
        let orders = [
            "order.requires_capture.json",
            "order.requires_capture.partially_captured.json",
            "order.succeeded.json",
            "order.canceled.json",
            "order.rejected.json",
        ]
        .map(|name| mutated(fixture(&format!("smartpay/{name}")), KEYS, WORDS).boxed());
        prop_oneof![
            3 => proptest::strategy::Union::new(orders).prop_map(|v| v.to_string().into_bytes()),
            1 => body(KEYS, WORDS),
        ]
    }

    fn payment_answer() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => mutated(fixture("smartpay/payment.processed.json"), KEYS, WORDS)
                .prop_map(|v| v.to_string().into_bytes()),
            1 => body(KEYS, WORDS),
        ]
    }

    fn raw(status: reqwest::StatusCode, body: Vec<u8>) -> RawResponse {
        RawResponse {
            status,
            body: body.into(),
            retry_after: None,
        }
    }

    proptest! {
        /// Any answer to any call becomes a value or a mapped error, and
        /// whatever is read adds up without overflowing.
        #[test]
        fn any_answer_maps_without_panicking(
            status in prop_oneof![Just(reqwest::StatusCode::OK), status()],
            order_body in order_answer(),
            payment_bodies in proptest::collection::vec(payment_answer(), 0..4),
            livemode: bool,
        ) {
            let _ = parse::<CheckoutSession>(raw(status, order_body.clone()));
            let _ = parse::<Refund>(raw(status, order_body.clone()));
            let _ = parse::<serde_json::Value>(raw(status, order_body.clone()));
            let Ok(order) = parse::<Order>(raw(status, order_body)) else {
                return Ok(());
            };
            let payments: Vec<Payment> = payment_bodies
                .into_iter()
                .filter_map(|b| parse::<Payment>(raw(reqwest::StatusCode::OK, b)).ok())
                .collect();
            if let Ok(outcome) = authorized_outcome(&order, payments.clone(), livemode)
                && let AuthorizeResult::Authorized { amount, captured } = outcome.result
            {
                prop_assert!((0..=amount).contains(&captured));
            }
            if let Ok(snapshot) = snapshot(order, payments) {
                prop_assert!(snapshot.amount_captured >= 0);
                prop_assert!(snapshot.amount_capturable >= 0);
                prop_assert!(snapshot.amount_authorized >= 0);
            }
        }

        /// Payments whose sum passes the order's amount, or i64, are an
        /// unreadable answer, not arithmetic.
        #[test]
        fn payments_beyond_the_order_are_unreadable(
            amount in 0i64..=crate::domain::Amount::MAX,
            payments in proptest::collection::vec(0i64..=crate::domain::Amount::MAX, 1..5),
        ) {
            let order = Order {
                id: "order_test_1".into(),
                amount,
                status: OrderStatus::RequiresCapture,
                expires_at: None,
                payments: Vec::new(),
                test: Some(true),
            };
            let payments: Vec<Payment> = payments
                .into_iter()
                .enumerate()
                .map(|(i, amount)| Payment {
                    id: format!("payment_test_{i}"),
                    amount,
                    metadata: BTreeMap::new(),
                })
                .collect();
            let total: i128 = payments.iter().map(|p| i128::from(p.amount)).sum();
            let read = snapshot(order, payments);
            prop_assert_eq!(read.is_ok(), total <= i128::from(amount));
            if let Err(error) = read {
                prop_assert!(
                    matches!(error, ProviderError::OutcomeUnknown { .. }),
                    "unexpected error: {:?}",
                    error
                );
            }
        }

        #[test]
        fn any_error_body_maps(status in status(), body in json_like(KEYS, WORDS)) {
            let _ = map_error(status, &parse_error(body.to_string().as_bytes()));
        }
    }
}
