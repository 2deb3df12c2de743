//! The row models read from a row's columns by position, in the order the
//! statements select them: the order's columns as the entity declares
//! them, then a record's (`attached::COLUMNS`). Reading by name looked each
//! of an order's 48 columns up in the row's names, with a formatted name
//! for each prefixed one; on a ListOrders page on PostgreSQL that was an
//! eighth of the machine's CPU samples. The same mapping serves the
//! driver's rows and SQLite's rows read on the calling thread
//! (`sqlite_reads.rs`).

use sea_orm::QueryResult;
use sea_orm::prelude::DateTimeUtc;
use sea_orm::sqlx::postgres::Postgres;
use sea_orm::sqlx::{Decode, Row, Type};

use super::entities::{captures, orders, refunds};

/// A column that could not be read as the model's field.
#[derive(Debug, thiserror::Error)]
#[error("column {at}: {what}")]
pub(super) struct ColumnError {
    at: usize,
    what: String,
}

impl ColumnError {
    pub(super) fn at(at: usize, what: impl std::fmt::Display) -> Self {
        Self {
            at,
            what: what.to_string(),
        }
    }
}

/// A row's columns, read in turn. Each reads the next column, NULL as
/// `None`.
pub(super) trait RowReader {
    fn text(&mut self) -> Result<Option<String>, ColumnError>;
    fn int64(&mut self) -> Result<Option<i64>, ColumnError>;
    fn int32(&mut self) -> Result<Option<i32>, ColumnError>;
    fn boolean(&mut self) -> Result<Option<bool>, ColumnError>;
    fn time(&mut self) -> Result<Option<DateTimeUtc>, ColumnError>;
    /// Passes over `columns` columns.
    fn skip(&mut self, columns: usize);
    /// The position of the next column.
    fn position(&self) -> usize;

    /// The next column as `T`.
    fn next<T: FromColumn>(&mut self) -> Result<T, ColumnError>
    where
        Self: Sized,
    {
        T::read(self)
    }
}

/// A model's field type, read from the next column.
pub(super) trait FromColumn: Sized {
    fn read(row: &mut impl RowReader) -> Result<Self, ColumnError>;
}

macro_rules! from_column {
    ($($t:ty => $read:ident),* $(,)?) => {$(
        impl FromColumn for Option<$t> {
            fn read(row: &mut impl RowReader) -> Result<Self, ColumnError> {
                row.$read()
            }
        }

        impl FromColumn for $t {
            fn read(row: &mut impl RowReader) -> Result<Self, ColumnError> {
                let at = row.position();
                row.$read()?.ok_or_else(|| ColumnError::at(at, "NULL where a value must be"))
            }
        }
    )*};
}

from_column! {
    String => text,
    i64 => int64,
    i32 => int32,
    bool => boolean,
    DateTimeUtc => time,
}

/// The [`RowReader`] methods of a reader with a column position `at` and
/// a `take` that reads the column there as its type: `skip`, `position`,
/// and the named reads.
macro_rules! reads_in_turn {
    ($($read:ident: $t:ty),*) => {
        $(fn $read(&mut self) -> Result<Option<$t>, ColumnError> {
            self.take()
        })*

        fn skip(&mut self, columns: usize) {
            self.at += columns;
        }

        fn position(&self) -> usize {
            self.at
        }
    };
}
pub(super) use reads_in_turn;

/// A row the driver answered, its columns read in turn.
pub(super) struct DriverRow<'r> {
    row: &'r QueryResult,
    at: usize,
}

impl<'r> DriverRow<'r> {
    pub(super) fn new(row: &'r QueryResult) -> Self {
        Self { row, at: 0 }
    }

    fn take<T>(&mut self) -> Result<Option<T>, ColumnError>
    where
        T: sea_orm::TryGetable + for<'v> Decode<'v, Postgres> + Type<Postgres>,
    {
        let at = self.at;
        self.at += 1;
        // The driver's own read, unchecked: sea-orm's answers each NULL
        // with an error whose text it formats, and the driver's checked
        // read compares each value's type with every type its Rust type
        // accepts; a page of orders is four thousand values. The statements
        // are this store's own and the tests read every column back on both
        // databases. Unchecked, text that is not UTF-8 and an integer that
        // does not fit still fail.
        if let Some(row) = self.row.try_as_pg_row() {
            return row
                .try_get_unchecked::<Option<T>, usize>(at)
                .map_err(|e| ColumnError::at(at, e));
        }
        self.row
            .try_get_by_index::<Option<T>>(at)
            .map_err(|e| ColumnError::at(at, e))
    }
}

