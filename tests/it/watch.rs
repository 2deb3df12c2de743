//! WatchOrderEvents: the history after a cursor, then every new event, each
//! exactly once and in order, whichever replica or transaction wrote it.

use std::collections::HashMap;
use std::time::Duration;

use kessai::domain::{OrderId, OrderStatus as DomainStatus};
use kessai::grpc::callers::token_hash;
use kessai::proto::v1;
use kessai::proto::v1::OrderStatus;
use kessai::store::{EventAmounts, NewEvent};
use rand::Rng;
use tonic::{Code, Request, Streaming};

use crate::db_test;
use crate::helpers::{TestApp, assert_error, base_env, payjp_authorize, unique_key};

async fn watch(
    app: &TestApp,
    request: v1::WatchOrderEventsRequest,
) -> Streaming<v1::WatchOrderEventsResponse> {
    app.client
        .clone()
        .watch_order_events(request)
        .await
        .expect("the watch starts")
        .into_inner()
}

fn of_order(order_id: &str, after_cursor: &str) -> v1::WatchOrderEventsRequest {
    v1::WatchOrderEventsRequest {
        after_cursor: after_cursor.into(),
        order_id: order_id.into(),
        ..Default::default()
    }
}

/// The next event, or `None` if none comes within `wait`.
async fn next(
    stream: &mut Streaming<v1::WatchOrderEventsResponse>,
    wait: Duration,
) -> Option<v1::OrderEvent> {
    match tokio::time::timeout(wait, stream.message()).await {
        Ok(Ok(Some(response))) => Some(response.event.expect("an event")),
        Ok(Ok(None)) => panic!("the stream ended"),
        Ok(Err(status)) => panic!("the stream failed: {status:?}"),
        Err(_) => None,
    }
}

/// Events until one satisfies `done` (at most 10 s).
async fn until(
    stream: &mut Streaming<v1::WatchOrderEventsResponse>,
    done: impl Fn(&v1::OrderEvent) -> bool,
) -> Vec<v1::OrderEvent> {
    let mut seen = Vec::new();
    while let Some(event) = next(stream, Duration::from_secs(10)).await {
        let finished = done(&event);
        seen.push(event);
        if finished {
            return seen;
        }
    }
    panic!("the event never came; saw {seen:?}");
}

fn cursors(events: &[v1::OrderEvent]) -> Vec<i64> {
    events.iter().map(|e| e.cursor.parse().unwrap()).collect()
}

async fn stored_ids(app: &TestApp, order_id: &str) -> Vec<i64> {
    app.store
        .events(&OrderId::from_trusted(order_id.to_owned()))
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect()
}

db_test! {
    async fn a_watcher_sees_the_history_then_each_change_and_resumes_exactly_after_its_cursor(app: TestApp) {
        let order = app.authorized_payjp(8_000).await;
        let mut stream = watch(&app, of_order(&order.id, "")).await;
        let history = until(&mut stream, |e| e.event_type == "authorization.succeeded").await;
        assert_eq!(cursors(&history), stored_ids(&app, &order.id).await, "the whole history, in order");
        let first = &history[0];
        assert_eq!((first.event_type.as_str(), first.status()), ("authorization.requested", OrderStatus::Pending));
        assert_eq!(first.provider(), v1::Provider::Payjp);
        assert_eq!((first.currency.as_str(), first.amount), ("JPY", 8_000));
        let last = history.last().unwrap();
        assert_eq!(last.status(), OrderStatus::Authorized);
        let amounts = last.amounts.expect("amounts");
        assert_eq!((amounts.amount_authorized, amounts.amount_capturable), (8_000, 8_000));

        // A change made now arrives on the open stream.
        app.capture(&order.id, Some(3_000), false).await.unwrap();
        let capture = until(&mut stream, |e| e.event_type == "capture.succeeded").await;
        let done = capture.last().unwrap();
        assert_eq!(done.status(), OrderStatus::PartiallyCaptured);
        let amounts = done.amounts.unwrap();
        assert_eq!((amounts.amount_captured, amounts.amount_capturable), (3_000, 5_000));
        assert_eq!(done.actor, "anonymous");

        // Resuming after any cursor gives exactly what came after it.
        let all = stored_ids(&app, &order.id).await;
        let resume_after = history[1].cursor.clone();
        let mut resumed = watch(&app, of_order(&order.id, &resume_after)).await;
        let expected: Vec<i64> = all.into_iter().filter(|id| *id > resume_after.parse().unwrap()).collect();
        let mut again = Vec::new();
        while again.len() < expected.len() {
            again.push(next(&mut resumed, Duration::from_secs(10)).await.expect("an event"));
        }
        assert_eq!(cursors(&again), expected);
        assert!(next(&mut resumed, Duration::from_millis(600)).await.is_none(), "nothing more");
        assert!(next(&mut stream, Duration::from_millis(600)).await.is_none(), "nothing twice");
    }
}

