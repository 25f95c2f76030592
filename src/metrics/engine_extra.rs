//! The engine families beyond [`super::model_text`]'s, for `/metrics` and the dialect paths:
//!
//! - vLLM: `request_params_n`; `mm_cache_*` (each media item of a prompt is a query, one seen
//!   before in the model's last [`MM_CACHE_ITEMS`] a hit); `external_prefix_cache_*` (no KV
//!   connector) and `corrupted_requests` (no NaN check of logits), honest zeros; and the MFU
//!   estimates `estimated_{flops,read_bytes,write_bytes}_per_gpu_total` from the model profile
//!   (see [`mfu`]).
//! - SGLang: `realtime_tokens_total{mode}` and `num_aborted_requests_total`.
//! - TRT-LLM: the speculative-decoding counters (zeros: nothing drafts) and the
//!   `*_config_info` gauges from the running configuration.

use std::{
    collections::{HashSet, VecDeque},
    fmt::Write,
    sync::Mutex,
};

use super::{
    model_stats::{FixedHistogram, ModelStats},
    model_text::{PerModel, escape, family, histogram},
    prometheus::{Dialect, KvCache},
};
use crate::{config::ServerArgs, sim::engine::Work, sim::model_profile::Profile};

/// vLLM's `request_params_n` bucket bounds.
pub const N_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0];

/// Per model, the requests that asked for more than one choice, by `n`. Requests with `n = 1`
/// (nearly all) are never recorded: they are the model's requests less these.
static PARALLEL: Mutex<Vec<(String, FixedHistogram)>> = Mutex::new(Vec::new());

/// Notes a request to `model` for `n` choices (once per request; nothing when `n` is 1).
pub fn note_n(model: &str, n: u64) {
    if n <= 1 || super::OFF {
        return;
    }
    let mut all = PARALLEL.lock().unwrap_or_else(|e| e.into_inner());
    slot(&mut all, model, || FixedHistogram::new(N_BUCKETS)).record(n as f64);
}

/// `model`'s entry in `all`, made on its first use (models past [`super::MAX_MODELS`] share
/// `other`'s, as in the shards).
fn slot<'a, T>(all: &'a mut Vec<(String, T)>, model: &str, new: impl FnOnce() -> T) -> &'a mut T {
    let i = super::model_entry(all, model, new);
    &mut all[i].1
}

/// Distinct media items each model's multi-modal cache remembers (vLLM's holds 4 GiB of
/// processed items; the least recently added leaves first here).
pub const MM_CACHE_ITEMS: usize = 4096;

/// One model's multi-modal cache: the items it holds, oldest first, and its lookups.
#[derive(Debug, Default)]
struct MmCache {
    held: HashSet<u64>,
    order: VecDeque<u64>,
    queries: u64,
    hits: u64,
}

/// Per model, its multi-modal cache (only models that were sent media).
static MM_CACHES: Mutex<Vec<(String, MmCache)>> = Mutex::new(Vec::new());

/// Looks a request's media items (their hashes) up in `model`'s multi-modal cache, once per
/// request (nothing for a prompt without media).
pub fn note_media(model: &str, items: &[u64]) {
    if items.is_empty() || super::OFF {
        return;
    }
    let mut all = MM_CACHES.lock().unwrap_or_else(|e| e.into_inner());
    let cache = slot(&mut all, model, MmCache::default);
    for &item in items {
        cache.queries += 1;
        if !cache.held.insert(item) {
            cache.hits += 1;
            continue;
        }
        cache.order.push_back(item);
        if cache.order.len() > MM_CACHE_ITEMS
            && let Some(old) = cache.order.pop_front()
        {
            cache.held.remove(&old);
        }
    }
}

/// `model`'s multi-modal cache queries and hits.
fn mm_lookups(model: &str) -> (u64, u64) {
    let all = MM_CACHES.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().find(|(m, _)| m == model).map_or((0, 0), |(_, c)| (c.queries, c.hits))
}

