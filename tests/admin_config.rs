//! `GET/PATCH /admin/config` against the real binary: the admin key, and changes that apply
//! to the next request while a stream in flight keeps its plan.

mod common;

use std::time::{Duration, Instant};

use common::{Response, Server, chat};

const CHAT: &str = "/v1/chat/completions";
const USER: &str = "Bearer sk-user";
const ADMIN: &str = "Bearer sk-admin";

fn call(s: &Server, method: &str, path: &str, body: Option<&str>, key: &str) -> Response {
    let mut c = s.connect();
    c.send(method, path, body, &[("Authorization", key)]);
    c.response_to(method)
}

fn patch(s: &Server, body: &str) -> Response {
    call(s, "PATCH", "/admin/config", Some(body), ADMIN)
}

#[test]
fn admin_key_guards_the_config() {
    let s = Server::start(&["--api-key", "sk-user", "--admin-key", "sk-admin", "--ttft", "0:0", "--itl", "0:0"]);
    assert_eq!(s.request("GET", "/admin/config", None).status, 401);
    let r = call(&s, "GET", "/admin/config", None, USER);
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (401, Some("invalid_api_key")),
        "a user key is not an admin key"
    );
    let r = call(&s, "GET", "/admin/config", None, ADMIN);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"ttft": "0:0", "itl": "0:0", "output_len": "100:50", "fault_rates": []}));
    assert_eq!(call(&s, "GET", "/v1/models", None, ADMIN).status, 401, "the admin key is for admin routes");
    assert_eq!(call(&s, "GET", "/v1/models", None, USER).status, 200);
}

#[test]
fn patch_changes_the_next_request_not_the_stream_in_flight() {
    let s = Server::start(&["--api-key", "sk-user", "--admin-key", "sk-admin", "--ttft", "0:0", "--itl", "60:0"]);
    // A stream of 6 tokens at 60 ms: it keeps its ITL when the server's changes under it.
    let body = chat("gpt-4o", "hi", r#""stream":true,"max_tokens":6,"ignore_eos":true"#);
    let mut c = s.connect();
    let start = Instant::now();
    c.send("POST", CHAT, Some(&body), &[("Authorization", USER)]);
    std::thread::sleep(Duration::from_millis(30));
    let r = patch(&s, r#"{"itl": "0:0", "ttft": "250:0", "output_len": 7}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json()["ttft"].as_str(), r.json()["output_len"].as_str()), (Some("250:0"), Some("7")));
    let streamed = c.response();
    assert!(start.elapsed() >= Duration::from_millis(300), "5 gaps of 60 ms: {:?}", start.elapsed());
    assert_eq!(streamed.content_events(), 6);

    let start = Instant::now();
    let r = call(&s, "POST", CHAT, Some(&chat("gpt-4o", "hi", "")), USER);
    assert!(start.elapsed() >= Duration::from_millis(250), "the new TTFT");
    assert_eq!(r.json()["usage"]["completion_tokens"], 7, "the new output length");

    // Fault rates on and off.
    assert_eq!(patch(&s, r#"{"fault_rates": ["503=1@/v1/chat/completions"], "ttft": null}"#).status, 200);
    assert_eq!(call(&s, "POST", CHAT, Some(&chat("gpt-4o", "hi", "")), USER).status, 503);
    assert_eq!(call(&s, "GET", "/v1/models", None, USER).status, 200, "other endpoints untouched");
    let r = call(&s, "GET", "/admin/config", None, ADMIN).json();
    assert_eq!((r["fault_rates"][0].as_str(), r["ttft"].is_null()), (Some("503=1@/v1/chat/completions"), true));

    // A bad setting changes nothing.
    let r = patch(&s, r#"{"fault_rates": [], "itl": "fast"}"#);
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("itl")));
    assert_eq!(patch(&s, r#"{"workers": 3}"#).status, 400);
    assert_eq!(call(&s, "POST", CHAT, Some(&chat("gpt-4o", "hi", "")), USER).status, 503);
    assert_eq!(patch(&s, r#"{"fault_rates": ["503=1"]}"#).status, 200, "admin routes are never faulted");
    assert_eq!(patch(&s, r#"{"fault_rates": []}"#).status, 200);
    assert_eq!(call(&s, "POST", CHAT, Some(&chat("gpt-4o", "hi", "")), USER).status, 200);
}
