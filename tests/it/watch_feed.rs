//! The event feed behind WatchOrderEvents: one reader of new events per
//! replica fans out to every stream, so idle streams cost no query; a stream
//! that falls behind the feed still gets every event, once, in order; and
//! open streams are capped per caller and per replica.

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use kessai::domain::OrderId;
use kessai::grpc::callers::token_hash;
use kessai::payments::{Caller, PaymentError, WatchCommand};
use kessai::proto::v1;
use kessai::store::{EventFilter, Store, StreamedEvent};
use tonic::{Code, Request, Streaming};
use tonic_types::StatusExt;

use crate::db_test;
use crate::helpers::{TestApp, assert_error};
use crate::watch::{event_of, latest_event};

/// Appends one event to `order` and commits, as the use cases do.
async fn append(app: &TestApp, order: &OrderId) {
    append_on(&app.store, order).await;
}

async fn append_on(store: &Store, order: &OrderId) {
    let tx = store.begin().await.unwrap();
    tx.lock_order(order).await.unwrap().unwrap();
    tx.append_event(&event_of(order), chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn authorized(app: &TestApp) -> OrderId {
    OrderId::from_trusted(app.authorized_payjp(1_000).await.id)
}

/// The next message of a gRPC stream, waiting at most 10 s.
async fn next_message(stream: &mut Streaming<v1::WatchOrderEventsResponse>) -> v1::OrderEvent {
    let message = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
    let response = message
        .expect("an event in time")
        .expect("the stream goes on");
    response.expect("not ended").event.expect("an event")
}

db_test! {
    async fn idle_streams_make_no_queries_and_reads_still_answer(app: TestApp) {
        const STREAMS: usize = 200;
        let order = authorized(&app).await;
        let request = v1::WatchOrderEventsRequest {
            after_cursor: latest_event(&app).await.to_string(),
            ..Default::default()
        };
        let mut streams = Vec::with_capacity(STREAMS);
        for _ in 0..STREAMS {
            let stream = app.client.clone().watch_order_events(request.clone()).await;
            streams.push(stream.expect("the watch starts").into_inner());
        }
        // Each new event reaches every stream, for a few reads in all.
        for _ in 0..2 {
            let before = app.store.event_reads_total();
            append(&app, &order).await;
            for stream in &mut streams {
                assert_eq!(next_message(stream).await.order_id, order.as_str());
            }
            let reads = app.store.event_reads_total() - before;
            assert!(reads <= 10, "{reads} reads to deliver one event to {STREAMS} streams");
        }

        // Nothing happens: the feed's slow poll is all that reads.
        let before = app.store.event_reads_total();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let idle = app.store.event_reads_total() - before;
        assert!(idle <= 8, "{idle} reads in 3 s with {STREAMS} idle streams");
        assert_eq!(app.payments.streams_open(), STREAMS);

        let asked = Instant::now();
        app.get_order(order.as_str(), false).await.expect("GetOrder answers");
        assert!(asked.elapsed() < Duration::from_secs(1), "GetOrder took {:?}", asked.elapsed());
    }
}

/// The next event of a use-case stream, waiting at most 10 s.
async fn next_event(
    stream: &mut (impl Stream<Item = Result<StreamedEvent, PaymentError>> + Unpin),
) -> Option<i64> {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(event)) => Some(event.expect("no error").id),
        Ok(None) => panic!("the stream ended"),
        Err(_) => None,
    }
}

async fn ids_until(
    stream: &mut (impl Stream<Item = Result<StreamedEvent, PaymentError>> + Unpin),
    count: usize,
) -> Vec<i64> {
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        seen.push(next_event(stream).await.expect("every event comes"));
    }
    let straggler = tokio::time::timeout(Duration::from_millis(600), stream.next()).await;
    assert!(
        straggler.is_err(),
        "nothing more, nothing twice: {straggler:?}"
    );
    seen
}