/// `model`'s requests by `n`, out of its `requests`.
fn n_histogram(model: &str, requests: u64) -> FixedHistogram {
    let all = PARALLEL.lock().unwrap_or_else(|e| e.into_inner());
    let mut h = FixedHistogram::new(N_BUCKETS);
    let parallel = all.iter().find(|(m, _)| m == model).map(|(_, h)| h);
    let several = parallel.map_or(0, FixedHistogram::count);
    h.record_n(1.0, requests.saturating_sub(several));
    if let Some(p) = parallel {
        h.merge(p);
    }
    h
}

/// Appends the families of `dialect` this module renders.
pub fn render(out: &mut String, models: &[(String, ModelStats)], dialect: Dialect, kv: KvCache<'_>, args: &ServerArgs) {
    match dialect {
        Dialect::All | Dialect::Vllm => vllm(out, models, kv, args),
        Dialect::Sglang => sglang(out, models, kv),
        Dialect::Trtllm => trtllm(out, models, kv, args),
        Dialect::DynamoFrontend => {}
    }
}

/// Per-model counters labelled `model_name`.
fn per_model<'a>(out: &'a mut String, models: &'a [(String, ModelStats)]) -> PerModel<'a> {
    PerModel { out, models, label: "model_name" }
}

/// vLLM's families.
fn vllm(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>, args: &ServerArgs) {
    let name = "vllm:request_params_n";
    family(out, name, "histogram", "Histogram of the n request parameter.");
    for (model, m) in models {
        histogram(out, name, &format!("model_name=\"{}\"", escape(model)), &n_histogram(model, m.requests));
    }
    per_model(out, models).counter(
        "vllm:mm_cache_queries_total",
        "Multi-modal cache queries, in terms of number of queried items.",
        |name, _| mm_lookups(name).0,
    );
    per_model(out, models).counter(
        "vllm:mm_cache_hits_total",
        "Multi-modal cache hits, in terms of number of cached items.",
        |name, _| mm_lookups(name).1,
    );
    // No KV connector shares a cache across instances and logits are never NaN: vLLM's
    // counters stay at 0.
    let zeros = [
        (
            "vllm:external_prefix_cache_queries_total",
            "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of \
             queried tokens.",
        ),
        (
            "vllm:external_prefix_cache_hits_total",
            "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of \
             cached tokens.",
        ),
        (
            "vllm:corrupted_requests_total",
            "Corrupted requests, in terms of total number of requests with NaNs in logits.",
        ),
    ];
    for (name, help) in zeros {
        per_model(out, models).counter(name, help, |_, _| 0);
    }
    if let Some(p) = args.model_profile {
        let tp = args.tensor_parallel_size.unwrap_or(p.profile().default_tp).max(1);
        let estimate = mfu(p.profile(), tp, &work(models, kv));
        let families = [
            ("vllm:estimated_flops_per_gpu_total", "floating point operations", estimate.flops),
            ("vllm:estimated_read_bytes_per_gpu_total", "bytes read from memory", estimate.read_bytes),
            ("vllm:estimated_write_bytes_per_gpu_total", "bytes written to memory", estimate.write_bytes),
        ];
        for (name, what, v) in families {
            let help = format!("Estimated number of {what} per GPU (for Model Flops Utilization calculations).");
            family(out, name, "counter", &help);
            let _ = writeln!(out, "{name}{{engine=\"0\"}} {v}");
        }
    }
}

/// What the engine computed: with `--engine`, its steps; without, every finished request as
/// if it ran alone, less the prompt tokens the prefix cache held (their attention still counts).
fn work(models: &[(String, ModelStats)], kv: KvCache<'_>) -> Work {
    if crate::sim::engine::local::active() {
        return crate::sim::engine::local::iterations().work;
    }
    let mut total = Work::default();
    for (model, m) in models {
        total.add(&m.work);
        let hits = hit_tokens(kv, model);
        total.tokens = total.tokens.saturating_sub(hits);
    }
    total
}

