//! FakeAI's `/dynamo/metrics` (Prometheus, `fakeai_dynamo_*` families) and `/dynamo/metrics/json`,
//! fed by every generation, streaming or not. Latencies are the distributions since start;
//! throughput is over the 60-second window. No request ever waits for admission here, so the
//! queue is honestly empty; the batch is the requests generating at once; the cache section is
//! the prefix cache's (none without a pool).

use std::fmt::Write;

use serde_json::{Map, Value, json};

use super::{
    Counter, Snapshot,
    json::{all_fine, ms, timing_ms},
    model_stats::ModelStats,
    model_text::family,
    timing::Timing,
    window::Rates,
};
use crate::state::kv::{Counts, KvSnapshot};

/// Lookups over all models (none without a pool).
fn lookups(kv: Option<&KvSnapshot>) -> Counts {
    let models = kv.map_or(&[][..], |kv| &kv.models[..]);
    models.iter().fold(Counts::default(), |a, (_, c)| Counts {
        requests: a.requests + c.requests,
        hit_requests: a.hit_requests + c.hit_requests,
        queried_tokens: a.queried_tokens + c.queried_tokens,
        hit_tokens: a.hit_tokens + c.hit_tokens,
        recomputed_tokens: a.recomputed_tokens + c.recomputed_tokens,
    })
}

/// Percent of requests that found a cached prefix.
fn hit_rate_pct(c: Counts) -> f64 {
    if c.requests > 0 { 100.0 * c.hit_requests as f64 / c.requests as f64 } else { 0.0 }
}

/// Requests admitted, finished whole, and cut short, over all models.
fn outcomes(snap: &Snapshot) -> (u64, u64, u64) {
    let sum = |f: &dyn Fn(&ModelStats) -> u64| snap.models.iter().map(|(_, m)| f(m)).sum::<u64>();
    (sum(&|m| m.requests), sum(&|m| m.finished[0] + m.finished[1]), sum(&|m| m.finished[2]))
}

/// Requests generating right now: in the engines' batches with `--engine`, else every stream.
fn running(snap: &Snapshot) -> i64 {
    match crate::sim::engine::local::active() {
        true => crate::sim::engine::local::totals().running,
        false => snap.models.iter().map(|(_, m)| m.running).sum(),
    }
}

/// Requests waiting in the engines' queues (none without `--engine`).
fn waiting() -> i64 {
    crate::sim::engine::local::totals().waiting
}

/// Mean number of requests generating at once since start (Little's law: busy time / uptime).
fn average_batch(snap: &Snapshot, uptime_seconds: f64) -> f64 {
    all_fine(snap, |m| &m.fine.e2e).sum() / uptime_seconds.max(1e-3)
}

/// Prompt plus completion tokens per second over the window.
fn tokens_per_second(rates: &Rates) -> f64 {
    rates.counters[Counter::PromptTokens as usize] + rates.counters[Counter::CompletionTokens as usize]
}

/// `/dynamo/metrics`: FakeAI's `fakeai_dynamo_*` names, with help text and `_sum`/`_count`.
pub fn text(snap: &Snapshot, rates: &Rates, uptime_seconds: f64, kv: Option<&KvSnapshot>) -> String {
    let mut out = String::with_capacity(4096);
    let (total, ok, failed) = outcomes(snap);
    let counters = [
        ("fakeai_dynamo_requests_total", "Generation requests admitted.", total),
        ("fakeai_dynamo_requests_successful_total", "Generations whose every token was sent.", ok),
        ("fakeai_dynamo_requests_failed_total", "Generations cut short by the client.", failed),
    ];
    for (name, help, v) in counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {v}");
    }
    let summaries = [
        ("fakeai_dynamo_ttft_seconds", "Time to first token.", all_fine(snap, |m| &m.fine.ttft)),
        ("fakeai_dynamo_itl_seconds", "Inter-token latency.", all_fine(snap, |m| &m.fine.itl)),
        ("fakeai_dynamo_total_latency_seconds", "Arrival to last token.", all_fine(snap, |m| &m.fine.e2e)),
    ];
    for (name, help, t) in &summaries {
        family(&mut out, name, "summary", help);
        for q in [0.5, 0.9, 0.99] {
            let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {:.6}", t.quantile(q));
        }
        let _ = writeln!(out, "{name}_sum {:.6}\n{name}_count {}", t.sum(), t.count());
    }
    let gauges = [
        ("fakeai_dynamo_requests_per_second", "Generations completed per second over the last 60 s.", {
            rates.counters[Counter::GenerationsCompleted as usize]
        }),
        ("fakeai_dynamo_tokens_per_second", "Prompt and completion tokens per second over the last 60 s.", {
            tokens_per_second(rates)
        }),
        ("fakeai_dynamo_queue_depth", "Requests waiting for admission to the engine's batch.", waiting() as f64),
        ("fakeai_dynamo_queue_depth_max", "Most requests ever waiting for admission.", 0.0),
        ("fakeai_dynamo_batch_size", "Requests generating now.", running(snap) as f64),
        ("fakeai_dynamo_batch_size_avg", "Mean requests generating at once since start.", {
            average_batch(snap, uptime_seconds)
        }),
        ("fakeai_dynamo_kv_cache_hit_rate", "Percent of requests with a prefix-cache hit.", hit_rate_pct(lookups(kv))),
    ];
    for (name, help, v) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {v:.6}");
    }
    out
}

