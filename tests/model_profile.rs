//! `--model-profile` end to end: the KV blocks and step time it derives with `--gpu`, the flags
//! and environment that override it, and a refusal when the weights do not fit.

mod common;

use std::{process::Command, time::Instant};

use common::{Server, chat};

/// `num_gpu_blocks` as `vllm:cache_config_info` shows it.
fn blocks(s: &Server) -> u64 {
    let text = s.request("GET", "/metrics", None).text();
    let line = text.lines().find(|l| l.starts_with("vllm:cache_config_info{")).expect("cache_config_info");
    line.split("num_gpu_blocks=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
}

#[test]
fn a_profile_sets_the_kv_blocks_and_the_step_time_unless_flags_do() {
    let args = ["--engine", "vllm", "--workers", "1", "--dcgm-port", "off", "--no-prefix-caching"];
    let s = Server::start(&[&args[..], &["--model-profile", "llama-3.3-70b-fp8", "--gpu", "h100"]].concat());
    // 2 × (0.9 × 81,559 MiB − 2 GiB) − 70.6 GB of FP8 weights, in blocks of 16 × 160 KiB.
    assert_eq!(blocks(&s), 30_152);
    // One request alone: its 5,000-token prompt is one prefill step of the fitted a + 5,000 b.
    let prompt = vec!["word"; 5_000].join(" ");
    let body = chat("m", &prompt, r#""stream":true,"max_tokens":2"#);
    let mut c = s.connect();
    let sent = Instant::now();
    c.send("POST", "/v1/chat/completions", Some(&body), &[]);
    let events = c.timed_events();
    let usage = s.request("GET", "/metrics", None).text();
    assert!(usage.contains("vllm:prompt_tokens_total{model_name=\"m\"} 50"), "a ~5,000-token prompt");
    let first_token = events
        .iter()
        .find(|(_, e)| e["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()))
        .expect("a content event");
    let ttft = first_token.0 - sent;
    let tokens: u64 = usage
        .lines()
        .find_map(|l| l.strip_prefix("vllm:prompt_tokens_total{model_name=\"m\"} "))
        .unwrap()
        .parse()
        .unwrap();
    let expected_ms = 17.2166 + 0.068262 * tokens as f64;
    let got_ms = ttft.as_secs_f64() * 1e3;
    assert!(got_ms >= expected_ms && got_ms < expected_ms + 60.0, "TTFT {got_ms} ms, the model says {expected_ms}");

    // Flags and the environment win over what the profile derives.
    let s = Server::start(&[&args[..], &["--model-profile", "llama-3.1-8b", "--num-gpu-blocks", "100"]].concat());
    assert_eq!(blocks(&s), 100);
    let s = Server::start_with_env(&args, &[("FAKEAI_MODEL_PROFILE", "llama-3.1-70b"), ("FAKEAI_GPU", "h200")]);
    let tp4_h200 = blocks(&s);
    let s = Server::start_with_env(
        &args,
        &[("FAKEAI_MODEL_PROFILE", "llama-3.1-70b"), ("FAKEAI_GPU_MEMORY_UTILIZATION", "0.5")],
    );
    assert!(blocks(&s) < tp4_h200, "less memory, fewer blocks");
}

#[test]
fn weights_that_do_not_fit_are_refused_at_startup() {
    let out = Command::new(env!("CARGO_BIN_EXE_fakeai"))
        .args(["server", "--port", "0", "--model-profile", "llama-3.1-70b", "--tensor-parallel-size", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("llama-3.1-70b") && err.contains("--tensor-parallel-size"), "{err}");
}
