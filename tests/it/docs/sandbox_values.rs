//! The sandbox's test values (`docs/providers.md`, "Sandbox test values"):
//! each row of the table is tried against the simulators as a client team
//! would, and what it says — statuses, failure codes, payment methods,
//! authorization windows — must be what happens. A row no check knows, or
//! a check whose row is gone, fails the test.

use kessai::proto::v1;
use tonic::Code;

use super::repo;
use crate::helpers::{Backend, TestApp, assert_error, unique_key};
use crate::requests::{card_authorize, payjp_authorize, smartpay_token_authorize};

const DOC: &str = "docs/providers.md";
const SECTION: &str = "## Sandbox test values";

/// The rows: each check's key is text of the row's value cell, found in
/// that row only.
const KEYS: &[&str] = &[
    "`customer_id` `cus_test_kessai`",
    "`pm_test_approve`",
    "`pm_test_decline`",
    "`pm_test_3ds`",
    "`pm_test_paypay`",
    "`pm_test_unattached`",
    "no `payment_method_id`",
    "`items` + `success_url`",
    "`paytok_test_approved`",
    "`paytok_test_rejected`",
    "`5200000000001005`",
    "`4000000000000002`",
    "`4000000000009995`",
    "`4000000000000069`",
];

/// The table's rows: (value cell, whole row).
fn rows() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join(DOC)).expect(DOC);
    let start = text.find(SECTION).expect("the sandbox section");
    let section = &text[start + SECTION.len()..];
    let section = &section[..section.find("\n#").unwrap_or(section.len())];
    section
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| provider"))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            (
                cells.get(1).copied().unwrap_or_default().to_owned(),
                line.to_owned(),
            )
        })
        .collect()
}

fn redirect_url(order: &v1::Order) -> String {
    match order.next_action.as_ref().and_then(|a| a.action.clone()) {
        Some(v1::next_action::Action::RedirectUrl(url)) => url,
        other => panic!("a redirect URL: {other:?} in {order:?}"),
    }
}

/// `POST <url>/<what>`, as the row says to play the shopper.
async fn play_shopper(url: &str, what: &str) {
    let response = reqwest::Client::new()
        .post(format!("{url}/{what}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}/{what}: {e}"));
    assert!(
        response.status().is_success(),
        "POST {url}/{what}: {}",
        response.status()
    );
}

/// The status, and the failure's codes when there is one.
fn facts(order: &v1::Order) -> Vec<String> {
    let mut facts = vec![order.status().as_str_name().to_owned()];
    if let Some(failure) = &order.failure {
        facts.push(failure.code.clone());
        facts.push(failure.provider_code.clone());
    }
    facts
}

/// How many days the authorization lasts.
fn window_days(order: &v1::Order) -> i64 {
    let created = order.created_at.expect("created_at").seconds;
    let expires = order
        .expires_at
        .unwrap_or_else(|| panic!("an authorization deadline: {order:?}"))
        .seconds;
    let days = (expires - created + 3_600) / 86_400;
    assert!(days > 0, "{order:?}");
    days
}

fn authorized_with(order: &v1::Order, method: v1::PaymentMethod) -> Vec<String> {
    assert_eq!(order.status(), v1::OrderStatus::Authorized, "{order:?}");
    assert_eq!(order.payment_method(), method, "{order:?}");
    vec![
        order.status().as_str_name().to_owned(),
        method.as_str_name().to_owned(),
        format!("{}-day", window_days(order)),
    ]
}

fn smartpay_checkout(key: &str) -> v1::AuthorizeRequest {
    let mut request = smartpay_token_authorize(key, 5_000, "");
    let details = smartpay(&mut request);
    details.success_url = "https://shop.example/success".into();
    details.cancel_url = "https://shop.example/cancel".into();
    request
}

/// The PAY.JP details of `request`, to change one field.
fn payjp(request: &mut v1::AuthorizeRequest) -> &mut v1::PayjpDetails {
    match request.provider_details.as_mut() {
        Some(v1::authorize_request::ProviderDetails::Payjp(details)) => details,
        other => panic!("a PAY.JP request: {other:?}"),
    }
}

/// The Smartpay details of `request`, to change one field.
fn smartpay(request: &mut v1::AuthorizeRequest) -> &mut v1::SmartpayDetails {
    match request.provider_details.as_mut() {
        Some(v1::authorize_request::ProviderDetails::Smartpay(details)) => details,
        other => panic!("a Smartpay request: {other:?}"),
    }
}

async fn authorized(app: &TestApp, request: v1::AuthorizeRequest) -> v1::Order {
    app.authorize(request).await.expect("Authorize answers")
}

