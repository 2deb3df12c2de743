//! Card data never reaches a log line, an error message or the database:
//! an authorization with a real-looking card at TRACE log level, then every
//! log line and every stored byte is searched for the number and the CVC.
//! The shopper's e-mail, name and phone are kept with the order and found by
//! searches, but never reach a log line either.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kessai::proto::v1;
use kessai::proto::v1::payment_service_client::PaymentServiceClient;
use regex::Regex;

/// A Luhn-valid Visa number that is nobody's card and no sandbox trigger.
fn real_looking_pan() -> String {
    let body = "471610899971653";
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

const CVC: &str = "9173";
const HOLDER: &str = "HANAKO KESSAITEST";
const EMAIL: &str = " Kessai.Shopper.7391@Example.JP ";
const NAME: &str = "鈴木 決済子";
const PHONE: &str = "+81 80-7391-2046";

/// Every form of the customer a log line could carry: as sent, trimmed,
/// lower-cased, without spaces.
fn customer_forms() -> Vec<String> {
    let email = EMAIL.trim();
    vec![
        email.to_owned(),
        email.to_lowercase(),
        "kessai.shopper.7391".to_owned(),
        NAME.to_owned(),
        NAME.replace(' ', ""),
        "決済子".to_owned(),
        PHONE.to_owned(),
        "80-7391-2046".to_owned(),
    ]
}

fn searches() -> Vec<v1::ListOrdersRequest> {
    let by = |customer_email: &str, customer_name: &str, query: &str| v1::ListOrdersRequest {
        customer_email: customer_email.into(),
        customer_name: customer_name.into(),
        query: query.into(),
        ..Default::default()
    };
    vec![
        by(EMAIL, "", ""),
        by("", NAME, ""),
        by("", "", "kessai.shopper.7391"),
        by("", "決済子", ""),
        by("kessai.shopper.7391@example.jp", NAME, "決済子"),
    ]
}

fn card_request(
    key: &str,
    number: &str,
    expiry_year: i32,
    method: v1::CaptureMethod,
) -> v1::AuthorizeRequest {
    v1::AuthorizeRequest {
        idempotency_key: key.into(),
        amount: 12_000,
        currency: "JPY".into(),
        capture_method: method as i32,
        provider_details: Some(v1::authorize_request::ProviderDetails::Paymentoptions(
            v1::PaymentOptionsDetails {
                card: Some(v1::Card {
                    number: number.into(),
                    cvc: CVC.into(),
                    expiry_month: 11,
                    expiry_year,
                    name: HOLDER.into(),
                }),
                customer_ip: "198.51.100.20".into(),
                billing_address: None,
            },
        )),
        ..Default::default()
    }
}

/// Where card data could hide, as text.
struct Haystack {
    name: String,
    text: String,
}

fn assert_clean(haystacks: &[Haystack], pan: &str) {
    // The CVC is short: it counts only where no other digit touches it, and
    // not inside the random tokens every row holds (hashes, UUIDs, ULIDs,
    // a timestamp's fraction), which hold any four digits now and then.
    let cvc = Regex::new(&format!(r"(^|[^0-9]){CVC}([^0-9]|$)")).unwrap();
    let random = Regex::new(
        r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?|Z)?|[0-9A-Za-z-]{8,}",
    )
    .unwrap();
    let around = |text: &str, at: usize| {
        let mut start = at.saturating_sub(60);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 60).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        text[start..end].to_owned()
    };
    for hay in haystacks {
        if let Some(at) = hay.text.find(pan) {
            panic!(
                "the card number is in {}: {}",
                hay.name,
                around(&hay.text, at)
            );
        }
        let without_random = random.replace_all(&hay.text, "~");
        if let Some(found) = cvc.find(&without_random) {
            panic!(
                "the CVC is in {}: {}",
                hay.name,
                around(&without_random, found.start())
            );
        }
        if let Some(at) = hay.text.find(HOLDER) {
            panic!(
                "the cardholder's name is in {}: {}",
                hay.name,
                around(&hay.text, at)
            );
        }
    }
}

#[test]
fn the_cvc_check_passes_random_tokens_and_catches_the_cvc_among_them() {
    let random = "key f3866f9173ab2c41 at 2026-12-06 18:07:55.9173+00, \
        id ord_01M968N25SNWDACD9173ZKJYB, request 3f2a-9173-4b1c-8d2e";
    let hay = |text: String| {
        vec![Haystack {
            name: "a row".into(),
            text,
        }]
    };
    let pan = real_looking_pan();
    assert_clean(&hay(random.to_owned()), &pan);
    for leak in [
        format!("{random} {{\"cvc\":\"{CVC}\"}}"),
        format!("{random} cvc={CVC}"),
        format!("{CVC} {random}"),
    ] {
        let caught = std::panic::catch_unwind(|| assert_clean(&hay(leak.clone()), &pan));
        assert!(caught.is_err(), "missed the CVC in {leak}");
    }
}

