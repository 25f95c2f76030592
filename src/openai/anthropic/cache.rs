//! Anthropic prompt caching, simulated: a request's `cache_control` breakpoints are prefixes
//! (tools, then system, then messages) identified by a hash. A prefix seen before and not yet
//! expired is read from the cache; the rest, up to the last breakpoint, is written to it.
//! Bounded and per process; the engine's prefix cache will later take this over.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How a request's prompt tokens met the cache (Anthropic's `usage.cache_*` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheUsage {
    /// Tokens read from the cache (`cache_read_input_tokens`).
    pub read: u64,
    /// Tokens written with the default 5-minute lifetime.
    pub created_5m: u64,
    /// Tokens written with `ttl: "1h"`.
    pub created_1h: u64,
}

impl CacheUsage {
    /// `cache_creation_input_tokens`.
    pub fn created(self) -> u64 {
        self.created_5m + self.created_1h
    }
}

/// One `cache_control` breakpoint: the hash of the prompt up to and including its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakpoint {
    /// Hash of the model and every block up to this one (`cache_control` itself left out).
    pub hash: u64,
    /// Prompt tokens up to and including this block.
    pub tokens: u64,
    /// `ttl: "1h"` rather than the default 5 minutes.
    pub long_ttl: bool,
}

impl Breakpoint {
    fn ttl(self) -> Duration {
        Duration::from_secs(if self.long_ttl { 3600 } else { 300 })
    }
}

/// Prefix hashes with their expiry, shared by all workers (locked once per request that has
/// breakpoints; no token waits on it).
#[derive(Debug)]
pub struct PromptCache {
    entries: Mutex<HashMap<u64, Instant>>,
    capacity: usize,
}

impl Default for PromptCache {
    fn default() -> Self {
        PromptCache::new(4096)
    }
}

impl PromptCache {
    /// A cache of at most `capacity` prefixes.
    pub fn new(capacity: usize) -> Self {
        PromptCache { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// Looks `breakpoints` up at `now`: the longest live prefix is read, the rest up to the last
    /// breakpoint is written; every breakpoint's lifetime starts (again) now.
    pub fn lookup(&self, breakpoints: &[Breakpoint], now: Instant) -> CacheUsage {
        let Some(last) = breakpoints.last() else { return CacheUsage::default() };
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let live = |bp: &&Breakpoint| entries.get(&bp.hash).is_some_and(|&expires| expires > now);
        let read = breakpoints.iter().rev().find(live).map_or(0, |bp| bp.tokens);
        let created = last.tokens.saturating_sub(read);
        for bp in breakpoints {
            if entries.len() >= self.capacity && !entries.contains_key(&bp.hash) {
                evict(&mut entries, now);
            }
            entries.insert(bp.hash, now + bp.ttl());
        }
        match last.long_ttl {
            true => CacheUsage { read, created_5m: 0, created_1h: created },
            false => CacheUsage { read, created_5m: created, created_1h: 0 },
        }
    }
}

/// Drops the expired entries, or when none has expired the one that expires first.
fn evict(entries: &mut HashMap<u64, Instant>, now: Instant) {
    let before = entries.len();
    entries.retain(|_, expires| *expires > now);
    if entries.len() == before {
        let first = entries.iter().min_by_key(|(_, expires)| **expires).map(|(hash, _)| *hash);
        first.map(|hash| entries.remove(&hash));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(hash: u64, tokens: u64) -> Breakpoint {
        Breakpoint { hash, tokens, long_ttl: false }
    }

    #[test]
    fn first_sight_writes_then_reads_the_longest_live_prefix() {
        let cache = PromptCache::new(16);
        let t0 = Instant::now();
        assert_eq!(cache.lookup(&[], t0), CacheUsage::default());
        assert_eq!(cache.lookup(&[bp(1, 100)], t0), CacheUsage { created_5m: 100, ..Default::default() });
        assert_eq!(cache.lookup(&[bp(1, 100)], t0), CacheUsage { read: 100, ..Default::default() });
        // The next turn: the old prefix is read, the new part up to the new breakpoint written.
        assert_eq!(
            cache.lookup(&[bp(1, 100), bp(2, 150)], t0),
            CacheUsage { read: 100, created_5m: 50, created_1h: 0 }
        );
        let long = Breakpoint { long_ttl: true, ..bp(3, 400) };
        assert_eq!(cache.lookup(&[long], t0), CacheUsage { created_1h: 400, ..Default::default() });
        let later = t0 + Duration::from_secs(301);
        assert_eq!(cache.lookup(&[bp(2, 150)], later), CacheUsage { created_5m: 150, ..Default::default() });
        assert_eq!(cache.lookup(&[long], later), CacheUsage { read: 400, ..Default::default() });
    }

    #[test]
    fn stays_bounded() {
        let cache = PromptCache::new(2);
        let t0 = Instant::now();
        for hash in 0..10 {
            cache.lookup(&[bp(hash, 10)], t0 + Duration::from_millis(hash));
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 2);
        assert_eq!(cache.lookup(&[bp(9, 10)], t0 + Duration::from_secs(1)).read, 10, "the newest survive");
    }
}
