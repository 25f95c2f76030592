//! Pure-CPU benchmarks of the per-request and per-token paths. A plain `harness = false` main:
//! `cargo bench --bench cpu [-- FILTER|=NAME] [ITERS]` prints ns/op; under
//! `valgrind --tool=callgrind` (`tools/callgrind.sh`) the instruction counts of two
//! iteration counts give a deterministic Ir/op (see PERFORMANCE.md).

use std::{hint::black_box, time::Instant};

use fakeai::{
    encoders,
    generation::SimConfig,
    metrics::{Counter, Recorder, Shard, Snapshot, prometheus},
    openai::{
        chunks::{ChunkWriter, Flavor, ResponseMeta, push_json_str},
        models::{Registry, UnknownModelDefaults},
        request::{ChatBody, parse_chat},
    },
    proto::http1::{ResponseHead, frame_chunk, parse_head},
    rng::Rng,
    sim::{Latency, LengthDist},
    sse::TokenStream,
    tokens::{Encoding, TextGen},
};

const CHAT_REQUEST: &[u8] =
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: aiperf/0.13.0\r\n\
X-Request-ID: 5b0c6d2e-8d8c-4c1e-9f7b-2f0e3c4d5a6b\r\nX-Correlation-ID: 5b0c6d2e-8d8c-4c1e-9f7b-2f0e3c4d5a6b\r\n\
Accept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 178\r\n\r\n";

const CHAT_BODY: &[u8] = br#"{"messages":[{"role":"user","content":" satin coffer lay the babe and in her arms the gentle lady lay asleep"}],"model":"my-model","stream":true,"max_completion_tokens":64,"stream_options":{"include_usage":true}}"#;

fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "chatcmpl-0123456789abcdef0123456789abcdef".into(),
        created: 1_795_555_000,
        model: "openai/gpt-oss-120b".into(),
        fingerprint: "fp_0123456789abcdef".into(),
    }
}

fn sim() -> SimConfig {
    SimConfig {
        ttft: Some(Latency::fixed(0.0)),
        itl: Some(Latency::fixed(0.0)),
        prefill_tps: None,
        latency_profiles: false,
        output_len: LengthDist::Fixed(64),
        non_streaming_delay: false,
        fingerprint: "fp_bench".into(),
        reasoning_models: Vec::new(),
        encoding: fakeai::tokens::Encoding::Cl100kBase,
        auto_tool_calls: Default::default(),
        stream_obfuscation: false,
    }
}

/// One benchmark: its name, what one op is, and a body that runs `iters` ops.
struct Bench {
    name: String,
    what: String,
    run: Box<dyn Fn(u64)>,
}

fn bench(name: impl Into<String>, what: impl Into<String>, run: impl Fn(u64) + 'static) -> Bench {
    Bench { name: name.into(), what: what.into(), run: Box::new(run) }
}

