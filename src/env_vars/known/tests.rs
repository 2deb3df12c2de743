//! The list's checks: typos, service links, and that the sources read
//! nothing the list lacks.

use super::*;

#[test]
fn a_typo_is_unknown_and_the_closest_name_is_suggested() {
    let names = [
        "KESSAI_LISTEN_ADR",
        "KESSAI_DATABASE_URL",
        "KESSAI_PAYJP_SECRET_KEY_FILE",
        "KESSAI_TEST_DATABASE_URL",
        "KESSAI_DATABASE_URL_FILE",
        "KESSAI_LISTEN_ADDR_FILE",
        "KESSAI_WHATEVER_ELSE_ENTIRELY",
        "RUST_LOG",
        "KESSAI_SERVICE_HOST",
        "KESSAI_SERVICE_PORT_GRPC",
        "KESSAI_PORT",
        "KESSAI_PORT_50051_TCP_ADDR",
        "KESSAI_METRICS_SERVICE_PORT",
    ];
    assert_eq!(
        unknown(names.into_iter()),
        vec![
            ("KESSAI_LISTEN_ADDR_FILE".into(), Some("KESSAI_LISTEN_ADDR")),
            ("KESSAI_LISTEN_ADR".into(), Some("KESSAI_LISTEN_ADDR")),
            ("KESSAI_WHATEVER_ELSE_ENTIRELY".into(), None),
        ]
    );
}

/// Every `"KESSAI_…"` literal in the sources is a listed variable, so a
/// setting cannot be read without being known (and shown in `--help`).
#[test]
fn every_variable_the_sources_name_is_listed() {
    fn sources(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // The typo tests' misspellings.
            if path.ends_with("known/tests.rs") || path.ends_with("config/every_mistake.rs") {
                continue;
            }
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for piece in text.split("\"KESSAI_").skip(1) {
                    let rest: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    if piece[rest.len()..].starts_with('"') {
                        found.push(format!("KESSAI_{rest}"));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut found,
    );
    let missing: Vec<_> = found
        .iter()
        .filter(|name| name.len() > "KESSAI_".len() && !name.ends_with('_') && !known(name))
        // The test-only provider's variables exist only in its build.
        .filter(|name| cfg!(feature = "example-provider") || !name.starts_with("KESSAI_EXAMPLE_"))
        .collect();
    assert!(missing.is_empty(), "read but not listed: {missing:?}");
    assert!(found.len() > 40, "the scan finds the variables: {found:?}");
}

#[test]
fn every_name_is_listed_once() {
    let mut names: Vec<_> = VARS.iter().map(|v| v.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), VARS.len());
}

/// The configuration reference's table is written by hand: it must at
/// least name every variable.
#[test]
fn the_configuration_reference_names_every_variable() {
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let missing: Vec<_> = VARS
        .iter()
        .map(|var| var.name)
        .filter(|name| !name.starts_with("KESSAI_EXAMPLE_") && !reference.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
}
