//! Prometheus text for the engine dialects (vLLM, Dynamo frontend), rendered from per-model
//! statistics.

use std::{borrow::Cow, fmt::Write};

use super::{
    model_stats::{FixedHistogram, ModelStats},
    prometheus::KvCache,
};
use crate::{sim::engine::local::Gauges, state::kv::Counts};

/// A histogram family: name, help, and where each model keeps it.
type HistogramFamily = (&'static str, &'static str, fn(&ModelStats) -> &FixedHistogram);

const VLLM_HISTOGRAMS: [HistogramFamily; 10] = [
    ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", |m| &m.ttft),
    ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", |m| &m.itl),
    ("vllm:request_time_per_output_token_seconds", "Histogram of time_per_output_token_seconds per request.", |m| {
        &m.tpot
    }),
    ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", |m| &m.e2e),
    ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", |m| &m.queue),
    ("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", |m| &m.prefill),
    ("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", |m| &m.decode),
    ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", |m| &m.prompt_len),
    ("vllm:request_generation_tokens", "Number of generation tokens processed.", |m| &m.generation_len),
    ("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", |m| &m.max_tokens),
];

const DYNAMO_HISTOGRAMS: [HistogramFamily; 5] = [
    ("dynamo_frontend_time_to_first_token_seconds", "Time to first token in seconds.", |m| &m.ttft),
    ("dynamo_frontend_inter_token_latency_seconds", "Inter-token latency in seconds.", |m| &m.itl),
    ("dynamo_frontend_request_duration_seconds", "Duration of LLM requests.", |m| &m.e2e),
    ("dynamo_frontend_input_sequence_tokens", "Input sequence length in tokens.", |m| &m.prompt_len),
    ("dynamo_frontend_output_sequence_tokens", "Output sequence length in tokens.", |m| &m.generation_len),
];

/// Per-model samples of one family, labelled `label="<model>"`.
pub(super) struct PerModel<'a> {
    pub(super) out: &'a mut String,
    pub(super) models: &'a [(String, ModelStats)],
    pub(super) label: &'static str,
}

impl PerModel<'_> {
    /// A gauge or counter family with one sample per model.
    fn scalar(&mut self, name: &str, kind: &str, help: &str, value: impl Fn(&ModelStats) -> f64) {
        family(self.out, name, kind, help);
        for (model, m) in self.models {
            let _ = writeln!(self.out, "{name}{{{}=\"{}\"}} {}", self.label, escape(model), value(m));
        }
    }

    /// A family with one sample per model, from its statistics and (with `--engine`) the
    /// engines' state.
    fn engine_scalar(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        value: impl Fn(&ModelStats, Option<Gauges>) -> f64,
    ) {
        family(self.out, name, kind, help);
        for (model, m) in self.models {
            let v = value(m, crate::sim::engine::local::gauges(model));
            let _ = writeln!(self.out, "{name}{{{}=\"{}\"}} {v}", self.label, escape(model));
        }
    }

    /// A counter family with one sample per model, from the model's name and statistics.
    pub(super) fn counter(&mut self, name: &str, help: &str, value: impl Fn(&str, &ModelStats) -> u64) {
        family(self.out, name, "counter", help);
        for (model, m) in self.models {
            let _ = writeln!(self.out, "{name}{{{}=\"{}\"}} {}", self.label, escape(model), value(model, m));
        }
    }

    /// vLLM's `prompt_tokens_by_source`: each model's prompt tokens split into those computed
    /// and those found in the prefix cache (`cached` of them); none come from a KV transfer. As
    /// vLLM counts them, a cache hit also counts the last token recomputed after a whole-prompt
    /// hit (`recomputed`), so the sources can add up to more than the prompt tokens.
    fn by_source(&mut self, cached: impl Fn(&str, &ModelStats) -> (u64, u64)) {
        let name = "vllm:prompt_tokens_by_source_total";
        family(self.out, name, "counter", "Number of prompt tokens by source.");
        for (model, m) in self.models {
            let (hit, recomputed) = cached(model, m);
            let sources =
                [("local_compute", m.prompt_tokens.saturating_sub(hit)), ("local_cache_hit", hit + recomputed)];
            for (source, n) in sources.into_iter().chain([("external_kv_transfer", 0)]) {
                let _ = writeln!(self.out, "{name}{{{}=\"{}\",source=\"{source}\"}} {n}", self.label, escape(model));
            }
        }
    }

    /// Finished requests per model by reason (stop, length, abort), under each engine's names.
    fn finished(&mut self, name: &str, reasons: [&str; 3]) {
        family(self.out, name, "counter", "Count of successfully processed requests.");
        for (model, m) in self.models {
            for (reason, n) in reasons.iter().zip(m.finished) {
                let _ = writeln!(
                    self.out,
                    "{name}{{finished_reason=\"{reason}\",{}=\"{}\"}} {n}",
                    self.label,
                    escape(model)
                );
            }
        }
    }

    /// Histogram families with one series per model.
    fn histograms(&mut self, families: &[HistogramFamily]) {
        for (name, help, get) in families {
            family(self.out, name, "histogram", help);
            for (model, m) in self.models {
                histogram(self.out, name, &format!("{}=\"{}\"", self.label, escape(model)), get(m));
            }
        }
    }
}

