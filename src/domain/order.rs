//! The order state machine. The status a caller sees is derived from a few
//! stored facts (authorization state, amounts, why the rest was released,
//! unsettled calls), so it cannot drift from the amounts.

use chrono::{DateTime, Utc};

/// Where an order stands, as the contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    RequiresAction,
    Authorized,
    PartiallyCaptured,
    Captured,
    Voided,
    Expired,
    Declined,
    Pending,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::RequiresAction,
        OrderStatus::Authorized,
        OrderStatus::PartiallyCaptured,
        OrderStatus::Captured,
        OrderStatus::Voided,
        OrderStatus::Expired,
        OrderStatus::Declined,
        OrderStatus::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::RequiresAction => "requires_action",
            OrderStatus::Authorized => "authorized",
            OrderStatus::PartiallyCaptured => "partially_captured",
            OrderStatus::Captured => "captured",
            OrderStatus::Voided => "voided",
            OrderStatus::Expired => "expired",
            OrderStatus::Declined => "declined",
            OrderStatus::Pending => "pending",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// The authorization itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthState {
    /// The provider's answer is not known yet.
    Pending,
    /// Waiting for the shopper or the shop's front end.
    RequiresAction,
    Authorized,
    Declined,
}

impl AuthState {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Pending => "pending",
            AuthState::RequiresAction => "requires_action",
            AuthState::Authorized => "authorized",
            AuthState::Declined => "declined",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            AuthState::Pending,
            AuthState::RequiresAction,
            AuthState::Authorized,
            AuthState::Declined,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// Why nothing more can be captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Release {
    /// A capture marked final released the rest.
    FinalCapture,
    /// Void released it.
    Void,
    /// The authorization deadline passed.
    Expiry,
}

impl Release {
    pub fn as_str(self) -> &'static str {
        match self {
            Release::FinalCapture => "final_capture",
            Release::Void => "void",
            Release::Expiry => "expiry",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Release::FinalCapture, Release::Void, Release::Expiry]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

/// The facts about an order that its rules depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub auth: AuthState,
    pub release: Option<Release>,
    /// Requested at Authorize.
    pub amount: i64,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    /// Reserved by captures sent to the provider and not settled yet.
    pub pending_capture: i64,
    /// Reserved by refunds sent to the provider and not settled yet.
    pub pending_refund: i64,
    pub captures_succeeded: i32,
    pub captures_pending: i32,
    pub void_pending: bool,
    /// Provider calls whose outcome is unknown (timeout, crash).
    pub unsettled: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

impl OrderState {
    /// A new order whose authorization has not been answered yet.
    pub fn new(amount: i64) -> Self {
        Self {
            auth: AuthState::Pending,
            release: None,
            amount,
            authorized: 0,
            captured: 0,
            refunded: 0,
            pending_capture: 0,
            pending_refund: 0,
            captures_succeeded: 0,
            captures_pending: 0,
            void_pending: false,
            unsettled: 0,
            expires_at: None,
        }
    }

    pub fn status(&self) -> OrderStatus {
        if self.unsettled > 0 {
            return OrderStatus::Pending;
        }
        let released_untouched = |release: Option<Release>, otherwise: OrderStatus| match release {
            None => otherwise,
            Some(Release::Void) | Some(Release::FinalCapture) => OrderStatus::Voided,
            Some(Release::Expiry) => OrderStatus::Expired,
        };
        match self.auth {
            AuthState::Pending => OrderStatus::Pending,
            AuthState::Declined => OrderStatus::Declined,
            AuthState::RequiresAction => {
                released_untouched(self.release, OrderStatus::RequiresAction)
            }
            AuthState::Authorized if self.captured == 0 => {
                released_untouched(self.release, OrderStatus::Authorized)
            }
            AuthState::Authorized => {
                if self.release.is_some() || self.captured >= self.authorized {
                    OrderStatus::Captured
                } else {
                    OrderStatus::PartiallyCaptured
                }
            }
        }
    }

    /// What a new capture could still take now.
    pub fn capturable(&self) -> i64 {
        match (self.auth, self.release) {
            (AuthState::Authorized, None) => {
                (self.authorized - self.captured - self.pending_capture).max(0)
            }
            (AuthState::Authorized, Some(_))
            | (AuthState::Pending, _)
            | (AuthState::RequiresAction, _)
            | (AuthState::Declined, _) => 0,
        }
    }

