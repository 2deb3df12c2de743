//! The overview: today's and the last 14 days' authorized, captured and
//! refunded amounts per provider (server-rendered SVG, one small chart per
//! provider and currency), and the orders that want attention.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{Days, NaiveDate, Utc};

use super::Console;
use super::html::{esc, money, page};
use super::i18n::{Lang, M};
use super::session::Operator;
use crate::domain::{Currency, ProviderKind};
use crate::store::{DailyTotal, shop_offset};

const DAYS: u64 = 14;
/// The three series' colours: authorized, captured, refunded.
const COLOURS: [&str; 3] = ["#8fb8de", "#16324f", "#d4731c"];

pub async fn show(State(console): State<Console>, operator: Operator) -> Response {
    let lang = operator.lang;
    let inner = &console.inner;
    let now = inner.now();
    let today = now.with_timezone(&shop_offset()).date_naive();
    let first = today - Days::new(DAYS - 1);
    let since = first
        .and_hms_opt(0, 0, 0)
        .and_then(|start| start.and_local_timezone(shop_offset()).single())
        .map_or(now, |at| at.with_timezone(&Utc));
    let caller = operator.caller();
    let store = inner.payments.store();
    let totals = store.daily_totals(since, &caller.sees).await;
    let attention = store
        .attention(now, now + chrono::Duration::hours(24), &caller.sees)
        .await;
    let (totals, attention) = match (totals, attention) {
        (Ok(totals), Ok(attention)) => (totals, attention),
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "the console's overview could not be read");
            return super::error_page(&operator, &crate::payments::PaymentError::from(error));
        }
    };
    let mut series: Vec<(ProviderKind, Currency)> =
        totals.iter().map(|t| (t.provider, t.currency)).collect();
    series.sort_by_key(|(p, c)| (p.as_str(), c.code()));
    series.dedup();
    let charts: String = series
        .iter()
        .map(|(provider, currency)| chart(lang, &totals, *provider, *currency, first, today))
        .collect();
    let body = format!(
        r#"<h1>{overview}</h1>
<p><a href="/orders?tab=review" id="review-count">{review_l}: <strong>{review}</strong></a> ·
<a href="/orders?tab=uncaptured" id="expiring-count">{expiring_l}: <strong>{expiring}</strong></a></p>
<h2>{today_l} ({today})</h2>{today_table}
<h2>{last_l}</h2>
<p><span style="color:{c0}">■</span> {authorized_l} <span style="color:{c1}">■</span> {captured_l} <span style="color:{c2}">■</span> {refunded_l}</p>
{charts}"#,
        overview = esc(lang.t(M::Overview)),
        review_l = esc(lang.t(M::TabReview)),
        review = attention.needs_review,
        expiring_l = esc(lang.t(M::ExpiringSoon)),
        expiring = attention.expiring,
        today_l = esc(lang.t(M::Today)),
        today_table = today_table(lang, &totals, today),
        last_l = esc(lang.t(M::Last14Days)),
        c0 = COLOURS[0],
        c1 = COLOURS[1],
        c2 = COLOURS[2],
        authorized_l = esc(lang.t(M::Authorized)),
        captured_l = esc(lang.t(M::Captured)),
        refunded_l = esc(lang.t(M::Refunded)),
    );
    (
        StatusCode::OK,
        Html(page(
            lang,
            Some(&operator),
            lang.t(M::Overview),
            "/overview",
            &body,
        )),
    )
        .into_response()
}

fn today_table(lang: Lang, totals: &[DailyTotal], today: NaiveDate) -> String {
    let rows: String = totals
        .iter()
        .filter(|t| t.day == today)
        .map(|t| {
            format!(
                r#"<tr data-provider="{p}"><td>{name}</td><td class="num authorized">{a}</td><td class="num captured">{c}</td><td class="num refunded">{r}</td></tr>"#,
                p = t.provider.as_str(),
                name = esc(t.provider.display_name()),
                a = money(t.authorized, t.currency),
                c = money(t.captured, t.currency),
                r = money(t.refunded, t.currency),
            )
        })
        .collect();
    format!(
        r#"<table id="today"><thead><tr><th>{}</th><th class="num">{}</th><th class="num">{}</th><th class="num">{}</th></tr></thead><tbody>{}</tbody></table>"#,
        esc(lang.t(M::Provider)),
        esc(lang.t(M::Authorized)),
        esc(lang.t(M::Captured)),
        esc(lang.t(M::Refunded)),
        if rows.is_empty() {
            format!(
                r#"<tr><td colspan="4">{}</td></tr>"#,
                esc(lang.t(M::NoneYet))
            )
        } else {
            rows
        }
    )
}

