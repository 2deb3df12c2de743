//! The operator console over HTTP, as a browser without JavaScript uses it:
//! sign in, find orders by customer, capture part once with a description,
//! refund with a reason, the overview; read-only operators, forms posted
//! twice or without their CSRF token, bad input, markup in orders. The
//! same journey in a real browser is `browser.rs`.

mod browser;
pub(crate) mod client;
mod tls;
mod void_and_expiry;

use kessai::proto::v1;

use self::client::{Browser, field};
use crate::helpers::{TestApp, base_env, fresh_sqlite, unique_key};
use crate::security::as_caller;
use kessai::grpc::callers::token_hash;

pub(crate) const SHOP: &str = "tok_console_shop_4e8a2c6f1b9d3a57";
pub(crate) const OPS: &str = "tok_console_ops_7b1d9e3f5a2c8e46";
pub(crate) const VIEWER: &str = "tok_console_viewer_2f6c8a4e1d7b3c95";

/// Callers: the shop's checkout (no console), an operator who acts, and
/// one who only looks.
pub(crate) fn console_env() -> Vec<(String, String)> {
    let callers = serde_json::json!([
        {"name": "checkout", "token_sha256": token_hash(SHOP), "scopes": ["charge", "refund", "read"], "owner": "shop"},
        {"name": "ops", "token_sha256": token_hash(OPS), "scopes": ["console", "read", "charge", "refund", "orders:all"]},
        {"name": "viewer", "token_sha256": token_hash(VIEWER), "scopes": ["console", "read", "orders:all"]},
    ]);
    [
        ("KESSAI_AUTH", "true".to_owned()),
        ("KESSAI_CALLERS", callers.to_string()),
        ("KESSAI_CONSOLE_ADDR", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

pub(crate) async fn console_app() -> TestApp {
    let mut env = base_env(&fresh_sqlite());
    env.extend(console_env());
    TestApp::spawn_with(env).await
}

/// A PaymentOptions card order of ¥5,000 for a customer, by the shop's
/// checkout: one capture of any amount up to the total, the rest released
/// (the seeds' dashboard rule).
pub(crate) async fn card_order(
    app: &TestApp,
    email: &str,
    name: &str,
    reference: &str,
) -> v1::Order {
    let mut request = crate::paymentoptions_rules::card_request(
        app,
        &unique_key("auth"),
        5_000,
        crate::paymentoptions_rules::APPROVE,
        v1::CaptureMethod::Manual,
    );
    request.merchant_reference = reference.into();
    request.customer = Some(v1::Customer {
        email: email.into(),
        name: name.into(),
        phone: String::new(),
    });
    by_the_shop(app, request).await
}

/// The order `request` authorizes, sent by the shop's checkout.
pub(crate) async fn by_the_shop(app: &TestApp, request: v1::AuthorizeRequest) -> v1::Order {
    app.client
        .clone()
        .authorize(as_caller(SHOP, request))
        .await
        .expect("authorized")
        .into_inner()
        .order
        .expect("the order")
}

pub(crate) async fn order(app: &TestApp, id: &str) -> v1::Order {
    app.client
        .clone()
        .get_order(as_caller(
            SHOP,
            v1::GetOrderRequest {
                order_id: id.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("the order")
        .into_inner()
        .order
        .expect("the order")
}

crate::db_test! {
    env: crate::console::console_env();
    async fn an_operator_finds_an_order_captures_part_once_and_refunds_with_a_reason(app: TestApp) {
        let order = card_order(&app, "hanako.sato@example.jp", "佐藤 花子", "cart-7781").await;
        let other = card_order(&app, "jiro@example.com", "Jiro Tanaka", "cart-7782").await;
        let mut browser = Browser::new(&app);

        // Not signed in: to the sign-in page; a token without the console
        // scope, or an unknown one, is refused there.
        assert_eq!(browser.get("/orders").await.location(), Some("/sign-in"));
        assert_eq!(browser.sign_in(SHOP).await.status, 401);
        assert_eq!(browser.sign_in("tok_nobody").await.status, 401);
        let signed_in = browser.sign_in(OPS).await;
        assert_eq!(signed_in.location(), Some("/orders"));
        let cookie = signed_in.set_cookie.join("\n");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");

        // Found by e-mail and by part of the name.
        let by_email = browser.get("/orders?q=hanako.sato%40example").await;
        assert!(by_email.body.contains(&order.id) && !by_email.body.contains(&other.id));
        let by_name = browser.get(&format!("/orders?q={}", client::encode("佐藤花"))).await;
        assert!(by_name.body.contains(&order.id) && !by_name.body.contains(&other.id));
        assert!(browser.get("/orders?tab=uncaptured").await.body.contains(&order.id));

        // Capture part, with a description; the form posted twice is one capture.
        let detail = browser.get(&format!("/orders/{}", order.id)).await;
        assert_eq!(field(&detail.body, "capture-form", "amount"), "5000", "prefilled with the capturable amount");
        let form = [
            ("csrf", field(&detail.body, "capture-form", "csrf")),
            ("key", field(&detail.body, "capture-form", "key")),
            ("amount", "3,000".to_owned()),
            ("description", "one item out of stock".to_owned()),
        ];
        let path = format!("/orders/{}/capture", order.id);
        let first = browser.post(&path, &form).await;
        assert_eq!(first.location(), Some(format!("/orders/{}?done=capture", order.id).as_str()), "{}", first.body);
        let again = browser.post(&path, &form).await;
        assert_eq!(again.status, 303, "a resubmitted form answers as the first did");
        let after = order_of(&app, &order.id).await;
        assert_eq!(after.amount_captured, 3_000);
        assert_eq!(after.captures.len(), 1, "one capture for two posts");
        assert_eq!(after.captures[0].description, "one item out of stock");
        assert_eq!(after.status(), v1::OrderStatus::Captured, "PaymentOptions releases the rest");
        assert!(!browser.get("/orders?tab=uncaptured").await.body.contains(&order.id));

        // Refund with a reason.
        let detail = browser.get(&format!("/orders/{}?done=capture", order.id)).await;
        assert!(detail.body.contains(r#"id="flash""#));
        assert!(detail.body.contains("console:ops"), "the operator is the actor in the history");
        let refund = [
            ("csrf", field(&detail.body, "refund-form", "csrf")),
            ("key", field(&detail.body, "refund-form", "key")),
            ("amount", "1000".to_owned()),
            ("reason", "requested_by_customer".to_owned()),
            ("description", "returned by post".to_owned()),
        ];
        let refunded = browser.post(&format!("/orders/{}/refund", order.id), &refund).await;
        assert_eq!(refunded.status, 303, "{}", refunded.body);
        let after = order_of(&app, &order.id).await;
        assert_eq!(after.amount_refunded, 1_000);
        assert_eq!(after.refunds[0].reason(), v1::RefundReason::RequestedByCustomer);

        // Without this session's CSRF token nothing happens.
        let forged = [
            ("csrf", "0".repeat(32)),
            ("key", unique_key("forged")),
            ("amount", "500".to_owned()),
        ];
        assert_eq!(browser.post(&format!("/orders/{}/refund", order.id), &forged).await.status, 403);
        assert_eq!(order_of(&app, &order.id).await.amount_refunded, 1_000);

        // The overview counts it.
        let overview = browser.get("/overview").await;
        assert!(overview.body.contains(r#"id="chart-paymentoptions-JPY""#), "{}", overview.body);
        assert!(overview.body.contains(r#"data-captured="3000" data-refunded="1000""#), "{}", overview.body);
    }
}

async fn order_of(app: &TestApp, id: &str) -> v1::Order {
    order(app, id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_operator_sees_no_action_and_is_refused_one() {
    let app = console_app().await;
    let order = card_order(&app, "kana@example.jp", "Kana", "cart-1").await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in(VIEWER).await.status, 303);
    let detail = browser.get(&format!("/orders/{}", order.id)).await;
    assert!(detail.body.contains(r#"id="read-only""#));
    assert!(!detail.body.contains("capture-form") && !detail.body.contains("refund-form"));
    // Posting anyway, with the session's own CSRF token.
    let csrf = field(&detail.body, "sign-out-form", "csrf");
    let form = [
        ("csrf", csrf),
        ("key", unique_key("ro")),
        ("amount", "1000".to_owned()),
    ];
    let refused = browser
        .post(&format!("/orders/{}/capture", order.id), &form)
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(order_of(&app, &order.id).await.amount_captured, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named_in_the_page_and_markup_is_shown_not_run() {
    let app = console_app().await;
    let order = card_order(
        &app,
        "x@example.jp",
        "<b>bold</b>",
        "<script>alert(1)</script>",
    )
    .await;
    let mut browser = Browser::new(&app);
    browser.sign_in(OPS).await;

    let listed = browser
        .get("/orders?from=06%2F12%2F2026&provider=stripe")
        .await;
    assert_eq!(listed.status, 400);
    assert!(listed.body.contains("YYYY-MM-DD"));

    let detail = browser.get(&format!("/orders/{}", order.id)).await;
    assert!(
        !detail.body.contains("<script>alert") && detail.body.contains("&lt;script&gt;alert(1)")
    );
    assert!(!detail.body.contains("<b>bold") && detail.body.contains("&lt;b&gt;bold"));
    for (header, expected) in [
        ("content-security-policy", "default-src 'none'"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert!(
            detail
                .headers
                .get(header)
                .is_some_and(|v| v.contains(expected)),
            "{header}: {:?}",
            detail.headers.get(header)
        );
    }

    let mut form = vec![
        ("csrf", field(&detail.body, "capture-form", "csrf")),
        ("key", field(&detail.body, "capture-form", "key")),
        ("amount", "three thousand".to_owned()),
    ];
    let path = format!("/orders/{}/capture", order.id);
    let wrong = browser.post(&path, &form).await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("amount: must be a whole number"),
        "{}",
        wrong.body
    );
    form[2].1 = "9000".to_owned();
    form[1].1 = unique_key("more");
    let too_much = browser.post(&path, &form).await;
    assert_eq!(too_much.status, 409, "{}", too_much.body);
    assert!(too_much.body.contains(r#"role="alert""#));
    assert_eq!(order_of(&app, &order.id).await.amount_captured, 0);

    // Signed out, the session is gone.
    let sign_out = [("csrf", field(&detail.body, "sign-out-form", "csrf"))];
    assert_eq!(
        browser.post("/sign-out", &sign_out).await.location(),
        Some("/sign-in")
    );
    assert_eq!(browser.get("/orders").await.location(), Some("/sign-in"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_speak_the_browsers_language_until_switched() {
    let app = console_app().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(OPS).await;
    browser.language = Some("en-US,en;q=0.9".into());
    let english = browser.get("/orders").await;
    assert!(english.body.contains(r#"<html lang="en">"#) && english.body.contains("Uncaptured"));
    let switched = browser.get("/lang?to=ja&back=/orders").await;
    assert_eq!(switched.location(), Some("/orders"));
    let japanese = browser.get("/orders").await;
    assert!(japanese.body.contains(r#"<html lang="ja">"#) && japanese.body.contains("未確定"));
    // Never a redirect off the console.
    assert_eq!(
        browser
            .get("/lang?to=en&back=//evil.example")
            .await
            .location(),
        Some("/orders")
    );
}
