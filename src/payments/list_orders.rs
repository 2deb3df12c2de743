//! ListOrders: newest first, keyset-paged (page 1,000 costs what page 1 costs).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Caller, PaymentError, Payments, page_token};
use crate::domain::{InvalidInput, OrderSearch, OrderStatus, OrderView, ProviderKind, Reason};
use crate::store::{ListOrder, OrderFilter};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 200;

#[derive(Debug, Clone, Default)]
pub struct ListOrdersCommand {
    pub statuses: Vec<OrderStatus>,
    pub provider: Option<ProviderKind>,
    pub merchant_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub page_size: i32,
    pub page_token: String,
    pub needs_review: bool,
    /// Customer e-mail, name and free-text filters, already in search form.
    pub search: OrderSearch,
    /// Soonest authorization expiry first instead of newest first (the
    /// console's Uncaptured tab).
    pub soonest_expiry: bool,
}

#[derive(Debug, Clone)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub next_page_token: String,
}

impl ListOrdersCommand {
    fn filters_digest(&self) -> String {
        let mut statuses: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        let mut canonical = serde_json::json!({
            "statuses": statuses,
            "provider": self.provider.map(ProviderKind::as_str),
            "merchant_reference": self.merchant_reference,
            "created_after": self.created_after,
            "created_before": self.created_before,
            "needs_review": self.needs_review,
        });
        // Each search filter only when given, so a token made before they
        // existed still opens its listing.
        for (name, term) in [
            ("customer_email", &self.search.email),
            ("customer_name", &self.search.name),
            ("query", &self.search.query),
        ] {
            if let Some(term) = term {
                canonical[name] = term.as_str().into();
            }
        }
        if self.soonest_expiry {
            canonical["order"] = "soonest_expiry".into();
        }
        hex::encode(&Sha256::digest(canonical.to_string().as_bytes())[..8])
    }

    pub(crate) fn page_size(&self) -> Result<i32, InvalidInput> {
        match self.page_size {
            0 => Ok(DEFAULT_PAGE_SIZE),
            size @ 1..=MAX_PAGE_SIZE => Ok(size),
            size => Err(InvalidInput::new(
                Reason::InvalidArgument,
                "page_size",
                format!(
                    "must be between 1 and {MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {size}"
                ),
            )),
        }
    }

    /// Where the page starts: after the order the token names, if the
    /// token is one of this server's for a listing with these filters.
    pub(crate) fn cursor(&self, key: &[u8]) -> Result<Option<String>, InvalidInput> {
        if self.page_token.is_empty() {
            return Ok(None);
        }
        page_token::open(key, &self.page_token, &self.filters_digest()).map(Some)
    }
}

impl Payments {
    fn page_key(&self) -> &[u8] {
        use secrecy::ExposeSecret;
        self.inner.config.fingerprint_key.expose_secret()
    }

    /// The orders `caller` may see that match `cmd`.
    pub async fn list_orders(
        &self,
        caller: &Caller,
        cmd: ListOrdersCommand,
    ) -> Result<OrderPage, PaymentError> {
        let page_size = cmd.page_size()?;
        let cursor = cmd.cursor(self.page_key())?;
        let (order, before_id, after_expiry) = if cmd.soonest_expiry {
            let after = cursor.as_deref().map(expiry_cursor::open).transpose()?;
            (ListOrder::SoonestExpiry, None, after)
        } else {
            (ListOrder::Newest, cursor, None)
        };
        let filter = OrderFilter {
            order,
            after_expiry,
            statuses: cmd.statuses.clone(),
            provider: cmd.provider,
            merchant_reference: cmd.merchant_reference.clone(),
            created_after: cmd.created_after,
            created_before: cmd.created_before,
            before_id,
            needs_review: cmd.needs_review,
            search: cmd.search.clone(),
            sees: caller.sees.clone(),
            // One more than the page tells whether a next page exists.
            limit: page_size as u64 + 1,
        };
        let mut orders = self.store().list_orders(&filter).await?;
        let next_page_token = if orders.len() > page_size as usize {
            orders.truncate(page_size as usize);
            let last = orders
                .last()
                .map(|v| match cmd.soonest_expiry {
                    true => expiry_cursor::seal(v.order.state.expires_at, v.order.id.as_str()),
                    false => v.order.id.to_string(),
                })
                .unwrap_or_default();
            page_token::seal(self.page_key(), last, cmd.filters_digest())
        } else {
            String::new()
        };
        Ok(OrderPage {
            orders,
            next_page_token,
        })
    }
}

/// Where a page of the soonest-expiry listing starts: the last order's
/// expiry (RFC 3339, `-` for none) and id, inside the sealed page token.
mod expiry_cursor {
    use chrono::{DateTime, Utc};

    use crate::domain::{InvalidInput, Reason};

    pub fn seal(at: Option<DateTime<Utc>>, id: &str) -> String {
        let at = at.map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
        format!("{at}|{id}")
    }

    pub fn open(cursor: &str) -> Result<(Option<DateTime<Utc>>, String), InvalidInput> {
        let invalid = || {
            InvalidInput::new(
                Reason::InvalidPageToken,
                "page_token",
                "is not a token from a previous page of this listing",
            )
        };
        let (at, id) = cursor.split_once('|').ok_or_else(invalid)?;
        let at = match at {
            "-" => None,
            at => Some(
                DateTime::parse_from_rfc3339(at)
                    .map_err(|_| invalid())?
                    .with_timezone(&Utc),
            ),
        };
        Ok((at, id.to_owned()))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_cursor_opens_to_what_was_sealed() {
            let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00.123456Z")
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(
                open(&seal(Some(at), "ord_1")).unwrap(),
                (Some(at), "ord_1".into())
            );
            assert_eq!(open(&seal(None, "ord_2")).unwrap(), (None, "ord_2".into()));
            assert!(open("ord_3").is_err());
        }
    }
}
