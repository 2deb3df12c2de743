//! Strategies for the property tests that feed parsers and validators
//! arbitrary and malformed input: no input may panic them, and every one
//! must come out as a value or a mapped error.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Numbers a provider might send, the absurd ones included.
pub fn any_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(0)),
        (-1_000_000i64..10_000_000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
    ]
}

fn leaf(words: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number(),
        proptest::sample::select(words).prop_map(|w| Value::String(w.to_owned())),
        ".{0,40}".prop_map(Value::String),
    ]
}

/// JSON whose objects mostly use `keys`, with values from `words`, nested a
/// few levels: close enough to a real answer to get past the first checks.
pub fn json_like(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> BoxedStrategy<Value> {
    leaf(words)
        .prop_recursive(3, 48, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        prop_oneof![
                            4 => proptest::sample::select(keys).prop_map(str::to_owned),
                            1 => "[a-z_]{1,12}",
                        ],
                        inner,
                    ),
                    0..10,
                )
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            ]
        })
        .boxed()
}

/// Bodies as they may arrive: JSON like the provider's, or any bytes.
pub fn body(
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_like(keys, words).prop_map(|v| v.to_string().into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => ".{0,80}".prop_map(String::into_bytes),
    ]
}

/// HTTP statuses, the undocumented ones included.
pub fn status() -> impl Strategy<Value = reqwest::StatusCode> {
    (100u16..600)
        .prop_map(|code| reqwest::StatusCode::from_u16(code).unwrap_or(reqwest::StatusCode::OK))
}

/// A real answer (a fixture) with some of its top-level fields replaced by
/// arbitrary values or removed: it gets past the parser's first checks, so
/// the arithmetic and the mapping behind it are exercised too.
pub fn mutated(
    base: Value,
    keys: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let fields: Vec<String> = base
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let edit = prop_oneof![
        2 => leaf(words).prop_map(Some),
        1 => json_like(keys, words).prop_map(Some),
        1 => Just(None),
    ];
    proptest::collection::vec((any::<proptest::sample::Index>(), edit), 0..4).prop_map(
        move |edits| {
            let mut value = base.clone();
            if let (Some(object), false) = (value.as_object_mut(), fields.is_empty()) {
                for (index, edit) in edits {
                    let field = index.get(&fields).clone();
                    match edit {
                        Some(v) => object.insert(field, v),
                        None => object.remove(&field),
                    };
                }
            }
            value
        },
    )
}

/// The JSON of a fixture under `tests/fixtures/`.
pub fn fixture(path: &str) -> Value {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}
