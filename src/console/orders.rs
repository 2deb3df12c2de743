//! The order list: tabs (All, Uncaptured, Needs review, Pending), the
//! search box, provider, status and date filters, and keyset pages — all
//! through ListOrders' use case, so an operator sees what their scopes let
//! them see.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::Console;
use super::html::{esc, money, page, query_value, when, when_opt};
use super::i18n::{Lang, M};
use super::session::Operator;
use crate::domain::{OrderSearch, OrderStatus, OrderView, ProviderKind};
use crate::payments::ListOrdersCommand;

const PAGE_SIZE: i32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    All,
    Uncaptured,
    Review,
    Pending,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::All, Tab::Uncaptured, Tab::Review, Tab::Pending];

    fn code(self) -> &'static str {
        match self {
            Tab::All => "all",
            Tab::Uncaptured => "uncaptured",
            Tab::Review => "review",
            Tab::Pending => "pending",
        }
    }

    fn label(self) -> M {
        match self {
            Tab::All => M::TabAll,
            Tab::Uncaptured => M::TabUncaptured,
            Tab::Review => M::TabReview,
            Tab::Pending => M::TabPending,
        }
    }
}

/// The list's query string; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    tab: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: String,
}

impl ListQuery {
    fn tab(&self) -> Tab {
        Tab::ALL
            .into_iter()
            .find(|t| t.code() == self.tab)
            .unwrap_or(Tab::All)
    }

    /// This listing's link with another tab or page (filters kept).
    fn link(&self, tab: Tab, page: &str) -> String {
        let mut link = format!("/orders?tab={}", tab.code());
        for (name, value) in [
            ("q", &self.q),
            ("provider", &self.provider),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                link.push_str(&format!("&{name}={}", query_value(value)));
            }
        }
        if !page.is_empty() {
            link.push_str(&format!("&page={}", query_value(page)));
        }
        link
    }

    /// The command, or the fields that are wrong (in the page's language).
    fn command(&self, lang: Lang) -> Result<ListOrdersCommand, Vec<(M, String)>> {
        let mut problems = Vec::new();
        let search = OrderSearch::parse("", "", self.q.trim()).unwrap_or_else(|e| {
            problems.push((M::Search, e.to_string()));
            OrderSearch::default()
        });
        let provider = match self.provider.as_str() {
            "" => None,
            name => ProviderKind::parse(name).or_else(|| {
                problems.push((M::Provider, lang.t(M::Nothing).to_owned()));
                None
            }),
        };
        let status = match self.status.as_str() {
            "" => None,
            name => OrderStatus::parse(name).or_else(|| {
                problems.push((M::Status, lang.t(M::Nothing).to_owned()));
                None
            }),
        };
        let mut day = |value: &str, field: M, next: bool| -> Option<DateTime<Utc>> {
            if value.is_empty() {
                return None;
            }
            match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(date) => {
                    let date = if next { date.succ_opt()? } else { date };
                    let start = date.and_hms_opt(0, 0, 0)?;
                    start
                        .and_local_timezone(crate::store::shop_offset())
                        .single()
                        .map(|at| at.with_timezone(&Utc))
                }
                Err(_) => {
                    problems.push((field, "YYYY-MM-DD".to_owned()));
                    None
                }
            }
        };
        let created_after = day(&self.from, M::From, false);
        let created_before = day(&self.to, M::To, true);
        if !problems.is_empty() {
            return Err(problems);
        }
        let tab = self.tab();
        let statuses = match (tab, status) {
            (_, Some(status)) => vec![status],
            (Tab::Uncaptured, None) => {
                vec![OrderStatus::Authorized, OrderStatus::PartiallyCaptured]
            }
            (Tab::Pending, None) => vec![OrderStatus::Pending],
            (Tab::All | Tab::Review, None) => Vec::new(),
        };
        Ok(ListOrdersCommand {
            statuses,
            provider,
            created_after,
            created_before,
            page_size: PAGE_SIZE,
            page_token: self.page.clone(),
            needs_review: tab == Tab::Review,
            search,
            soonest_expiry: tab == Tab::Uncaptured,
            ..ListOrdersCommand::default()
        })
    }
}