fn benches() -> Vec<Bench> {
    vec![
        bench("http_parse", "parse an AIPerf-style request head", |n| {
            for _ in 0..n {
                black_box(parse_head(black_box(CHAT_REQUEST), 16384).unwrap());
            }
        }),
        bench("response_head", "encode a response head", |n| {
            let mut out = Vec::with_capacity(512);
            for _ in 0..n {
                out.clear();
                ResponseHead {
                    status: 200,
                    content_type: "text/event-stream; charset=utf-8",
                    content_length: None,
                    keep_alive: true,
                    minor_version: 1,
                    date: b"Tue, 24 Nov 2026 21:03:37 GMT",
                    request_id: Some("5b0c6d2e-8d8c-4c1e-9f7b-2f0e3c4d5a6b"),
                    extra: &[("Cache-Control", "no-cache")],
                }
                .encode(&mut out);
                black_box(&out);
            }
        }),
        bench("chunk_encode", "encode one chat content chunk (per token)", |n| {
            let w = ChunkWriter::new(Flavor::Chat, &meta());
            let mut out = Vec::with_capacity(1 << 16);
            for i in 0..n {
                if i % 64 == 0 {
                    out.clear();
                }
                w.content(0, black_box(" word"), &mut out);
            }
            black_box(&out);
        }),
        bench("json_escape", "JSON-escape a 40-byte string with quotes", |n| {
            let mut out = Vec::with_capacity(128);
            for _ in 0..n {
                out.clear();
                push_json_str(&mut out, black_box("He said \"hello\" to the\tworld, twice.\n"));
                black_box(&out);
            }
        }),
        bench("parse_chat", "parse + validate + count a 178-byte chat body (cl100k)", |n| {
            for _ in 0..n {
                black_box(parse_chat(black_box(CHAT_BODY), Encoding::Cl100kBase).unwrap());
            }
        }),
        bench("token_gen", "generate one output token", |n| {
            let mut g = TextGen::new(1);
            for _ in 0..n {
                black_box(g.next_token());
            }
        }),
        bench("stream_64", "plan + emit a whole 64-token stream with usage, framed (per stream)", |n| {
            let s = sim();
            let registry = Registry::new(UnknownModelDefaults { context_window: 8192, max_output_tokens: 4096 });
            let req = parse_chat(CHAT_BODY, Encoding::Cl100kBase).unwrap();
            let model = registry.resolve(&req.model);
            let mut rng = Rng::new(1);
            let mut out = Vec::with_capacity(1 << 16);
            for _ in 0..n {
                out.clear();
                let plan = s.plan(Flavor::Chat, &req, &model, &mut rng, 1_795_555_000);
                let mut stream = TokenStream::new(plan);
                stream.open(&mut out);
                stream.emit_due(std::time::Duration::ZERO, &mut out, |_| {});
                frame_chunk(&mut out, 0);
                black_box(&out);
            }
        }),
        bench("metrics_record", "record one lateness sample and bump two counters", |n| {
            let shard = Shard::default();
            let mut recorder = Recorder::default();
            for i in 0..n {
                shard.add(Counter::SseEvents, 1);
                shard.add(Counter::CompletionTokens, 1);
                recorder.record_lateness(std::time::Duration::from_nanos(1000 + (i % 4096) * 997));
            }
            black_box(shard.get(Counter::SseEvents));
        }),
        bench("metrics_merge", "merge 2 published shards (100k lateness samples each) into a snapshot", {
            let shards = loaded_shards();
            move |n| {
                for _ in 0..n {
                    black_box(Snapshot::merge(black_box(&shards)));
                }
            }
        }),
        bench("metrics_render", "render a merged snapshot as Prometheus text (every family, 2 workers)", {
            let snap = Snapshot::merge(&loaded_shards());
            move |n| {
                for _ in 0..n {
                    black_box(prometheus::render(black_box(&snap)));
                }
            }
        }),
    ]
    .into_iter()
    .chain(embeddings_benches())
    .chain(json_pair("aiperf", "an AIPerf chat body (ISL 128)", aiperf_body()))
    .chain(json_pair("multiturn", "a 12-message agent chat with tools", multiturn_body()))
    .chain(json_pair("long", "a 32k-word single-prompt chat", long_body()))
    .collect()
}

/// A whole `/v1/embeddings` request without its I/O: parse, count tokens, build features,
/// project to 1536 dimensions, write the body. AIPerf-sized inputs (ISL 128).
fn embeddings_benches() -> Vec<Bench> {
    let body = |inputs: usize, format: &str| {
        let texts: Vec<String> = (0..inputs).map(|i| prompt_text(128, i)).collect();
        let v = serde_json::json!({"model": "text-embedding-3-small", "input": texts, "encoding_format": format});
        serde_json::to_vec(&v).unwrap()
    };
    let run = |body: Vec<u8>| {
        move |n: u64| {
            for _ in 0..n {
                let r = encoders::request::parse(black_box(&body)).unwrap();
                let size = encoders::vector::model_size(&r.model);
                let encoded = encoders::request::encode(&r, Encoding::Cl100kBase, 8191).unwrap();
                let projector = encoders::vector::Projector::new(&r.model, size);
                let mut out = encoders::body::EmbeddingsBody::new(r.format, size, encoded.len());
                for e in &encoded {
                    out.push(&e.embed(&projector, size));
                }
                black_box(out.finish(&r.model, encoded.iter().map(|e| e.tokens).sum()));
            }
        }
    };
    vec![
        bench(
            "embed_1_float",
            "one 128-word input → 1536 floats (parse, BPE count, project, write)",
            run(body(1, "float")),
        ),
        bench("embed_1_base64", "one 128-word input → 1536 base64 floats", run(body(1, "base64"))),
        bench("embed_32_base64", "32 128-word inputs → 32×1536 base64 floats", run(body(32, "base64"))),
        bench("embed_32_float", "32 128-word inputs → 32×1536 floats", run(body(32, "float"))),
    ]
}

