//! The PaymentOptions simulator's tests, through its router.

mod lifecycle;
mod requests;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use chrono::{TimeZone, Utc};
use kessai_clock::ManualClock;
use serde_json::{Value, json};

use super::*;
use crate::testing::{Answer, authorized, fixture, keys, send, start};

const KEY: &str = "po_test_key_123";
const MID: &str = "JP00000328";
const P: &str = "/api/v1/server-to-server-interface";
const DOUBLED: &str = "/api/v1/api/v1/server-to-server-interface";
const APPROVE: &str = "5200000000001005";
const AUTHORIZATION_REQUEST: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/authorization.request.json");
const AUTHORIZATION_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/authorization.response.pre_auth.json");
const CAPTURE_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/capture.response.json");
const REFUND_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/refund.response.json");
const VOID_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/void.response.json");
const STATUS_FIXTURE: &str = include_str!(
    "../../../../tests/fixtures/paymentoptions/transaction_status.response.capture.json"
);
const FAILURE_FIXTURE: &str =
    include_str!("../../../../tests/fixtures/paymentoptions/failure.INVENTED.declined_406.json");

struct Sim {
    sim: PaymentOptionsSimulator,
    clock: ManualClock,
    app: Router,
}

fn sim() -> Sim {
    let clock = ManualClock::new(start());
    let sim = PaymentOptionsSimulator::new(Arc::new(clock.clone()), KEY, MID);
    let app = sim.router();
    Sim { sim, clock, app }
}

/// The fixture's request with our merchant, a future expiry and `pan`.
fn authorization_body(pan: &str, amount: Value) -> Value {
    let mut body: Value = serde_json::from_str(AUTHORIZATION_REQUEST).expect("fixture JSON");
    body["merchant_id"] = json!(MID);
    body["amount"] = amount;
    body["card"]["number"] = json!(pan);
    body["card"]["expiry_year"] = json!("30");
    body
}

fn is_uuid_v4(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        && parts[2].starts_with('4')
        && parts[3].starts_with(['8', '9', 'a', 'b'])
}

impl Sim {
    async fn send(&self, request: HttpRequest<Body>) -> Answer {
        send(&self.app, request).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        authorization: &str,
        api_key: Option<&str>,
    ) -> Answer {
        let api_key: Vec<(&str, &str)> =
            api_key.map(|key| ("x-api-key", key)).into_iter().collect();
        self.send(authorized(authorization, method, path, &api_key, body))
            .await
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.call_with(method, path, body, &format!("Basic {KEY}"), Some(KEY))
            .await
    }

    async fn post(&self, operation: &str, body: &Value) -> Answer {
        self.call("POST", &format!("{P}/{operation}"), Some(body))
            .await
    }

    async fn authorize(&self, pan: &str, amount: i64) -> Answer {
        self.post("authorization", &authorization_body(pan, json!(amount)))
            .await
    }

    /// An approved PRE_AUTH's id.
    async fn pre_auth(&self, amount: i64) -> String {
        let answer = self.authorize(APPROVE, amount).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.json);
        id_of(&answer)
    }

    async fn follow_up(&self, operation: &str, id: &str, amount: Option<i64>) -> Answer {
        let mut body = json!({"transactionId": id, "merchant_id": MID, "notes": "test"});
        if let Some(amount) = amount {
            body["amount"] = json!(amount);
        }
        self.post(operation, &body).await
    }

    async fn status_of(&self, id: &str) -> Answer {
        self.call("GET", &format!("{P}/transaction/status/{id}"), None)
            .await
    }
}

fn id_of(answer: &Answer) -> String {
    answer.json["transaction_details"]["id"]
        .as_str()
        .expect("a transaction id")
        .to_owned()
}

fn assert_failure(answer: &Answer, status: StatusCode, response_code: Option<i64>) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["success"], false);
    assert_eq!(answer.json["status_code"], status.as_u16());
    assert_eq!(answer.json["gateway_response"]["type"], "ERROR");
    assert!(answer.json["gateway_response"]["message"].is_string());
    match response_code {
        Some(code) => assert_eq!(answer.json["payment_details"]["response_code"], code),
        None => assert!(answer.json.get("payment_details").is_none()),
    }
}

