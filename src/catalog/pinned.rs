//! The catalog versions kept in memory besides the active one, for the cases pinned to them.
//!
//! Every version ever activated used to stay in memory until restart (0.9 to 1.8 MiB each; 150
//! reloads added 260 MiB). [`PinnedVersions`] keeps the most recently used ones, bounded by count
//! and by an estimate of their bytes; a version that was dropped is loaded again from the database
//! (`catalog_versions`) the next time a case needs it, through [`PinnedVersions::get_or_load`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Catalog;

/// Versions kept by default.
pub const DEFAULT_MAX_VERSIONS: usize = 16;
/// Estimated bytes kept by default.
pub const DEFAULT_MAX_BYTES: usize = 256 << 20;
/// Resident bytes of a loaded catalog per byte of its rule text, rounded up: the sample catalog
/// (280 KiB of YAML) takes 1,723 KiB per version kept, 6.2 times (see RELIABILITY.md).
pub const MEMORY_PER_SOURCE_BYTE: usize = 7;

/// The estimated memory of a loaded catalog.
pub fn catalog_weight(c: &Arc<Catalog>) -> usize {
    c.sources
        .total_bytes()
        .saturating_mul(MEMORY_PER_SOURCE_BYTE)
}

struct Entry<V> {
    value: V,
    weight: usize,
    used: u64,
}

struct Lru<V> {
    entries: HashMap<String, Entry<V>>,
    bytes: usize,
    clock: u64,
}

/// A least-recently-used cache of catalog versions by hash, bounded by count and bytes.
pub struct PinnedVersions<V = Arc<Catalog>> {
    inner: Mutex<Lru<V>>,
    max_count: usize,
    max_bytes: usize,
    weigh: fn(&V) -> usize,
}

impl Default for PinnedVersions<Arc<Catalog>> {
    fn default() -> Self {
        Self::with_limits(DEFAULT_MAX_VERSIONS, DEFAULT_MAX_BYTES, catalog_weight)
    }
}

impl<V: Clone> PinnedVersions<V> {
    /// A cache of at most `max_count` values weighing at most `max_bytes` together.
    pub fn with_limits(max_count: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        Self {
            inner: Mutex::new(Lru {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
            max_count,
            max_bytes,
            weigh,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The version with this hash, if kept (it becomes the most recently used).
    pub fn get(&self, hash: &str) -> Option<V> {
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        lru.entries.get_mut(hash).map(|e| {
            e.used = now;
            e.value.clone()
        })
    }

    /// Keep a version, dropping the least recently used ones until the limits hold. A value
    /// heavier than the byte limit on its own is not kept.
    pub fn insert(&self, hash: &str, value: V) {
        let weight = (self.weigh)(&value);
        let mut lru = self.lock();
        if let Some(old) = lru.entries.remove(hash) {
            lru.bytes -= old.weight;
        }
        if weight > self.max_bytes || self.max_count == 0 {
            return;
        }
        while lru.entries.len() >= self.max_count || lru.bytes + weight > self.max_bytes {
            let Some(oldest) = lru
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(h, _)| h.clone())
            else {
                break;
            };
            if let Some(e) = lru.entries.remove(&oldest) {
                lru.bytes -= e.weight;
            }
        }
        lru.clock += 1;
        let used = lru.clock;
        lru.bytes += weight;
        lru.entries.insert(
            hash.to_string(),
            Entry {
                value,
                weight,
                used,
            },
        );
    }

    /// The version with this hash: kept, or loaded by `load` (from the database) and kept. The
    /// cache is not locked while `load` runs, so a slow load holds up no other lookup; two
    /// lookups of the same missing version may both load it.
    pub fn get_or_load<E>(&self, hash: &str, load: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.get(hash) {
            return Ok(v);
        }
        let value = load()?;
        self.insert(hash, value.clone());
        Ok(value)
    }

    /// How many versions are kept.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The estimated bytes kept.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[allow(clippy::ptr_arg)] // the cache's weigh function takes `&V`
    fn weigh(v: &Vec<u8>) -> usize {
        v.len()
    }

    #[test]
    fn bounded_by_count_dropping_the_least_recently_used() {
        let c = PinnedVersions::with_limits(3, usize::MAX, weigh);
        for h in ["a", "b", "c"] {
            c.insert(h, vec![0; 10]);
        }
        assert!(c.get("a").is_some()); // a is now more recent than b
        c.insert("d", vec![0; 10]);
        assert_eq!(c.len(), 3);
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some() && c.get("c").is_some() && c.get("d").is_some());
    }

    #[test]
    fn bounded_by_bytes() {
        let c = PinnedVersions::with_limits(100, 100, weigh);
        for i in 0..10 {
            c.insert(&format!("v{i}"), vec![0; 30]);
            assert!(c.bytes() <= 100);
        }
        assert_eq!((c.len(), c.bytes()), (3, 90));
        assert!(c.get("v9").is_some() && c.get("v0").is_none());
        // Too heavy on its own: not kept, nothing else dropped for it.
        c.insert("huge", vec![0; 101]);
        assert_eq!((c.len(), c.bytes()), (3, 90));
        // Replacing a value re-weighs it.
        c.insert("v9", vec![0; 10]);
        assert_eq!(c.bytes(), 70);
    }

    #[test]
    fn dropped_versions_are_loaded_again_on_demand() {
        let c = PinnedVersions::with_limits(2, usize::MAX, weigh);
        let loads = Cell::new(0);
        let load = |h: &str| {
            loads.set(loads.get() + 1);
            Ok::<_, String>(h.as_bytes().to_vec())
        };
        for h in ["a", "b", "a", "b", "c", "a"] {
            assert_eq!(c.get_or_load(h, || load(h)).unwrap(), h.as_bytes());
        }
        // a, b loaded; a, b kept; c loaded drops a; a loaded again.
        assert_eq!(loads.get(), 4);
        assert!(c.len() <= 2);
        // A failed load keeps nothing and says why.
        let e = c.get_or_load("x", || Err::<Vec<u8>, _>("not stored".to_string()));
        assert_eq!(e.unwrap_err(), "not stored");
        assert!(c.get("x").is_none());
    }
}
