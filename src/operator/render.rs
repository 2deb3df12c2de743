//! Orders as an operator reads them: aligned tables, or JSON for scripts.
//! Both are made from the `Order` message GetOrder answers with (and an
//! order's history from the `OrderEvent`s WatchOrderEvents streams), so the
//! command line shows nothing the API would not (of a card: BIN, last four,
//! brand and expiry). A shopper's client secret is not shown, only that one
//! is pending.

use chrono::DateTime;
use prost_types::Timestamp;
use serde_json::{Value, json};

use crate::proto::v1;

/// An enum value's proto name without its type prefix, lower case:
/// `ORDER_STATUS_PARTIALLY_CAPTURED` → `partially_captured`.
fn word(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn status(order: &v1::Order) -> String {
    word(order.status().as_str_name(), "ORDER_STATUS_")
}

fn provider(order: &v1::Order) -> String {
    word(order.provider().as_str_name(), "PROVIDER_")
}

/// How the shopper pays (`paypay`, `card`, …); null while the provider has
/// not said.
fn payment_method(order: &v1::Order) -> Value {
    match order.payment_method() {
        v1::PaymentMethod::Unspecified => Value::Null,
        method => Value::String(word(method.as_str_name(), "PAYMENT_METHOD_")),
    }
}

fn time(t: Option<&Timestamp>) -> Value {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| Value::String(t.to_rfc3339()))
        .unwrap_or(Value::Null)
}

fn failure(f: Option<&v1::Failure>) -> Value {
    f.map(|f| {
        json!({
            "code": f.code,
            "message": f.message,
            "provider_code": f.provider_code,
        })
    })
    .unwrap_or(Value::Null)
}

fn next_action(order: &v1::Order) -> Value {
    match order.next_action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(v1::next_action::Action::RedirectUrl(url)) => {
            json!({ "kind": "redirect_url", "redirect_url": url })
        }
        Some(v1::next_action::Action::ClientSecret(_)) => json!({ "kind": "client_secret" }),
        None => Value::Null,
    }
}

