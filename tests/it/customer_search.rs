//! The customer on every order: given at Authorize, kept as given, shown in
//! `Order`, stored normalised for matching, and found by ListOrders'
//! `customer_email`, `customer_name` and `query`, on both databases.

use kessai::proto::v1;
use tonic::Code;
use tonic_types::StatusExt;

use crate::db_test;
use crate::helpers::{
    TestApp, assert_error, payjp_authorize, smartpay_token_authorize, unique_key,
};

pub fn customer(email: &str, name: &str, phone: &str) -> Option<v1::Customer> {
    Some(v1::Customer {
        email: email.into(),
        name: name.into(),
        phone: phone.into(),
    })
}

/// A PAY.JP order for `customer` with `reference`.
pub async fn order_for(
    app: &TestApp,
    customer: Option<v1::Customer>,
    reference: &str,
) -> v1::Order {
    let mut request = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
    request.customer = customer;
    request.merchant_reference = reference.into();
    app.authorize(request).await.expect("authorized")
}

/// The ids ListOrders answers `request` with, newest first.
pub async fn found(app: &TestApp, request: v1::ListOrdersRequest) -> Vec<String> {
    app.client
        .clone()
        .list_orders(request)
        .await
        .expect("listed")
        .into_inner()
        .orders
        .into_iter()
        .map(|o| o.id)
        .collect()
}

/// Every order `request` lists, page by page (200 a page).
async fn every_page(app: &TestApp, request: v1::ListOrdersRequest) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let next = v1::ListOrdersRequest {
            page_size: 200,
            page_token: token,
            ..request.clone()
        };
        let page = app.client.clone().list_orders(next).await.unwrap();
        let page = page.into_inner();
        ids.extend(page.orders.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
}

fn by_email(text: &str) -> v1::ListOrdersRequest {
    v1::ListOrdersRequest {
        customer_email: text.into(),
        ..Default::default()
    }
}

fn by_name(text: &str) -> v1::ListOrdersRequest {
    v1::ListOrdersRequest {
        customer_name: text.into(),
        ..Default::default()
    }
}

fn by_query(text: &str) -> v1::ListOrdersRequest {
    v1::ListOrdersRequest {
        query: text.into(),
        ..Default::default()
    }
}

/// One row's stored customer columns.
async fn stored(app: &TestApp, order_id: &str) -> [Option<String>; 6] {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT customer_email, customer_name, customer_phone, customer_email_norm, customer_name_norm, search_text FROM orders WHERE id = $1"
        }
        _ => {
            "SELECT customer_email, customer_name, customer_phone, customer_email_norm, customer_name_norm, search_text FROM orders WHERE id = ?"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [order_id.into()],
        ))
        .await
        .unwrap()
        .expect("the order's row");
    [
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_email_norm",
        "customer_name_norm",
        "search_text",
    ]
    .map(|c| row.try_get::<Option<String>>("", c).unwrap())
}

db_test! {
    async fn the_customer_is_kept_as_given_shown_everywhere_and_stored_normalised(app: TestApp) {
        let order = order_for(&app, customer(" Taro.Yamada@Example.JP ", " 山田 太郎 ", "+81 90-1234-5678"), "Cart 1001").await;
        let expected = customer("Taro.Yamada@Example.JP", "山田 太郎", "+81 90-1234-5678");
        assert_eq!(order.customer, expected, "Authorize answers with it");
        assert_eq!(app.get_order(&order.id, false).await.unwrap().customer, expected);
        let listed = app.client.clone().list_orders(v1::ListOrdersRequest::default()).await.unwrap().into_inner();
        assert_eq!(listed.orders[0].customer, expected);

        let [email, name, phone, email_norm, name_norm, search_text] = stored(&app, &order.id).await;
        assert_eq!(email.as_deref(), Some("Taro.Yamada@Example.JP"));
        assert_eq!(name.as_deref(), Some("山田 太郎"));
        assert_eq!(phone.as_deref(), Some("+81 90-1234-5678"));
        assert_eq!(email_norm.as_deref(), Some("taro.yamada@example.jp"), "trimmed, lower-cased");
        assert_eq!(name_norm.as_deref(), Some("山田太郎"), "no spaces");
        assert_eq!(
            search_text.unwrap(),
            format!("{}\u{1f}cart1001\u{1f}taro.yamada@example.jp\u{1f}山田太郎", order.id.to_lowercase())
        );

        // Without one: none shown, none stored.
        let plain = order_for(&app, None, "").await;
        assert_eq!(plain.customer, None);
        assert_eq!(app.get_order(&plain.id, false).await.unwrap().customer, None);
        let [email, _, _, email_norm, name_norm, _] = stored(&app, &plain.id).await;
        assert_eq!((email, email_norm, name_norm), (None, None, None));
        // An empty message is no customer either.
        let empty = order_for(&app, customer("", " ", ""), "").await;
        assert_eq!(empty.customer, None);
    }
}

