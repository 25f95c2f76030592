//! The Assistants API over HTTP against the real binary: runs follow the generation schedule
//! (in progress, then completed when the last token is due, the message filling in meanwhile),
//! cancel keeps what was due, streams are paced by TTFT/ITL, and bad input is OpenAI's 4xx;
//! the official SDK drives the whole API in `tests/sdk/assistants_check.py`.

mod common;

use std::time::{Duration, Instant};

use common::{Response, Server};
use serde_json::{Value, json};

fn ok(r: Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn post(s: &Server, path: &str, body: Value) -> Response {
    s.post(path, &body.to_string())
}

fn get(s: &Server, path: &str) -> Value {
    ok(s.request("GET", path, None))
}

/// An assistant and a thread holding one user message.
fn assistant_and_thread(s: &Server, tools: Value) -> (String, String) {
    let a = ok(post(s, "/v1/assistants", json!({"model": "gpt-4o-mini", "instructions": "Be brief.", "tools": tools})));
    let t =
        ok(post(s, "/v1/threads", json!({"messages": [{"role": "user", "content": "What is the weather in Paris?"}]})));
    (a["id"].as_str().unwrap().to_owned(), t["id"].as_str().unwrap().to_owned())
}

fn text(message: &Value) -> String {
    message["content"].as_array().unwrap().iter().map(|b| b["text"]["value"].as_str().unwrap()).collect()
}

#[test]
fn sdk_drives_assistants_end_to_end() {
    common::sdk_check("assistants_check.py", "/v1", || Server::start(&["--ttft", "20:0", "--itl", "2:0"]));
}

#[test]
fn a_run_completes_when_its_schedule_says_and_its_message_fills_in() {
    let s = Server::start(&["--ttft", "300:0", "--itl", "100:0", "--output-len", "6"]);
    let (a, t) = assistant_and_thread(&s, json!([]));
    let started = Instant::now();
    let run = ok(post(&s, &format!("/v1/threads/{t}/runs"), json!({"assistant_id": a})));
    assert_eq!((run["status"].as_str(), run["started_at"].as_u64()), (Some("queued"), None));
    let path = format!("/v1/threads/{t}/runs/{}", run["id"].as_str().unwrap());
    let r = s.request("GET", &path, None);
    let poll: u64 = r.header("openai-poll-after-ms").expect("pollers are told when to ask again").parse().unwrap();
    assert!((1..=1000).contains(&poll), "{poll}");
    let now = ok(r);
    assert_eq!((now["status"].as_str(), now["usage"].is_null()), (Some("in_progress"), true));
    let messages = get(&s, &format!("/v1/threads/{t}/messages"));
    let reply = &messages["data"][0];
    assert_eq!((reply["role"].as_str(), reply["status"].as_str()), (Some("assistant"), Some("in_progress")));
    if started.elapsed() < Duration::from_millis(250) {
        assert_eq!(reply["content"], json!([]), "no token is due before TTFT");
    }
    // 300 ms to the first token, 100 ms to each of the other five: done at 800 ms.
    std::thread::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed()));
    let done = get(&s, &path);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["usage"]["completion_tokens"], 6);
    assert!(done["usage"]["prompt_tokens"].as_u64().unwrap() > 5, "instructions and the thread are the prompt");
    let reply = get(&s, &format!("/v1/threads/{t}/messages/{}", reply["id"].as_str().unwrap()));
    assert_eq!(reply["status"], "completed");
    assert!(!text(&reply).is_empty());
    let steps = get(&s, &format!("{path}/steps"));
    assert_eq!(steps["data"][0]["step_details"]["message_creation"]["message_id"], reply["id"]);
    assert_eq!(steps["data"][0]["usage"], done["usage"]);
}

