//! The amount a provider says it captured is compared with what kessai
//! reserved: the provider's figure is booked where it fits, and any
//! difference flags the order for a person.

use chrono::Datelike;
use kessai::clock::Clock;
use kessai::proto::v1;
use kessai::sandbox::faults::{Fault, FaultKind};

use crate::db_test;
#[allow(unused_imports)]
use crate::helpers::TestApp;
use crate::helpers::{card_authorize, unique_key};
use crate::paymentoptions_rules::APPROVE;

db_test! {
    async fn a_capture_the_provider_booked_for_less_is_booked_as_such_and_flagged(app: TestApp) {
        let request = card_authorize(&unique_key("auth"), 5_000, APPROVE, "123", app.clock.now().year() + 3);
        let order = app.authorize(request).await.unwrap();
        assert_eq!(order.status(), v1::OrderStatus::Authorized);
        let path = format!("{}/tests/fixtures/paymentoptions/capture.response.json", env!("CARGO_MANIFEST_DIR"));
        let mut body: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        body["payment_details"]["amount"] = serde_json::json!(1_500);
        app.paymentoptions.faults().inject(Fault::new("POST", "/capture", FaultKind::Status { status: 201, body }));

        let captured = app.capture(&order.id, Some(2_000), false).await.unwrap();
        assert_eq!(captured.amount_captured, 1_500, "the provider's figure");
        assert_eq!(captured.captures[0].amount, 1_500);
        assert!(captured.needs_review, "a difference is looked at");

        // A capture booked as asked flags nothing.
        let other = card_authorize(&unique_key("auth"), 5_000, APPROVE, "123", app.clock.now().year() + 3);
        let other = app.authorize(other).await.unwrap();
        let captured = app.capture(&other.id, Some(2_000), false).await.unwrap();
        assert_eq!(captured.amount_captured, 2_000);
        assert!(!captured.needs_review);
    }
}
