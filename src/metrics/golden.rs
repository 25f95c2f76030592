//! Golden-file tests: every Prometheus exposition rendered from one fixed snapshot must match
//! the files under `tests/golden/` byte for byte. `UPDATE_GOLDEN=1 cargo test golden` rewrites
//! them after an intended change (review the diff).

use std::time::Duration;

use super::{
    Counter, Recorder, Shard, Snapshot, dynamo, fakeai_text,
    model_stats::Finish,
    prometheus,
    prometheus::{Dialect, KvCache},
    window::Rates,
};

/// Two cores' worth of traffic with fixed values: two models, streams and a non-stream, an
/// abort, errors, lateness, read delays and response latencies.
fn snapshot() -> Snapshot {
    let shards = [Shard::default(), Shard::default()];
    let mut cores = [Recorder::default(), Recorder::default()];
    for (i, (shard, rec)) in shards.iter().zip(&mut cores).enumerate() {
        shard.add(Counter::Requests, 10 + i as u64);
        shard.add(Counter::ConnectionsOpen, 1 + i as u64);
        shard.set(Counter::TimerWindowMicros, 25 + 975 * i as u64);
        shard.add(Counter::CompletionTokens, 20);
        shard.count_response(0, 200);
        shard.count_response(1, 400);
        shard.count_error("invalid_request_error");
        rec.record_lateness(Duration::from_micros(300 * (i as u64 + 1)));
        rec.record_read_delay(Duration::from_millis(3 * i as u64));
        rec.record_latency(0, 0.125);
        rec.record_latency(1, 0.0005);
        for (name, tokens, how) in [("llama", 10u64, Finish::Stop), ("gpt \"q\"", 4, Finish::Abort)] {
            let slot = rec.model_slot(name, 4096);
            let m = rec.model(slot);
            m.admit(7, Some(16));
            m.attribute(0, Some("alice"), 7_200);
            m.tokens(1, None);
            m.first_token(0.02);
            m.tokens(tokens - 1, Some(0.005));
            m.finish(how, 7, tokens, Some(0.02), 0.02 + 0.005 * tokens as f64);
        }
        rec.publish(shard);
    }
    Snapshot::merge(&shards)
}

fn rates(snap: &Snapshot) -> Rates {
    let per = |n: u64| n as f64 / 60.0;
    Rates {
        seconds: 60.0,
        counters: std::array::from_fn(|i| per(snap.counters[i])),
        responses: snap.responses.iter().map(|n| per(*n)).collect(),
    }
}

#[test]
fn expositions_match_golden_files() {
    let snap = snapshot();
    let kv = KvCache { tokens: 100_000, block_size: 16, pool: None };
    let price = |_: &str| (1.0, 2.0);
    let rendered = [
        ("metrics.prom", prometheus::render_dialect(&snap, Dialect::All, kv)),
        ("metrics.openmetrics", prometheus::to_openmetrics(&prometheus::render_dialect(&snap, Dialect::All, kv))),
        ("sglang.prom", prometheus::render_dialect(&snap, Dialect::Sglang, kv)),
        ("trtllm.prom", prometheus::render_dialect(&snap, Dialect::Trtllm, kv)),
        ("fakeai_rates.prom", fakeai_text::rates(&snap, &rates(&snap))),
        ("fakeai_by_model.prom", fakeai_text::by_model(&snap, &price)),
        ("dynamo.prom", dynamo::text(&snap, &rates(&snap), 100.0, None)),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (file, text) in rendered {
        let path = format!("{dir}/{file}");
        if update {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        if golden != text {
            let line = golden.lines().zip(text.lines()).position(|(a, b)| a != b);
            panic!("{file} differs from the golden file at line {line:?}; UPDATE_GOLDEN=1 rewrites it\n{text}");
        }
    }
}