/// Prompt tokens of `model` the prefix cache held.
fn hit_tokens(kv: KvCache<'_>, model: &str) -> u64 {
    kv.pool.map_or(0, |pool| pool.model(model).hit_tokens)
}

/// vLLM's per-GPU estimates of what some work cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Floating-point operations.
    pub flops: f64,
    /// Bytes read from memory.
    pub read_bytes: f64,
    /// Bytes written to memory.
    pub write_bytes: f64,
}

/// vLLM's MFU estimate (`vllm/v1/metrics/perf.py`) reduced to what a model profile knows, per
/// GPU of a tensor-parallel group of `tp`. With `T` tokens computed, `TC` Σ tokens × context
/// length and `C` Σ context length over the scheduled sequences of `S` steps:
///
/// - FLOPs = (2 · active parameters · T + 4 · layers · heads · head_dim · TC) / tp: the
///   projections, FFN and unembedding at 2 FLOPs per weight and token (vLLM unembeds only the
///   tokens that are sampled), and attention's QKᵀ and AV;
/// - read bytes = (S · weight bytes + KV bytes per token · C) / tp: every step streams the
///   weights once (all experts, for MoE) and each sequence reads its context's K and V;
/// - write bytes = KV bytes per token · T / tp: each computed token's K and V.
///
/// Activations' reads and writes (a few percent of either) are left out.
pub fn mfu(p: &Profile, tp: u32, w: &Work) -> Estimate {
    let tp = f64::from(tp.max(1));
    let attention = 4.0 * f64::from(p.layers) * f64::from(p.heads) * f64::from(p.head_dim);
    let flops = 2.0 * p.active_params_b * 1e9 * w.tokens as f64 + attention * w.token_context as f64;
    let read = w.steps as f64 * p.weight_bytes() + p.kv_bytes_per_token() * w.context as f64;
    let write = p.kv_bytes_per_token() * w.tokens as f64;
    Estimate { flops: (flops / tp).round(), read_bytes: (read / tp).round(), write_bytes: (write / tp).round() }
}

/// SGLang's families: tokens by how they were processed, and requests the client abandoned.
fn sglang(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>) {
    let name = "sglang:realtime_tokens_total";
    let help = "Total number of tokens processed (updated on each log interval). \
                mode: prefill_compute, prefill_cache, decode.";
    family(out, name, "counter", help);
    for (model, m) in models {
        let hits = hit_tokens(kv, model).min(m.prompt_tokens);
        let modes =
            [("prefill_compute", m.prompt_tokens - hits), ("prefill_cache", hits), ("decode", m.generation_tokens)];
        for (mode, n) in modes {
            let _ = writeln!(out, "{name}{{mode=\"{mode}\",model_name=\"{}\"}} {n}", escape(model));
        }
    }
    per_model(out, models)
        .counter("sglang:num_aborted_requests_total", "Number of requests aborted.", |_, m| m.finished[2]);
}

/// TRT-LLM's families: speculative decoding's counters (nothing drafts: 0) and its
/// configuration, as info gauges (1) labelled with the running flags.
fn trtllm(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>, args: &ServerArgs) {
    let counters = [
        ("trtllm_spec_decode_num_draft_tokens_total", "Total number of draft tokens in speculative decoding"),
        ("trtllm_spec_decode_num_accepted_tokens_total", "Total number of accepted tokens in speculative decoding"),
    ];
    for (name, help) in counters {
        per_model(out, models).counter(name, help, |_, _| 0);
    }
    for (name, help, labels) in config_info(kv, args) {
        family(out, name, "gauge", help);
        for (model, m) in models {
            let max_len = m.prompt_len.bounds().last().copied().unwrap_or(0.0) as u64;
            let labels = labels.replace("{max_model_len}", &max_len.to_string()).replace("{model}", &escape(model));
            let _ = writeln!(out, "{name}{{model_name=\"{}\",{labels}}} 1", escape(model));
        }
    }
}

