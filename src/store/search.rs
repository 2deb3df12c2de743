//! ListOrders' customer and free-text filters, on each database.
//!
//! Both databases answer the same question: a term (in search form,
//! `domain::search`) is part of the stored e-mail, the stored name or the
//! order's search text, or is its whole provider order id. They differ in
//! the index that finds candidates for a page, newest first:
//!
//! - PostgreSQL: a `pg_trgm` GIN index on `search_text` (every term is also
//!   asked of it) and one on `lower(provider_order_id)`. The planner picks,
//!   from the column's statistics, between those indexes (a rare term) and
//!   walking the orders newest first until a page is full (a common one).
//!   Without `pg_trgm` (see the migration) only the walk is left.
//! - SQLite: an FTS5 table with the trigram tokenizer (`orders_search`, kept
//!   by a trigger on insert). SQLite's planner cannot weigh a virtual table
//!   against the walk, so kessai does: it counts up to
//!   [`FTS_CANDIDATES`] matches in the FTS table, and below that reads the
//!   matches through it, at or above it walks. A term under three
//!   characters (which the trigram index cannot find) or holding a GLOB
//!   wildcard is not asked of it, and always walks. An e-mail term holding
//!   `@` is found instead through an ordered index on the reversed local part
//!   (`idx_orders_email_local_rev`, see `domain::email_local_reversed`):
//!   one B-tree range, where the trigram table merges a posting list per
//!   trigram of the address.

use sea_orm::sea_query::extension::sqlite::SqliteBinOper;
use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseBackend, ExprTrait, QueryFilter, Select, Statement, Value};

use super::Store;
use super::entities::orders;
use super::error::StoreError;
use super::sqlite_reads::answered;
use crate::domain::{OrderSearch, SearchTerm, address_probe};

/// Below this many matches of its best term, a search on SQLite reads
/// them through the FTS index and the orders by id (at most this many); at
/// or above it, matches are at least this dense, so walking the orders
/// newest first fills a page soon. `kessai-bench search` on 20,000 orders:
/// at 1,000 a family name (500 matches) took 3.1 × a plain page, at 300
/// 2.6 ×.
pub const FTS_CANDIDATES: u64 = 300;

fn column(c: orders::Column) -> SimpleExpr {
    Expr::col((orders::Entity, c))
}

/// `c` holds `term`: LIKE on PostgreSQL (backslash is its default escape),
/// GLOB on SQLite (case-sensitive, as the stored forms are lower-case, and
/// the operator its trigram index serves).
fn contains(c: orders::Column, term: &SearchTerm, backend: DatabaseBackend) -> SimpleExpr {
    match backend {
        DatabaseBackend::Sqlite => {
            column(c).binary(SqliteBinOper::Glob, Expr::val(glob_pattern(term)))
        }
        _ => column(c).like(like_pattern(term)),
    }
}