    /// What a new refund could still return now.
    pub fn refundable(&self) -> i64 {
        (self.captured - self.refunded - self.pending_refund).max(0)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|deadline| now >= deadline)
    }

    /// The money invariants the database also enforces.
    pub fn invariants_hold(&self) -> bool {
        let non_negative = [
            self.authorized,
            self.captured,
            self.refunded,
            self.pending_capture,
            self.pending_refund,
        ]
        .iter()
        .all(|v| *v >= 0)
            && self.captures_succeeded >= 0
            && self.captures_pending >= 0
            && self.unsettled >= 0;
        non_negative
            && self.captured + self.pending_capture <= self.authorized
            && self.refunded + self.pending_refund <= self.captured
    }

    // Transitions. Each returns the next state; callers persist it.

    pub fn authorized(mut self, amount: i64, expires_at: Option<DateTime<Utc>>) -> Self {
        self.auth = AuthState::Authorized;
        self.authorized = amount;
        self.expires_at = expires_at;
        self
    }

    pub fn requires_action(mut self) -> Self {
        self.auth = AuthState::RequiresAction;
        self
    }

    pub fn declined(mut self) -> Self {
        self.auth = AuthState::Declined;
        self
    }

    pub fn capture_reserved(mut self, amount: i64) -> Self {
        self.pending_capture += amount;
        self.captures_pending += 1;
        self
    }

    pub fn capture_succeeded(mut self, amount: i64, releases_rest: bool) -> Self {
        self.pending_capture -= amount;
        self.captures_pending -= 1;
        self.captured += amount;
        self.captures_succeeded += 1;
        if releases_rest && self.release.is_none() && self.captured < self.authorized {
            self.release = Some(Release::FinalCapture);
        }
        self
    }

    /// A capture settles what the provider says it captured, which may be
    /// less than was reserved (the rest of the reservation is released).
    pub fn capture_settled(self, reserved: i64, captured: i64, releases_rest: bool) -> Self {
        let captured = captured.clamp(0, reserved);
        let mut state = self.capture_succeeded(captured, releases_rest);
        state.pending_capture -= reserved - captured;
        state
    }

    pub fn capture_failed(mut self, amount: i64) -> Self {
        self.pending_capture -= amount;
        self.captures_pending -= 1;
        self
    }

    pub fn refund_reserved(mut self, amount: i64) -> Self {
        self.pending_refund += amount;
        self
    }

    pub fn refund_settled(mut self, reserved: i64, refunded: i64) -> Self {
        self.pending_refund -= reserved;
        self.refunded += refunded;
        self
    }

    pub fn void_requested(mut self) -> Self {
        self.void_pending = true;
        self
    }

    pub fn voided(mut self) -> Self {
        self.void_pending = false;
        if self.release.is_none() {
            self.release = Some(Release::Void);
        }
        self
    }

    /// The rest was released by kessai itself after a final partial capture.
    pub fn remainder_released(mut self) -> Self {
        self.void_pending = false;
        if self.release.is_none() {
            self.release = Some(Release::FinalCapture);
        }
        self
    }

    pub fn void_failed(mut self) -> Self {
        self.void_pending = false;
        self
    }

    pub fn expired(mut self) -> Self {
        if self.release.is_none() {
            self.release = Some(Release::Expiry);
        }
        self
    }

    pub fn outcome_unknown(mut self) -> Self {
        self.unsettled += 1;
        self
    }