pub async fn list(
    State(console): State<Console>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = operator.lang;
    let here = query.link(query.tab(), &query.page);
    let (status, listing) = match query.command(lang) {
        Err(problems) => (StatusCode::BAD_REQUEST, problems_html(lang, &problems)),
        Ok(cmd) => match console
            .inner
            .payments
            .list_orders(&operator.caller(), cmd)
            .await
        {
            Ok(page) => (
                StatusCode::OK,
                table(lang, &query, &page.orders, &page.next_page_token),
            ),
            Err(error) => (
                super::status_of(&error),
                format!(
                    r#"<p class="error" role="alert">{}: {}</p>"#,
                    esc(lang.t(M::Refused)),
                    esc(&super::said(&error))
                ),
            ),
        },
    };
    let body = format!("{}{}{}", tabs(lang, &query), filters(lang, &query), listing);
    (
        status,
        Html(page(lang, Some(&operator), lang.t(M::Orders), &here, &body)),
    )
        .into_response()
}

fn problems_html(lang: Lang, problems: &[(M, String)]) -> String {
    let items: String = problems
        .iter()
        .map(|(field, what)| format!("<li>{}: {}</li>", esc(lang.t(*field)), esc(what)))
        .collect();
    format!(r#"<ul class="error" role="alert">{items}</ul>"#)
}

fn tabs(lang: Lang, query: &ListQuery) -> String {
    let current = query.tab();
    let links: String = Tab::ALL
        .into_iter()
        .map(|tab| {
            format!(
                r#"<a href="{}" id="tab-{}"{}>{}</a>"#,
                esc(&query.link(tab, "")),
                tab.code(),
                if tab == current { r#" class="on""# } else { "" },
                esc(lang.t(tab.label()))
            )
        })
        .collect();
    format!(r#"<nav class="tabs">{links}</nav>"#)
}

fn filters(lang: Lang, query: &ListQuery) -> String {
    let option = |value: &str, label: &str, selected: &str| {
        format!(
            r#"<option value="{}"{}>{}</option>"#,
            esc(value),
            if value == selected { " selected" } else { "" },
            esc(label)
        )
    };
    let providers: String = std::iter::once(option("", lang.t(M::Any), &query.provider))
        .chain(
            ProviderKind::ALL
                .iter()
                .map(|p| option(p.as_str(), p.display_name(), &query.provider)),
        )
        .collect();
    let statuses: String = std::iter::once(option("", lang.t(M::Any), &query.status))
        .chain(
            OrderStatus::ALL
                .iter()
                .map(|s| option(s.as_str(), lang.status(*s), &query.status)),
        )
        .collect();
    format!(
        r#"<form method="get" action="/orders" id="search-form">
<input type="hidden" name="tab" value="{tab}">
<input type="search" name="q" id="q" value="{q}" placeholder="{hint}" size="48" aria-label="{search}">
<label>{provider_label} <select name="provider">{providers}</select></label>
<label>{status_label} <select name="status">{statuses}</select></label>
<label>{from_label} <input type="date" name="from" value="{from}"></label>
<label>{to_label} <input type="date" name="to" value="{to}"></label>
<button type="submit" id="search">{search}</button></form>"#,
        tab = query.tab().code(),
        q = esc(&query.q),
        hint = esc(lang.t(M::SearchHint)),
        search = esc(lang.t(M::Search)),
        provider_label = esc(lang.t(M::Provider)),
        status_label = esc(lang.t(M::Status)),
        from_label = esc(lang.t(M::From)),
        to_label = esc(lang.t(M::To)),
        from = esc(&query.from),
        to = esc(&query.to),
    )
}

fn table(lang: Lang, query: &ListQuery, orders: &[OrderView], next: &str) -> String {
    if orders.is_empty() {
        return format!(r#"<p id="no-orders">{}</p>"#, esc(lang.t(M::NoOrders)));
    }
    let rows: String = orders.iter().map(|view| row(lang, view)).collect();
    let mut pages = String::new();
    if !query.page.is_empty() {
        pages.push_str(&format!(
            r#"<a href="{}">{}</a> "#,
            esc(&query.link(query.tab(), "")),
            esc(lang.t(M::FirstPage))
        ));
    }
    if !next.is_empty() {
        pages.push_str(&format!(
            r#"<a href="{}" id="next-page">{}</a>"#,
            esc(&query.link(query.tab(), next)),
            esc(lang.t(M::NextPage))
        ));
    }
    format!(
        r#"<table id="orders"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>
<th class="num">{}</th><th class="num">{}</th><th class="num">{}</th><th>{}</th></tr></thead>
<tbody>{rows}</tbody></table><p>{pages}</p>"#,
        esc(lang.t(M::Created)),
        esc(lang.t(M::OrderId)),
        esc(lang.t(M::Reference)),
        esc(lang.t(M::Customer)),
        esc(lang.t(M::Provider)),
        esc(lang.t(M::Status)),
        esc(lang.t(M::Amount)),
        esc(lang.t(M::Captured)),
        esc(lang.t(M::Capturable)),
        esc(lang.t(M::Expires)),
    )
}

fn row(lang: Lang, view: &OrderView) -> String {
    let order = &view.order;
    let customer = order
        .customer
        .as_ref()
        .map(|c| {
            [c.name.as_deref(), c.email.as_deref()]
                .into_iter()
                .flatten()
                .map(esc)
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .unwrap_or_default();
    let flag = if order.needs_review { " ⚑" } else { "" };
    format!(
        r#"<tr data-order="{id}"><td>{created}</td><td><a href="/orders/{id}">{id}</a>{flag}</td><td>{reference}</td>
<td>{customer}</td><td>{provider}</td><td class="status">{status}</td><td class="num">{amount}</td>
<td class="num">{captured}</td><td class="num">{capturable}</td><td>{expires}</td></tr>"#,
        id = esc(order.id.as_str()),
        created = when(order.created_at),
        reference = esc(&order.merchant_reference),
        provider = esc(order.provider.display_name()),
        status = esc(lang.status(order.state.status())),
        amount = money(order.state.amount, order.currency),
        captured = money(order.state.captured, order.currency),
        capturable = money(order.state.capturable(), order.currency),
        expires = when_opt(order.state.expires_at, lang),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uncaptured_tab_lists_what_waits_for_capture_by_expiry() {
        let query = ListQuery {
            tab: "uncaptured".into(),
            ..ListQuery::default()
        };
        let cmd = query.command(Lang::En).unwrap();
        assert_eq!(
            cmd.statuses,
            [OrderStatus::Authorized, OrderStatus::PartiallyCaptured]
        );
        assert!(cmd.soonest_expiry);
        assert!(!cmd.needs_review);
    }

    #[test]
    fn a_bad_date_and_provider_are_named_not_failed() {
        let query = ListQuery {
            from: "06/12/2026".into(),
            provider: "stripe".into(),
            ..ListQuery::default()
        };
        let problems = query.command(Lang::En).unwrap_err();
        let fields: Vec<M> = problems.iter().map(|(m, _)| *m).collect();
        assert_eq!(fields, [M::Provider, M::From]);
    }

    #[test]
    fn dates_are_whole_days_in_japan() {
        let query = ListQuery {
            from: "2026-12-06".into(),
            to: "2026-12-06".into(),
            ..ListQuery::default()
        };
        let cmd = query.command(Lang::Ja).unwrap();
        assert_eq!(
            cmd.created_after.unwrap().to_rfc3339(),
            "2026-12-05T15:00:00+00:00"
        );
        assert_eq!(
            cmd.created_before.unwrap().to_rfc3339(),
            "2026-12-06T15:00:00+00:00"
        );
    }

    #[test]
    fn links_keep_the_filters_and_escape_them() {
        let query = ListQuery {
            q: "山田 & co".into(),
            ..ListQuery::default()
        };
        let link = query.link(Tab::Review, "tok");
        assert!(link.starts_with("/orders?tab=review&q="));
        assert!(!link.contains(' ') && !link.contains("& co"));
        assert!(link.ends_with("&page=tok"));
    }
}
