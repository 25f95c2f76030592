//! Per-core metric shards: counters written only by their own core (relaxed atomics on
//! cache-padded words), and HDR histograms recorded core-locally and published periodically.
//! A scrape merges all shards; neither the data path nor a scrape ever waits on the other.

/// Recording compiled out (`--features no-metrics`), to measure what recording costs: every
/// record call returns at once and scrapes read zeros. Never for real use.
pub const OFF: bool = cfg!(feature = "no-metrics");

/// Models told apart by name in metrics; more share the name `other`.
pub const MAX_MODELS: usize = 128;

/// The index of `model`'s entry in `models`, made by `make` on first use; beyond
/// [`MAX_MODELS`] names, models share the entry `other`.
pub fn model_entry<T>(models: &mut Vec<(String, T)>, model: &str, make: impl FnOnce() -> T) -> usize {
    if let Some(i) = models.iter().position(|(n, _)| n == model) {
        return i;
    }
    let name = if models.len() < MAX_MODELS { model } else { "other" };
    if let Some(i) = models.iter().position(|(n, _)| n == name) {
        return i;
    }
    models.push((name.to_owned(), make()));
    models.len() - 1
}

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
