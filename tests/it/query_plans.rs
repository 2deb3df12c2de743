//! The hot queries on a large PostgreSQL database: 20,000 orders shaped like
//! a shop's traffic (captures, refunds, a provider call and an idempotency
//! key per call, four events an order), analyzed as autovacuum would. Each
//! query is planned as the store sends it (with parameters, prepared: the
//! custom plan, and the plan PostgreSQL settles on once the statement has
//! been run a few times) and must read through its index, never a whole
//! table — a scan that would grow with every order.

use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

use crate::helpers::{Backend, fresh_database};

const ORDERS: i64 = 20_000;

/// The shapes of the soak's traffic: most orders captured in two parts (half
/// of them with a refund), some partly captured, voided or still
/// authorized, one in a hundred pending with its call's outcome unknown.
/// Most orders are one caller's with one provider; a small caller and a
/// second and third provider have a few, the orders the filters that narrow
/// a listing to them must not find by reading all the others.
const FILL: &str = "
INSERT INTO orders (id, provider, provider_order_id, currency, capture_method, payment_method,
  auth_state, status, amount, amount_authorized, amount_captured, amount_refunded,
  captures_succeeded, unsettled, expires_at, needs_review, next_sync_at, created_at, updated_at, owner,
  merchant_reference, customer_email, customer_name, customer_email_norm, customer_name_norm,
  search_text)
SELECT 'ord_01' || lpad(upper(to_hex(g)), 24, '0'),
  CASE WHEN g % 100 = 50 THEN 'paymentoptions' WHEN g % 10 = 5 THEN 'smartpay' ELSE 'payjp' END,
  'po_' || g, 'JPY', 'manual', 'card', 'authorized',
  CASE WHEN g % 100 = 99 THEN 'pending' WHEN g % 10 < 6 THEN 'captured' WHEN g % 10 = 6 THEN 'partially_captured'
       WHEN g % 10 = 7 THEN 'voided' ELSE 'authorized' END,
  10000, 10000,
  CASE WHEN g % 100 = 99 THEN 0 WHEN g % 10 < 6 THEN 10000 WHEN g % 10 = 6 THEN 4000 ELSE 0 END,
  CASE WHEN g % 100 <> 99 AND g % 10 < 6 AND g % 2 = 0 THEN 1000 ELSE 0 END,
  CASE WHEN g % 100 = 99 THEN 0 WHEN g % 10 < 6 THEN 2 WHEN g % 10 = 6 THEN 1 ELSE 0 END,
  CASE WHEN g % 100 = 99 THEN 1 ELSE 0 END,
  now() + interval '7 days' - ($1 - g) * interval '1 second', g % 200 = 0,
  CASE WHEN g % 10 IN (8, 9) THEN now() + interval '10 minutes' END,
  now() - ($1 - g) * interval '1 second', now() - ($1 - g) * interval '1 second',
  CASE WHEN g % 100 = 7 THEN 'small-shop' ELSE 'shop' END, 'ref-' || g,
  e, n, e, replace(n, ' ', ''),
  lower('ord_01' || lpad(upper(to_hex(g)), 24, '0')) || chr(31) || 'ref-' || g || chr(31) || e
    || chr(31) || replace(n, ' ', '')
FROM generate_series(1, $1) g,
  LATERAL (SELECT 'shopper' || (g % 5000) || '@example' || (g % 7) || '.jp' AS e,
    (ARRAY['yamada', 'sato', 'suzuki', 'tanaka', 'ito'])[1 + g % 5] || ' ' || (g % 997) AS n) c;

INSERT INTO captures (id, order_id, amount, status, final_capture, provider_capture_id, amount_refunded,
  created_at, updated_at)
SELECT 'cap_01' || lpad(upper(to_hex(g * 2 + k)), 24, '0'), 'ord_01' || lpad(upper(to_hex(g)), 24, '0'),
  CASE WHEN k = 0 THEN 4000 ELSE 6000 END, 'succeeded', k = 1, 'pc_' || g || '_' || k,
  CASE WHEN k = 0 AND g % 10 < 6 AND g % 2 = 0 THEN 1000 ELSE 0 END, now(), now()
