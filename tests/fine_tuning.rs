//! Fine-tuning against the real binary: the official `openai` SDK's whole workflow (file →
//! job → success → chat with the `ft:` model → delete → 404), and over HTTP the exact token
//! count, the model's inherited limits, unknown `ft:` models and the jobs bound.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use fakeai::tokens::Encoding;
use serde_json::{Value, json};

/// The SDK check's training file: example `i`'s three messages.
fn sdk_example_texts(i: usize) -> [String; 3] {
    ["You are terse.".to_owned(), format!("hello number {i}"), format!("Answer {i}.")]
}

/// BPE tokens of one pass over `n` examples, as the server counts them (`cl100k_base`).
fn tokens_of(n: usize) -> u64 {
    (0..n).flat_map(sdk_example_texts).map(|t| Encoding::Cl100kBase.count(&t) as u64).sum()
}

#[test]
fn the_openai_sdk_fine_tunes_and_chats_with_the_model() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = Server::start(common::FAST);
    common::run_sdk_script("fine_tuning_check.py", &[&format!("http://{}/v1", s.addr), &tokens_of(12).to_string()]);
}

/// A `fine-tune` file of `n` chat examples (the SDK check's shape).
fn training_file(n: usize) -> Vec<u8> {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let [system, user, assistant] = sdk_example_texts(i);
            json!({"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                {"role": "assistant", "content": assistant}]})
            .to_string()
        })
        .collect();
    (lines.join("\n") + "\n").into_bytes()
}

fn upload(s: &Server, n: usize) -> String {
    let r = s.upload("fine-tune", "train.jsonl", &training_file(n));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

fn wait_for(s: &Server, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = s.request("GET", &format!("/v1/fine_tuning/jobs/{id}"), None).json();
        if job["status"] == status || Instant::now() > deadline {
            assert_eq!(job["status"], status, "{job}");
            return job;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn chat(model: &str, max_tokens: u64) -> String {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}).to_string()
}

#[test]
fn a_fine_tuned_model_counts_real_tokens_and_takes_its_bases_limits() {
    let s = Server::start(&[common::FAST, &["--fine-tuning-ms", "400", "--max-fine-tuning-jobs", "1"]].concat());
    let file = upload(&s, 30);
    let body = json!({"model": "gpt-4o-mini-2024-07-18", "training_file": file, "suffix": "x",
        "hyperparameters": {"n_epochs": 2}});
    let created = s.post("/v1/fine_tuning/jobs", &body.to_string());
    assert_eq!(created.status, 200, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let refused = s.post("/v1/fine_tuning/jobs", &body.to_string());
    assert_eq!((refused.status, refused.json()["error"]["code"].as_str()), (400, Some("object_limit_reached")));
    assert!(refused.text().contains("--max-fine-tuning-jobs"));

    let job = wait_for(&s, &id, "succeeded");
    assert_eq!(job["trained_tokens"].as_u64(), Some(2 * tokens_of(30)), "two passes of the file's BPE tokens");
    let ft = job["fine_tuned_model"].as_str().unwrap();
    assert!(ft.starts_with("ft:gpt-4o-mini-2024-07-18:fakeai:x:"), "{ft}");

    // The model has its base's window, limits, prices and endpoints under its own id.
    let m = s.request("GET", &format!("/v1/models/{ft}"), None).json();
    let base = s.request("GET", "/v1/models/gpt-4o-mini", None).json();
    assert_eq!(
        (m["id"].as_str(), m["owned_by"].as_str(), m["parent"].as_str()),
        (Some(ft), Some("fakeai"), Some("gpt-4o-mini-2024-07-18"))
    );
    for field in ["context_window", "max_output_tokens", "supports_vision", "supports_tools", "pricing", "endpoints"] {
        assert_eq!(m[field], base[field], "{field}");
    }
    let r = s.post("/v1/chat/completions", &chat(ft, 100_000));
    assert_eq!((r.status, r.json()["model"].as_str()), (200, Some(ft)), "128,000-token window: {}", r.text());
    let too_long = s.post("/v1/chat/completions", &chat(ft, 200_000));
    assert_eq!(too_long.json()["error"]["code"], "context_length_exceeded");

    // Deleted, it is gone everywhere; its job still names it.
    let deleted = s.request("DELETE", &format!("/v1/models/{ft}"), None);
    assert_eq!(deleted.json(), json!({"id": ft, "object": "model", "deleted": true}));
    for r in [
        s.post("/v1/chat/completions", &chat(ft, 5)),
        s.post("/v1/completions", &json!({"model": ft, "prompt": "x", "stream": true}).to_string()),
        s.request("GET", &format!("/v1/models/{ft}"), None),
        s.request("DELETE", &format!("/v1/models/{ft}"), None),
    ] {
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("model_not_found")), "{}", r.text());
    }
    let job = s.request("GET", &format!("/v1/fine_tuning/jobs/{id}"), None).json();
    assert_eq!(job["fine_tuned_model"], ft);
    let base = s.request("DELETE", "/v1/models/gpt-4o-mini", None);
    assert_eq!(base.status, 403, "{}", base.text());
}

#[test]
fn an_ft_model_no_job_made_is_not_served() {
    let s = Server::start(common::FAST);
    let ft = "ft:gpt-4o-mini-2024-07-18:org::abc123";
    let r = s.post("/v1/chat/completions", &chat(ft, 5));
    assert_eq!(r.status, 404);
    let e = &r.json()["error"];
    assert_eq!((e["code"].as_str(), e["type"].as_str()), (Some("model_not_found"), Some("invalid_request_error")));
    assert!(e["message"].as_str().unwrap().contains(ft));
    let listed = s.request("GET", "/v1/models", None).json();
    assert!(listed["data"].as_array().unwrap().iter().all(|m| m["id"] != ft), "not listed once named");
    // Fine-tuning needs a fine-tune file and a chat model.
    let other = s.upload("user_data", "x.txt", b"hello");
    let other = other.json()["id"].as_str().unwrap().to_owned();
    let body = json!({"model": "gpt-4o-mini", "training_file": other});
    let r = s.post("/v1/fine_tuning/jobs", &body.to_string());
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("training_file")));
    let file = upload(&s, 10);
    let r = s.post("/v1/fine_tuning/jobs", &json!({"model": "dall-e-3", "training_file": file}).to_string());
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("model_not_available")));
    let r = s.request("GET", "/v1/fine_tuning/jobs/ftjob-nope/events", None);
    assert_eq!(r.status, 404);
}
