//! The engine families beyond the scheduler's gauges, over HTTP: vLLM's `request_params_n` and
//! MFU estimates, SGLang's token and abort counters, TRT-LLM's speculative-decoding counters
//! and configuration info, and the whole exposition parsed by prometheus_client.

mod common;

use std::{
    net::TcpStream,
    thread,
    time::{Duration, Instant},
};

use common::{Conn, FAST, Server, chat, eventually, sample};

/// A non-streamed chat to model `m` of exactly `tokens` tokens: its prompt tokens.
fn complete(s: &Server, prompt: &str, tokens: u64) -> u64 {
    let body = chat("m", prompt, &format!(r#""max_tokens":{tokens},"ignore_eos":true"#));
    let r = s.post("/v1/chat/completions", &body).json();
    assert_eq!(r["usage"]["completion_tokens"], tokens, "{r}");
    r["usage"]["prompt_tokens"].as_u64().unwrap()
}

#[test]
fn request_params_n_buckets_each_requests_n() {
    let s = Server::start(&[FAST, &["--workers", "2", "--dcgm-port", "off"]].concat());
    for n in [1, 1, 3, 7] {
        let r = s.post("/v1/chat/completions", &chat("m", "x", &format!(r#""max_tokens":2,"n":{n}"#)));
        assert_eq!(r.json()["choices"].as_array().unwrap().len(), n);
    }
    let m = "model_name=\"m\"";
    let text = eventually(&s, "/vllm/metrics", &format!("vllm:request_params_n_count{{{m}}}"), 4.0);
    let bucket = |le: &str| sample(&text, &format!("vllm:request_params_n_bucket{{{m},le=\"{le}\"}}"));
    let buckets: Vec<_> = ["1.0", "2.0", "5.0", "10.0", "20.0", "+Inf"].iter().map(|le| bucket(le)).collect();
    assert_eq!(buckets, [2.0, 2.0, 3.0, 4.0, 4.0, 4.0].map(Some), "vLLM's bounds 1, 2, 5, 10, 20");
    assert_eq!(sample(&text, &format!("vllm:request_params_n_sum{{{m}}}")), Some(12.0));
    assert_eq!(sample(&text, &format!("vllm:request_params_max_tokens_count{{{m}}}")), Some(4.0));
    // No profile: no shape to estimate from, so no MFU families (vLLM too shows them only
    // with --enable-mfu-metrics); the caches fakeai lacks, and the multi-modal one without
    // images, read 0.
    assert!(!text.contains("vllm:estimated_flops_per_gpu_total"));
    for zero in
        ["external_prefix_cache_queries", "external_prefix_cache_hits", "mm_cache_queries", "corrupted_requests"]
    {
        assert_eq!(sample(&text, &format!("vllm:{zero}_total{{{m}}}")), Some(0.0), "{zero}");
    }
}

/// vLLM's estimate for llama-3.1-8b (8.03 B parameters, BF16, 32 layers, 32 heads, 8 KV heads of
/// 128) on one GPU, for one request of `prompt` tokens that generated 4 alone: a prefill step,
/// then 3 decode steps over contexts prompt+1..prompt+3.
fn llama_8b_estimate(prompt: f64) -> [f64; 3] {
    let (tokens, steps) = (prompt + 3.0, 4.0);
    let decode_context = 3.0 * prompt + 6.0;
    let token_context = prompt * prompt + decode_context;
    let context = prompt + decode_context;
    let kv_per_token = 2.0 * 32.0 * 8.0 * 128.0 * 2.0;
    [
        (2.0 * 8.03e9 * tokens + 4.0 * 32.0 * 32.0 * 128.0 * token_context).round(),
        (steps * 8.03e9 * 2.0 + kv_per_token * context).round(),
        kv_per_token * tokens,
    ]
}

/// The three MFU counters at `path`.
fn estimates(s: &Server) -> [f64; 3] {
    let text = s.request("GET", "/metrics", None).text();
    ["flops", "read_bytes", "write_bytes"].map(|what| {
        sample(&text, &format!("vllm:estimated_{what}_per_gpu_total{{engine=\"0\"}}")).expect("an MFU family")
    })
}

#[test]
fn mfu_estimates_follow_the_formula_with_and_without_the_engine() {
    for engine in [&["--engine", "vllm", "--step-time", "1000,0,0"][..], &[]] {
        let flags = [FAST, &["--workers", "1", "--dcgm-port", "off", "--model-profile", "llama-3.1-8b"], engine];
        let s = Server::start(&flags.concat());
        assert_eq!(estimates(&s), [0.0; 3], "nothing computed yet");
        let prompt = complete(&s, "how many floating point operations does this take", 4);
        let want = llama_8b_estimate(prompt as f64);
        let t = Instant::now();
        while estimates(&s) != want && t.elapsed() < Duration::from_secs(3) {
            thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(estimates(&s), want, "engine {engine:?}, {prompt} prompt tokens");
        // A second request adds to the counters.
        complete(&s, "an unrelated prompt that shares no block", 4);
        let t = Instant::now();
        while estimates(&s)[0] <= want[0] && t.elapsed() < Duration::from_secs(3) {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(estimates(&s).iter().zip(want).all(|(now, before)| *now > before), "counters grow");
        common::run_sdk_script("engine_metrics_check.py", &[&format!("http://{}", s.addr)]);
    }
}

/// A chat to model `m` whose user message shows the images at `urls`.
fn with_images(urls: &[&str]) -> String {
    let parts: Vec<_> =
        urls.iter().map(|u| serde_json::json!({"type": "image_url", "image_url": {"url": u}})).collect();
    let body = serde_json::json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": parts}]});
    body.to_string()
}

#[test]
fn mm_cache_queries_every_image_and_hits_the_ones_seen_before() {
    let s = Server::start(&[FAST, &["--workers", "2", "--dcgm-port", "off"]].concat());
    let lookups = |queries: f64, hits: f64| {
        let m = "model_name=\"m\"";
        let text = eventually(&s, "/vllm/metrics", &format!("vllm:mm_cache_queries_total{{{m}}}"), queries);
        assert_eq!(sample(&text, &format!("vllm:mm_cache_hits_total{{{m}}}")), Some(hits));
    };
    let (cat, dog) = ("https://example.com/cat.png", "https://example.com/dog.png");
    assert_eq!(s.post("/v1/chat/completions", &with_images(&[cat, dog])).status, 200);
    lookups(2.0, 0.0);
    assert_eq!(s.post("/v1/chat/completions", &chat("m", "text only", r#""max_tokens":1"#)).status, 200);
    lookups(2.0, 0.0);
    assert_eq!(s.post("/v1/chat/completions", &with_images(&[dog])).status, 200);
    lookups(3.0, 1.0);
}

#[test]
fn sglang_counts_abandoned_streams_and_tokens_by_mode() {
    let s = Server::start(&["--workers", "1", "--dcgm-port", "off", "--ttft", "0:0", "--itl", "20:0"]);
    let prompt = complete(&s, "one whole request", 3);
    let body = chat("m", "an abandoned stream", r#""max_tokens":500,"ignore_eos":true,"stream":true"#);
    let mut c = Conn::new(TcpStream::connect(s.addr).unwrap());
    c.send("POST", "/v1/chat/completions", Some(&body), &[]);
    thread::sleep(Duration::from_millis(100));
    drop(c);
    let m = "model_name=\"m\"";
    let text = eventually(&s, "/sglang/metrics", &format!("sglang:num_aborted_requests_total{{{m}}}"), 1.0);
    let mode = |mode: &str| sample(&text, &format!("sglang:realtime_tokens_total{{mode=\"{mode}\",{m}}}")).unwrap();
    let prompts = sample(&text, &format!("sglang:prompt_tokens_total{{{m}}}")).unwrap();
    assert!(prompts > prompt as f64, "both prompts counted");
    assert_eq!(mode("prefill_compute") + mode("prefill_cache"), prompts, "every prompt token computed or cached");
    assert_eq!(mode("decode"), sample(&text, &format!("sglang:generation_tokens_total{{{m}}}")).unwrap());
    assert!(mode("decode") > 3.0, "the abandoned stream's tokens count too");
}

#[test]
fn trtllm_config_info_labels_follow_the_flags() {
    let s = Server::start(
        &[
            FAST,
            &[
                "--workers",
                "1",
                "--dcgm-port",
                "off",
                "--model-profile",
                "llama-3.3-70b-fp8",
                "--tensor-parallel-size",
                "4",
                "--gpu",
                "h200",
                "--block-size",
                "32",
                "--no-enable-prefix-caching",
            ],
        ]
        .concat(),
    );
    complete(&s, "x", 2);
    let text =
        eventually(&s, "/prometheus/metrics", "trtllm_spec_decode_num_draft_tokens_total{model_name=\"m\"}", 0.0);
    let info = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(&format!("{name}{{"))).unwrap_or_else(|| panic!("no {name}"));
        assert!(line.ends_with("} 1"), "{line}");
        line.to_owned()
    };
    let model = info("trtllm_model_config_info");
    for label in
        ["model=\"llama-3.3-70b-fp8\"", "served_model_name=\"m\"", "quantization=\"FP8\"", "gpu_type=\"NVIDIA H200\""]
    {
        assert!(model.contains(label), "{label} in {model}");
    }
    let parallel = info("trtllm_parallel_config_info");
    assert!(parallel.contains("tensor_parallel_size=\"4\"") && parallel.contains("gpu_count=\"4\""), "{parallel}");
    let kv = info("trtllm_kv_cache_config_info");
    assert!(kv.contains("page_size=\"32\"") && kv.contains("enable_block_reuse=\"False\""), "{kv}");
    assert!(info("trtllm_speculative_config_info").contains("spec_enabled=\"false\""));
    assert_eq!(sample(&text, "trtllm_spec_decode_num_accepted_tokens_total{model_name=\"m\"}"), Some(0.0));
}