/// The fraction of the KV cache in use: the pool's blocks held, or (without a pool) the running
/// requests' tokens over the capacity.
fn kv_usage(kv: KvCache<'_>, m: &ModelStats) -> f64 {
    match kv.pool {
        Some(pool) => pool.usage(),
        None => (m.kv_tokens.max(0) as f64 / kv.tokens.max(1) as f64).min(1.0),
    }
}

/// With `--engine`, each model's queue, prefill and decode histograms as its engine simulated
/// them (without, queue time is 0 and prefill is the time to first token).
fn with_engine_phases(models: &[(String, ModelStats)]) -> Cow<'_, [(String, ModelStats)]> {
    if !crate::sim::engine::local::active() {
        return Cow::Borrowed(models);
    }
    let swap = |(name, m): &(String, ModelStats)| {
        let mut m = m.clone();
        if let Some(p) = crate::sim::engine::local::phases(name) {
            (m.queue, m.prefill, m.decode) = (p.queue, p.prefill, p.decode);
        }
        (name.clone(), m)
    };
    Cow::Owned(models.iter().map(swap).collect())
}

/// With `--engine`, vLLM's `request_inference_time_seconds` (first scheduled to last token).
fn inference_time(out: &mut String, models: &[(String, ModelStats)]) {
    if !crate::sim::engine::local::active() {
        return;
    }
    let name = "vllm:request_inference_time_seconds";
    family(out, name, "histogram", "Histogram of time spent in RUNNING phase for request.");
    for (model, _) in models {
        if let Some(p) = crate::sim::engine::local::phases(model) {
            histogram(out, name, &format!("model_name=\"{}\"", escape(model)), &p.inference);
        }
    }
}

