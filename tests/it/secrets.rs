//! No secret reaches a log line, even at TRACE: provider keys, the
//! fingerprint key, callers' tokens, the database password, the webhook
//! signing secret and token, the signatures notifications carry, and the
//! shopper's e-mail, name and phone (given with every order, searched by).

use kessai::grpc::callers::token_hash;
use kessai::proto::v1;
use kessai::sandbox::{PAYMENTOPTIONS_SANDBOX_API_KEY, PAYMENTOPTIONS_SANDBOX_MERCHANT_ID};
use tonic::Request;

use crate::crash::{Process, Providers, fresh_database, kessai_env};
use crate::helpers::{PAYJP_WEBHOOK_TOKEN, SMARTPAY_WEBHOOK_KEY_HEX, SMARTPAY_WEBHOOK_SECRET};
use crate::webhooks::{post_webhook, smartpay_event, smartpay_headers};

const TOKEN: &str = "tok_live_checkout_7f3a9c1e5b2d8f40";
const FINGERPRINT_KEY: &str = "fingerprint-key-that-must-never-be-logged";
const DB_PASSWORD: &str = "pg-password-that-must-never-be-logged";
const CUSTOMER_EMAIL: &str = "Secrets.Shopper@Example.JP";
const CUSTOMER_NAME: &str = "高橋 秘密子";
const CUSTOMER_PHONE: &str = "+81 90-5555-0199";

fn as_caller<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

