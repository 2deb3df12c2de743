//! The console's other actions (Void, Reconcile now) and the Uncaptured
//! tab's order: soonest expiry first, a page at a time, and the overview's
//! count of orders about to expire.

use kessai::domain::OrderStatus;
use kessai::payments::{Caller, ListOrdersCommand};
use kessai::proto::v1;

use super::client::{Browser, field};
use super::{OPS, order};
use crate::helpers::{TestApp, payjp_authorize, unique_key};

/// A PAY.JP card order (its authorization lives 7 days) by the shop.
async fn payjp_order(app: &TestApp) -> v1::Order {
    let request = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
    super::by_the_shop(app, request).await
}

crate::db_test! {
    env: crate::console::console_env();
    async fn void_and_reconcile_now_run_through_their_use_cases(app: TestApp) {
        let voided = payjp_order(&app).await;
        let mut browser = Browser::new(&app);
        browser.sign_in(OPS).await;
        let detail = browser.get(&format!("/orders/{}", voided.id)).await;
        assert!(detail.body.contains("One partial capture, then only the remainder.") || detail.body.contains("一部売上確定は1回まで"));
        let void = [
            ("csrf", field(&detail.body, "void-form", "csrf")),
            ("key", field(&detail.body, "void-form", "key")),
        ];
        let answered = browser.post(&format!("/orders/{}/void", voided.id), &void).await;
        assert_eq!(answered.location(), Some(format!("/orders/{}?done=void", voided.id).as_str()), "{}", answered.body);
        let after = order(&app, &voided.id).await;
        assert_eq!(after.status(), v1::OrderStatus::Voided);
        let page = browser.get(&format!("/orders/{}", voided.id)).await;
        assert!(!page.body.contains("void-form") && !page.body.contains("capture-form"), "nothing left to void or capture");

        let other = payjp_order(&app).await;
        let detail = browser.get(&format!("/orders/{}", other.id)).await;
        let reconcile = [("csrf", field(&detail.body, "reconcile-form", "csrf"))];
        let answered = browser.post(&format!("/orders/{}/reconcile", other.id), &reconcile).await;
        assert_eq!(answered.location(), Some(format!("/orders/{}?done=reconcile", other.id).as_str()), "{}", answered.body);
        assert_eq!(order(&app, &other.id).await.status(), v1::OrderStatus::Authorized, "the provider agrees: nothing changed");
    }
}

crate::db_test! {
    env: crate::console::console_env();
    async fn the_uncaptured_tab_pages_by_soonest_expiry_and_the_overview_counts_what_expires(app: TestApp) {
        // Three orders an hour apart: the oldest expires first.
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(payjp_order(&app).await.id);
            app.clock.advance(chrono::Duration::hours(1));
        }
        let payments = &app.payments;
        let operator = Caller::system("console-test");
        let list = |page_token: String, soonest_expiry: bool| ListOrdersCommand {
            statuses: vec![OrderStatus::Authorized, OrderStatus::PartiallyCaptured],
            page_size: 2,
            page_token,
            soonest_expiry,
            ..ListOrdersCommand::default()
        };
        let first = payments.list_orders(&operator, list(String::new(), true)).await.unwrap();
        let first_ids: Vec<String> = first.orders.iter().map(|v| v.order.id.to_string()).collect();
        assert_eq!(first_ids, ids[..2], "soonest expiry first");
        let second = payments.list_orders(&operator, list(first.next_page_token.clone(), true)).await.unwrap();
        let second_ids: Vec<String> = second.orders.iter().map(|v| v.order.id.to_string()).collect();
        assert_eq!(second_ids, ids[2..], "then the rest, once");
        assert!(second.next_page_token.is_empty());
        let newest = payments.list_orders(&operator, list(String::new(), false)).await.unwrap();
        assert_eq!(newest.orders[0].order.id.to_string(), ids[2], "the other tabs: newest first");
        assert!(
            payments.list_orders(&operator, list(first.next_page_token, false)).await.is_err(),
            "a token of one order is no token of the other"
        );

        // Almost six days on (the clock is 3 h past the first order), the
        // first two expire within 24 hours, the third just after.
        app.clock.advance(chrono::Duration::days(6) - chrono::Duration::minutes(90));
        let mut browser = Browser::new(&app);
        browser.sign_in(OPS).await;
        let overview = browser.get("/overview").await;
        let counted = overview.body.split(r#"id="expiring-count""#).nth(1).expect("the count");
        assert!(counted.contains("<strong>2</strong>"), "{counted}");
        let tab = browser.get("/orders?tab=uncaptured").await;
        let at = |id: &str| tab.body.find(id).expect("listed");
        assert!(at(&ids[0]) < at(&ids[1]) && at(&ids[1]) < at(&ids[2]), "the tab lists by expiry");
    }
}
