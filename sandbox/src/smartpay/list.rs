//! The collections: `GET /v1/orders`, `/v1/payments`, `/v1/refunds` and
//! `/v1/checkout-sessions`, a page at a time (`maxResults`, `pageToken`,
//! `expand`; `{object: "collection", pageToken, nextPageToken, maxResults,
//! results, data}`).

use serde::Serialize;
use serde_json::Value;

use super::books::{Books, Env};
use super::errors::ApiError;
use super::wire::CollectionWire;
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
        let objects: Vec<(&str, Value)> = match collection {
            Collection::CheckoutSessions => self
                .sessions
                .iter()
                .rev()
                .filter_map(|session| {
                    let order = self.orders.iter().find(|o| o.id == session.order_id)?;
                    Some((
                        session.id.as_str(),
                        value(session.wire(order, env.public_base_url)),
                    ))
                })
                .collect(),
            Collection::Orders => self
                .orders
                .iter()
                .rev()
                .map(|o| (o.id.as_str(), value(o.wire())))
                .collect(),
            Collection::Payments => self
                .payments
                .iter()
                .rev()
                .map(|p| (p.id.as_str(), value(p.wire())))
                .collect(),
            Collection::Refunds => self
                .refunds
                .iter()
                .rev()
                .map(|r| (r.id.as_str(), value(r.wire())))
                .collect(),
        };
        let start = match &query.page_token {
            None => 0,
            Some(token) => objects
                .iter()
                .position(|(id, _)| id == token)
                .ok_or_else(|| ApiError::invalid(vec!["pageToken: is invalid".to_owned()]))?,
        };
        let end = (start + query.max_results).min(objects.len());
        let page_token = objects.get(start).map(|(id, _)| *id).unwrap_or_default();
        let next_page_token = objects.get(end).map(|(id, _)| *id);
        let data: Vec<Value> = objects[start..end].iter().map(|(_, v)| v.clone()).collect();
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
