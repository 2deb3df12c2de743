//! A ListOrders page read through the driver (PostgreSQL) in one
//! statement: the page's orders, each joined to its captures and refunds.
//! Two statements (the page, then its records by a hundred bound ids) cost
//! kessai a round trip, a connection from the pool and the parameters. An
//! order with two records comes twice, and its columns are read once.
//! Measured against the two statements and against one `UNION ALL` of the
//! orders' rows and the records' (each NULL where the other's columns
//! are), which PostgreSQL had to materialize and sort: BENCHMARKS.md.
//! SQLite reads its pages on the calling thread (`sqlite_reads.rs`), where
//! a statement costs no round trip.

use sea_orm::sea_query::UnionType;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

use super::attached::{Of, Table, branch, corrupt};
use super::convert::{capture_from_row, order_from_row, refund_from_row};
use super::error::StoreError;
use super::reads::ListOrder;
use super::row_models::{
    AttachedRow, DriverRow, ORDER_COLUMNS, RowReader, attached_row, order_model,
};
use crate::domain::OrderView;

/// `page` (a select of `row_models::view_select`'s columns) with each
/// order's records joined, in the page's order, each order's records
/// oldest first. PostgreSQL joins each order's records laterally, two
/// index searches per order: joined by `order_id IN` the page, it planned
/// a whole scan of `refunds`. SQLite has no lateral join and searches the
/// index for the `IN` list.
pub(super) fn with_records(page: Statement, order: ListOrder) -> Statement {
    let lateral = page.db_backend == DatabaseBackend::Postgres;
    let mut records = branch(Table::Capture, Of::Page { lateral });
    records.union(UnionType::All, branch(Table::Refund, Of::Page { lateral }));
    let records = page.db_backend.build(&records).sql;
    let join = if lateral {
        format!(r#"LEFT JOIN LATERAL ({records}) AS "a" ON TRUE"#)
    } else {
        format!(r#"LEFT JOIN ({records}) AS "a" ON "a"."order_id" = "page"."id""#)
    };
    let keys = match order {
        ListOrder::Newest => r#""page"."id" DESC"#,
        ListOrder::SoonestExpiry => r#""page"."expires_at" ASC NULLS LAST, "page"."id" ASC"#,
    };
    Statement {
        sql: format!(
            r#"WITH "page" AS ({}) SELECT "page".*, "a".* FROM "page" {join} ORDER BY {keys}, "a"."id""#,
            page.sql
        ),
        ..page
    }
}

/// The views of [`with_records`]'s rows, in their order.
pub(super) async fn read(
    db: &DatabaseConnection,
    statement: Statement,
) -> Result<Vec<OrderView>, StoreError> {
    let mut views: Vec<OrderView> = Vec::new();
    for row in db.query_all_raw(statement).await? {
        let id: String = DriverRow::new(&row).next().map_err(corrupt)?;
        let mut columns = DriverRow::new(&row);
        if views
            .last()
            .is_some_and(|view| view.order.id.as_str() == id)
        {
            columns.skip(ORDER_COLUMNS.len());
        } else {
            let order = order_from_row(order_model(&mut columns).map_err(corrupt)?)?;
            views.push(OrderView {
                order,
                captures: Vec::new(),
                refunds: Vec::new(),
            });
        }
        let Some(view) = views.last_mut() else {
            continue;
        };
        match attached_row(&mut columns).map_err(corrupt)? {
            Some(AttachedRow::Capture(capture)) => view.captures.push(capture_from_row(capture)?),
            Some(AttachedRow::Refund(refund)) => view.refunds.push(refund_from_row(refund)?),
            None => {}
        }
    }
    Ok(views)
}