pub fn order_json(order: &v1::Order) -> Value {
    json!({
        "id": order.id,
        "provider": provider(order),
        "payment_method": payment_method(order),
        "provider_order_id": order.provider_order_id,
        "merchant_reference": order.merchant_reference,
        "description": order.description,
        "status": status(order),
        "needs_review": order.needs_review,
        "currency": order.currency,
        "amount": order.amount,
        "amount_authorized": order.amount_authorized,
        "amount_captured": order.amount_captured,
        "amount_refunded": order.amount_refunded,
        "amount_capturable": order.amount_capturable,
        "capture_method": word(order.capture_method().as_str_name(), "CAPTURE_METHOD_"),
        "livemode": order.livemode,
        "card": order.card.as_ref().map(|c| json!({
            "bin": c.bin,
            "last4": c.last4,
            "brand": c.brand,
            "expiry_month": c.expiry_month,
            "expiry_year": c.expiry_year,
        })),
        "customer": order.customer.as_ref().map(|c| json!({
            "email": c.email,
            "name": c.name,
            "phone": c.phone,
        })),
        "next_action": next_action(order),
        "failure": failure(order.failure.as_ref()),
        "metadata": order.metadata,
        "created_at": time(order.created_at.as_ref()),
        "updated_at": time(order.updated_at.as_ref()),
        "expires_at": time(order.expires_at.as_ref()),
        "captures": order.captures.iter().map(|c| json!({
            "id": c.id,
            "amount": c.amount,
            "amount_refunded": c.amount_refunded,
            "status": word(c.status().as_str_name(), "CAPTURE_STATUS_"),
            "final_capture": c.final_capture,
            "provider_capture_id": c.provider_capture_id,
            "reference": c.reference,
            "created_at": time(c.created_at.as_ref()),
            "failure": failure(c.failure.as_ref()),
        })).collect::<Vec<_>>(),
        "refunds": order.refunds.iter().map(|r| json!({
            "id": r.id,
            "amount": r.amount,
            "status": word(r.status().as_str_name(), "REFUND_STATUS_"),
            "reason": match r.reason() {
                v1::RefundReason::Unspecified => Value::Null,
                reason => Value::String(word(reason.as_str_name(), "REFUND_REASON_")),
            },
            "reference": r.reference,
            "created_at": time(r.created_at.as_ref()),
            "failure": failure(r.failure.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

/// Who the shopper is, in a listing: the e-mail, else the name.
fn customer(order: &v1::Order) -> String {
    order
        .customer
        .as_ref()
        .map(|c| {
            if c.email.is_empty() {
                c.name.clone()
            } else {
                c.email.clone()
            }
        })
        .unwrap_or_default()
}

/// Columns padded to their widest cell.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One order: its fields, then its captures and refunds.
pub fn order_table(order: &v1::Order) -> String {
    let json = order_json(order);
    let mut out = String::new();
    let fields = [
        "id",
        "provider",
        "payment_method",
        "provider_order_id",
        "merchant_reference",
        "status",
        "needs_review",
        "currency",
        "amount",
        "amount_authorized",
        "amount_captured",
        "amount_refunded",
        "amount_capturable",
        "capture_method",
        "livemode",
        "created_at",
        "updated_at",
        "expires_at",
    ];
    let width = fields.iter().map(|f| f.len()).max().unwrap_or(0);
    for field in fields {
        out.push_str(&format!("{field:<width$}  {}\n", text(&json[field])));
    }
    if let Some(card) = &order.card {
        out.push_str(&format!(
            "{:<width$}  {} {}…{} {:02}/{}\n",
            "card", card.brand, card.bin, card.last4, card.expiry_month, card.expiry_year
        ));
    }
    if let Some(c) = &order.customer {
        let email = if c.email.is_empty() {
            String::new()
        } else {
            format!("<{}>", c.email)
        };
        let parts: Vec<String> = [c.name.clone(), email, c.phone.clone()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect();
        out.push_str(&format!("{:<width$}  {}\n", "customer", parts.join(" ")));
    }
    if let Some(action) = json["next_action"].get("kind") {
        out.push_str(&format!("{:<width$}  {}\n", "next_action", text(action)));
    }
    if let Some(f) = &order.failure {
        out.push_str(&format!(
            "{:<width$}  {} ({}): {}\n",
            "failure", f.code, f.provider_code, f.message
        ));
    }
    if !order.captures.is_empty() {
        out.push_str("\ncaptures\n");
        let rows: Vec<Vec<String>> = json["captures"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                [
                    "id",
                    "status",
                    "amount",
                    "amount_refunded",
                    "final_capture",
                    "created_at",
                ]
                .iter()
                .map(|f| text(&c[*f]))
                .collect()
            })
            .collect();
        out.push_str(&table(
            &["ID", "STATUS", "AMOUNT", "REFUNDED", "FINAL", "CREATED"],
            &rows,
        ));
    }
    if !order.refunds.is_empty() {
        out.push_str("\nrefunds\n");
        let rows: Vec<Vec<String>> = json["refunds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                ["id", "status", "amount", "reason", "created_at"]
                    .iter()
                    .map(|f| text(&r[*f]))
                    .collect()
            })
            .collect();
        out.push_str(&table(
            &["ID", "STATUS", "AMOUNT", "REASON", "CREATED"],
            &rows,
        ));
    }
    out
}

/// An order's history as the API streams it (WatchOrderEvents), oldest
/// first.
pub fn events_json(events: &[v1::OrderEvent]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|e| {
                json!({
                    "cursor": e.cursor,
                    "event_type": e.event_type,
                    "actor": e.actor,
                    "status": word(e.status().as_str_name(), "ORDER_STATUS_"),
                    "amounts": e.amounts.as_ref().map(|a| json!({
                        "amount_authorized": a.amount_authorized,
                        "amount_captured": a.amount_captured,
                        "amount_refunded": a.amount_refunded,
                        "amount_capturable": a.amount_capturable,
                    })),
                    "created_at": time(e.created_at.as_ref()),
                })
            })
            .collect(),
    )
}

/// The history under an order's table: one event per line.
pub fn events_table(events: &[v1::OrderEvent]) -> String {
    let json = events_json(events);
    let rows: Vec<Vec<String>> = json
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let amount = |name: &str| text(&e["amounts"][name]);
            vec![
                text(&e["created_at"]),
                text(&e["event_type"]),
                text(&e["status"]),
                amount("amount_authorized"),
                amount("amount_captured"),
                amount("amount_refunded"),
                text(&e["actor"]),
            ]
        })
        .collect();
    let header = [
        "CREATED",
        "EVENT",
        "STATUS",
        "AUTHORIZED",
        "CAPTURED",
        "REFUNDED",
        "ACTOR",
    ];
    format!("\nevents\n{}", table(&header, &rows))
}

/// Orders one per line.
pub fn orders_table(orders: &[v1::Order]) -> String {
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|o| {
            vec![
                o.id.clone(),
                provider(o),
                text(&payment_method(o)),
                status(o),
                o.currency.clone(),
                o.amount.to_string(),
                o.amount_captured.to_string(),
                o.amount_refunded.to_string(),
                if o.needs_review { "yes" } else { "" }.into(),
                text(&time(o.created_at.as_ref())),
                o.merchant_reference.clone(),
                customer(o),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "PROVIDER",
            "METHOD",
            "STATUS",
            "CURRENCY",
            "AMOUNT",
            "CAPTURED",
            "REFUNDED",
            "REVIEW",
            "CREATED",
            "REFERENCE",
            "CUSTOMER",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_headers() {
        let out = table(
            &["ID", "STATUS"],
            &[
                vec!["ord_1".into(), "authorized".into()],
                vec!["ord_22".into(), "captured".into()],
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "ID      STATUS");
        assert_eq!(lines[1], "ord_1   authorized");
        assert_eq!(lines[2], "ord_22  captured");
    }

    #[test]
    fn enum_names_lose_their_prefix() {
        assert_eq!(
            word("ORDER_STATUS_PARTIALLY_CAPTURED", "ORDER_STATUS_"),
            "partially_captured"
        );
        assert_eq!(word("PROVIDER_PAYJP", "PROVIDER_"), "payjp");
    }

    #[test]
    fn a_client_secret_is_never_printed() {
        let order = v1::Order {
            next_action: Some(v1::NextAction {
                action: Some(v1::next_action::Action::ClientSecret(
                    "pi_secret_xyz".into(),
                )),
            }),
            ..Default::default()
        };
        let json = order_json(&order).to_string();
        assert!(!json.contains("pi_secret_xyz"), "{json}");
        assert!(!order_table(&order).contains("pi_secret_xyz"));
    }
}