FROM generate_series(1, $1) g, generate_series(0, 1) k
WHERE g % 100 <> 99 AND (g % 10 < 6 OR (g % 10 = 6 AND k = 0));

INSERT INTO refunds (id, order_id, amount, status, created_at, updated_at)
SELECT 'ref_01' || lpad(upper(to_hex(g)), 24, '0'), 'ord_01' || lpad(upper(to_hex(g)), 24, '0'),
  1000, 'succeeded', now(), now()
FROM generate_series(1, $1) g WHERE g % 100 <> 99 AND g % 10 < 6 AND g % 2 = 0;

INSERT INTO provider_attempts (id, order_id, operation, state, checks, next_check_at, created_at, updated_at)
SELECT 'att_01' || lpad(upper(to_hex(g * 4 + k)), 24, '0'), 'ord_01' || lpad(upper(to_hex(g)), 24, '0'),
  (ARRAY['authorize','capture','capture','refund'])[k + 1],
  CASE WHEN g % 100 = 99 AND k = 0 THEN 'unknown' ELSE 'succeeded' END,
  CASE WHEN g % 100 = 99 THEN 3 ELSE 0 END,
  CASE WHEN g % 100 = 99 AND k = 0 THEN now() + interval '1 hour' END,
  now() - ($1 - g) * interval '1 second', now() - ($1 - g) * interval '1 second'
FROM generate_series(1, $1) g, generate_series(0, 3) k
WHERE k = 0 OR (g % 100 <> 99 AND g % 10 < 7 AND (k < 3 OR g % 2 = 0));

INSERT INTO idempotency_keys (scope, key, rpc, request_hash, order_id, attempt_id, state, outcome,
  created_at, updated_at, expires_at)
SELECT 'shop', 'key-' || substr(id, 7), operation, md5(id), order_id, id,
  CASE WHEN state = 'unknown' THEN 'open' ELSE 'completed' END, '{}', created_at, updated_at,
  created_at + interval '1 day'
FROM provider_attempts;

INSERT INTO order_events (order_id, event_type, actor, status, created_at)
SELECT 'ord_01' || lpad(upper(to_hex(g)), 24, '0'), 'authorized', 'shop', 'authorized', now()
FROM generate_series(1, $1) g, generate_series(0, 3) k;

INSERT INTO webhook_events (provider, event_id, event_type, order_id, received_at, processed_at)
SELECT 'payjp', 'evt_' || g, 'payment_flow.succeeded', 'ord_01' || lpad(upper(to_hex(g)), 24, '0'),
  now() - ($1 - g) * interval '1 second', now() - ($1 - g) * interval '1 second'
FROM generate_series(1, $1) g;
";

fn order(g: i64) -> String {
    format!("'ord_01{:0>24}'", format!("{g:X}"))
}

/// A ListOrders page with its records, one statement (`store::page_read`):
/// its plan must read both record tables through their indexes.
const PAGE_WITH_RECORDS: &str = "WITH page AS (SELECT * FROM orders ORDER BY id DESC LIMIT $1) \
     SELECT page.*, a.* FROM page LEFT JOIN LATERAL ( \
       SELECT 'capture' AS kind, id, order_id, amount FROM captures \
       WHERE order_id = page.id \
       UNION ALL \
       SELECT 'refund' AS kind, id, order_id, amount FROM refunds \
       WHERE order_id = page.id AND page.amount_captured > 0 \
     ) AS a ON TRUE ORDER BY page.id DESC, a.id";

/// The orders of a page read before that changed since, each with its
/// records (`Store::list_orders`, `view_cache.rs`): 50 bound ids.
fn changed_with_records(index: usize) -> String {
    let ids = (1..=50)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    PAGE_WITH_RECORDS
        .replace(
            "SELECT * FROM orders ORDER BY id DESC LIMIT $1",
            &format!("SELECT * FROM orders WHERE id IN ({ids}) ORDER BY id DESC"),
        )
        .replace("AS a ON TRUE", &format!("AS a ON TRUE /* {index} */"))
}

