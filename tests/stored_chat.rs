//! Stored chat completions (`store: true`) over HTTP, and through the official `openai` SDK
//! (tests/sdk/stored_chat_check.py).

mod common;

use common::Server;
use serde_json::{Value, json};

fn chat(s: &Server, body: Value) -> Value {
    s.post("/v1/chat/completions", &body.to_string()).json()
}

#[test]
fn the_openai_sdk_lists_retrieves_updates_and_deletes() {
    common::sdk_check("stored_chat_check.py", "/v1", || Server::start(common::FAST));
}

#[test]
fn stored_completions_are_bounded_and_filtered() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--store-capacity", "2"]);
    let messages = json!([{"role": "user", "content": "Hi"}]);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let body =
                json!({"model": "gpt-4o", "messages": messages, "store": true, "metadata": {"i": i.to_string()}});
            chat(&s, body)["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let list = s.request("GET", "/v1/chat/completions", None).json();
    let listed: Vec<&str> = list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[1].as_str(), ids[2].as_str()], "the oldest goes first when full");
    assert_eq!(s.request("GET", &format!("/v1/chat/completions/{}", ids[0]), None).status, 404);
    let filtered = s.request("GET", "/v1/chat/completions?metadata%5Bi%5D=2&model=gpt-4o", None).json();
    assert_eq!((filtered["first_id"].as_str(), filtered["has_more"].as_bool()), (Some(ids[2].as_str()), Some(false)));
    let none = s.request("GET", "/v1/chat/completions?model=other", None).json();
    assert_eq!((none["data"].as_array().unwrap().len(), none["first_id"].is_null()), (0, true));

    // Streamed with store: the stored object is the whole chat.completion.
    let stream = json!({"model": "gpt-4o", "messages": messages, "store": true, "stream": true, "max_tokens": 5,
        "ignore_eos": true});
    let events = s.post("/v1/chat/completions", &stream.to_string()).events();
    let id = events[0]["id"].as_str().unwrap();
    let text: String = events.iter().filter_map(|e| e["choices"][0]["delta"]["content"].as_str()).collect();
    let stored = s.request("GET", &format!("/v1/chat/completions/{id}"), None).json();
    assert_eq!(stored["object"], "chat.completion");
    assert_eq!(stored["choices"][0]["message"]["content"], text.as_str());
    assert_eq!(stored["usage"]["completion_tokens"], 5);

    let r = s.request("POST", &format!("/v1/chat/completions/{id}"), Some(r#"{"metadata":{"k":1}}"#));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("metadata")));
    let r = s.request("DELETE", &format!("/v1/chat/completions/{id}/messages"), None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
    let r = s.request("GET", "/v1/chat/completions?limit=101", None);
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("limit")));
}
