//! Watchers cancelled at any moment never leave a pooled connection inside
//! a transaction.

use super::*;

/// Watchers that give up at once, beside healthy readers: no connection
/// goes back to the pool inside a transaction, so no healthy call fails.
async fn cancelled_watchers(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let order = rig
        .client
        .clone()
        .authorize(payjp_authorize(&unique_key("w"), 5_000, "pm_test_approve"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut watchers = Vec::new();
    for _ in 0..8 {
        let (client, stop) = (rig.client.clone(), stop.clone());
        watchers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let within = Duration::from_micros(rand::rng().random_range(100..=3_000));
                let mut c = client.clone();
                let _ = tokio::time::timeout(within, async move {
                    let mut stream = c
                        .watch_order_events(v1::WatchOrderEventsRequest::default())
                        .await?
                        .into_inner();
                    while stream.message().await?.is_some() {}
                    Ok::<(), Status>(())
                })
                .await;
            }
        }));
    }
    // Another service, on a connection of its own.
    let healthy = rig.kessai.client().await;
    let mut failures = Vec::new();
    let mut ok = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match healthy
            .clone()
            .get_order(v1::GetOrderRequest {
                order_id: order.id.clone(),
                refresh: false,
            })
            .await
        {
            Ok(_) => ok += 1,
            Err(status) => failures.push(status),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for watcher in watchers {
        watcher.await.unwrap();
    }
    eprintln!("cancelled watchers ({backend:?}): {ok} healthy reads beside them");
    assert!(failures.is_empty(), "healthy reads failed: {failures:?}");
    assert!(ok > 20, "the healthy reader ran: {ok}");
    assert_eq!(
        rig.stuck_in_transaction().await,
        0,
        "a connection left inside a transaction"
    );
    assert!(rig.error_lines().is_empty(), "{:?}", rig.error_lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_watchers_never_poison_a_pooled_connection_sqlite() {
    cancelled_watchers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_watchers_never_poison_a_pooled_connection_postgres() {
    cancelled_watchers(Backend::Postgres).await;
}