#[tokio::test]
async fn a_pre_auth_is_approved_echoing_the_full_pan_and_the_status_masks_it() {
    let s = sim();
    let answer = s.authorize(APPROVE, 1000).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let json = &answer.json;
    assert_eq!(json["success"], true);
    assert_eq!(json["status_code"], 201);
    assert_eq!(json["is_live"], false);
    assert_eq!(json["transaction_type"], "PRE_AUTH");
    assert_eq!(json["gateway_response"]["code"], "INFO0000");
    assert_eq!(json["payment_details"]["card"]["number"], APPROVE);
    assert_eq!(json["payment_details"]["amount"], 1000);
    assert_eq!(json["payment_details"]["response_code"], 0);
    assert_eq!(json["payment_details"]["scheme"], "MASTERCARD");
    assert_eq!(json["merchant_details"]["mid"], MID);
    assert_eq!(json["transaction_details"]["merchant_txn_ref"], "qwe");
    assert_eq!(
        json["transaction_details"]["timestamp"],
        "2025-06-02T03:15:42.000Z"
    );
    assert!(json["transaction_details"]["ref"].is_i64());
    let id = id_of(&answer);
    assert!(is_uuid_v4(&id), "{id}");
    assert!(json.to_string().find("\"100\"").is_none(), "no CVC echoed");
    assert_eq!(keys(json), keys(&fixture(AUTHORIZATION_FIXTURE)));
    assert_eq!(
        keys(&json["merchant_details"]),
        keys(&fixture(AUTHORIZATION_FIXTURE)["merchant_details"])
    );

    let status = s.status_of(&id).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json["status_code"], 200);
    assert_eq!(status.json["transaction_type"], "PRE_AUTH");
    assert_eq!(
        status.json["payment_details"]["card"]["number"],
        "520000******1005"
    );
    assert_eq!(status.json["transaction_details"]["id"], id.as_str());
    assert!(!status.json.to_string().contains(APPROVE));
    let status_fixture = fixture(STATUS_FIXTURE);
    assert_eq!(keys(&status.json), keys(&status_fixture));
    for part in ["payment_details", "transaction_details", "merchant_details"] {
        assert_eq!(
            keys(&status.json[part]),
            keys(&status_fixture[part]),
            "{part}"
        );
    }
}

#[tokio::test]
async fn each_declining_card_answers_402_with_its_response_code() {
    let s = sim();
    for (pan, code) in DECLINING_CARDS {
        let answer = s.authorize(pan, 1000).await;
        assert_eq!(answer.status, StatusCode::PAYMENT_REQUIRED, "{pan}");
        let json = &answer.json;
        assert_eq!(json["success"], false);
        assert_eq!(json["status_code"], 402);
        assert_eq!(json["transaction_type"], "PRE_AUTH");
        assert_eq!(json["payment_details"]["response_code"], code);
        assert_eq!(json["gateway_response"]["type"], "ERROR");
        assert_eq!(json["payment_details"]["scheme"], "VISA");
        let id = id_of(&answer);
        assert!(is_uuid_v4(&id));
        let status = s.status_of(&id).await;
        assert_eq!(status.json["success"], false);
        assert_eq!(status.json["payment_details"]["response_code"], code);
    }
    assert_eq!(
        keys(&s.authorize("4000000000000002", 1000).await.json),
        keys(&fixture(FAILURE_FIXTURE))
    );
    let ledger = s.sim.ledger();
    assert_eq!(ledger.authorizations.len(), 4);
    assert!(
        ledger
            .authorizations
            .iter()
            .all(|a| a.status == "declined" && a.authorized == 0 && a.capture_id.is_none())
    );
    let declined = s
        .follow_up("capture", &ledger.authorizations[0].id, Some(1))
        .await;
    assert_failure(&declined, StatusCode::PRECONDITION_FAILED, Some(84));
}

#[tokio::test]
async fn invalid_cards_are_406_and_create_nothing() {
    let s = sim();
    let cases: [(&str, &str, Value); 8] = [
        ("number", "5200000000001006", json!("30")),
        ("number", "52000000000a1005", json!("30")),
        ("number", "42424242424", json!("30")),
        ("number", "42424242424242424242", json!("30")),
        ("expiry_year", APPROVE, json!("24")),
        ("expiry_year", APPROVE, json!("2025x")),
        ("cvc", APPROVE, json!("30")),
        ("expiry_month", APPROVE, json!("30")),
    ];
    for (what, pan, year) in cases {
        let mut body = authorization_body(pan, json!(1000));
        body["card"]["expiry_year"] = year;
        match what {
            "cvc" => body["card"]["cvc"] = json!("12"),
            "expiry_month" => body["card"]["expiry_month"] = json!("13"),
            _ => {}
        }
        let answer = s.post("authorization", &body).await;
        assert_failure(&answer, StatusCode::NOT_ACCEPTABLE, None);
        assert_eq!(answer.json["transaction_type"], "PRE_AUTH");
        let message = answer.json.to_string();
        assert!(!message.contains(pan), "the answer repeats the card number");
    }
    assert!(s.sim.ledger().authorizations.is_empty());
    assert_eq!(s.sim.requests_seen(), 8);
}

