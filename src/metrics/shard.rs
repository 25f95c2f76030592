//! One core's metrics, and the merged view a scrape takes.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

/// The counters each core keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// HTTP requests parsed.
    Requests,
    /// Responses with status >= 400.
    ErrorResponses,
    /// Generation requests completed (all tokens sent).
    GenerationsCompleted,
    /// Streams cut short by a client disconnect or write error.
    StreamsCancelled,
    /// Prompt tokens of completed generations.
    PromptTokens,
    /// Completion tokens sent.
    CompletionTokens,
    /// SSE events sent.
    SseEvents,
    /// Connections accepted.
    ConnectionsAccepted,
    /// Connections refused for exceeding `--max-connections`.
    ConnectionsRefused,
    /// Connections currently open (a gauge).
    ConnectionsOpen,
    /// Streams currently sending (a gauge).
    StreamsActive,
}

const COUNTERS: usize = Counter::StreamsActive as usize + 1;

/// Histogram bounds: 1 µs to 1 h in nanoseconds, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// One core's metrics.
#[derive(Debug)]
pub struct Shard {
    counters: [CachePadded<AtomicU64>; COUNTERS],
    lateness: Mutex<Histogram<u64>>,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            counters: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            lateness: Mutex::new(new_histogram()),
        }
    }
}

impl Shard {
    /// Adds `n` to a counter. Only the owning core calls this, so a relaxed load+store
    /// suffices (no read-modify-write bus lock).
    pub fn add(&self, c: Counter, n: u64) {
        let cell = &self.counters[c as usize];
        cell.store(cell.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(&self, c: Counter, n: u64) {
        let cell = &self.counters[c as usize];
        cell.store(cell.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }

    /// Records how late one SSE event went out.
    pub fn record_lateness(&self, late: Duration) {
        let ns = (late.as_nanos() as u64).clamp(1_000, 3_600_000_000_000);
        if let Ok(mut h) = self.lateness.lock() {
            h.saturating_record(ns);
        }
    }
}

/// All shards merged.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Summed counters, indexed by `Counter as usize`.
    pub counters: [u64; COUNTERS],
    /// Per-shard counters, for per-worker gauges.
    pub per_shard: Vec<[u64; COUNTERS]>,
    /// Merged emit lateness, in nanoseconds.
    pub lateness: Histogram<u64>,
}

impl Snapshot {
    /// Merges `shards` (a scrape; never blocks a busy core for longer than one record).
    pub fn merge(shards: &[Shard]) -> Snapshot {
        let mut counters = [0u64; COUNTERS];
        let mut per_shard = Vec::with_capacity(shards.len());
        let mut lateness = new_histogram();
        for s in shards {
            let mine: [u64; COUNTERS] = std::array::from_fn(|i| s.counters[i].load(Ordering::Relaxed));
            for (sum, v) in counters.iter_mut().zip(mine) {
                *sum = sum.wrapping_add(v);
            }
            per_shard.push(mine);
            let h = s.lateness.lock().map(|h| h.clone()).unwrap_or_else(|_| new_histogram());
            lateness.add(&h).expect("same bounds");
        }
        Snapshot { counters, per_shard, lateness }
    }

    /// A merged counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_counters_and_histograms() {
        let shards = [Shard::default(), Shard::default()];
        shards[0].add(Counter::Requests, 3);
        shards[1].add(Counter::Requests, 4);
        shards[1].add(Counter::StreamsActive, 2);
        shards[1].sub(Counter::StreamsActive, 1);
        shards[0].record_lateness(Duration::from_micros(100));
        shards[1].record_lateness(Duration::from_millis(2));
        let s = Snapshot::merge(&shards);
        assert_eq!(s.get(Counter::Requests), 7);
        assert_eq!(s.get(Counter::StreamsActive), 1);
        assert_eq!(s.per_shard[0][Counter::Requests as usize], 3);
        assert_eq!(s.lateness.len(), 2);
        assert!(s.lateness.max() >= 1_999_000);
    }
}