fn fifty_orders() -> String {
    (0..50)
        .map(|n| order(ORDERS - 3 * n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(what, statement with $n parameters, its arguments, the index its plan
/// must name)`, each as the store writes it.
fn hot_queries() -> Vec<(&'static str, String, String, &'static str)> {
    vec![
        (
            "the idempotency key of a provider call (Store::key_for_attempt)",
            "SELECT * FROM idempotency_keys WHERE attempt_id = $1 LIMIT $2".into(),
            format!("'att_01{:0>24}', 1", format!("{:X}", 4 * 777 + 1)),
            "idx_idempotency_keys_attempt",
        ),
        (
            "the captures of one order (GetOrder)",
            "SELECT * FROM captures WHERE order_id IN ($1) ORDER BY id ASC".into(),
            order(777),
            "idx_captures_order",
        ),
        (
            "one order with its captures and refunds, one statement (GetOrder)",
            "SELECT orders.*, a.kind AS a_kind, a.id AS a_id, a.amount AS a_amount \
             FROM orders LEFT JOIN ( \
               SELECT 'capture' AS kind, id, order_id, amount FROM captures WHERE order_id IN ($1) \
               UNION ALL \
               SELECT 'refund' AS kind, id, order_id, amount FROM refunds WHERE order_id IN ($2) \
             ) AS a ON a.order_id = orders.id WHERE orders.id = $3"
                .into(),
            format!("{0}, {0}, {0}", order(777)),
            "idx_captures_order",
        ),
        (
            "a ListOrders page with its captures, one statement (store::page_read)",
            PAGE_WITH_RECORDS.into(),
            "21".into(),
            "idx_captures_order",
        ),
        (
            "a ListOrders page with its refunds, one statement (store::page_read)",
            PAGE_WITH_RECORDS.into(),
            "21".into(),
            "idx_refunds_order",
        ),
        (
            "the orders of a page read again that changed, with their captures (view_cache.rs)",
            changed_with_records(1),
            fifty_orders(),
            "idx_captures_order",
        ),
        (
            "the orders of a page read again that changed, with their refunds (view_cache.rs)",
            changed_with_records(2),
            fifty_orders(),
            "idx_refunds_order",
        ),
        (
            "the ids and versions of a page read again (view_cache.rs)",
            "SELECT id, lock_version FROM orders ORDER BY id DESC LIMIT $1".into(),
            "51".into(),
            "orders_pkey",
        ),
        (
            "a ListOrders page",
            "SELECT * FROM orders ORDER BY id DESC LIMIT $1".into(),
            "21".into(),
            "orders_pkey",
        ),
        (
            "a caller's next ListOrders page",
            "SELECT * FROM orders WHERE owner = $1 AND id < $2 ORDER BY id DESC LIMIT $3".into(),
            format!("'shop', {}, 21", order(ORDERS - 40)),
            "",
        ),
        (
            "a search by one customer's e-mail (ListOrders customer_email)",
            "SELECT * FROM orders WHERE customer_email_norm LIKE $1 AND search_text LIKE $2 \
             ORDER BY id DESC LIMIT $3"
                .into(),
            "'%shopper777@%', '%shopper777@%', 51".into(),
            "idx_orders_search_trgm",
        ),
        (
            "a free query naming a provider order id (ListOrders query)",
            "SELECT * FROM orders WHERE (search_text LIKE $1 OR lower(provider_order_id) = $2) \
             ORDER BY id DESC LIMIT $3"
                .into(),
            "'%po\\_777%', 'po_777', 51".into(),
            "idx_orders_provider_order_id_lower",
        ),
        (
            "the calls due a check (Store::due_attempts)",
            "SELECT * FROM provider_attempts WHERE (state = $1 OR (state = $2 AND updated_at <= $3)) \
             AND (next_check_at IS NULL OR next_check_at <= $4) ORDER BY created_at ASC LIMIT $5"
                .into(),
            "'unknown', 'in_flight', now() - interval '30 seconds', now(), 64".into(),
            "idx_provider_attempts_open",
        ),
        (
            "an order by the provider's id for it (a notification, Store::order_by_provider_id)",
            "SELECT * FROM orders WHERE provider = $1 AND provider_order_id = $2 LIMIT $3".into(),
            "'payjp', 'po_777', 1".into(),
            "idx_orders_provider_order_id",
        ),
        (
            "the order a provider's capture id names (a notification, Store::order_by_provider_capture_id)",
            "SELECT * FROM captures WHERE provider_capture_id = $1".into(),
            "'pc_772_0'".into(),
            "idx_captures_provider_capture_id",
        ),
        (
            "completed keys past their replay window (Store::reap_keys)",
            "DELETE FROM idempotency_keys WHERE state = $1 AND expires_at < $2".into(),
            "'completed', now()".into(),
            "idx_idempotency_keys_expires_at",
        ),
        (
            "notifications past their window (Store::reap_webhook_events)",
            "DELETE FROM webhook_events WHERE received_at < $1".into(),
            "now() - interval '30 days'".into(),
            "idx_webhook_events_received_at",
        ),
        (
            "one order's history (Store::events; a stream of one order)",
            "SELECT * FROM order_events WHERE order_id = $1 ORDER BY id ASC".into(),
            order(777),
            "idx_order_events_order",
        ),
        (
            "the event feed's next read (Store::events_after)",
            "SELECT * FROM order_events WHERE id > $1 ORDER BY id ASC LIMIT $2".into(),
            format!("{}, 256", 4 * ORDERS - 100),
            "order_events_pkey",
        ),
        (
            "one order's provider calls (Store::attempts)",
            "SELECT * FROM provider_attempts WHERE order_id = $1 ORDER BY id ASC".into(),
            order(777),
            "idx_provider_attempts_order",
        ),
        (
            "orders with a call of unknown outcome (the backlog gauge, Store::backlog)",
            "SELECT COUNT(*) FROM (SELECT DISTINCT order_id FROM provider_attempts WHERE state = $1) AS s"
                .into(),
            "'unknown'".into(),
            "idx_provider_attempts_open",
        ),
        (
            "ListOrders by status",
            "SELECT * FROM orders WHERE status IN ($1) ORDER BY id DESC LIMIT $2".into(),
            "'pending', 21".into(),
            "idx_orders_status_id",
        ),
        (
            "ListOrders of a provider with few orders",
            "SELECT * FROM orders WHERE provider = $1 ORDER BY id DESC LIMIT $2".into(),
            "'paymentoptions', 21".into(),
            "idx_orders_provider_id",
        ),
        (
            "ListOrders of a caller with few orders",
            "SELECT * FROM orders WHERE owner = $1 ORDER BY id DESC LIMIT $2".into(),
            "'small-shop', 21".into(),
            "idx_orders_owner_id",
        ),
        (
            "ListOrders by merchant reference",
            "SELECT * FROM orders WHERE merchant_reference = $1 ORDER BY id DESC LIMIT $2".into(),
            "'ref-777', 21".into(),
            "idx_orders_merchant_reference",
        ),
        (
            "ListOrders created in a window",
            "SELECT * FROM orders WHERE created_at >= $1 AND created_at < $2 ORDER BY id DESC LIMIT $3"
                .into(),
            "now() - interval '10 minutes', now() - interval '5 minutes', 21".into(),
            "idx_orders_created_at",
        ),
        (
            "ListOrders of the orders to review; the backlog gauge",
            "SELECT * FROM orders WHERE needs_review = $1 ORDER BY id DESC LIMIT $2".into(),
            "true, 21".into(),
            "idx_orders_needs_review",
        ),
        (
            "an order by id (GetOrder, the row lock)",
            "SELECT * FROM orders WHERE id = $1 LIMIT $2".into(),
            format!("{}, 1", order(777)),
            "orders_pkey",
        ),
        (
            "an idempotency key (Tx::claim_key's conflict, Store::find_key)",
            "SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2 LIMIT $3".into(),
            format!("'shop', 'key-{:0>24}', 1", format!("{:X}", 4 * 777)),
            "idempotency_keys_pkey",
        ),
        (
            "a capture by id (Tx::capture)",
            "SELECT * FROM captures WHERE id = $1 LIMIT $2".into(),
            format!("'cap_01{:0>24}', 1", format!("{:X}", 2 * 772)),
            "captures_pkey",
        ),
        (
            "a refund by id (Tx::refund)",
            "SELECT * FROM refunds WHERE id = $1 LIMIT $2".into(),
            format!("'ref_01{:0>24}', 1", format!("{:X}", 772)),
            "refunds_pkey",
        ),
        (
            "a provider call by id (Tx::attempt)",
            "SELECT * FROM provider_attempts WHERE id = $1 LIMIT $2".into(),
            format!("'att_01{:0>24}', 1", format!("{:X}", 4 * 772)),
            "provider_attempts_pkey",
        ),
        (
            "a notification already received (Store::receive_webhook_event)",
            "SELECT * FROM webhook_events WHERE provider = $1 AND event_id = $2 LIMIT $3".into(),
            "'payjp', 'evt_777', 1".into(),
            "webhook_events_pkey",
        ),
        (
            "the orders due a provider check (Store::due_orders)",
            "SELECT * FROM orders WHERE (status IN ($1, $2) OR (status IN ($3, $4) AND expires_at <= $5)) \
             AND (next_sync_at IS NULL OR next_sync_at <= $6) AND provider_order_id IS NOT NULL \
             ORDER BY next_sync_at ASC LIMIT $7"
                .into(),
            "'requires_action', 'pending', 'authorized', 'partially_captured', now(), now(), 64"
                .into(),
            "idx_orders_status_expires",
        ),
    ]
}

async fn plan(db: &mut PgConnection, mode: &str, statement: &str, arguments: &str) -> String {
    db.execute(AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
        .await
        .unwrap();
    db.execute(AssertSqlSafe(format!("PREPARE hot AS {statement}")))
        .await
        .unwrap();
    // PostgreSQL weighs a generic plan after five executions of a prepared
    // statement (sqlx keeps them per connection) and keeps it when it costs
    // no more than the custom ones.
    for _ in 0..6 {
        db.execute(AssertSqlSafe(format!("EXECUTE hot({arguments})")))
            .await
            .unwrap();
    }
    let rows = db
        .fetch_all(AssertSqlSafe(format!("EXPLAIN EXECUTE hot({arguments})")))
        .await
        .unwrap();
    db.execute("DEALLOCATE hot").await.unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_hot_queries_read_through_an_index_on_a_large_database() {
    if std::env::var("KESSAI_TEST_DATABASE_URL").is_err() {
        eprintln!("KESSAI_TEST_DATABASE_URL is not set: the PostgreSQL run is left to .ci/run");
        return;
    }
    let url = fresh_database(Backend::Postgres).await;
    let mut db = PgConnection::connect(&url).await.unwrap();
    for statement in FILL.split(';').filter(|s| !s.trim().is_empty()) {
        let mut query = sea_orm::sqlx::query(AssertSqlSafe(statement.to_owned()));
        if statement.contains("$1") {
            query = query.bind(ORDERS);
        }
        query.execute(&mut db).await.unwrap();
    }
    // As autovacuum would: statistics, and the trigram index's pending
    // entries merged into it.
    db.execute("VACUUM ANALYZE").await.unwrap();

    let queries = hot_queries();
    for (what, statement, arguments, index) in &queries {
        for mode in ["force_custom_plan", "auto"] {
            let plan = plan(&mut db, mode, statement, arguments).await;
            assert!(
                !plan.contains("Seq Scan") && plan.contains("Index") && plan.contains(index),
                "{what} ({mode}) should read through {index:?}:\n{plan}"
            );
        }
    }

    // Every index is one a query above reads through: an index no query
    // uses is only a cost on every write (unique ones are kept for the
    // invariants they enforce, and are named above all the same).
    let indexes: Vec<String> = db
        .fetch_all(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' \
             AND tablename <> 'seaql_migrations' ORDER BY indexname",
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let named: std::collections::BTreeSet<&str> = queries.iter().map(|q| q.3).collect();
    let unused: Vec<&String> = indexes
        .iter()
        .filter(|index| !named.contains(index.as_str()))
        .collect();
    assert!(
        unused.is_empty(),
        "indexes no query above reads through: {unused:?} (drop them in a migration, or add the query that needs one)"
    );
    let missing: Vec<&&str> = named
        .iter()
        .filter(|index| !index.is_empty() && !indexes.iter().any(|i| i == *index))
        .collect();
    assert!(
        missing.is_empty(),
        "indexes named above that do not exist: {missing:?}"
    );
}
