//! PaymentOptions (DASGATEWAY) wire types (seed 001, providers.md, the
//! manual). The envelope is parsed tolerantly: numbers may come as strings,
//! any part may be missing, and an undocumented failure body still parses.
//!
//! The provider echoes the full card number in its answers: it is masked
//! while parsing ([`MaskedPan`]), so the whole number is never held in a
//! parsed value, never logged and never stored.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Serialize)]
pub struct Card<'a> {
    pub number: &'a str,
    pub cvc: &'a str,
    /// Two digits, as the docs' example sends them.
    pub expiry_month: String,
    /// Two digits (`"24"` in the docs' example).
    pub expiry_year: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
}

/// The card never reaches a log through this type's `Debug`.
impl std::fmt::Debug for Card<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Card([REDACTED])")
    }
}

#[derive(Debug, Serialize)]
pub struct BillingAddress<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub country: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub address1: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub address2: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub city: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub state: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub postal_code: &'a str,
}

/// `POST authorization` (pre-auth) and `POST payment` (sale).
#[derive(Debug, Serialize)]
pub struct Authorization<'a> {
    /// A string, as in the docs' example.
    pub amount: String,
    pub currency: &'static str,
    pub card: Card<'a>,
    pub merchant_txn_ref: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ip: Option<&'a str>,
    pub merchant_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<ReturnUrl<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<BillingAddress<'a>>,
}

/// Where PaymentOptions notifies. GUESS: `webhook_url` alone is accepted;
/// `success_url`/`decline_url` concern a shopper's browser, which this
/// server-to-server flow never involves.
#[derive(Debug, Serialize)]
pub struct ReturnUrl<'a> {
    pub webhook_url: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Capture<'a> {
    #[serde(rename = "transactionId")]
    pub transaction_id: &'a str,
    pub amount: i64,
    pub merchant_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// `POST refund` has the same shape as a capture: the transaction is the
/// CAPTURE's (or a SALE's), not the authorization's.
pub type Refund<'a> = Capture<'a>;

#[derive(Debug, Serialize)]
pub struct Void<'a> {
    #[serde(rename = "transactionId")]
    pub transaction_id: &'a str,
    pub merchant_id: &'a str,
}

/// A card number as the provider echoes it, kept as first six and last
/// four only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskedPan {
    pub bin: Option<String>,
    pub last4: Option<String>,
}

impl<'de> Deserialize<'de> for MaskedPan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        let chars: Vec<char> = raw.chars().collect();
        let digits = |range: &[char]| -> Option<String> {
            range
                .iter()
                .all(char::is_ascii_digit)
                .then(|| range.iter().collect())
        };
        // Already masked (`545454******5454`) or whole: only the ends are kept.
        Ok(if chars.len() >= 10 {
            MaskedPan {
                bin: digits(&chars[..6]),
                last4: digits(&chars[chars.len() - 4..]),
            }
        } else {
            MaskedPan::default()
        })
    }
}

/// A number that may arrive as a JSON number or a numeric string.
fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GatewayResponse {
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EchoedCard {
    #[serde(default)]
    pub number: MaskedPan,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaymentDetails {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub amount: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub response_code: Option<i64>,
    #[serde(
        default,
        rename = "responseDescription",
        deserialize_with = "lenient_string"
    )]
    pub response_description: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub scheme: Option<String>,
    #[serde(default)]
    pub card: Option<EchoedCard>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransactionDetails {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub merchant_txn_ref: Option<String>,
}

/// `merchant_details`: the authorization's reference (kessai's order id)
/// rides along on every later transaction of it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MerchantDetails {
    #[serde(default, deserialize_with = "lenient_string")]
    pub merchant_txn_ref: Option<String>,
}

/// Every answer, success or failure.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub is_live: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub transaction_type: Option<String>,
    #[serde(default)]
    pub gateway_response: Option<GatewayResponse>,
    #[serde(default)]
    pub payment_details: Option<PaymentDetails>,
    #[serde(default)]
    pub transaction_details: Option<TransactionDetails>,
    #[serde(default)]
    pub merchant_details: Option<MerchantDetails>,
    /// Undocumented failure bodies may carry only these.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub error: Option<String>,
}

impl Envelope {
    pub fn transaction_id(&self) -> Option<&str> {
        self.transaction_details.as_ref()?.id.as_deref()
    }

    /// The merchant reference the transaction belongs to.
    pub fn merchant_txn_ref(&self) -> Option<&str> {
        self.merchant_details
            .as_ref()
            .and_then(|m| m.merchant_txn_ref.as_deref())
            .or_else(|| {
                self.transaction_details
                    .as_ref()?
                    .merchant_txn_ref
                    .as_deref()
            })
    }

