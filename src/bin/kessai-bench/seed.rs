//! Orders for the scale figures, made in SQL on either database: copies of
//! one order made through the API, each with its own id, provider order id,
//! merchant reference and customer, and the search text kessai would have
//! written for them (`kessai::domain::search`), so searches find them as
//! they would find orders taken by kessai.

use anyhow::bail;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Orders per seeded customer: a shop's returning shoppers.
pub const ORDERS_PER_CUSTOMER: u64 = 20;
const NAME_WIDTH: usize = 10;
const DOMAIN_WIDTH: usize = 16;
/// Family and given names as the seeded customers spell them (Hepburn,
/// capitalized): 40 × 40 pairs, then numbered.
pub const FAMILIES: [&str; 40] = [
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Ito",
    "Watanabe",
    "Yamamoto",
    "Nakamura",
    "Kobayashi",
    "Kato",
    "Yoshida",
    "Yamada",
    "Sasaki",
    "Yamaguchi",
    "Matsumoto",
    "Inoue",
    "Kimura",
    "Hayashi",
    "Shimizu",
    "Yamazaki",
    "Mori",
    "Abe",
    "Ikeda",
    "Hashimoto",
    "Yamashita",
    "Ishikawa",
    "Nakajima",
    "Maeda",
    "Fujita",
    "Ogawa",
    "Goto",
    "Okada",
    "Hasegawa",
    "Murakami",
    "Kondo",
    "Ishii",
    "Saito",
    "Sakamoto",
    "Endo",
    "Aoki",
];
const GIVENS: [&str; 40] = [
    "Hiroshi", "Takashi", "Makoto", "Akira", "Kenji", "Daiki", "Shota", "Yuto", "Haruto", "Sota",
    "Ren", "Minato", "Riku", "Kaito", "Yamato", "Sora", "Taro", "Jiro", "Ken", "Sho", "Yoko",
    "Keiko", "Yumi", "Akiko", "Tomoko", "Yuki", "Aoi", "Hina", "Yui", "Sakura", "Mei", "Rin",
    "Hanako", "Misaki", "Nanami", "Haruka", "Ayaka", "Mai", "Emi", "Kana",
];
const DOMAINS: [&str; 7] = [
    "gmail.com",
    "yahoo.co.jp",
    "icloud.com",
    "docomo.ne.jp",
    "ezweb.ne.jp",
    "outlook.jp",
    "example.co.jp",
];

/// The customers of `scale` seeded orders: order `g` is customer
/// `g % count`'s.
#[derive(Debug, Clone, Copy)]
pub struct Customers {
    pub count: u64,
}

impl Customers {
    pub fn of(scale: u64) -> Self {
        Self {
            count: (scale / ORDERS_PER_CUSTOMER).max(1),
        }
    }

    fn family(c: u64) -> &'static str {
        FAMILIES[(c % 40) as usize]
    }

    fn given(c: u64) -> &'static str {
        GIVENS[(c / 40 % 40) as usize]
    }

    /// Customer `c`'s e-mail, as the SQL below spells it.
    pub fn email(c: u64) -> String {
        format!(
            "{}.{}{}@{}",
            Self::given(c).to_lowercase(),
            Self::family(c).to_lowercase(),
            c / 1_600,
            DOMAINS[(c % 7) as usize]
        )
    }

    /// Customer `c`'s family name (shared by one customer in 40).
    pub fn family_name(c: u64) -> &'static str {
        Self::family(c)
    }
}

/// The SQL each database speaks where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    fn order_id(self, g: &str) -> String {
        match self {
            Dialect::Postgres => format!("'ord_01' || lpad(upper(to_hex({g})), 24, '0')"),
            Dialect::Sqlite => format!("printf('ord_01%024X', {g})"),
        }
    }

    /// The field separator of `search_text` (U+001F).
    fn separator(self) -> &'static str {
        match self {
            Dialect::Postgres => "chr(31)",
            Dialect::Sqlite => "char(31)",
        }
    }

    /// The numbers `start..=end` as a relation `series(g)`, and the clause
    /// that opens the statement (SQLite's recursive CTE).
    fn series(self, start: u64, end: u64) -> (String, String) {
        match self {
            Dialect::Postgres => (
                String::new(),
                format!("generate_series({start}::bigint, {end}::bigint) AS series(g)"),
            ),
            Dialect::Sqlite => (
                format!(
                    "WITH RECURSIVE series(g) AS (SELECT {start} UNION ALL \
                     SELECT g + 1 FROM series WHERE g < {end}) "
                ),
                "series".into(),
            ),
        }
    }
}

