//! Metrics in every dialect (Prometheus for vLLM, SGLang, TRT-LLM, Dynamo; OpenMetrics on
//! request), FakeAI's JSON and CSV views, `/health/detailed`, the dashboard and the live
//! metrics WebSocket.

use std::time::Instant;

use super::{Body, Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    metrics::{
        self, Snapshot,
        prometheus::{self, Dialect, KvCache},
        window::{Rates, Totals},
    },
    router::{BodyKind, Route, Upgrade},
};

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const METRICS: &str = "/metrics";

/// The routes: every metrics path counts under one label.
pub static ROUTES: &[Route] = &[
    Route::get("/metrics", all).scrape().label(METRICS),
    Route::get("/vllm/metrics", vllm).scrape().label(METRICS),
    Route::get("/dynamo_frontend/metrics", dynamo_frontend).scrape().label(METRICS),
    Route::get("/sglang/metrics", sglang).scrape().label(METRICS),
    Route::get("/trtllm/metrics", trtllm).scrape().label(METRICS),
    Route::get("/prometheus/metrics", trtllm).scrape().label(METRICS),
    Route::get("/metrics/json", json).scrape().label(METRICS),
    Route::get("/metrics/csv", csv).scrape().label(METRICS),
    Route::get("/metrics/prometheus", rates_text).scrape().label(METRICS),
    Route::get("/metrics/by-model", by_model).scrape().label(METRICS),
    Route::get("/metrics/by-model/prometheus", by_model_text).scrape().label(METRICS),
    Route::get("/metrics/by-model/{*id}", one_model).scrape().label(METRICS),
    Route::get("/metrics/costs", costs).scrape().label(METRICS),
    Route::get("/metrics/multi-dimensional", multi_dimensional).scrape().label(METRICS),
    Route::get("/metrics/ranking", ranking).scrape().label(METRICS),
    Route::get("/metrics/compare", compare).scrape().label(METRICS),
    Route::get("/metrics/stream", upgrade_only).scrape().label(METRICS).body(BodyKind::Upgrade(Upgrade::MetricsStream)),
    Route::get("/dynamo/metrics", dynamo).scrape().label(METRICS),
    Route::get("/dynamo/metrics/json", dynamo_json).scrape().label(METRICS),
    Route::get("/kv-cache/metrics", kv_cache).scrape().label(METRICS),
    Route::get("/health/detailed", health_detailed).scrape(),
    Route::get("/dashboard", dashboard).open(),
    Route::get("/dashboard/", dashboard).open().label("/dashboard"),
    Route::get("/dashboard/dynamo", dashboard_dynamo).open(),
];

/// Prometheus text, or OpenMetrics when the `Accept` header asks for it.
fn exposition(app: &App, req: &Request<'_>, dialect: Dialect) -> Outcome {
    let pool = app.state.kv.snapshot();
    let kv = KvCache { tokens: app.args.kv_cache_tokens, block_size: app.args.kv_cache_block_size, pool: Some(&pool) };
    let snap = Snapshot::merge(&app.shards);
    let mut text = prometheus::render_dialect(&snap, dialect, kv);
    metrics::engine_extra::render(&mut text, &snap.models, dialect, kv, &app.args);
    if matches!(dialect, Dialect::All | Dialect::Vllm) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        crate::openai::lora::render_info(&app.vllm.adapters, &snap.models, now.as_secs_f64(), &mut text);
        metrics::model_text::vllm_sleep_state(&mut text, app.vllm.sleep_state());
        if app.args.compat_metrics {
            metrics::model_text::vllm_removed(&mut text, &snap.models, kv);
        }
    }
    if dialect == Dialect::All {
        super::rate_limits::render_prometheus(&app.state.auth, &mut text);
        render_faults(&app.state.faults, &mut text);
        super::admin::render_scenario(&app.state.scenario, &mut text);
        render_webhooks(&app.state.webhooks.counts, &mut text);
    }
    let openmetrics = req.head.accept().is_some_and(|a| a.contains("application/openmetrics-text"));
    let (content_type, body) = match openmetrics {
        true => ("application/openmetrics-text; version=1.0.0; charset=utf-8", prometheus::to_openmetrics(&text)),
        false => (PROMETHEUS, text),
    };
    Ok(Full::text(content_type, body.into_bytes()).into())
}

