//! Fault injection against the real binary: every kind by header, seeded rates, FakeAI's
//! error-injection settings, the counters, and what the official SDKs see.

mod common;

use std::{
    io::Read,
    time::{Duration, Instant},
};

use common::{FAST, Response, Server, chat};

const CHAT: &str = "/v1/chat/completions";

/// One request with `headers` on a fresh connection.
fn call(s: &Server, path: &str, body: &str, headers: &[(&str, &str)]) -> Response {
    let mut c = s.connect();
    c.send("POST", path, Some(body), headers);
    c.response()
}

fn stream_body(tokens: u64) -> String {
    chat("gpt-4o", "hi", &format!(r#""stream":true,"max_tokens":{tokens},"ignore_eos":true"#))
}

/// Everything the server sends for one request until it closes the connection.
fn until_close(s: &Server, body: &str, headers: &[(&str, &str)]) -> (Vec<u8>, std::io::Result<()>) {
    let mut c = s.connect();
    let mut hdrs = headers.to_vec();
    hdrs.push(("Connection", "close"));
    c.send("POST", CHAT, Some(body), &hdrs);
    let mut out = Vec::new();
    let res = c.stream.read_to_end(&mut out).map(|_| ());
    (out, res)
}

/// `fakeai_faults_injected_total{kind}` from `/metrics`.
fn injected(s: &Server, kind: &str) -> u64 {
    let text = s.request("GET", "/metrics", None).text();
    let line = format!("fakeai_faults_injected_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).unwrap_or_else(|| panic!("no {line}")).parse().unwrap()
}

#[test]
fn http_faults_by_header_in_each_dialect() {
    let s = Server::start(FAST);
    let body = chat("gpt-4o", "hi", "");
    let error = |spec: &str| {
        let r = call(&s, CHAT, &body, &[("X-Fakeai-Fault", spec)]);
        let e = r.json()["error"].clone();
        (r, e)
    };
    let (r, e) = error("context_length_exceeded");
    assert_eq!(
        (r.status, e["code"].as_str(), e["param"].as_str()),
        (400, Some("context_length_exceeded"), Some("messages"))
    );
    assert!(e["message"].as_str().unwrap().contains("maximum context length is 128000 tokens"), "{e}");
    assert_eq!(error("401").1["code"], "invalid_api_key");
    assert_eq!(error("403").0.status, 403);
    let (r, e) = error("model_not_found");
    assert_eq!((r.status, e["code"].as_str()), (404, Some("model_not_found")));
    assert!(e["message"].as_str().unwrap().contains("`gpt-4o`"));
    let (r, e) = error("429;retry_after=2");
    assert_eq!((r.status, e["code"].as_str(), r.header("retry-after")), (429, Some("rate_limit_exceeded"), Some("2")));
    assert_eq!(r.header("retry-after-ms"), Some("2000"));
    let (r, e) = error("rate_limit_quota");
    assert_eq!((r.status, e["code"].as_str(), r.header("retry-after")), (429, Some("insufficient_quota"), None));
    for status in [500, 502, 504] {
        let (r, e) = error(&status.to_string());
        assert_eq!((r.status, e["type"].as_str()), (status, Some("server_error")));
    }
    let (r, _) = error("service_unavailable");
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    // llm-d's header: any error status.
    let r = call(&s, CHAT, &body, &[("X-Return-Error", "418")]);
    assert_eq!(r.status, 418);
    assert_eq!(call(&s, CHAT, &body, &[("X-Return-Error", "200")]).status, 400, "not an error status");
    let bad = call(&s, CHAT, &body, &[("X-Fakeai-Fault", "explode")]);
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]["message"].as_str().unwrap().contains("unknown fault \"explode\""));

    // Anthropic's envelope; 529 is its overloaded_error.
    let messages = r#"{"model":"claude-3-5-haiku","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = call(&s, "/v1/messages", messages, &[("X-Fakeai-Fault", "529")]);
    assert_eq!((r.status, r.header("retry-after")), (529, Some("1")));
    assert_eq!(
        r.json(),
        serde_json::json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})
    );
    let r = call(&s, "/v1/messages", messages, &[("X-Return-Error", "404")]);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
    // TGI's.
    let r = call(&s, "/generate", r#"{"inputs":"hi"}"#, &[("X-Fakeai-Fault", "503")]);
    assert_eq!((r.status, r.json()["error_type"].as_str()), (503, Some("overloaded")));
    // Open routes are never faulted.
    assert_eq!(s.request("GET", "/health", None).status, 200);

    assert_eq!(injected(&s, "http_500"), 1);
    assert_eq!(injected(&s, "http_529"), 1);
    assert_eq!(injected(&s, "http_503"), 2);
    assert_eq!(injected(&s, "http_other"), 1, "418");
    assert_eq!(injected(&s, "insufficient_quota"), 1);
    let json = s.request("GET", "/metrics/json", None).json();
    assert_eq!(json["faults_injected"]["http_404"], 2);
}

