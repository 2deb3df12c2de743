//! A postal address, as the shopper gives it.

use serde::{Deserialize, Serialize};

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: String,
    pub line2: String,
    /// City or ward.
    pub city: String,
    /// Prefecture or state.
    pub state: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}