impl RowReader for DriverRow<'_> {
    reads_in_turn!(text: String, int64: i64, int32: i32, boolean: bool, time: DateTimeUtc);
}

/// The capture or refund joined to an order's row, if any.
pub(super) enum AttachedRow {
    Capture(captures::Model),
    Refund(refunds::Model),
}

/// The order's columns in the order `order_model` reads them, which is the
/// order of `orders::Column` without its last four, the search columns: a
/// search reads them through its indexes and no view shows them
/// ([`view_select`]).
pub(super) const ORDER_COLUMNS: [&str; 44] = [
    "id",
    "provider",
    "provider_order_id",
    "merchant_reference",
    "description",
    "currency",
    "capture_method",
    "payment_method",
    "auth_state",
    "release",
    "status",
    "amount",
    "amount_authorized",
    "amount_captured",
    "amount_refunded",
    "pending_capture",
    "pending_refund",
    "captures_succeeded",
    "captures_pending",
    "void_pending",
    "unsettled",
    "expires_at",
    "next_action_kind",
    "next_action_value",
    "failure_code",
    "failure_message",
    "failure_provider_code",
    "livemode",
    "metadata",
    "provider_data",
    "card_bin",
    "card_last4",
    "card_brand",
    "card_exp_month",
    "card_exp_year",
    "needs_review",
    "next_sync_at",
    "created_at",
    "updated_at",
    "lock_version",
    "owner",
    "customer_email",
    "customer_name",
    "customer_phone",
];

/// The orders as a view reads them: every column of [`ORDER_COLUMNS`], in
/// its order, for [`order_model`].
pub(super) fn view_select() -> sea_orm::Select<orders::Entity> {
    use sea_orm::{EntityTrait, QuerySelect};
    orders::Entity::find().select_only().columns(view_columns())
}

/// [`view_select`]'s columns.
pub(super) fn view_columns() -> impl Iterator<Item = orders::Column> {
    use sea_orm::{IdenStatic, Iterable};
    orders::Column::iter().filter(|c| ORDER_COLUMNS.contains(&IdenStatic::as_str(c)))
}

/// The orders as a read of their versions selects them: the id and the
/// row's version (`view_cache.rs`), for [`stamp`].
pub(super) fn stamp_select() -> sea_orm::Select<orders::Entity> {
    use sea_orm::{EntityTrait, QuerySelect};
    orders::Entity::find()
        .select_only()
        .columns(stamp_columns())
}

/// [`stamp_select`]'s columns.
pub(super) fn stamp_columns() -> [orders::Column; 2] {
    [orders::Column::Id, orders::Column::LockVersion]
}

/// The id and version in a row of [`stamp_select`]'s columns.
pub(super) fn stamp(c: &mut impl RowReader) -> Result<super::view_cache::Stamp, ColumnError> {
    Ok(super::view_cache::Stamp {
        id: c.next()?,
        version: c.next()?,
    })
}

/// The order in a row of [`view_select`]'s columns; the search columns,
/// which it does not select, are left empty.
pub(super) fn order_model(c: &mut impl RowReader) -> Result<orders::Model, ColumnError> {
    Ok(orders::Model {
        id: c.next()?,
        provider: c.next()?,
        provider_order_id: c.next()?,
        merchant_reference: c.next()?,
        description: c.next()?,
        currency: c.next()?,
        capture_method: c.next()?,
        payment_method: c.next()?,
        auth_state: c.next()?,
        release: c.next()?,
        status: c.next()?,
        amount: c.next()?,
        amount_authorized: c.next()?,
        amount_captured: c.next()?,
        amount_refunded: c.next()?,
        pending_capture: c.next()?,
        pending_refund: c.next()?,
        captures_succeeded: c.next()?,
        captures_pending: c.next()?,
        void_pending: c.next()?,
        unsettled: c.next()?,
        expires_at: c.next()?,
        next_action_kind: c.next()?,
        next_action_value: c.next()?,
        failure_code: c.next()?,
        failure_message: c.next()?,
        failure_provider_code: c.next()?,
        livemode: c.next()?,
        metadata: c.next()?,
        provider_data: c.next()?,
        card_bin: c.next()?,
        card_last4: c.next()?,
        card_brand: c.next()?,
        card_exp_month: c.next()?,
        card_exp_year: c.next()?,
        needs_review: c.next()?,
        next_sync_at: c.next()?,
        created_at: c.next()?,
        updated_at: c.next()?,
        lock_version: c.next()?,
        owner: c.next()?,
        customer_email: c.next()?,
        customer_name: c.next()?,
        customer_phone: c.next()?,
        customer_email_norm: None,
        customer_name_norm: None,
        customer_email_local_rev: None,
        search_text: String::new(),
    })
}

