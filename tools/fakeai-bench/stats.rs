//! Per-thread measurements, merged at the end of a run.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latency histogram in nanoseconds: 1 µs to 10 min, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 600_000_000_000, 3).expect("valid bounds")
}

/// One thread's (or the merged) results.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Time to first content event, from sending the request.
    pub ttft: Histogram<u64>,
    /// Time to the first byte of the response (its head), from sending the request.
    pub ttfb: Histogram<u64>,
    /// Per request, (last − first content event) / (tokens − 1): AIPerf's ITL.
    pub itl: Histogram<u64>,
    /// Gap between consecutive content events (0 when they arrived in one read).
    pub icl: Histogram<u64>,
    /// Request start to last byte.
    pub e2e: Histogram<u64>,
    /// Content events after a stream's first that arrived in the same read as the one before:
    /// sent (or read) coalesced, so the client saw no gap between them.
    pub coalesced: u64,
    /// Successful requests.
    pub ok: u64,
    /// Content events (tokens) received.
    pub tokens: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ttft: histogram(),
            ttfb: histogram(),
            itl: histogram(),
            icl: histogram(),
            e2e: histogram(),
            coalesced: 0,
            ok: 0,
            tokens: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Stats {
    /// Counts one failure of `kind`.
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    /// Records a histogram value in nanoseconds, clamped into range.
    pub fn record(h: &mut Histogram<u64>, ns: u64) {
        h.saturating_record(ns.max(1_000));
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in [
            (&mut self.ttft, &other.ttft),
            (&mut self.ttfb, &other.ttfb),
            (&mut self.itl, &other.itl),
            (&mut self.icl, &other.icl),
            (&mut self.e2e, &other.e2e),
        ] {
            a.add(b).expect("same bounds");
        }
        self.coalesced += other.coalesced;
        self.ok += other.ok;
        self.tokens += other.tokens;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }
}

/// Percentiles of `h` in milliseconds, with the error against `expected_ms` when given.
pub fn summary(h: &Histogram<u64>, expected_ms: Option<f64>) -> Value {
    let ms = |ns: u64| ns as f64 / 1e6;
    if h.is_empty() {
        return json!({"count": 0});
    }
    let mut v = json!({
        "count": h.len(),
        "min": ms(h.min()),
        "mean": h.mean() / 1e6,
        "p50": ms(h.value_at_quantile(0.5)),
        "p90": ms(h.value_at_quantile(0.9)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    });
    if let Some(e) = expected_ms {
        v["error_vs_config"] = json!({
            "configured": e,
            "mean": h.mean() / 1e6 - e,
            "mean_pct": if e > 0.0 { (h.mean() / 1e6 - e) / e * 100.0 } else { 0.0 },
            "p50": ms(h.value_at_quantile(0.5)) - e,
            "p99": ms(h.value_at_quantile(0.99)) - e,
        });
    }
    v
}