fn all(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    match req.query("format").as_deref() {
        Some("json") => json(app, ctx, req),
        _ => exposition(app, req, Dialect::All),
    }
}

fn vllm(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    exposition(app, req, Dialect::Vllm)
}

fn dynamo_frontend(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    exposition(app, req, Dialect::DynamoFrontend)
}

fn sglang(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    exposition(app, req, Dialect::Sglang)
}

fn trtllm(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    exposition(app, req, Dialect::Trtllm)
}

/// All shards merged, and the 60-second rates up to now.
fn snapshot_with_rates(app: &App) -> (Snapshot, Rates) {
    let snap = Snapshot::merge(&app.shards);
    let rates = app.window.rates(Instant::now(), &Totals::of(&snap));
    (snap, rates)
}

/// A model's price per million (input, output) tokens: its list price (a fine-tune its base's);
/// others FakeAI's $1 / $2.
fn price(app: &App) -> impl Fn(&str) -> (f64, f64) + '_ {
    |model| {
        let pricing = app.registry.describe(model).pricing;
        (pricing.input_per_million, pricing.output_per_million)
    }
}

fn text(content_type: &'static str, body: String) -> Outcome {
    Ok(Full::text(content_type, body.into_bytes()).into())
}

fn value(v: serde_json::Value) -> Outcome {
    Ok(Full::value(&v).into())
}

fn json(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    let mut view = metrics::json::render(&snap, &rates);
    let faults: serde_json::Map<String, serde_json::Value> =
        app.state.faults.counts().map(|(kind, n)| (kind.to_owned(), n.into())).collect();
    view["faults_injected"] = faults.into();
    value(view)
}

/// `fakeai_faults_injected_total{kind}`: every fault injected, so that a client can reconcile
/// what it saw.
fn render_faults(faults: &crate::state::faults::Faults, out: &mut String) {
    use std::fmt::Write;
    let name = "fakeai_faults_injected_total";
    let _ = writeln!(out, "# HELP {name} Faults injected (by header or rate), by kind.\n# TYPE {name} counter");
    for (kind, n) in faults.counts() {
        let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {n}");
    }
}

fn render_webhooks(counts: &crate::state::webhooks::Counts, out: &mut String) {
    use std::{fmt::Write, sync::atomic::Ordering::Relaxed};
    let name = "fakeai_webhooks_total";
    let _ = writeln!(out, "# HELP {name} Webhook deliveries, by outcome.\n# TYPE {name} counter");
    let outcomes = [("delivered", &counts.delivered), ("retried", &counts.retried), ("failed", &counts.failed)];
    for (outcome, n) in outcomes.into_iter().chain([("dropped", &counts.dropped)]) {
        let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {}", n.load(Relaxed));
    }
}

fn csv(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    text("text/csv; charset=utf-8", metrics::json::csv(&snap, &rates))
}

fn rates_text(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    text(PROMETHEUS, metrics::fakeai_text::rates(&snap, &rates))
}

fn by_model(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    value(metrics::json::by_model(&Snapshot::merge(&app.shards), &price(app)))
}

fn by_model_text(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    text(PROMETHEUS, metrics::fakeai_text::by_model(&Snapshot::merge(&app.shards), &price(app)))
}

/// One model's statistics; FakeAI's 200 "not found" object for a model with no requests.
fn one_model(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let snap = Snapshot::merge(&app.shards);
    let id = req.param("id");
    match snap.models.iter().find(|(name, _)| name == id) {
        Some((name, m)) => value(metrics::json::model_json(snap.labels, name, m, &price(app))),
        None => value(metrics::json::model_not_found(id)),
    }
}