    pub fn outcome_settled(mut self) -> Self {
        self.unsettled = (self.unsettled - 1).max(0);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorized(amount: i64) -> OrderState {
        OrderState::new(amount).authorized(amount, None)
    }

    #[test]
    fn a_new_order_is_pending_until_the_provider_answers() {
        assert_eq!(OrderState::new(1000).status(), OrderStatus::Pending);
        assert_eq!(
            OrderState::new(1000).requires_action().status(),
            OrderStatus::RequiresAction
        );
        assert_eq!(
            OrderState::new(1000).declined().status(),
            OrderStatus::Declined
        );
        assert_eq!(authorized(1000).status(), OrderStatus::Authorized);
    }

    #[test]
    fn captures_move_the_status_through_partial_to_captured() {
        let order = authorized(10_000).capture_reserved(3_000);
        assert_eq!(order.status(), OrderStatus::Authorized);
        assert_eq!(order.capturable(), 7_000);
        let order = order.capture_succeeded(3_000, false);
        assert_eq!(order.status(), OrderStatus::PartiallyCaptured);
        assert_eq!(order.capturable(), 7_000);
        let order = order
            .capture_reserved(7_000)
            .capture_succeeded(7_000, false);
        assert_eq!(order.status(), OrderStatus::Captured);
        assert_eq!(order.capturable(), 0);
        assert!(order.invariants_hold());
    }

    #[test]
    fn a_final_partial_capture_releases_the_rest() {
        let order = authorized(10_000)
            .capture_reserved(3_000)
            .capture_succeeded(3_000, true);
        assert_eq!(order.status(), OrderStatus::Captured);
        assert_eq!(order.release, Some(Release::FinalCapture));
        assert_eq!(order.capturable(), 0);
    }

    #[test]
    fn a_failed_capture_gives_the_reservation_back() {
        let order = authorized(10_000)
            .capture_reserved(4_000)
            .capture_failed(4_000);
        assert_eq!(order, authorized(10_000));
    }

    #[test]
    fn void_and_expiry_of_an_untouched_order() {
        assert_eq!(
            authorized(1000).void_requested().voided().status(),
            OrderStatus::Voided
        );
        assert_eq!(authorized(1000).expired().status(), OrderStatus::Expired);
        assert_eq!(
            OrderState::new(1000).requires_action().expired().status(),
            OrderStatus::Expired
        );
    }

    #[test]
    fn void_or_expiry_of_a_partly_captured_order_leaves_it_captured() {
        let partly = authorized(10_000)
            .capture_reserved(3_000)
            .capture_succeeded(3_000, false);
        assert_eq!(
            partly.clone().void_requested().voided().status(),
            OrderStatus::Captured
        );
        assert_eq!(partly.expired().status(), OrderStatus::Captured);
    }

    #[test]
    fn refunds_never_change_the_status() {
        let captured = authorized(1000)
            .capture_reserved(1000)
            .capture_succeeded(1000, true);
        let refunded = captured
            .clone()
            .refund_reserved(1000)
            .refund_settled(1000, 1000);
        assert_eq!(refunded.status(), captured.status());
        assert_eq!(refunded.refundable(), 0);
        assert!(refunded.invariants_hold());
    }

    #[test]
    fn an_unknown_outcome_shows_as_pending_until_settled() {
        let order = authorized(1000).capture_reserved(1000).outcome_unknown();
        assert_eq!(order.status(), OrderStatus::Pending);
        let settled = order.outcome_settled().capture_succeeded(1000, true);
        assert_eq!(settled.status(), OrderStatus::Captured);
    }

    #[test]
    fn the_invariants_catch_over_capture_and_over_refund() {
        let mut order = authorized(1000);
        order.captured = 1001;
        assert!(!order.invariants_hold());
        let mut order = authorized(1000)
            .capture_reserved(500)
            .capture_succeeded(500, false);
        order.refunded = 501;
        assert!(!order.invariants_hold());
    }

    #[test]
    fn expiry_is_at_or_after_the_deadline() {
        let deadline = Utc::now();
        let order = OrderState::new(1).authorized(1, Some(deadline));
        assert!(!order.is_expired(deadline - chrono::Duration::seconds(1)));
        assert!(order.is_expired(deadline));
    }

    #[test]
    fn stored_names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        for r in [Release::FinalCapture, Release::Void, Release::Expiry] {
            assert_eq!(Release::parse(r.as_str()), Some(r));
        }
    }
}

#[cfg(test)]
mod capture_settled_tests {
    use super::*;

    #[test]
    fn a_capture_settles_what_the_provider_captured_and_releases_the_rest_of_its_reservation() {
        let state = OrderState::new(10_000)
            .authorized(10_000, None)
            .capture_reserved(4_000)
            .capture_settled(4_000, 3_000, false);
        assert_eq!((state.captured, state.pending_capture), (3_000, 0));
        assert_eq!(state.capturable(), 7_000);
        let whole = OrderState::new(10_000)
            .authorized(10_000, None)
            .capture_reserved(4_000)
            .capture_settled(4_000, 4_000, false);
        assert_eq!((whole.captured, whole.pending_capture), (4_000, 0));
    }
}
