//! The KV pool's eviction policies and vLLM's KV-block and prefill-KV families, over HTTP
//! against the real binary: with a tiny pool, LFU keeps a prompt repeated often cached where LRU
//! loses it, and the residency histograms agree with the evictions `/kv-cache/metrics` counts.

mod common;

use std::time::{Duration, Instant};

use common::{Server, cached, chat, sample, usage_of};

/// A prompt of some 60 tokens about `topic`.
fn prompt(topic: &str) -> String {
    format!("Tell me about {topic}, briefly and plainly, please. ").repeat(5)
}

/// Scrapes `/metrics` until `series` reads `want` (workers publish every 20 ms).
fn eventually(s: &Server, series: &str, want: f64) -> String {
    let t = Instant::now();
    loop {
        let text = s.request("GET", "/metrics", None).text();
        if sample(&text, series) == Some(want) || t.elapsed().as_secs() >= 3 {
            assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A hot prompt three times, then `cold` other prompts once each, then the hot one again: its
/// cached tokens then, and its prompt tokens.
fn hot_after_cold(s: &Server, cold: usize) -> (u64, u64) {
    let hot = chat("m", &prompt("tea"), r#""max_tokens":2"#);
    let first = usage_of(s, &hot);
    for _ in 0..2 {
        assert!(cached(&usage_of(s, &hot)) > 0, "the hot prompt hits while the pool has room");
    }
    for i in 0..cold {
        usage_of(s, &chat("m", &prompt(&format!("coffee number {i}")), r#""max_tokens":2"#));
    }
    (cached(&usage_of(s, &hot)), first["prompt_tokens"].as_u64().unwrap())
}

const TINY: [&str; 8] = ["--ttft", "0:0", "--itl", "0:0", "--num-gpu-blocks", "16", "--workers", "1"];

#[test]
fn lfu_keeps_a_frequently_repeated_prompt_that_lru_evicts() {
    let lru = Server::start(&TINY);
    let (hit, n) = hot_after_cold(&lru, 6);
    assert!(n > 48 && n < 100, "a prompt of 4 to 6 blocks: {n}");
    assert_eq!(hit, 0, "LRU: six cold prompts evicted the hot one");
    let kv = lru.request("GET", "/kv-cache/metrics", None).json();
    assert_eq!(kv["smart_router"]["config"]["eviction_policy"], "lru");

    let lfu = Server::start(&[&TINY[..], &["--eviction-policy", "lfu"]].concat());
    let (hit, n) = hot_after_cold(&lfu, 6);
    assert_eq!(hit, (n - 1) / 16 * 16, "LFU: the hot prompt's hit blocks outlived the cold ones");
    let kv = lfu.request("GET", "/kv-cache/metrics", None).json();
    assert_eq!(kv["smart_router"]["config"]["eviction_policy"], "lfu");
    assert!(kv["kv_cache"]["evictions"].as_u64().unwrap() > 0, "the cold prompts evicted each other");
}

/// The pool's residency histograms and the per-request prefill families agree with what the
/// clients saw and the evictions the pool counted, with the engine off and on.
#[test]
fn kv_block_and_prefill_families_agree_with_the_pool() {
    for engine in ["off", "vllm"] {
        let s = Server::start(&[&TINY[..], &["--engine", engine]].concat());
        let (hit, n) = hot_after_cold(&s, 6);
        assert_eq!(hit, 0, "{engine}: LRU evicted the hot prompt");
        // A token-id prompt of 33 tokens twice: the second finds 32 cached, recomputes one.
        let ids: Vec<u32> = (1000..1033).collect();
        let body = format!(r#"{{"model":"m","prompt":{},"max_tokens":1}}"#, serde_json::json!(ids));
        s.post("/v1/completions", &body);
        let again = s.post("/v1/completions", &body).json();
        assert_eq!(cached(&again["usage"]), 32, "{engine}: {again}");
        let requests = 3 + 6 + 1 + 2;
        let m = "{model_name=\"m\"}";
        // Every request's prompt length is published (per core, every 20 ms), then its KV.
        eventually(&s, &format!("vllm:request_prompt_tokens_count{m}"), requests as f64);
        let text = eventually(&s, &format!("vllm:request_prefill_kv_computed_tokens_count{m}"), requests as f64);
        let get = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{engine}: {series} in\n{text}"));
        let prompt = get(&format!("vllm:prompt_tokens_total{m}"));
        let cached_total = get(&format!("vllm:prompt_tokens_cached_total{m}"));
        assert_eq!(get(&format!("vllm:request_prefill_kv_computed_tokens_sum{m}")), prompt - cached_total, "{engine}");
        assert_eq!(
            get(&format!("vllm:prompt_tokens_recomputed_total{m}")),
            1.0,
            "{engine}: the 33-token prompt's last"
        );
        let source =
            |src: &str| get(&format!("vllm:prompt_tokens_by_source_total{{model_name=\"m\",source=\"{src}\"}}"));
        assert_eq!(source("local_compute"), prompt - cached_total, "{engine}");
        assert_eq!(
            source("local_cache_hit"),
            cached_total + 1.0,
            "{engine}: vLLM counts the recomputed token as a hit too"
        );

        let kv = s.request("GET", "/kv-cache/metrics", None).json();
        let evictions = kv["kv_cache"]["evictions"].as_f64().unwrap();
        assert!(evictions > 0.0, "{engine}");
        let e = "{engine=\"0\"}";
        let lifetime = get(&format!("vllm:kv_block_lifetime_seconds_count{e}"));
        assert_eq!(lifetime, evictions, "{engine}: one lifetime per evicted cached block");
        assert_eq!(get(&format!("vllm:kv_block_idle_before_evict_seconds_count{e}")), evictions, "{engine}");
        assert!(
            get(&format!("vllm:kv_block_lifetime_seconds_sum{e}"))
                >= get(&format!("vllm:kv_block_idle_before_evict_seconds_sum{e}")),
            "{engine}: idle is part of a lifetime"
        );
        // The hot prompt's hit blocks were hit twice each, then evicted: one gap each.
        assert_eq!(get(&format!("vllm:kv_block_reuse_gap_seconds_count{e}")), ((n - 1) / 16) as f64, "{engine}");
        assert!(text.contains("# HELP vllm:kv_block_reuse_gap_seconds Histogram of time gaps"), "{engine}");
        s.terminate();
    }
}