/// Digits a seeded e-mail's number (customer / 1,600) can have.
const DIGITS: usize = 7;

/// `names`, lower-cased and spelled backwards.
fn reversed_lower(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| n.to_lowercase().chars().rev().collect())
        .collect()
}

/// `names[index]` from one packed literal (both databases have `substr`).
fn pick(names: &[impl AsRef<str>], width: usize, index: &str) -> String {
    let packed: String = names
        .iter()
        .map(|n| format!("{:<width$}", n.as_ref()))
        .collect();
    format!("rtrim(substr('{packed}', CAST(({index}) * {width} + 1 AS INTEGER), {width}))")
}

/// `INSERT … SELECT` of orders `start..=end`, copies of the order `$1`
/// (`?1` on SQLite) with `columns` (the table's, in order).
fn seed_statement(
    dialect: Dialect,
    columns: &[String],
    customers: Customers,
    start: u64,
    end: u64,
) -> String {
    let (with, series) = dialect.series(start, end);
    let c = format!("(g % {})", customers.count);
    let family = pick(&FAMILIES, NAME_WIDTH, &format!("{c} % 40"));
    let given = pick(&GIVENS, NAME_WIDTH, &format!("{c} / 40 % 40"));
    let domain = pick(&DOMAINS, DOMAIN_WIDTH, &format!("{c} % 7"));
    let id = dialect.order_id("g");
    let sep = dialect.separator();
    // The local part reversed, as kessai stores it (neither database's
    // `reverse` is on both): the number's digits reversed by `substr`,
    // then the names from lists spelled backwards.
    let number = format!("CAST(({c} / 1600) AS TEXT)");
    let number_reversed = (1..=DIGITS)
        .rev()
        .map(|i| format!("substr({number}, {i}, 1)"))
        .collect::<Vec<_>>()
        .join(" || ");
    let family_reversed = pick(&reversed_lower(&FAMILIES), NAME_WIDTH, &format!("{c} % 40"));
    let given_reversed = pick(
        &reversed_lower(&GIVENS),
        NAME_WIDTH,
        &format!("{c} / 40 % 40"),
    );
    let derived = format!(
        "g, {id} AS id, lower({given}) || '.' || lower({family}) || ({c} / 1600) || '@' || \
         {domain} AS email, {family} || ' ' || {given} AS name, \
         {number_reversed} || {family_reversed} || '.' || {given_reversed} AS local_reversed"
    );
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let values = columns
        .iter()
        .map(|column| match column.as_str() {
            "id" => "s.id".to_owned(),
            "provider_order_id" => "'pi_seeded_' || s.g".to_owned(),
            "merchant_reference" => "'seeded-' || s.g".to_owned(),
            "customer_email" | "customer_email_norm" => "s.email".to_owned(),
            "customer_name" => "s.name".to_owned(),
            "customer_phone" => "NULL".to_owned(),
            "customer_name_norm" => "lower(replace(s.name, ' ', ''))".to_owned(),
            "customer_email_local_rev" => "s.local_reversed".to_owned(),
            "search_text" => format!(
                "lower(s.id) || {sep} || 'seeded-' || s.g || {sep} || s.email || {sep} || \
                 lower(replace(s.name, ' ', ''))"
            ),
            other => format!("t.\"{other}\""),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let template = match dialect {
        Dialect::Postgres => "$1",
        Dialect::Sqlite => "?1",
    };
    format!(
        "{with}INSERT INTO orders ({list}) SELECT {values} FROM orders t \
         CROSS JOIN (SELECT {derived} FROM {series}) AS s WHERE t.id = {template}"
    )
}

const BATCH: u64 = 100_000;

fn batches(from: u64, upto: u64) -> impl Iterator<Item = (u64, u64)> {
    (from..=upto)
        .step_by(BATCH as usize)
        .map(move |start| (start, (start + BATCH - 1).min(upto)))
}

/// Copies the order `template` (an authorized order with no capture) until
/// the table holds orders `from..=upto` of [`crate::postgres::seeded_order_id`],
/// customers spread as [`Customers::of`]`(customers_for)`, in batches.
async fn seed(
    dialect: Dialect,
    db: &DatabaseConnection,
    template: &str,
    (from, upto): (u64, u64),
    customers_for: u64,
) -> anyhow::Result<()> {
    let (backend, columns_sql) = match dialect {
        Dialect::Postgres => (
            DbBackend::Postgres,
            "SELECT column_name::text AS name FROM information_schema.columns \
             WHERE table_name = 'orders' AND table_schema = current_schema() \
             ORDER BY ordinal_position",
        ),
        Dialect::Sqlite => (
            DbBackend::Sqlite,
            "SELECT name FROM pragma_table_info('orders') ORDER BY cid",
        ),
    };
    let columns = db
        .query_all_raw(Statement::from_string(backend, columns_sql))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "name"))
        .collect::<Result<Vec<_>, _>>()?;
    let customers = Customers::of(customers_for);
    for (start, end) in batches(from, upto) {
        let statement = seed_statement(dialect, &columns, customers, start, end);
        let inserted = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                statement,
                [template.into()],
            ))
            .await?
            .rows_affected();
        if inserted != end - start + 1 {
            bail!(
                "seeding inserted {inserted} orders, expected {}",
                end - start + 1
            );
        }
    }
    Ok(())
}