/// Tries one row; returns what happened, in the words the row must use.
async fn check(app: &TestApp, key: &str) -> Vec<String> {
    let k = |what: &str| unique_key(what);
    match key {
        "`customer_id` `cus_test_kessai`" => {
            let owned =
                authorized(app, payjp_authorize(&k("owned"), 1_000, "pm_test_approve")).await;
            assert_eq!(owned.status(), v1::OrderStatus::Authorized, "{owned:?}");
            let mut without = payjp_authorize(&k("ownerless"), 1_000, "pm_test_approve");
            payjp(&mut without).customer_id.clear();
            let status = assert_error(
                app.authorize(without).await,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            );
            assert!(status.message().contains("payjp.customer_id"), "{status:?}");
            vec!["INVALID_ARGUMENT".into(), "`payjp.customer_id`".into()]
        }
        "`pm_test_approve`" => {
            let order = authorized(
                app,
                payjp_authorize(&k("approve"), 1_000, "pm_test_approve"),
            )
            .await;
            let mut facts = authorized_with(&order, v1::PaymentMethod::Card);
            // "or any other `pm_…`"
            let other = authorized(
                app,
                payjp_authorize(&k("other"), 1_000, "pm_test_anything_else"),
            )
            .await;
            assert_eq!(authorized_with(&other, v1::PaymentMethod::Card), facts);
            let mut extended = payjp_authorize(&k("extended"), 1_000, "pm_test_approve");
            payjp(&mut extended).extended_authorization = true;
            let extended = authorized(app, extended).await;
            facts.push(format!(
                "{} with `extended_authorization`",
                window_days(&extended)
            ));
            facts
        }
        "`pm_test_decline`" => {
            let order = authorized(
                app,
                payjp_authorize(&k("decline"), 1_000, "pm_test_decline"),
            )
            .await;
            assert_eq!(order.status(), v1::OrderStatus::Declined, "{order:?}");
            let mut facts = facts(&order);
            facts.pop(); // PAY.JP's own code is not promised
            facts
        }
        "`pm_test_3ds`" => {
            let mut facts = Vec::new();
            for (shopper, status) in [
                ("complete", v1::OrderStatus::Authorized),
                ("fail", v1::OrderStatus::Declined),
            ] {
                let order = authorized(app, payjp_authorize(&k("3ds"), 4_000, "pm_test_3ds")).await;
                assert_eq!(order.status(), v1::OrderStatus::RequiresAction, "{order:?}");
                facts.push(order.status().as_str_name().to_owned());
                let url = redirect_url(&order);
                let page = reqwest::get(&url).await.expect("the 3-D Secure page");
                assert!(page.status().is_success(), "GET {url}: {}", page.status());
                play_shopper(&url, shopper).await;
                let seen = app.get_order(&order.id, true).await.expect("refresh");
                assert_eq!(seen.status(), status, "after /{shopper}: {seen:?}");
                let mut seen_facts = self::facts(&seen);
                if seen.failure.is_some() {
                    seen_facts.pop(); // PAY.JP's own code is not promised
                }
                facts.extend(seen_facts);
            }
            facts
        }
        "`pm_test_paypay`" => {
            let order =
                authorized(app, payjp_authorize(&k("paypay"), 1_000, "pm_test_paypay")).await;
            authorized_with(&order, v1::PaymentMethod::Paypay)
        }
        "`pm_test_unattached`" => {
            let mut facts = Vec::new();
            let mut stranger = payjp_authorize(&k("stranger"), 1_000, "pm_test_approve");
            payjp(&mut stranger).customer_id = "cus_someone_else".into();
            for request in [
                payjp_authorize(&k("unattached"), 1_000, "pm_test_unattached"),
                stranger,
            ] {
                let status = assert_error(
                    app.authorize(request).await,
                    Code::FailedPrecondition,
                    "PROVIDER_REJECTED",
                );
                let info =
                    tonic_types::StatusExt::get_details_error_info(&status).expect("ErrorInfo");
                let order = app
                    .get_order(&info.metadata["order_id"], false)
                    .await
                    .expect("the declined order");
                facts = vec![
                    "FAILED_PRECONDITION".to_owned(),
                    "PROVIDER_REJECTED".to_owned(),
                ];
                facts.extend(self::facts(&order));
            }
            facts
        }
        "no `payment_method_id`" => {
            let order = authorized(app, payjp_authorize(&k("front-end"), 1_000, "")).await;
            assert_eq!(order.status(), v1::OrderStatus::RequiresAction, "{order:?}");
            let Some(v1::next_action::Action::ClientSecret(secret)) =
                order.next_action.as_ref().and_then(|a| a.action.clone())
            else {
                panic!("a client secret: {order:?}");
            };
            assert!(!secret.is_empty());
            vec![
                order.status().as_str_name().to_owned(),
                "`next_action.client_secret`".to_owned(),
            ]
        }
        "`items` + `success_url`" => {
            let mut facts = Vec::new();
            for (shopper, status) in [
                ("approve", v1::OrderStatus::Authorized),
                ("reject", v1::OrderStatus::Declined),
            ] {
                let order = authorized(app, smartpay_checkout(&k("checkout"))).await;
                assert_eq!(order.status(), v1::OrderStatus::RequiresAction, "{order:?}");
                facts.push(order.status().as_str_name().to_owned());
                let url = redirect_url(&order);
                let page = reqwest::get(&url).await.expect("the checkout page");
                let html = page.text().await.expect("the page");
                assert!(
                    html.contains("Approve") && html.contains("Reject"),
                    "{html}"
                );
                play_shopper(&url, shopper).await;
                let seen = app.get_order(&order.id, true).await.expect("refresh");
                assert_eq!(seen.status(), status, "after /{shopper}: {seen:?}");
                facts.push(seen.status().as_str_name().to_owned());
                if status == v1::OrderStatus::Authorized {
                    facts.push(format!("({} days)", window_days(&seen)));
                }
            }
            facts
        }
        "`paytok_test_approved`" => {
            let order = authorized(
                app,
                smartpay_token_authorize(&k("token"), 3_000, "paytok_test_approved"),
            )
            .await;
            assert!(order.next_action.is_none(), "no checkout: {order:?}");
            // The same token without what every Smartpay order needs.
            let mut bare = smartpay_token_authorize(&k("bare"), 3_000, "paytok_test_approved");
            {
                let d = smartpay(&mut bare);
                d.items.clear();
                d.customer = None;
                d.shipping = None;
            }
            let status = assert_error(
                app.authorize(bare).await,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
            );
            for field in ["smartpay.items", "smartpay.customer", "smartpay.shipping"] {
                assert!(status.message().contains(field), "{field}: {status:?}");
            }
            // The row must say what the token needs beside it.
            let mut facts = authorized_with(&order, v1::PaymentMethod::Bnpl);
            facts.extend(["`items`", "`customer`", "`shipping.address`"].map(String::from));
            facts
        }
        "`paytok_test_rejected`" => {
            let order = authorized(
                app,
                smartpay_token_authorize(&k("rejected"), 3_000, "paytok_test_rejected"),
            )
            .await;
            assert_eq!(order.status(), v1::OrderStatus::Declined, "{order:?}");
            facts(&order)
        }
        "`5200000000001005`" => {
            let order = authorized(
                app,
                card_authorize(&k("card"), 8_000, "5200000000001005", "123", 2035),
            )
            .await;
            assert_eq!(order.status(), v1::OrderStatus::Authorized, "{order:?}");
            assert_eq!(
                order.capture_method(),
                v1::CaptureMethod::Manual,
                "the default: {order:?}"
            );
            assert_eq!(
                (order.amount_captured, order.amount_capturable),
                (0, 8_000),
                "{order:?}"
            );
            let captured = app
                .capture(&order.id, None, false)
                .await
                .expect("Capture takes it");
            assert_eq!(captured.status(), v1::OrderStatus::Captured, "{captured:?}");
            let mut sale = card_authorize(&k("sale"), 2_000, "5200000000001005", "456", 2031);
            sale.capture_method = v1::CaptureMethod::Automatic.into();
            let sale = authorized(app, sale).await;
            assert_eq!(sale.status(), v1::OrderStatus::Captured, "a sale: {sale:?}");
            assert_eq!(sale.amount_captured, 2_000, "{sale:?}");
            vec![
                order.status().as_str_name().to_owned(),
                "`capture_method` unset is `CAPTURE_METHOD_MANUAL`".to_owned(),
                "`CAPTURE_METHOD_AUTOMATIC`".to_owned(),
                format!("`{}` at once", sale.status().as_str_name()),
            ]
        }
        "`4000000000000002`" | "`4000000000009995`" | "`4000000000000069`" => {
            let number = key.trim_matches('`');
            let order = authorized(
                app,
                card_authorize(&k("declined"), 1_000, number, "123", 2035),
            )
            .await;
            assert_eq!(order.status(), v1::OrderStatus::Declined, "{order:?}");
            facts(&order)
        }
        other => panic!("no check for the row {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sandbox_test_value_does_what_its_row_says() {
    let rows = rows();
    for (value, row) in &rows {
        let keys: Vec<&&str> = KEYS.iter().filter(|key| value.contains(**key)).collect();
        assert_eq!(
            keys.len(),
            1,
            "the row {row:?} is checked by exactly one check: {keys:?}"
        );
    }
    for key in KEYS {
        assert!(
            rows.iter().any(|(value, _)| value.contains(key)),
            "no row for the check {key:?}"
        );
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (value, row) in &rows {
        let key = KEYS
            .iter()
            .find(|key| value.contains(**key))
            .expect("a key");
        for fact in check(&app, key).await {
            assert!(row.contains(&fact), "the row {row:?} should say {fact:?}");
        }
    }
}
