//! What the shopper's pages (PAY.JP's 3-D Secure, Smartpay's checkout)
//! share: the HTML frame and escaping. The pages answer with a page rather
//! than a redirect to the shop, so an HTTP test client that follows
//! redirects does not wander off to a shop that does not exist; their forms
//! post to relative actions, which keep working behind any prefix or proxy.

/// A whole page titled `title` around `body`.
pub(crate) fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>{body}</body></html>"
    )
}

pub(crate) fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(html_page("T", "<p>b</p>").contains("<title>T</title><"));
    }
}
