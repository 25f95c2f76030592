//! FakeAI's rate-limit views (`/metrics/rate-limits…`) and the `fakeai_rate_limit_*` /
//! `fakeai_auth_*` Prometheus families. Keys are named only by their ids (short hashes), and
//! the Prometheus families list at most [`MAX_LABELLED`] keys, the rest summed as `other`.

use std::{fmt::Write as _, sync::atomic::Ordering};

use serde_json::{Value, json};

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    router::Route,
    state::{
        auth::{Auth, KeyEntry},
        ratelimit::{State, openai_duration},
    },
};

/// Most keys labelled one by one in Prometheus text.
pub const MAX_LABELLED: usize = 100;

const LABEL: &str = "/metrics/rate-limits";

/// The routes (open, like every metrics view).
pub static ROUTES: &[Route] = &[
    Route::get("/metrics/rate-limits", summary).open().label(LABEL),
    Route::get("/metrics/rate-limits/key/{id}", one_key).open().label(LABEL),
    Route::get("/metrics/rate-limits/tier", tier).open().label(LABEL),
    Route::get("/metrics/rate-limits/throttle-analytics", throttle_analytics).open().label(LABEL),
    Route::get("/metrics/rate-limits/abuse-patterns", abuse_patterns).open().label(LABEL),
];

/// Every entry shown: the configured keys, and the anonymous caller when keys are not required.
fn entries(auth: &Auth) -> Vec<std::sync::Arc<KeyEntry>> {
    let mut all = auth.keys().list.clone();
    if !auth.required {
        all.push(auth.anonymous.clone());
    }
    all
}

fn limit_json(s: Option<State>) -> Value {
    s.map_or(Value::Null, |s| json!({"limit": s.limit, "remaining": s.remaining, "reset": openai_duration(s.reset)}))
}

fn key_json(auth: &Auth, e: &KeyEntry) -> Value {
    let headers = e.limiter.headers(auth.now());
    json!({
        "key_id": e.id,
        "requests": e.admitted.load(Ordering::Relaxed),
        "throttled": e.throttled.load(Ordering::Relaxed),
        "requests_per_minute": limit_json(headers.requests),
        "tokens_per_minute": limit_json(headers.tokens),
    })
}

/// The usage tier whose RPM and TPM are the limits in force, `custom` when none is, `null`
/// without limits: read from the live limits, so a `PATCH /admin/config` shows at once.
fn tier_name(app: &App) -> Value {
    let l = app.state.auth.limits();
    if !l.any() {
        return Value::Null;
    }
    let named = crate::state::ratelimit::TIERS.iter().find(|(_, rpm, tpm)| (l.rpm, l.tpm) == (Some(*rpm), Some(*tpm)));
    json!(named.map_or("custom", |(name, ..)| name))
}

fn tier_json(app: &App) -> Value {
    let l = app.state.auth.limits();
    json!({"tier": tier_name(app), "rpm": l.rpm, "tpm": l.tpm, "rpd": l.rpd, "tpd": l.tpd})
}

fn throttle_json(auth: &Auth, entries: &[std::sync::Arc<KeyEntry>]) -> Value {
    let requests: u64 = entries.iter().map(|e| e.admitted.load(Ordering::Relaxed)).sum();
    let throttled: u64 = entries.iter().map(|e| e.throttled.load(Ordering::Relaxed)).sum();
    let attempts = requests + throttled;
    let rate = if attempts == 0 { 0.0 } else { throttled as f64 * 100.0 / attempts as f64 };
    json!({
        "total_requests": requests,
        "total_throttle_events": throttled,
        "throttle_rate_percent": rate,
        "auth_failures": {
            "missing": auth.missing.load(Ordering::Relaxed),
            "invalid": auth.invalid.load(Ordering::Relaxed),
        },
    })
}

fn summary(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let auth = &app.state.auth;
    let entries = entries(auth);
    let throttle = throttle_json(auth, &entries);
    let body = json!({
        "summary": {
            "enabled": auth.limits().any(),
            "auth_required": auth.required,
            "total_keys": entries.len(),
            "total_throttle_events": throttle["total_throttle_events"],
            "tiers": {tier_name(app).as_str().unwrap_or("none"): entries.len()},
        },
        "tier_stats": tier_json(app),
        "throttle_analytics": throttle,
        "abuse_patterns": [],
        "keys": entries.iter().map(|e| key_json(auth, e)).collect::<Vec<_>>(),
    });
    Ok(Full::value(&body).into())
}

fn one_key(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let auth = &app.state.auth;
    let id = req.param("id");
    let entry = entries(auth).into_iter().find(|e| e.id == id).ok_or_else(|| {
        Error::new(404, "invalid_request_error", format!("No metrics found for API key: {id} (use the key's id)"))
    })?;
    Ok(Full::value(&key_json(auth, &entry)).into())
}

fn tier(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&tier_json(app)).into())
}

fn throttle_analytics(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let auth = &app.state.auth;
    Ok(Full::value(&throttle_json(auth, &entries(auth))).into())
}

fn abuse_patterns(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&json!([])).into())
}

/// Appends the auth and rate-limit families to Prometheus text (nothing when both are off).
pub fn render_prometheus(auth: &Auth, out: &mut String) {
    if !auth.active() {
        return;
    }
    let entries = entries(auth);
    let (shown, rest) = entries.split_at(entries.len().min(MAX_LABELLED));
    let now = auth.now();
    let family = |out: &mut String, name: &str, kind: &str, help: &str, value: &dyn Fn(&KeyEntry) -> Option<u64>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for e in shown {
            if let Some(v) = value(e) {
                let _ = writeln!(out, "{name}{{key_id=\"{}\"}} {v}", e.id);
            }
        }
        if kind == "counter" && !rest.is_empty() {
            let sum: u64 = rest.iter().filter_map(|e| value(e)).sum();
            let _ = writeln!(out, "{name}{{key_id=\"other\"}} {sum}");
        }
    };
    family(out, "fakeai_rate_limit_requests_total", "counter", "Requests admitted, by API key id.", &|e| {
        Some(e.admitted.load(Ordering::Relaxed))
    });
    family(out, "fakeai_rate_limit_throttled_total", "counter", "Requests refused with 429, by API key id.", &|e| {
        Some(e.throttled.load(Ordering::Relaxed))
    });
    family(out, "fakeai_rate_limit_remaining_requests", "gauge", "Requests left in the key's minute budget.", &|e| {
        e.limiter.headers(now).requests.map(|s| s.remaining)
    });
    family(out, "fakeai_rate_limit_remaining_tokens", "gauge", "Tokens left in the key's minute budget.", &|e| {
        e.limiter.headers(now).tokens.map(|s| s.remaining)
    });
    let _ = writeln!(out, "# HELP fakeai_auth_failures_total Requests refused with 401, by reason.");
    let _ = writeln!(out, "# TYPE fakeai_auth_failures_total counter");
    let _ = writeln!(out, "fakeai_auth_failures_total{{reason=\"missing\"}} {}", auth.missing.load(Ordering::Relaxed));
    let _ = writeln!(out, "fakeai_auth_failures_total{{reason=\"invalid\"}} {}", auth.invalid.load(Ordering::Relaxed));
}
