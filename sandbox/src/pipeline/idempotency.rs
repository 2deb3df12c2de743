//! `Idempotency-Key` replay, as PAY.JP and Smartpay keep it: the answer to
//! the first request under a key is kept, and a retry of the same request
//! gets it again, byte for byte, without acting; another request under the
//! same key is a conflict. Each provider decides which requests carry a
//! key, how long keys live and which answers are kept.
//!
//! The store lives inside the books, behind their one lock, so a lookup and
//! the action it guards are atomic: no request can slip in between, and
//! there is never an "in flight" key to report.

use std::collections::HashMap;

use axum::http::Method;
use chrono::Duration;
use serde::{Deserialize, Serialize};
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

/// The answers kept by key; saved with the books, so a retry after a
/// restart still replays.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Answers(HashMap<String, Stored>);

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
    let answers = &mut books.answers().0;
    answers.retain(|_, stored| now_ms - stored.at_ms < retention);
    if let Some(stored) = answers.get(&key) {
        return if stored.fingerprint == fingerprint {
            stored.reply.clone()
        } else {
            conflict()
        };
    }
    let reply = act(books);
    if B::keeps(&reply) {
        books.answers().0.insert(
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
