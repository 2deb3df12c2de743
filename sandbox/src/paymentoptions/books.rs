//! The simulated merchant account's books: authorizations (PRE_AUTH or
//! SALE) and every gateway transaction that stems from them.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cards::{card_scheme, mask_pan};
use super::errors::ApiError;
use super::{FIRST_REF, LedgerAuthorization, PaymentOptionsLedger, RC_APPROVED};
use crate::book::{Book, Groups};

/// Everything behind one mutex, so a check and the action it guards (one
/// capture only, refunds up to what is left) cannot interleave. Saved whole
/// in the state file (cards only masked, see [`Card`]), but for the outbox,
/// which is empty between requests.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Books {
    pub(super) authorizations: Vec<Authorization>,
    pub(super) transactions: Book<Transaction>,
    pub(super) last_ref: i64,
    /// Authorizations by the merchant's reference, and each one's
    /// transactions (for the sandbox's lookup by reference).
    #[serde(skip)]
    by_ref: Groups,
    #[serde(skip)]
    by_authorization: HashMap<usize, Vec<usize>>,
    /// Transactions to notify, sent once the books are unlocked.
    #[serde(skip)]
    pub(super) outbox: Vec<usize>,
}

impl crate::state::Saved for Books {
    fn loaded(&mut self) {
        self.by_ref = Groups::default();
        for (position, auth) in self.authorizations.iter().enumerate() {
            self.by_ref.add(&auth.merchant_txn_ref, position);
        }
        self.by_authorization = HashMap::new();
        for (position, txn) in self.transactions.iter().enumerate() {
            self.by_authorization
                .entry(txn.authorization)
                .or_default()
                .push(position);
        }
    }

    /// Every transaction stems from an authorization the books hold, and the
    /// gateway's reference counter is past every reference handed out.
    fn consistent(&self) -> bool {
        self.transactions
            .iter()
            .all(|t| t.authorization < self.authorizations.len() && t.reference <= self.last_ref)
    }
}

/// Per-request context the operations need besides the books.
pub(super) struct Env<'a> {
    pub(super) now: DateTime<Utc>,
    pub(super) merchant_id: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    PreAuth,
    Sale,
    Capture,
    Refund,
    Void,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::PreAuth => "PRE_AUTH",
            // GUESS: no source shows a sale's answer; "SALE" mirrors PRE_AUTH.
            Self::Sale => "SALE",
            Self::Capture => "CAPTURE",
            Self::Refund => "REFUND",
            Self::Void => "VOID",
        }
    }

    /// `gateway_response` `(code, message)` of a successful POST; the
    /// messages are the Japanese docs' own.
    pub(super) fn success(self) -> (&'static str, &'static str) {
        match self {
            // GUESS: a sale answers like a pre-auth.
            Self::PreAuth | Self::Sale => ("INFO0000", "Payment Successful."),
            Self::Capture => ("INFO0001", "金額が正常にキャプチャされました。"),
            Self::Refund => ("INFO0002", "金額が正常に払い戻されました。"),
            Self::Void => ("INFO0003", "承認が正常にキャンセルされました。"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AuthState {
    Authorized,
    Captured,
    Voided,
    Declined,
}

impl AuthState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::Voided => "voided",
            Self::Declined => "declined",
        }
    }
}

/// A card number that never shows itself in `Debug` output, so a stray
/// `{:?}` cannot leak it into a log. A card read back from the state file
/// holds only the masked number (first six, last four), and echoes that.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Pan(pub(super) String);

impl Pan {
    /// The number as the answers echo it: whole while the process that
    /// took it runs, masked after a restart.
    pub(super) fn full(&self) -> &str {
        &self.0
    }

    pub(super) fn masked(&self) -> String {
        mask_pan(&self.0)
    }

    pub(super) fn last4(&self) -> &str {
        self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("")
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(into = "SavedCard")]
pub(super) struct Card {
    pub(super) pan: Pan,
    pub(super) name: String,
    /// As sent, since the answers echo them as strings ("12", "24").
    pub(super) exp_month: String,
    pub(super) exp_year: String,
    pub(super) payment_method: &'static str,
    pub(super) scheme: &'static str,
}

/// A card as the state file keeps it: never the whole number. The scheme is
/// read again from the first six digits.
#[derive(Serialize, Deserialize)]
struct SavedCard {
    masked_number: String,
    name: String,
    exp_month: String,
    exp_year: String,
}

impl From<Card> for SavedCard {
    fn from(card: Card) -> Self {
        Self {
            masked_number: card.pan.masked(),
            name: card.name,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
        }
    }
}

// By hand: derived, the `&'static str` fields would tie it to `'static` input.
impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SavedCard::deserialize(deserializer).map(Card::from)
    }
}

