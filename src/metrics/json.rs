//! JSON view of a merged snapshot (`/metrics?format=json`, `/metrics/json`).

use serde_json::{Value, json};

use super::{Counter, Snapshot};

/// Renders `snap` as JSON: totals, stream gauges, and emit-lateness percentiles in ms.
pub fn render(snap: &Snapshot) -> Value {
    let h = &snap.lateness;
    let ms = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e6 };
    json!({
        "requests": {
            "total": snap.get(Counter::Requests),
            "errors": snap.get(Counter::ErrorResponses),
            "generations_completed": snap.get(Counter::GenerationsCompleted),
        },
        "tokens": {
            "prompt": snap.get(Counter::PromptTokens),
            "completion": snap.get(Counter::CompletionTokens),
        },
        "connections": {
            "accepted": snap.get(Counter::ConnectionsAccepted),
            "refused": snap.get(Counter::ConnectionsRefused),
            "open": snap.get(Counter::ConnectionsOpen),
        },
        "streaming_stats": {
            "active_streams": snap.get(Counter::StreamsActive),
            "completed_streams": snap.get(Counter::GenerationsCompleted),
            "cancelled_streams": snap.get(Counter::StreamsCancelled),
            "sse_events": snap.get(Counter::SseEvents),
        },
        "emit_lateness_ms": {
            "count": h.len(),
            "p50": ms(0.5),
            "p90": ms(0.9),
            "p99": ms(0.99),
            "max": if h.is_empty() { 0.0 } else { h.max() as f64 / 1e6 },
        },
    })
}