fn like_pattern(term: &SearchTerm) -> String {
    let mut pattern = String::from("%");
    for c in term.as_str().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn glob_pattern(term: &SearchTerm) -> String {
    let mut pattern = String::from("*");
    for c in term.as_str().chars() {
        match c {
            '*' | '?' | '[' => {
                pattern.push('[');
                pattern.push(c);
                pattern.push(']');
            }
            _ => pattern.push(c),
        }
    }
    pattern.push('*');
    pattern
}

/// The whole provider order id, ignoring case (`idx_orders_provider_order_id_lower`).
fn provider_order_id_is(term: &SearchTerm) -> SimpleExpr {
    Func::lower(column(orders::Column::ProviderOrderId)).eq(term.as_str())
}

/// What every matching order satisfies, on either database.
fn conditions(search: &OrderSearch, backend: DatabaseBackend) -> Vec<SimpleExpr> {
    let mut all = Vec::new();
    if let Some(term) = &search.email {
        all.push(contains(orders::Column::CustomerEmailNorm, term, backend));
    }
    if let Some(term) = &search.name {
        all.push(contains(orders::Column::CustomerNameNorm, term, backend));
    }
    if let Some(term) = &search.query {
        all.push(
            contains(orders::Column::SearchText, term, backend).or(provider_order_id_is(term)),
        );
    }
    // The e-mail and the name are part of the search text too. Asked of it
    // as well, on PostgreSQL the one trigram index finds candidates for
    // them; on SQLite a caller's walk tests it on the entries of
    // `idx_orders_owner_id_search_text` and reads only the orders that pass.
    for term in [&search.email, &search.name].into_iter().flatten() {
        all.push(contains(orders::Column::SearchText, term, backend));
    }
    all
}

/// The index a SQLite walk over every order reads (`id, search_text`).
const WALK_INDEX: &str = "idx_orders_id_search_text";

/// `page` (a SQLite `SELECT … FROM "orders" …`) read through
/// [`WALK_INDEX`]: newest first, every search term is tested on
/// `search_text` in the index entry and only the orders that pass are read.
/// SQLite's planner, which has no statistics here, would walk the primary
/// key's index and read every order on the way (measured: 0.9 ms against
/// 0.45 ms for a family name held by one order in 40, warm), so the index
/// is named. Only for a walk that no other filter narrows (those have
/// their own indexes), and only in `id` order, which the index gives.
pub(super) fn through_walk_index(mut page: Statement) -> Statement {
    const FROM: &str = r#"FROM "orders""#;
    if let Some(at) = page.sql.find(FROM) {
        page.sql
            .insert_str(at + FROM.len(), &format!(r#" INDEXED BY "{WALK_INDEX}""#));
    }
    page
}

/// The orders an address search on SQLite reads: those whose reversed
/// local part has the term's as prefix, and those whose e-mail holds a
/// second `@` (the empty string, a candidate for every address), at most
/// [`FTS_CANDIDATES`], written in: a bound limit would have SQLite plan the
/// statement again on every run (`reads::literal_limit`). Each half reads
/// `idx_orders_email_local_rev`.
const ADDRESS_CANDIDATES: &str = "SELECT order_id FROM (\
     SELECT id AS order_id FROM orders \
     WHERE customer_email_local_rev >= ?1 AND customer_email_local_rev < ?2 \
     UNION ALL SELECT id AS order_id FROM orders WHERE customer_email_local_rev = '') LIMIT 300";

/// What an address search narrows the page's read to.
enum Narrowing {
    /// `id IN (…)`: every order the search can match is among these.
    Candidates(SimpleExpr),
    /// Too many candidates: walking the orders fills a page soon.
    Dense,
    /// The search has no e-mail term with an `@` to find this way.
    NotAnAddress,
}

/// The SQLite FTS probe for `fragment`: the rows of the FTS table whose
/// search text holds it, at most [`FTS_CANDIDATES`], as their rowids.
///
/// The fragment is asked as a phrase of its trigrams (`MATCH`), which the
/// index answers from its position lists alone: a `GLOB` is answered by
/// testing the pattern on each candidate's text, read from the table's
/// content, and those reads were most of a dense term's search. The phrase
/// finds the orders whose text holds the fragment, as the `GLOB` did
/// (folding case too, where the stored text is already lower-case); the
/// page's own condition still tests each order it reads. Only rowids are
/// read: the position lists hold them, where each row's order id is one
/// more seek into the table's content, half of the probe's time for a term
/// too dense to be read this way (`fts_rows`).
fn fts_probe(fragment: &str) -> (String, Vec<Value>) {
    (
        format!(
            "SELECT CAST(rowid AS TEXT) FROM orders_search WHERE search_text MATCH ? \
             LIMIT {FTS_CANDIDATES}"
        ),
        vec![format!("\"{}\"", fragment.replace('"', "\"\"")).into()],
    )
}

/// The page's narrowing to the orders of the FTS rows `rowids` (read by
/// rowid inside the page's statement), and for a free query to the orders
/// whose provider order id is the whole term, which is then `fragment`.
fn fts_rows(rowids: &[i64], fragment: &str, free_query: bool) -> SimpleExpr {
    let mut sql =
        String::from(r#""orders"."id" IN (SELECT order_id FROM orders_search WHERE rowid IN ("#);
    sql.push_str(&vec!["?"; rowids.len()].join(", "));
    sql.push(')');
    let mut values: Vec<Value> = rowids.iter().map(|&rowid| rowid.into()).collect();
    if free_query {
        sql.push_str(" UNION ALL SELECT id FROM orders WHERE lower(provider_order_id) = ?");
        values.push(fragment.to_owned().into());
    }
    sql.push(')');
    Expr::cust_with_values(sql, values)
}

/// What to ask the trigram index for a term, if it can find it: the term
/// itself, or for an e-mail its part before the `@` — every order holding
/// the address holds that part, and a shop's few domains would make every
/// order a candidate for the domain's trigrams (the page's own condition
/// still matches the whole address). A free query is asked whole, as a
/// provider order id must match whole.
fn probe(term: &SearchTerm, free_query: bool) -> Option<String> {
    let text = term.as_str();
    let fragment = match text.split_once('@') {
        Some((local, _)) if !free_query && local.chars().count() >= 3 => local,
        Some(_) | None => text,
    };
    (fragment.chars().count() >= 3 && !fragment.contains(['*', '?', '[']))
        .then(|| fragment.to_owned())
}

impl Store {
    /// `query` narrowed to the orders `search` matches, and whether it
    /// walks the orders (on SQLite, a search whose index found no few
    /// candidates to read instead).
    pub(super) async fn searched(
        &self,
        mut query: Select<orders::Entity>,
        search: &OrderSearch,
    ) -> Result<(Select<orders::Entity>, bool), StoreError> {
        if search.is_empty() {
            return Ok((query, false));
        }
        let backend = self.backend();
        for condition in conditions(search, backend) {
            query = query.filter(condition);
        }
        if backend != DatabaseBackend::Sqlite {
            return Ok((query, false));
        }
        let narrow = match self.address_narrowing(search).await? {
            Narrowing::Candidates(narrow) => Some(narrow),
            Narrowing::Dense => None,
            Narrowing::NotAnAddress => self.fts_narrowing(search).await?,
        };
        match narrow {
            Some(narrow) => Ok((query.filter(narrow), false)),
            None => Ok((query, true)),
        }
    }

    /// On SQLite, for an e-mail term holding `@`: the orders whose e-mail's
    /// local part ends with the term's (`idx_orders_email_local_rev`, a
    /// prefix range of the reversed local part), when fewer than
    /// [`FTS_CANDIDATES`]. One read of the B-tree; no trigram is merged.
    async fn address_narrowing(&self, search: &OrderSearch) -> Result<Narrowing, StoreError> {
        let Some((prefix, past)) = search.email.as_ref().and_then(address_probe) else {
            return Ok(Narrowing::NotAnAddress);
        };
        let ids = self
            .candidate_ids(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                ADDRESS_CANDIDATES,
                [prefix.into(), past.into()],
            ))
            .await?;
        if ids.len() as u64 >= FTS_CANDIDATES {
            return Ok(Narrowing::Dense);
        }
        Ok(Narrowing::Candidates(column(orders::Column::Id).is_in(ids)))
    }

    /// On SQLite, the orders of the FTS rows matching the longest term the
    /// index can find, when it has fewer than [`FTS_CANDIDATES`] matches:
    /// one probe of the index for their rowids, bound by value into the
    /// page's statement (reading them through a subquery would ask the
    /// index twice), which reads each one's order id by rowid.
    async fn fts_narrowing(&self, search: &OrderSearch) -> Result<Option<SimpleExpr>, StoreError> {
        if !self.sqlite_fts().await? {
            return Ok(None);
        }
        let best = [
            (&search.query, true),
            (&search.email, false),
            (&search.name, false),
        ]
        .into_iter()
        .filter_map(|(term, free)| Some((probe(term.as_ref()?, free)?, free)))
        .max_by_key(|(fragment, _)| fragment.chars().count());
        let Some((fragment, free_query)) = best else {
            return Ok(None);
        };
        let (probe, values) = fts_probe(&fragment);
        let found = self
            .candidate_ids(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                probe,
                values,
            ))
            .await?;
        if found.len() as u64 >= FTS_CANDIDATES {
            return Ok(None);
        }
        // Rowids, as SQLite wrote them: one that does not read as a number
        // leaves the search to the walk, which is always exact.
        let Ok(rowids) = found
            .iter()
            .map(|rowid| rowid.parse::<i64>())
            .collect::<Result<Vec<_>, _>>()
        else {
            return Ok(None);
        };
        Ok(Some(fts_rows(&rowids, &fragment, free_query)))
    }

    /// The ids `statement` selects (its one column, text):
    /// on the calling thread where it can (`sqlite_reads.rs`), a dense
    /// term's candidates being hundreds of rows.
    async fn candidate_ids(&self, statement: Statement) -> Result<Vec<String>, StoreError> {
        if let Some(ids) = answered(self.direct.as_deref(), |direct| direct.ids(&statement)) {
            return Ok(ids);
        }
        self.read
            .query_all_raw(statement)
            .await?
            .iter()
            .map(|row| Ok(row.try_get_by_index::<String>(0)?))
            .collect()
    }

    /// Whether substring searches have their index: SQLite's FTS table, or
    /// PostgreSQL's trigram index.
    pub async fn search_indexed(&self) -> Result<bool, StoreError> {
        match self.backend() {
            DatabaseBackend::Sqlite => self.sqlite_fts().await,
            backend => {
                let row = self
                    .read
                    .query_one_raw(Statement::from_string(
                        backend,
                        "SELECT count(*) AS n FROM pg_indexes \
                         WHERE indexname = 'idx_orders_search_trgm'",
                    ))
                    .await?;
                let n = row.map(|r| r.try_get::<i64>("", "n")).transpose()?;
                Ok(n.unwrap_or(0) > 0)
            }
        }
    }

    /// Whether this SQLite database has the FTS table (a SQLite built
    /// without FTS5 gets none from the migration; searches then walk).
    pub(super) async fn sqlite_fts(&self) -> Result<bool, StoreError> {
        let present = self
            .search_index
            .get_or_try_init(|| async {
                let row = self
                    .read
                    .query_one_raw(Statement::from_string(
                        DatabaseBackend::Sqlite,
                        "SELECT count(*) AS n FROM sqlite_master WHERE name = 'orders_search'",
                    ))
                    .await?;
                let n = row.map(|r| r.try_get::<i64>("", "n")).transpose()?;
                Ok::<_, StoreError>(n.unwrap_or(0) > 0)
            })
            .await?;
        Ok(*present)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated SQLite database in a directory of its own, which
    /// [`dropped`] removes.
    async fn migrated() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("kessai-search-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("search.sqlite").display());
        let store = Store::connect(&url, &Default::default()).await.unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    async fn dropped((store, dir): (Store, std::path::PathBuf)) {
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// SQLite's plan of `sql` with `values`, step by step, on a migrated
    /// database of its own.
    async fn sqlite_plan(sql: String, values: Vec<Value>) -> Vec<String> {
        let database = migrated().await;
        let plan = database
            .0
            .read
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {sql}"),
                values,
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect::<Vec<_>>();
        dropped(database).await;
        plan
    }

    /// A SQLite page of 50, newest first, of the orders `narrow` keeps
    /// whose name holds "Sato", as `Store::list_orders` asks for it.
    fn sato_page(narrow: SimpleExpr) -> Statement {
        use sea_orm::{EntityTrait, QueryOrder, QuerySelect, QueryTrait};
        let search = OrderSearch::parse("", "Sato", "").unwrap();
        let mut page = orders::Entity::find().filter(narrow);
        for condition in conditions(&search, DatabaseBackend::Sqlite) {
            page = page.filter(condition);
        }
        page.order_by_desc(orders::Column::Id)
            .limit(51)
            .build(DatabaseBackend::Sqlite)
    }

    #[tokio::test]
    async fn a_callers_walk_for_a_name_tests_the_search_text_on_its_index() {
        use sea_orm::ColumnTrait;
        let page = sato_page(orders::Column::Owner.eq("shop"));
        let plan = sqlite_plan(page.sql, page.values.unwrap().0).await;
        assert_eq!(
            plan,
            ["SEARCH orders USING INDEX idx_orders_owner_id_search_text (owner=?)"],
            "the walk tests the search text on the index, and reads only the orders that pass"
        );
    }

    #[tokio::test]
    async fn a_page_of_few_fts_candidates_reads_each_order_by_id() {
        for free_query in [false, true] {
            let page = sato_page(fts_rows(&[3, 5, 8], "sato", free_query));
            let plan = sqlite_plan(page.sql, page.values.unwrap().0).await;
            assert_eq!(
                plan[0], "SEARCH orders USING INDEX sqlite_autoindex_orders_1 (id=?)",
                "{plan:?}"
            );
            assert!(
                plan.iter()
                    .any(|step| step.contains("SCAN orders_search VIRTUAL TABLE INDEX 0:=")),
                "the candidates' order ids read by rowid: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN orders ")),
                "no scan of the orders: {plan:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_walk_over_every_order_reads_the_index_it_names() {
        use sea_orm::ColumnTrait;
        let page = sato_page(orders::Column::Id.lt("ord_01Z"));
        let unnamed = sqlite_plan(page.sql.clone(), page.values.clone().unwrap().0).await;
        assert_eq!(
            unnamed,
            ["SEARCH orders USING INDEX sqlite_autoindex_orders_1 (id<?)"],
            "left to itself, the planner walks the primary key"
        );
        let page = through_walk_index(page);
        let plan = sqlite_plan(page.sql, page.values.unwrap().0).await;
        assert_eq!(
            plan,
            ["SEARCH orders USING INDEX idx_orders_id_search_text (id<?)"]
        );
    }

    /// The order ids of `texts` (one order each, `o0`, `o1`, …) whose
    /// search text holds each of `fragments`: by the FTS phrase kessai asks,
    /// and by a GLOB over every text.
    async fn phrase_and_glob(
        texts: &[&str],
        fragments: &[&str],
    ) -> Vec<(Vec<String>, Vec<String>)> {
        let database = migrated().await;
        let store = &database.0;
        for (n, text) in texts.iter().enumerate() {
            store
                .write
                .execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Sqlite,
                    "INSERT INTO orders_search (order_id, search_text) VALUES (?, ?)",
                    [format!("o{n}").into(), (*text).into()],
                ))
                .await
                .unwrap();
        }
        let ids = |sql: String, values: Vec<Value>| async move {
            let mut ids: Vec<String> = store
                .read
                .query_all_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Sqlite,
                    sql,
                    values,
                ))
                .await
                .unwrap()
                .iter()
                .map(|row| row.try_get_by_index::<String>(0).unwrap())
                .collect();
            ids.sort();
            ids
        };
        let mut found = Vec::new();
        for fragment in fragments {
            let (probe, values) = fts_probe(fragment);
            let rowids: Vec<Value> = ids(probe, values)
                .await
                .iter()
                .map(|rowid| rowid.parse::<i64>().unwrap().into())
                .collect();
            let by_phrase = ids(
                format!(
                    "SELECT order_id FROM orders_search WHERE rowid IN ({})",
                    vec!["?"; rowids.len()].join(", ")
                ),
                rowids,
            )
            .await;
            let by_glob = ids(
                "SELECT order_id FROM orders_search WHERE search_text GLOB ?".into(),
                vec![format!("*{fragment}*").into()],
            )
            .await;
            found.push((by_phrase, by_glob));
        }
        dropped(database).await;
        found
    }

    #[tokio::test]
    async fn the_phrase_finds_the_orders_the_glob_finds() {
        let texts = [
            "yamadatarou",
            "tanqanaqnakayamada",
            "山田太郎やまだたろう",
            "o\"neill",
            "aaaaa",
            "satohanako",
        ];
        let fragments = [
            "yamada",
            "tanaka",
            "山田太",
            "だたろ",
            "o\"ne",
            "aaaa",
            "aaaaaa",
            "ako",
        ];
        let found = phrase_and_glob(&texts, &fragments).await;
        for (fragment, (by_phrase, by_glob)) in fragments.iter().zip(&found) {
            assert_eq!(by_phrase, by_glob, "{fragment}");
        }
        let expected: [&[&str]; 8] = [
            &["o0", "o1"],
            &[],
            &["o2"],
            &["o2"],
            &["o3"],
            &["o4"],
            &[],
            &["o5"],
        ];
        for ((by_phrase, _), expected) in found.iter().zip(expected) {
            assert_eq!(by_phrase, expected);
        }
    }

    #[test]
    fn the_address_candidates_stop_at_the_candidates_cap() {
        assert!(ADDRESS_CANDIDATES.ends_with(&format!(" LIMIT {FTS_CANDIDATES}")));
    }

    #[tokio::test]
    async fn an_address_search_reads_its_index_twice_and_no_table() {
        let plan = sqlite_plan(
            ADDRESS_CANDIDATES.to_owned(),
            vec!["21otas".into(), "21otat".into()],
        )
        .await;
        let reads = plan
            .iter()
            .filter(|step| {
                step.contains("USING COVERING INDEX idx_orders_email_local_rev")
                    || step.contains("USING INDEX idx_orders_email_local_rev")
            })
            .count();
        assert_eq!(reads, 2, "{plan:?}");
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{plan:?}"
        );
    }

    fn term(text: &str) -> SearchTerm {
        SearchTerm::parse(text, "query", 255).unwrap().unwrap()
    }

    #[test]
    fn wildcards_in_a_term_are_matched_as_themselves() {
        assert_eq!(like_pattern(&term("50%_off\\x")), "%50\\%\\_off\\\\x%");
        assert_eq!(glob_pattern(&term("a*b?c[d")), "*a[*]b[?]c[[]d*");
    }

    #[test]
    fn the_trigram_index_is_asked_only_what_it_can_find() {
        assert_eq!(probe(&term("yamada"), false).as_deref(), Some("yamada"));
        assert_eq!(probe(&term("山田太"), false).as_deref(), Some("山田太"));
        assert_eq!(probe(&term("山田"), false), None);
        assert_eq!(probe(&term("ab*cd"), false), None);
    }

    #[test]
    fn an_e_mail_is_asked_by_its_part_before_the_domain() {
        assert_eq!(
            probe(&term("hanako.sato12@example.jp"), false).as_deref(),
            Some("hanako.sato12")
        );
        assert_eq!(
            probe(&term("ab@example.jp"), false).as_deref(),
            Some("ab@example.jp")
        );
        assert_eq!(
            probe(&term("hanako.sato12@example.jp"), true).as_deref(),
            Some("hanako.sato12@example.jp"),
            "a free query may be a provider order id, matched whole"
        );
    }
}
