//! Chat and completions over real HTTP: shapes, exact lengths, usage, errors, models.

mod common;

use common::{Server, chat};

use common::FAST;

#[test]
fn streaming_chat_is_openai_shaped_with_exact_usage() {
    let s = Server::start(FAST);
    let body = chat(
        "meta-llama/Llama-3.1-8B-Instruct",
        "Hello, world!",
        r#""stream":true,"max_completion_tokens":37,"ignore_eos":true,"stream_options":{"include_usage":true}"#,
    );
    let r = s.post("/v1/chat/completions", &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let ev = r.events();
    let id = ev[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("chatcmpl-"));
    for e in &ev {
        assert_eq!(e["object"], "chat.completion.chunk");
        assert_eq!(e["id"], id.as_str());
        assert_eq!(e["model"], "meta-llama/Llama-3.1-8B-Instruct");
        assert!(e["created"].is_u64());
        assert!(e.get("usage").is_none() || !e["usage"].is_null(), "no null-padded usage");
    }
    assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(r.content_events(), 37, "one content chunk per token");
    let finish = &ev[ev.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = &ev[ev.len() - 1];
    assert_eq!(usage["choices"], serde_json::json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 4);
    assert_eq!(usage["usage"]["completion_tokens"], 37);
    assert_eq!(usage["usage"]["total_tokens"], 41);
    for e in &ev[1..ev.len() - 2] {
        assert!(e["choices"][0]["finish_reason"].is_null());
    }
}

#[test]
fn usage_chunk_only_when_asked() {
    let s = Server::start(FAST);
    let r = s.post("/v1/chat/completions", &chat("m", "hi", r#""stream":true,"max_tokens":3,"ignore_eos":true"#));
    assert!(r.events().iter().all(|e| e.get("usage").is_none()));
    assert_eq!(r.content_events(), 3);
}

#[test]
fn non_streaming_chat_matches_streaming_counts() {
    let s = Server::start(FAST);
    let r = s.post("/v1/chat/completions", &chat("gpt-4o", "Hello, world!", r#""max_tokens":25,"ignore_eos":true"#));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["completion_tokens"], 25);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(&keys[..4], ["id", "object", "created", "model"], "OpenAI key order");
}

#[test]
fn lengths_follow_max_min_and_ignore_eos() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--output-len", "50"]);
    let tokens = |extra: &str| {
        let v = s.post("/v1/chat/completions", &chat("m", "x", extra)).json();
        (
            v["usage"]["completion_tokens"].as_u64().unwrap(),
            v["choices"][0]["finish_reason"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(tokens(r#""max_tokens":10"#), (10, "length".into()));
    assert_eq!(tokens(r#""max_tokens":100"#), (50, "stop".into()));
    assert_eq!(tokens(r#""max_tokens":100,"ignore_eos":true"#), (100, "length".into()));
    assert_eq!(tokens(r#""max_tokens":100,"min_tokens":70"#), (70, "stop".into()));
    assert_eq!(tokens(r#""max_completion_tokens":5,"max_tokens":100"#), (5, "length".into()));
    assert_eq!(tokens(r#""max_tokens":2000,"ignore_eos":true"#), (2000, "length".into()), "no hidden ceiling");
}

#[test]
fn completions_streaming_and_prompt_shapes() {
    let s = Server::start(FAST);
    let r = s.post("/v1/completions", r#"{"model":"m","prompt":"Hello, world!","stream":true,"max_tokens":9,"ignore_eos":true,"stream_options":{"include_usage":true}}"#);
    let ev = r.events();
    assert!(ev.iter().all(|e| e["object"] == "text_completion" && e["id"].as_str().unwrap().starts_with("cmpl-")));
    assert_eq!(r.content_events(), 9);
    assert_eq!(ev[ev.len() - 2]["choices"][0]["finish_reason"], "length");
    assert_eq!(ev[ev.len() - 1]["usage"]["completion_tokens"], 9);
    assert_eq!(ev[ev.len() - 1]["usage"]["prompt_tokens"], 4);
    let prompt_tokens = |p: &str| {
        let v = s.post("/v1/completions", &format!(r#"{{"model":"m","prompt":{p},"max_tokens":1}}"#)).json();
        v["usage"]["prompt_tokens"].as_u64().unwrap()
    };
    assert_eq!(prompt_tokens(r#"["Hello, world!","Hello, world!"]"#), 8);
    assert_eq!(prompt_tokens("[1,2,3,4,5]"), 5);
    assert_eq!(prompt_tokens("[[1,2],[3]]"), 3);
    let v = s.post("/v1/completions", r#"{"model":"m","prompt":"x","ignore_eos":true}"#).json();
    assert_eq!(v["usage"]["completion_tokens"], 16, "legacy completions default to 16 tokens");
    assert_eq!(v["object"], "text_completion");
}

#[test]
fn seeds_make_text_reproducible() {
    let s = Server::start(FAST);
    let body = chat("m", "x", r#""max_tokens":30,"ignore_eos":true,"seed":42"#);
    let (a, b) = (s.post("/v1/chat/completions", &body).json(), s.post("/v1/chat/completions", &body).json());
    assert_eq!(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
    assert_eq!(a["system_fingerprint"], b["system_fingerprint"]);
    let streamed =
        s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":30,"ignore_eos":true,"seed":42,"stream":true"#));
    assert_eq!(streamed.streamed_text(), a["choices"][0]["message"]["content"].as_str().unwrap());
}

#[test]
fn invalid_requests_get_openai_errors_before_any_stream() {
    let s = Server::start(FAST);
    let check = |path: &str, body: &str, param: Option<&str>| {
        let r = s.post(path, body);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = &r.json()["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(e.as_object().unwrap().contains_key("code"));
        assert_eq!(e["param"].as_str(), param, "{body}");
    };
    check("/v1/chat/completions", r#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, Some("model"));
    check("/v1/chat/completions", r#"{"model":"","messages":[{"role":"user","content":"x"}]}"#, Some("model"));
    check("/v1/chat/completions", r#"{"model":"m","stream":true}"#, Some("messages"));
    check("/v1/chat/completions", &chat("m", "x", r#""max_tokens":-1,"stream":true"#), Some("max_tokens"));
    check("/v1/chat/completions", &chat("m", "x", r#""max_tokens":"ten""#), Some("max_tokens"));
    check("/v1/chat/completions", "{oops", None);
    check("/v1/completions", r#"{"model":"m"}"#, Some("prompt"));
    check("/v1/completions", r#"{"model":"m","prompt":{"a":1}}"#, Some("prompt"));
    let r = s.request("POST", "/v1/chat/completions", None);
    assert_eq!(r.status, 400);
}

/// Models in the built-in catalogue.
const CATALOGUE: usize = 52;

fn model_ids(s: &Server) -> Vec<String> {
    let list = s.request("GET", "/v1/models", None).json();
    assert_eq!(list["object"], "list");
    list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn models_are_listed_and_any_name_is_served() {
    let s = Server::start(FAST);
    assert_eq!(model_ids(&s).len(), CATALOGUE);
    let m = s.request("GET", "/v1/models/openai/gpt-oss-120b", None).json();
    assert_eq!(s.request("GET", "/v1/models/openai%2Fgpt-oss-120b", None).json(), m, "percent-encoded ids");
    assert_eq!(
        (m["id"].as_str(), m["object"].as_str(), m["context_window"].as_u64()),
        (Some("openai/gpt-oss-120b"), Some("model"), Some(128_000))
    );
    let caps = s.request("GET", "/v1/models/openai/gpt-oss-120b/capabilities", None).json();
    assert_eq!(caps["id"], "openai/gpt-oss-120b");
    assert_eq!(caps["supports_tools"], true);
    let unknown = s.request("GET", "/v1/models/acme/new-model", None).json();
    assert_eq!((unknown["id"].as_str(), unknown["owned_by"].as_str()), (Some("acme/new-model"), Some("custom")));
    assert_eq!(model_ids(&s).len(), CATALOGUE, "a lookup does not create a model");
    let r = s.post("/v1/chat/completions", &chat("never-seen-before", "x", r#""max_tokens":2"#));
    assert_eq!(r.status, 200);
    let ids = model_ids(&s);
    assert_eq!(ids[CATALOGUE..], ["never-seen-before"], "a model first used in a request is listed after");
    let m = s.request("GET", "/v1/models/never-seen-before", None).json();
    assert_eq!((m["owned_by"].as_str(), m["context_window"].as_u64()), (Some("custom"), Some(131_072)));
}

#[test]
fn catalogue_serves_fakeai_context_windows_fine_tunes_and_media_models() {
    let s = Server::start(FAST);
    // FakeAI's context windows decide what fits: gpt-4 holds 8,192 tokens, gpt-4-32k 32,768.
    let fits = |model: &str, max_tokens: u32| {
        let r = s.post("/v1/chat/completions", &chat(model, "x", &format!(r#""max_tokens":{max_tokens}"#)));
        match r.status {
            200 => true,
            400 => {
                assert_eq!(r.json()["error"]["code"], "context_length_exceeded");
                false
            }
            other => panic!("{model}: {other} {}", r.text()),
        }
    };
    for (model, window) in [("gpt-4", 8192), ("gpt-4-32k", 32768), ("gpt-3.5-turbo", 16385), ("gpt-4-turbo", 128_000)] {
        let prompt =
            s.post("/v1/chat/completions", &chat(model, "x", r#""max_tokens":1"#)).json()["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap() as u32;
        assert!(fits(model, window - prompt), "{model}: {prompt} + {} fits", window - prompt);
        assert!(!fits(model, window - prompt + 1), "{model}: one token more does not");
        let m = s.request("GET", &format!("/v1/models/{model}"), None).json();
        assert_eq!(m["context_window"], window, "{model}");
    }
    let too_long = s.post("/v1/chat/completions", &chat("gpt-4", "x", r#""max_tokens":9000"#)).json();
    assert!(too_long["error"]["message"].as_str().unwrap().contains("maximum context length is 8192 tokens"));

    // An `ft:` model is served only once a fine-tuning job made it (tests/fine_tuning.rs).
    let ft = "ft:gpt-4o-mini-2024-07-18:org::abc123";
    let r = s.post("/v1/chat/completions", &chat(ft, "x", r#""max_tokens":1"#));
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("model_not_found")));
    assert!(!model_ids(&s).contains(&ft.to_owned()));

    // Embedding, image, audio and moderation models say what they serve.
    let listed: Vec<serde_json::Value> =
        s.request("GET", "/v1/models", None).json()["data"].as_array().unwrap().clone();
    let serves =
        |id: &str| listed.iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("{id} listed"))["endpoints"].clone();
    assert_eq!(serves("text-embedding-3-small"), serde_json::json!(["/v1/embeddings"]));
    assert_eq!(serves("nomic-ai/nomic-embed-text-v1.5"), serde_json::json!(["/v1/embeddings"]));
    assert_eq!(serves("dall-e-3"), serde_json::json!(["/v1/images/generations"]));
    assert_eq!(serves("stabilityai/stable-diffusion-xl-base-1.0"), serde_json::json!(["/v1/images/generations"]));
    assert_eq!(serves("tts-1-hd"), serde_json::json!(["/v1/audio/speech"]));
    assert_eq!(serves("gpt-4o-mini-tts"), serde_json::json!(["/v1/audio/speech"]));
    assert_eq!(serves("gpt-4o-transcribe")[0], "/v1/audio/transcriptions");
    assert_eq!(serves("whisper-1"), serde_json::json!(["/v1/audio/transcriptions", "/v1/audio/translations"]));
    assert_eq!(serves("omni-moderation-latest"), serde_json::json!(["/v1/moderations"]));
    assert_eq!(serves("gpt-4o")[0], "/v1/chat/completions");
    let caps = s.request("GET", "/v1/models/whisper-1/capabilities", None).json();
    assert_eq!((caps["supports_transcription"].as_bool(), caps["supports_chat"].as_bool()), (Some(true), Some(false)));
}

#[test]
fn models_used_on_any_worker_are_listed_once_and_only_the_most_recent_n() {
    let s = Server::start(&["--workers", "2", "--max-auto-models", "3"]);
    // Fresh connections land on both workers; each name is listed once, whoever saw it first.
    for round in 0..3 {
        for name in ["typo-1", "typo-2", "typo-3", "typo-4", "typo-5"] {
            let r = s.post("/v1/chat/completions", &chat(name, "x", r#""max_tokens":1"#));
            assert_eq!(r.status, 200, "round {round}");
        }
    }
    assert_eq!(model_ids(&s)[CATALOGUE..], ["typo-3", "typo-4", "typo-5"], "the 3 most recently created");
    let none = Server::start(&["--max-auto-models", "0"]);
    assert_eq!(none.post("/v1/chat/completions", &chat("typo", "x", r#""max_tokens":1"#)).status, 200);
    assert_eq!(model_ids(&none).len(), CATALOGUE, "served, not listed");
}

#[test]
fn health_is_fakeai_shaped() {
    let s = Server::start(FAST);
    let v = s.request("GET", "/health", None).json();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["ready"], true);
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn metrics_count_what_clients_saw() {
    let s = Server::start(FAST);
    for i in 0..6 {
        let stream = i % 2 == 0;
        let r = s.post(
            "/v1/chat/completions",
            &chat("m", "Hello, world!", &format!(r#""max_tokens":10,"ignore_eos":true,"stream":{stream}"#)),
        );
        assert_eq!(r.status, 200);
    }
    let text = s.request("GET", "/metrics", None).text();
    assert!(text.contains("fakeai_generations_completed_total 6\n"), "{text}");
    assert!(text.contains("fakeai_completion_tokens_total 60\n"));
    assert!(text.contains("fakeai_prompt_tokens_total 24\n"));
    assert!(text.contains("fakeai_sse_events_total 30\n"));
    let v = s.request("GET", "/metrics?format=json", None).json();
    assert_eq!(v["tokens"]["completion"]["total"], 60);
    std::thread::sleep(std::time::Duration::from_millis(100)); // other workers publish every 20 ms
    assert_eq!(s.request("GET", "/metrics?format=json", None).json()["emit_lateness_ms"]["count"], 30);
    assert_eq!(s.request("GET", "/metrics/json", None).json()["streaming_stats"]["completed_streams"], 6);
}

#[test]
fn context_length_is_checked_before_the_stream() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--default-context-window", "100"]);
    let long = "word ".repeat(85);
    for stream in [true, false] {
        let r = s.post("/v1/chat/completions", &chat("m", &long, &format!(r#""max_tokens":20,"stream":{stream}"#)));
        assert_eq!(r.status, 400, "stream={stream}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let e = &r.json()["error"];
        assert_eq!((e["code"].as_str(), e["param"].as_str()), (Some("context_length_exceeded"), Some("messages")));
        assert!(e["message"].as_str().unwrap().contains("maximum context length is 100 tokens"));
    }
    let r = s.post(
        "/v1/completions",
        &format!(r#"{{"model":"m","prompt":{},"max_tokens":20}}"#, serde_json::to_string(&long).unwrap()),
    );
    assert_eq!(r.json()["error"]["param"], "prompt");
    let fits = s.post("/v1/chat/completions", &chat("m", &long, r#""max_tokens":10,"ignore_eos":true"#));
    assert_eq!(fits.json()["usage"]["completion_tokens"], 10);
    let v = s.post("/v1/chat/completions", &chat("m", &long, r#""ignore_eos":true"#)).json();
    assert_eq!(
        v["usage"]["prompt_tokens"].as_u64().unwrap() + v["usage"]["completion_tokens"].as_u64().unwrap(),
        100,
        "without max_tokens the output fills the window"
    );
    let big =
        s.post("/v1/chat/completions", &chat("openai/gpt-oss-120b", &long, r#""max_tokens":2000,"ignore_eos":true"#));
    assert_eq!(big.status, 200, "listed models keep their own window");
}