async fn secrets_stay_out_of_trace_logs(postgres: bool) {
    let Some(mut database_url) = fresh_database(postgres).await else {
        return;
    };
    if postgres {
        // The local server trusts connections, so the password is carried, not needed.
        let mut url = url::Url::parse(&database_url).unwrap();
        url.set_password(Some(DB_PASSWORD)).unwrap();
        database_url = url.to_string();
    }
    let providers = Providers::start().await;
    let mut env = kessai_env(&database_url, &providers);
    env.insert("KESSAI_FINGERPRINT_KEY".into(), FINGERPRINT_KEY.into());
    env.insert("KESSAI_AUTH".into(), "true".into());
    env.insert(
        "KESSAI_CALLERS".into(),
        serde_json::json!([{"name": "checkout", "token_sha256": token_hash(TOKEN), "scopes": ["charge", "refund", "read"]}]).to_string(),
    );
    env.insert(
        "KESSAI_PAYMENTOPTIONS_API_KEY".into(),
        PAYMENTOPTIONS_SANDBOX_API_KEY.into(),
    );
    env.insert(
        "KESSAI_PAYMENTOPTIONS_MERCHANT_ID".into(),
        PAYMENTOPTIONS_SANDBOX_MERCHANT_ID.into(),
    );
    env.insert(
        "KESSAI_PAYMENTOPTIONS_BASE_URL".into(),
        format!("{}/paymentoptions", providers.root),
    );
    env.insert("KESSAI_WEBHOOK_ADDR".into(), "127.0.0.1:0".into());
    env.insert(
        "KESSAI_SMARTPAY_WEBHOOK_SECRET".into(),
        SMARTPAY_WEBHOOK_SECRET.into(),
    );
    env.insert(
        "KESSAI_PAYJP_WEBHOOK_TOKEN".into(),
        PAYJP_WEBHOOK_TOKEN.into(),
    );
    let mut secrets: Vec<String> = [
        env["KESSAI_PAYJP_SECRET_KEY"].clone(),
        env["KESSAI_SMARTPAY_SECRET_KEY"].clone(),
        PAYMENTOPTIONS_SANDBOX_API_KEY.to_owned(),
        FINGERPRINT_KEY.to_owned(),
        TOKEN.to_owned(),
        SMARTPAY_WEBHOOK_SECRET.to_owned(),
        SMARTPAY_WEBHOOK_KEY_HEX.to_owned(),
        PAYJP_WEBHOOK_TOKEN.to_owned(),
    ]
    .into_iter()
    .chain(postgres.then(|| DB_PASSWORD.to_owned()))
    .chain(
        [
            CUSTOMER_EMAIL,
            "secrets.shopper@example.jp",
            CUSTOMER_NAME,
            "高橋秘密子",
            CUSTOMER_PHONE,
            "90-5555-0199",
        ]
        .map(str::to_owned),
    )
    .collect();

    let mut process = Process::spawn(&["serve"], &{
        let mut env = env.clone();
        env.insert("KESSAI_LOG".into(), "trace".into());
        env
    });
    let line = process.wait_for("kessai serving gRPC").await;
    let mut client = kessai::proto::v1::payment_service_client::PaymentServiceClient::connect(
        format!("http://{}", line["addr"].as_str().unwrap()),
    )
    .await
    .unwrap();
    for (n, details) in [
        v1::authorize_request::ProviderDetails::Payjp(v1::PayjpDetails {
            payment_method_id: "pm_test_approve".into(),
            customer_id: "cus_test_kessai".into(),
            ..Default::default()
        }),
        v1::authorize_request::ProviderDetails::Smartpay(v1::SmartpayDetails {
            token: "paytok_test_approved".into(),
            items: vec![v1::SmartpayItem {
                name: "item".into(),
                amount: 3_000,
                quantity: 1,
                ..Default::default()
            }],
            customer: crate::helpers::smartpay_customer(),
            shipping: crate::helpers::smartpay_shipping(),
            ..Default::default()
        }),
        v1::authorize_request::ProviderDetails::Paymentoptions(v1::PaymentOptionsDetails {
            card: Some(v1::Card {
                number: "5200000000001005".into(),
                cvc: "123".into(),
                expiry_month: 12,
                expiry_year: 2040,
                name: String::new(),
            }),
            ..Default::default()
        }),
    ]
    .into_iter()
    .enumerate()
    {
        let authorize = v1::AuthorizeRequest {
            idempotency_key: format!("secrets-{n}"),
            amount: 3_000,
            currency: "JPY".into(),
            provider_details: Some(details),
            customer: Some(v1::Customer {
                email: CUSTOMER_EMAIL.into(),
                name: CUSTOMER_NAME.into(),
                phone: CUSTOMER_PHONE.into(),
            }),
            ..Default::default()
        };
        let order = client
            .authorize(as_caller(authorize))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        let capture = v1::CaptureRequest {
            idempotency_key: format!("secrets-{n}-capture"),
            order_id: order.id.clone(),
            ..Default::default()
        };
        client.capture(as_caller(capture)).await.unwrap();
        let refund = v1::RefundRequest {
            idempotency_key: format!("secrets-{n}-refund"),
            order_id: order.id,
            amount: Some(500),
            ..Default::default()
        };
        client.refund(as_caller(refund)).await.unwrap();
    }
    // Notifications, verified and refused; the signatures must not show
    // either.
    let hooks = process.wait_for("kessai serving provider webhooks").await;
    let hooks = hooks["addr"].as_str().unwrap().to_owned();
    let body = smartpay_event(
        "evt_test_secrets",
        "order.authorized",
        serde_json::json!({"id": "order_test_secrets000000000000"}),
    );
    let now = chrono::Utc::now().timestamp_millis();
    let signed = smartpay_headers(&body, now, SMARTPAY_WEBHOOK_KEY_HEX);
    let forged = smartpay_headers(&body, now, &"ab".repeat(30));
    assert_eq!(
        post_webhook(&hooks, "smartpay", &signed, &body)
            .await
            .status,
        200
    );
    assert_eq!(
        post_webhook(&hooks, "smartpay", &forged, &body)
            .await
            .status,
        401
    );
    secrets.extend([signed[0].1.clone(), forged[0].1.clone()]);
    let event =
        r#"{"id":"evnt_secrets","type":"payment_flow.succeeded","data":{"id":"pfw_secrets"}}"#;
    let token = |t: &str| [("X-Payjp-Webhook-Token", t.to_owned())];
    assert_eq!(
        post_webhook(&hooks, "payjp", &token(PAYJP_WEBHOOK_TOKEN), event)
            .await
            .status,
        200
    );
    let wrong_token = "whtok_wrong_but_logged_nowhere";
    assert_eq!(
        post_webhook(&hooks, "payjp", &token(wrong_token), event)
            .await
            .status,
        401
    );
    secrets.push(wrong_token.to_owned());

    // Searches by the customer, found and refused.
    for (email, name, query) in [
        ("secrets.shopper@", "", ""),
        ("", "高橋 秘密子", ""),
        ("", "", "secrets.shopper"),
        (CUSTOMER_EMAIL, CUSTOMER_NAME, "秘密子"),
    ] {
        let search = v1::ListOrdersRequest {
            customer_email: email.into(),
            customer_name: name.into(),
            query: query.into(),
            ..Default::default()
        };
        let page = client.list_orders(as_caller(search)).await.unwrap();
        assert_eq!(page.into_inner().orders.len(), 3, "each provider's order");
    }
    let too_long = v1::ListOrdersRequest {
        customer_name: CUSTOMER_NAME.repeat(60),
        ..Default::default()
    };
    assert!(client.list_orders(as_caller(too_long)).await.is_err());

    // Refusals too.
    let mut wrong = Request::new(v1::ListOrdersRequest::default());
    wrong.metadata_mut().insert(
        "authorization",
        "Bearer tok_wrong_but_logged_nowhere".parse().unwrap(),
    );
    assert!(client.list_orders(wrong).await.is_err());

    drop(client);
    std::process::Command::new("kill")
        .args(["-TERM", &process_id(&process)])
        .status()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let log = std::fs::read_to_string(&process.log).unwrap();
    let trace_lines = log
        .lines()
        .filter(|l| l.contains("\"level\":\"TRACE\""))
        .count();
    assert!(trace_lines > 100, "TRACE was on ({trace_lines} lines)");
    for secret in secrets
        .iter()
        .chain(std::iter::once(&"tok_wrong_but_logged_nowhere".to_owned()))
    {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log: {}…",
            &secret[..6]
        );
    }
}

fn process_id(process: &Process) -> String {
    process.id().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_trace_log_sqlite() {
    secrets_stay_out_of_trace_logs(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_trace_log_postgres() {
    secrets_stay_out_of_trace_logs(true).await;
}