/// TRT-LLM's `*_config_info` families: name, help, and labels (`{model}` and
/// `{max_model_len}` filled in per model).
fn config_info(kv: KvCache<'_>, args: &ServerArgs) -> [(&'static str, &'static str, String); 4] {
    let profile = args.model_profile.map(|p| p.profile());
    let tp = args.tensor_parallel_size.or(profile.map(|p| p.default_tp)).unwrap_or(1).max(1);
    let (dtype, quantization) = match profile {
        Some(p) if p.weight_dtype_bytes < 2.0 => ("bfloat16", "FP8"),
        Some(_) => ("bfloat16", "none"),
        None => ("auto", "none"),
    };
    let model = profile.map_or("{model}", |p| p.name);
    let gpu = escape(args.gpu.spec().name);
    let reuse = match kv.pool {
        Some(pool) if pool.prefix_caching => "True",
        _ => "False",
    };
    [
        (
            "trtllm_model_config_info",
            "Model configuration info",
            format!(
                "model=\"{model}\",served_model_name=\"{{model}}\",dtype=\"{dtype}\",quantization=\"{quantization}\",\
                 max_model_len=\"{{max_model_len}}\",gpu_type=\"{gpu}\""
            ),
        ),
        (
            "trtllm_parallel_config_info",
            "Parallelism configuration info",
            format!("tensor_parallel_size=\"{tp}\",pipeline_parallel_size=\"1\",gpu_count=\"{tp}\""),
        ),
        (
            "trtllm_speculative_config_info",
            "Speculative decoding configuration info",
            "spec_enabled=\"false\",spec_method=\"none\",spec_num_tokens=\"0\",spec_draft_model=\"none\"".to_owned(),
        ),
        (
            "trtllm_kv_cache_config_info",
            "KV cache configuration info",
            format!("page_size=\"{}\",enable_block_reuse=\"{reuse}\",cache_dtype=\"auto\"", kv.block_size),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model_profile::ModelProfile;

    #[test]
    fn mfu_splits_the_work_over_the_tensor_parallel_group() {
        let p = ModelProfile::Llama31_70b.profile();
        let w = Work { steps: 2, tokens: 10, token_context: 300, context: 40 };
        let one = mfu(p, 1, &w);
        // 2 · 70.6e9 · 10 + 4 · 80 layers · 64 heads · 128 · 300; 2 steps of 141.2 GB + 40 · 327,680.
        assert_eq!(one.flops, 2.0 * 70.6e9 * 10.0 + 4.0 * 80.0 * 64.0 * 128.0 * 300.0);
        assert_eq!(one.read_bytes, 2.0 * 141.2e9 + 40.0 * 327_680.0);
        assert_eq!(one.write_bytes, 10.0 * 327_680.0);
        let four = mfu(p, 4, &w);
        assert_eq!([four.flops * 4.0, four.write_bytes * 4.0], [one.flops, one.write_bytes]);
    }

    #[test]
    fn the_mm_cache_hits_items_it_still_holds() {
        let model = "engine_extra-mm-test";
        note_media(model, &[1, 2, 1]);
        assert_eq!(mm_lookups(model), (3, 1), "a repeat within one prompt hits too");
        note_media(model, &(100..100 + MM_CACHE_ITEMS as u64).collect::<Vec<_>>());
        note_media(model, &[2, 1]);
        assert_eq!(mm_lookups(model), (5 + MM_CACHE_ITEMS as u64, 1), "both were evicted, oldest first");
    }

    #[test]
    fn requests_without_n_count_as_one_choice() {
        note_n("engine_extra-test", 3);
        note_n("engine_extra-test", 1);
        let h = n_histogram("engine_extra-test", 5);
        assert_eq!(h.cumulative().collect::<Vec<_>>(), [4, 4, 5, 5, 5, 5]);
        assert_eq!(h.sum(), 7.0);
    }
}
