//! Per-core metric shards: counters written only by their own core (relaxed atomics on
//! cache-padded words) and HDR histograms behind per-core, uncontended mutexes. A scrape
//! merges all shards; the data path never waits on another core.

pub mod json;
pub mod prometheus;
mod shard;

pub use shard::{Counter, Shard, Snapshot};
