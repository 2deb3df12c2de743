//! Views of orders read before, kept by order id with the version of the
//! order's row they were read at, so that a read which finds the same
//! versions in the database answers without reading the rows again.
//!
//! Every read still asks the database: first for the ids and versions of
//! the orders it answers with (two columns a row), then, for those not
//! kept at that version, for the whole views, which it keeps. So no answer
//! is older than the database. What makes the version enough is that an
//! order's captures and refunds change only in a transaction that writes
//! the order's next version: `Tx::commit` refuses one that does not
//! (`RecordsWritten`), and every write of the row bumps the version
//! (`Tx::save_order`; the reconciler's lease, `next_sync_at`, is in no
//! view). A write made outside kessai must do the same.
//!
//! Asking for the versions first is a statement more where nothing is
//! kept, so only reads likely to find views ask: GetOrder of an order a
//! view is kept of, and a page read before whose last ask was not in vain
//! (`ViewCache::ask`).
//! BENCHMARKS.md has what a page costs each way.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use sea_orm::Statement;

use crate::domain::{OrderId, OrderView};

/// Views kept unless configured (`KESSAI_ORDER_VIEW_CACHE`).
pub const DEFAULT_VIEW_CACHE_ENTRIES: usize = 4096;

/// An order's id and the version of its row, as a narrow read finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub id: String,
    pub version: i64,
}

/// Pages whose statements are remembered as read before.
const PAGES_REMEMBERED: usize = 1024;

/// The views kept, at most a configured number (least used go first), and
/// which pages were read before.
pub(super) struct ViewCache {
    views: quick_cache::sync::Cache<String, Arc<OrderView>>,
    /// Whether to ask for a page's versions the next time it is read. A
    /// page asked for the first time is read whole at once: asking first
    /// would cost a statement more, for views most likely not kept (a
    /// console paging through, a filter tried once). A page read before
    /// (a list watched, its newest orders changing) asks, and reads whole
    /// only what changed; if it asked in vain (most of its views were
    /// changed or gone), its next read is whole at once again.
    pages: quick_cache::sync::Cache<u64, bool>,
}

/// A page, by its statement of ids and versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PageKey(u64);

impl ViewCache {
    /// A cache of `entries` views; none at all for 0.
    pub(super) fn new(entries: usize) -> Option<Self> {
        (entries > 0).then(|| Self {
            views: quick_cache::sync::Cache::new(entries),
            pages: quick_cache::sync::Cache::new(PAGES_REMEMBERED),
        })
    }

    /// The page of `versions` (its statement and values).
    pub(super) fn page_key(versions: &Statement) -> PageKey {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        versions.sql.hash(&mut hasher);
        format!("{:?}", versions.values).hash(&mut hasher);
        PageKey(hasher.finish())
    }

    /// Whether to ask for `page`'s versions before reading it.
    pub(super) fn ask(&self, page: PageKey) -> bool {
        self.pages.get(&page.0).unwrap_or(false)
    }

    /// Whether to ask for `page`'s versions the next time.
    pub(super) fn next_time(&self, page: PageKey, ask: bool) {
        self.pages.insert(page.0, ask);
    }

    /// Whether a view of order `id` is kept, at any version.
    pub(super) fn holds(&self, id: &OrderId) -> bool {
        self.views.peek(id.as_str()).is_some()
    }

    /// Whether a view is kept for `stamp` at its version.
    pub(super) fn kept_at(&self, stamp: &Stamp) -> bool {
        self.views
            .peek(stamp.id.as_str())
            .is_some_and(|kept| kept.order.version == stamp.version)
    }

    /// The view kept for `stamp`, if it was read at that version.
    pub(super) fn view(&self, stamp: &Stamp) -> Option<OrderView> {
        let kept = self.views.get(stamp.id.as_str())?;
        (kept.order.version == stamp.version).then(|| OrderView::clone(&kept))
    }

    /// The view kept of order `id`, at whatever version it was kept.
    pub(super) fn latest(&self, id: &OrderId) -> Option<OrderView> {
        self.views
            .get(id.as_str())
            .map(|kept| OrderView::clone(&kept))
    }

    /// The view kept for each stamp at its version, in their order.
    pub(super) fn page(&self, stamps: &[Stamp]) -> Vec<Option<OrderView>> {
        stamps.iter().map(|stamp| self.view(stamp)).collect()
    }

    /// Keeps views just read, or just written by a committed step. A view
    /// older than the one kept may replace it (two reads racing): the next
    /// read then finds the newer version and reads again, never the older
    /// view.
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
        assert!(cache.kept_at(&stamp("ord_a", 3)) && !cache.kept_at(&stamp("ord_a", 4)));
        assert_eq!(cache.view(&stamp("ord_a", 2)), None);
        assert_eq!(cache.view(&stamp("ord_b", 3)), None, "never read");
        assert!(cache.holds(&OrderId::from_trusted("ord_a".into())));
        let latest = |id: &str| cache.latest(&OrderId::from_trusted(id.into()));
        assert_eq!(latest("ord_a").map(|v| v.order.version), Some(3));
        assert_eq!(latest("ord_b"), None);
        assert!(!cache.holds(&OrderId::from_trusted("ord_b".into())));
    }

    #[test]
    fn a_page_is_answered_in_its_order_where_kept_at_its_versions() {
        let cache = ViewCache::new(16).unwrap();
        cache.keep(&[view("ord_a", 1), view("ord_b", 1)]);
        let ids = |stamps: &[Stamp]| -> Vec<Option<String>> {
            let page = cache.page(stamps);
            page.iter()
                .map(|v| v.as_ref().map(|v| v.order.id.to_string()))
                .collect()
        };
        let (a, b) = (Some("ord_a".to_owned()), Some("ord_b".to_owned()));
        assert_eq!(ids(&[stamp("ord_b", 1), stamp("ord_a", 1)]), [b, a.clone()]);
        assert_eq!(
            ids(&[stamp("ord_a", 1), stamp("ord_b", 2)]),
            [a.clone(), None]
        );
        assert_eq!(ids(&[stamp("ord_c", 1), stamp("ord_a", 1)]), [None, a]);
        assert!(cache.page(&[]).is_empty());
    }

    #[test]
    fn a_page_asks_as_it_was_told_and_only_from_its_second_read_on() {
        let cache = ViewCache::new(16).unwrap();
        let page = |sql: &str, id: &str| {
            ViewCache::page_key(&Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                sql,
                [id.into()],
            ))
        };
        let a = page("SELECT 1 WHERE $1", "ord_a");
        assert!(!cache.ask(a), "never read");
        cache.next_time(a, true);
        assert!(cache.ask(page("SELECT 1 WHERE $1", "ord_a")));
        assert!(
            !cache.ask(page("SELECT 1 WHERE $1", "ord_b")),
            "other values"
        );
        assert!(
            !cache.ask(page("SELECT 2 WHERE $1", "ord_a")),
            "another statement"
        );
        cache.next_time(a, false);
        assert!(!cache.ask(a), "asked in vain");
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
