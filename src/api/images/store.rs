//! Generated files served at `/images/{id}.{ext}`: shared by every core, kept for a bounded
//! time (`--image-ttl`) and memory (`--image-store-bytes`), oldest dropped first. A lock is
//! fine here: it is taken once per image, never per token.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// One stored file.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The bytes, shared with the responses that send them.
    pub bytes: Arc<[u8]>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    expires: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    by_name: HashMap<String, Stored>,
    /// Names oldest first (every entry lives as long, so this is also expiry order).
    order: VecDeque<String>,
    bytes: usize,
}

/// A bounded, expiring map of file name to bytes.
#[derive(Debug)]
pub struct FileStore {
    inner: Mutex<Inner>,
    budget: usize,
    ttl: Duration,
}

impl FileStore {
    /// A store of at most `budget` bytes, each file kept for `ttl`.
    pub fn new(budget: usize, ttl: Duration) -> FileStore {
        FileStore { inner: Mutex::default(), budget, ttl }
    }

    /// Keeps `bytes` under `name`, dropping expired and then oldest files to stay in budget.
    /// False (and nothing kept) when the file alone exceeds the budget or the TTL is zero.
    pub fn insert(&self, name: String, bytes: Arc<[u8]>, content_type: &'static str, now: Instant) -> bool {
        if bytes.len() > self.budget || self.ttl.is_zero() {
            return false;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.evict(now, self.budget - bytes.len());
        inner.bytes += bytes.len();
        inner.order.push_back(name.clone());
        inner.by_name.insert(name, Stored { bytes, content_type, expires: now + self.ttl });
        true
    }

    /// The file `name` unless it expired or was dropped.
    pub fn get(&self, name: &str, now: Instant) -> Option<Stored> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.by_name.get(name).filter(|s| s.expires > now).cloned()
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

impl Inner {
    /// Drops expired files, then the oldest until at most `keep` bytes remain.
    fn evict(&mut self, now: Instant, keep: usize) {
        while let Some(name) = self.order.front() {
            let stored = &self.by_name[name];
            if stored.expires > now && self.bytes <= keep {
                break;
            }
            self.bytes -= stored.bytes.len();
            let name = self.order.pop_front().expect("front exists");
            self.by_name.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> Arc<[u8]> {
        vec![7u8; n].into()
    }

    #[test]
    fn expires_after_the_ttl() {
        let store = FileStore::new(1000, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(store.insert("a.png".into(), file(10), "image/png", t0));
        assert_eq!(store.get("a.png", t0 + Duration::from_secs(59)).unwrap().bytes.len(), 10);
        assert!(store.get("a.png", t0 + Duration::from_secs(60)).is_none());
        assert!(store.insert("b.png".into(), file(10), "image/png", t0 + Duration::from_secs(61)));
        assert_eq!(store.bytes(), 10, "the expired file's bytes were released");
    }

    #[test]
    fn oldest_dropped_to_stay_within_the_budget() {
        let store = FileStore::new(100, Duration::from_secs(60));
        let t0 = Instant::now();
        for name in ["a", "b", "c"] {
            assert!(store.insert(name.into(), file(40), "image/png", t0));
        }
        assert!(store.get("a", t0).is_none());
        assert!(store.get("b", t0).is_some() && store.get("c", t0).is_some());
        assert_eq!(store.bytes(), 80);
        assert!(!store.insert("huge".into(), file(101), "image/png", t0), "larger than the whole budget");
        assert!(!FileStore::new(100, Duration::ZERO).insert("a".into(), file(1), "image/png", t0));
    }
}