/// Renders the vLLM families with a `model_name` label, the KV cache's from its pool.
pub fn vllm(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>) {
    let models = &*with_engine_phases(models);
    let mut p = PerModel { out, models, label: "model_name" };
    p.engine_scalar("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", |m, e| {
        e.map_or(m.running, |e| e.running) as f64
    });
    p.engine_scalar("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", |_, e| {
        e.map_or(0.0, |e| e.waiting as f64)
    });
    p.scalar("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", |m| kv_usage(kv, m));
    p.scalar("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", |m| m.prompt_tokens as f64);
    p.scalar("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", |m| {
        m.generation_tokens as f64
    });
    p.engine_scalar(
        "vllm:num_preemptions_total",
        "counter",
        "Cumulative number of preemption from the engine.",
        |_, e| e.map_or(0.0, |e| e.preemptions as f64),
    );
    // vLLM ≥ 0.30: a 503 when the waiting queue is at `max_num_queued_reqs`, counted by reason.
    let name = "vllm:admission_rejections_total";
    if crate::sim::engine::local::active() {
        family(p.out, name, "counter", "Requests rejected at admission (HTTP 503) because the waiting queue was full.");
        for (model, _) in p.models {
            let n = crate::sim::engine::local::gauges(model).map_or(0, |e| e.rejections);
            let _ = writeln!(p.out, "{name}{{model_name=\"{}\",reason=\"max_num_queued_reqs\"}} {n}", escape(model));
        }
    }
    engine_steps(&mut p);
    // Per model: the pool's lookups (without a pool, every prompt token was queried and missed).
    let lookups = |name: &str, m: &ModelStats| match kv.pool {
        Some(pool) => pool.model(name),
        None => Counts { queried_tokens: m.prompt_tokens, ..Counts::default() },
    };
    p.counter(
        "vllm:prefix_cache_queries_total",
        "Prefix cache queries, in terms of number of queried tokens.",
        |name, m| lookups(name, m).queried_tokens,
    );
    p.counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", |name, m| {
        lookups(name, m).hit_tokens
    });
    if kv.pool.is_some() {
        p.counter("vllm:prompt_tokens_cached_total", "Number of cached prompt tokens (local + external).", |n, m| {
            lookups(n, m).hit_tokens
        });
        p.by_source(|n, m| (lookups(n, m).hit_tokens, lookups(n, m).recomputed_tokens));
    }
    p.finished("vllm:request_success_total", ["stop", "length", "abort"]);
    p.histograms(&VLLM_HISTOGRAMS);
    inference_time(p.out, models);
    family(p.out, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig.");
    let (caching, blocks) = match kv.pool {
        Some(pool) => (if pool.prefix_caching { "True" } else { "False" }, u64::from(pool.num_blocks)),
        None => ("False", kv.tokens / kv.block_size.max(1)),
    };
    let _ = writeln!(
        p.out,
        "vllm:cache_config_info{{block_size=\"{}\",cache_dtype=\"auto\",enable_prefix_caching=\"{caching}\",\
         num_gpu_blocks=\"{blocks}\"}} 1",
        kv.block_size
    );
    vllm_kv_pool(p.out, kv);
}

/// vLLM's families of the pool's blocks and each request's prefill KV: per model, the tokens
/// whose KV a request computed and those recomputed because the whole prompt but its last token
/// was cached; for the one pool (`engine="0"`, as the step histograms), the evicted blocks'
/// residency, every block observed (vLLM, with `--kv-cache-metrics`, samples 1% by default).
fn vllm_kv_pool(out: &mut String, kv: KvCache<'_>) {
    let Some(pool) = kv.pool else { return };
    let name = "vllm:prompt_tokens_recomputed_total";
    family(out, name, "counter", "Number of cached tokens recomputed for forward pass.");
    for (model, c) in &pool.models {
        let _ = writeln!(out, "{name}{{model_name=\"{}\"}} {}", escape(model), c.recomputed_tokens);
    }
    let name = "vllm:request_prefill_kv_computed_tokens";
    family(out, name, "histogram", "Histogram of new KV tokens computed during prefill (excluding cached tokens).");
    for (model, h) in &pool.computed {
        histogram(out, name, &format!("model_name=\"{}\"", escape(model)), h);
    }
    let sampled = "Sampled metrics (controlled by --kv-cache-metrics-sample).";
    let r = &pool.residency;
    let families = [
        (
            "vllm:kv_block_lifetime_seconds",
            "Histogram of KV cache block lifetime from allocation to eviction.",
            &r.lifetime,
        ),
        ("vllm:kv_block_idle_before_evict_seconds", "Histogram of idle time before KV cache block eviction.", &r.idle),
        (
            "vllm:kv_block_reuse_gap_seconds",
            "Histogram of time gaps between consecutive KV cache block accesses. Only the most recent accesses are \
             recorded (ring buffer).",
            &r.reuse_gap,
        ),
    ];
    for (name, help, h) in families {
        family(out, name, "histogram", &format!("{help} {sampled}"));
        histogram(out, name, "engine=\"0\"", h);
    }
}

/// With `--engine`, vLLM's families of the scheduler's state: why requests wait, and the tokens
/// each simulated step computed (one series for all the cores' engines: steps are not a model's).
fn engine_steps(p: &mut PerModel<'_>) {
    if !crate::sim::engine::local::active() {
        return;
    }
    // Every waiting request waits for room (the running set, the token budget or KV blocks):
    // the simulation defers none (vLLM defers on KV transfers and structured-output compiles).
    let name = "vllm:num_requests_waiting_by_reason";
    family(p.out, name, "gauge", "Number of requests waiting to be processed, by reason.");
    for (model, _) in p.models {
        let waiting = crate::sim::engine::local::gauges(model).map_or(0, |e| e.waiting);
        for (reason, n) in [("capacity", waiting), ("deferred", 0)] {
            let _ = writeln!(p.out, "{name}{{model_name=\"{}\",reason=\"{reason}\"}} {n}", escape(model));
        }
    }
    let name = "vllm:iteration_tokens_total";
    family(p.out, name, "histogram", "Histogram of number of tokens per engine_step.");
    histogram(p.out, name, "engine=\"0\"", &crate::sim::engine::local::iterations().tokens);
}