async fn wait_for_address(log: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(line)
                && json["message"] == "kessai serving gRPC"
            {
                return json["addr"].as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "kessai did not start: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `field` of the first log line whose message is `message`.
async fn wait_for_log_field(log: &std::path::Path, message: &str, field: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in text.lines() {
            if let Ok(json) = serde_json::from_str::<serde_json::Value>(line)
                && json["message"] == message
            {
                return json[field].as_str().unwrap().to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {message:?} in the log: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_and_search(database_url: &str) -> (Vec<Haystack>, String) {
    let dir = std::env::temp_dir()
        .join("kessai-it")
        .join(format!("pci-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("kessai.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kessai"))
        .env_clear()
        .env("KESSAI_DATABASE_URL", database_url)
        .env("KESSAI_LISTEN_ADDR", "127.0.0.1:0")
        .env("KESSAI_CONSOLE_ADDR", "127.0.0.1:0")
        .env("KESSAI_LOG", "trace")
        .env("KESSAI_LOG_FORMAT", "json")
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let addr = wait_for_address(&log).await;
    let mut client = PaymentServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let pan = real_looking_pan();
    let year = chrono::Datelike::year(&chrono::Utc::now()) + 2;
    let mut answers = String::new();

    let with_customer = |mut request: v1::AuthorizeRequest| {
        request.customer = Some(v1::Customer {
            email: EMAIL.into(),
            name: NAME.into(),
            phone: PHONE.into(),
        });
        request
    };
    let order = client
        .authorize(with_customer(card_request(
            "pci-auth",
            &pan,
            year,
            v1::CaptureMethod::Manual,
        )))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status(), v1::OrderStatus::Authorized, "{order:?}");
    let card = order.card.clone().unwrap();
    assert_eq!(
        (card.bin.as_str(), card.last4.as_str()),
        (&pan[..6], &pan[pan.len() - 4..])
    );
    answers.push_str(&format!("{order:?}"));
    // A retry replays through the stored fingerprint.
    let replay = client
        .authorize(with_customer(card_request(
            "pci-auth",
            &pan,
            year,
            v1::CaptureMethod::Manual,
        )))
        .await
        .unwrap();
    answers.push_str(&format!("{replay:?}"));
    for request in [v1::CaptureRequest {
        idempotency_key: "pci-capture".into(),
        order_id: order.id.clone(),
        amount: Some(10_000),
        ..Default::default()
    }] {
        answers.push_str(&format!("{:?}", client.capture(request).await.unwrap()));
    }
    let refund = v1::RefundRequest {
        idempotency_key: "pci-refund".into(),
        order_id: order.id.clone(),
        amount: Some(2_000),
        ..Default::default()
    };
    answers.push_str(&format!("{:?}", client.refund(refund).await.unwrap()));
    let get = v1::GetOrderRequest {
        order_id: order.id.clone(),
        refresh: true,
    };
    answers.push_str(&format!("{:?}", client.get_order(get).await.unwrap()));
    answers.push_str(&format!(
        "{:?}",
        client
            .list_orders(v1::ListOrdersRequest::default())
            .await
            .unwrap()
    ));
    // Searches by the customer find the order; a refused one (the e-mail
    // made too long) names the field only.
    for search in searches() {
        let page = client.list_orders(search).await.unwrap().into_inner();
        assert_eq!(page.orders.len(), 1, "a search finds the order");
        answers.push_str(&format!("{page:?}"));
    }
    // The console shows the operator the shopper and the card's summary,
    // never more, and acts without logging either.
    let console = wait_for_log_field(&log, "the operator console is serving", "url").await;
    let mut browser = crate::console::client::Browser::at(console.trim_end_matches('/'));
    assert_eq!(
        browser.sign_in("").await.status,
        303,
        "sandbox mode: the sandbox operator"
    );
    let encode = crate::console::client::encode;
    let listed = browser
        .get(&format!("/orders?q={}", encode(EMAIL.trim())))
        .await;
    assert!(
        listed.body.contains(&order.id) && listed.body.contains(NAME),
        "{}",
        listed.body
    );
    let detail = browser.get(&format!("/orders/{}", order.id)).await;
    assert!(detail.body.contains(&pan[pan.len() - 4..]) && detail.body.contains(PHONE));
    let refund_form = [
        (
            "csrf",
            crate::console::client::field(&detail.body, "refund-form", "csrf"),
        ),
        (
            "key",
            crate::console::client::field(&detail.body, "refund-form", "key"),
        ),
        ("amount", "1000".to_owned()),
        ("description", "console refund".to_owned()),
    ];
    let refunded = browser
        .post(&format!("/orders/{}/refund", order.id), &refund_form)
        .await;
    assert_eq!(refunded.status, 303, "{}", refunded.body);
    let after = browser
        .get(&format!("/orders/{}?done=refund", order.id))
        .await;
    for page in [&listed.body, &detail.body, &after.body] {
        answers.push_str(page);
    }
    let refused = client
        .list_orders(v1::ListOrdersRequest {
            customer_email: format!("{}{}", EMAIL.trim(), "x".repeat(300)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let mut bad_customer = with_customer(card_request(
        "pci-bad-customer",
        &pan,
        year,
        v1::CaptureMethod::Manual,
    ));
    if let Some(c) = bad_customer.customer.as_mut() {
        c.phone = format!("{PHONE} ext");
    }
    let refused_customer = client.authorize(bad_customer).await.unwrap_err();
    assert_eq!(refused_customer.code(), tonic::Code::InvalidArgument);
    for told in [format!("{refused:?}"), format!("{refused_customer:?}")] {
        for form in customer_forms() {
            assert!(
                !told.contains(&form),
                "a refusal repeats the customer: {told}"
            );
        }
    }
    let sale = client
        .authorize(card_request(
            "pci-sale",
            &pan,
            year,
            v1::CaptureMethod::Automatic,
        ))
        .await
        .unwrap();
    answers.push_str(&format!("{sale:?}"));
    // Refusals must not echo the card either.
    let mut bad_digit = pan.clone().into_bytes();
    bad_digit[15] = if bad_digit[15] == b'9' {
        b'0'
    } else {
        bad_digit[15] + 1
    };
    let bad_digit = String::from_utf8(bad_digit).unwrap();
    for request in [
        card_request("pci-bad-luhn", &bad_digit, year, v1::CaptureMethod::Manual),
        card_request("pci-expired", &pan, year - 4, v1::CaptureMethod::Manual),
    ] {
        let status = client.authorize(request).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        answers.push_str(&format!("{status:?}"));
        assert!(!format!("{status:?}").contains(&bad_digit));
    }

    drop(client);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();

    let log_text = std::fs::read_to_string(&log).unwrap();
    let trace_lines = log_text
        .lines()
        .filter(|l| l.contains("\"level\":\"TRACE\""))
        .count();
    assert!(
        trace_lines > 50,
        "the run logged at TRACE ({trace_lines} TRACE lines)"
    );
    for form in customer_forms() {
        assert!(
            !log_text.contains(&form),
            "the customer ({form}) is in the log"
        );
    }
    let haystacks = vec![
        Haystack {
            name: "the log".into(),
            text: log_text,
        },
        Haystack {
            name: "the gRPC answers".into(),
            text: answers,
        },
    ];
    (haystacks, pan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_data_never_reaches_logs_answers_or_sqlite() {
    let dir = std::env::temp_dir().join("kessai-it");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join(format!("pci-{}.sqlite", ulid::Ulid::new()));
    let (mut haystacks, pan) = run_and_search(&format!("sqlite://{}", db.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            haystacks.push(Haystack {
                name: path,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    assert_clean(&haystacks, &pan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_data_never_reaches_postgresql() {
    let Ok(admin) = std::env::var("KESSAI_TEST_DATABASE_URL") else {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    };
    use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};
    let name = format!("kessai_it_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let (mut haystacks, pan) = run_and_search(url.as_str()).await;
    let mut db = PgConnection::connect(url.as_str()).await.unwrap();
    let tables: Vec<String> =
        sea_orm::sqlx::query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<String, _>(0))
            .collect();
    assert!(tables.iter().any(|t| t == "orders"), "{tables:?}");
    for table in tables {
        let rows =
            sea_orm::sqlx::query(AssertSqlSafe(format!("SELECT t::text FROM \"{table}\" t")))
                .fetch_all(&mut db)
                .await
                .unwrap();
        let text: Vec<String> = rows.iter().map(|row| row.get::<String, _>(0)).collect();
        haystacks.push(Haystack {
            name: format!("table {table}"),
            text: text.join("\n"),
        });
    }
    assert_clean(&haystacks, &pan);
}
