//! An order's page: its amounts, expiry, provider ids (with a link to the
//! provider's dashboard), card summary, shopper, captures, refunds, the
//! whole event timeline, and the actions the operator may take on it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::Console;
use super::html::{esc, money, page, when, when_opt};
use super::i18n::{Lang, M};
use super::session::Operator;
use crate::domain::{OrderId, OrderStatus, OrderView};
use crate::store::StreamedEvent;

/// What the last action said, shown at the top of the page.
pub enum Flash {
    Done,
    Refused(String),
}

#[derive(Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    done: String,
}

pub async fn show(
    State(console): State<Console>,
    operator: Operator,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Response {
    let flash = (!query.done.is_empty()).then_some(Flash::Done);
    render(&console, &operator, &id, flash, StatusCode::OK).await
}

/// The page of order `id`, with `flash` above it, answered with `status`
/// (an action's refusal re-renders the page with its reason).
pub async fn render(
    console: &Console,
    operator: &Operator,
    id: &str,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let lang = operator.lang;
    let not_found = || {
        let body = format!(
            r#"<p class="error" role="alert">{}</p>"#,
            esc(lang.t(M::NotFound))
        );
        (
            StatusCode::NOT_FOUND,
            Html(page(
                lang,
                Some(operator),
                lang.t(M::NotFound),
                "/orders",
                &body,
            )),
        )
            .into_response()
    };
    let Ok(order_id) = OrderId::parse(id, "order_id") else {
        return not_found();
    };
    let payments = &console.inner.payments;
    let caller = operator.caller();
    let view = match payments.get_order(&caller, &order_id, false).await {
        Ok(view) => view,
        Err(crate::payments::PaymentError::OrderNotFound { .. }) => return not_found(),
        Err(error) => return super::error_page(operator, &error),
    };
    let events = match payments.order_events(&caller, &order_id).await {
        Ok(events) => events,
        Err(error) => return super::error_page(operator, &error),
    };
    let here = format!("/orders/{}", order_id.as_str());
    let body = format!(
        "{}{}{}{}{}",
        flash_html(lang, flash),
        summary(lang, &view),
        actions(lang, operator, &view),
        records(lang, &view),
        timeline(lang, &view, &events),
    );
    (
        status,
        Html(page(lang, Some(operator), order_id.as_str(), &here, &body)),
    )
        .into_response()
}

fn flash_html(lang: Lang, flash: Option<Flash>) -> String {
    match flash {
        None => String::new(),
        Some(Flash::Done) => format!(
            r#"<p class="done" role="status" id="flash">{}</p>"#,
            esc(lang.t(M::Done))
        ),
        Some(Flash::Refused(why)) => format!(
            r#"<p class="error" role="alert" id="flash">{}: {}</p>"#,
            esc(lang.t(M::Refused)),
            esc(&why)
        ),
    }
}

fn summary(lang: Lang, view: &OrderView) -> String {
    let order = &view.order;
    let state = &order.state;
    let c = order.currency;
    let provider_ids = match &order.provider_order_id {
        Some(id) => match crate::providers::dashboard_url(order.provider, id) {
            Some(url) => format!(
                r#"{} <a href="{}" rel="noreferrer noopener" target="_blank">{}</a>"#,
                esc(id),
                esc(&url),
                esc(lang.t(M::OpenDashboard))
            ),
            None => esc(id),
        },
        None => lang.t(M::Nothing).to_owned(),
    };
    let card = order
        .card
        .as_ref()
        .map(|card| {
            // Nothing more than these: BIN, last four, brand, expiry.
            format!(
                "{} {}••••{} {:02}/{}",
                esc(card.brand.as_deref().unwrap_or("")),
                esc(&card.bin),
                esc(&card.last4),
                card.exp_month,
                card.exp_year
            )
        })
        .unwrap_or_else(|| lang.t(M::Nothing).to_owned());
    let shopper = order
        .customer
        .as_ref()
        .map(|s| {
            [s.name.as_deref(), s.email.as_deref(), s.phone.as_deref()]
                .into_iter()
                .flatten()
                .map(esc)
                .collect::<Vec<_>>()
                .join("<br>")
        })
        .unwrap_or_else(|| lang.t(M::Nothing).to_owned());
    let review = if order.needs_review {
        format!(
            r#"<p class="flag" id="needs-review">⚑ {}</p>"#,
            esc(lang.t(M::NeedsReviewFlag))
        )
    } else {
        String::new()
    };
    format!(
        r#"<h1>{id} <small id="status">{status}</small></h1>{review}
<dl id="summary">
<dt>{reference_l}</dt><dd>{reference}</dd>
<dt>{provider_l}</dt><dd>{provider}</dd>
<dt>{amount_l}</dt><dd id="amount">{amount}</dd>
<dt>{authorized_l}</dt><dd id="authorized">{authorized}</dd>
<dt>{captured_l}</dt><dd id="captured">{captured}</dd>
<dt>{capturable_l}</dt><dd id="capturable">{capturable}</dd>
<dt>{refunded_l}</dt><dd id="refunded">{refunded}</dd>
<dt>{expires_l}</dt><dd>{expires}</dd>
<dt>{ids_l}</dt><dd>{provider_ids}</dd>
<dt>{card_l}</dt><dd>{card}</dd>
<dt>{shopper_l}</dt><dd id="shopper">{shopper}</dd>
<dt>{created_l}</dt><dd>{created}</dd>
</dl>"#,
        id = esc(order.id.as_str()),
        status = esc(lang.status(state.status())),
        reference_l = esc(lang.t(M::Reference)),
        reference = esc(&order.merchant_reference),
        provider_l = esc(lang.t(M::Provider)),
        provider = esc(order.provider.display_name()),
        amount_l = esc(lang.t(M::Amount)),
        amount = money(state.amount, c),
        authorized_l = esc(lang.t(M::Authorized)),
        authorized = money(state.authorized, c),
        captured_l = esc(lang.t(M::Captured)),
        captured = money(state.captured, c),
        capturable_l = esc(lang.t(M::Capturable)),
        capturable = money(state.capturable(), c),
        refunded_l = esc(lang.t(M::Refunded)),
        refunded = money(state.refunded, c),
        expires_l = esc(lang.t(M::Expires)),
        expires = when_opt(state.expires_at, lang),
        ids_l = esc(lang.t(M::ProviderIds)),
        card_l = esc(lang.t(M::Card)),
        shopper_l = esc(lang.t(M::Shopper)),
        created_l = esc(lang.t(M::Created)),
        created = when(order.created_at),
    )
}

/// A fresh idempotency key for one rendering of a form: submitting it twice
/// (a double click, a resubmitted page) is one action.
fn form_key(action: &str) -> String {
    format!("console-{action}-{}", ulid::Ulid::new())
}

fn actions(lang: Lang, operator: &Operator, view: &OrderView) -> String {
    if !operator.may_charge() && !operator.may_refund() {
        return format!(r#"<p id="read-only">{}</p>"#, esc(lang.t(M::ReadOnly)));
    }
    let order = &view.order;
    let state = &order.state;
    let id = esc(order.id.as_str());
    let csrf = esc(&operator.csrf);
    let rules = crate::providers::rules(order.provider);
    let mut forms = Vec::new();
    if operator.may_charge() && state.capturable() > 0 {
        forms.push(format!(
            r#"<form method="post" action="/orders/{id}/capture" id="capture-form">
<h2>{title}</h2><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="key" value="{key}">
<label>{amount_l} <input name="amount" id="capture-amount" inputmode="numeric" value="{capturable}" required></label>
<label>{description_l} <input name="description" id="capture-description" maxlength="255"></label>
<p class="rule">{provider}: {rule}</p>
<button type="submit" id="capture">{title}</button></form>"#,
            title = esc(lang.t(M::Capture)),
            key = form_key("capture"),
            amount_l = esc(lang.t(M::Amount)),
            capturable = state.capturable(),
            description_l = esc(lang.t(M::Description)),
            provider = esc(order.provider.display_name()),
            rule = esc(lang.capture_rule(rules.capture)),
        ));
    }
    if operator.may_refund() && state.refundable() > 0 {
        let reasons: String = rules
            .refund_reasons
            .iter()
            .map(|r| {
                format!(
                    r#"<option value="{}">{}</option>"#,
                    r.as_str(),
                    esc(lang.refund_reason(*r))
                )
            })
            .collect();
        forms.push(format!(
            r#"<form method="post" action="/orders/{id}/refund" id="refund-form">
<h2>{title}</h2><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="key" value="{key}">
<label>{amount_l} <input name="amount" id="refund-amount" inputmode="numeric" value="{refundable}" required></label>
<label>{reason_l} <select name="reason" id="refund-reason"><option value="">{none}</option>{reasons}</select></label>
<label>{description_l} <input name="description" id="refund-description" maxlength="255"></label>
<button type="submit" id="refund">{title}</button></form>"#,
            title = esc(lang.t(M::Refund)),
            key = form_key("refund"),
            amount_l = esc(lang.t(M::Amount)),
            refundable = state.refundable(),
            reason_l = esc(lang.t(M::Reason)),
            none = esc(lang.t(M::Nothing)),
            description_l = esc(lang.t(M::Description)),
        ));
    }
    let voidable = match state.status() {
        OrderStatus::RequiresAction | OrderStatus::Authorized => true,
        OrderStatus::PartiallyCaptured => rules.void_after_partial_capture,
        OrderStatus::Captured
        | OrderStatus::Voided
        | OrderStatus::Expired
        | OrderStatus::Declined
        | OrderStatus::Pending => false,
    };
    if operator.may_charge() && voidable {
        forms.push(format!(
            r#"<form method="post" action="/orders/{id}/void" id="void-form">
<h2>{title}</h2><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="key" value="{key}">
<button type="submit" id="void">{title}</button></form>"#,
            title = esc(lang.t(M::Void)),
            key = form_key("void"),
        ));
    }
    forms.push(format!(
        r#"<form method="post" action="/orders/{id}/reconcile" id="reconcile-form">
<h2>{title}</h2><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" id="reconcile">{title}</button></form>"#,
        title = esc(lang.t(M::Reconcile)),
    ));
    format!(r#"<section class="actions">{}</section>"#, forms.concat())
}

fn records(lang: Lang, view: &OrderView) -> String {
    let c = view.order.currency;
    let captures: String = view
        .captures
        .iter()
        .map(|capture| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                when(capture.created_at),
                esc(capture.id.as_str()),
                money(capture.amount, c),
                esc(capture.status.as_str()),
                esc(&capture.description),
            )
        })
        .collect();
    let refunds: String = view
        .refunds
        .iter()
        .map(|refund| {
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(refund.created_at),
                esc(refund.id.as_str()),
                money(refund.amount, c),
                esc(refund.status.as_str()),
                refund.reason.map_or("", |r| lang.refund_reason(r)),
                esc(&refund.description),
            )
        })
        .collect();
    let none = |rows: &str| {
        if rows.is_empty() {
            format!(
                r#"<tr><td colspan="6">{}</td></tr>"#,
                esc(lang.t(M::NoneYet))
            )
        } else {
            rows.to_owned()
        }
    };
    format!(
        r#"<h2>{}</h2><table id="captures"><tbody>{}</tbody></table>
<h2>{}</h2><table id="refunds"><tbody>{}</tbody></table>"#,
        esc(lang.t(M::Captures)),
        none(&captures),
        esc(lang.t(M::Refunds)),
        none(&refunds),
    )
}

fn timeline(lang: Lang, view: &OrderView, events: &[StreamedEvent]) -> String {
    let c = view.order.currency;
    let rows: String = events
        .iter()
        .map(|event| {
            let amounts = event.amounts.as_ref().map_or_else(String::new, |a| {
                format!(
                    "{} / {} / {}",
                    money(a.authorized, c),
                    money(a.captured, c),
                    money(a.refunded, c)
                )
            });
            format!(
                "<tr><td>{}</td><td class=\"event\">{}</td><td class=\"actor\">{}</td><td>{}</td><td>{}</td></tr>",
                when(event.created_at),
                esc(&event.event_type),
                esc(&event.actor),
                esc(lang.status(event.status)),
                amounts,
            )
        })
        .collect();
    format!(
        r#"<h2>{}</h2><table id="timeline"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{} / {} / {}</th></tr></thead><tbody>{rows}</tbody></table>"#,
        esc(lang.t(M::Timeline)),
        esc(lang.t(M::Created)),
        esc(lang.t(M::Event)),
        esc(lang.t(M::Actor)),
        esc(lang.t(M::Status)),
        esc(lang.t(M::Authorized)),
        esc(lang.t(M::Captured)),
        esc(lang.t(M::Refunded)),
    )
}
