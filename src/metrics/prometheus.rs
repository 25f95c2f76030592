//! Prometheus text exposition (format 0.0.4) of a merged snapshot.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::{Counter, ERROR_TYPES, Snapshot, json::all_fine, timing::Timing};

/// Bucket bounds of `fakeai_emit_lateness_seconds` and `fakeai_request_read_delay_seconds`.
const LATENESS_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Bucket bounds of fakeai's own latency histograms, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

const COUNTERS: &[(&str, Counter, &str)] = &[
    ("fakeai_requests_total", Counter::Requests, "HTTP requests received."),
    ("fakeai_error_responses_total", Counter::ErrorResponses, "Responses with status >= 400."),
    ("fakeai_generations_completed_total", Counter::GenerationsCompleted, "Generations whose every token was sent."),
    ("fakeai_streams_cancelled_total", Counter::StreamsCancelled, "Streams ended early by the client."),
    (
        "fakeai_send_timeouts_total",
        Counter::SendTimeouts,
        "Connections aborted after the client stopped reading for --send-timeout.",
    ),
    ("fakeai_prompt_tokens_total", Counter::PromptTokens, "Prompt tokens of completed generations."),
    ("fakeai_completion_tokens_total", Counter::CompletionTokens, "Completion tokens sent."),
    ("fakeai_sse_events_total", Counter::SseEvents, "SSE content events sent."),
    ("fakeai_connections_accepted_total", Counter::ConnectionsAccepted, "TCP connections accepted."),
    ("fakeai_connections_refused_total", Counter::ConnectionsRefused, "Connections refused over --max-connections."),
    ("fakeai_bytes_received_total", Counter::BytesIn, "Bytes read from clients."),
    ("fakeai_bytes_sent_total", Counter::BytesOut, "Bytes written to clients."),
];

/// Per-worker gauges: name, cell, cell units per exposed unit, help.
const GAUGES: &[(&str, Counter, f64, &str)] = &[
    ("fakeai_connections_open", Counter::ConnectionsOpen, 1.0, "Open connections per worker."),
    ("fakeai_streams_active", Counter::StreamsActive, 1.0, "Streams sending per worker."),
    (
        "fakeai_timer_window_seconds",
        Counter::TimerWindowMicros,
        1e6,
        "Deadlines this close share a timer wake-up; widens as the worker gets busy.",
    ),
];

/// The simulated engine's KV cache, for the engine dialects.
#[derive(Debug, Clone, Copy)]
pub struct KvCache<'a> {
    /// Capacity in tokens.
    pub tokens: u64,
    /// Block size in tokens.
    pub block_size: u64,
    /// The block pool's state; without it, usage follows the running requests' tokens and
    /// nothing is cached (how the fixed golden snapshot renders).
    pub pool: Option<&'a crate::state::kv::KvSnapshot>,
}

/// Which families to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// fakeai's own, vLLM's and Dynamo's.
    All,
    /// vLLM's only.
    Vllm,
    /// Dynamo frontend's only.
    DynamoFrontend,
    /// SGLang's only.
    Sglang,
    /// TRT-LLM's only.
    Trtllm,
}

/// Renders `snap` as Prometheus text in `dialect`.
pub fn render_dialect(snap: &Snapshot, dialect: Dialect, kv: KvCache) -> String {
    let mut out = match dialect {
        Dialect::All => render(snap),
        _ => String::with_capacity(16 * 1024),
    };
    let m = &snap.models;
    match dialect {
        Dialect::All => {
            super::model_text::vllm(&mut out, m, kv);
            super::model_text::dynamo_frontend(&mut out, m);
        }
        Dialect::Vllm => super::model_text::vllm(&mut out, m, kv),
        Dialect::DynamoFrontend => super::model_text::dynamo_frontend(&mut out, m),
        Dialect::Sglang => super::model_text::sglang(&mut out, m, kv),
        Dialect::Trtllm => super::model_text::trtllm(&mut out, m, kv),
    }
    out
}

