//! How ListOrders finds orders by their customer or by a free text: one
//! folding of text for what is stored and for what is asked, so both
//! compare as the same characters.

use unicode_normalization::UnicodeNormalization;

use super::customer::Customer;
use super::error::{InvalidInput, Reason};
use super::text::bounded_text;

/// Separates the fields of an order's search text: a control character,
/// which neither a field nor a search term can hold (both refuse them), so
/// no match spans two fields.
pub const FIELD_SEPARATOR: char = '\u{1f}';

/// Text as search compares it: compatibility forms folded (full-width
/// `ＴＡＲＯ` is `TARO`, half-width `ﾀﾛｳ` is `タロウ`), lower-cased, and
/// without whitespace, so that `山田太郎` finds `山田 太郎`.
pub fn search_form(text: &str) -> String {
    text.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// What an order is found by with a free `query`: its id, merchant
/// reference, customer e-mail and name, each in search form. None of them
/// changes once the order exists, so neither does this text.
pub fn search_text(id: &str, merchant_reference: &str, customer: Option<&Customer>) -> String {
    let customer = customer.cloned().unwrap_or_default();
    [
        Some(id),
        Some(merchant_reference),
        customer.email.as_deref(),
        customer.name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(search_form)
    .filter(|field| !field.is_empty())
    .collect::<Vec<_>>()
    .join(&FIELD_SEPARATOR.to_string())
}

impl Customer {
    /// The e-mail as searches match it: trimmed, lower-cased (and in
    /// search form).
    pub fn email_key(&self) -> Option<String> {
        self.email.as_deref().map(search_form)
    }

    /// The name as searches match it (search form).
    pub fn name_key(&self) -> Option<String> {
        self.name.as_deref().map(search_form)
    }

    /// The e-mail's local part, reversed, for an index that finds the
    /// addresses holding a searched one ([`address_probe`]).
    pub fn email_local_reversed(&self) -> Option<String> {
        self.email_key().as_deref().map(email_local_reversed)
    }
}

/// An e-mail's part before its `@`, reversed: every address holding a term
/// `local@domain` has a local part ending with the term's `local`, so its
/// reversed local part begins with the term's, and an ordered index finds
/// it by that prefix. An address whose search form holds a second `@` (a
/// full-width `＠` folds to one) gets the empty string: it is a candidate for
/// every such search, and the full match is still asked of each candidate.
pub fn email_local_reversed(email_key: &str) -> String {
    match email_key.split_once('@') {
        Some((local, domain)) if !domain.contains('@') => local.chars().rev().collect(),
        Some(_) | None => String::new(),
    }
}

/// For an e-mail term holding `@` after at least one character: the prefix
/// of [`email_local_reversed`] that every address holding it has, and the
/// first text past every text with that prefix (`None` for a term without
/// one, which the index cannot find).
pub fn address_probe(term: &SearchTerm) -> Option<(String, String)> {
    let (local, _) = term.as_str().split_once('@')?;
    let prefix: String = local.chars().rev().collect();
    let last = prefix.chars().next_back()?;
    let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32)?;
    let mut past = prefix[..prefix.len() - last.len_utf8()].to_owned();
    past.push(next);
    Some((prefix, past))
}

/// One filter's text in search form; never empty. Prints as its length
/// only: what a caller searches for is often an e-mail address.
#[derive(Clone, PartialEq, Eq)]
pub struct SearchTerm(String);

impl std::fmt::Debug for SearchTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SearchTerm({} chars)", self.0.chars().count())
    }
}

