//! Per-core metric shards: counters written only by their own core (relaxed atomics on
//! cache-padded words), and HDR histograms recorded core-locally and published periodically.
//! A scrape merges all shards; neither the data path nor a scrape ever waits on the other.

/// Recording compiled out (`--features no-metrics`), to measure what recording costs: every
/// record call returns at once and scrapes read zeros. Never for real use.
pub const OFF: bool = cfg!(feature = "no-metrics");

pub mod dcgm;
pub mod dynamo;
pub mod engine_extra;
pub mod fakeai_text;
#[cfg(test)]
mod golden;
pub mod json;
pub mod kv_cache;
pub mod model_stats;
pub mod model_text;
pub mod prometheus;
mod shard;
pub mod stream;
pub mod timing;
pub mod window;

pub use shard::{COUNTERS, Counter, ERROR_TYPES, Histograms, PUBLISH_EVERY, Recorder, STATUSES, Shard, Snapshot};