#[tokio::test]
async fn card_expiry_follows_the_clock() {
    let s = sim();
    let mut body = authorization_body(APPROVE, json!(1000));
    body["card"]["expiry_month"] = json!(6);
    body["card"]["expiry_year"] = json!("2025");
    assert_eq!(
        s.post("authorization", &body).await.status,
        StatusCode::CREATED
    );
    s.clock.set(
        Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0)
            .single()
            .expect("a date"),
    );
    let answer = s.post("authorization", &body).await;
    assert_failure(&answer, StatusCode::NOT_ACCEPTABLE, None);
}

#[tokio::test]
async fn a_partial_capture_is_a_new_capture_transaction_and_only_one_is_allowed() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    let capture = s.follow_up("capture", &pre_auth, Some(600)).await;
    assert_eq!(capture.status, StatusCode::CREATED, "{}", capture.json);
    assert_eq!(capture.json["transaction_type"], "CAPTURE");
    assert_eq!(capture.json["gateway_response"]["code"], "INFO0001");
    assert_eq!(capture.json["status_code"], 201);
    assert_eq!(capture.json["payment_details"]["amount"], 600);
    // As seed 001 shows: the capture echoes the full card number.
    assert_eq!(capture.json["payment_details"]["card"]["number"], APPROVE);
    let capture_id = id_of(&capture);
    assert_ne!(capture_id, pre_auth);
    assert!(is_uuid_v4(&capture_id));

    let again = s.follow_up("capture", &pre_auth, Some(400)).await;
    assert_failure(&again, StatusCode::PRECONDITION_FAILED, Some(84));
    let ledger = s.sim.ledger();
    let auth = &ledger.authorizations[0];
    assert_eq!(auth.status, "captured");
    assert_eq!((auth.authorized, auth.captured), (1000, 600));
    assert_eq!(auth.capture_id.as_deref(), Some(capture_id.as_str()));

    let status = s.status_of(&capture_id).await;
    assert_eq!(status.json["transaction_type"], "CAPTURE");
    assert_eq!(status.json["payment_details"]["amount"], 600);
    assert_eq!(status.json["gateway_response"]["code"], "INFO0000");
}

#[tokio::test]
async fn the_capture_answer_has_the_seed_shape() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    let capture = s.follow_up("capture", &pre_auth, Some(1000)).await;
    let seed = fixture(CAPTURE_FIXTURE);
    assert_eq!(keys(&capture.json), keys(&seed));
    for part in [
        "gateway_response",
        "merchant_details",
        "payment_details",
        "transaction_details",
    ] {
        assert_eq!(keys(&capture.json[part]), keys(&seed[part]), "{part}");
    }
    assert_eq!(
        keys(&capture.json["payment_details"]["card"]),
        keys(&seed["payment_details"]["card"])
    );
    assert_eq!(capture.json["gateway_response"], seed["gateway_response"]);
}

#[tokio::test]
async fn capturing_more_than_authorized_is_412_836() {
    let s = sim();
    let pre_auth = s.pre_auth(1000).await;
    let answer = s.follow_up("capture", &pre_auth, Some(1001)).await;
    assert_failure(&answer, StatusCode::PRECONDITION_FAILED, Some(836));
    assert_eq!(answer.json["transaction_type"], "CAPTURE");
    let zero = s.follow_up("capture", &pre_auth, Some(0)).await;
    assert_failure(&zero, StatusCode::PRECONDITION_FAILED, Some(13));
    assert_eq!(s.sim.ledger().authorizations[0].status, "authorized");
    let unknown = s
        .follow_up("capture", "9dfd39ec-eb4a-4f8b-a526-17abf140a717", Some(1))
        .await;
    assert_failure(&unknown, StatusCode::NOT_FOUND, None);
}
