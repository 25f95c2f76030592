//! FakeAI's JSON and CSV views of a merged snapshot: `/metrics/json`, `/metrics?format=json`,
//! `/metrics/csv`, `/health/detailed`, `/metrics/by-model[/{id}]` and `/metrics/costs`. Rates are
//! over FakeAI's 60-second sliding window; streaming requests count everywhere.

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::{Counter, ERROR_TYPES, STATUSES, Snapshot, model_stats::ModelStats, timing::Timing, window::Rates};

/// Seconds to milliseconds, rounded to the microsecond.
pub(super) fn ms(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

/// A latency distribution in milliseconds: count, avg, min, max, p50, p90, p95, p99.
pub fn timing_ms(t: &Timing) -> Value {
    json!({
        "count": t.count(),
        "avg": ms(t.mean()),
        "min": ms(t.min()),
        "max": ms(t.max()),
        "p50": ms(t.quantile(0.5)),
        "p90": ms(t.quantile(0.9)),
        "p95": ms(t.quantile(0.95)),
        "p99": ms(t.quantile(0.99)),
    })
}

/// One fine timing merged over every model.
pub(super) fn all_fine(snap: &Snapshot, pick: impl Fn(&ModelStats) -> &Timing) -> Timing {
    let mut merged = Timing::default();
    for (_, m) in &snap.models {
        merged.merge(pick(m));
    }
    merged
}

/// One endpoint's responses and errors, in total and per second over the window.
struct EndpointCounts<'a> {
    path: &'static str,
    latency: Option<&'a Timing>,
    total: u64,
    errors: u64,
    rate: f64,
    error_rate: f64,
}

