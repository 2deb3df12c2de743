//! Unsigned PaymentOptions notifications cannot amplify: a flood naming one
//! order costs one provider lookup at once and one at the end of the
//! interval, stores one row; an address over its rate is refused 429, and
//! with source networks configured, others are refused 403.

use std::time::Duration;

use chrono::Datelike;
use kessai::clock::Clock;
use serde_json::json;

use crate::helpers::{Backend, TestApp, base_env, card_authorize, fresh_database, unique_key};
use crate::paymentoptions_rules::APPROVE;
use crate::webhooks::post_webhook;

async fn spawn(settings: &[(&str, &str)]) -> TestApp {
    let mut env = base_env(&fresh_database(Backend::Sqlite).await);
    for (name, value) in settings {
        env.insert((*name).into(), (*value).into());
    }
    TestApp::spawn_with(env).await
}

fn hint(order_id: &str, n: usize) -> String {
    json!({
        "transaction_type": "CAPTURE",
        "merchant_details": {"merchant_txn_ref": order_id},
        "transaction_details": {"id": format!("0d7c5c1e-0000-4000-8000-{n:012}")},
    })
    .to_string()
}

/// A PaymentOptions order with kessai listening to notifications.
async fn order_with_hints(interval_ms: &str) -> (TestApp, String) {
    let app = spawn(&[
        ("KESSAI_WEBHOOK_HINT_INTERVAL_MS", interval_ms),
        ("KESSAI_WEBHOOK_HINTS_PER_SECOND", "0"),
    ])
    .await;
    let year = app.clock.now().year() + 3;
    let order = app
        .authorize(card_authorize(
            &unique_key("a"),
            2_000,
            APPROVE,
            "123",
            year,
        ))
        .await
        .unwrap();
    (app, order.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hints_about_one_order_costs_one_lookup_and_one_row() {
    // An interval no test machine outlasts: the whole flood falls in it.
    let (app, order_id) = order_with_hints("600000").await;
    let addr = app.webhook_addr.to_string();
    let seen = app.paymentoptions.requests_seen();
    let mut outcomes = std::collections::HashMap::<String, usize>::new();
    for chunk in 0..6 {
        let answers = futures::future::join_all((0..50).map(|i| {
            let (addr, body) = (addr.clone(), hint(&order_id, chunk * 50 + i));
            async move { post_webhook(&addr, "paymentoptions", &[], &body).await }
        }))
        .await;
        for answer in answers {
            assert_eq!(answer.status, 200, "{}", answer.json);
            *outcomes
                .entry(answer.json["outcome"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(outcomes.get("coalesced"), Some(&299), "{outcomes:?}");
    assert_eq!(
        app.paymentoptions.requests_seen() - seen,
        1,
        "one lookup at once"
    );
    assert_eq!(app.count("webhook_events").await, 1, "one row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_held_back_are_looked_up_once_at_the_end_of_the_interval() {
    let (app, order_id) = order_with_hints("500").await;
    let addr = app.webhook_addr.to_string();
    let seen = app.paymentoptions.requests_seen();
    for n in 0..3 {
        let answer = post_webhook(&addr, "paymentoptions", &[], &hint(&order_id, n)).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // However the three fell around the interval's end: the first looked
    // up at once, and whatever came after it within the interval folded
    // into one more lookup; never one per hint.
    let lookups = app.paymentoptions.requests_seen() - seen;
    assert!((2..=3).contains(&lookups), "{lookups} lookups");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_rate_is_refused_and_other_networks_are_not_heard() {
    // One hint at once, then one each five seconds: however slowly a busy
    // machine sends the ten, most are refused.
    let app = spawn(&[("KESSAI_WEBHOOK_HINTS_PER_SECOND", "0.2")]).await;
    let addr = app.webhook_addr.to_string();
    let statuses: Vec<u16> = futures::future::join_all((0..10).map(|n| {
        let (addr, body) = (addr.clone(), hint("ord_01JZZZZZZZZZZZZZZZZZZZZZZZ", n));
        async move {
            post_webhook(&addr, "paymentoptions", &[], &body)
                .await
                .status
        }
    }))
    .await;
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 5,
        "{statuses:?}"
    );

    let fenced = spawn(&[("KESSAI_PAYMENTOPTIONS_WEBHOOK_SOURCES", "203.0.113.0/24")]).await;
    let answer = post_webhook(
        &fenced.webhook_addr.to_string(),
        "paymentoptions",
        &[],
        &hint("ord_01JZZZZZZZZZZZZZZZZZZZZZZZ", 1),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(fenced.paymentoptions.requests_seen(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_capture_named_by_a_held_back_hint_is_still_booked() {
    use kessai::sandbox::faults::{Fault, FaultKind};
    let (app, order_id) = order_with_hints("500").await;
    let addr = app.webhook_addr.to_string();
    let order = app.get_order(&order_id, false).await.unwrap();
    app.paymentoptions
        .faults()
        .inject(Fault::new("POST", "/capture", FaultKind::DropAfterActing));
    let key = unique_key("cap");
    assert!(
        app.capture_with_key(&key, &order_id, Some(1_500), false)
            .await
            .is_err()
    );
    let ledger = app.paymentoptions.ledger();
    let capture = ledger.authorizations[0].capture_id.clone().unwrap();

    // Another order's capture, named under this order (anyone can post a
    // hint): looked up at once, and not booked, since PaymentOptions says
    // it is not this order's.
    let other = app
        .authorize(card_authorize(
            &unique_key("b"),
            3_000,
            APPROVE,
            "123",
            app.clock.now().year() + 3,
        ))
        .await
        .unwrap();
    app.capture(&other.id, Some(3_000), false).await.unwrap();
    let foreign = app
        .paymentoptions
        .ledger()
        .authorizations
        .into_iter()
        .find(|a| a.id == other.provider_order_id)
        .and_then(|a| a.capture_id)
        .unwrap();
    let named = |id: &str| {
        json!({
            "transaction_type": "CAPTURE",
            "merchant_details": {"merchant_txn_ref": order.id},
            "transaction_details": {"id": id},
        })
        .to_string()
    };
    let first = post_webhook(&addr, "paymentoptions", &[], &named(&foreign)).await;
    assert_eq!(first.status, 200, "{}", first.json);
    let stored = app.get_order(&order_id, false).await.unwrap();
    assert_eq!(stored.amount_captured, 0, "{stored:?}");

    // The genuine notification comes within the interval: held back, and
    // its transaction still settles the lost capture at the interval's end.
    let genuine = post_webhook(&addr, "paymentoptions", &[], &named(&capture)).await;
    assert_eq!(genuine.json["outcome"], "coalesced", "{}", genuine.json);
    let mut settled = stored;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        settled = app.get_order(&order_id, false).await.unwrap();
        if settled.amount_captured > 0 {
            break;
        }
    }
    assert_eq!(settled.amount_captured, 1_500, "{settled:?}");
    assert_eq!(settled.captures[0].provider_capture_id, capture);
    let replay = app
        .capture_with_key(&key, &order_id, Some(1_500), false)
        .await
        .expect("the retry replays the booked capture");
    assert_eq!(replay.amount_captured, 1_500);
}
