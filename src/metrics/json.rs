//! FakeAI's JSON and CSV views of a merged snapshot: `/metrics/json`, `/metrics?format=json`,
//! `/metrics/csv`, `/health/detailed`, `/metrics/by-model[/{id}]` and `/metrics/costs`. Rates are
//! over FakeAI's 60-second sliding window; streaming requests count everywhere.

use serde_json::{Map, Value, json};

use super::{
    Counter, ENDPOINTS, STATUSES, Snapshot,
    engine::{FixedHistogram, ModelStats},
    window::Rates,
};

/// Latency summary of a histogram in milliseconds.
fn latency_ms(h: &FixedHistogram) -> Value {
    let ms = |s: f64| (s * 1e6).round() / 1e3;
    json!({
        "count": h.count(),
        "avg": ms(h.mean()),
        "p50": ms(h.quantile(0.5)),
        "p90": ms(h.quantile(0.9)),
        "p95": ms(h.quantile(0.95)),
        "p99": ms(h.quantile(0.99)),
    })
}

/// One histogram merged over every model.
pub(super) fn all_models(snap: &Snapshot, pick: impl Fn(&ModelStats) -> &FixedHistogram) -> FixedHistogram {
    let mut merged: Option<FixedHistogram> = None;
    for (_, m) in &snap.models {
        match &mut merged {
            Some(h) => h.merge(pick(m)),
            None => merged = Some(pick(m).clone()),
        }
    }
    merged.unwrap_or_else(|| FixedHistogram::new(&[]))
}

/// One endpoint's responses and errors, in total and per second over the window.
struct EndpointCounts {
    path: &'static str,
    total: u64,
    errors: u64,
    rate: f64,
    error_rate: f64,
}

/// The endpoints with traffic.
fn by_endpoint(snap: &Snapshot, rates: &Rates) -> Vec<EndpointCounts> {
    let width = STATUSES.len() + 1;
    let error_cells =
        |e: usize| (0..width).filter(move |&s| STATUSES.get(s).is_none_or(|&st| st >= 400)).map(move |s| e * width + s);
    ENDPOINTS
        .iter()
        .enumerate()
        .map(|(e, &path)| {
            let cells = e * width..(e + 1) * width;
            let total = snap.responses[cells.clone()].iter().sum();
            let rate = rates.responses[cells].iter().sum();
            let errors = error_cells(e).map(|i| snap.responses[i]).sum();
            let error_rate = error_cells(e).map(|i| rates.responses[i]).sum();
            EndpointCounts { path, total, errors, rate, error_rate }
        })
        .filter(|e| e.total > 0)
        .collect()
}

/// Per endpoint with traffic: (path, request rate, error rate) over the window.
pub fn endpoint_rates(snap: &Snapshot, rates: &Rates) -> Vec<(&'static str, f64, f64)> {
    by_endpoint(snap, rates).into_iter().map(|e| (e.path, e.rate, e.error_rate)).collect()
}

/// FakeAI's `/metrics` JSON: per-endpoint `requests`/`responses`/`errors` rates, `tokens`,
/// `latency`, `streaming_stats` (with TTFT and tokens/s), plus totals, connections and the
/// server's own emit lateness.
pub fn render(snap: &Snapshot, rates: &Rates) -> Value {
    let endpoints = by_endpoint(snap, rates);
    let section = |f: &dyn Fn(&EndpointCounts) -> Value| -> Value {
        Value::Object(endpoints.iter().map(|e| (e.path.to_owned(), f(e))).collect::<Map<_, _>>())
    };
    let h = &snap.lateness;
    let lateness = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 };
    let e2e = all_models(snap, |m| &m.e2e);
    let ttft = all_models(snap, |m| &m.ttft);
    let tpot = all_models(snap, |m| &m.tpot);
    let tokens_per_second = if tpot.count() == 0 {
        json!({"avg": 0.0, "p50": 0.0, "p99": 0.0})
    } else {
        let per_s = |s: f64| if s > 0.0 { (1.0 / s * 10.0).round() / 10.0 } else { 0.0 };
        json!({"avg": per_s(tpot.mean()), "p50": per_s(tpot.quantile(0.5)), "p99": per_s(tpot.quantile(0.99))})
    };
    let token = |c: Counter| json!({"total": snap.get(c), "rate": rates.counters[c as usize]});
    json!({
        "window_seconds": rates.seconds,
        "requests": section(&|e| json!({"rate": e.rate, "total": e.total})),
        "responses": section(&|e| json!({"rate": e.rate - e.error_rate, "total": e.total - e.errors})),
        "errors": section(&|e| json!({"rate": e.error_rate, "total": e.errors})),
        "tokens": {
            "prompt": token(Counter::PromptTokens),
            "completion": token(Counter::CompletionTokens),
        },
        "latency": latency_ms(&e2e),
        "totals": {
            "requests": snap.get(Counter::Requests),
            "errors": snap.get(Counter::ErrorResponses),
            "generations_completed": snap.get(Counter::GenerationsCompleted),
            "bytes_in": snap.get(Counter::BytesIn),
            "bytes_out": snap.get(Counter::BytesOut),
        },
        "connections": {
            "accepted": snap.get(Counter::ConnectionsAccepted),
            "refused": snap.get(Counter::ConnectionsRefused),
            "open": snap.get(Counter::ConnectionsOpen),
        },
        "streaming_stats": {
            "active_streams": snap.get(Counter::StreamsActive),
            "completed_streams": snap.get(Counter::GenerationsCompleted),
            "failed_streams": snap.get(Counter::StreamsCancelled),
            "cancelled_streams": snap.get(Counter::StreamsCancelled),
            "sse_events": snap.get(Counter::SseEvents),
            "ttft": latency_ms(&ttft),
            "tokens_per_second": tokens_per_second,
        },
        "emit_lateness_ms": {
            "count": h.len(),
            "p50": lateness(0.5),
            "p90": lateness(0.9),
            "p99": lateness(0.99),
            "max": if h.is_empty() { 0.0 } else { h.max() as f64 / 1e6 },
        },
    })
}