/// `/dynamo/metrics/json`: FakeAI's sections — summary, latency (ms), throughput, token_stats,
/// queue, batch, cache, disaggregation and per_model.
pub fn json(snap: &Snapshot, rates: &Rates, uptime_seconds: f64, kv: Option<&KvSnapshot>) -> Value {
    let cache = lookups(kv);
    let block_size = kv.map_or(1, |kv| kv.block_size);
    let (total, ok, failed) = outcomes(snap);
    let fine = |pick: fn(&ModelStats) -> &Timing| timing_ms(&all_fine(snap, pick));
    let rate = |c: Counter| rates.counters[c as usize];
    let ttft = fine(|m| &m.fine.ttft);
    let prompt = snap.models.iter().map(|(_, m)| m.prompt_tokens).sum::<u64>();
    let completion = snap.models.iter().map(|(_, m)| m.generation_tokens).sum::<u64>();
    let per_model: Map<String, Value> = snap
        .models
        .iter()
        .map(|(name, m)| {
            let finished = m.finished.iter().sum::<u64>();
            let v = json!({
                "requests": m.requests,
                "running": m.running,
                "avg_ttft_ms": ms(m.fine.ttft.mean()),
                "avg_itl_ms": ms(m.fine.itl.mean()),
                "input_tokens": m.prompt_tokens,
                "output_tokens": m.generation_tokens,
                "cache_hit_rate": hit_rate_pct(kv.map_or_else(Counts::default, |kv| kv.model(name))),
                "success_rate": if finished > 0 { (m.finished[0] + m.finished[1]) as f64 / finished as f64 } else { 0.0 },
            });
            (name.clone(), v)
        })
        .collect();
    json!({
        "summary": {
            "total_requests": total,
            "successful_requests": ok,
            "failed_requests": failed,
            "active_requests": running(snap),
        },
        "latency": {
            "ttft": ttft.clone(),
            "itl": fine(|m| &m.fine.itl),
            "total": fine(|m| &m.fine.e2e),
            "queue": timing_ms(&Timing::default()),
            "prefill": ttft,
            "decode": fine(|m| &m.fine.decode),
        },
        "throughput": {
            "requests_per_second": rate(Counter::GenerationsCompleted),
            "tokens_per_second": tokens_per_second(rates),
            "input_tokens_per_second": rate(Counter::PromptTokens),
            "output_tokens_per_second": rate(Counter::CompletionTokens),
        },
        "token_stats": {
            "total_input_tokens": prompt,
            "total_output_tokens": completion,
            "total_cached_tokens": cache.hit_tokens,
        },
        "queue": {"current_depth": waiting(), "max_depth": 0, "avg_depth": 0.0},
        "batch": {"current_size": running(snap), "avg_size": average_batch(snap, uptime_seconds)},
        "cache": {
            "hit_rate": hit_rate_pct(cache),
            "avg_overlap_score": if cache.queried_tokens > 0 { cache.hit_tokens as f64 / cache.queried_tokens as f64 } else { 0.0 },
            "avg_blocks_matched": if cache.requests > 0 { cache.hit_tokens as f64 / block_size as f64 / cache.requests as f64 } else { 0.0 },
            "total_cached_tokens": cache.hit_tokens,
        },
        "disaggregation": {
            "prefill_requests": 0,
            "decode_requests": 0,
            "prefill_ratio": 0.0,
            "decode_ratio": 0.0,
            "kv_transfer_bytes": 0,
            "kv_transfer_time_ms": 0.0,
        },
        "per_model": per_model,
    })
}