impl SearchTerm {
    /// `None` for an empty filter. Too long, a control character, or
    /// nothing but spaces is refused, naming the field, never quoting it.
    pub fn parse(value: &str, field: &str, max: usize) -> Result<Option<Self>, InvalidInput> {
        if value.is_empty() {
            return Ok(None);
        }
        let folded = search_form(&bounded_text(value, field, max)?);
        if folded.is_empty() {
            return Err(InvalidInput::new(
                Reason::InvalidArgument,
                field,
                "must not be only spaces (leave it empty to match every order)",
            ));
        }
        Ok(Some(Self(folded)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ListOrders' customer and free-text filters; every one given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderSearch {
    /// Part of the customer's e-mail.
    pub email: Option<SearchTerm>,
    /// Part of the customer's name.
    pub name: Option<SearchTerm>,
    /// Part of the id, merchant reference, e-mail or name, or the whole
    /// provider order id.
    pub query: Option<SearchTerm>,
}

impl OrderSearch {
    /// The three filters as a caller sends them, every problem named.
    pub fn parse(email: &str, name: &str, query: &str) -> Result<Self, InvalidInput> {
        let email = SearchTerm::parse(email, "customer_email", Customer::MAX_EMAIL);
        let name = SearchTerm::parse(name, "customer_name", Customer::MAX_NAME);
        let query = SearchTerm::parse(query, "query", Customer::MAX_NAME);
        match (email, name, query) {
            (Ok(email), Ok(name), Ok(query)) => Ok(Self { email, name, query }),
            (email, name, query) => {
                let mut errors = [email.err(), name.err(), query.err()].into_iter().flatten();
                let mut first = errors.next().expect("one of them failed");
                first.violations.extend(errors.flat_map(|e| e.violations));
                Err(first)
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.name.is_none() && self.query.is_none()
    }

    /// Every term given, for the index that narrows all three.
    pub fn terms(&self) -> impl Iterator<Item = &SearchTerm> {
        [&self.email, &self.name, &self.query].into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_form_folds_width_case_and_spaces() {
        assert_eq!(
            search_form(" Taro.YAMADA@Example.JP "),
            "taro.yamada@example.jp"
        );
        assert_eq!(search_form("ＴＡＲＯ　ＹＡＭＡＤＡ"), "taroyamada");
        assert_eq!(search_form("ﾔﾏﾀﾞ ﾀﾛｳ"), "ヤマダタロウ");
        assert_eq!(search_form("山田 太郎"), search_form("山田太郎"));
    }

    #[test]
    fn the_search_text_holds_each_field_apart() {
        let customer = Customer::parse("Hanako@Example.jp", "佐藤 花子", "", "c")
            .unwrap()
            .unwrap();
        let text = search_text("ord_01ABC", "Order 7", Some(&customer));
        assert_eq!(
            text,
            "ord_01abc\u{1f}order7\u{1f}hanako@example.jp\u{1f}佐藤花子"
        );
        assert_eq!(search_text("ord_01ABC", "", None), "ord_01abc");
        assert_eq!(customer.email_key().as_deref(), Some("hanako@example.jp"));
        assert_eq!(customer.name_key().as_deref(), Some("佐藤花子"));
    }

    #[test]
    fn an_address_is_found_by_the_reversed_end_of_its_local_part() {
        let stored = Customer::parse("Hanako.Sato12@Example.jp", "", "", "c")
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.email_local_reversed().as_deref(),
            Some("21otas.okanah")
        );
        let term = |t: &str| {
            SearchTerm::parse(t, "customer_email", 255)
                .unwrap()
                .unwrap()
        };
        let (prefix, past) = address_probe(&term("sato12@example")).unwrap();
        assert_eq!((prefix.as_str(), past.as_str()), ("21otas", "21otat"));
        let key = stored.email_local_reversed().unwrap();
        assert!(key.as_str() >= prefix.as_str() && key.as_str() < past.as_str());
        let (prefix, past) = address_probe(&term("ko.sato12@")).unwrap();
        assert!(key.as_str() >= prefix.as_str() && key.as_str() < past.as_str());
        let (prefix, past) = address_probe(&term("hanako.sato1@example.jp")).unwrap();
        assert!(!(key.as_str() >= prefix.as_str() && key.as_str() < past.as_str()));
        assert_eq!(address_probe(&term("@example.jp")), None);
        assert_eq!(address_probe(&term("hanako")), None);
        // The first character past `z` is `{`; past U+D7FF comes U+E000.
        assert_eq!(address_probe(&term("z@x")).unwrap().1, "{");
        assert_eq!(address_probe(&term("\u{d7ff}@x")).unwrap().1, "\u{e000}");
        assert_eq!(
            email_local_reversed("a@b@c"),
            "",
            "a second @ makes it a candidate always"
        );
    }

    #[test]
    fn filters_are_bounded_and_never_quoted() {
        let search = OrderSearch::parse("  YAMADA@ ", "", "ＯＲＤ_01").unwrap();
        assert_eq!(search.email.as_ref().unwrap().as_str(), "yamada@");
        assert_eq!(search.query.as_ref().unwrap().as_str(), "ord_01");
        assert_eq!(search.terms().count(), 2);
        assert!(OrderSearch::parse("", "", "").unwrap().is_empty());
        let long = "x".repeat(300);
        let error = OrderSearch::parse(&long, "a\u{7}b", "   ").unwrap_err();
        let fields: Vec<&str> = error.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["customer_email", "customer_name", "query"]);
        assert!(!format!("{error}").contains(&long[..20]));
        assert_eq!(
            format!("{:?}", search.email.unwrap()),
            "SearchTerm(7 chars)"
        );
    }
}
