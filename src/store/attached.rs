//! The captures and refunds of a page of orders, in one statement: the
//! two tables' rows as one `UNION ALL`, each with the columns of both (the
//! other table's as `NULL`) and a first column naming its table. One round
//! trip fewer for every ListOrders page of captured orders. One order (a
//! GetOrder, the read a Capture, Refund or Void decides on) is read with
//! them in the same statement: the order's row joined to each of its
//! records.

use std::collections::HashMap;
use std::sync::OnceLock;

use sea_orm::sea_query::{Alias, Expr, JoinType, Query, SelectStatement, UnionType, Value};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, ExprTrait, QueryFilter,
    QueryTrait, Statement,
};

use super::convert::{capture_from_row, refund_from_row};
use super::entities::orders;
use super::error::StoreError;
use super::row_models::{AttachedRow, DriverRow, attached_row, joined_row};
use super::sqlite_reads::{DirectReads, answered};
use crate::domain::{CaptureRecord, RefundRecord, Visibility};

/// Every column of either table, and which table has it.
pub(super) const COLUMNS: [(&str, Table); 17] = {
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
pub(super) enum Table {
    Capture,
    Refund,
    Both,
}

/// Whose records a branch selects.
pub(super) enum Of {
    /// The orders with these ids.
    Orders(Vec<String>),
    /// The orders of the statement's `page` (`page_read.rs`): of its row
    /// at hand when `lateral`, else of all its rows. Refunds only of orders
    /// that captured: what was captured is never un-captured, and a refund
    /// needs it.
    Page { lateral: bool },
}

/// The select of one table's rows of the orders `of`, with every column
/// of [`COLUMNS`].
pub(super) fn branch(table: Table, of: Of) -> SelectStatement {
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
    select.from(Alias::new(name)).and_where(match of {
        Of::Orders(ids) => Expr::col(Alias::new("order_id")).is_in(ids),
        Of::Page { lateral } => Expr::cust(match (lateral, table) {
            (true, Table::Capture) => r#""order_id" = "page"."id""#,
            (true, Table::Refund | Table::Both) => {
                r#""order_id" = "page"."id" AND "page"."amount_captured" > 0"#
            }
            (false, Table::Capture) => r#""order_id" IN (SELECT "id" FROM "page")"#,
            (false, Table::Refund | Table::Both) => {
                r#""order_id" IN (SELECT "id" FROM "page" WHERE "amount_captured" > 0)"#
            }
        }),
    });
    select
}

/// The captures of the orders `capture_orders` and the refunds of the
/// orders `refund_orders`, each by order, oldest first.
pub(super) async fn captures_and_refunds(
    db: &DatabaseConnection,
    direct: Option<&DirectReads>,
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
    let mut select = branch(Table::Capture, Of::Orders(capture_orders));
    if !refund_orders.is_empty() {
        select.union(
            UnionType::All,
            branch(Table::Refund, Of::Orders(refund_orders)),
        );
    }
    let backend = db.get_database_backend();
    let rows = match answered(direct, |direct| direct.attached(&backend.build(&select))) {
        Some(rows) => rows,
        None => {
            let mut rows = Vec::new();
            for row in db.query_all(&select).await? {
                rows.extend(attached_row(&mut DriverRow::new(&row)).map_err(corrupt)?);
            }
            rows
        }
    };
    for record in rows.into_iter().map(Record::of) {
        match record? {
            Record::Capture(capture) => captures_by_order
                .entry(capture.order_id.to_string())
                .or_default()
                .push(capture),
            Record::Refund(refund) => refunds_by_order
                .entry(refund.order_id.to_string())
                .or_default()
                .push(refund),
        }
    }
    for captures in captures_by_order.values_mut() {
        oldest_first(captures, |c| c.id.as_str());
    }
    for refunds in refunds_by_order.values_mut() {
        oldest_first(refunds, |r| r.id.as_str());
    }
    Ok((captures_by_order, refunds_by_order))
}

/// Ids grow with time (ULIDs): the order records were made in.
fn oldest_first<T>(records: &mut [T], id: impl Fn(&T) -> &str) {
    records.sort_by(|a, b| id(a).cmp(id(b)));
}

/// A capture or a refund read from a row of [`branch`]es' columns.
enum Record {
    Capture(CaptureRecord),
    Refund(RefundRecord),
}

impl Record {
    fn of(row: AttachedRow) -> Result<Self, StoreError> {
        Ok(match row {
            AttachedRow::Capture(capture) => Record::Capture(capture_from_row(capture)?),
            AttachedRow::Refund(refund) => Record::Refund(refund_from_row(refund)?),
        })
    }
}

/// One order, found by `id` as `sees` allows, with its captures and
/// refunds, oldest first, in one statement.
pub(super) async fn order_with_attached(
    db: &DatabaseConnection,
    direct: Option<&DirectReads>,
    id: &str,
    sees: &Visibility,
) -> Result<Option<(orders::Model, Vec<CaptureRecord>, Vec<RefundRecord>)>, StoreError> {
    let backend = db.get_database_backend();
    let read = OrderRead::of(backend, sees.owner().is_some());
    if direct.is_some()
        && let Some(read) = read
        && let Some(params) = read.params(id, sees.owner())
        && let Some(found) = answered(direct, |direct| {
            direct.order_with_attached(&read.sql, &params)
        })
    {
        return found.map(with_records).transpose();
    }
    let statement = match read {
        Some(read) => read.with(id, sees.owner()),
        None => backend.build(&order_read(id, sees)),
    };
    let (mut order, mut attached) = (None, Vec::new());
    for row in db.query_all_raw(statement).await? {
        attached.extend(joined_row(&mut DriverRow::new(&row), &mut order).map_err(corrupt)?);
    }
    order
        .map(|order| with_records((order, attached)))
        .transpose()
}

/// A row the driver answered that does not read as its model.
pub(super) fn corrupt(e: super::row_models::ColumnError) -> StoreError {
    StoreError::Corrupt(format!("a row not in the shape of its model: {e}"))
}

/// The order's row model with its records as domain records, oldest first.
fn with_records(
    (order, attached): (orders::Model, Vec<AttachedRow>),
) -> Result<(orders::Model, Vec<CaptureRecord>, Vec<RefundRecord>), StoreError> {
    let (mut captures, mut refunds) = (Vec::new(), Vec::new());
    for row in attached {
        match Record::of(row)? {
            Record::Capture(capture) => captures.push(capture),
            Record::Refund(refund) => refunds.push(refund),
        }
    }
    oldest_first(&mut captures, |c| c.id.as_str());
    oldest_first(&mut refunds, |r| r.id.as_str());
    Ok((order, captures, refunds))
}

/// The statement of [`order_with_attached`]: the order's row joined to
/// its captures and refunds, each `UNION ALL` branch narrowed to the order,
/// so that neither database reads either table beyond its index on
/// `order_id`.
fn order_read(id: &str, sees: &Visibility) -> SelectStatement {
    let mut attached = branch(Table::Capture, Of::Orders(vec![id.to_owned()]));
    attached.union(
        UnionType::All,
        branch(Table::Refund, Of::Orders(vec![id.to_owned()])),
    );
    let by_id = super::row_models::view_select().filter(orders::Column::Id.eq(id));
    let mut query = super::reads::visible(by_id, sees).into_query();
    let a = Alias::new("a");
    query.join_subquery(
        JoinType::LeftJoin,
        attached,
        a.clone(),
        Expr::col((a.clone(), Alias::new("order_id"))).equals((orders::Entity, orders::Column::Id)),
    );
    query.expr_as(
        Expr::col((a.clone(), Alias::new("kind"))),
        Alias::new(format!("{ATTACHED}kind")),
    );
    for (column, _) in COLUMNS {
        query.expr_as(
            Expr::col((a.clone(), Alias::new(column))),
            Alias::new(format!("{ATTACHED}{column}")),
        );
    }
    query
}

/// [`order_read`] built once per database, with and without an owner:
/// sea-query assembling its columns and join again on every GetOrder was
/// 6 % of kessai's CPU for one (PostgreSQL). Built with stand-ins for the
/// id and the owner, whose places in the values the call fills.
struct OrderRead {
    backend: DatabaseBackend,
    sql: String,
    slots: Vec<Slot>,
}

enum Slot {
    Id,
    Owner,
    Fixed(Value),
}

/// Stand-ins unlike any other value the statement holds.
const ID_STAND_IN: &str = "\0order-id";
const OWNER_STAND_IN: &str = "\0owner";

static ORDER_READS: [[OnceLock<OrderRead>; 2]; 2] = [
    [OnceLock::new(), OnceLock::new()],
    [OnceLock::new(), OnceLock::new()],
];

impl OrderRead {
    /// The built statement for `backend`, narrowed by an owner or not.
    fn of(backend: DatabaseBackend, owned: bool) -> Option<&'static OrderRead> {
        let at = match backend {
            DatabaseBackend::Postgres => 0,
            DatabaseBackend::Sqlite => 1,
            _ => return None,
        };
        Some(ORDER_READS[at][usize::from(owned)].get_or_init(|| {
            let sees = if owned {
                Visibility::Owner(OWNER_STAND_IN.into())
            } else {
                Visibility::All
            };
            let built = backend.build(&order_read(ID_STAND_IN, &sees));
            let slots = built
                .values
                .map(|values| values.0)
                .unwrap_or_default()
                .into_iter()
                .map(|value| match &value {
                    Value::String(Some(s)) if s.as_str() == ID_STAND_IN => Slot::Id,
                    Value::String(Some(s)) if s.as_str() == OWNER_STAND_IN => Slot::Owner,
                    _ => Slot::Fixed(value),
                })
                .collect();
            OrderRead {
                backend,
                sql: built.sql,
                slots,
            }
        }))
    }

    /// The values for the order `id`, narrowed to `owner` if given, as
    /// text in turn; `None` if the statement holds a value of its own.
    fn params<'a>(&self, id: &'a str, owner: Option<&'a str>) -> Option<Vec<&'a str>> {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Id => Some(id),
                Slot::Owner => Some(owner.unwrap_or_default()),
                Slot::Fixed(_) => None,
            })
            .collect()
    }

    /// The statement for the order `id`, narrowed to `owner` if given.
    fn with(&self, id: &str, owner: Option<&str>) -> Statement {
        let values = self.slots.iter().map(|slot| match slot {
            Slot::Id => id.into(),
            Slot::Owner => owner.unwrap_or_default().into(),
            Slot::Fixed(value) => value.clone(),
        });
        Statement::from_sql_and_values(self.backend, self.sql.clone(), values)
    }
}

/// The prefix of the attached record's columns beside the order's.
const ATTACHED: &str = "a_";

#[cfg(test)]
mod tests {
    use super::*;

    /// The statement built once and filled in is the one sea-query builds
    /// for the call, on each database, with and without an owner.
    #[test]
    fn the_order_read_built_once_is_the_one_built_for_the_call() {
        let id = "ord_01JZZZZZZZZZZZZZZZZZZZZZZZ";
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            for sees in [Visibility::All, Visibility::Owner("shop".into())] {
                let read = OrderRead::of(backend, sees.owner().is_some()).expect("a backend");
                let filled = read.with(id, sees.owner());
                let built = backend.build(&order_read(id, &sees));
                assert_eq!(filled.sql, built.sql, "{backend:?} {sees:?}");
                assert_eq!(filled.values, built.values, "{backend:?} {sees:?}");
                assert_eq!(
                    built.values.map(|v| v.0.len()),
                    Some(3 + usize::from(sees.owner().is_some())),
                    "the id three times, and the owner"
                );
            }
        }
    }
}