/// One provider's 14 days as grouped bars, scaled to its largest day.
fn chart(
    lang: Lang,
    totals: &[DailyTotal],
    provider: ProviderKind,
    currency: Currency,
    first: NaiveDate,
    today: NaiveDate,
) -> String {
    const BAR: u64 = 8;
    const GROUP: u64 = 3 * BAR + 10;
    const HEIGHT: u64 = 120;
    const LEFT: u64 = 8;
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= today).collect();
    let of_day = |day: NaiveDate| {
        totals
            .iter()
            .find(|t| t.day == day && t.provider == provider && t.currency == currency)
            .map_or([0, 0, 0], |t| [t.authorized, t.captured, t.refunded])
    };
    let largest = days
        .iter()
        .flat_map(|d| of_day(*d))
        .max()
        .unwrap_or(0)
        .max(1);
    let labels = [M::Authorized, M::Captured, M::Refunded];
    let mut bars = String::new();
    let mut sums = [0i64; 3];
    for (i, day) in days.iter().enumerate() {
        let x0 = LEFT + i as u64 * GROUP;
        for (j, amount) in of_day(*day).into_iter().enumerate() {
            sums[j] += amount;
            let h = (amount.max(0) as u128 * u128::from(HEIGHT) / largest as u128) as u64;
            bars.push_str(&format!(
                r#"<rect x="{x}" y="{y}" width="{BAR}" height="{h}" fill="{fill}"><title>{day} {label}: {amount}</title></rect>"#,
                x = x0 + j as u64 * BAR,
                y = HEIGHT + 10 - h,
                fill = COLOURS[j],
                label = esc(lang.t(labels[j])),
                amount = esc(&money(amount, currency)),
            ));
        }
        bars.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="9">{}</text>"#,
            x0,
            HEIGHT + 24,
            day.format("%m/%d")
        ));
    }
    let width = LEFT + days.len() as u64 * GROUP;
    format!(
        r##"<h3>{name} ({code})</h3>
<svg id="chart-{id}-{code}" role="img" aria-label="{name}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" data-authorized="{a}" data-captured="{c}" data-refunded="{r}">
<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="#999"/>{bars}</svg>
<p>{total_l}: {authorized_l} {at} · {captured_l} {ct} · {refunded_l} {rt}</p>"##,
        name = esc(provider.display_name()),
        id = provider.as_str(),
        code = currency.code(),
        height = HEIGHT + 30,
        base = HEIGHT + 10,
        a = sums[0],
        c = sums[1],
        r = sums[2],
        total_l = esc(lang.t(M::Total)),
        authorized_l = esc(lang.t(M::Authorized)),
        captured_l = esc(lang.t(M::Captured)),
        refunded_l = esc(lang.t(M::Refunded)),
        at = money(sums[0], currency),
        ct = money(sums[1], currency),
        rt = money(sums[2], currency),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_fourteen_days_of_three_bars_scaled_to_the_largest() {
        let jpy = Currency::parse("JPY").unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let first = today - Days::new(DAYS - 1);
        let totals = vec![DailyTotal {
            day: today,
            provider: ProviderKind::Payjp,
            currency: jpy,
            authorized: 10_000,
            captured: 5_000,
            refunded: 1_000,
        }];
        let svg = chart(Lang::En, &totals, ProviderKind::Payjp, jpy, first, today);
        assert_eq!(svg.matches("<rect").count(), 14 * 3);
        assert!(svg.contains(r#"data-captured="5000""#));
        assert!(svg.contains(r##"height="120" fill="#8fb8de""##), "{svg}");
        assert!(svg.contains(r##"height="60" fill="#16324f""##));
    }
}