/// A row of an order joined to one of its records (`attached::order_read`):
/// the order's model into `order` from the first such row, then the record.
pub(super) fn joined_row(
    row: &mut impl RowReader,
    order: &mut Option<orders::Model>,
) -> Result<Option<AttachedRow>, ColumnError> {
    match order {
        None => *order = Some(order_model(row)?),
        Some(_) => row.skip(ORDER_COLUMNS.len()),
    }
    attached_row(row)
}

/// The record in the row's next columns (`kind`, then those of
/// `attached::COLUMNS`, in its order), if the order has one in this row.
pub(super) fn attached_row(c: &mut impl RowReader) -> Result<Option<AttachedRow>, ColumnError> {
    let kind: Option<String> = c.next()?;
    let Some(kind) = kind else {
        return Ok(None);
    };
    let id = c.next()?;
    let order_id = c.next()?;
    let amount = c.next()?;
    let status = c.next()?;
    let reference = c.next()?;
    let description = c.next()?;
    let failure_code = c.next()?;
    let failure_message = c.next()?;
    let failure_provider_code = c.next()?;
    let created_at = c.next()?;
    let updated_at = c.next()?;
    if kind == "capture" {
        Ok(Some(AttachedRow::Capture(captures::Model {
            id,
            order_id,
            amount,
            status,
            final_capture: c.next()?,
            provider_capture_id: c.next()?,
            reference,
            description,
            amount_refunded: c.next()?,
            pending_refund: c.next()?,
            failure_code,
            failure_message,
            failure_provider_code,
            created_at,
            updated_at,
        })))
    } else {
        // Past the capture's own four columns, NULL in a refund's row.
        c.skip(4);
        Ok(Some(AttachedRow::Refund(refunds::Model {
            id,
            order_id,
            amount,
            status,
            reason: c.next()?,
            reference,
            description,
            parts: c.next()?,
            failure_code,
            failure_message,
            failure_provider_code,
            created_at,
            updated_at,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn the_order_columns_are_the_entity_columns_in_order_without_the_search_columns() {
        const SEARCH_COLUMNS: [orders::Column; 4] = [
            orders::Column::CustomerEmailNorm,
            orders::Column::CustomerNameNorm,
            orders::Column::CustomerEmailLocalRev,
            orders::Column::SearchText,
        ];
        let entity: Vec<String> = orders::Column::iter()
            .map(|c| sea_orm::IdenStatic::as_str(&c).to_owned())
            .collect();
        let search: Vec<String> = SEARCH_COLUMNS
            .iter()
            .map(|c| sea_orm::IdenStatic::as_str(c).to_owned())
            .collect();
        // The search columns are the entity's last: the view's are its
        // first, in order.
        assert_eq!(entity[ORDER_COLUMNS.len()..], search[..]);
        assert_eq!(
            entity[..ORDER_COLUMNS.len()],
            ORDER_COLUMNS.map(str::to_owned)[..]
        );
        let selected =
            sea_orm::QueryTrait::build(&view_select(), sea_orm::DatabaseBackend::Postgres).sql;
        let listed: Vec<String> = ORDER_COLUMNS
            .iter()
            .map(|c| format!(r#""orders"."{c}""#))
            .collect();
        assert!(
            selected.starts_with(&format!("SELECT {} FROM", listed.join(", "))),
            "{selected}"
        );
    }

    /// `attached_row` reads the record's columns in the order the
    /// statements select them.
    #[test]
    fn the_record_columns_are_read_in_the_order_selected() {
        let selected: Vec<&str> = super::super::attached::COLUMNS
            .iter()
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(
            selected,
            [
                "id",
                "order_id",
                "amount",
                "status",
                "reference",
                "description",
                "failure_code",
                "failure_message",
                "failure_provider_code",
                "created_at",
                "updated_at",
                "final_capture",
                "provider_capture_id",
                "amount_refunded",
                "pending_refund",
                "reason",
                "parts",
            ]
        );
    }
}
