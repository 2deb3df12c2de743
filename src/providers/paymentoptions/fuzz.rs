//! Arbitrary answers never panic the parsers, and never leak the card.

use proptest::prelude::*;

use super::*;
use crate::fuzz_support::{body, fixture, mutated, status};

const KEYS: &[&str] = &[
    "success",
    "is_live",
    "transaction_type",
    "gateway_response",
    "payment_details",
    "transaction_details",
    "amount",
    "response_code",
    "responseDescription",
    "scheme",
    "card",
    "number",
    "id",
    "code",
    "message",
    "error",
];
const WORDS: &[&str] = &[
    "PRE_AUTH",
    "SALE",
    "CAPTURE",
    "VOID",
    "REFUND",
    "0",
    "05",
    "51",
    "VISA",
    "411111******1111",
    "4111111111111111",
    "a1b2c3",
    "Approved",
];

fn answer() -> impl Strategy<Value = Vec<u8>> {
    let envelopes = [
        "authorization.response.pre_auth.json",
        "capture.response.json",
        "refund.response.json",
        "void.response.json",
        "transaction_status.response.capture.json",
        "transaction_status.response.pre_auth.json",
        "failure.INVENTED.declined_406.json",
    ]
    .map(|name| mutated(fixture(&format!("paymentoptions/{name}")), KEYS, WORDS).boxed());
    prop_oneof![
        3 => proptest::strategy::Union::new(envelopes).prop_map(|v| v.to_string().into_bytes()),
        1 => body(KEYS, WORDS),
    ]
}

fn summary() -> CardSummary {
    CardSummary {
        bin: "411111".into(),
        last4: "1111".into(),
        brand: None,
        exp_month: 12,
        exp_year: 2030,
    }
}

proptest! {
    /// Any answer to any call becomes a value or a mapped error; amounts
    /// read are plausible, and no full card number survives parsing.
    #[test]
    fn any_answer_maps_without_panicking(
        status in prop_oneof![Just(reqwest::StatusCode::OK), status()],
        body in answer(),
        amount in 1i64..=crate::domain::Amount::MAX,
        automatic: bool,
        livemode: bool,
    ) {
        let response = RawResponse { status, body: body.into(), retry_after: None };
        let Ok(envelope) = envelope(&response) else {
            prop_assert!(status.is_success());
            return Ok(());
        };
        if let Some(card) = envelope.payment_details.as_ref().and_then(|p| p.card.as_ref()) {
            let printed = format!("{:?}", card.number);
            prop_assert!(!printed.contains("4111111111111111"));
            prop_assert!(!printed.contains("5200000000001005"));
        }
        let sent = Sent {
            amount,
            capture_method: if automatic { CaptureMethod::Automatic } else { CaptureMethod::Manual },
            livemode,
        };
        if let Ok(outcome) = authorize_outcome(&response, envelope.clone(), summary(), sent)
            && let AuthorizeResult::Authorized { amount, captured } = outcome.result
        {
            prop_assert!(super::super::plausible_amount(amount));
            prop_assert!((0..=amount).contains(&captured));
        }
        if let Ok(capture) = capture_outcome(&response, envelope.clone(), amount) {
            prop_assert!(super::super::plausible_amount(capture.amount));
        }
        let _ = refund_outcome(&response, envelope.clone());
        let _ = void_outcome(&response, envelope.clone());
        if let Ok(snapshot) = snapshot(&response, &envelope) {
            prop_assert!(snapshot.amount_capturable >= 0);
            prop_assert!(snapshot.amount_captured <= snapshot.amount_authorized);
        }
    }
}
