//! The KV cache with prefix caching, over HTTP against the real binary: cached tokens in usage,
//! isolation by `cache_salt`, TTFT shortened by hits, `/reset_prefix_cache`, and the metrics
//! that report it all.

mod common;

use std::{net::TcpStream, time::Instant};

use common::{Conn, Server, cached, chat, sample, usage_of};
use serde_json::Value;

/// A prompt of a few hundred tokens.
fn long_prompt(topic: &str) -> String {
    format!("Explain {topic} in detail, with its history, its uses and its limits. ").repeat(20)
}

/// Scrapes `path` until `series` reads `want` (other workers publish every 20 ms).
fn eventually(s: &Server, path: &str, series: &str, want: f64) -> String {
    let t = Instant::now();
    loop {
        let text = s.request("GET", path, None).text();
        if sample(&text, series) == Some(want) || t.elapsed().as_secs() >= 3 {
            assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_repeated_prompt_hits_whole_blocks_and_a_salt_or_reset_misses() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--workers", "2"]);
    let body = chat("llama", &long_prompt("paged attention"), r#""max_tokens":3"#);
    let first = usage_of(&s, &body);
    let n = first["prompt_tokens"].as_u64().unwrap();
    assert!(n > 100, "{first}");
    assert_eq!(cached(&first), 0, "nothing cached yet");
    let again = usage_of(&s, &body);
    assert_eq!(cached(&again), (n - 1) / 16 * 16, "whole blocks, the last token recomputed: {again}");
    assert!(cached(&again) < n);
    let salted = chat("llama", &long_prompt("paged attention"), r#""max_tokens":3,"cache_salt":"b""#);
    assert_eq!(cached(&usage_of(&s, &salted)), 0, "another salt shares nothing");
    assert_eq!(cached(&usage_of(&s, &salted)), (n - 1) / 16 * 16, "but hits itself");
    let other_model = chat("mistral", &long_prompt("paged attention"), r#""max_tokens":3"#);
    assert_eq!(cached(&usage_of(&s, &other_model)), 0, "another model (or LoRA adapter) shares nothing");
    let empty_salt = chat("llama", "x", r#""cache_salt":"""#);
    assert_eq!(s.post("/v1/chat/completions", &empty_salt).status, 400);

    let r = s.request("POST", "/reset_prefix_cache", None);
    assert_eq!(r.status, 200);
    assert_eq!(cached(&usage_of(&s, &body)), 0, "the reset emptied the cache");
    assert_eq!(cached(&usage_of(&s, &body)), (n - 1) / 16 * 16);

    // Completions and token-id prompts share the scheme.
    let completion = format!(r#"{{"model":"llama","prompt":{},"max_tokens":2}}"#, serde_json::json!(long_prompt("KV")));
    let c1 = s.post("/v1/completions", &completion).json();
    let c2 = s.post("/v1/completions", &completion).json();
    assert_eq!(cached(&c1["usage"]), 0);
    assert!(cached(&c2["usage"]) > 0 && cached(&c2["usage"]).is_multiple_of(16), "{}", c2["usage"]);
}

#[test]
fn metrics_agree_with_what_clients_saw() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--num-gpu-blocks", "1000"]);
    let body = chat("metered", &long_prompt("prefix caching"), r#""max_tokens":2"#);
    let (a, b) = (usage_of(&s, &body), usage_of(&s, &body));
    let queried = a["prompt_tokens"].as_u64().unwrap() + b["prompt_tokens"].as_u64().unwrap();
    let hits = cached(&b);
    assert!(hits > 0);
    let m = "{model_name=\"metered\"}";
    // The model's series appear once its core publishes (every 20 ms).
    let text = eventually(&s, "/metrics", &format!("vllm:prefix_cache_queries_total{m}"), queried as f64);
    assert_eq!(sample(&text, &format!("vllm:prefix_cache_hits_total{m}")), Some(hits as f64));
    assert_eq!(sample(&text, &format!("vllm:prompt_tokens_cached_total{m}")), Some(hits as f64));
    assert_eq!(
        sample(&text, "vllm:prompt_tokens_by_source_total{model_name=\"metered\",source=\"local_cache_hit\"}"),
        Some(hits as f64)
    );
    assert_eq!(sample(&text, &format!("vllm:kv_cache_usage_perc{m}")), Some(0.0), "nothing running");
    assert!(text.contains("enable_prefix_caching=\"True\",num_gpu_blocks=\"1000\""), "cache_config_info");
    let sglang = s.request("GET", "/sglang/metrics", None).text();
    assert_eq!(sample(&sglang, &format!("sglang:cached_tokens_total{m}")), Some(hits as f64));
    let rate = sample(&sglang, &format!("sglang:cache_hit_rate{m}")).unwrap();
    assert!((rate - hits as f64 / queried as f64).abs() < 1e-9, "{rate}");

    let kv = s.request("GET", "/kv-cache/metrics", None).json();
    let perf = &kv["cache_performance"];
    assert_eq!(perf["total_cache_hits"], 1);
    assert_eq!(perf["total_cache_misses"], 1);
    assert_eq!(perf["cached_tokens_reused"], hits);
    assert_eq!(perf["total_tokens_processed"], queried);
    assert_eq!(perf["cache_hit_rate"], 50.0);
    assert_eq!(perf["endpoint_stats"]["/v1/chat/completions"]["cached_tokens"], hits);
    assert_eq!(kv["smart_router"]["workers"]["worker-0"]["total_requests"], 2);
    assert_eq!(kv["smart_router"]["config"]["num_gpu_blocks"], 1000);
    assert!(kv["smart_router"]["radix_tree"]["total_cached_blocks"].as_u64().unwrap() >= hits / 16);
    let dynamo = s.request("GET", "/dynamo/metrics/json", None).json();
    assert_eq!(dynamo["cache"]["total_cached_tokens"], hits);
    assert_eq!(dynamo["cache"]["hit_rate"], 50.0);

    let day = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400 * 86_400;
    let usage = s.request("GET", &format!("/v1/organization/usage/completions?start_time={day}"), None).json();
    let cached_billed: u64 = usage["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap())
        .map(|r| r["input_cached_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(cached_billed, hits, "the usage ledger bills the cached tokens: {usage}");
}

#[test]
fn streams_hold_their_blocks_until_they_end_or_are_abandoned() {
    let s = Server::start(&["--workers", "1", "--ttft", "0:0", "--itl", "20:0", "--num-gpu-blocks", "100"]);
    let body = chat("held", &long_prompt("holding"), r#""max_tokens":200,"ignore_eos":true,"stream":true"#);
    let mut c = Conn::new(TcpStream::connect(s.addr).unwrap());
    c.send("POST", "/v1/chat/completions", Some(&body), &[]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kv = s.request("GET", "/kv-cache/metrics", None).json();
    let used = kv["kv_cache"]["used_blocks"].as_u64().unwrap();
    assert!(used > 10, "prompt and output blocks held while streaming: {kv}");
    let text = s.request("GET", "/vllm/metrics", None).text();
    assert_eq!(sample(&text, "vllm:kv_cache_usage_perc{model_name=\"held\"}"), Some(used as f64 / 100.0));
    // A reset is refused while blocks are held (as vLLM refuses): the prompt still hits.
    assert_eq!(s.request("POST", "/reset_prefix_cache", None).status, 200);
    assert_eq!(s.request("GET", "/kv-cache/metrics", None).json()["kv_cache"]["used_blocks"], used);
    drop(c);
    // The server notices at its next write (20 ms) and frees the blocks.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let kv = s.request("GET", "/kv-cache/metrics", None).json();
        if kv["kv_cache"]["used_blocks"] == 0 {
            assert_eq!(kv["smart_router"]["workers"]["worker-0"]["active_requests"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "an abandoned stream keeps its blocks: {kv}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let again = chat("held", &long_prompt("holding"), r#""max_tokens":2"#);
    assert!(cached(&usage_of(&s, &again)) > 0, "the refused reset kept the cache; the freed blocks stay cached");
}

/// Time to the first content chunk of a streamed chat.
fn ttft(s: &Server, body: &str) -> f64 {
    let mut c = Conn::new(TcpStream::connect(s.addr).unwrap());
    let start = Instant::now();
    c.send("POST", "/v1/chat/completions", Some(body), &[]);
    let events = c.timed_events();
    let text = |e: &Value| e["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty());
    let (at, _) = events.iter().find(|(_, e)| text(e)).unwrap();
    at.duration_since(start).as_secs_f64()
}

#[test]
fn prefill_time_per_uncached_token_lengthens_ttft_and_hits_shorten_it() {
    // 2 ms per uncached prompt token: a ~360-token prompt takes ~0.7 s to prefill, a hit ~0.
    let s = Server::start(&["--ttft", "10:0", "--itl", "1:0", "--prefill-us-per-token", "2000"]);
    let prompt = long_prompt("chunked prefill");
    let body = chat("timed", &prompt, r#""max_tokens":3,"stream":true"#);
    let n = usage_of(&s, &chat("count-only", &prompt, r#""max_tokens":1"#))["prompt_tokens"].as_u64().unwrap();
    let per_token = 2e-3;
    let cold = ttft(&s, &body);
    let warm = ttft(&s, &body);
    let uncached_warm = (n - (n - 1) / 16 * 16) as f64;
    assert!(cold >= 0.010 + n as f64 * per_token * 0.99, "cold TTFT {cold} for {n} tokens");
    assert!(warm < 0.010 + uncached_warm * per_token + 0.25, "warm TTFT {warm}");
    assert!(cold - warm > n as f64 * per_token * 0.5, "the hit saves most of the prefill: {cold} vs {warm}");
}

#[test]
fn prefix_caching_can_be_turned_off() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--no-prefix-caching"]);
    let body = chat("off", &long_prompt("no cache"), r#""max_tokens":2"#);
    usage_of(&s, &body);
    assert_eq!(cached(&usage_of(&s, &body)), 0);
    let text = s.request("GET", "/metrics", None).text();
    assert!(text.contains("enable_prefix_caching=\"False\""));
}

#[test]
fn openai_sdk_validates_cached_usage_strictly() {
    common::sdk_check("kv_cache_check.py", "/v1", || Server::start(common::FAST));
}

#[test]
fn removed_vllm_names_are_served_only_with_compat_metrics() {
    let removed = [
        "vllm:gpu_cache_usage_perc{",
        "vllm:gpu_prefix_cache_queries_total{",
        "vllm:gpu_prefix_cache_hits_total{",
        "vllm:time_per_output_token_seconds_count{",
    ];
    let body = chat("compat", &long_prompt("metric names"), r#""max_tokens":4,"ignore_eos":true"#);
    for compat in [false, true] {
        let flags: &[&str] = if compat {
            &["--ttft", "0:0", "--itl", "0:0", "--compat-metrics"]
        } else {
            &["--ttft", "0:0", "--itl", "0:0"]
        };
        let s = Server::start(flags);
        let (a, b) = (usage_of(&s, &body), usage_of(&s, &body));
        for path in ["/metrics", "/vllm/metrics"] {
            let m = "{model_name=\"compat\"}";
            let tpot = format!("vllm:request_time_per_output_token_seconds_count{m}");
            let text = eventually(&s, path, &tpot, 2.0);
            for name in removed {
                assert_eq!(text.contains(name), compat, "{name} at {path} with compat {compat}");
            }
            if compat {
                let queried = a["prompt_tokens"].as_u64().unwrap() + b["prompt_tokens"].as_u64().unwrap();
                assert_eq!(sample(&text, &format!("vllm:gpu_prefix_cache_queries_total{m}")), Some(queried as f64));
                assert_eq!(sample(&text, &format!("vllm:gpu_prefix_cache_hits_total{m}")), Some(cached(&b) as f64));
                assert_eq!(sample(&text, &format!("vllm:gpu_cache_usage_perc{m}")), Some(0.0));
                assert_eq!(sample(&text, &format!("vllm:time_per_output_token_seconds_count{m}")), Some(2.0));
                assert_eq!(text.matches("# TYPE vllm:time_per_output_token_seconds ").count(), 1, "one family");
            }
        }
        assert!(!s.request("GET", "/sglang/metrics", None).text().contains("vllm:"), "vLLM names stay out of SGLang's");
    }
}