db_test! {
    async fn each_filter_finds_its_orders_and_every_filter_given_must_match(app: TestApp) {
        let a = order_for(&app, customer(" Taro.Yamada@Example.JP ", "山田 太郎", "+81 90-1234-5678"), "cart-1001").await;
        let b = order_for(&app, customer("hanako.sato@example.jp", "Sato Hanako", ""), "cart-1002").await;
        let c = order_for(&app, customer("taro@shop.example", "ＴＡＲＯ　ＳＵＺＵＫＩ", ""), "50%_off").await;
        let d = order_for(&app, None, "cart-1004").await;
        let ids = |orders: &[&v1::Order]| orders.iter().map(|o| o.id.clone()).collect::<Vec<_>>();

        // customer_email: part of it, any case.
        assert_eq!(found(&app, by_email("YAMADA@")).await, ids(&[&a]));
        assert_eq!(found(&app, by_email("example.jp")).await, ids(&[&b, &a]));
        assert_eq!(found(&app, by_email("taro")).await, ids(&[&c, &a]));
        assert_eq!(found(&app, by_email("taro.yamada@example.jp")).await, ids(&[&a]));
        assert_eq!(found(&app, by_email("nobody@")).await, Vec::<String>::new());
        // customer_name: part of it, any case, width or spacing; names are not e-mails.
        assert_eq!(found(&app, by_name("山田")).await, ids(&[&a]));
        assert_eq!(found(&app, by_name("山田太郎")).await, ids(&[&a]));
        assert_eq!(found(&app, by_name("taro suzuki")).await, ids(&[&c]));
        assert_eq!(found(&app, by_name("HANAKO")).await, ids(&[&b]));
        assert_eq!(found(&app, by_name("example")).await, Vec::<String>::new());
        assert_eq!(found(&app, by_email("hanako")).await, ids(&[&b]));
        // query: id, merchant reference, e-mail, name; the whole provider order id.
        assert_eq!(found(&app, by_query(&a.id[4..20].to_lowercase())).await, ids(&[&a]));
        assert_eq!(found(&app, by_query(&b.id)).await, ids(&[&b]));
        assert_eq!(found(&app, by_query("CART-100")).await, ids(&[&d, &b, &a]));
        assert_eq!(found(&app, by_query("sato")).await, ids(&[&b]));
        assert_eq!(found(&app, by_query("taro")).await, ids(&[&c, &a]));
        assert!(!a.provider_order_id.is_empty());
        assert_eq!(found(&app, by_query(&a.provider_order_id.to_uppercase())).await, ids(&[&a]));
        assert_eq!(found(&app, by_query(&a.provider_order_id[..a.provider_order_id.len() - 2])).await, Vec::<String>::new());
        // Wildcards are text: % and _ match only themselves.
        assert_eq!(found(&app, by_query("%")).await, ids(&[&c]));
        assert_eq!(found(&app, by_query("50%_")).await, ids(&[&c]));
        assert_eq!(found(&app, by_query("cart_100")).await, Vec::<String>::new());
        assert_eq!(found(&app, by_query("*")).await, Vec::<String>::new());
        // Every filter given must match, the old filters too.
        let both = v1::ListOrdersRequest { customer_email: "taro".into(), customer_name: "山田".into(), ..Default::default() };
        assert_eq!(found(&app, both).await, ids(&[&a]));
        let none = v1::ListOrdersRequest { customer_email: "sato".into(), query: "cart-1001".into(), ..Default::default() };
        assert_eq!(found(&app, none).await, Vec::<String>::new());
        app.capture(&b.id, None, true).await.unwrap();
        let captured = v1::ListOrdersRequest { statuses: vec![v1::OrderStatus::Captured as i32], customer_email: "example.jp".into(), ..Default::default() };
        assert_eq!(found(&app, captured).await, ids(&[&b]));
        let referenced = v1::ListOrdersRequest { merchant_reference: "cart-1001".into(), query: "taro".into(), ..Default::default() };
        assert_eq!(found(&app, referenced).await, ids(&[&a]));
    }
}