/// FakeAI's `/metrics/csv`: one row per endpoint and kind, latencies in ms (generation
/// latency, the same for every generation endpoint: it is kept per model, not per endpoint).
pub fn csv(snap: &Snapshot, rates: &Rates) -> String {
    let e2e = all_models(snap, |m| &m.e2e);
    let ms = |s: f64| s * 1e3;
    let mut out = String::from(
        "metric_type,endpoint,rate,avg_latency,min_latency,max_latency,p50_latency,p90_latency,p99_latency\n",
    );
    for e in by_endpoint(snap, rates) {
        let path = e.path;
        for (kind, r) in [("requests", e.rate), ("responses", e.rate - e.error_rate), ("errors", e.error_rate)] {
            out.push_str(&format!(
                "{kind},{path},{r:.6},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
                ms(e2e.mean()),
                ms(e2e.quantile(0.0)),
                ms(e2e.quantile(1.0)),
                ms(e2e.quantile(0.5)),
                ms(e2e.quantile(0.9)),
                ms(e2e.quantile(0.99)),
            ));
        }
    }
    out
}

/// FakeAI's `/health/detailed`: `healthy`, `degraded` (> 5 % errors in the window) or
/// `unhealthy` (> 10 %), with the process uptime.
pub fn health_detailed(snap: &Snapshot, rates: &Rates, uptime_seconds: f64, timestamp: &str) -> Value {
    let requests = rates.counters[Counter::Requests as usize];
    let errors = rates.counters[Counter::ErrorResponses as usize];
    let error_pct = if requests > 0.0 { errors / requests * 100.0 } else { 0.0 };
    let status = match error_pct {
        p if p > 10.0 => "unhealthy",
        p if p > 5.0 => "degraded",
        _ => "healthy",
    };
    let e2e = all_models(snap, |m| &m.e2e);
    let endpoints: Map<String, Value> = by_endpoint(snap, rates)
        .into_iter()
        .map(|e| {
            (
                e.path.to_owned(),
                json!({"requests_per_second": e.rate, "latency_p50_ms": e2e.quantile(0.5) * 1e3,
                "latency_p99_ms": e2e.quantile(0.99) * 1e3}),
            )
        })
        .collect();
    json!({
        "status": status,
        "timestamp": timestamp,
        "uptime_seconds": uptime_seconds,
        "metrics_summary": {
            "total_requests_per_second": requests,
            "total_errors_per_second": errors,
            "error_rate_percentage": error_pct,
            "average_latency_seconds": e2e.mean(),
            "active_streams": snap.get(Counter::StreamsActive),
        },
        "endpoints": endpoints,
    })
}

/// Prices per million tokens: (input, output) for a model.
pub type PriceOf<'a> = &'a dyn Fn(&str) -> (f64, f64);

/// What `name`'s tokens so far cost at its prices, in USD.
pub(super) fn cost_usd(name: &str, m: &ModelStats, price: PriceOf<'_>) -> f64 {
    let (input, output) = price(name);
    (m.prompt_tokens as f64 * input + m.generation_tokens as f64 * output) / 1e6
}

/// One model's FakeAI statistics (`/metrics/by-model/{id}`).
pub fn model_json(name: &str, m: &ModelStats, price: PriceOf<'_>) -> Value {
    let cost = cost_usd(name, m, price);
    let finished: u64 = m.finished.iter().sum();
    let aborted = m.finished[2];
    json!({
        "model": name,
        "request_count": m.requests,
        "running": m.running,
        "tokens": {"prompt": m.prompt_tokens, "completion": m.generation_tokens,
            "total": m.prompt_tokens + m.generation_tokens},
        "latency": latency_ms(&m.e2e),
        "ttft": latency_ms(&m.ttft),
        "itl": latency_ms(&m.itl),
        "errors": {"count": aborted, "rate_percent": if finished > 0 { aborted as f64 / finished as f64 * 100.0 } else { 0.0 }},
        "cost": {"total_usd": cost, "per_request_usd": if m.requests > 0 { cost / m.requests as f64 } else { 0.0 }},
    })
}

/// `/metrics/by-model`: every model's statistics by name.
pub fn by_model(snap: &Snapshot, price: PriceOf<'_>) -> Value {
    Value::Object(snap.models.iter().map(|(name, m)| (name.clone(), model_json(name, m, price))).collect())
}

/// `/metrics/costs`: `{costs_by_model, total_cost_usd}` from the models' token prices.
pub fn costs(snap: &Snapshot, price: PriceOf<'_>) -> Value {
    let costs: Map<String, Value> =
        snap.models.iter().map(|(name, m)| (name.clone(), json!(cost_usd(name, m, price)))).collect();
    let total: f64 = costs.values().filter_map(Value::as_f64).sum();
    json!({"costs_by_model": costs, "total_cost_usd": total})
}