db_test! {
    env: [("KESSAI_EVENT_FEED_BUFFER", "2")];
    async fn a_stream_that_falls_behind_the_feed_still_gets_every_event_once_in_order(app: TestApp) {
        let (a, b) = (authorized(&app).await, authorized(&app).await);
        let start = latest_event(&app).await;
        let caller = Caller::anonymous();
        let watch = |filter| app.payments.watch(&caller, WatchCommand { after: start, filter });
        let mut everything = pin!(watch(EventFilter::default()).await.unwrap());
        let only_a = EventFilter { order_id: Some(a.clone()), provider: None, owner: None };
        let mut of_a = pin!(watch(only_a).await.unwrap());
        // Both are taking the feed's events...
        append(&app, &a).await;
        assert!(next_event(&mut everything).await.is_some());
        assert!(next_event(&mut of_a).await.is_some());
        // ...then neither reads while far more events pass than the feed
        // keeps for them.
        for n in 0..40 {
            append(&app, if n % 2 == 0 { &a } else { &b }).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let committed = app.store.events_after(start, &EventFilter::default(), 1_000).await.unwrap().events;
        let rest: Vec<i64> = committed.iter().skip(1).map(|e| e.id).collect();
        assert_eq!(ids_until(&mut everything, rest.len()).await, rest);
        let rest_of_a: Vec<i64> = committed.iter().skip(1).filter(|e| e.order_id == a).map(|e| e.id).collect();
        assert_eq!(ids_until(&mut of_a, rest_of_a.len()).await, rest_of_a);
    }
}

const ALICE: &str = "tok_alice_5e0c2a9d7b13f468";
const BOB: &str = "tok_bob_c81f4a06e92d3b75";

/// Two readers; two streams each at most, three in all.
fn capped() -> Vec<(&'static str, String)> {
    let callers = serde_json::json!([
        {"name": "alice", "token_sha256": token_hash(ALICE), "scopes": ["read"]},
        {"name": "bob", "token_sha256": token_hash(BOB), "scopes": ["read"]},
    ]);
    vec![
        ("KESSAI_AUTH", "true".into()),
        ("KESSAI_CALLERS", callers.to_string()),
        ("KESSAI_MAX_WATCHERS_PER_CALLER", "2".into()),
        ("KESSAI_MAX_WATCHERS", "3".into()),
    ]
}

async fn open(
    app: &TestApp,
    token: &str,
) -> Result<tonic::Response<Streaming<v1::WatchOrderEventsResponse>>, tonic::Status> {
    let mut request = Request::new(v1::WatchOrderEventsRequest::default());
    let bearer = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", bearer);
    app.client.clone().watch_order_events(request).await
}

fn refused_by(result: Result<impl std::fmt::Debug, tonic::Status>, limit: &str) {
    let status = assert_error(result, Code::ResourceExhausted, "TOO_MANY_STREAMS");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(
        info.metadata.get("limit").map(String::as_str),
        Some(limit),
        "{status:?}"
    );
}

db_test! {
    env: capped();
    async fn streams_beyond_a_cap_are_refused_and_a_freed_place_is_taken_again(app: TestApp) {
        let first = open(&app, ALICE).await.unwrap();
        let _second = open(&app, ALICE).await.unwrap();
        refused_by(open(&app, ALICE).await, "caller");
        let _bobs = open(&app, BOB).await.unwrap();
        refused_by(open(&app, BOB).await, "replica");

        // A stream its caller drops gives its place back.
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(5);
        while app.payments.streams_open() > 2 {
            assert!(Instant::now() < deadline, "the dropped stream still counts");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _again = open(&app, BOB).await.expect("the freed place");
        refused_by(open(&app, ALICE).await, "replica");
        assert_eq!(app.payments.streams_open(), 3);
    }
}

/// How long six events appended by another process take, in all, to reach
/// `stream`: about three seconds if only the feed's slow poll found them.
async fn arrivals(
    other: &Store,
    order: &OrderId,
    stream: &mut Streaming<v1::WatchOrderEventsResponse>,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..6 {
        let sent = Instant::now();
        append_on(other, order).await;
        next_message(stream).await;
        total += sent.elapsed();
    }
    total
}

/// The backends of this database listening for new events.
async fn listening(database_url: &str) -> Vec<i32> {
    use sea_orm::sqlx::{Connection, PgConnection, Row};
    let mut conn = PgConnection::connect(database_url).await.unwrap();
    let rows = sea_orm::sqlx::query(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.iter().map(|row| row.get::<i32, _>("pid")).collect()
}

db_test! {
    async fn another_replicas_events_wake_the_feed_at_once_also_after_its_connection_is_lost(app: TestApp) {
        if app.store.backend() != sea_orm::DatabaseBackend::Postgres {
            // SQLite announces nothing: other processes are seen by the poll.
            return;
        }
        let order = authorized(&app).await;
        let other = Store::connect(&app.database_url, &Default::default()).await.unwrap();
        let request = v1::WatchOrderEventsRequest {
            after_cursor: latest_event(&app).await.to_string(),
            ..Default::default()
        };
        let mut stream = app.client.clone().watch_order_events(request).await.unwrap().into_inner();
        append_on(&other, &order).await;
        next_message(&mut stream).await;
        let took = arrivals(&other, &order, &mut stream).await;
        assert!(took < Duration::from_secs(1), "six events took {took:?}");

        // The listening connection is lost; the feed makes another.
        let lost = listening(&app.database_url).await;
        assert_eq!(lost.len(), 1, "one connection listens, beside the pool");
        let mut admin = {
            use sea_orm::sqlx::Connection;
            sea_orm::sqlx::PgConnection::connect(&app.database_url).await.unwrap()
        };
        sea_orm::sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(lost[0])
            .execute(&mut admin)
            .await
            .unwrap();
        append_on(&other, &order).await;
        next_message(&mut stream).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = listening(&app.database_url).await;
            if now.len() == 1 && now[0] != lost[0] {
                break;
            }
            assert!(Instant::now() < deadline, "nothing listens again: {now:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let took = arrivals(&other, &order, &mut stream).await;
        assert!(took < Duration::from_secs(1), "after reconnecting, six events took {took:?}");
    }
}

/// Notifications on the feeds' channel that arrive within `wait`.
async fn notifications_within(
    listener: &mut sea_orm::sqlx::postgres::PgListener,
    wait: Duration,
) -> usize {
    let deadline = tokio::time::Instant::now() + wait;
    let mut received = 0;
    while let Ok(next) = tokio::time::timeout_at(deadline, listener.recv()).await {
        next.expect("the listening connection stays up");
        received += 1;
    }
    received
}

db_test! {
    async fn commits_announce_their_events_after_committing_a_burst_with_few_notifications(app: TestApp) {
        if app.store.backend() != sea_orm::DatabaseBackend::Postgres {
            return;
        }
        let order = authorized(&app).await;
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect(&app.database_url)
            .await
            .unwrap();
        listener.listen(kessai_migrations::ORDER_EVENTS_CHANNEL).await.unwrap();
        notifications_within(&mut listener, Duration::from_millis(200)).await;

        // A commit that appends an event is announced, once.
        append(&app, &order).await;
        assert_eq!(
            notifications_within(&mut listener, Duration::from_millis(500)).await,
            1,
            "one commit, one notification"
        );

        // A burst of commits shares notifications: at most one per 20 ms,
        // and one after the last commit.
        let started = Instant::now();
        for _ in 0..40 {
            append(&app, &order).await;
        }
        let burst = started.elapsed();
        let received = notifications_within(&mut listener, Duration::from_millis(500)).await;
        let most = burst.as_millis() / 20 + 2;
        assert!(
            (1..=most as usize).contains(&received),
            "40 commits in {burst:?}: {received} notifications (at most {most})"
        );

        // The commit itself notifies nobody: an event written by anything
        // but kessai (an operator's repair) is left to the feeds' poll.
        let mut admin = {
            use sea_orm::sqlx::Connection;
            sea_orm::sqlx::PgConnection::connect(&app.database_url).await.unwrap()
        };
        sea_orm::sqlx::query(
            "INSERT INTO order_events (order_id, event_type, actor, status, created_at) \
             VALUES ($1, 'authorized', 'operator', 'authorized', now())",
        )
        .bind(order.to_string())
        .execute(&mut admin)
        .await
        .unwrap();
        assert_eq!(
            notifications_within(&mut listener, Duration::from_millis(300)).await,
            0,
            "no notification inside a commit"
        );
    }
}
