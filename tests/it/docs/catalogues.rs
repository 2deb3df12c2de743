//! The documentation's catalogues list what the code has: every error
//! reason and every event type (read from the sources that define them),
//! and the table of what each provider supports agrees with each
//! provider's rules.

use kessai::domain::ProviderKind;
use kessai::domain::rules::{CapturePolicy, RefundPolicy};

use super::repo;

const ERRORS_DOC: &str = "docs/errors-and-events.md";
const PROVIDERS_DOC: &str = "docs/providers.md";

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The string literals of `file` that `pick` selects from its lines.
fn literals(file: &str, pick: impl Fn(&str) -> Option<&str>) -> Vec<String> {
    read(file)
        .lines()
        .filter_map(|line| pick(line.trim()))
        .map(|literal| {
            literal
                .trim_matches(|c| c == '"' || c == ',' || c == ';')
                .to_owned()
        })
        .collect()
}

#[test]
fn every_error_reason_is_documented() {
    // `Reason::X => "X",`: the wire names of every ErrorInfo reason.
    let reasons = literals("src/domain/error.rs", |line| {
        line.strip_prefix("Reason::")
            .and_then(|l| l.split_once(" => "))
            .map(|(_, literal)| literal)
    });
    assert!(reasons.len() > 30, "the reasons were read: {reasons:?}");
    let doc = read(ERRORS_DOC);
    let missing: Vec<_> = reasons
        .iter()
        .filter(|r| !doc.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "reasons {ERRORS_DOC} does not list: {missing:?}"
    );
}

#[test]
fn every_event_type_is_documented_and_every_documented_one_exists() {
    // `pub const X: &str = "x.y";`
    let types = literals("src/payments/events.rs", |line| {
        line.strip_prefix("pub const ")
            .and_then(|l| l.split_once("= "))
            .map(|(_, literal)| literal)
    });
    assert!(types.len() > 20, "the event types were read: {types:?}");
    let doc = read(ERRORS_DOC);
    let start = doc.find("## Event types").expect("the event types section");
    let section = &doc[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |at| at + 3)];
    let documented: Vec<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    let missing: Vec<_> = types.iter().filter(|t| !documented.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "event types {ERRORS_DOC} does not list: {missing:?}"
    );
    let unknown: Vec<_> = documented.iter().filter(|d| !types.contains(d)).collect();
    assert!(
        unknown.is_empty(),
        "{ERRORS_DOC} lists event types kessai never records: {unknown:?}"
    );
}

/// "What each provider supports": each row's cells, by provider.
fn capabilities() -> (Vec<ProviderKind>, Vec<(String, Vec<String>)>) {
    let doc = read(PROVIDERS_DOC);
    let start = doc
        .find("## What each provider supports")
        .expect("the table's section");
    let mut lines = doc[start..].lines().filter(|l| l.starts_with('|'));
    let header: Vec<&str> = lines
        .next()
        .expect("a header")
        .split('|')
        .map(str::trim)
        .collect();
    let providers = header[2..header.len() - 1]
        .iter()
        .map(|name| {
            ProviderKind::ALL
                .into_iter()
                .find(|p| p.display_name() == *name)
                .unwrap_or_else(|| panic!("no provider is called {name:?}"))
        })
        .collect();
    let rows = lines
        .skip(1)
        .map(|line| {
            let cells: Vec<String> = line
                .split(" | ")
                .map(|c| c.trim_matches(|c| c == '|' || c == ' ').to_owned())
                .collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect();
    (providers, rows)
}

#[test]
fn what_each_provider_supports_agrees_with_its_rules() {
    let (providers, rows) = capabilities();
    for p in ProviderKind::ALL
        .into_iter()
        .filter(|p| p.as_str() != "example")
    {
        assert!(
            providers.contains(&p),
            "{PROVIDERS_DOC}'s table has no column for {p}"
        );
    }
    type Rule = fn(ProviderKind) -> bool;
    let checked: [(&str, Rule); 6] = [
        ("partial capture", |_| true),
        ("several partial captures", |p| {
            kessai::providers::rules(p).capture == CapturePolicy::Multiple
        }),
        ("refund per capture", |p| {
            kessai::providers::rules(p).refund == RefundPolicy::PerCapture
        }),
        ("void before the shopper authorizes", |p| {
            kessai::providers::rules(p).void_before_authorization
        }),
        ("void the rest after a partial capture", |p| {
            kessai::providers::rules(p).void_after_partial_capture
        }),
        ("extended authorization", |p| {
            kessai::providers::rules(p)
                .windows
                .iter()
                .any(|w| w.extended_days.is_some())
        }),
    ];
    for (capability, rule) in checked {
        let (_, cells) = rows
            .iter()
            .find(|(name, _)| name == capability)
            .unwrap_or_else(|| panic!("{PROVIDERS_DOC}'s table has no row {capability:?}"));
        for (p, cell) in providers.iter().zip(cells) {
            let documented = cell.starts_with("yes");
            assert!(
                documented || cell.starts_with("no"),
                "{capability}, {p}: say yes or no first: {cell:?}"
            );
            assert_eq!(
                documented,
                rule(*p),
                "{capability}, {p}: the table says {cell:?}"
            );
        }
    }
    // The refund reasons each provider takes, as its rules list them.
    let (_, reasons) = rows
        .iter()
        .find(|(name, _)| name == "refund reasons")
        .expect("a refund reasons row");
    for (p, cell) in providers.iter().zip(reasons) {
        let listed: Vec<&str> = cell.split(", ").map(|r| r.trim_matches('`')).collect();
        let rules: Vec<&str> = kessai::providers::rules(*p)
            .refund_reasons
            .iter()
            .map(|r| r.as_str())
            .collect();
        assert_eq!(listed, rules, "refund reasons, {p}");
    }
}
