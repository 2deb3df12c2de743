//! The console's HTML: escaping, the page frame, and how money and times
//! are shown. Every value from an order passes through [`esc`].

use chrono::{DateTime, Utc};

use super::i18n::{Lang, M};
use super::session::Operator;
use crate::domain::Currency;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one query-string value.
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// An amount in its currency's minor units, as people write it: `¥12,345`.
pub fn money(amount: i64, currency: Currency) -> String {
    let exponent = u32::from(currency.exponent());
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    let unit = 10u64.pow(exponent);
    let whole = grouped(amount / unit);
    let number = if exponent == 0 {
        whole
    } else {
        format!(
            "{whole}.{:0width$}",
            amount % unit,
            width = exponent as usize
        )
    };
    match currency.code() {
        "JPY" => format!("{sign}¥{number}"),
        code => format!("{sign}{number} {code}"),
    }
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A time in Japan, to the minute (the shops' own clock).
pub fn when(at: DateTime<Utc>) -> String {
    at.with_timezone(&crate::store::shop_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn when_opt(at: Option<DateTime<Utc>>, lang: Lang) -> String {
    at.map_or_else(|| lang.t(M::Nothing).to_owned(), when)
}

const STYLE: &str = "body{font-family:system-ui,'Hiragino Sans','Noto Sans JP',sans-serif;margin:0;color:#1b1f24}\
header{display:flex;gap:1.5em;align-items:center;background:#16324f;color:#fff;padding:.6em 1.2em}\
header a{color:#fff}header .right{margin-left:auto;display:flex;gap:1em;align-items:center}\
main{padding:1em 1.5em}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #d8dee4;padding:.35em .5em;text-align:left;font-size:.92em}\
td.num,th.num{text-align:right}nav.tabs a{margin-right:1em;padding:.3em .6em}\
nav.tabs a.on{border-bottom:3px solid #16324f;font-weight:bold}\
.error{color:#a40e26;font-weight:bold}.done{color:#116329;font-weight:bold}\
.flag{background:#fff8c5;padding:.4em}.actions{display:flex;flex-wrap:wrap;gap:1.5em}\
.actions form{border:1px solid #d8dee4;padding:.8em;min-width:16em}\
.actions label{display:block;margin:.3em 0}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\
dt{font-weight:bold}button{cursor:pointer}.rule{color:#57606a;font-size:.88em}\
header form{margin:0}header button{background:none;border:1px solid #fff;color:#fff}";

/// A whole page: the frame (with the navigation once signed in) around
/// `body`. `here` is this page's path, for the language switch.
pub fn page(
    lang: Lang,
    operator: Option<&Operator>,
    title: &str,
    here: &str,
    body: &str,
) -> String {
    let nav = match operator {
        Some(op) => format!(
            r#"<a href="/orders">{orders}</a><a href="/overview">{overview}</a>
<span class="right"><span id="operator">{name}</span>
<a href="/lang?to={other}&amp;back={back}" id="lang">{language}</a>
<form method="post" action="/sign-out" id="sign-out-form"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" id="sign-out">{sign_out}</button></form></span>"#,
            orders = esc(lang.t(M::Orders)),
            overview = esc(lang.t(M::Overview)),
            name = esc(&op.name),
            other = lang.other().code(),
            back = esc(&query_value(here)),
            language = esc(lang.t(M::Language)),
            csrf = esc(&op.csrf),
            sign_out = esc(lang.t(M::SignOut)),
        ),
        None => format!(
            r#"<span class="right"><a href="/lang?to={}&amp;back={}" id="lang">{}</a></span>"#,
            lang.other().code(),
            esc(&query_value(here)),
            esc(lang.t(M::Language)),
        ),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="{code}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {console}</title><style>{STYLE}</style></head>
<body><header><strong>{console}</strong>{nav}</header><main>
{body}
</main></body></html>"#,
        code = lang.code(),
        title = esc(title),
        console = esc(lang.t(M::Console)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_shown_not_run() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn yen_are_whole_and_grouped() {
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(money(1_234_567, jpy), "¥1,234,567");
        assert_eq!(money(50, jpy), "¥50");
        assert_eq!(money(0, jpy), "¥0");
        assert_eq!(money(-1_000, jpy), "-¥1,000");
    }

    #[test]
    fn times_are_japans() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T15:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(at), "2026-12-07 00:30");
    }
}
