//! Records kept in the order they were made and found by id at once. The
//! simulators' books only grow (nothing is ever deleted), and a request must
//! not cost more as they do: a lookup by id is a hash lookup, a page of a
//! list touches only its own records, and a list narrowed by a key (a
//! flow's refunds, a customer's flows) reads that key's records only.
//!
//! A book is saved as the plain list of its records (the state file's
//! format is unchanged); the index is rebuilt when it is read back.

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A record with an id of its own, unique in its book.
pub(crate) trait Record {
    fn id(&self) -> &str;
}

/// Implements [`Record`] for types whose `id` field is their id.
macro_rules! records_by_id {
    ($($record:ty),+ $(,)?) => {
        $(impl $crate::book::Record for $record {
            fn id(&self) -> &str {
                &self.id
            }
        })+
    };
}
pub(crate) use records_by_id;

/// Records, oldest first, indexed by id.
#[derive(Debug, Clone)]
pub(crate) struct Book<T> {
    items: Vec<T>,
    by_id: HashMap<String, usize>,
}

impl<T> Default for Book<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            by_id: HashMap::new(),
        }
    }
}

impl<T: Record> Book<T> {
    /// Adds `item` as the newest record; its position.
    pub(crate) fn push(&mut self, item: T) -> usize {
        let index = self.items.len();
        self.by_id.insert(item.id().to_owned(), index);
        self.items.push(item);
        index
    }

    /// The position of the record `id`.
    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub(crate) fn find(&self, id: &str) -> Option<&T> {
        self.position(id).map(|i| &self.items[i])
    }

    /// The record `id`, to change (never its id).
    pub(crate) fn find_mut(&mut self, id: &str) -> Option<&mut T> {
        self.position(id).map(|i| &mut self.items[i])
    }

    fn from_items(items: Vec<T>) -> Self {
        let by_id = items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.id().to_owned(), i))
            .collect();
        Self { items, by_id }
    }

    /// Every record, newest first, a page at a time.
    pub(crate) fn newest_first(&self) -> Listing<'_, T> {
        Listing {
            book: self,
            within: None,
        }
    }

    /// The records at `positions` (ascending), newest first.
    pub(crate) fn newest_first_of<'a>(&'a self, positions: &'a [usize]) -> Listing<'a, T> {
        Listing {
            book: self,
            within: Some(positions),
        }
    }
}

impl<T> Book<T> {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.items.get(index)
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.items.get_mut(index)
    }
}

impl<T> Index<usize> for Book<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        &self.items[index]
    }
}

impl<T> IndexMut<usize> for Book<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.items[index]
    }
}

impl<T: Serialize> Serialize for Book<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de> + Record> Deserialize<'de> for Book<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        let book = Self::from_items(items);
        if book.by_id.len() != book.items.len() {
            return Err(serde::de::Error::custom("two records share an id"));
        }
        Ok(book)
    }
}

/// Positions of records by a key of theirs that never changes (a refund's
/// flow, a flow's customer), oldest first. Not saved: rebuilt from the
/// records when books are read back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Groups(HashMap<String, Vec<usize>>);

impl Groups {
    /// Records the newest record, at `position`, under `key`.
    pub(crate) fn add(&mut self, key: &str, position: usize) {
        self.0.entry(key.to_owned()).or_default().push(position);
    }

    pub(crate) fn of(&self, key: &str) -> &[usize] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// The groups of `book`'s records by `key`.
    pub(crate) fn of_book<T>(book: &Book<T>, key: impl Fn(&T) -> Option<&str>) -> Self {
        let mut groups = Self::default();
        for (position, item) in book.iter().enumerate() {
            if let Some(k) = key(item) {
                groups.add(k, position);
            }
        }
        groups
    }
}

/// Records newest first: a whole book or some of its records, read a rank
/// at a time (rank 0 is the newest).
pub(crate) struct Listing<'a, T> {
    book: &'a Book<T>,
    /// Ascending positions; `None`: the whole book.
    within: Option<&'a [usize]>,
}

impl<'a, T: Record> Listing<'a, T> {
    pub(crate) fn len(&self) -> usize {
        self.within.map_or(self.book.len(), <[usize]>::len)
    }

    /// The rank of the record `id`, if it is in the listing.
    pub(crate) fn rank(&self, id: &str) -> Option<usize> {
        let position = self.book.position(id)?;
        let from_oldest = match self.within {
            None => position,
            Some(positions) => positions.binary_search(&position).ok()?,
        };
        Some(self.len() - 1 - from_oldest)
    }

    /// The record at `rank`.
    pub(crate) fn at(&self, rank: usize) -> Option<&'a T> {
        let from_oldest = self.len().checked_sub(rank + 1)?;
        let position = match self.within {
            None => from_oldest,
            Some(positions) => positions[from_oldest],
        };
        self.book.get(position)
    }

    /// The records from rank `start` (included) to `end` (excluded).
    pub(crate) fn ranks(&self, start: usize, end: usize) -> impl Iterator<Item = &'a T> + '_ {
        (start..end.min(self.len())).filter_map(|rank| self.at(rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Item {
        id: String,
        group: String,
    }

    impl Record for Item {
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn book(n: usize) -> Book<Item> {
        let mut book = Book::default();
        for i in 0..n {
            book.push(Item {
                id: format!("id{i}"),
                group: format!("g{}", i % 2),
            });
        }
        book
    }

    #[test]
    fn records_are_found_by_id_and_kept_in_order() {
        let mut book = book(5);
        assert_eq!(book.position("id3"), Some(3));
        assert_eq!(book.find("id4").unwrap().group, "g0");
        assert!(book.find("nope").is_none());
        book.find_mut("id1").unwrap().group = "changed".into();
        assert_eq!(book[1].group, "changed");
        let ids: Vec<&str> = book.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["id0", "id1", "id2", "id3", "id4"]);
    }

    #[test]
    fn a_saved_book_is_its_list_and_reads_back_indexed() {
        let book = book(3);
        let json = serde_json::to_value(&book).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 3);
        let back: Book<Item> = serde_json::from_value(json).unwrap();
        assert_eq!(back.position("id2"), Some(2));
        let twice = serde_json::json!([{"id": "a", "group": "x"}, {"id": "a", "group": "y"}]);
        assert!(serde_json::from_value::<Book<Item>>(twice).is_err());
    }

    #[test]
    fn listings_rank_newest_first_within_a_group_or_the_book() {
        let book = book(6);
        let all = book.newest_first();
        assert_eq!(all.len(), 6);
        assert_eq!(all.rank("id5"), Some(0));
        assert_eq!(all.rank("id0"), Some(5));
        let page: Vec<&str> = all.ranks(1, 3).map(|i| i.id.as_str()).collect();
        assert_eq!(page, ["id4", "id3"]);
        let groups = Groups::of_book(&book, |i| Some(i.group.as_str()));
        let odd = book.newest_first_of(groups.of("g1"));
        let ids: Vec<&str> = odd.ranks(0, 10).map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["id5", "id3", "id1"]);
        assert_eq!(odd.rank("id3"), Some(1));
        assert_eq!(odd.rank("id2"), None, "not in the group");
        assert_eq!(book.newest_first_of(groups.of("none")).len(), 0);
    }
}