#[test]
fn mid_stream_faults_strike_after_n_events() {
    let s = Server::start(FAST);
    let body = stream_body(10);
    let deltas = |text: &str| text.matches("\"delta\":{\"content\"").count();

    let r = call(&s, CHAT, &body, &[("X-Fakeai-Fault", "error_event;after=3")]);
    let text = r.text();
    assert_eq!(deltas(&text), 3, "three tokens, then the error");
    assert!(text.ends_with("data: {\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"), "{text}");
    assert!(!text.contains("[DONE]"));

    let r = call(&s, CHAT, &body, &[("X-Fakeai-Fault", "truncate;at=0.5")]);
    let text = r.text();
    assert_eq!((deltas(&text), text.contains("[DONE]"), text.contains("finish_reason\":\"length")), (5, false, false));

    let r = call(&s, CHAT, &body, &[("X-Fakeai-Fault", "malformed;after=2")]);
    let text = r.text();
    assert!(text.contains("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\n\n"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "the stream goes on");
    assert_eq!(deltas(&text), 11, "ten tokens and the broken chunk");

    // Abrupt close: the chunked body never ends.
    let (raw, _) = until_close(&s, &body, &[("X-Fakeai-Fault", "close;after=4")]);
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"));
    assert_eq!(deltas(&raw), 4);
    assert!(!raw.ends_with("0\r\n\r\n") && !raw.contains("[DONE]"), "{raw}");

    // A stall of 300 ms after 2 events, then the rest on time.
    let slow = Server::start(&["--ttft", "0:0", "--itl", "10:0"]);
    let mut c = slow.connect();
    let start = Instant::now();
    c.send("POST", CHAT, Some(&body), &[("X-Fakeai-Fault", "stall;ms=300;after=2")]);
    let events = c.timed_events();
    let at = |i: usize| events[i].0 - start;
    assert!(at(2) < Duration::from_millis(250), "before the stall: {:?}", at(2));
    assert!(at(3) >= Duration::from_millis(300), "after it: {:?}", at(3));
    assert_eq!(events.iter().filter(|(_, e)| e["choices"][0]["finish_reason"] == "length").count(), 1);

    // Anthropic's error event.
    let messages =
        r#"{"model":"claude-3-5-haiku","max_tokens":6,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = call(&s, "/v1/messages", messages, &[("X-Fakeai-Fault", "error_event;after=1")]);
    let text = r.text();
    assert!(text.ends_with("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"), "{text}");
    assert!(!text.contains("message_stop"));

    for kind in ["error_event", "truncate", "malformed", "close"] {
        assert_eq!(injected(&s, kind), 1 + u64::from(kind == "error_event"), "{kind}");
    }
    assert_eq!(injected(&slow, "stall"), 1);
    // A mid-stream fault on a reply that is not a stream does nothing and is not counted.
    let r = call(&s, CHAT, &chat("gpt-4o", "hi", ""), &[("X-Fakeai-Fault", "close")]);
    assert_eq!(r.status, 200);
    assert_eq!(injected(&s, "close"), 1);
}

#[test]
fn connection_faults() {
    let s = Server::start(FAST);
    let body = stream_body(4);
    let (raw, res) = until_close(&s, &body, &[("X-Fakeai-Fault", "reset")]);
    assert!(raw.is_empty(), "nothing before the reset");
    assert_eq!(res.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset));

    let (raw, _) = until_close(&s, &body, &[("X-Fakeai-Fault", "close_after_headers")]);
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200") && raw.ends_with("\r\n\r\n"), "{raw}");
    assert!(raw.contains("text/event-stream"));
    let (raw, _) = until_close(&s, &chat("gpt-4o", "hi", ""), &[("X-Fakeai-Fault", "close_after_headers")]);
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("Content-Length: ") && raw.ends_with("\r\n\r\n"), "a head promising a body: {raw}");

    let start = Instant::now();
    let r = call(&s, CHAT, &chat("gpt-4o", "hi", ""), &[("X-Fakeai-Fault", "slow_first_byte;ms=300")]);
    assert_eq!(r.status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(injected(&s, "reset"), 1);
    assert_eq!(injected(&s, "close_after_headers"), 2);
    assert_eq!(injected(&s, "slow_first_byte"), 1);
}

