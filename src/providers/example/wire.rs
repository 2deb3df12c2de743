//! The example provider's JSON, as kessai reads and writes it. Amounts are
//! integers in yen; timestamps RFC 3339.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::providers::{Plausible, plausible_amount};

pub const CHARGES: &str = "/v1/charges";
pub const REFUNDS: &str = "/v1/refunds";

#[derive(Debug, Serialize)]
pub struct CreateCharge<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub card_token: &'a str,
    /// Always false: kessai captures in its own calls.
    pub capture: bool,
    pub reference: &'a str,
}

#[derive(Debug, Serialize)]
pub struct CreateCapture {
    pub amount: i64,
    /// Release whatever this capture leaves.
    #[serde(rename = "final")]
    pub final_capture: bool,
}

#[derive(Debug, Serialize)]
pub struct CreateRefund<'a> {
    pub charge: &'a str,
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

/// A charge's status. A value this adapter does not know reads as
/// `Unknown`, which is treated as still in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    Authorized,
    PartiallyCaptured,
    Captured,
    Voided,
    Expired,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub status: ChargeStatus,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_capturable: i64,
    #[serde(default)]
    pub livemode: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Plausible for Charge {
    fn plausible(&self) -> bool {
        [self.amount, self.amount_captured, self.amount_capturable]
            .into_iter()
            .all(plausible_amount)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Capture {
    pub id: String,
    pub amount: i64,
}

impl Plausible for Capture {
    fn plausible(&self) -> bool {
        plausible_amount(self.amount)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
}

impl Plausible for Refund {
    fn plausible(&self) -> bool {
        plausible_amount(self.amount)
    }
}

/// Every error: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}
