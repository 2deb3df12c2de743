//! ListOrders page tokens: where the next page starts, bound to the filters
//! of the listing, and authenticated with a server key (an HMAC derived from
//! the fingerprint key, the same on every replica). A caller can neither
//! forge a cursor nor carry one over to another query; either is
//! `INVALID_PAGE_TOKEN`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::{InvalidInput, Reason};

/// Separates this use of the key from request fingerprints.
const PURPOSE: &[u8] = b"kessai list-orders page token v1\0";

/// Bytes of the MAC kept in the token: 128 bits.
const MAC_BYTES: usize = 16;

#[derive(Serialize, Deserialize)]
struct Cursor {
    before: String,
    filters: String,
}

fn mac(key: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(PURPOSE);
    mac.update(payload);
    mac
}

/// The token for the page after order `before` of the listing whose
/// filters digest to `filters`.
pub fn seal(key: &[u8], before: String, filters: String) -> String {
    let payload = serde_json::to_vec(&Cursor { before, filters }).unwrap_or_default();
    let tag = mac(key, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
    )
}

/// The order a token's page starts after, if the token is one of ours for
/// a listing with the same filters.
pub fn open(key: &[u8], token: &str, filters: &str) -> Result<String, InvalidInput> {
    let invalid = || {
        InvalidInput::new(
            Reason::InvalidPageToken,
            "page_token",
            "is not a token from a previous page of this listing with the same filters",
        )
    };
    let (payload, tag) = token.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    mac(key, &payload)
        .verify_truncated_left(&tag)
        .map_err(|_| invalid())?;
    if tag.len() != MAC_BYTES {
        return Err(invalid());
    }
    let cursor: Cursor = serde_json::from_slice(&payload).map_err(|_| invalid())?;
    if cursor.filters != filters {
        return Err(invalid());
    }
    Ok(cursor.before)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"a key of at least sixteen bytes";

    #[test]
    fn a_sealed_token_opens_for_its_own_listing_only() {
        let token = seal(KEY, "ord_b".into(), "f1".into());
        assert_eq!(open(KEY, &token, "f1").unwrap(), "ord_b");
        assert!(open(KEY, &token, "f2").is_err(), "other filters");
        assert!(
            open(b"another key entirely, sixteen+", &token, "f1").is_err(),
            "other key"
        );
    }

    #[test]
    fn a_forged_or_altered_token_is_refused() {
        let token = seal(KEY, "ord_b".into(), "f1".into());
        let (_, tag) = token.split_once('.').unwrap();
        let forged_payload = serde_json::to_vec(&Cursor {
            before: "ord_z".into(),
            filters: "f1".into(),
        })
        .unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged_payload));
        assert!(open(KEY, &forged, "f1").is_err());
        let unsigned = token.split_once('.').unwrap().0.to_owned();
        assert!(open(KEY, &unsigned, "f1").is_err());
        let short_tag = format!("{}.{}", unsigned, &tag[..4]);
        assert!(open(KEY, &short_tag, "f1").is_err());
        for garbage in ["", ".", "not-a-token", "a.b.c"] {
            assert!(open(KEY, garbage, "f1").is_err(), "{garbage}");
        }
    }
}