db_test! {
    async fn search_pages_are_keyset_pages_bound_to_their_filters(app: TestApp) {
        let mut mine = Vec::new();
        for n in 0..5 {
            mine.push(order_for(&app, customer(&format!("shopper{n}@pages.example"), "", ""), "").await.id);
            order_for(&app, customer(&format!("other{n}@elsewhere.example"), "", ""), "").await;
        }
        mine.reverse();
        let mut client = app.client.clone();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = client.list_orders(v1::ListOrdersRequest { customer_email: "@pages.".into(), page_size: 2, page_token: token.clone(), ..Default::default() }).await.unwrap().into_inner();
            seen.extend(page.orders.into_iter().map(|o| o.id));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
            // The token opens this listing only: another e-mail, name or query refuses it.
            for other in [
                v1::ListOrdersRequest { customer_email: "@elsewhere.".into(), page_size: 2, page_token: token.clone(), ..Default::default() },
                v1::ListOrdersRequest { customer_email: "@pages.".into(), customer_name: "x".into(), page_size: 2, page_token: token.clone(), ..Default::default() },
                v1::ListOrdersRequest { customer_email: "@pages.".into(), query: "x".into(), page_size: 2, page_token: token.clone(), ..Default::default() },
                v1::ListOrdersRequest { page_size: 2, page_token: token.clone(), ..Default::default() },
            ] {
                assert_error(client.list_orders(other).await, Code::InvalidArgument, "INVALID_PAGE_TOKEN");
            }
            // The same filters however spelt: it is what they match that is bound.
            let respelt = v1::ListOrdersRequest { customer_email: " @PAGES. ".into(), page_size: 2, page_token: token.clone(), ..Default::default() };
            client.list_orders(respelt).await.expect("the same filter in other case");
        }
        assert_eq!(seen, mine, "every matching order once, newest first");
    }
}

