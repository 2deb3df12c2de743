//! The PAY.JP list endpoints' pagination: the SDK's query parameters
//! (`limit` 1–100, `starting_after`, `ending_before`, and for payment flows
//! `customer_id`) and its `*ListResponse` shape `{object: "list", url,
//! has_more, data}`.
//!
//! GUESS (Stripe-like, as PAY.JP v1 lists were): newest first; `limit`
//! defaults to 10; `starting_after` pages towards older objects and
//! `ending_before` towards newer ones; a cursor naming no object of the list
//! is a 422 on that parameter (the list endpoints answer 200, 400, 422 or 429).

use serde::Serialize;

use super::books::Books;
use super::errors::ApiError;
use super::wire::FieldError;
use super::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, REFUNDS_PATH};
use crate::book::{Listing, Record};
use crate::pipeline::reply::Reply;

/// The query of a list request, checked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct ListQuery {
    pub limit: usize,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
    pub customer_id: Option<String>,
}

impl ListQuery {
    /// Reads `raw` (the URL query, if any); unknown parameters are ignored.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut query = Self {
            limit: LIST_LIMIT_DEFAULT,
            ..Self::default()
        };
        let mut errors = Vec::new();
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
        for (name, value) in pairs {
            let value = value.into_owned();
            match name.as_ref() {
                "limit" => match value.parse::<i64>() {
                    Ok(n) if (1..=LIST_LIMIT_MAX).contains(&n) => {
                        query.limit = usize::try_from(n).unwrap_or(LIST_LIMIT_DEFAULT);
                    }
                    Ok(n) if n < 1 => {
                        errors.push(field("limit", "Input should be greater than or equal to 1"))
                    }
                    Ok(_) => errors.push(field(
                        "limit",
                        &format!("Input should be less than or equal to {LIST_LIMIT_MAX}"),
                    )),
                    Err(_) => errors.push(field(
                        "limit",
                        "Input should be a valid integer, unable to parse string as an integer",
                    )),
                },
                "starting_after" => query.starting_after = Some(value),
                "ending_before" => query.ending_before = Some(value),
                "customer_id" => query.customer_id = Some(value),
                _ => {}
            }
        }
        if query.starting_after.is_some() && query.ending_before.is_some() {
            errors.push(field(
                "ending_before",
                "starting_after and ending_before cannot be given together",
            ));
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }

    /// One page of `items` (newest first), each as `wire` shows it, and
    /// whether more lie beyond it in the direction paged. Only the page's
    /// records are read.
    pub fn page<'a, T: Record, W>(
        &self,
        items: &Listing<'a, T>,
        wire: impl Fn(&'a T) -> W,
    ) -> Result<(Vec<W>, bool), Vec<FieldError>> {
        let position = |name: &str, cursor: &str| {
            items
                .rank(cursor)
                .ok_or_else(|| vec![field(name, &format!("No such object: {cursor}"))])
        };
        let (start, end) = match (&self.starting_after, &self.ending_before) {
            (Some(cursor), _) => {
                let from = position("starting_after", cursor)? + 1;
                (from, (from + self.limit).min(items.len()))
            }
            (None, Some(cursor)) => {
                let to = position("ending_before", cursor)?;
                (to.saturating_sub(self.limit), to)
            }
            (None, None) => (0, self.limit.min(items.len())),
        };
        let has_more = if self.ending_before.is_some() {
            start > 0
        } else {
            end < items.len()
        };
        let page = items.ranks(start, end).map(wire).collect();
        Ok((page, has_more))
    }
}

fn field(name: &str, message: &str) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message: message.to_owned(),
    }
}

/// The SDK's `PaymentFlowListResponse` / `PaymentRefundListResponse`.
#[derive(Serialize)]
pub(super) struct ListWire<T> {
    pub object: &'static str,
    pub url: String,
    pub has_more: bool,
    pub data: Vec<T>,
}

/// The list endpoints.
impl Books {
    pub(super) fn list_flow_refunds(
        &self,
        id: &str,
        query: Option<&str>,
    ) -> Result<Reply, ApiError> {
        let flow = self.flow(id)?;
        let url = format!("/v2/payment_flows/{}/refunds", flow.id);
        self.refund_list(url, query, Some(&flow.id))
    }

    pub(super) fn list_refunds(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        self.refund_list(REFUNDS_PATH.to_owned(), query, None)
    }

    fn refund_list(
        &self,
        url: String,
        query: Option<&str>,
        flow: Option<&str>,
    ) -> Result<Reply, ApiError> {
        let query = ListQuery::parse(query).map_err(ApiError::validation)?;
        // GUESS: newest first, as PAY.JP v1 and Stripe-like lists do.
        let items = match flow {
            None => self.refunds.newest_first(),
            Some(id) => self.refunds.newest_first_of(self.flow_refunds.of(id)),
        };
        let (data, has_more) = query
            .page(&items, |r| r.wire())
            .map_err(ApiError::validation)?;
        Ok(Reply::ok(&ListWire {
            object: "list",
            url,
            has_more,
            data,
        }))
    }

    pub(super) fn list_flows(&self, query: Option<&str>) -> Result<Reply, ApiError> {
        let query = ListQuery::parse(query).map_err(ApiError::validation)?;
        let items = match query.customer_id.as_deref() {
            None => self.flows.newest_first(),
            Some(customer) => self.flows.newest_first_of(self.customer_flows.of(customer)),
        };
        let (data, has_more) = query
            .page(&items, |f| f.wire())
            .map_err(ApiError::validation)?;
        Ok(Reply::ok(&ListWire {
            object: "list",
            url: "/v2/payment_flows".to_owned(),
            has_more,
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::Book;

    struct Item(String);

    impl Record for Item {
        fn id(&self) -> &str {
            &self.0
        }
    }

    /// `n` records made oldest first so that, newest first, `id0` leads.
    fn items(n: usize) -> Book<Item> {
        let mut book = Book::default();
        for i in (0..n).rev() {
            book.push(Item(format!("id{i}")));
        }
        book
    }

    fn page(raw: Option<&str>, n: usize) -> Result<(Vec<usize>, bool), Vec<FieldError>> {
        let book = items(n);
        ListQuery::parse(raw)
            .unwrap()
            .page(&book.newest_first(), |i| i.0[2..].parse().unwrap())
    }

    #[test]
    fn pages_forward_and_back() {
        assert_eq!(page(Some("limit=2"), 5).unwrap(), (vec![0, 1], true));
        assert_eq!(
            page(Some("limit=2&starting_after=id1"), 5).unwrap(),
            (vec![2, 3], true)
        );
        assert_eq!(
            page(Some("limit=2&starting_after=id3"), 5).unwrap(),
            (vec![4], false)
        );
        assert_eq!(
            page(Some("limit=2&ending_before=id3"), 5).unwrap(),
            (vec![1, 2], true)
        );
        assert_eq!(
            page(Some("ending_before=id1"), 5).unwrap(),
            (vec![0], false)
        );
        assert_eq!(page(None, 3).unwrap(), (vec![0, 1, 2], false));
    }

    #[test]
    fn bad_parameters_are_field_errors() {
        for raw in [
            "limit=0",
            "limit=101",
            "limit=ten",
            "starting_after=a&ending_before=b",
        ] {
            assert!(ListQuery::parse(Some(raw)).is_err(), "{raw}");
        }
        let errors = page(Some("starting_after=nope"), 2).unwrap_err();
        assert_eq!(errors[0].field, "starting_after");
    }
}