    pub fn response_code(&self) -> Option<i64> {
        self.payment_details.as_ref()?.response_code
    }

    /// The best explanation the body offers: `gateway_response.message`,
    /// then `message`, then `error`, then the acquirer's description.
    pub fn explanation(&self) -> Option<String> {
        self.gateway_response
            .as_ref()
            .and_then(|g| g.message.clone())
            .or_else(|| self.message.clone())
            .or_else(|| self.error.clone())
            .or_else(|| self.payment_details.as_ref()?.response_description.clone())
    }

    /// The last four digits of the card the provider says it charged.
    pub fn card_last4(&self) -> Option<&str> {
        self.payment_details
            .as_ref()?
            .card
            .as_ref()?
            .number
            .last4
            .as_deref()
    }

    pub fn gateway_code(&self) -> Option<&str> {
        self.gateway_response.as_ref()?.code.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/paymentoptions/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn every_envelope_fixture_parses() {
        for (name, kind, code) in [
            (
                "authorization.response.pre_auth.json",
                "PRE_AUTH",
                "INFO0000",
            ),
            ("capture.response.json", "CAPTURE", "INFO0001"),
            ("refund.response.json", "REFUND", "INFO0002"),
            ("void.response.json", "VOID", "INFO0003"),
            (
                "transaction_status.response.capture.json",
                "CAPTURE",
                "INFO0000",
            ),
            (
                "transaction_status.response.pre_auth.json",
                "PRE_AUTH",
                "INFO0000",
            ),
        ] {
            let envelope: Envelope = serde_json::from_str(&fixture(name)).unwrap();
            assert_eq!(envelope.transaction_type.as_deref(), Some(kind), "{name}");
            assert_eq!(envelope.gateway_code(), Some(code), "{name}");
            assert_eq!(envelope.transaction_id().map(str::len), Some(36), "{name}");
        }
    }

    #[test]
    fn the_echoed_card_number_is_masked_while_parsing() {
        let body = fixture("capture.response.json");
        assert!(
            body.contains("5200000000001005"),
            "the provider does echo the whole number"
        );
        let envelope: Envelope = serde_json::from_str(&body).unwrap();
        let card = envelope.payment_details.unwrap().card.unwrap();
        assert_eq!(
            card.number,
            MaskedPan {
                bin: Some("520000".into()),
                last4: Some("1005".into())
            }
        );
        let printed = format!("{:?}", card);
        assert!(!printed.contains("5200000000001005"), "{printed}");
    }

    #[test]
    fn an_already_masked_number_keeps_its_ends() {
        let envelope: Envelope =
            serde_json::from_str(&fixture("transaction_status.response.pre_auth.json")).unwrap();
        let card = envelope.payment_details.unwrap().card.unwrap();
        assert_eq!(card.number.bin.as_deref(), Some("545454"));
        assert_eq!(card.number.last4.as_deref(), Some("5454"));
    }

    #[test]
    fn the_decline_body_gives_its_response_code() {
        let envelope: Envelope =
            serde_json::from_str(&fixture("failure.INVENTED.declined_406.json")).unwrap();
        assert_eq!(envelope.success, Some(false));
        assert_eq!(envelope.response_code(), Some(5));
        assert_eq!(
            envelope.explanation().as_deref(),
            Some("Do not honour OR Declined")
        );
    }

    #[test]
    fn undocumented_failure_bodies_still_parse() {
        for body in [
            r#"{"message":"merchant suspended"}"#,
            r#"{"error":"bad gateway"}"#,
            "{}",
            r#"{"success":"maybe","status_code":"500"}"#,
        ] {
            let envelope: Envelope = serde_json::from_str(body).unwrap_or_default();
            let _ = envelope.explanation();
        }
        let envelope: Envelope = serde_json::from_str(r#"{"error":"bad gateway"}"#).unwrap();
        assert_eq!(envelope.explanation().as_deref(), Some("bad gateway"));
    }

    #[test]
    fn a_capture_request_matches_the_seed() {
        let ours = serde_json::to_value(Capture {
            transaction_id: "e0b0731e-7170-4b64-8a21-7d835eebd641",
            amount: 1000,
            merchant_id: "< Merchant ID >",
            notes: Some("Capturing authorised amount".into()),
        })
        .unwrap();
        let seed: serde_json::Value =
            serde_json::from_str(&fixture("capture.request.json")).unwrap();
        assert_eq!(ours, seed);
    }
}