/// The endpoints with traffic.
fn by_endpoint<'a>(snap: &'a Snapshot, rates: &Rates) -> Vec<EndpointCounts<'a>> {
    let width = STATUSES.len() + 1;
    let error_cells =
        |e: usize| (0..width).filter(move |&s| STATUSES.get(s).is_none_or(|&st| st >= 400)).map(move |s| e * width + s);
    snap.labels
        .iter()
        .enumerate()
        .map(|(e, &path)| {
            let cells = e * width..(e + 1) * width;
            let total = snap.responses[cells.clone()].iter().sum();
            let rate = rates.responses[cells].iter().sum();
            let errors = error_cells(e).map(|i| snap.responses[i]).sum();
            let error_rate = error_cells(e).map(|i| rates.responses[i]).sum();
            EndpointCounts { path, latency: snap.endpoint_latency(e), total, errors, rate, error_rate }
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
/// server's own emit lateness and request read delay.
pub fn render(snap: &Snapshot, rates: &Rates) -> Value {
    let endpoints = by_endpoint(snap, rates);
    let section = |f: &dyn Fn(&EndpointCounts) -> Value| -> Value {
        Value::Object(endpoints.iter().map(|e| (e.path.to_owned(), f(e))).collect::<Map<_, _>>())
    };
    let ttft = all_fine(snap, |m| &m.fine.ttft);
    let itl = all_fine(snap, |m| &m.fine.itl);
    let tpot = all_fine(snap, |m| &m.fine.tpot);
    let latency = |e: &EndpointCounts| e.latency.map_or_else(|| timing_ms(&Timing::default()), timing_ms);
    let tokens_per_second = if tpot.count() == 0 {
        json!({"avg": 0.0, "p50": 0.0, "p99": 0.0})
    } else {
        let per_s = |s: f64| if s > 0.0 { (1.0 / s * 10.0).round() / 10.0 } else { 0.0 };
        json!({"avg": per_s(tpot.mean()), "p50": per_s(tpot.quantile(0.5)), "p99": per_s(tpot.quantile(0.99))})
    };
    let token = |c: Counter| json!({"total": snap.get(c), "rate": rates.counters[c as usize]});
    json!({
        "window_seconds": rates.seconds,
        "requests": section(&|e| {
            let mut v = latency(e);
            v["rate"] = json!(e.rate);
            v["total"] = json!(e.total);
            v
        }),
        "responses": section(&|e| json!({"rate": e.rate - e.error_rate, "total": e.total - e.errors})),
        "errors": section(&|e| json!({"rate": e.error_rate, "total": e.errors})),
        "errors_by_type": errors_by_type(snap),
        "tokens": {
            "prompt": token(Counter::PromptTokens),
            "completion": token(Counter::CompletionTokens),
        },
        "latency": section(&latency),
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
            "ttft": timing_ms(&ttft),
            "itl": timing_ms(&itl),
            "tokens_per_second": tokens_per_second,
        },
        "emit_lateness_ms": delay_ms(&snap.lateness),
        "read_delay_ms": delay_ms(&snap.read_delay),
    })
}

/// Count and quantiles in ms of a nanosecond delay histogram.
fn delay_ms(h: &Histogram<u64>) -> Value {
    let q = |q| quantile_ms(h, q);
    let max = if h.is_empty() { 0.0 } else { h.max() as f64 / 1e6 };
    json!({"count": h.len(), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": max})
}

/// Quantile `q` in ms of a nanosecond delay histogram; 0 when empty.
pub(super) fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 }
}

/// Error responses by OpenAI error type, types seen only.
pub fn errors_by_type(snap: &Snapshot) -> Value {
    let seen = ERROR_TYPES.iter().zip(snap.errors).filter(|(_, n)| *n > 0);
    Value::Object(seen.map(|(t, n)| ((*t).to_owned(), json!(n))).collect())
}

/// FakeAI's `/metrics/csv`: one row per endpoint and kind, latencies in ms from arrival to
/// the response's last byte.
pub fn csv(snap: &Snapshot, rates: &Rates) -> String {
    let mut out = String::from(
        "metric_type,endpoint,rate,avg_latency,min_latency,max_latency,p50_latency,p90_latency,p99_latency\n",
    );
    let empty = Timing::default();
    for e in by_endpoint(snap, rates) {
        let (path, t) = (e.path, e.latency.unwrap_or(&empty));
        for (kind, r) in [("requests", e.rate), ("responses", e.rate - e.error_rate), ("errors", e.error_rate)] {
            out.push_str(&format!(
                "{kind},{path},{r:.6},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
                ms(t.mean()),
                ms(t.min()),
                ms(t.max()),
                ms(t.quantile(0.5)),
                ms(t.quantile(0.9)),
                ms(t.quantile(0.99)),
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
    let e2e = all_fine(snap, |m| &m.fine.e2e);
    let endpoints: Map<String, Value> = by_endpoint(snap, rates)
        .into_iter()
        .map(|e| {
            let q = |q: f64| e.latency.map_or(0.0, |t| ms(t.quantile(q)));
            let v = json!({"requests_per_second": e.rate, "latency_p50_ms": q(0.5), "latency_p99_ms": q(0.99)});
            (e.path.to_owned(), v)
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
pub fn model_json(labels: &[&str], name: &str, m: &ModelStats, price: PriceOf<'_>) -> Value {
    let cost = cost_usd(name, m, price);
    let finished: u64 = m.finished.iter().sum();
    let aborted = m.finished[2];
    let mut latency = timing_ms(&m.fine.e2e);
    latency["avg_ms"] = latency["avg"].clone();
    json!({
        "model": name,
        "request_count": m.requests,
        "running": m.running,
        "tokens": {"prompt": m.prompt_tokens, "completion": m.generation_tokens,
            "total": m.prompt_tokens + m.generation_tokens},
        "latency": latency,
        "ttft": timing_ms(&m.fine.ttft),
        "itl": timing_ms(&m.fine.itl),
        "endpoints": endpoint_counts(labels, &m.endpoints),
        "users": user_counts(m),
        "uptime_seconds": m.first_last.1 - m.first_last.0,
        "first_request": m.first_last.0,
        "last_request": m.first_last.1,
        "errors": {"count": aborted, "rate_percent": if finished > 0 { aborted as f64 / finished as f64 * 100.0 } else { 0.0 }},
        "cost": {"total_usd": cost, "per_request_usd": if m.requests > 0 { cost / m.requests as f64 } else { 0.0 }},
    })
}

/// Requests by route, routes with requests only.
fn endpoint_counts(labels: &[&str], counts: &[u64]) -> Value {
    let seen = labels.iter().zip(counts).filter(|(_, n)| **n > 0);
    Value::Object(seen.map(|(e, n)| ((*e).to_owned(), json!(n))).collect())
}

/// Requests by `user` field.
fn user_counts(m: &ModelStats) -> Value {
    Value::Object(m.users.iter().map(|(u, n)| (u.clone(), json!(n))).collect())
}

/// `/metrics/by-model`: every model's statistics by name.
pub fn by_model(snap: &Snapshot, price: PriceOf<'_>) -> Value {
    Value::Object(snap.models.iter().map(|(name, m)| (name.clone(), model_json(snap.labels, name, m, price))).collect())
}

/// `/metrics/costs`: `{costs_by_model, total_cost_usd}` from the models' token prices.
pub fn costs(snap: &Snapshot, price: PriceOf<'_>) -> Value {
    let costs: Map<String, Value> =
        snap.models.iter().map(|(name, m)| (name.clone(), json!(cost_usd(name, m, price)))).collect();
    let total: f64 = costs.values().filter_map(Value::as_f64).sum();
    json!({"costs_by_model": costs, "total_cost_usd": total})
}

/// What `/metrics/ranking` can rank models by.
pub const RANKING_METRICS: &[&str] = &["request_count", "latency", "error_rate", "cost", "tokens"];

/// `/metrics/ranking`: a JSON list, as FakeAI answers, of the top `limit` models by `metric`
/// (one of [`RANKING_METRICS`]), highest first, each as in `/metrics/by-model/{id}`.
pub fn ranking(snap: &Snapshot, price: PriceOf<'_>, metric: &str, limit: usize) -> Value {
    let mut models: Vec<Value> = snap.models.iter().map(|(name, m)| model_json(snap.labels, name, m, price)).collect();
    let key = |v: &Value| -> f64 {
        let at = match metric {
            "latency" => "/latency/avg",
            "error_rate" => "/errors/rate_percent",
            "cost" => "/cost/total_usd",
            "tokens" => "/tokens/total",
            _ => "/request_count",
        };
        v.pointer(at).and_then(Value::as_f64).unwrap_or(0.0)
    };
    models.sort_by(|a, b| key(b).total_cmp(&key(a)));
    models.truncate(limit);
    Value::Array(models)
}

/// FakeAI's `/metrics/by-model/{id}` answer for a model with no requests: a 200 saying so.
pub fn model_not_found(name: &str) -> Value {
    json!({"model": name, "request_count": 0, "error": "Model not found"})
}

/// FakeAI's `/metrics/compare` answer when either model has no requests: a 200 saying so.
pub fn compare_not_found(name1: &str, name2: &str) -> Value {
    json!({"error": "One or both models not found", "model1": name1, "model2": name2})
}

/// `/metrics/compare`: two models side by side with deltas (model2 − model1) and winners.
pub fn compare(
    labels: &[&str],
    (name1, m1): (&str, &ModelStats),
    (name2, m2): (&str, &ModelStats),
    price: PriceOf<'_>,
) -> Value {
    let (s1, s2) = (model_json(labels, name1, m1, price), model_json(labels, name2, m2, price));
    let at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let row = |p: &str| {
        let (a, b) = (at(&s1, p), at(&s2, p));
        let percent = if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
        json!({"model1": s1.pointer(p), "model2": s2.pointer(p), "delta": b - a, "percent_change": percent})
    };
    let lower = |p: &str| if at(&s1, p) < at(&s2, p) { name1 } else { name2 };
    json!({
        "model1": name1,
        "model2": name2,
        "comparison": {
            "request_count": row("/request_count"),
            "avg_latency_ms": row("/latency/avg"),
            "avg_ttft_ms": row("/ttft/avg"),
            "avg_itl_ms": row("/itl/avg"),
            "error_rate_percent": row("/errors/rate_percent"),
            "total_cost_usd": row("/cost/total_usd"),
            "cost_per_request_usd": row("/cost/per_request_usd"),
            "total_tokens": row("/tokens/total"),
        },
        "winner": {
            "latency": lower("/latency/avg"),
            "error_rate": lower("/errors/rate_percent"),
            "cost_efficiency": lower("/cost/per_request_usd"),
        },
    })
}

/// `/metrics/multi-dimensional`: requests per model by endpoint, by `user`, and by hour over
/// the last 24 hours (hours start at unix multiples of 3600).
pub fn multi_dimensional(snap: &Snapshot, now_unix: u64) -> Value {
    let since = (now_unix / 3600 * 3600).saturating_sub(24 * 3600);
    let per_model = |f: &dyn Fn(&ModelStats) -> Value| -> Value {
        Value::Object(snap.models.iter().map(|(name, m)| (name.clone(), f(m))).collect())
    };
    json!({
        "model_by_endpoint": per_model(&|m| endpoint_counts(snap.labels, &m.endpoints)),
        "model_by_user": per_model(&user_counts),
        "model_by_time_24h": per_model(&|m| {
            let recent = m.hours.iter().filter(|(h, _)| *h >= since);
            Value::Array(recent.map(|(h, n)| json!({"timestamp": h, "count": n})).collect())
        }),
    })
}
