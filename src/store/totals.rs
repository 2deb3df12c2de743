//! What the console's overview shows: the money moved per day and provider,
//! and how many orders want attention. Days are Japan's (UTC+9, no daylight
//! saving), the shops' own.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

use super::Store;
use super::error::StoreError;
use crate::domain::{Currency, ProviderKind, Visibility};

/// The day boundary of the overview: Japan Standard Time.
pub fn shop_offset() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// The money one provider moved in one currency on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTotal {
    pub day: NaiveDate,
    pub provider: ProviderKind,
    pub currency: Currency,
    /// Authorized by the orders created that day.
    pub authorized: i64,
    /// Captures succeeded that were asked for that day.
    pub captured: i64,
    /// Refunds succeeded that were asked for that day.
    pub refunded: i64,
}

/// Orders that want a person or a decision soon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attention {
    pub needs_review: u64,
    /// Authorized with something left to capture, expiring within the window.
    pub expiring: u64,
}

/// The `n`th bound value's place in a statement for `backend`.
fn placeholder(backend: DatabaseBackend, n: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

impl Store {
    /// The totals of every day from `since` on, of the orders `sees` allows.
    pub async fn daily_totals(
        &self,
        since: DateTime<Utc>,
        sees: &Visibility,
    ) -> Result<Vec<DailyTotal>, StoreError> {
        let backend = self.backend();
        let p = |n| placeholder(backend, n);
        let day = |column: &str| match backend {
            DatabaseBackend::Postgres => {
                format!("to_char({column} AT TIME ZONE 'Asia/Tokyo', 'YYYY-MM-DD')")
            }
            _ => format!("date({column}, '+9 hours')"),
        };
        let mut values: Vec<Value> = vec![since.into()];
        let owner = match sees.owner() {
            Some(owner) => {
                values.push(owner.to_owned().into());
                format!(" AND o.owner = {}", p(2))
            }
            None => String::new(),
        };
        let since = p(1);
        let sql = format!(
            "SELECT day, provider, currency, kind, CAST(SUM(amount) AS BIGINT) AS total FROM ( \
               SELECT {} AS day, o.provider, o.currency, 'authorized' AS kind, \
                      o.amount_authorized AS amount \
                 FROM orders o WHERE o.created_at >= {since} AND o.amount_authorized > 0{owner} \
               UNION ALL \
               SELECT {}, o.provider, o.currency, 'captured', c.amount \
                 FROM captures c JOIN orders o ON o.id = c.order_id \
                 WHERE c.created_at >= {since} AND c.status = 'succeeded'{owner} \
               UNION ALL \
               SELECT {}, o.provider, o.currency, 'refunded', r.amount \
                 FROM refunds r JOIN orders o ON o.id = r.order_id \
                 WHERE r.created_at >= {since} AND r.status = 'succeeded'{owner} \
             ) t GROUP BY day, provider, currency, kind ORDER BY day, provider, currency",
            day("o.created_at"),
            day("c.created_at"),
            day("r.created_at"),
        );
        let rows = self
            .read
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let mut totals: Vec<DailyTotal> = Vec::new();
        for row in rows {
            let day: String = row.try_get("", "day")?;
            let provider: String = row.try_get("", "provider")?;
            let currency: String = row.try_get("", "currency")?;
            let kind: String = row.try_get("", "kind")?;
            // SUM of BIGINT is NUMERIC on PostgreSQL: cast back in the query.
            let total: i64 = row.try_get("", "total")?;
            let corrupt =
                |what: &str, value: &str| StoreError::Corrupt(format!("{what}: {value:?}"));
            let day =
                NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| corrupt("day", &day))?;
            let provider =
                ProviderKind::parse(&provider).ok_or_else(|| corrupt("provider", &provider))?;
            let currency =
                Currency::parse(&currency).map_err(|_| corrupt("currency", &currency))?;
            let at = match totals
                .iter()
                .position(|t| t.day == day && t.provider == provider && t.currency == currency)
            {
                Some(at) => at,
                None => {
                    totals.push(DailyTotal {
                        day,
                        provider,
                        currency,
                        authorized: 0,
                        captured: 0,
                        refunded: 0,
                    });
                    totals.len() - 1
                }
            };
            let entry = &mut totals[at];
            match kind.as_str() {
                "authorized" => entry.authorized += total,
                "captured" => entry.captured += total,
                "refunded" => entry.refunded += total,
                other => return Err(corrupt("kind", other)),
            }
        }
        Ok(totals)
    }

    /// How many orders `sees` allows need review, and how many could still
    /// be captured but expire before `until`.
    pub async fn attention(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        sees: &Visibility,
    ) -> Result<Attention, StoreError> {
        let backend = self.backend();
        let p = |n| placeholder(backend, n);
        let mut values: Vec<Value> = vec![now.into(), until.into()];
        let owner = match sees.owner() {
            Some(owner) => {
                values.push(owner.to_owned().into());
                format!(" AND owner = {}", p(3))
            }
            None => String::new(),
        };
        let sql = format!(
            "SELECT \
               (SELECT COUNT(*) FROM orders WHERE needs_review{owner}) AS review, \
               (SELECT COUNT(*) FROM orders WHERE status IN ('authorized', 'partially_captured') \
                  AND expires_at >= {} AND expires_at < {}{owner}) AS expiring",
            p(1),
            p(2),
        );
        let row = self
            .read
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .ok_or_else(|| StoreError::Database("no counts".into()))?;
        let review: i64 = row.try_get("", "review")?;
        let expiring: i64 = row.try_get("", "expiring")?;
        Ok(Attention {
            needs_review: review.max(0) as u64,
            expiring: expiring.max(0) as u64,
        })
    }
}