/// vLLM's `engine_sleep_state`: 1 for the state `/sleep` and `/wake_up` left the engine in.
pub fn vllm_sleep_state(out: &mut String, state: &str) {
    let name = "vllm:engine_sleep_state";
    family(out, name, "gauge", "Engine sleep state; awake, weights_offloaded or discard_all.");
    for s in ["awake", "weights_offloaded", "discard_all"] {
        let _ = writeln!(out, "{name}{{engine=\"0\",sleep_state=\"{s}\"}} {}", u8::from(s == state));
    }
}

/// Renders the vLLM families that vLLM 0.30 removed (`--compat-metrics`), for dashboards and
/// collectors written against older servers: the `gpu_`-prefixed KV-cache gauge and prefix-cache
/// counters, and the per-request TPOT histogram under its old name. Values as their successors'.
pub fn vllm_removed(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>) {
    let lookups = |name: &str, m: &ModelStats| match kv.pool {
        Some(pool) => pool.model(name),
        None => Counts { queried_tokens: m.prompt_tokens, ..Counts::default() },
    };
    let mut p = PerModel { out, models, label: "model_name" };
    p.scalar("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.", |m| {
        kv_usage(kv, m)
    });
    p.counter(
        "vllm:gpu_prefix_cache_queries_total",
        "GPU prefix cache queries, in terms of number of queried tokens.",
        |n, m| lookups(n, m).queried_tokens,
    );
    p.counter(
        "vllm:gpu_prefix_cache_hits_total",
        "GPU prefix cache hits, in terms of number of cached tokens.",
        |n, m| lookups(n, m).hit_tokens,
    );
    p.histograms(&[("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", |m| {
        &m.tpot
    })]);
}

/// Renders the Dynamo frontend families with a `model` label.
pub fn dynamo_frontend(out: &mut String, models: &[(String, ModelStats)]) {
    let mut p = PerModel { out, models, label: "model" };
    p.scalar("dynamo_frontend_requests_total", "counter", "Total LLM requests processed.", |m| {
        m.finished.iter().sum::<u64>() as f64
    });
    p.scalar("dynamo_frontend_inflight_requests", "gauge", "Number of inflight requests.", |m| m.running as f64);
    p.scalar("dynamo_frontend_queued_requests", "gauge", "Number of requests in HTTP processing queue.", |_| 0.0);
    p.scalar("dynamo_frontend_disconnected_clients", "gauge", "Number of disconnected clients.", |m| {
        m.finished[2] as f64
    });
    p.histograms(&DYNAMO_HISTOGRAMS);
}

const SGLANG_HISTOGRAMS: [HistogramFamily; 3] = [
    ("sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.", |m| &m.ttft),
    ("sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds", |m| &m.e2e),
    ("sglang:queue_time_seconds", "Histogram of queueing time in seconds.", |m| &m.queue),
];

const TRTLLM_HISTOGRAMS: [HistogramFamily; 4] = [
    ("trtllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", |m| &m.ttft),
    ("trtllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", |m| &m.tpot),
    ("trtllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", |m| &m.e2e),
    ("trtllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", |m| &m.queue),
];

