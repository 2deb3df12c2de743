//! The captures and refunds of a page of orders, in one statement: the
//! two tables' rows as one `UNION ALL`, each with the columns of both (the
//! other table's as `NULL`) and a first column naming its table. One round
//! trip fewer for every GetOrder and ListOrders page of captured orders.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement, UnionType};
use sea_orm::{ConnectionTrait, DatabaseConnection, ExprTrait, QueryResult};

use super::convert::{capture_from_row, refund_from_row};
use super::entities::{captures, refunds};
use super::error::StoreError;
use crate::domain::{CaptureRecord, RefundRecord};

/// Every column of either table, and which table has it.
const COLUMNS: [(&str, Table); 17] = {
    use Table::{Both, Capture, Refund};
    [
        ("id", Both),
        ("order_id", Both),
        ("amount", Both),
        ("status", Both),
        ("reference", Both),
        ("description", Both),
        ("failure_code", Both),
        ("failure_message", Both),
        ("failure_provider_code", Both),
        ("created_at", Both),
        ("updated_at", Both),
        ("final_capture", Capture),
        ("provider_capture_id", Capture),
        ("amount_refunded", Capture),
        ("pending_refund", Capture),
        ("reason", Refund),
        ("parts", Refund),
    ]
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Capture,
    Refund,
    Both,
}

/// The select of one table's rows for `order_ids`, with every column of
/// [`COLUMNS`].
fn branch(table: Table, order_ids: Vec<String>) -> SelectStatement {
    let (name, kind) = match table {
        Table::Capture => ("captures", "'capture'"),
        Table::Refund | Table::Both => ("refunds", "'refund'"),
    };
    let mut select = Query::select();
    select.expr_as(Expr::cust(kind), Alias::new("kind"));
    for (column, has) in COLUMNS {
        if has == Table::Both || has == table {
            select.expr_as(Expr::col(Alias::new(column)), Alias::new(column));
        } else {
            // An untyped NULL: PostgreSQL takes the other branch's type.
            select.expr_as(Expr::cust("NULL"), Alias::new(column));
        }
    }
    select
        .from(Alias::new(name))
        .and_where(Expr::col(Alias::new("order_id")).is_in(order_ids));
    select
}

/// The captures of the orders `capture_orders` and the refunds of the
/// orders `refund_orders`, each by order, oldest first.
pub(super) async fn captures_and_refunds(
    db: &DatabaseConnection,
    capture_orders: Vec<String>,
    refund_orders: Vec<String>,
) -> Result<
    (
        HashMap<String, Vec<CaptureRecord>>,
        HashMap<String, Vec<RefundRecord>>,
    ),
    StoreError,
> {
    let mut captures_by_order: HashMap<String, Vec<CaptureRecord>> = HashMap::new();
    let mut refunds_by_order: HashMap<String, Vec<RefundRecord>> = HashMap::new();
    if capture_orders.is_empty() {
        return Ok((captures_by_order, refunds_by_order));
    }
    let mut select = branch(Table::Capture, capture_orders);
    if !refund_orders.is_empty() {
        select.union(UnionType::All, branch(Table::Refund, refund_orders));
    }
    for row in db.query_all(&select).await? {
        let kind: String = row.try_get("", "kind")?;
        if kind == "capture" {
            let capture = capture_from_row(capture_model(&row)?)?;
            captures_by_order
                .entry(capture.order_id.to_string())
                .or_default()
                .push(capture);
        } else {
            let refund = refund_from_row(refund_model(&row)?)?;
            refunds_by_order
                .entry(refund.order_id.to_string())
                .or_default()
                .push(refund);
        }
    }
    // Ids grow with time (ULIDs): the order they were made in.
    for captures in captures_by_order.values_mut() {
        captures.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    }
    for refunds in refunds_by_order.values_mut() {
        refunds.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    }
    Ok((captures_by_order, refunds_by_order))
}

fn capture_model(row: &QueryResult) -> Result<captures::Model, StoreError> {
    Ok(captures::Model {
        id: row.try_get("", "id")?,
        order_id: row.try_get("", "order_id")?,
        amount: row.try_get("", "amount")?,
        status: row.try_get("", "status")?,
        final_capture: row.try_get("", "final_capture")?,
        provider_capture_id: row.try_get("", "provider_capture_id")?,
        reference: row.try_get("", "reference")?,
        description: row.try_get("", "description")?,
        amount_refunded: row.try_get("", "amount_refunded")?,
        pending_refund: row.try_get("", "pending_refund")?,
        failure_code: row.try_get("", "failure_code")?,
        failure_message: row.try_get("", "failure_message")?,
        failure_provider_code: row.try_get("", "failure_provider_code")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

fn refund_model(row: &QueryResult) -> Result<refunds::Model, StoreError> {
    Ok(refunds::Model {
        id: row.try_get("", "id")?,
        order_id: row.try_get("", "order_id")?,
        amount: row.try_get("", "amount")?,
        status: row.try_get("", "status")?,
        reason: row.try_get("", "reason")?,
        reference: row.try_get("", "reference")?,
        description: row.try_get("", "description")?,
        parts: row.try_get("", "parts")?,
        failure_code: row.try_get("", "failure_code")?,
        failure_message: row.try_get("", "failure_message")?,
        failure_provider_code: row.try_get("", "failure_provider_code")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}