db_test! {
    async fn bad_filters_are_refused_naming_the_field_and_never_quoting_it(app: TestApp) {
        let mut client = app.client.clone();
        let long = format!("secret-{}", "x".repeat(300));
        for (request, field) in [
            (by_email(&long), "customer_email"),
            (by_name(&long), "customer_name"),
            (by_query(&long), "query"),
            (by_email("a\u{0}b"), "customer_email"),
            (by_name("   "), "customer_name"),
            (by_query("tab\there"), "query"),
        ] {
            let status = assert_error(client.list_orders(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
            let violations = status.get_details_bad_request().expect("BadRequest").field_violations;
            assert_eq!(violations[0].field, field, "{status:?}");
            assert!(!status.message().contains("secret-") && !violations[0].description.contains("secret-"), "{status:?}");
        }
        // All three named at once.
        let all = v1::ListOrdersRequest { customer_email: long.clone(), customer_name: long.clone(), query: long.clone(), ..Default::default() };
        let status = assert_error(client.list_orders(all).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations.len(), 3);

        // Authorize's customer too, without writing anything.
        for (bad, field) in [
            (customer("not-an-address", "", ""), "customer.email"),
            (customer("", &"名".repeat(256), ""), "customer.name"),
            (customer("", "", "call me maybe"), "customer.phone"),
        ] {
            let mut request = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
            request.customer = bad;
            let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
            assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
            assert!(!status.message().contains("not-an-address") && !status.message().contains("call me"), "{status:?}");
        }
        assert_eq!(app.count("orders").await, 0);
    }
}

db_test! {
    async fn a_retry_with_another_customer_is_another_request(app: TestApp) {
        let key = unique_key("auth");
        let mut request = payjp_authorize(&key, 2_000, "pm_test_approve");
        request.customer = customer("hanako@example.jp", "", "");
        let first = app.authorize(request.clone()).await.unwrap();
        assert_eq!(app.authorize(request.clone()).await.unwrap().id, first.id, "the same request replays");
        request.customer = customer("someone.else@example.jp", "", "");
        assert_error(app.authorize(request).await, Code::AlreadyExists, "IDEMPOTENCY_KEY_REUSED");
    }
}

/// What kessai last sent Smartpay as the shopper (`customerInfo` of the
/// newest token order).
fn customer_info(app: &TestApp) -> serde_json::Value {
    app.sandbox()
        .received()
        .exchanges()
        .into_iter()
        .rev()
        .find(|e| e.method == "POST" && e.path == "/smartpay/v1/orders")
        .and_then(|e| e.request)
        .expect("a token order was sent")["customerInfo"]
        .clone()
}

fn smartpay_customer_of(request: &mut v1::AuthorizeRequest) -> &mut Option<v1::SmartpayCustomer> {
    match request.provider_details.as_mut() {
        Some(v1::authorize_request::ProviderDetails::Smartpay(d)) => &mut d.customer,
        other => panic!("a Smartpay request, got {other:?}"),
    }
}

db_test! {
    async fn smartpay_is_told_the_customer_where_its_own_details_leave_a_field_unset(app: TestApp) {
        use serde_json::json;
        // Only the order's customer: it stands in for Smartpay's.
        let mut request = smartpay_token_authorize(&unique_key("sp"), 3_000, "paytok_test_approved");
        *smartpay_customer_of(&mut request) = None;
        request.customer = customer("hanako@example.jp", "佐藤 花子", "090-1234-5678");
        let order = app.authorize(request).await.unwrap();
        assert_eq!(order.customer, customer("hanako@example.jp", "佐藤 花子", "090-1234-5678"));
        assert_eq!(
            customer_info(&app),
            json!({"emailAddress": "hanako@example.jp", "lastName": "佐藤 花子", "phoneNumber": "090-1234-5678"})
        );

        // Smartpay's own fields stay; what they leave empty is filled.
        let mut request = smartpay_token_authorize(&unique_key("sp"), 3_000, "paytok_test_approved");
        *smartpay_customer_of(&mut request) = Some(v1::SmartpayCustomer {
            email: "own@example.jp".into(),
            first_name: "太郎".into(),
            last_name: "山田".into(),
            ..Default::default()
        });
        request.customer = customer("other@example.jp", "Someone Else", "03-1234-5678");
        app.authorize(request).await.unwrap();
        assert_eq!(
            customer_info(&app),
            json!({"emailAddress": "own@example.jp", "firstName": "太郎", "lastName": "山田", "phoneNumber": "03-1234-5678"})
        );
        // A first name alone keeps the whole name out of the last name.
        let mut request = smartpay_token_authorize(&unique_key("sp"), 3_000, "paytok_test_approved");
        *smartpay_customer_of(&mut request) = Some(v1::SmartpayCustomer { first_name: "太郎".into(), ..Default::default() });
        request.customer = customer("", "山田 太郎", "");
        app.authorize(request).await.unwrap();
        assert_eq!(customer_info(&app), json!({"firstName": "太郎"}));

        // Neither: Smartpay's required customerInfo is missing.
        let mut request = smartpay_token_authorize(&unique_key("sp"), 3_000, "paytok_test_approved");
        *smartpay_customer_of(&mut request) = None;
        let status = assert_error(app.authorize(request).await, Code::InvalidArgument, "INVALID_ARGUMENT");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "smartpay.customer");
    }
}

/// `count` copies of an authorized order, inserted straight into the store
/// (faster than as many Authorize calls), customer `n` for copy `n`; their
/// numbers and ids.
async fn copies(
    app: &TestApp,
    count: u32,
    customer: impl Fn(u32) -> kessai::domain::Customer,
) -> Vec<(u32, String)> {
    use kessai::domain::OrderId;
    let template = app.authorized_payjp(1_000).await;
    let tx = app.store.begin().await.unwrap();
    let template = tx
        .lock_order(&OrderId::parse(&template.id, "id").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut made = Vec::new();
    for n in 0..count {
        let mut order = template.clone();
        order.id = OrderId::generate();
        order.provider_order_id = Some(format!("pi_copy_{n}"));
        order.customer = Some(customer(n));
        tx.insert_order(&order).await.unwrap();
        made.push((n, order.id.to_string()));
    }
    tx.commit().await.unwrap();
    made
}

/// The ids of the copies `keep` keeps, newest first.
fn newest_first(made: &[(u32, String)], keep: impl Fn(u32) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = made
        .iter()
        .filter(|(n, _)| keep(*n))
        .map(|(_, id)| id.clone())
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

db_test! {
    async fn a_common_term_and_a_rare_one_answer_alike_whichever_index_reads_them(app: TestApp) {
        use kessai::domain::Customer;
        // More orders sharing a term than SQLite's search reads through its
        // index (kessai::store FTS_CANDIDATES): that term walks, the rarer ones do not.
        let made = copies(&app, 1_100, |n| Customer { email: Some(format!("buyer{n}@dense.example")), name: Some(format!("Common Name {n}")), phone: None }).await;
        let all_pages = |request| every_page(&app, request);
        assert_eq!(all_pages(by_email("@DENSE.example")).await, newest_first(&made, |_| true), "every one, walking");
        assert_eq!(found(&app, by_email("buyer1099@")).await, newest_first(&made, |n| n == 1099));
        let tens = |n: u32| n == 10 || (100..110).contains(&n) || (1000..1100).contains(&n);
        assert_eq!(all_pages(by_query("common name 10")).await, newest_first(&made, tens), "111, through the index");
        assert_eq!(all_pages(by_name("COMMON")).await, newest_first(&made, |_| true));
        assert_eq!(found(&app, by_query("PI_COPY_77")).await, newest_first(&made, |n| n == 77));
    }
}

db_test! {
    async fn an_address_finds_every_e_mail_whose_local_part_ends_with_its_own(app: TestApp) {
        use kessai::domain::Customer;
        // More orders share the end of a local part than SQLite's address
        // search reads through its index (kessai::store FTS_CANDIDATES):
        // such a term walks, a rarer one reads its candidates.
        let made = copies(&app, 350, |n| {
            let local = if n % 2 == 0 { "hakana" } else { "kakana" };
            let domain = if n < 340 { "mail.example" } else { "shop.example" };
            Customer { email: Some(format!("{local}@{domain}")), name: None, phone: None }
        })
        .await;
        let newest_first = |keep: &dyn Fn(u32) -> bool| newest_first(&made, keep);
        assert_eq!(every_page(&app, by_email("KANA@shop")).await, newest_first(&|n| n >= 340), "350 candidates: walks");
        assert_eq!(every_page(&app, by_email("hakana@shop.example")).await, newest_first(&|n| n >= 340 && n % 2 == 0), "175 candidates");
        assert_eq!(every_page(&app, by_email("akana@mail.")).await, newest_first(&|n| n < 340));
        assert_eq!(found(&app, by_email("xhakana@")).await, Vec::<String>::new());
        // A full-width ＠ folds to a second @: that address is a candidate
        // for every address search, and found by the part after either.
        let odd = order_for(&app, customer("Ｘ＠y@weird.example", "", ""), "cart-odd").await;
        assert_eq!(found(&app, by_email("y@weird")).await, vec![odd.id.clone()]);
        assert_eq!(found(&app, by_email("x@y@weird.example")).await, vec![odd.id.clone()]);
        assert_eq!(found(&app, by_email("x@y")).await, vec![odd.id]);
    }
}

/// Orders already there when the address index is made (its migration
/// undone, which drops the column, and applied again) are filled in and
/// found through it.
#[tokio::test]
async fn orders_there_before_the_address_index_are_found_through_it() {
    use kessai_migrations::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let before = order_for(&app, customer("Hanako.Sato@Example.jp", "", ""), "cart-old").await;
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .unwrap();
    // Undone back to before the address index, whatever came after it.
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let index = names
        .iter()
        .position(|name| name == "m20261217_000007_sqlite_search_indexes")
        .unwrap();
    Migrator::down(&db, Some((names.len() - index) as u32))
        .await
        .unwrap();
    let gone = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT customer_email_local_rev FROM orders",
        ))
        .await;
    assert!(
        gone.is_err(),
        "the column is dropped with its migration: {gone:?}"
    );
    Migrator::up(&db, None).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT customer_email_local_rev AS r FROM orders WHERE id = ?",
            [before.id.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<String>("", "r").unwrap(), "otas.okanah");
    let after = order_for(&app, customer("ko.sato@example.jp", "", ""), "cart-new").await;
    assert_eq!(
        found(&app, by_email("sato@example")).await,
        vec![after.id, before.id]
    );
}