#[test]
fn latency_spikes_multiply_ttft_and_itl() {
    let s = Server::start(&["--ttft", "50:0", "--itl", "5:0"]);
    let body = stream_body(5);
    let mut c = s.connect();
    let start = Instant::now();
    c.send("POST", CHAT, Some(&body), &[("X-Fakeai-Fault", "latency_spike;ttft=6;itl=20")]);
    let events = c.timed_events();
    let first = events
        .iter()
        .position(|(_, e)| e["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()))
        .unwrap();
    assert!(events[first].0 - start >= Duration::from_millis(300), "TTFT x6");
    // Four gaps of 100 ms; the first token may itself be a little late.
    assert!(events.last().unwrap().0 - events[first].0 >= Duration::from_millis(350), "ITL x20");
    // Non-streaming: the whole reply waits as long.
    let start = Instant::now();
    assert_eq!(
        call(&s, CHAT, &chat("gpt-4o", "hi", r#""max_tokens":2"#), &[("X-Fakeai-Fault", "spike;ttft=8")]).status,
        200
    );
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert_eq!(injected(&s, "latency_spike"), 2);
}

/// The statuses of `n` sequential chat requests.
fn statuses(s: &Server, n: usize) -> Vec<u16> {
    (0..n).map(|_| s.post(CHAT, &chat("gpt-4o", "hi", r#""max_tokens":1"#)).status).collect()
}

#[test]
fn rates_are_seeded_and_scoped() {
    let args = ["--ttft", "0:0", "--itl", "0:0", "--fault-rate", "503=0.3", "--fault-seed", "7"];
    let a = statuses(&Server::start(&args), 200);
    let s = Server::start(&args);
    let b = statuses(&s, 200);
    assert_eq!(a, b, "the same seed and traffic give the same faults");
    let faulted = b.iter().filter(|st| **st == 503).count();
    assert!((40..80).contains(&faulted), "{faulted} of 200 at 30 %");
    assert_eq!(injected(&s, "http_503") as usize, faulted, "every one counted");
    assert_eq!(faulted + b.iter().filter(|st| **st == 200).count(), 200);

    // Scoped to an endpoint: other routes are untouched.
    let s = Server::start(&["--fault-rate", "500=1@/v1/embeddings", "--fault-rate", "502=1@claude-3-5-haiku"]);
    assert_eq!(s.post("/v1/embeddings", r#"{"model":"text-embedding-3-small","input":"x"}"#).status, 500);
    assert_eq!(statuses(&s, 3), [200, 200, 200]);
    let messages = r#"{"model":"claude-3-5-haiku","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#;
    assert_eq!(s.post("/v1/messages", messages).status, 502);
}

#[test]
fn fakeai_error_injection_settings() {
    let env = [
        ("FAKEAI_METRICS__ERROR_INJECTION_ENABLED", "true"),
        ("FAKEAI_METRICS__ERROR_INJECTION_RATE", "1.0"),
        ("FAKEAI_METRICS__ERROR_INJECTION_TYPES", r#"["bad_gateway"]"#),
    ];
    let s = Server::start_with_env(FAST, &env);
    let r = s.post(CHAT, &chat("gpt-4o", "hi", ""));
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (502, Some("bad_gateway")));
    // Off unless enabled, as in FakeAI.
    let s = Server::start_with_env(FAST, &env[1..]);
    assert_eq!(s.post(CHAT, &chat("gpt-4o", "hi", "")).status, 200);
}

#[test]
fn fakeai_max_request_size_gives_413_payload_too_large() {
    let s = Server::start_with_env(FAST, &[("FAKEAI_SECURITY__MAX_REQUEST_SIZE", "1024")]);
    let big = chat("gpt-4o", &"x".repeat(2000), "");
    let r = s.post(CHAT, &big);
    let e = r.json()["error"].clone();
    assert_eq!(
        (r.status, e["type"].as_str(), e["code"].as_str()),
        (413, Some("invalid_request_error"), Some("payload_too_large"))
    );
    assert!(e["message"].as_str().unwrap().contains("1024 bytes"), "{e}");
    assert_eq!(s.post(CHAT, &chat("gpt-4o", "hi", "")).status, 200, "a body under the limit");
    // The flag beats FakeAI's name, as any flag beats the environment.
    let s = Server::start_with_env(&["--max-body-size", "1MiB"], &[("FAKEAI_SECURITY__MAX_REQUEST_SIZE", "1024")]);
    assert_eq!(s.post(CHAT, &big).status, 200);
}

#[test]
fn sdks_see_the_faults() {
    common::sdk_check("faults_check.py", "/v1", || Server::start(&["--ttft", "0:0", "--itl", "1:0"]));
}

const SPEECH: &str = "/v1/audio/speech";
const SPEECH_SSE: &str = r#"{"model":"gpt-4o-mini-tts","input":"Hello there, how are you today?","voice":"coral","response_format":"wav","stream_format":"sse"}"#;

/// Everything the server sends for one `path` request until it closes the connection.
fn raw_until_close(s: &Server, path: &str, body: &str, headers: &[(&str, &str)]) -> String {
    let mut c = s.connect();
    let mut hdrs = headers.to_vec();
    hdrs.push(("Connection", "close"));
    c.send("POST", path, Some(body), &hdrs);
    let mut out = Vec::new();
    let _ = c.stream.read_to_end(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn mid_stream_faults_on_event_streams_that_are_not_tokens() {
    let s = Server::start(FAST);
    let deltas = |text: &str| text.matches("\"type\":\"speech.audio.delta\"").count();
    let whole = call(&s, SPEECH, SPEECH_SSE, &[]).text();
    let n = deltas(&whole);
    assert!(n >= 4 && whole.contains("speech.audio.done"), "{n} deltas");

    let r = call(&s, SPEECH, SPEECH_SSE, &[("X-Fakeai-Fault", "error_event;after=2")]);
    let text = r.text();
    assert_eq!((r.status, deltas(&text)), (200, 2), "two events, then the error");
    let error = text.split("event: error\ndata: ").nth(1).expect("an error event");
    let error: serde_json::Value = serde_json::from_str(error.trim_end()).unwrap();
    assert_eq!((error["type"].as_str(), error["error"]["type"].as_str()), (Some("error"), Some("server_error")));
    assert!(!text.contains("speech.audio.done"));

    let r = call(&s, SPEECH, SPEECH_SSE, &[("X-Fakeai-Fault", "truncate;at=0.5")]);
    let text = r.text();
    assert_eq!((deltas(&text), text.contains("speech.audio.done")), (n / 2, false), "half the events");

    let r = call(&s, SPEECH, SPEECH_SSE, &[("X-Fakeai-Fault", "malformed;after=1")]);
    let text = r.text();
    assert!(text.contains("data: {\"error\": \n\n") && text.contains("speech.audio.done"), "the stream goes on");
    assert_eq!(deltas(&text), n);

    let raw = raw_until_close(&s, SPEECH, SPEECH_SSE, &[("X-Fakeai-Fault", "close;after=3")]);
    assert!(raw.starts_with("HTTP/1.1 200"));
    assert_eq!(deltas(&raw), 3);
    assert!(!raw.ends_with("0\r\n\r\n") && !raw.contains("speech.audio.done"), "the chunked body never ends");

    let slow = Server::start(&["--ttft", "0:0", "--itl", "0:0"]);
    let start = Instant::now();
    let r = call(&slow, SPEECH, SPEECH_SSE, &[("X-Fakeai-Fault", "stall;ms=300;after=1")]);
    assert!(start.elapsed() >= Duration::from_millis(300) && deltas(&r.text()) == n, "stalled, then whole");
    assert_eq!(injected(&slow, "stall"), 1);
    for kind in ["error_event", "truncate", "malformed", "close"] {
        assert_eq!(injected(&s, kind), 1, "{kind}");
    }

    // By rate, scoped to the endpoint: every speech stream closes, chat streams are untouched.
    let rated = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--fault-rate", "close;after=1=1@/v1/audio/speech"]);
    for _ in 0..3 {
        let raw = raw_until_close(&rated, SPEECH, SPEECH_SSE, &[]);
        assert_eq!(deltas(&raw), 1, "{raw}");
    }
    assert!(call(&rated, CHAT, &stream_body(4), &[]).text().ends_with("data: [DONE]\n\n"));
    assert_eq!(injected(&rated, "close"), 3);
}