/// Renders the SGLang families with a `model_name` label.
pub fn sglang(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>) {
    let models = &*with_engine_phases(models);
    let lookups = |name: &str| kv.pool.map_or_else(Counts::default, |pool| pool.model(name));
    let mut p = PerModel { out, models, label: "model_name" };
    p.engine_scalar("sglang:num_running_reqs", "gauge", "The number of running requests.", |m, e| {
        e.map_or(m.running, |e| e.running) as f64
    });
    p.engine_scalar("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.", |_, e| {
        e.map_or(0.0, |e| e.waiting as f64)
    });
    p.scalar("sglang:num_used_tokens", "gauge", "The number of used tokens.", |m| m.kv_tokens.max(0) as f64);
    p.scalar("sglang:token_usage", "gauge", "The token usage.", |m| kv_usage(kv, m));
    family(p.out, "sglang:cache_hit_rate", "gauge", "The prefix cache hit rate.");
    for (model, _) in p.models {
        let c = lookups(model);
        let rate = if c.queried_tokens > 0 { c.hit_tokens as f64 / c.queried_tokens as f64 } else { 0.0 };
        let _ = writeln!(p.out, "sglang:cache_hit_rate{{model_name=\"{}\"}} {rate}", escape(model));
    }
    p.scalar("sglang:prompt_tokens_total", "counter", "Number of prefill tokens processed.", |m| {
        m.prompt_tokens as f64
    });
    p.scalar("sglang:generation_tokens_total", "counter", "Number of generation tokens processed.", |m| {
        m.generation_tokens as f64
    });
    p.counter("sglang:cached_tokens_total", "Number of cached prompt tokens.", |name, _| lookups(name).hit_tokens);
    p.scalar("sglang:num_requests_total", "counter", "Number of requests processed.", |m| m.requests as f64);
    p.scalar("sglang:num_retracted_reqs_total", "counter", "Number of retracted requests.", |_| 0.0);
    p.histograms(&SGLANG_HISTOGRAMS);
}

/// Renders the TRT-LLM families with a `model_name` label: the old `trtllm:` names, and with
/// the KV pool (a live server) the current `trtllm_` ones beside them.
pub fn trtllm(out: &mut String, models: &[(String, ModelStats)], kv: KvCache<'_>) {
    let models = &*with_engine_phases(models);
    let mut p = PerModel { out, models, label: "model_name" };
    p.finished("trtllm:request_success_total", ["stop", "length", "cancelled"]);
    p.histograms(&TRTLLM_HISTOGRAMS);
    if let Some(pool) = kv.pool {
        trtllm_current(&mut p, pool);
    }
}

/// TRT-LLM's current (`trtllm_`) names: requests per model from the engine (without one, the
/// requests generating), the KV pool's blocks, and with `--engine` the simulated step durations.
fn trtllm_current(p: &mut PerModel<'_>, pool: &crate::state::kv::KvSnapshot) {
    p.engine_scalar("trtllm_num_requests_running", "gauge", "Number of requests currently running.", |m, e| {
        e.map_or(m.running, |e| e.running) as f64
    });
    p.engine_scalar("trtllm_num_requests_waiting", "gauge", "Number of requests waiting to be scheduled.", |_, e| {
        e.map_or(0.0, |e| e.waiting as f64)
    });
    let (max, used) = (u64::from(pool.num_blocks), u64::from(pool.used_blocks));
    let gauges = [
        ("trtllm_kv_cache_utilization", "KV-cache utilization, 0 to 1.", pool.usage()),
        ("trtllm_kv_cache_max_blocks", "KV-cache blocks in the pool.", max as f64),
        ("trtllm_kv_cache_free_blocks", "KV-cache blocks free.", max.saturating_sub(used) as f64),
        ("trtllm_kv_cache_used_blocks", "KV-cache blocks in use.", used as f64),
        ("trtllm_kv_cache_tokens_per_block", "Tokens per KV-cache block.", pool.block_size as f64),
    ];
    for (name, help, v) in gauges {
        family(p.out, name, "gauge", help);
        let _ = writeln!(p.out, "{name} {v}");
    }
    if crate::sim::engine::local::active() {
        let name = "trtllm_iteration_latency_seconds";
        family(p.out, name, "histogram", "Histogram of engine iteration latency in seconds.");
        histogram(p.out, name, "engine=\"0\"", &crate::sim::engine::local::iterations().seconds);
    }
}

/// Appends a family's `# HELP` and `# TYPE` lines.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends one histogram's `_bucket`, `_sum` and `_count` samples.
pub fn histogram(out: &mut String, name: &str, labels: &str, h: &FixedHistogram) {
    let cumulative: Vec<u64> = h.cumulative().collect();
    for (bound, count) in h.bounds().iter().zip(&cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound:?}\"}} {count}");
    }
    let total = cumulative.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}\n{name}_sum{{{labels}}} {}", h.sum());
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