/// Decoding `body` into the server's request type with serde_json (what the server does) and with
/// simd-json, which parses in place: each simd-json op first copies the body into a reused buffer,
/// as the server would have to (its read buffer may hold the next pipelined request too).
fn json_pair(label: &str, what: &str, body: Vec<u8>) -> [Bench; 2] {
    let kb = body.len() as f64 / 1024.0;
    let copy = body.clone();
    [
        bench(format!("json_serde_{label}"), format!("decode {what}, {kb:.1} KB, with serde_json"), move |n| {
            for _ in 0..n {
                black_box(serde_json::from_slice::<ChatBody>(black_box(&body)).unwrap());
            }
        }),
        bench(format!("json_simd_{label}"), "the same with simd-json (copy + decode)", move |n| {
            let mut scratch = Vec::with_capacity(copy.len());
            let mut buffers = simd_json::Buffers::new(copy.len());
            for _ in 0..n {
                scratch.clear();
                scratch.extend_from_slice(black_box(&copy));
                black_box(simd_json::serde::from_slice_with_buffers::<ChatBody>(&mut scratch, &mut buffers).unwrap());
            }
        }),
    ]
}

/// `words` words of prompt text, about one token each, as AIPerf's synthetic prompts are.
fn prompt_text(words: usize, salt: usize) -> String {
    const WORDS: [&str; 8] = ["satin", "coffer", "lay", "the", "babe", "gentle", "lady", "asleep"];
    (0..words).map(|i| WORDS[(i * 7 + salt) % WORDS.len()]).collect::<Vec<_>>().join(" ")
}

/// What AIPerf sends for `--endpoint-type chat --streaming` with ISL 128.
fn aiperf_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "messages": [{"role": "user", "content": prompt_text(128, 0)}],
        "model": "openai/gpt-oss-120b", "stream": true, "max_completion_tokens": 64, "ignore_eos": true,
        "stream_options": {"include_usage": true},
    }))
    .unwrap()
}

/// An agent-style conversation: system prompt, tool definitions, earlier tool calls and results.
fn multiturn_body() -> Vec<u8> {
    let mut messages = vec![serde_json::json!({"role": "system", "content": prompt_text(200, 1)})];
    for turn in 0..5 {
        messages.push(serde_json::json!({"role": "user", "content": prompt_text(60, turn)}));
        messages.push(serde_json::json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": format!("call_{turn}"), "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}}]}));
    }
    messages.push(serde_json::json!({"role": "tool", "tool_call_id": "call_4", "content": prompt_text(80, 3)}));
    let tool = |name: &str| {
        serde_json::json!({"type": "function", "function": {"name": name,
        "description": prompt_text(20, 2), "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}})
    };
    serde_json::to_vec(&serde_json::json!({
        "model": "gpt-4o", "messages": messages, "tools": [tool("get_weather"), tool("get_time")],
        "tool_choice": "auto", "temperature": 0.7, "max_tokens": 256, "stream": true,
    }))
    .unwrap()
}

/// A long-context request: one 32k-word prompt.
fn long_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "messages": [{"role": "user", "content": prompt_text(32_768, 5)}],
        "model": "meta-llama/Llama-3.1-8B-Instruct", "max_tokens": 64, "stream": true,
    }))
    .unwrap()
}

/// Two shards as two busy workers leave them: 100k lateness samples each, published.
fn loaded_shards() -> [Shard; 2] {
    let shards = [Shard::default(), Shard::default()];
    for (k, s) in shards.iter().enumerate() {
        let mut recorder = Recorder::default();
        for i in 0..100_000u64 {
            recorder.record_lateness(std::time::Duration::from_nanos(1000 + (i * 7919 + k as u64) % 5_000_000));
        }
        recorder.publish(s);
    }
    shards
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let filter = args.first().cloned().unwrap_or_default();
    let iters: Option<u64> = args.get(1).and_then(|s| s.parse().ok());
    Encoding::Cl100kBase.preload();
    for Bench { name, what, run } in benches() {
        let chosen = match filter.strip_prefix('=') {
            Some(exact) => name == exact,
            None => name.contains(filter.as_str()),
        };
        if !chosen {
            continue;
        }
        let n = iters.unwrap_or_else(|| calibrate(&run));
        let t = Instant::now();
        run(n);
        let ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!("{name:<22} {ns:>12.1} ns/op  ({n} iters)  {what}");
    }
}

/// Picks an iteration count that runs for about 300 ms.
fn calibrate(run: &dyn Fn(u64)) -> u64 {
    let mut n = 1;
    loop {
        let t = Instant::now();
        run(n);
        if t.elapsed().as_millis() > 30 || n > 1 << 30 {
            return (n * 10).max(1);
        }
        n *= 4;
    }
}
