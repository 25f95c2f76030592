//! vLLM's (SGLang's, AIPerf's) utility endpoints over HTTP: tokenize/detokenize with the
//! configured tokenizer, version/ping, prefix-cache reset and profiling, sleep (generation gets
//! 503 until wake-up), LoRA adapters (listed in /v1/models, served and counted per adapter), and
//! the token-in/token-out `/inference/v1/generate`.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

fn server() -> Server {
    Server::start(common::FAST)
}

fn vllm_error(r: &common::Response, status: u16, kind: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.json(), json!({"error": {"message": message, "type": kind, "param": null, "code": status}}));
}

#[test]
fn tokenize_and_detokenize_round_trip_with_the_configured_tokenizer() {
    let s = server();
    let text = "Hello, world! naïve café, 日本語\n\tend";
    let v = s.post("/tokenize", &json!({"prompt": text}).to_string()).json();
    let expected: Vec<u32> = tiktoken_rs::cl100k_base().unwrap().encode_ordinary(text);
    assert_eq!(v["tokens"], json!(expected));
    assert_eq!((v["count"].as_u64(), v["max_model_len"].as_u64()), (Some(expected.len() as u64), Some(131_072)));
    assert!(v["token_strs"].is_null(), "token_strs only when asked: {v}");
    let back = s.post("/detokenize", &json!({"tokens": v["tokens"]}).to_string()).json();
    assert_eq!(back, json!({"prompt": text}));

    let v = s.post("/tokenize", r#"{"prompt":"Hello, world!","return_token_strs":true,"model":"mixtral-8x7b"}"#).json();
    assert_eq!(
        v,
        json!({"count":4,"max_model_len":32768,"tokens":[9906,11,1917,0],"token_strs":["Hello",",","Ġworld","!"]})
    );

    // Chat messages tokenize to what the chat endpoint bills as prompt tokens.
    let messages = json!([{"role":"system","content":"Be brief."},{"role":"user","content":"Hello, world!"}]);
    let v = s.post("/tokenize", &json!({"messages": messages}).to_string()).json();
    let chat = s.post("/v1/chat/completions", &json!({"model":"m","messages":messages,"max_tokens":1}).to_string());
    assert_eq!(v["count"], chat.json()["usage"]["prompt_tokens"]);

    let o200k = Server::start(&["--tokenizer", "o200k_base"]);
    let v = o200k.post("/tokenize", r#"{"prompt":"Hello, world!"}"#).json();
    assert_eq!(v["tokens"], json!(tiktoken_rs::o200k_base().unwrap().encode_ordinary("Hello, world!")));

    let r = s.post("/detokenize", r#"{"tokens":[9906,100256]}"#);
    vllm_error(&r, 400, "BadRequestError", "Token id 100256 is out of vocabulary");
    assert_eq!(s.post("/detokenize", r#"{"tokens":[9906,100257]}"#).json()["prompt"], "Hello<|endoftext|>");
    assert_eq!(s.post("/tokenize", r#"{}"#).status, 400);
    assert_eq!(s.post("/detokenize", r#"{"tokens":"x"}"#).status, 400);
}

#[test]
fn version_ping_cache_reset_and_profiling_answer_200() {
    let s = server();
    let v = s.request("GET", "/version", None).json();
    assert!(v["version"].as_str().is_some_and(|v| v.split('.').count() == 3), "{v}");
    for (method, path) in [
        ("GET", "/ping"),
        ("POST", "/ping"),
        ("POST", "/reset_prefix_cache"),
        ("POST", "/reset_prefix_cache?reset_running_requests=true"),
        ("POST", "/start_profile"),
        ("POST", "/stop_profile"),
    ] {
        let r = s.request(method, path, None);
        assert_eq!((r.status, r.body.len()), (200, 0), "{method} {path}");
    }
    assert_eq!(s.request("GET", "/reset_prefix_cache", None).header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn a_sleeping_engine_refuses_generation_until_woken() {
    let s = server();
    let chat = common::chat("m", "hi", r#""max_tokens":2"#);
    assert_eq!(s.request("GET", "/is_sleeping", None).json(), json!({"is_sleeping": false}));
    assert_eq!(s.request("POST", "/sleep?level=1", None).status, 200);
    // Every worker core sees it: several fresh connections, all refused.
    for _ in 0..8 {
        assert_eq!(s.request("GET", "/is_sleeping", None).json(), json!({"is_sleeping": true}));
        let r = s.post("/v1/chat/completions", &chat);
        let message = "The engine is sleeping: POST /wake_up before sending requests.";
        assert_eq!((r.status, r.json()["error"]["type"].as_str()), (503, Some("ServiceUnavailableError")));
        assert_eq!(r.json()["error"]["message"], message);
        let r = s.post("/inference/v1/generate", r#"{"token_ids":[1],"sampling_params":{}}"#);
        vllm_error(&r, 503, "ServiceUnavailableError", message);
    }
    assert_eq!(s.post("/generate", r#"{"inputs":"x"}"#).status, 503);
    assert_eq!(s.post("/tokenize", r#"{"prompt":"x"}"#).status, 200, "utility endpoints still answer");
    assert_eq!(s.request("POST", "/sleep?level=3", None).status, 400);
    assert_eq!(s.request("POST", "/wake_up", None).status, 200);
    assert_eq!(s.request("GET", "/is_sleeping", None).json(), json!({"is_sleeping": false}));
    assert_eq!(s.post("/v1/chat/completions", &chat).status, 200);
}

#[test]
fn lora_adapters_load_list_serve_count_and_unload() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "20:0", "--workers", "2"]);
    let catalogue = s.request("GET", "/v1/models", None).json()["data"].as_array().unwrap().len();
    let load = r#"{"lora_name":"sql-lora","lora_path":"/adapters/sql"}"#;
    let r = s.post("/v1/load_lora_adapter", load);
    assert_eq!((r.status, r.text().as_str()), (200, "Success: LoRA adapter 'sql-lora' added successfully."));
    let again = s.post("/v1/load_lora_adapter", load);
    let message = "The lora adapter 'sql-lora' has already been loaded. If you want to load the adapter in place, \
                   set 'load_inplace' to True.";
    vllm_error(&again, 400, "InvalidUserInput", message);
    let r = s.post("/v1/load_lora_adapter", r#"{"lora_name":"x"}"#);
    vllm_error(&r, 400, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.");
    let r =
        s.post("/v1/load_lora_adapter", r#"{"lora_name":"math","lora_path":"/a/m","base_model_name":"mixtral-8x7b"}"#);
    assert_eq!(r.status, 200);

    // Listed after the models, with parent and root, on every core.
    for _ in 0..4 {
        let models = s.request("GET", "/v1/models", None).json();
        let data = models["data"].as_array().unwrap();
        assert_eq!(data.len(), catalogue + 2);
        let (sql, math) = (&data[catalogue], &data[catalogue + 1]);
        assert_eq!((sql["id"].as_str(), sql["root"].as_str()), (Some("sql-lora"), Some("/adapters/sql")));
        assert_eq!(sql["parent"], data[0]["id"], "the first listed model is the default base");
        assert_eq!((math["parent"].as_str(), math["context_window"].as_u64()), (Some("mixtral-8x7b"), Some(32768)));
    }

    // Served under its own name, and counted apart; running while its stream runs.
    let stream = common::spawn_post(
        s.addr,
        "/v1/chat/completions",
        common::chat("sql-lora", "hi", r#""max_tokens":40,"ignore_eos":true,"stream":true"#),
    );
    let t = Instant::now();
    loop {
        let text = s.request("GET", "/vllm/metrics", None).text();
        if text.contains(
            r#"vllm:lora_requests_info{max_lora="2",running_lora_adapters="sql-lora",waiting_lora_adapters=""}"#,
        ) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "sql-lora never shown running:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = stream.join().unwrap();
    assert_eq!(r.events()[0]["model"], "sql-lora");
    let t = Instant::now();
    loop {
        let text = s.request("GET", "/vllm/metrics", None).text();
        let done = text.contains(r#"vllm:request_success_total{finished_reason="length",model_name="sql-lora"} 1"#);
        if done && text.contains(r#"running_lora_adapters="","#) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "sql-lora's request never counted:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tgi = s.post("/generate", r#"{"inputs":"x","parameters":{"adapter_id":"math","max_new_tokens":40000}}"#);
    assert!(tgi.json()["error"].as_str().unwrap().contains("must be <= 32768"), "adapters run on their base's limits");

    let r = s.post("/v1/unload_lora_adapter", r#"{"lora_name":"sql-lora"}"#);
    assert_eq!((r.status, r.text().as_str()), (200, "Success: LoRA adapter 'sql-lora' removed successfully."));
    let r = s.post("/v1/unload_lora_adapter", r#"{"lora_name":"sql-lora"}"#);
    vllm_error(&r, 404, "NotFoundError", "The lora adapter 'sql-lora' cannot be found.");
    let r = s.post("/v1/unload_lora_adapter", r#"{}"#);
    vllm_error(&r, 400, "InvalidUserInput", "'lora_name' needs to be provided to unload a LoRA adapter.");
    let models = s.request("GET", "/v1/models", None).json();
    assert_eq!(models["data"].as_array().unwrap().len(), catalogue + 1);
    let text = s.request("GET", "/vllm/metrics", None).text();
    assert!(text.contains(r#"vllm:lora_requests_info{max_lora="1","#), "{text}");
}

#[test]
fn no_lora_family_without_adapters() {
    let s = server();
    assert!(!s.request("GET", "/vllm/metrics", None).text().contains("lora"));
    let v: Value = s.request("GET", "/v1/models", None).json();
    assert!(v["data"].as_array().unwrap().iter().all(|m| m["root"] == m["id"]), "no adapters listed");
}

#[test]
fn generate_takes_and_returns_token_ids() {
    let s = server();
    let prompt = s.post("/tokenize", r#"{"prompt":"Hello, world!"}"#).json()["tokens"].clone();
    let body = json!({"token_ids": prompt, "sampling_params": {"max_tokens": 16, "ignore_eos": true, "seed": 9}});
    let v = s.post("/inference/v1/generate", &body.to_string()).json();
    assert_eq!(v["model"], "default");
    assert!(v["request_id"].as_str().unwrap().starts_with("generate-tokens-"));
    let choice = &v["choices"][0];
    assert_eq!((choice["index"].as_u64(), choice["finish_reason"].as_str()), (Some(0), Some("length")));
    let ids = choice["token_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 16);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens":4,"total_tokens":20,"completion_tokens":16,"prompt_tokens_details":null})
    );
    // The ids are the tokenizer's: they read back as text that tokenizes to exactly them.
    let text = s.post("/detokenize", &json!({"tokens": ids}).to_string()).json()["prompt"].as_str().unwrap().to_owned();
    assert_eq!(s.post("/tokenize", &json!({"prompt": text}).to_string()).json()["tokens"], json!(ids));

    // Streamed: one chunk per token, the last naming the finish reason, then usage and [DONE].
    let body = json!({"request_id": "r1", "token_ids": [9906], "stream": true, "stream_options": {"include_usage": true},
        "sampling_params": {"max_tokens": 16, "ignore_eos": true, "seed": 9}});
    let r = s.post("/inference/v1/generate", &body.to_string());
    let events = r.events();
    assert_eq!(events.len(), 17);
    let streamed: Vec<Value> = events[..16].iter().map(|e| e["choices"][0]["token_ids"][0].clone()).collect();
    assert_eq!(&streamed, ids, "same seed, same ids, streamed or not");
    for (i, e) in events[..16].iter().enumerate() {
        assert_eq!(e["request_id"], "generate-tokens-r1");
        assert_eq!(e["choices"][0]["token_ids"].as_array().unwrap().len(), 1);
        let finish = if i == 15 { json!("length") } else { Value::Null };
        assert_eq!(e["choices"][0]["finish_reason"], finish, "event {i}");
        assert!(e["usage"].is_null());
    }
    assert_eq!(
        events[16],
        json!({"request_id":"generate-tokens-r1","choices":[],"usage":{"prompt_tokens":1,"total_tokens":17,"completion_tokens":16}})
    );

    let r = s.post("/inference/v1/generate", r#"{"token_ids":[],"sampling_params":{}}"#);
    vllm_error(&r, 400, "BadRequestError", "token_ids: List should have at least 1 item after validation, not 0");
    let r = s.post("/inference/v1/generate", r#"{"token_ids":[100256],"sampling_params":{}}"#);
    vllm_error(&r, 400, "BadRequestError", "Token id 100256 is out of vocabulary");
    assert_eq!(s.post("/inference/v1/generate", r#"{"token_ids":[1]}"#).status, 400, "sampling_params is required");
}