/// Escapes a label value (backslash, quote, newline).
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::model_stats::Finish;

    /// A model's statistics after one 10-token prompt that generated 5 tokens and hit its length.
    fn one_finished_request() -> ModelStats {
        let mut m = ModelStats::new(100);
        m.admit(10, Some(5));
        m.tokens(1, None);
        m.first_token(0.02);
        m.tokens(4, Some(0.005));
        m.finish(Finish::Length, 10, 5, Some(0.02), 0.045);
        m
    }

    #[test]
    fn renders_vllm_and_dynamo_families() {
        let mut m = one_finished_request();
        m.admit(7, None);
        let models = vec![("a\"b".to_owned(), m)];
        let mut out = String::new();
        let kv = KvCache { tokens: 1000, block_size: 16, pool: None };
        vllm(&mut out, &models, kv);
        dynamo_frontend(&mut out, &models);
        sglang(&mut out, &models, kv);
        trtllm(&mut out, &models, kv);
        for want in [
            "vllm:num_requests_running{model_name=\"a\\\"b\"} 1\n",
            "vllm:kv_cache_usage_perc{model_name=\"a\\\"b\"} 0.007\n",
            "vllm:prompt_tokens_total{model_name=\"a\\\"b\"} 17\n",
            "vllm:generation_tokens_total{model_name=\"a\\\"b\"} 5\n",
            "vllm:request_success_total{finished_reason=\"length\",model_name=\"a\\\"b\"} 1\n",
            "vllm:time_to_first_token_seconds_bucket{model_name=\"a\\\"b\",le=\"0.02\"} 1\n",
            "vllm:time_to_first_token_seconds_bucket{model_name=\"a\\\"b\",le=\"0.01\"} 0\n",
            "vllm:time_to_first_token_seconds_count{model_name=\"a\\\"b\"} 1\n",
            "vllm:request_prompt_tokens_bucket{model_name=\"a\\\"b\",le=\"10.0\"} 2\n",
            "vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"False\",num_gpu_blocks=\"62\"} 1\n",
            "dynamo_frontend_requests_total{model=\"a\\\"b\"} 1\n",
            "dynamo_frontend_inflight_requests{model=\"a\\\"b\"} 1\n",
            "sglang:num_running_reqs{model_name=\"a\\\"b\"} 1\n",
            "sglang:num_used_tokens{model_name=\"a\\\"b\"} 7\n",
            "trtllm:request_success_total{finished_reason=\"length\",model_name=\"a\\\"b\"} 1\n",
            "trtllm:time_to_first_token_seconds_count{model_name=\"a\\\"b\"} 1\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        assert!(!out.contains("vllm:time_per_output_token_seconds"), "removed in vLLM 0.30");
        assert!(!out.contains("vllm:gpu_"), "removed in vLLM 0.30");
    }

    #[test]
    fn removed_vllm_names_carry_their_successors_values() {
        let m = one_finished_request();
        let models = vec![("m".to_owned(), m)];
        let kv = KvCache { tokens: 1000, block_size: 16, pool: None };
        let (mut new, mut old) = (String::new(), String::new());
        vllm(&mut new, &models, kv);
        vllm_removed(&mut old, &models, kv);
        for (old_name, new_name) in [
            ("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"),
            ("vllm:gpu_prefix_cache_queries_total", "vllm:prefix_cache_queries_total"),
            ("vllm:gpu_prefix_cache_hits_total", "vllm:prefix_cache_hits_total"),
            ("vllm:time_per_output_token_seconds_sum", "vllm:request_time_per_output_token_seconds_sum"),
            (
                "vllm:time_per_output_token_seconds_bucket{model_name=\"m\",le=\"0.01\"}",
                "vllm:request_time_per_output_token_seconds_bucket{model_name=\"m\",le=\"0.01\"}",
            ),
        ] {
            let value = |text: &str, name: &str| {
                text.lines().find_map(|l| l.strip_prefix(name)?.rsplit(' ').next().map(str::to_owned))
            };
            assert!(value(&old, old_name).is_some(), "{old_name} in\n{old}");
            assert_eq!(value(&old, old_name), value(&new, new_name), "{old_name}");
        }
    }
}