#[test]
fn cancel_keeps_the_tokens_already_due() {
    let s = Server::start(&["--ttft", "100:0", "--itl", "100:0", "--output-len", "50"]);
    let (a, t) = assistant_and_thread(&s, json!([]));
    let run = ok(post(&s, &format!("/v1/threads/{t}/runs"), json!({"assistant_id": a})));
    let path = format!("/v1/threads/{t}/runs/{}", run["id"].as_str().unwrap());
    std::thread::sleep(Duration::from_millis(450));
    let cancelling = ok(post(&s, &format!("{path}/cancel"), json!({})));
    assert_eq!(cancelling["status"], "cancelling");
    let cancelled = get(&s, &path);
    assert_eq!(cancelled["status"], "cancelled");
    let generated = cancelled["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((2..50).contains(&generated), "{generated} of 50 tokens were due at the cancel");
    let reply = &get(&s, &format!("/v1/threads/{t}/messages"))["data"][0];
    assert_eq!(
        (reply["status"].as_str(), reply["incomplete_details"]["reason"].as_str()),
        (Some("incomplete"), Some("run_cancelled"))
    );
    std::thread::sleep(Duration::from_millis(300));
    let later = &get(&s, &format!("/v1/threads/{t}/messages"))["data"][0];
    assert_eq!(text(later), text(reply), "the text stops at the cancel");
    let again = post(&s, &format!("{path}/cancel"), json!({}));
    assert_eq!(again.status, 400, "a cancelled run cannot be cancelled again");
    // The thread is free again.
    ok(post(&s, &format!("/v1/threads/{t}/messages"), json!({"role": "user", "content": "ok"})));
}

#[test]
fn a_stream_is_paced_by_the_schedule() {
    let s = Server::start(&["--ttft", "200:0", "--itl", "50:0", "--output-len", "5"]);
    let (a, t) = assistant_and_thread(&s, json!([]));
    let started = Instant::now();
    let r = post(&s, &format!("/v1/threads/{t}/runs"), json!({"assistant_id": a, "stream": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").is_some_and(|ct| ct.starts_with("text/event-stream")));
    let body = r.text();
    let names: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.iter().filter(|n| **n == "thread.message.delta").count(), 5);
    assert_eq!(names.last(), Some(&"done"));
    assert!(body.ends_with("event: done\ndata: [DONE]\n\n"));
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(400), "200 ms TTFT + 4 × 50 ms ITL, took {elapsed:?}");
    let (first, last) = (r.reads.first().unwrap().0, r.reads.last().unwrap().0);
    assert!(last - first >= Duration::from_millis(350), "deltas arrive over time, not at once");
}

#[test]
fn tool_calls_wait_for_every_output() {
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0"]);
    let (a, t) = assistant_and_thread(&s, tools);
    let run = ok(post(&s, &format!("/v1/threads/{t}/runs"), json!({"assistant_id": a})));
    let path = format!("/v1/threads/{t}/runs/{}", run["id"].as_str().unwrap());
    std::thread::sleep(Duration::from_millis(20));
    let waiting = get(&s, &path);
    assert_eq!(waiting["status"], "requires_action");
    let call = &waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0];
    let no_outputs = post(&s, &format!("{path}/submit_tool_outputs"), json!({"tool_outputs": []}));
    assert_eq!((no_outputs.status, no_outputs.json()["error"]["param"].as_str()), (400, Some("tool_outputs")));
    let wrong = post(
        &s,
        &format!("{path}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": "call_x", "output": "1"}]}),
    );
    assert_eq!(wrong.status, 400);
    let busy = post(&s, &format!("/v1/threads/{t}/runs"), json!({"assistant_id": a}));
    assert_eq!(busy.status, 400, "one active run per thread: {}", busy.text());
    let going = ok(post(
        &s,
        &format!("{path}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": call["id"], "output": "sunny"}]}),
    ));
    assert_eq!(going["status"], "queued");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(get(&s, &path)["status"], "completed");
    let late = post(
        &s,
        &format!("{path}/submit_tool_outputs"),
        json!({"tool_outputs": [{"tool_call_id": call["id"], "output": "x"}]}),
    );
    assert_eq!(late.status, 400, "a completed run takes no outputs");
}

#[test]
fn bad_input_is_a_4xx_naming_its_param() {
    let s = Server::start(&[]);
    for (path, body, status, param) in [
        ("/v1/assistants", json!({}), 400, Some("model")),
        ("/v1/assistants", json!({"model": "gpt-4o", "tools": [{"type": "web"}]}), 400, Some("tools[0].type")),
        (
            "/v1/assistants",
            json!({"model": "gpt-4o", "tool_resources": {"code_interpreter": {"file_ids": ["file-x"]}}}),
            400,
            Some("tool_resources.code_interpreter.file_ids"),
        ),
        ("/v1/assistants", json!({"model": "gpt-4o", "metadata": {"k": 1}}), 400, Some("metadata")),
        ("/v1/threads", json!({"messages": [{"role": "system", "content": "x"}]}), 400, Some("messages[0].role")),
        ("/v1/threads", json!({"messages": [{"role": "user"}]}), 400, Some("messages[0].content")),
        ("/v1/threads/runs", json!({}), 400, Some("assistant_id")),
        ("/v1/threads/runs", json!({"assistant_id": "asst_nope"}), 404, Some("assistant_id")),
        ("/v1/threads/thread_nope/messages", json!({"role": "user", "content": "x"}), 404, Some("id")),
    ] {
        let r = post(&s, path, body.clone());
        assert_eq!(r.status, status, "{path} {body}: {}", r.text());
        assert_eq!(r.json()["error"]["param"].as_str(), param, "{path} {body}");
    }
    for path in ["/v1/assistants/asst_nope", "/v1/threads/thread_nope", "/v1/threads/thread_nope/runs/run_x/steps"] {
        assert_eq!(s.request("GET", path, None).status, 404, "{path}");
    }
    let (a, t) = assistant_and_thread(&s, json!([]));
    let r = s.request("GET", &format!("/v1/threads/{t}/messages?after=msg_nope"), None);
    assert_eq!(r.status, 404, "an unknown cursor: {}", r.text());
    let r = post(
        &s,
        &format!("/v1/threads/{t}/runs"),
        json!({"assistant_id": a, "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
    );
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("tool_choice")));
}
