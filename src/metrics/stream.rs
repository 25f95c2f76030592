//! The `/metrics/stream` WebSocket protocol, sans-IO: FakeAI's messages (`subscribe`,
//! `unsubscribe`, `ping` in; `historical_data`, `subscribed`, `unsubscribed`, `pong`,
//! `metrics_update`, `error` out), with filters by endpoint, model and section.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{
    COUNTERS, Counter, Snapshot,
    json::{all_fine, errors_by_type, ms, quantile_ms, timing_ms},
    window::Rates,
};

/// Sections a `metrics_update` can carry (`metric_types` filter).
pub const SECTIONS: &[&str] = &["throughput", "latency", "queue", "streaming", "errors", "endpoints", "models"];

/// Interval between updates before a client asks for another.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One client's subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Endpoints to include (empty: all).
    pub endpoints: Vec<String>,
    /// Models to include (empty: all).
    pub models: Vec<String>,
    /// Sections to include (empty: all).
    pub sections: Vec<String>,
    /// Time between updates.
    pub interval: Duration,
    /// Whether updates are sent.
    pub active: bool,
    last: Option<[u64; COUNTERS]>,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            endpoints: Vec::new(),
            models: Vec::new(),
            sections: Vec::new(),
            interval: DEFAULT_INTERVAL,
            active: true,
            last: None,
        }
    }
}

/// `filters[one]` or `filters[many]` as a list of strings.
fn string_list(filters: &Value, one: &str, many: &str) -> Result<Vec<String>, String> {
    let value = filters.get(many).or_else(|| filters.get(one));
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("'{many}' must be a string or a list of strings")),
    };
    items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("'{many}' must hold strings"))).collect()
}

fn error(message: impl Into<String>, timestamp: f64) -> Value {
    json!({"type": "error", "message": message.into(), "timestamp": timestamp})
}

impl Subscription {
    /// The reply to a client's text message.
    pub fn on_message(&mut self, text: &str, timestamp: f64) -> Value {
        let Ok(msg) = serde_json::from_str::<Value>(text) else {
            return error("Messages must be JSON objects with a 'type'", timestamp);
        };
        match msg.get("type").and_then(Value::as_str) {
            Some("ping") => json!({"type": "pong", "timestamp": timestamp}),
            Some("unsubscribe") => {
                self.active = false;
                json!({"type": "unsubscribed", "timestamp": timestamp})
            }
            Some("subscribe") => match self.subscribe(msg.get("filters").unwrap_or(&Value::Null)) {
                Ok(()) => json!({"type": "subscribed", "filters": self.filters(), "timestamp": timestamp}),
                Err(e) => error(e, timestamp),
            },
            _ => error("Unknown message type; expected subscribe, unsubscribe or ping", timestamp),
        }
    }

