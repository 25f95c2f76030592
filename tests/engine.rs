//! The simulated engine over real sockets: a queue forms past `--max-num-seqs`, TTFT follows
//! the step-time model, preemption keeps every stream exact, the queue cap answers 503, and
//! non-streaming replies wait for their last step. One worker: one exact engine; steps of a
//! fixed 10 ms (`--step-time 10000,0,0`) so that expected times are plain arithmetic.

mod common;

use std::{
    net::{SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

use common::{Conn, Server, chat};

const STEP_MS: f64 = 10.0;

fn engine(extra: &[&str]) -> Server {
    engine_of("vllm", &[&["--step-time", "10000,0,0"], extra].concat())
}

/// One worker running the `kind` engine.
fn engine_of(kind: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--engine", kind, "--workers", "1", "--dcgm-port", "off"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// One stream of `tokens` tokens: its send time, each content token's arrival, and its usage.
struct Streamed {
    sent: Instant,
    tokens: Vec<Instant>,
    completion_tokens: u64,
}

impl Streamed {
    fn ttft_ms(&self) -> f64 {
        (self.tokens[0] - self.sent).as_secs_f64() * 1e3
    }

    /// The longest gap between two content tokens, ms.
    fn max_itl_ms(&self) -> f64 {
        self.tokens.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e3).fold(0.0, f64::max)
    }
}

fn stream(addr: SocketAddr, tokens: u64) -> Streamed {
    stream_prompt(addr, "x", tokens)
}

fn stream_prompt(addr: SocketAddr, prompt: &str, tokens: u64) -> Streamed {
    let mut c = Conn::new(TcpStream::connect(addr).unwrap());
    let extra =
        format!(r#""max_tokens":{tokens},"ignore_eos":true,"stream":true,"stream_options":{{"include_usage":true}}"#);
    let sent = Instant::now();
    c.send("POST", "/v1/chat/completions", Some(&chat("m", prompt, &extra)), &[]);
    let events = c.timed_events();
    let content = |e: &serde_json::Value| e["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty());
    let usage = events.iter().find_map(|(_, e)| e["usage"]["completion_tokens"].as_u64());
    Streamed {
        sent,
        tokens: events.iter().filter(|(_, e)| content(e)).map(|(t, _)| *t).collect(),
        completion_tokens: usage.expect("a usage chunk"),
    }
}

/// A vLLM gauge or counter of model `m` from `/metrics`.
fn metric(s: &Server, name: &str) -> f64 {
    metric_at(s, "/metrics", name)
}

/// A gauge or counter of model `m` from the exposition at `path`.
fn metric_at(s: &Server, path: &str, name: &str) -> f64 {
    metric_if_any(s, path, name).unwrap_or_else(|| panic!("no {name}"))
}

/// A gauge or counter of model `m` from the exposition at `path`, if the model has been seen.
fn metric_if_any(s: &Server, path: &str, name: &str) -> Option<f64> {
    let text = s.request("GET", path, None).text();
    let prefix = format!("{name}{{model_name=\"m\"");
    let line = text.lines().find(|l| l.starts_with(&prefix))?;
    line.rsplit(' ').next()?.parse().ok()
}

#[test]
fn a_queue_forms_past_max_num_seqs_and_waits_one_generation() {
    let s = engine(&["--max-num-seqs", "4"]);
    let tokens = 20;
    let handles: Vec<_> = (0..8).map(|_| thread::spawn(move || stream(s.addr, tokens))).collect();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(metric(&s, "vllm:num_requests_running"), 4.0);
    assert_eq!(metric(&s, "vllm:num_requests_waiting"), 4.0);
    assert_eq!(metric_at(&s, "/sglang/metrics", "sglang:num_queue_reqs"), 4.0);
    assert_eq!(s.request("GET", "/dynamo/metrics/json", None).json()["queue"]["current_depth"], 4);
    let mut ttft: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).map(|r| r.ttft_ms()).collect();
    ttft.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let generation = tokens as f64 * STEP_MS;
    assert!(ttft[3] < 4.0 * STEP_MS + 20.0, "the first four start at once: {ttft:?}");
    let later = ttft[4] - ttft[3];
    assert!((generation - 4.0 * STEP_MS..generation + 4.0 * STEP_MS).contains(&later), "queued {later} ms: {ttft:?}");
    assert_eq!(metric(&s, "vllm:num_requests_running"), 0.0);
    assert_eq!(metric(&s, "vllm:num_requests_waiting"), 0.0);
}

#[test]
fn ttft_grows_with_queue_depth_as_the_step_model_says() {
    // One sequence at a time, 5 tokens each: request k's first token ends step 5k + 1.
    let s = engine(&["--max-num-seqs", "1"]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            thread::sleep(Duration::from_millis(2));
            thread::spawn(move || stream(s.addr, 5))
        })
        .collect();
    let mut runs: Vec<Streamed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Served in arrival order (threads may overtake each other on the way to the server).
    runs.sort_by_key(|r| r.tokens[0]);
    let origin = runs.iter().map(|r| r.sent).min().unwrap();
    for (k, r) in runs.iter().enumerate() {
        let since_first = (r.tokens[0] - origin).as_secs_f64() * 1e3;
        let model = (5 * k + 1) as f64 * STEP_MS;
        assert!((since_first - model).abs() < 8.0, "request {k}: first token at {since_first} ms, model {model} ms");
        assert_eq!(r.tokens.len(), 5);
    }
}

#[test]
fn preemption_keeps_every_stream_exact() {
    // 6 blocks of 16 tokens for 4 sequences of ~10 + 40 tokens (4 blocks each).
    let s = engine(&["--max-num-seqs", "8", "--num-gpu-blocks", "6", "--block-size", "16"]);
    let handles: Vec<_> = (0..4).map(|_| thread::spawn(move || stream(s.addr, 40))).collect();
    for r in handles.into_iter().map(|h| h.join().unwrap()) {
        assert_eq!((r.tokens.len(), r.completion_tokens), (40, 40));
        assert!(r.tokens.windows(2).all(|w| w[0] <= w[1]));
    }
    assert!(metric(&s, "vllm:num_preemptions_total") > 0.0, "the cache ran out");
    assert_eq!(metric(&s, "vllm:num_requests_running"), 0.0);
}

#[test]
fn a_full_queue_answers_503() {
    let s = engine(&["--max-num-seqs", "1", "--max-num-queued-requests", "2"]);
    let handles: Vec<_> = (0..3).map(|_| thread::spawn(move || stream(s.addr, 30))).collect();
    thread::sleep(Duration::from_millis(60));
    let refused = s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":5,"stream":true"#));
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.text().contains("max_num_queued_requests"));
    for r in handles.into_iter().map(|h| h.join().unwrap()) {
        assert_eq!(r.completion_tokens, 30);
    }
    assert_eq!(metric(&s, "vllm:admission_rejections_total"), 1.0);
    let probe = s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":1"#)).json();
    let x = probe["usage"]["prompt_tokens"].as_f64().unwrap();
    assert_eq!(metric(&s, "vllm:prefix_cache_queries_total"), 4.0 * x, "the refused one was never looked up");
    let prioritised = s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":5,"priority":3"#));
    assert_eq!(prioritised.status, 400, "priority needs --scheduling-policy priority");
    assert!(prioritised.text().contains("Priority scheduling is not enabled"));
}

#[test]
fn non_streaming_replies_wait_for_their_last_step() {
    let s = engine(&["--max-num-seqs", "1"]);
    let body = chat("m", "x", r#""max_tokens":10,"ignore_eos":true"#);
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (addr, body) = (s.addr, body.clone());
            thread::sleep(Duration::from_millis(3 * i));
            thread::spawn(move || {
                let sent = Instant::now();
                let r = common::spawn_post(addr, "/v1/chat/completions", body).join().unwrap();
                assert_eq!(r.json()["usage"]["completion_tokens"], 10);
                sent.elapsed().as_secs_f64() * 1e3
            })
        })
        .collect();
    let mut took: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Whichever reached the server first runs first (threads may overtake each other).
    took.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!((95.0..140.0).contains(&took[0]), "first reply after 10 steps: {took:?}");
    assert!((190.0..240.0).contains(&took[1]), "the second waited for the first: {took:?}");
}

