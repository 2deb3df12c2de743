//! Views of orders read before, kept by order id with the version of the
//! order's row they were read at, so that a read which finds the same
//! versions in the database answers without reading the rows again.
//!
//! Every read still asks the database: first for the ids and versions of
//! the orders it answers with (a narrow statement, one index and a few
//! bytes a row), then, if any of them is not kept at that version, for the
//! whole views as before. So a cached answer is never older than the
//! database. What makes the version enough is that an order's captures
//! and refunds change only in a transaction that writes the order's next
//! version: `Tx::commit` refuses one that does not (`RecordsWritten`), and
//! every write of the row bumps the version (`Tx::save_order`). A write
//! made outside kessai must do the same (operators repair through
//! `kessai reconcile` and `kessai orders`, which go through `Tx`).
//!
//! What the narrow read saves: on PostgreSQL a page of 50 wide rows joined
//! to their records, sent and decoded; the measurements are in
//! BENCHMARKS.md.

use std::collections::HashSet;
use std::sync::Arc;

use crate::domain::{OrderId, OrderView};

/// Views kept unless configured (`KESSAI_ORDER_VIEW_CACHE`).
pub const DEFAULT_VIEW_CACHE_ENTRIES: usize = 4096;

/// An order's id and the version of its row, as a narrow read finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub id: String,
    pub version: i64,
}

/// The views kept, at most a configured number (least used go first).
pub(super) struct ViewCache {
    views: quick_cache::sync::Cache<String, Arc<OrderView>>,
}

impl ViewCache {
    /// A cache of `entries` views; none at all for 0.
    pub(super) fn new(entries: usize) -> Option<Self> {
        (entries > 0).then(|| Self {
            views: quick_cache::sync::Cache::new(entries),
        })
    }

    /// Whether a view of order `id` is kept, at any version.
    pub(super) fn holds(&self, id: &OrderId) -> bool {
        self.views.peek(id.as_str()).is_some()
    }

    /// The view kept for `stamp`, if it was read at that version.
    pub(super) fn view(&self, stamp: &Stamp) -> Option<OrderView> {
        let kept = self.views.get(stamp.id.as_str())?;
        (kept.order.version == stamp.version).then(|| OrderView::clone(&kept))
    }

    /// The views of every stamp, in their order, or `None` if any one is
    /// not kept at its version.
    pub(super) fn page(&self, stamps: &[Stamp]) -> Option<Vec<OrderView>> {
        stamps.iter().map(|stamp| self.view(stamp)).collect()
    }

    /// Keeps views just read. A view older than the one kept may replace it
    /// (two reads racing): the next read then finds the newer version and
    /// reads again, never the older view.
    pub(super) fn keep(&self, views: &[OrderView]) {
        for view in views {
            self.views
                .insert(view.order.id.to_string(), Arc::new(view.clone()));
        }
    }
}

/// The orders a transaction wrote and the orders whose captures or refunds
/// it wrote: each of the latter must be among the former (see the module's
/// comment), or the cache could answer with records older than the
/// database's.
#[derive(Debug, Default)]
pub(super) struct RecordsWritten {
    orders: HashSet<OrderId>,
    records_of: HashSet<OrderId>,
}

impl RecordsWritten {
    pub(super) fn order(&mut self, id: &OrderId) {
        self.orders.insert(id.clone());
    }

    pub(super) fn record_of(&mut self, id: &OrderId) {
        self.records_of.insert(id.clone());
    }

    /// An order whose records were written without a new version of it.
    pub(super) fn unversioned(&self) -> Option<&OrderId> {
        self.records_of.difference(&self.orders).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OrderRecord, OrderState, ProviderKind};

    fn view(id: &str, version: i64) -> OrderView {
        let mut order = OrderRecord::for_tests(id, ProviderKind::Payjp, OrderState::new(10_000));
        order.version = version;
        OrderView {
            order,
            captures: Vec::new(),
            refunds: Vec::new(),
        }
    }

    fn stamp(id: &str, version: i64) -> Stamp {
        Stamp {
            id: id.into(),
            version,
        }
    }

    #[test]
    fn a_view_is_answered_only_at_the_version_it_was_read_at() {
        let cache = ViewCache::new(16).unwrap();
        let read = view("ord_a", 3);
        cache.keep(std::slice::from_ref(&read));
        assert_eq!(cache.view(&stamp("ord_a", 3)), Some(read));
        assert_eq!(cache.view(&stamp("ord_a", 4)), None, "a newer row");
        assert_eq!(cache.view(&stamp("ord_a", 2)), None);
        assert_eq!(cache.view(&stamp("ord_b", 3)), None, "never read");
        assert!(cache.holds(&OrderId::from_trusted("ord_a".into())));
        assert!(!cache.holds(&OrderId::from_trusted("ord_b".into())));
    }

    #[test]
    fn a_page_is_answered_whole_or_not_at_all() {
        let cache = ViewCache::new(16).unwrap();
        cache.keep(&[view("ord_a", 1), view("ord_b", 1)]);
        let both = cache.page(&[stamp("ord_b", 1), stamp("ord_a", 1)]).unwrap();
        let ids: Vec<_> = both.iter().map(|v| v.order.id.as_str()).collect();
        assert_eq!(ids, ["ord_b", "ord_a"], "in the stamps' order");
        assert!(
            cache
                .page(&[stamp("ord_a", 1), stamp("ord_b", 2)])
                .is_none()
        );
        assert!(
            cache
                .page(&[stamp("ord_a", 1), stamp("ord_c", 1)])
                .is_none()
        );
        assert_eq!(cache.page(&[]), Some(Vec::new()));
    }

    #[test]
    fn no_cache_at_zero_entries_and_at_most_the_entries_kept() {
        assert!(ViewCache::new(0).is_none());
        let cache = ViewCache::new(10).unwrap();
        let views: Vec<_> = (0..100).map(|i| view(&format!("ord_{i:03}"), 1)).collect();
        cache.keep(&views);
        let kept = (0..100)
            .filter(|i| cache.view(&stamp(&format!("ord_{i:03}"), 1)).is_some())
            .count();
        assert!((1..=10).contains(&kept), "{kept} kept");
    }

    #[test]
    fn records_without_their_order_are_found() {
        let (a, b) = (
            OrderId::from_trusted("ord_a".into()),
            OrderId::from_trusted("ord_b".into()),
        );
        let mut written = RecordsWritten::default();
        written.order(&a);
        written.record_of(&a);
        assert_eq!(written.unversioned(), None);
        written.record_of(&b);
        assert_eq!(written.unversioned(), Some(&b));
        written.order(&b);
        assert_eq!(written.unversioned(), None);
    }
}