/// FakeAI's `{costs_by_model, total_cost_usd}` (every generation at list prices), plus `billed`:
/// the usage ledger's costs by model, project and API key with the cache and batch savings.
fn costs(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let mut costs = metrics::json::costs(&Snapshot::merge(&app.shards), &price(app));
    costs["billed"] = super::usage::cost_summary(app);
    value(costs)
}

fn multi_dimensional(app: &App, ctx: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    value(metrics::json::multi_dimensional(&Snapshot::merge(&app.shards), ctx.unix_now.0))
}

/// `metric` (default `request_count`) and `limit` (1–100, default 10).
fn ranking(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let metric = req.query("metric").unwrap_or_else(|| "request_count".to_owned());
    let metric = metrics::json::RANKING_METRICS.iter().find(|m| **m == metric).ok_or_else(|| {
        let known = metrics::json::RANKING_METRICS.join(", ");
        Error::invalid_param("metric", format!("Unknown metric '{metric}'; expected one of {known}."))
    })?;
    let limit = match req.query("limit") {
        None => 10,
        Some(l) => l.parse().ok().filter(|l| (1..=100).contains(l)).ok_or_else(|| {
            Error::invalid_param("limit", format!("limit must be an integer from 1 to 100, got '{l}'."))
        })?,
    };
    value(metrics::json::ranking(&Snapshot::merge(&app.shards), &price(app), metric, limit))
}

/// `model1` against `model2` (400 without both); FakeAI's 200 "not found" object unless both
/// have recorded requests.
fn compare(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let snap = Snapshot::merge(&app.shards);
    let id = |param: &str| {
        req.query(param)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::invalid_param(param, format!("Missing query parameter '{param}'.")))
    };
    let (n1, n2) = (id("model1")?, id("model2")?);
    let stats = |id: &str| snap.models.iter().find(|(name, _)| name == id).map(|(_, m)| m);
    match (stats(&n1), stats(&n2)) {
        (Some(m1), Some(m2)) => value(metrics::json::compare(snap.labels, (&n1, m1), (&n2, m2), &price(app))),
        _ => value(metrics::json::compare_not_found(&n1, &n2)),
    }
}

fn dynamo(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    let kv = app.state.kv.snapshot();
    text(PROMETHEUS, metrics::dynamo::text(&snap, &rates, app.started.elapsed().as_secs_f64(), Some(&kv)))
}

fn dynamo_json(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    let kv = app.state.kv.snapshot();
    value(metrics::dynamo::json(&snap, &rates, app.started.elapsed().as_secs_f64(), Some(&kv)))
}

/// FakeAI's KV-cache view, from the prefix cache's state.
fn kv_cache(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let mut view = metrics::kv_cache::render(&app.state.kv.snapshot());
    if let Some(events) = app.state.kv.events() {
        view["kv_events"] = events.json();
    }
    value(view)
}

fn health_detailed(app: &App, ctx: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (snap, rates) = snapshot_with_rates(app);
    let (secs, micros) = ctx.unix_now;
    let now = crate::clock::iso8601(secs, micros);
    value(metrics::json::health_detailed(&snap, &rates, app.started.elapsed().as_secs_f64(), &now))
}

/// `/metrics/stream` without `Upgrade`: 426 (the connection serves the upgrade itself).
fn upgrade_only(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let e = Error::new(426, "invalid_request_error", "/metrics/stream is a WebSocket: send Upgrade")
        .with_code("upgrade_required");
    Ok(Full::from(e).with_header("Upgrade", "websocket").into())
}

/// The live dashboard: one self-contained page (no external assets) that polls `/metrics/json`.
fn dashboard(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    const PAGE: &str = include_str!("dashboard.html");
    Ok(Full::text("text/html; charset=utf-8", Body::Static(PAGE.as_bytes())).into())
}

/// The engine's page: queue, KV cache, latency and GPUs, from the metric views it polls.
fn dashboard_dynamo(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    const PAGE: &str = include_str!("dashboard_dynamo.html");
    Ok(Full::text("text/html; charset=utf-8", Body::Static(PAGE.as_bytes())).into())
}