impl From<SavedCard> for Card {
    fn from(saved: SavedCard) -> Self {
        let (payment_method, scheme) = card_scheme(&saved.masked_number);
        Self {
            pan: Pan(saved.masked_number),
            name: saved.name,
            exp_month: saved.exp_month,
            exp_year: saved.exp_year,
            payment_method,
            scheme,
        }
    }
}

/// One PRE_AUTH or SALE and what happened to its money since.
#[derive(Serialize, Deserialize)]
pub(super) struct Authorization {
    pub(super) id: String,
    pub(super) merchant_txn_ref: String,
    pub(super) state: AuthState,
    pub(super) authorized: i64,
    pub(super) captured: i64,
    pub(super) refunded: i64,
    pub(super) capture_id: Option<String>,
    pub(super) card: Card,
    pub(super) auth_code: String,
    pub(super) customer_ip: Option<String>,
    pub(super) billing_address: Value,
    pub(super) shipping_address: Value,
    /// `return_url.webhook_url`: where its transactions are notified.
    pub(super) webhook_url: Option<String>,
}

/// One gateway transaction: every answer the status endpoint can give.
#[derive(Serialize, Deserialize)]
pub(super) struct Transaction {
    pub(super) id: String,
    pub(super) reference: i64,
    pub(super) kind: Kind,
    pub(super) amount: i64,
    pub(super) at: DateTime<Utc>,
    /// Index into `Books::authorizations`: every transaction stems from one.
    pub(super) authorization: usize,
    /// The acquirer's code; non-zero only on a declined PRE_AUTH or SALE.
    pub(super) response_code: i64,
}

impl Transaction {
    pub(super) fn approved(&self) -> bool {
        self.response_code == RC_APPROVED
    }
}

impl Authorization {
    pub(super) fn ledger(&self) -> LedgerAuthorization {
        LedgerAuthorization {
            id: self.id.clone(),
            merchant_txn_ref: self.merchant_txn_ref.clone(),
            status: self.state.as_str().to_owned(),
            authorized: self.authorized,
            captured: self.captured,
            refunded: self.refunded,
            capture_id: self.capture_id.clone(),
            card_last4: self.card.pan.last4().to_owned(),
        }
    }
}

impl Books {
    pub(super) fn ledger(&self) -> PaymentOptionsLedger {
        PaymentOptionsLedger {
            authorizations: self
                .authorizations
                .iter()
                .map(Authorization::ledger)
                .collect(),
        }
    }

    pub(super) fn find(&self, id: &str) -> Result<usize, ApiError> {
        self.transactions
            .position(id)
            .ok_or_else(|| ApiError::not_found(id))
    }

    /// The ids of the transactions of every authorization made with
    /// `merchant_txn_ref`, oldest first.
    pub(super) fn ids_for_ref(&self, merchant_txn_ref: &str) -> Vec<String> {
        let mut positions: Vec<usize> = self
            .by_ref
            .of(merchant_txn_ref)
            .iter()
            .filter_map(|auth| self.by_authorization.get(auth))
            .flatten()
            .copied()
            .collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .filter_map(|p| self.transactions.get(p))
            .map(|t| t.id.clone())
            .collect()
    }

    pub(super) fn add_authorization(&mut self, auth: Authorization) {
        self.by_ref
            .add(&auth.merchant_txn_ref, self.authorizations.len());
        self.authorizations.push(auth);
    }

    /// Records a new transaction and returns its index.
    pub(super) fn record(
        &mut self,
        kind: Kind,
        amount: i64,
        authorization: usize,
        env: &Env<'_>,
    ) -> usize {
        self.record_with_code(kind, amount, authorization, RC_APPROVED, env)
    }

    pub(super) fn record_with_code(
        &mut self,
        kind: Kind,
        amount: i64,
        authorization: usize,
        response_code: i64,
        env: &Env<'_>,
    ) -> usize {
        self.last_ref = self.last_ref.max(FIRST_REF - 1) + 1;
        let position = self.transactions.push(Transaction {
            id: uuid_v4(),
            reference: self.last_ref,
            kind,
            amount,
            at: env.now,
            authorization,
            response_code,
        });
        self.by_authorization
            .entry(authorization)
            .or_default()
            .push(position);
        self.outbox.push(position);
        position
    }
}

/// A random (version 4, RFC 4122 variant) UUID, lower-case and hyphenated.
pub(super) fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

crate::book::records_by_id!(Transaction);
