//! Who may see an order. Every order has one owner: the caller that
//! authorized it, or the name callers configured to share one (a checkout
//! service that charges and a support tool that refunds). A caller sees the
//! orders of its owner, or every order with the `orders:all` scope. The one
//! check is in the store's queries (`Visibility` narrows each read and
//! lock); an order another owner holds is `NOT_FOUND`, so whether it exists
//! does not leak.

/// Which orders a caller may see and act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every order: operators, reconciliation, webhooks, and callers with
    /// the `orders:all` scope.
    All,
    /// The orders of this owner.
    Owner(String),
}

impl Visibility {
    /// The owner to filter by; `None` for every order.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Visibility::All => None,
            Visibility::Owner(owner) => Some(owner),
        }
    }

    pub fn allows(&self, owner: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Owner(mine) => mine == owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_sees_its_own_orders_and_all_sees_every_one() {
        let checkout = Visibility::Owner("shop".into());
        assert!(checkout.allows("shop"));
        assert!(!checkout.allows("other-shop"));
        assert!(!checkout.allows(""));
        assert!(Visibility::All.allows("anything"));
        assert_eq!(checkout.owner(), Some("shop"));
        assert_eq!(Visibility::All.owner(), None);
    }
}
