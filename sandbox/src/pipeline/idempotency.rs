//! `Idempotency-Key` replay, as PAY.JP and Smartpay keep it: the answer to
//! the first request under a key is kept, and a retry of the same request
//! gets it again, byte for byte, without acting; another request under the
//! same key is a conflict. Each provider decides which requests carry a
//! key, how long keys live and which answers are kept.
//!
//! The store lives inside the books, behind their one lock, so a lookup and
//! the action it guards are atomic: no request can slip in between, and
//! there is never an "in flight" key to report.

use std::collections::{BTreeSet, HashMap};

use axum::http::Method;
use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::reply::Reply;

/// What makes two requests "the same" for idempotency.
pub(crate) fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().into()
}

#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: [u8; 32],
    at_ms: i64,
    reply: Reply,
}

/// The answers kept by key; saved with the books (as the map by key), so a
/// retry after a restart still replays. Their ages are kept in order too, so
/// forgetting expired keys reads only those.
#[derive(Default)]
pub(crate) struct Answers {
    by_key: HashMap<String, Stored>,
    by_age: BTreeSet<(i64, String)>,
}

impl Answers {
    /// Forgets every answer stored at or before `oldest_ms`.
    fn forget_until(&mut self, oldest_ms: i64) {
        while let Some((at_ms, _)) = self.by_age.first()
            && *at_ms <= oldest_ms
        {
            if let Some((_, key)) = self.by_age.pop_first() {
                self.by_key.remove(&key);
            }
        }
    }

    fn keep(&mut self, key: String, stored: Stored) {
        self.by_age.insert((stored.at_ms, key.clone()));
        self.by_key.insert(key, stored);
    }
}

impl Serialize for Answers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.by_key.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Answers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let by_key = HashMap::<String, Stored>::deserialize(deserializer)?;
        let by_age = by_key
            .iter()
            .map(|(key, stored)| (stored.at_ms, key.clone()))
            .collect();
        Ok(Self { by_key, by_age })
    }
}

/// Books that keep answers by key.
pub(crate) trait Idempotent {
    /// How long a key is remembered.
    const RETENTION: Duration;

    fn answers(&mut self) -> &mut Answers;

    /// Whether an answer is kept for replay.
    fn keeps(_reply: &Reply) -> bool {
        true
    }
}

/// One keyed request: its key, its fingerprint and when it came (ms).
pub(crate) struct Keyed {
    pub key: String,
    pub fingerprint: [u8; 32],
    pub now_ms: i64,
}

/// Acts on a request: at once without a key, else once per key (see the
/// module). `conflict` answers another request under a used key.
pub(crate) fn once<B: Idempotent>(
    books: &mut B,
    keyed: Option<Keyed>,
    conflict: impl FnOnce() -> Reply,
    act: impl FnOnce(&mut B) -> Reply,
) -> Reply {
    let Some(Keyed {
        key,
        fingerprint,
        now_ms,
    }) = keyed
    else {
        return act(books);
    };
    let retention = B::RETENTION.num_milliseconds();
    let answers = books.answers();
    answers.forget_until(now_ms.saturating_sub(retention));
    if let Some(stored) = answers.by_key.get(&key) {
        return if stored.fingerprint == fingerprint {
            stored.reply.clone()
        } else {
            conflict()
        };
    }
    let reply = act(books);
    if B::keeps(&reply) {
        books.answers().keep(
            key,
            Stored {
                fingerprint,
                at_ms: now_ms,
                reply: reply.clone(),
            },
        );
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Books {
        answers: Answers,
        acted: usize,
    }

    impl Idempotent for Books {
        const RETENTION: Duration = Duration::milliseconds(1_000);

        fn answers(&mut self) -> &mut Answers {
            &mut self.answers
        }
    }

    fn call(books: &mut Books, key: &str, now_ms: i64) -> Reply {
        once(
            books,
            Some(Keyed {
                key: key.to_owned(),
                fingerprint: [1; 32],
                now_ms,
            }),
            || Reply::ok(&"conflict"),
            |b| {
                b.acted += 1;
                Reply::ok(&b.acted)
            },
        )
    }

    #[test]
    fn a_key_replays_within_its_retention_and_is_forgotten_after() {
        let mut books = Books {
            answers: Answers::default(),
            acted: 0,
        };
        call(&mut books, "a", 0);
        call(&mut books, "b", 500);
        call(&mut books, "a", 999);
        assert_eq!(books.acted, 2, "a replayed");
        // At 1 000 ms, a (stored at 0) is forgotten, b is not.
        call(&mut books, "a", 1_000);
        assert_eq!(books.acted, 3, "a acted again");
        assert!(books.answers.by_key.contains_key("b"));
        assert_eq!(books.answers.by_key.len(), books.answers.by_age.len());
        // Saved as the map by key, read back with the ages in order.
        let json = serde_json::to_value(&books.answers).unwrap();
        assert!(json.get("a").is_some() && json.get("b").is_some());
        let mut back = Books {
            answers: serde_json::from_value(json).unwrap(),
            acted: 10,
        };
        call(&mut back, "b", 1_499);
        assert_eq!(back.acted, 10, "b replayed after the reload");
        call(&mut back, "b", 1_500);
        assert_eq!(back.acted, 11, "b forgotten at its retention");
        assert!(
            back.answers.by_key.contains_key("a"),
            "a, stored again at 1 000 ms, is kept"
        );
    }
}
