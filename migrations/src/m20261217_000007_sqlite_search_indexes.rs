//! `orders.customer_email_local_rev`: the e-mail's part before its `@`,
//! reversed (kessai's `domain::email_local_reversed`; the empty string when
//! the e-mail's search form holds a second `@`).
//!
//! Every address that holds a searched `local@domain` has a local part that
//! ends with the term's, so its reversed local part begins with the term's
//! reversed: on SQLite an ordered index finds those orders by a prefix range
//! (`idx_orders_email_local_rev`), where the trigram table must merge the
//! posting lists of every trigram of the address, which at a million orders
//! cost several milliseconds a search. PostgreSQL's trigram index already
//! answers within its target and gets the column only, kept the same way.
//!
//! On SQLite, orders made before get the column here, row by row (SQLite
//! has no `reverse`). On PostgreSQL nothing reads it, and filling it would
//! rewrite every order row for nothing (a new version of each, and the
//! table's size doubled until vacuum): there, orders made before the
//! migration keep it NULL. A query that ever reads it on PostgreSQL fills
//! it first (`reverse(split_part(customer_email_norm, '@', 1))`, or `''`
//! where the e-mail holds a second `@`).
//!
//! Also on SQLite, `idx_orders_owner_id` (`owner, id`) becomes
//! `idx_orders_owner_id_search_text` (`owner, id, search_text`). A search
//! whose term many orders hold walks a caller's orders newest first through
//! it until a page is full, and every term is also asked of `search_text`:
//! SQLite tests that on the index entry and reads only the rows that pass,
//! where it read every row on the way (a family name held by one order in
//! 40: ~2,000 rows, ~350 pages, for a page of 50). The index serves what the
//! old one did, only grows at its end (ids do) and no update touches it.
//! `idx_orders_id_search_text` (`id, search_text`) does the same for a walk
//! over every order (a caller that sees all of them); kessai names it in
//! that statement (`INDEXED BY`), as SQLite's planner would walk the primary
//! key's index instead.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    CustomerEmailLocalRev,
}

const INDEX: &str = "idx_orders_email_local_rev";
const OWNER_INDEX: &str = "idx_orders_owner_id";
const OWNER_WALK_INDEX: &str = "idx_orders_owner_id_search_text";
const WALK_INDEX: &str = "idx_orders_id_search_text";

/// What kessai writes for an e-mail in search form.
fn local_reversed(email_key: &str) -> String {
    match email_key.split_once('@') {
        Some((local, domain)) if !domain.contains('@') => local.chars().rev().collect(),
        Some(_) | None => String::new(),
    }
}

async fn fill_sqlite(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    // A page of orders at a time, so that memory stays flat however many.
    let mut after = String::new();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT id, customer_email_norm FROM orders \
                 WHERE id > ? AND customer_email_norm IS NOT NULL ORDER BY id LIMIT 10000",
                [after.clone().into()],
            ))
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.try_get("", "id")?;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let email: String = row.try_get("", "customer_email_norm")?;
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "UPDATE orders SET customer_email_local_rev = ? WHERE id = ?",
                [local_reversed(&email).into(), id.into()],
            ))
            .await?;
        }
    }
    db.execute_unprepared(&format!(
        "CREATE INDEX {INDEX} ON orders (customer_email_local_rev) \
         WHERE customer_email_local_rev IS NOT NULL"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX {OWNER_WALK_INDEX} ON orders (owner, id, search_text)"
    ))
    .await?;
    db.execute_unprepared(&format!("DROP INDEX {OWNER_INDEX}"))
        .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX {WALK_INDEX} ON orders (id, search_text)"
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(ColumnDef::new(Orders::CustomerEmailLocalRev).text().null())
                    .to_owned(),
            )
            .await?;
        match manager.get_database_backend() {
            DbBackend::Sqlite => fill_sqlite(manager).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP INDEX IF EXISTS {INDEX}"))
                .await?;
            let db = manager.get_connection();
            db.execute_unprepared(&format!("CREATE INDEX {OWNER_INDEX} ON orders (owner, id)"))
                .await?;
            db.execute_unprepared(&format!("DROP INDEX {OWNER_WALK_INDEX}"))
                .await?;
            db.execute_unprepared(&format!("DROP INDEX {WALK_INDEX}"))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::CustomerEmailLocalRev)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::local_reversed;

    #[test]
    fn the_column_is_the_local_part_reversed() {
        assert_eq!(local_reversed("hanako.sato12@example.jp"), "21otas.okanah");
        assert_eq!(local_reversed("a@b@c"), "");
    }
}
