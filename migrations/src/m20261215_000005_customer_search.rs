//! The customer on every order, and what finds an order by it: the e-mail,
//! name and phone as given, the e-mail and name in search form (folded
//! width and case, no spaces), and `search_text` (id, merchant reference,
//! e-mail and name in search form, apart) for a free query.
//!
//! Indexes for substring search (see `src/store/search.rs`):
//! - PostgreSQL: `pg_trgm` (PostgreSQL's contrib) is created when the server
//!   has it and the migrating user may, then a GIN trigram index on
//!   `search_text`. Where it cannot be, the migration goes on without that
//!   index: searches still answer, walking the orders newest first, and
//!   kessai warns at start.
//! - SQLite: an FTS5 table with the trigram tokenizer, `orders_search`,
//!   filled by a trigger when an order is inserted (the text never changes
//!   after). Without FTS5 in the linked SQLite, the same walk.
//!
//! Both: `lower(provider_order_id)` indexed, for the whole provider order id
//! a free query also matches.
//!
//! Orders made before get their search text here, in SQL: `lower()` and
//! spaces removed (SQLite's `lower()` folds ASCII only, neither database
//! folds width), close to what kessai writes for new orders and the same
//! for the ASCII ids and references they hold.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Orders {
    Table,
    CustomerEmail,
    CustomerName,
    CustomerPhone,
    CustomerEmailNorm,
    CustomerNameNorm,
    SearchText,
}

const TRIGRAM_INDEX: &str = "idx_orders_search_trgm";
const PROVIDER_ID_INDEX: &str = "idx_orders_provider_order_id_lower";
const FTS_TABLE: &str = "orders_search";
const FTS_TRIGGER: &str = "orders_search_insert";

/// Whether the server offers `pg_trgm`, or already has it.
async fn trigram_available(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'pg_trgm'",
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0)
        > 0)
}

/// `pg_trgm` and the trigram index, inside a savepoint: a user without the
/// right to create the extension leaves the migration going, without it.
async fn postgres_trigram_index(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if !trigram_available(manager).await? {
        return Ok(());
    }
    let db = manager.get_connection();
    db.execute_unprepared("SAVEPOINT kessai_pg_trgm").await?;
    let mut created = db
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .await;
    if created.is_ok() {
        created = db
            .execute_unprepared(&format!(
                "CREATE INDEX {TRIGRAM_INDEX} ON orders USING gin (search_text gin_trgm_ops)"
            ))
            .await;
    }
    match created {
        Ok(_) => {
            db.execute_unprepared("RELEASE SAVEPOINT kessai_pg_trgm")
                .await?
        }
        Err(_) => {
            db.execute_unprepared("ROLLBACK TO SAVEPOINT kessai_pg_trgm")
                .await?
        }
    };
    Ok(())
}

/// The FTS5 table and its trigger, filled from the orders there are; none
/// where this SQLite has no FTS5 or no trigram tokenizer.
async fn sqlite_fts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let created = db
        .execute_unprepared(&format!(
            "CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(order_id UNINDEXED, search_text, \
             tokenize = 'trigram')"
        ))
        .await;
    if created.is_err() {
        return Ok(());
    }
    db.execute_unprepared(&format!(
        "CREATE TRIGGER {FTS_TRIGGER} AFTER INSERT ON orders BEGIN \
         INSERT INTO {FTS_TABLE} (order_id, search_text) VALUES (new.id, new.search_text); END"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO {FTS_TABLE} (order_id, search_text) SELECT id, search_text FROM orders"
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            Orders::CustomerEmail,
            Orders::CustomerName,
            Orders::CustomerPhone,
            Orders::CustomerEmailNorm,
            Orders::CustomerNameNorm,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(
                        ColumnDef::new(Orders::SearchText)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let separator = match backend {
            DbBackend::Postgres => "chr(31)",
            _ => "char(31)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE orders SET search_text = lower(replace(id, ' ', '') || \
                 CASE WHEN merchant_reference = '' THEN '' \
                 ELSE {separator} || replace(merchant_reference, ' ', '') END)"
            ))
            .await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {PROVIDER_ID_INDEX} ON orders (lower(provider_order_id))"
            ))
            .await?;
        match backend {
            DbBackend::Postgres => postgres_trigram_index(manager).await,
            DbBackend::Sqlite => sqlite_fts(manager).await,
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {FTS_TRIGGER}"))
                .await?;
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {FTS_TABLE}"))
                .await?;
        }
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {TRIGRAM_INDEX}"))
            .await?;
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {PROVIDER_ID_INDEX}"))
            .await?;
        for column in [
            Orders::SearchText,
            Orders::CustomerNameNorm,
            Orders::CustomerEmailNorm,
            Orders::CustomerPhone,
            Orders::CustomerName,
            Orders::CustomerEmail,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
