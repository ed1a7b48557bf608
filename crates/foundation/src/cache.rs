//! A cache of current resource snapshots that never serves an older
//! snapshot than the process has committed or observed.
//!
//! Every entry carries the change-feed sequence that produced it, and only a
//! later sequence replaces it; a deletion leaves a tombstone. Writers `put`
//! after their commit (never before: a rollback must leave no trace), and
//! a follower of the change feed puts what other processes commit. Readers
//! that missed `fill` what they read from the database only if nothing was
//! put or evicted since their read began (the epoch), so a slow reader
//! cannot plant a snapshot that a concurrent write has already replaced.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

pub struct SnapshotCache<V> {
    inner: RwLock<Inner<V>>,
    capacity: usize,
}

struct Inner<V> {
    epoch: u64,
    entries: HashMap<String, Entry<V>>,
}

struct Entry<V> {
    sequence: i64,
    /// `None`: the resource was deleted.
    value: Option<Arc<V>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<V> {
    /// Known: the snapshot, or `None` for a deleted resource.
    Hit(Option<Arc<V>>),
    /// Unknown; pass the epoch to [`SnapshotCache::fill`] after reading.
    Miss { epoch: u64 },
}

impl<V> SnapshotCache<V> {
    pub fn new(capacity: usize) -> SnapshotCache<V> {
        SnapshotCache {
            inner: RwLock::new(Inner {
                epoch: 0,
                entries: HashMap::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, key: &str) -> Lookup<V> {
        let Ok(inner) = self.inner.read() else {
            return Lookup::Miss { epoch: u64::MAX };
        };
        match inner.entries.get(key) {
            Some(entry) => Lookup::Hit(entry.value.clone()),
            None => Lookup::Miss { epoch: inner.epoch },
        }
    }

    /// Caches what a reader loaded, unless anything changed since `epoch`.
    pub fn fill(&self, key: &str, value: Arc<V>, epoch: u64) {
        let Ok(mut inner) = self.inner.write() else { return };
        if inner.epoch != epoch || inner.entries.contains_key(key) {
            return;
        }
        if inner.entries.len() >= self.capacity {
            inner.entries.clear();
            inner.epoch += 1;
            return;
        }
        // Sequence 0: older than any put, so the next change replaces it.
        inner.entries.insert(
            key.to_owned(),
            Entry {
                sequence: 0,
                value: Some(value),
            },
        );
    }

    /// Records the state after the change with feed `sequence` (`None`
    /// for a deletion); an older change never replaces a newer one.
    pub fn put(&self, key: &str, sequence: i64, value: Option<Arc<V>>) {
        let Ok(mut inner) = self.inner.write() else { return };
        inner.epoch += 1;
        if let Some(existing) = inner.entries.get(key)
            && existing.sequence > sequence
        {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(key) {
            inner.entries.clear();
        }
        inner.entries.insert(key.to_owned(), Entry { sequence, value });
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|inner| inner.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn value(cache: &SnapshotCache<i64>, key: &str) -> Option<Option<i64>> {
        match cache.get(key) {
            Lookup::Hit(value) => Some(value.map(|value| *value)),
            Lookup::Miss { .. } => None,
        }
    }

    #[test]
    fn a_fill_after_a_concurrent_put_is_refused() {
        let cache = SnapshotCache::new(10);
        let Lookup::Miss { epoch } = cache.get("a") else {
            panic!("empty cache hit")
        };
        cache.put("a", 7, Some(Arc::new(2)));
        cache.fill("a", Arc::new(1), epoch); // the reader's older snapshot
        assert_eq!(value(&cache, "a"), Some(Some(2)));
    }

    #[test]
    fn tombstones_hold_until_a_later_change() {
        let cache = SnapshotCache::new(10);
        cache.put("a", 5, None);
        cache.put("a", 4, Some(Arc::new(1)));
        assert_eq!(value(&cache, "a"), Some(None));
        cache.put("a", 6, Some(Arc::new(3)));
        assert_eq!(value(&cache, "a"), Some(Some(3)));
    }

    #[test]
    fn overflowing_the_capacity_forgets_everything_and_refuses_pending_fills() {
        let cache = SnapshotCache::new(2);
        let Lookup::Miss { epoch } = cache.get("c") else {
            panic!("empty cache hit")
        };
        cache.put("a", 1, Some(Arc::new(1)));
        cache.put("b", 2, Some(Arc::new(2)));
        cache.put("c", 3, Some(Arc::new(3)));
        assert_eq!(cache.len(), 1);
        cache.fill("d", Arc::new(4), epoch);
        assert_eq!(value(&cache, "d"), None);
    }

    proptest! {
        /// Whatever order puts arrive in, the cache ends at the latest.
        #[test]
        fn the_latest_sequence_wins_in_any_order(mut sequences in proptest::collection::vec(1i64..1000, 1..30)) {
            let cache = SnapshotCache::new(10);
            let latest = sequences.iter().copied().max().unwrap_or_default();
            sequences.reverse();
            for sequence in &sequences {
                cache.put("k", *sequence, Some(Arc::new(*sequence)));
            }
            prop_assert_eq!(value(&cache, "k"), Some(Some(latest)));
        }
    }
}
