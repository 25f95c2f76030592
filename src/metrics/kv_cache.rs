//! FakeAI's `/kv-cache/metrics` view from the real prefix cache: `cache_performance` (hits,
//! reuse, TTFT saved) and `smart_router` (FakeAI's router over four workers; here the one shared
//! pool is the one worker every request goes to, and its radix tree is the cached blocks).

use serde_json::{Map, Value, json};

use crate::state::kv::{Counts, KvSnapshot};

/// A percentage of `part` in `whole`, rounded to 2 decimals (0 when `whole` is 0).
fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { (10_000.0 * part as f64 / whole as f64).round() / 100.0 }
}

/// A mean of `sum` over `n`, 0 when there is nothing to average.
fn mean(sum: f64, n: u64) -> f64 {
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// One route's or model's lookups.
fn counts_json(c: &Counts) -> Value {
    json!({
        "requests": c.requests,
        "cache_hits": c.hit_requests,
        "cache_hit_rate": pct(c.hit_requests, c.requests),
        "prompt_tokens": c.queried_tokens,
        "cached_tokens": c.hit_tokens,
        "token_reuse_rate": pct(c.hit_tokens, c.queried_tokens),
    })
}

/// The whole view.
pub fn render(kv: &KvSnapshot) -> Value {
    let s = kv.stats;
    let sp = kv.speedup;
    let endpoints: Map<String, Value> = kv.endpoints.iter().map(|(e, c)| ((*e).to_owned(), counts_json(c))).collect();
    let models: Map<String, Value> = kv.models.iter().map(|(m, c)| (m.clone(), counts_json(c))).collect();
    json!({
        "cache_performance": {
            "cache_hit_rate": pct(s.hit_requests, s.requests),
            "token_reuse_rate": pct(s.hit_tokens, s.queried_tokens),
            "total_cache_hits": s.hit_requests,
            "total_cache_misses": s.requests - s.hit_requests,
            "total_tokens_processed": s.queried_tokens,
            "cached_tokens_reused": s.hit_tokens,
            "average_prefix_length": mean(s.hit_tokens as f64, s.hit_requests),
            "endpoint_stats": endpoints,
            "model_stats": models,
            "speedup_stats": {
                "avg_baseline_ttft_ms": mean(sp.baseline_ms, sp.records),
                "avg_actual_ttft_ms": mean(sp.actual_ms, sp.records),
                "avg_speedup_ratio": mean(sp.ratio, sp.records),
                "avg_cache_hit_ratio": mean(sp.hit_ratio, sp.records),
                "total_speedup_records": sp.records,
            },
        },
        "smart_router": {
            "workers": {
                "worker-0": {
                    "active_requests": kv.active_requests,
                    "total_requests": s.requests,
                    "cached_blocks": kv.cached_blocks,
                    "tokens_processed": s.queried_tokens,
                },
            },
            "radix_tree": {"total_nodes": kv.cached_blocks, "total_cached_blocks": kv.cached_blocks},
            "config": {
                "num_workers": 1,
                "block_size": kv.block_size,
                "num_gpu_blocks": kv.num_blocks,
                "enable_prefix_caching": kv.prefix_caching,
                "eviction_policy": kv.policy.as_str(),
            },
        },
        "kv_cache": {
            "block_size": kv.block_size,
            "num_gpu_blocks": kv.num_blocks,
            "used_blocks": kv.used_blocks,
            "cached_blocks": kv.cached_blocks,
            "usage": kv.usage(),
            "evictions": s.evictions,
            "shortfall_blocks": s.shortfall_blocks,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::kv::KvCache;
    use std::time::Duration;

    #[test]
    fn reports_hits_reuse_and_the_pool() {
        let kv = KvCache::new(16, 100, true);
        let hashes = crate::sim::kv::block_hashes(&(0..40).collect::<Vec<u32>>(), 16, 0);
        let request = crate::state::kv::KvRequest {
            model: "m",
            endpoint: "/v1/chat/completions",
            hashes: &hashes,
            token_ids: &[],
            prompt_tokens: 40,
            total_tokens: 48,
            ttft: Duration::from_millis(10),
            prefill_per_token: Duration::ZERO,
            context_window: 4096,
        };
        drop(kv.admit(request));
        let (_held, cached) = kv.admit(request);
        let v = render(&kv.snapshot());
        let perf = &v["cache_performance"];
        assert_eq!(cached, 32);
        assert_eq!((perf["total_cache_hits"].as_u64(), perf["total_cache_misses"].as_u64()), (Some(1), Some(1)));
        assert_eq!((perf["cache_hit_rate"].as_f64(), perf["token_reuse_rate"].as_f64()), (Some(50.0), Some(40.0)));
        assert_eq!(perf["cached_tokens_reused"], 32);
        assert_eq!(perf["endpoint_stats"]["/v1/chat/completions"]["cached_tokens"], 32);
        assert_eq!(perf["speedup_stats"]["total_speedup_records"], 2);
        let router = &v["smart_router"];
        assert_eq!(router["workers"]["worker-0"]["active_requests"], 1);
        assert_eq!(router["radix_tree"]["total_cached_blocks"], 2);
        assert_eq!(v["kv_cache"]["used_blocks"], 3);
    }
}
