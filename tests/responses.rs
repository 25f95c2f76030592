//! The Responses API end to end: its object and events as the official `openai` SDK models them
//! (tests/sdk/responses_check.py: also input items, input token counts, conversations and
//! background responses), the status of a response cut by `max_output_tokens`, and background
//! responses over plain HTTP.

mod common;

use common::Server;
use serde_json::{Value, json};

fn server() -> Server {
    Server::start(common::FAST)
}

fn post(s: &Server, body: Value) -> common::Response {
    s.post("/v1/responses", &body.to_string())
}

/// `(event name, payload)` of each SSE event.
fn events(r: &common::Response) -> Vec<(String, Value)> {
    r.text()
        .split_terminator("\n\n")
        .map(|e| {
            let (name, data) = e.split_once("\ndata: ").expect("event and data lines");
            (name.strip_prefix("event: ").expect("event line").to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[test]
fn the_openai_sdk_validates_every_body_and_event() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = server();
    // Background responses need generation that takes visible time: 10 ms a token.
    let slow = Server::start(&["--ttft", "0:0", "--itl", "10:0"]);
    let urls = [format!("http://{}/v1", s.addr), format!("http://{}/v1", slow.addr)];
    common::run_sdk_script("responses_check.py", &[&urls[0], &urls[1]]);
}

#[test]
fn a_response_cut_by_max_output_tokens_is_incomplete() {
    let s = server();
    let cut = json!({"model": "gpt-4o", "input": "Hi", "max_output_tokens": 7, "ignore_eos": true});
    let v = post(&s, cut.clone()).json();
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"], json!({"reason": "max_output_tokens"}));
    assert_eq!(v["output"][0]["status"], "incomplete");
    assert_eq!(v["usage"]["output_tokens"], 7);
    assert_eq!(v["max_output_tokens"], 7);

    let mut streamed = cut;
    streamed["stream"] = json!(true);
    let ev = events(&post(&s, streamed));
    let (last, payload) = ev.last().unwrap();
    assert_eq!(last, "response.incomplete");
    assert_eq!(payload["response"]["status"], "incomplete");
    assert_eq!(payload["response"]["incomplete_details"]["reason"], "max_output_tokens");
    assert!(ev.iter().all(|(name, _)| name != "response.completed"));
    let item_done = ev.iter().rev().find(|(name, _)| name == "response.output_item.done").unwrap();
    assert_eq!(item_done.1["item"]["status"], "incomplete");

    // Ending on its own: completed, no details.
    let v = post(&s, json!({"model": "gpt-4o", "input": "Hi", "max_output_tokens": 4000})).json();
    assert_eq!((v["status"].as_str(), v["incomplete_details"].is_null()), (Some("completed"), true));
}

#[test]
fn the_response_echoes_the_request() {
    let s = server();
    let v = post(
        &s,
        json!({"model": "gpt-4o", "input": "Hi", "instructions": "Be brief.", "metadata": {"k": "v"},
            "temperature": 0.5, "top_p": 0.25, "user": "u1", "service_tier": "auto", "truncation": "auto",
            "parallel_tool_calls": false, "store": false}),
    )
    .json();
    assert_eq!((v["instructions"].as_str(), v["metadata"]["k"].as_str()), (Some("Be brief."), Some("v")));
    assert_eq!((v["temperature"].as_f64(), v["top_p"].as_f64()), (Some(0.5), Some(0.25)));
    assert_eq!((v["user"].as_str(), v["service_tier"].as_str()), (Some("u1"), Some("default")));
    assert_eq!((v["truncation"].as_str(), v["parallel_tool_calls"].as_bool()), (Some("auto"), Some(false)));
    assert_eq!((v["store"].as_bool(), v["background"].as_bool()), (Some(false), Some(false)));
    assert_eq!(v["text"], json!({"format": {"type": "text"}, "verbosity": "medium"}));
    assert_eq!(v["reasoning"], json!({"effort": null, "summary": null}));
    let bad = post(&s, json!({"model": "gpt-4o", "input": "Hi", "truncation": "never"}));
    assert_eq!((bad.status, bad.json()["error"]["param"].as_str()), (400, Some("truncation")));
}

#[test]
fn a_background_response_is_queued_then_polled_until_done() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "10:0"]);
    let t0 = std::time::Instant::now();
    let body =
        json!({"model": "gpt-4o", "input": "Hi", "background": true, "max_output_tokens": 30, "ignore_eos": true});
    let queued = post(&s, body).json();
    assert!(t0.elapsed() < std::time::Duration::from_millis(200), "answered at once");
    assert_eq!((queued["status"].as_str(), queued["background"].as_bool()), (Some("queued"), Some(true)));
    let path = format!("/v1/responses/{}", queued["id"].as_str().unwrap());
    assert_eq!(s.request("GET", &path, None).json()["status"], "in_progress");
    std::thread::sleep(std::time::Duration::from_millis(400));
    let done = s.request("GET", &path, None).json();
    assert_eq!((done["status"].as_str(), done["usage"]["output_tokens"].as_u64()), (Some("incomplete"), Some(30)));
    assert_eq!(s.request("POST", &format!("{path}/cancel"), None).json()["status"], "incomplete", "too late");
    let r = s.request("GET", &format!("{path}/cancel"), None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
    let r = post(&s, json!({"model": "gpt-4o", "input": "x", "conversation": "conv_x", "previous_response_id": "r"}));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("conversation")));
    let counted = s.post("/v1/responses/input_tokens", r#"{"input":"Hello, world!"}"#).json();
    assert_eq!(counted, json!({"object": "response.input_tokens", "input_tokens": 4}));
}