    fn subscribe(&mut self, filters: &Value) -> Result<(), String> {
        let sections = string_list(filters, "metric_type", "metric_types")?;
        if let Some(bad) = sections.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
            return Err(format!("Unknown metric type '{bad}'; expected one of {}", SECTIONS.join(", ")));
        }
        let interval = match filters.get("interval") {
            None | Some(Value::Null) => DEFAULT_INTERVAL.as_secs_f64(),
            Some(v) => v.as_f64().filter(|s| (0.1..=3600.0).contains(s)).ok_or("'interval' must be 0.1 to 3600 s")?,
        };
        self.endpoints = string_list(filters, "endpoint", "endpoints")?;
        self.models = string_list(filters, "model", "models")?;
        self.sections = sections;
        self.interval = Duration::from_secs_f64(interval);
        self.active = true;
        Ok(())
    }

    /// The normalised filters, as `subscribed` echoes them.
    pub fn filters(&self) -> Value {
        json!({
            "endpoints": self.endpoints,
            "models": self.models,
            "metric_types": self.sections,
            "interval": self.interval.as_secs_f64(),
        })
    }

    fn wants(&self, section: &str) -> bool {
        self.sections.is_empty() || self.sections.iter().any(|s| s == section)
    }

    /// A `metrics_update` (or, with `kind` = `historical_data`, the greeting) for this client,
    /// with `deltas` since its previous one.
    pub fn update(&mut self, kind: &str, snap: &Snapshot, rates: &Rates, timestamp: f64) -> Value {
        let rate = |c: Counter| rates.counters[c as usize];
        let mut data = Map::new();
        let mut put = |section: &str, v: Value| {
            if self.wants(section) {
                data.insert(section.to_owned(), v);
            }
        };
        put(
            "throughput",
            json!({
                "requests_per_sec": rate(Counter::Requests),
                "responses_per_sec": rate(Counter::Requests) - rate(Counter::ErrorResponses),
                "tokens_per_sec": rate(Counter::CompletionTokens),
                "total_requests": snap.get(Counter::Requests),
                "total_responses": snap.get(Counter::Requests) - snap.get(Counter::ErrorResponses),
                "total_tokens": snap.get(Counter::PromptTokens) + snap.get(Counter::CompletionTokens),
            }),
        );
        put(
            "latency",
            json!({
                "ttft_ms": timing_ms(&all_fine(snap, |m| &m.fine.ttft)),
                "itl_ms": timing_ms(&all_fine(snap, |m| &m.fine.itl)),
                "e2e_ms": timing_ms(&all_fine(snap, |m| &m.fine.e2e)),
            }),
        );
        put("queue", json!({"active_streams": snap.get(Counter::StreamsActive), "queue_depth": 0}));
        put(
            "streaming",
            json!({
                "active_streams": snap.get(Counter::StreamsActive),
                "completed": snap.get(Counter::GenerationsCompleted),
                "cancelled": snap.get(Counter::StreamsCancelled),
                "sse_events_per_sec": rate(Counter::SseEvents),
                "emit_lateness_p99_ms": quantile_ms(&snap.lateness, 0.99),
            }),
        );
        put("errors", errors_by_type(snap));
        let endpoints: Map<String, Value> = snap
            .latency
            .iter()
            .map(|(e, t)| (snap.labels[*e], t))
            .filter(|(path, _)| self.endpoints.is_empty() || self.endpoints.iter().any(|e| e == path))
            .map(|(path, t)| (path.to_owned(), timing_ms(t)))
            .collect();
        put("endpoints", Value::Object(endpoints));
        let models: Map<String, Value> = snap
            .models
            .iter()
            .filter(|(name, _)| self.models.is_empty() || self.models.contains(name))
            .map(|(name, m)| {
                let v = json!({"requests": m.requests, "running": m.running, "prompt_tokens": m.prompt_tokens,
                    "completion_tokens": m.generation_tokens, "ttft_ms": ms(m.fine.ttft.quantile(0.5)),
                    "itl_ms": ms(m.fine.itl.quantile(0.5))});
                (name.clone(), v)
            })
            .collect();
        put("models", Value::Object(models));
        let last = self.last.replace(snap.counters).unwrap_or(snap.counters);
        let delta = |c: Counter| snap.get(c).saturating_sub(last[c as usize]);
        json!({
            "type": kind,
            "timestamp": timestamp,
            "data": data,
            "deltas": {
                "requests": delta(Counter::Requests),
                "errors": delta(Counter::ErrorResponses),
                "completion_tokens": delta(Counter::CompletionTokens),
                "sse_events": delta(Counter::SseEvents),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Shard, window::RateWindow, window::Totals};
    use std::time::Instant;

    fn snapshot(requests: u64) -> (Snapshot, Rates) {
        let shard = Shard::default();
        shard.add(Counter::Requests, requests);
        let snap = Snapshot::merge(std::slice::from_ref(&shard));
        let rates = RateWindow::default().rates(Instant::now(), &Totals::of(&snap));
        (snap, rates)
    }

    #[test]
    fn answers_each_message_type() {
        let mut s = Subscription::default();
        assert_eq!(s.on_message(r#"{"type":"ping"}"#, 1.0)["type"], "pong");
        assert_eq!(s.on_message(r#"{"type":"unsubscribe"}"#, 1.0)["type"], "unsubscribed");
        assert!(!s.active);
        let r = s.on_message(
            r#"{"type":"subscribe","filters":{"endpoint":"/v1/completions","models":["a"],"metric_type":"latency","interval":0.5}}"#,
            1.0,
        );
        assert_eq!(r["type"], "subscribed");
        assert_eq!(
            r["filters"],
            json!({"endpoints":["/v1/completions"],"models":["a"],"metric_types":["latency"],"interval":0.5})
        );
        assert!(s.active);
        assert_eq!(s.interval, Duration::from_millis(500));
        for bad in [r#"{"type":"subscribe","filters":{"metric_type":"nope"}}"#, r#"{"type":"x"}"#, "not json"] {
            assert_eq!(s.on_message(bad, 1.0)["type"], "error", "{bad}");
        }
    }

    #[test]
    fn updates_carry_chosen_sections_and_deltas() {
        let mut s = Subscription::default();
        let (snap, rates) = snapshot(5);
        let first = s.update("historical_data", &snap, &rates, 1.0);
        assert_eq!(first["data"].as_object().unwrap().len(), SECTIONS.len());
        assert_eq!(first["deltas"]["requests"], 0, "nothing before the first");
        s.on_message(r#"{"type":"subscribe","filters":{"metric_types":["throughput"]}}"#, 1.0);
        let (snap, rates) = snapshot(12);
        let next = s.update("metrics_update", &snap, &rates, 2.0);
        assert_eq!(next["data"].as_object().unwrap().keys().collect::<Vec<_>>(), ["throughput"]);
        assert_eq!(next["data"]["throughput"]["total_requests"], 12);
        assert_eq!(next["deltas"]["requests"], 7);
    }
}