db_test! {
    async fn filters_select_the_events_and_bad_requests_are_refused(app: TestApp) {
        let payjp = app.authorized_payjp(5_000).await;
        let smartpay = app
            .authorize(v1::AuthorizeRequest {
                idempotency_key: unique_key("auth"),
                amount: 3_000,
                currency: "JPY".into(),
                provider_details: Some(v1::authorize_request::ProviderDetails::Smartpay(v1::SmartpayDetails {
                    token: "paytok_test_approved".into(),
                    items: vec![v1::SmartpayItem { name: "定期便".into(), amount: 3_000, quantity: 1, ..Default::default() }],
                    customer: crate::helpers::smartpay_customer(), shipping: crate::helpers::smartpay_shipping(), ..Default::default()
                })),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut only_smartpay = watch(&app, v1::WatchOrderEventsRequest {
            provider: v1::Provider::Smartpay as i32,
            ..Default::default()
        })
        .await;
        let seen = until(&mut only_smartpay, |e| e.status() == OrderStatus::Authorized).await;
        assert!(seen.iter().all(|e| e.order_id == smartpay.id), "{seen:?}");
        assert_eq!(cursors(&seen), stored_ids(&app, &smartpay.id).await);
        let mut everything = watch(&app, v1::WatchOrderEventsRequest::default()).await;
        let seen = until(&mut everything, |e| e.order_id == smartpay.id && e.status() == OrderStatus::Authorized).await;
        let mut expected = stored_ids(&app, &payjp.id).await;
        expected.extend(stored_ids(&app, &smartpay.id).await);
        expected.sort();
        assert_eq!(cursors(&seen), expected);

        for (request, reason) in [
            (of_order("", "not-a-cursor"), "INVALID_CURSOR"),
            (of_order("", "-5"), "INVALID_CURSOR"),
            (of_order("ord_nonsense", ""), "INVALID_ORDER_ID"),
        ] {
            assert_error(app.client.clone().watch_order_events(request).await, Code::InvalidArgument, reason);
        }
        let unknown = of_order(&kessai::domain::OrderId::generate().to_string(), "");
        assert_error(app.client.clone().watch_order_events(unknown).await, Code::NotFound, "ORDER_NOT_FOUND");
    }
}

db_test! {
    async fn a_watcher_on_one_replica_sees_changes_made_on_another(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        let replica = app.replica().await;
        let mut stream = watch(&app, of_order(&order.id, "")).await;
        until(&mut stream, |e| e.event_type == "authorization.succeeded").await;
        replica
            .client
            .clone()
            .capture(v1::CaptureRequest {
                idempotency_key: unique_key("cap"),
                order_id: order.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let seen = until(&mut stream, |e| e.event_type == "capture.succeeded").await;
        assert_eq!(seen.last().unwrap().status(), OrderStatus::Captured);
    }
}

db_test! {
    async fn a_stream_ends_with_unavailable_when_kessai_shuts_down(app: TestApp) {
        let order = app.authorized_payjp(5_000).await;
        let mut stream = watch(&app, of_order(&order.id, "")).await;
        until(&mut stream, |e| e.event_type == "authorization.succeeded").await;
        app.shutdown_token().cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .expect("the stream ends at shutdown");
        let status = end.expect_err("UNAVAILABLE");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
}

/// The newest event's id.
pub(crate) async fn latest_event(app: &TestApp) -> i64 {
    let all = app
        .store
        .events_after(0, &Default::default(), 100_000)
        .await
        .unwrap();
    all.events.last().map_or(0, |e| e.id)
}

/// An event appended directly, as every use case appends them.
pub(crate) fn event_of(order_id: &OrderId) -> NewEvent {
    NewEvent {
        order_id: order_id.clone(),
        event_type: "capture.requested",
        actor: "ordering-test".into(),
        status: DomainStatus::Authorized,
        amounts: EventAmounts {
            authorized: 1,
            captured: 0,
            refunded: 0,
            capturable: 1,
        },
        data: serde_json::json!({}),
    }
}

/// Two orders and a stream from after their events.
struct HeldEvent {
    first: v1::Order,
    second: v1::Order,
    start: i64,
    stream: Streaming<v1::WatchOrderEventsResponse>,
}

/// [`HeldEvent`], and the transaction still open whose event for the
/// first order has taken its number.
async fn an_event_numbered_but_not_committed(app: &TestApp) -> (HeldEvent, kessai::store::Tx) {
    let first = app.authorized_payjp(1_000).await;
    let second = app.authorized_payjp(1_000).await;
    let start = *stored_ids(app, &second.id).await.last().unwrap();
    let stream = watch(
        app,
        v1::WatchOrderEventsRequest {
            after_cursor: start.to_string(),
            ..Default::default()
        },
    )
    .await;
    let first_id = OrderId::from_trusted(first.id.clone());
    let slow = app.store.begin().await.unwrap();
    slow.lock_order(&first_id).await.unwrap().unwrap();
    slow.append_event(&event_of(&first_id), chrono::Utc::now())
        .await
        .unwrap();
    // A read sends the writes the transaction held back: the event takes
    // its number now, not at the commit.
    slow.captures(&first_id).await.unwrap();
    (
        HeldEvent {
            first,
            second,
            start,
            stream,
        },
        slow,
    )
}

/// Commits an event for `order` in a transaction of its own: it takes the
/// next number after the held one.
async fn commit_an_event(app: &TestApp, order: &v1::Order) {
    let id = OrderId::from_trusted(order.id.clone());
    let fast = app.store.begin().await.unwrap();
    fast.lock_order(&id).await.unwrap().unwrap();
    fast.append_event(&event_of(&id), chrono::Utc::now())
        .await
        .unwrap();
    fast.commit().await.unwrap();
}

/// The held event and the later one, in number order, once the held one
/// commits.
async fn both_in_order(held: &mut HeldEvent) -> [v1::OrderEvent; 2] {
    let a = next(&mut held.stream, Duration::from_secs(5))
        .await
        .expect("the earlier event");
    let b = next(&mut held.stream, Duration::from_secs(5))
        .await
        .expect("the later event");
    assert_eq!(
        (a.order_id.as_str(), b.order_id.as_str()),
        (held.first.id.as_str(), held.second.id.as_str())
    );
    assert_eq!(
        cursors(&[a.clone(), b.clone()]),
        [held.start + 1, held.start + 2]
    );
    [a, b]
}

db_test! {
    async fn an_event_committed_after_a_later_numbered_one_is_still_delivered_once(app: TestApp) {
        if app.store.backend() != sea_orm::DatabaseBackend::Postgres {
            // SQLite has one writer: events commit in the order they are numbered.
            return;
        }
        let (mut held, slow) = an_event_numbered_but_not_committed(&app).await;
        commit_an_event(&app, &held.second).await;
        // The later number is visible, but the earlier one may still come.
        assert!(next(&mut held.stream, Duration::from_millis(1_000)).await.is_none(), "held back while an earlier number may commit");
        slow.commit().await.unwrap();
        both_in_order(&mut held).await;
        assert!(next(&mut held.stream, Duration::from_millis(600)).await.is_none());
    }
}

db_test! {
    async fn an_event_whose_transaction_another_waits_for_is_still_delivered_in_order(app: TestApp) {
        if app.store.backend() != sea_orm::DatabaseBackend::Postgres {
            // SQLite has one writer: events commit in the order they are numbered.
            return;
        }
        let (mut held, slow) = an_event_numbered_but_not_committed(&app).await;
        // Another transaction waits for the order's row lock, and so asks
        // for the first transaction's id: the lock table then lists that id
        // twice, once for the waiter, who writes no event.
        let waiter = tokio::spawn({
            let (store, id) = (app.store.clone(), OrderId::from_trusted(held.first.id.clone()));
            async move {
                let tx = store.begin().await.unwrap();
                tx.lock_order(&id).await.unwrap();
                tx.rollback().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        commit_an_event(&app, &held.second).await;
        assert!(next(&mut held.stream, Duration::from_millis(1_000)).await.is_none(), "held back while an earlier number may commit");
        slow.commit().await.unwrap();
        waiter.await.unwrap();
        both_in_order(&mut held).await;
    }
}

db_test! {
    async fn a_long_transaction_in_another_database_holds_back_no_stream(app: TestApp) {
        if app.store.backend() != sea_orm::DatabaseBackend::Postgres {
            // SQLite has one writer: nothing runs beside a write.
            return;
        }
        use sea_orm::{ConnectionTrait, TransactionTrait};
        // A transaction that holds an id and stays open in another database
        // of the same server: it can never write this history.
        let other_url = {
            let mut url = url::Url::parse(&app.database_url).unwrap();
            url.set_path("/postgres");
            url.to_string()
        };
        let elsewhere = sea_orm::Database::connect(&other_url).await.unwrap();
        let elsewhere = elsewhere.begin().await.unwrap();
        elsewhere.execute_unprepared("SELECT txid_current()").await.unwrap();

        let start = latest_event(&app).await;
        let mut stream = watch(&app, v1::WatchOrderEventsRequest { after_cursor: start.to_string(), ..Default::default() }).await;
        let order = app.authorized_payjp(2_000).await;
        let event = next(&mut stream, Duration::from_secs(5)).await.expect("delivered while the other stays open");
        assert_eq!(event.order_id, order.id);
        elsewhere.rollback().await.unwrap();
    }
}

db_test! {
    async fn concurrent_writers_every_event_delivered_exactly_once_in_order(app: TestApp) {
        let mut orders = Vec::new();
        for _ in 0..8 {
            orders.push(OrderId::from_trusted(app.authorized_payjp(1_000).await.id));
        }
        let start = latest_event(&app).await;
        let mut stream = watch(&app, v1::WatchOrderEventsRequest { after_cursor: start.to_string(), ..Default::default() }).await;
        let delivered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = tokio::spawn({
            let delivered = delivered.clone();
            async move {
                while let Some(event) = next(&mut stream, Duration::from_secs(90)).await {
                    delivered.lock().unwrap().push(event.cursor.parse::<i64>().unwrap());
                }
            }
        });
        let writers: Vec<_> = orders
            .into_iter()
            .map(|order| {
                let store = app.store.clone();
                tokio::spawn(async move {
                    let mut committed = Vec::new();
                    for n in 0..20 {
                        let tx = store.begin().await.unwrap();
                        tx.lock_order(&order).await.unwrap().unwrap();
                        tx.append_event(&event_of(&order), chrono::Utc::now()).await.unwrap();
                        let (pause, roll_back) = {
                            let mut rng = rand::rng();
                            (rng.random_range(0..60), rng.random_bool(0.1))
                        };
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if roll_back {
                            tx.rollback().await.unwrap();
                        } else {
                            tx.commit().await.unwrap();
                            committed.push(n);
                        }
                    }
                    committed.len()
                })
            })
            .collect();
        let mut written = 0;
        for writer in writers {
            written += writer.await.unwrap();
        }
        let committed: Vec<i64> = app
            .store
            .events_after(start, &Default::default(), 10_000)
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(committed.len(), written);
        // Generous: a loaded machine (the whole suite at once) delivers
        // late, and the loop ends as soon as everything has come.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while delivered.lock().unwrap().len() < written && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Long enough for a duplicate or a straggler to show.
        tokio::time::sleep(Duration::from_millis(600)).await;
        reader.abort();
        let delivered = delivered.lock().unwrap().clone();
        assert_eq!(delivered, committed, "every committed event, once, in order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_needs_the_read_scope() {
    {
        const CHARGER: &str = "tok_charger_0c6a1e9b4d7f2a58";
        const READER: &str = "tok_reader_73b0e5c9a1d4f826";
        let dir = std::env::temp_dir().join("kessai-it");
        std::fs::create_dir_all(&dir).unwrap();
        let mut env: HashMap<String, String> = base_env(&format!(
            "sqlite://{}/{}.sqlite",
            dir.display(),
            ulid::Ulid::new()
        ));
        env.insert("KESSAI_AUTH".into(), "true".into());
        env.insert(
            "KESSAI_CALLERS".into(),
            serde_json::json!([
                {"name": "charger", "token_sha256": token_hash(CHARGER), "scopes": ["charge"], "owner": "shop"},
                {"name": "reader", "token_sha256": token_hash(READER), "scopes": ["read"], "owner": "shop"},
            ])
            .to_string(),
        );
        let app = TestApp::spawn_with(env).await;
        let as_caller = |token: &str| {
            let mut request = Request::new(v1::WatchOrderEventsRequest::default());
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            request
        };
        assert_error(
            app.client
                .clone()
                .watch_order_events(Request::new(v1::WatchOrderEventsRequest::default()))
                .await,
            Code::Unauthenticated,
            "MISSING_CREDENTIALS",
        );
        assert_error(
            app.client
                .clone()
                .watch_order_events(as_caller(CHARGER))
                .await,
            Code::PermissionDenied,
            "MISSING_SCOPE",
        );
        let mut client = app.client.clone();
        let authorized = payjp_authorize(&unique_key("auth"), 2_000, "pm_test_approve");
        let mut request = Request::new(authorized);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {CHARGER}").parse().unwrap(),
        );
        let order = client
            .authorize(request)
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        let mut stream = client
            .watch_order_events(as_caller(READER))
            .await
            .unwrap()
            .into_inner();
        let seen = until(&mut stream, |e| {
            e.order_id == order.id && e.status() == OrderStatus::Authorized
        })
        .await;
        assert!(seen.iter().any(|e| e.actor == "charger"), "{seen:?}");
    }
}