/// One connection (a session's settings hold for every statement), no
/// statement logged.
async fn one_connection(database_url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = sea_orm::ConnectOptions::new(database_url);
    options.max_connections(1).sqlx_logging(false);
    Ok(sea_orm::Database::connect(options).await?)
}

/// [`seed`] on `database_url`, then what the database would do to the new
/// rows over the next minutes, done now so that it does not run during the
/// measurement: on PostgreSQL a vacuum, an analyze and a checkpoint (what
/// autovacuum and the checkpointer do); on SQLite a checkpoint of the
/// write-ahead log, and no analyze (kessai never analyzes a SQLite
/// database). SQLite's search table fills through its trigger, as for
/// every order.
pub async fn seed_orders(
    dialect: Dialect,
    database_url: &str,
    template: &str,
    range: (u64, u64),
    customers_for: u64,
) -> anyhow::Result<()> {
    let db = one_connection(database_url).await?;
    if dialect == Dialect::Sqlite {
        db.execute_unprepared("PRAGMA busy_timeout = 30000").await?;
    }
    seed(dialect, &db, template, range, customers_for).await?;
    match dialect {
        Dialect::Postgres => {
            db.execute_unprepared("VACUUM ANALYZE orders").await?;
            // Needs a superuser (or pg_checkpoint); the figures only get noisier without it.
            let _ = db.execute_unprepared("CHECKPOINT").await;
        }
        Dialect::Sqlite => {
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
    }
    db.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_names_the_customer_the_harness_searches_for() {
        // Customer 1,641: family 1,641 % 40 = 1, given 1,641 / 40 % 40 = 1,
        // number 1,641 / 1,600 = 1, domain 1,641 % 7 = 3.
        assert_eq!(Customers::email(1_641), "takashi.suzuki1@docomo.ne.jp");
        assert_eq!(Customers::family_name(1_641), "Suzuki");
        assert_eq!(Customers::of(1_000_000).count, 50_000);
        let packed = pick(&FAMILIES, NAME_WIDTH, "x");
        assert!(packed.contains("'Sato      Suzuki    "), "{packed}");
    }

    #[test]
    fn batches_cover_the_range_once() {
        let all: Vec<(u64, u64)> = batches(10_001, 250_000).collect();
        assert_eq!(
            all,
            [(10_001, 110_000), (110_001, 210_000), (210_001, 250_000)]
        );
    }
}