/// Converts text format 0.0.4 to OpenMetrics 1.0: counter families are named without their
/// `_total` suffix (samples keep it) and the exposition ends with `# EOF`.
pub fn to_openmetrics(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut counters = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|rest| rest.strip_suffix(" counter")) {
            counters.insert(name.to_owned());
        }
    }
    for line in text.lines() {
        let family_line = ["# HELP ", "# TYPE "].iter().find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match family_line {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let family = if counters.contains(name) { name.strip_suffix("_total").unwrap_or(name) } else { name };
                let _ = writeln!(out, "{prefix}{family} {tail}");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Renders fakeai's own families of `snap` as Prometheus text.
pub fn render(snap: &Snapshot) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for (name, c, help) in COUNTERS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", snap.get(*c));
    }
    let name = "fakeai_responses_total";
    let _ = writeln!(out, "# HELP {name} Responses by endpoint and status.\n# TYPE {name} counter");
    for (endpoint, status, n) in snap.responses_by_endpoint() {
        let _ = writeln!(out, "{name}{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
    }
    for (name, c, per_unit, help) in GAUGES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (worker, shard) in snap.per_shard.iter().enumerate() {
            let _ = writeln!(out, "{name}{{worker=\"{worker}\"}} {}", shard[*c as usize] as i64 as f64 / per_unit);
        }
    }
    let delays = [
        ("fakeai_emit_lateness_seconds", "Actual minus scheduled send time of each SSE event.", &snap.lateness),
        (
            "fakeai_request_read_delay_seconds",
            "Kernel receipt of each request to its handling: time spent queued while the core was busy.",
            &snap.read_delay,
        ),
    ];
    for (name, help, h) in delays {
        delay_histogram(&mut out, name, help, h);
    }
    let name = "fakeai_errors_total";
    let _ = writeln!(out, "# HELP {name} Error responses by OpenAI error type.\n# TYPE {name} counter");
    for (kind, n) in ERROR_TYPES.iter().zip(snap.errors) {
        let _ = writeln!(out, "{name}{{type=\"{kind}\"}} {n}");
    }
    let generations = [
        ("fakeai_time_to_first_token_seconds", "Arrival to first token sent.", all_fine(snap, |m| &m.fine.ttft)),
        ("fakeai_inter_token_latency_seconds", "Gap between tokens as sent.", all_fine(snap, |m| &m.fine.itl)),
    ];
    for (name, help, t) in &generations {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        latency_histogram(&mut out, name, "", t);
    }
    let name = "fakeai_request_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Arrival to last byte of each response, by endpoint.\n# TYPE {name} histogram");
    for (endpoint, t) in &snap.latency {
        latency_histogram(&mut out, name, &format!("endpoint=\"{}\",", snap.labels[*endpoint]), t);
    }
    out
}

/// A histogram of nanosecond delays in `LATENESS_BUCKETS`.
fn delay_histogram(out: &mut String, name: &str, help: &str, h: &Histogram<u64>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for le in LATENESS_BUCKETS {
        let count = h.count_between(0, (le * 1e9) as u64);
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
    }
    let sum: f64 =
        h.iter_recorded().map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64).sum::<f64>() / 1e9;
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {sum}\n{name}_count {}", h.len(), h.len());
}

/// Appends the samples of a histogram of `t` on [`LATENCY_BUCKETS`]; `labels` end with a comma.
fn latency_histogram(out: &mut String, name: &str, labels: &str, t: &Timing) {
    for (le, n) in LATENCY_BUCKETS.iter().zip(t.cumulative(LATENCY_BUCKETS)) {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {n}");
    }
    let bare = labels.trim_end_matches(',');
    let bare = if bare.is_empty() { String::new() } else { format!("{{{bare}}}") };
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {}", t.count());
    let _ = writeln!(out, "{name}_sum{bare} {}\n{name}_count{bare} {}", t.sum(), t.count());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Recorder, Shard};
    use std::time::Duration;

    #[test]
    fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# HELP g G.\n# TYPE g gauge\ng 2\n";
        assert_eq!(
            to_openmetrics(text),
            "# HELP a A.\n# TYPE a counter\na_total 1\n# HELP g G.\n# TYPE g gauge\ng 2\n# EOF\n"
        );
    }

    #[test]
    fn renders_counters_gauges_and_histogram() {
        let shards = [Shard::default(), Shard::default()];
        shards[0].add(Counter::Requests, 5);
        shards[1].add(Counter::ConnectionsOpen, 2);
        for (shard, late) in shards.iter().zip([Duration::from_micros(300), Duration::from_millis(3)]) {
            let mut r = Recorder::default();
            r.record_lateness(late);
            r.publish(shard);
        }
        let text = render(&Snapshot::merge(&shards));
        assert!(text.contains("fakeai_requests_total 5\n"));
        assert!(text.contains("fakeai_connections_open{worker=\"1\"} 2\n"));
        assert!(text.contains("fakeai_emit_lateness_seconds_bucket{le=\"0.0001\"} 0\n"));
        assert!(text.contains("fakeai_emit_lateness_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("fakeai_emit_lateness_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("fakeai_emit_lateness_seconds_count 2\n"));
    }
}
