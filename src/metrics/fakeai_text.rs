//! FakeAI's own Prometheus paths, with its metric names: `/metrics/prometheus` (60-second
//! window rates per endpoint) and `/metrics/by-model/prometheus` (per-model totals).

use std::fmt::Write;

use super::{
    Counter, Snapshot,
    json::{PriceOf, cost_usd},
    model_text::{escape, family},
    timing::Timing,
    window::Rates,
};

const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];

/// Appends a summary of `t` (quantiles, `_sum`, `_count`) in seconds times `scale`.
fn summary(out: &mut String, name: &str, labels: &str, t: &Timing, scale: f64) {
    for q in QUANTILES {
        let _ = writeln!(out, "{name}{{{labels},quantile=\"{q}\"}} {}", t.quantile(q) * scale);
    }
    let sum = t.sum() * scale;
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {}", t.count());
}

/// `/metrics/prometheus`: FakeAI's rate gauges per endpoint, its latency summary and stream gauges.
pub fn rates(snap: &Snapshot, rates: &Rates) -> String {
    let mut out = String::new();
    let endpoints = super::json::endpoint_rates(snap, rates);
    let per_endpoint = |out: &mut String, name: &str, help: &str, value: &dyn Fn(f64, f64) -> f64| {
        family(out, name, "gauge", help);
        for (path, rate, errors) in &endpoints {
            let _ = writeln!(out, "{name}{{endpoint=\"{}\"}} {:.6}", escape(path), value(*rate, *errors));
        }
    };
    per_endpoint(&mut out, "fakeai_requests_per_second", "Request rate per endpoint over the last 60 s", &|r, _| r);
    per_endpoint(
        &mut out,
        "fakeai_responses_per_second",
        "Successful response rate per endpoint over the last 60 s",
        &|r, e| r - e,
    );
    per_endpoint(&mut out, "fakeai_errors_per_second", "Error rate per endpoint over the last 60 s", &|_, e| e);
    family(&mut out, "fakeai_tokens_per_second", "gauge", "Completion tokens sent per second over the last 60 s");
    let _ = writeln!(out, "fakeai_tokens_per_second {:.6}", rates.counters[Counter::CompletionTokens as usize]);
    family(&mut out, "fakeai_latency_seconds", "summary", "Response latency per endpoint, arrival to last byte");
    for (endpoint, t) in &snap.latency {
        summary(&mut out, "fakeai_latency_seconds", &format!("endpoint=\"{}\"", snap.labels[*endpoint]), t, 1.0);
    }
    let gauges = [
        ("fakeai_active_streams", "Number of currently active streams", Counter::StreamsActive),
        ("fakeai_completed_streams", "Total completed generations, streaming or not", Counter::GenerationsCompleted),
        ("fakeai_failed_streams", "Total streams cut short by the client", Counter::StreamsCancelled),
    ];
    for (name, help, counter) in gauges {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {}", snap.get(counter));
    }
    out
}

/// `/metrics/by-model/prometheus`: requests, tokens, latency, errors and cost per model.
pub fn by_model(snap: &Snapshot, price: PriceOf<'_>) -> String {
    let mut out = String::new();
    let models: Vec<(String, &super::model_stats::ModelStats)> =
        snap.models.iter().map(|(n, m)| (format!("model=\"{}\"", escape(n)), m)).collect();
    family(&mut out, "fakeai_model_requests_total", "counter", "Requests per model");
    for (labels, m) in &models {
        let _ = writeln!(out, "fakeai_model_requests_total{{{labels}}} {}", m.requests);
    }
    family(&mut out, "fakeai_model_tokens_total", "counter", "Tokens per model by type");
    for (labels, m) in &models {
        let _ = writeln!(out, "fakeai_model_tokens_total{{{labels},type=\"prompt\"}} {}", m.prompt_tokens);
        let _ = writeln!(out, "fakeai_model_tokens_total{{{labels},type=\"completion\"}} {}", m.generation_tokens);
    }
    family(&mut out, "fakeai_model_latency_milliseconds", "summary", "Generation latency per model");
    for (labels, m) in &models {
        summary(&mut out, "fakeai_model_latency_milliseconds", labels, &m.fine.e2e, 1e3);
    }
    family(&mut out, "fakeai_model_errors_total", "counter", "Generations per model aborted by the client");
    for (labels, m) in &models {
        let _ = writeln!(out, "fakeai_model_errors_total{{{labels}}} {}", m.finished[2]);
    }
    family(&mut out, "fakeai_model_cost_usd_total", "counter", "Simulated cost per model from its token prices");
    for ((labels, m), (name, _)) in models.iter().zip(&snap.models) {
        let _ = writeln!(out, "fakeai_model_cost_usd_total{{{labels}}} {}", cost_usd(name, m, price));
    }
    out
}