#[test]
fn a_client_that_leaves_frees_its_place_at_once() {
    let s = engine(&["--max-num-seqs", "1"]);
    let mut gone = Conn::new(TcpStream::connect(s.addr).unwrap());
    let body = chat("m", "x", r#""max_tokens":100,"ignore_eos":true,"stream":true"#);
    gone.send("POST", "/v1/chat/completions", Some(&body), &[]);
    thread::sleep(Duration::from_millis(50));
    drop(gone);
    // The server notices at the stream's next token (one 10 ms step) and releases its sequence.
    thread::sleep(Duration::from_millis(30));
    let next = stream(s.addr, 3);
    assert!(next.ttft_ms() < 4.0 * STEP_MS, "the next request ran at once: TTFT {} ms", next.ttft_ms());
    assert_eq!(metric(&s, "vllm:num_requests_running"), 0.0);
}

#[test]
fn queue_prefill_and_decode_times_come_from_the_schedule() {
    // One sequence at a time: the second request waits for the first's 10 steps.
    let s = engine(&["--max-num-seqs", "1"]);
    let first = thread::spawn(move || stream(s.addr, 10));
    thread::sleep(Duration::from_millis(3));
    let second = thread::spawn(move || stream(s.addr, 10));
    let runs = [first.join().unwrap(), second.join().unwrap()];
    let client_ttft: f64 = runs.iter().map(|r| r.ttft_ms() / 1e3).sum();
    let sum = |name: &str| metric(&s, &format!("vllm:request_{name}_time_seconds_sum"));
    assert_eq!(metric(&s, "vllm:request_queue_time_seconds_count"), 2.0);
    let (queue, prefill, decode) = (sum("queue"), sum("prefill"), sum("decode"));
    // The waiting one queued for about the first's 10 steps, less the 3 ms head start.
    assert!((0.06..0.11).contains(&queue), "queue {queue} s");
    assert!((prefill - 2.0 * STEP_MS / 1e3).abs() < 1e-6, "one 10 ms step each: {prefill} s");
    assert!((decode - 18.0 * STEP_MS / 1e3).abs() < 1e-6, "nine steps each: {decode} s");
    assert!((sum("inference") - prefill - decode).abs() < 1e-6);
    assert!(
        (queue + prefill - client_ttft).abs() < 0.025,
        "queue + prefill {} s vs TTFT {client_ttft} s",
        queue + prefill
    );
}

/// FakeAI's `/kv-cache/metrics` view of the pool.
fn kv_pool(s: &Server) -> serde_json::Value {
    s.request("GET", "/kv-cache/metrics", None).json()["kv_cache"].clone()
}

#[test]
fn one_pool_cached_blocks_are_evicted_before_anyone_is_preempted_and_repeats_hit() {
    // 24 blocks of 16 tokens, 2 ms steps: the engine's blocks and the prefix cache are one pool.
    let s = Server::start(&[
        "--engine",
        "vllm",
        "--workers",
        "1",
        "--step-time",
        "2000,0,0",
        "--dcgm-port",
        "off",
        "--max-num-seqs",
        "8",
        "--num-gpu-blocks",
        "24",
        "--block-size",
        "16",
    ]);
    // The short prompt of `stream` (under one block: it caches nothing).
    let probe = s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":1"#)).json();
    let x = probe["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(x < 16, "{probe}");
    let long = chat("m", &"Explain paged attention and its limits. ".repeat(12), r#""max_tokens":1"#);
    let first = s.post("/v1/chat/completions", &long).json()["usage"].clone();
    let n = first["prompt_tokens"].as_u64().unwrap();
    assert!((64..200).contains(&n), "{first}");
    assert_eq!(first["prompt_tokens_details"]["cached_tokens"], 0);
    let cached_blocks = n / 16;
    let kv = kv_pool(&s);
    assert_eq!((kv["used_blocks"].as_u64(), kv["cached_blocks"].as_u64()), (Some(0), Some(cached_blocks)), "{kv}");
    assert_eq!(metric(&s, "vllm:kv_cache_usage_perc"), 0.0, "finished: its blocks are cached, not held");
    let again = s.post("/v1/chat/completions", &long).json()["usage"].clone();
    let hit = (n - 1) / 16 * 16;
    assert_eq!(again["prompt_tokens_details"]["cached_tokens"], hit, "a repeat hits: {again}");
    assert_eq!(metric(&s, "vllm:prefix_cache_hits_total"), hit as f64);
    assert_eq!(metric(&s, "vllm:prefix_cache_queries_total"), (x + 2 * n) as f64);

    let run = |tokens: u64| {
        let handles: Vec<_> = (0..2).map(|_| thread::spawn(move || stream(s.addr, tokens))).collect();
        for r in handles.into_iter().map(|h| h.join().unwrap()) {
            assert_eq!((r.tokens.len() as u64, r.completion_tokens), (tokens, tokens), "usage exact");
        }
    };
    // The KV a sequence fills: its prompt and every token but the last, whose KV is never computed.
    let blocks_each = |tokens: u64| (x + tokens - 1).div_ceil(16);
    // Two streams whose KV fits only by evicting two of the cached blocks: no preemption.
    let free = 24 - cached_blocks;
    let small = (1..).find(|&t| 2 * blocks_each(t) == free + 2).unwrap();
    run(small);
    let kv = kv_pool(&s);
    assert_eq!(kv["evictions"], 2, "the two least recently used cached blocks: {kv}");
    assert_eq!(kv["cached_blocks"].as_u64(), Some(cached_blocks - 2));
    assert_eq!(metric(&s, "vllm:num_preemptions_total"), 0.0, "evicting was enough");

    // Two streams that need more than the whole pool: every cached block goes, then preemption.
    let big = (1..).find(|&t| blocks_each(t) == 15).unwrap();
    run(big);
    let kv = kv_pool(&s);
    assert_eq!(kv["evictions"].as_u64(), Some(cached_blocks), "all of the cached prefix evicted: {kv}");
    assert_eq!(kv["cached_blocks"], 0);
    assert!(metric(&s, "vllm:num_preemptions_total") > 0.0, "then the pool ran out");
    assert_eq!(kv["used_blocks"], 0, "every block came back");
    assert_eq!(metric(&s, "vllm:kv_cache_usage_perc"), 0.0);
}

/// Four streams of ~10 + 40 tokens on 6 blocks of 16 tokens under `kind`: each stream, in
/// the order they started, and the preemptions.
fn four_streams_on_six_blocks(kind: &str) -> (Vec<Streamed>, f64) {
    let s = engine_of(kind, &["--step-time", "10000,0,0", "--num-gpu-blocks", "6", "--block-size", "16"]);
    let handles: Vec<_> = (0..4).map(|_| thread::spawn(move || stream(s.addr, 40))).collect();
    let mut runs: Vec<Streamed> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for r in &runs {
        assert_eq!((r.tokens.len(), r.completion_tokens), (40, 40), "{kind}: usage exact");
    }
    runs.sort_by_key(|r| r.tokens[0]);
    assert_eq!(metric(&s, "vllm:num_requests_running"), 0.0);
    (runs, metric(&s, "vllm:num_preemptions_total"))
}

#[test]
fn trtllm_queues_rather_than_preempts_when_blocks_are_short() {
    // Each stream may reach its short prompt + 40 tokens: 3 or 4 blocks reserved at admission,
    // so at most two run at a time.
    let (runs, preemptions) = four_streams_on_six_blocks("trtllm");
    assert_eq!(preemptions, 0.0, "guaranteed no evict");
    for r in &runs {
        assert!(r.max_itl_ms() < 3.0 * STEP_MS, "no stream pauses once admitted: {} ms", r.max_itl_ms());
    }
    // First tokens since the first request was sent (a client thread may start late).
    let origin = runs.iter().map(|r| r.sent).min().unwrap();
    let firsts: Vec<f64> = runs.iter().map(|r| (r.tokens[0] - origin).as_secs_f64() * 1e3).collect();
    assert!(firsts[2] > 35.0 * STEP_MS, "the third waited for a whole generation's blocks: {firsts:?}");
    // vLLM on the same pool admits them all, runs out, and a preempted stream pauses.
    let (runs, preemptions) = four_streams_on_six_blocks("vllm");
    assert!(preemptions > 0.0);
    let worst = runs.iter().map(Streamed::max_itl_ms).fold(0.0, f64::max);
    assert!(worst > 5.0 * STEP_MS, "a preempted stream's tokens stop for a while: {worst} ms");
}

/// A 30-token stream under `kind` (20 ms steps, 20 µs per prompt token, 512 tokens a step)
/// into which a prompt of about 2,000 tokens arrives: the stream's longest gap, ms.
fn longest_gap_when_a_long_prompt_arrives(kind: &str) -> f64 {
    let s = engine_of(kind, &["--step-time", "20000,20,0", "--max-num-batched-tokens", "512"]);
    let running = thread::spawn(move || stream(s.addr, 30));
    thread::sleep(Duration::from_millis(100));
    let long = "Explain paged attention and its limits. ".repeat(250);
    let arriving = stream_prompt(s.addr, &long, 2);
    assert_eq!(arriving.completion_tokens, 2);
    let running = running.join().unwrap();
    assert_eq!((running.tokens.len(), running.completion_tokens), (30, 30), "{kind}: usage exact");
    running.max_itl_ms()
}

#[test]
fn sglang_pauses_running_streams_for_prefill_steps_vllm_mixes_them() {
    // vLLM: each 512-token chunk rides with the stream's decode: ~30 ms steps.
    let vllm = longest_gap_when_a_long_prompt_arrives("vllm");
    assert!(vllm < 45.0, "vLLM mixes prefill chunks into decode steps: longest gap {vllm} ms");
    // SGLang: four or so prefill steps of ~30 ms run alone, then a decode step.
    let sglang = longest_gap_when_a_long_prompt_arrives("sglang");
    assert!(sglang > 100.0, "SGLang's stream waits for the whole prefill: longest gap {sglang} ms");
}

#[test]
fn sglang_lpm_admits_the_longest_cached_prefix_first() {
    let s = engine_of(
        "sglang",
        &["--step-time", "10000,0,0", "--max-num-seqs", "1", "--schedule-policy", "lpm", "--block-size", "16"],
    );
    let hot = "Explain paged attention and its limits. ".repeat(12);
    let cold = "Describe radix trees and their uses. ".repeat(12);
    s.post("/v1/chat/completions", &chat("m", &hot, r#""max_tokens":1"#));
    let busy = thread::spawn(move || stream(s.addr, 20));
    thread::sleep(Duration::from_millis(30));
    let cold = thread::spawn(move || stream_prompt(s.addr, &cold, 2));
    thread::sleep(Duration::from_millis(20));
    let hot = thread::spawn(move || stream_prompt(s.addr, &hot, 2));
    busy.join().unwrap();
    let (cold, hot) = (cold.join().unwrap(), hot.join().unwrap());
    assert!(hot.sent > cold.sent);
    assert!(hot.tokens[0] < cold.tokens[0], "the cached prompt overtook the cold one that came first");
    assert_eq!((cold.completion_tokens, hot.completion_tokens), (2, 2));
}

/// The value of the sample whose line starts with `prefix` in the exposition at `path`.
fn sample(s: &Server, path: &str, prefix: &str) -> f64 {
    sample_in(&s.request("GET", path, None).text(), prefix)
}

/// The value of the sample whose line starts with `prefix` in one scrape's `text`.
fn sample_in(text: &str, prefix: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn vllm_and_trtllm_current_engine_families_follow_the_schedule() {
    let s = engine(&["--max-num-seqs", "1"]);
    let tokens = 20;
    // Prompts that differ from their first token: no prefix hits, every prompt token computed.
    let prompt = |i: usize| format!("{i} {}", "word ".repeat(40));
    let handles: Vec<_> = (0..3).map(|i| thread::spawn(move || stream_prompt(s.addr, &prompt(i), tokens))).collect();
    // Until all three arrived (a loaded machine may start a client thread late); the first runs
    // for 20 steps of 10 ms, so the other two wait for at least 200 ms.
    let since = Instant::now();
    let waiting_now = || metric_if_any(&s, "/metrics", "vllm:num_requests_waiting");
    let mut waiting = waiting_now();
    while waiting < Some(2.0) && since.elapsed() < Duration::from_millis(150) {
        thread::sleep(Duration::from_millis(5));
        waiting = waiting_now();
    }
    let waiting = waiting.unwrap_or_default();
    assert_eq!(waiting, 2.0, "one runs, two wait");
    let by_reason = |reason: &str| {
        sample(&s, "/metrics", &format!("vllm:num_requests_waiting_by_reason{{model_name=\"m\",reason=\"{reason}\"}}"))
    };
    assert_eq!(by_reason("capacity"), waiting);
    assert_eq!(by_reason("deferred"), 0.0);
    assert_eq!(metric_at(&s, "/prometheus/metrics", "trtllm_num_requests_running"), 1.0);
    assert_eq!(metric_at(&s, "/trtllm/metrics", "trtllm_num_requests_waiting"), 2.0);
    // One scrape: the running stream takes a block every 16 tokens, so two scrapes may differ.
    let scrape = s.request("GET", "/prometheus/metrics", None).text();
    let used = sample_in(&scrape, "trtllm_kv_cache_used_blocks ");
    let max = sample_in(&scrape, "trtllm_kv_cache_max_blocks ");
    assert!(used > 0.0, "a running stream holds blocks");
    assert_eq!(sample_in(&scrape, "trtllm_kv_cache_free_blocks "), max - used);
    assert_eq!(sample_in(&scrape, "trtllm_kv_cache_utilization "), used / max);
    assert_eq!(sample_in(&scrape, "trtllm_kv_cache_tokens_per_block "), 16.0);
    for h in handles {
        assert_eq!(h.join().unwrap().completion_tokens, tokens);
    }
    // One sequence a step: a step per token, each computing a whole prompt or one decode.
    let steps = sample(&s, "/metrics", "vllm:iteration_tokens_total_count{engine=\"0\"}");
    assert_eq!(steps, 3.0 * tokens as f64);
    assert_eq!(sample(&s, "/metrics", "vllm:iteration_tokens_total_bucket{engine=\"0\",le=\"1.0\"}"), steps - 3.0);
    let prompts = metric(&s, "vllm:prompt_tokens_total");
    assert!(prompts > 120.0, "{prompts} prompt tokens");
    let computed = sample(&s, "/metrics", "vllm:iteration_tokens_total_sum{engine=\"0\"}");
    assert_eq!(computed, prompts + steps - 3.0, "the prompts and the decodes after each first token");
    assert_eq!(sample(&s, "/trtllm/metrics", "trtllm_iteration_latency_seconds_count{engine=\"0\"}"), steps);
    let seconds = sample(&s, "/trtllm/metrics", "trtllm_iteration_latency_seconds_sum{engine=\"0\"}");
    assert!((seconds - steps * STEP_MS / 1e3).abs() < 1e-6, "{seconds} s over {steps} steps of 10 ms");
    assert_eq!(sample(&s, "/trtllm/metrics", "trtllm_kv_cache_used_blocks "), 0.0);
}

#[test]
fn engine_sleep_state_follows_sleep_and_wake_up() {
    let s = Server::start(&["--workers", "1", "--dcgm-port", "off"]);
    let state = |name: &str| {
        sample(&s, "/vllm/metrics", &format!("vllm:engine_sleep_state{{engine=\"0\",sleep_state=\"{name}\"}}"))
    };
    assert_eq!((state("awake"), state("weights_offloaded"), state("discard_all")), (1.0, 0.0, 0.0));
    assert_eq!(s.request("POST", "/sleep?level=2", None).status, 200);
    assert_eq!((state("awake"), state("discard_all")), (0.0, 1.0));
    assert_eq!(s.request("POST", "/sleep?level=1", None).status, 200);
    assert_eq!((state("weights_offloaded"), state("discard_all")), (1.0, 0.0));
    assert_eq!(s.request("POST", "/wake_up", None).status, 200);
    assert_eq!(state("awake"), 1.0);
    // Without the engine there are no steps and no queue to report.
    let text = s.request("GET", "/metrics", None).text();
    assert!(!text.contains("vllm:iteration_tokens_total") && !text.contains("waiting_by_reason"), "{text}");
    assert!(!s.request("GET", "/trtllm/metrics", None).text().contains("trtllm_iteration_latency_seconds"));
}
