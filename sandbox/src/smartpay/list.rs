//! The collections: `GET /v1/orders`, `/v1/payments`, `/v1/refunds` and
//! `/v1/checkout-sessions`, a page at a time (`maxResults`, `pageToken`,
//! `expand`; `{object: "collection", pageToken, nextPageToken, maxResults,
//! results, data}`).

use serde::Serialize;
use serde_json::Value;

use super::books::{Books, Env};
use super::errors::ApiError;
use super::wire::CollectionWire;
use crate::book::{Book, Record};
use crate::pipeline::reply::Reply;

/// The collections `GET /v1/{collection}` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    CheckoutSessions,
    Orders,
    Payments,
    Refunds,
}

/// The SDKs' list parameters (sp-go `ListAll…Params`): `maxResults`
/// (default 20), `pageToken`, `expand`. Other parameters (the SDKs'
/// `dev-lang`, `sdk-version`) are ignored.
pub(super) struct ListQuery {
    pub(super) max_results: usize,
    pub(super) page_token: Option<String>,
}

/// sp-go: "Number of objects to return. Defaults to 20 if not set."
pub(super) const DEFAULT_MAX_RESULTS: usize = 20;
/// GUESS: the largest page Smartpay serves is not documented.
pub(super) const MAX_RESULTS_LIMIT: usize = 100;

impl ListQuery {
    pub(super) fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut max_results = DEFAULT_MAX_RESULTS;
        let mut page_token = None;
        let mut details = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "maxResults" => match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_RESULTS_LIMIT).contains(&n) => max_results = n,
                    _ => details.push(format!(
                        "maxResults: must be an integer from 1 to {MAX_RESULTS_LIMIT}"
                    )),
                },
                "pageToken" if !value.is_empty() => page_token = Some(value.into_owned()),
                // GUESS: `all` expands references, `no` keeps ids; the
                // simulator always answers with ids.
                "expand" if !matches!(value.as_ref(), "all" | "no" | "") => {
                    details.push("expand: must be one of all, no".to_owned());
                }
                _ => {}
            }
        }
        if details.is_empty() {
            Ok(Self {
                max_results,
                page_token,
            })
        } else {
            Err(ApiError::invalid(details))
        }
    }
}

impl Books {
    /// One page of a collection, newest first (GUESS: the order is not
    /// documented). A page token is the id of the page's first object
    /// (GUESS: the SDKs treat tokens as opaque strings), so pages stay put
    /// while new objects are created.
    pub(super) fn list(
        &self,
        collection: Collection,
        query: &ListQuery,
        env: &Env<'_>,
    ) -> Result<Reply, ApiError> {
        fn value<T: Serialize>(wire: T) -> Value {
            serde_json::to_value(wire).unwrap_or_default()
        }
        let page = match collection {
            // A session whose order is missing is not listed (the books
            // never hold one: every session is made with its order).
            Collection::CheckoutSessions => page(&self.sessions, query, |session| {
                let order = self.orders.find(&session.order_id)?;
                Some(value(session.wire(order, env.public_base_url)))
            }),
            Collection::Orders => page(&self.orders, query, |o| Some(value(o.wire()))),
            Collection::Payments => page(&self.payments, query, |p| Some(value(p.wire()))),
            Collection::Refunds => page(&self.refunds, query, |r| Some(value(r.wire()))),
        };
        let Page {
            page_token,
            next_page_token,
            data,
        } = page?;
        Ok(Reply::ok(&CollectionWire {
            object: "collection",
            page_token,
            next_page_token,
            max_results: query.max_results,
            results: data.len(),
            data,
        }))
    }
}

/// One page of a collection.
struct Page<'a> {
    page_token: &'a str,
    next_page_token: Option<&'a str>,
    data: Vec<Value>,
}

/// The page of `book` (newest first) that `query` asks for, reading only
/// the page's records (and the next one's id).
fn page<'a, T: Record>(
    book: &'a Book<T>,
    query: &ListQuery,
    wire: impl Fn(&'a T) -> Option<Value>,
) -> Result<Page<'a>, ApiError> {
    let listing = book.newest_first();
    let start = match &query.page_token {
        None => 0,
        Some(token) => listing
            .rank(token)
            .ok_or_else(|| ApiError::invalid(vec!["pageToken: is invalid".to_owned()]))?,
    };
    let end = (start + query.max_results).min(listing.len());
    Ok(Page {
        page_token: listing.at(start).map(Record::id).unwrap_or_default(),
        next_page_token: listing.at(end).map(Record::id),
        data: listing.ranks(start, end).filter_map(wire).collect(),
    })
}
