//! Webhooks against the real binary: the openai SDK's check receives and verifies every event
//! (tests/sdk/webhooks_check.py), and over raw TCP a receiver that never answers is retried and
//! counted, and a URL fakeai cannot post to is refused at startup.

mod common;

use std::{
    io::Read,
    net::TcpListener,
    process::Command,
    time::{Duration, Instant},
};

use common::Server;

const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtd2ViaG9vay10ZXN0cw==";

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The value of `fakeai_webhooks_total{outcome=…}` in the server's `/metrics`.
fn webhooks_total(s: &Server, outcome: &str) -> u64 {
    let text = s.request("GET", "/metrics", None).text();
    let line = format!("fakeai_webhooks_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|v| v.parse().ok()).expect("webhook counter")
}

#[test]
fn the_openai_sdk_verifies_every_event_and_the_retries() {
    if common::sdk_python().is_none() {
        return;
    }
    let port = free_port();
    let (hooks, flaky) = (format!("http://127.0.0.1:{port}/hooks"), format!("http://127.0.0.1:{port}/flaky"));
    let s = Server::start(&[
        "--ttft",
        "0:0",
        "--itl",
        "25:0",
        "--fine-tuning-ms",
        "300",
        "--webhook-url",
        &hooks,
        "--webhook-url",
        &flaky,
        "--webhook-secret",
        SECRET,
    ]);
    common::run_sdk_script("webhooks_check.py", &[&format!("http://{}", s.addr), &port.to_string(), SECRET]);
    // Five events, each delivered to both endpoints; the flaky one refused each once.
    assert_eq!((webhooks_total(&s, "delivered"), webhooks_total(&s, "retried")), (10, 5));
    assert_eq!(webhooks_total(&s, "dropped"), 2, "the cancelled response's end was dropped, for each endpoint");
}

#[test]
fn a_silent_receiver_is_retried_with_the_same_event_id() {
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/h", receiver.local_addr().unwrap());
    let s = Server::start(&[common::FAST, &["--webhook-url", &url, "--webhook-secret", "plain"]].concat());
    let body = r#"{"model":"gpt-4o-mini","input":"hi","max_output_tokens":4,"background":true}"#;
    let id = s.post("/v1/responses", body).json()["id"].as_str().unwrap().to_owned();
    // Close each connection without answering: the attempt fails and comes back after 1 s.
    let mut ids = Vec::new();
    let start = Instant::now();
    for _ in 0..2 {
        let (mut conn, _) = receiver.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (mut request, mut chunk) = (Vec::new(), [0; 4096]);
        while !request.ends_with(b"}}") {
            let n = conn.read(&mut chunk).unwrap();
            assert!(n > 0, "the delivery ended early");
            request.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&request).into_owned();
        assert!(text.starts_with("POST /h HTTP/1.1\r\n") && text.contains(&id), "{text}");
        let header = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
        assert!(header("webhook-signature: v1,").is_some() && header("webhook-timestamp: ").is_some(), "{text}");
        ids.push(header("webhook-id: ").unwrap());
    }
    assert!(start.elapsed() >= Duration::from_millis(900), "the retry waited for its backoff");
    assert_eq!(ids[0], ids[1], "a retry keeps the event id");
    assert!(webhooks_total(&s, "retried") >= 1);
}

#[test]
fn a_url_fakeai_cannot_post_to_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_fakeai"))
        .args(["server", "--port", "0", "--webhook-url", "https://example.com/hook"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an http:// URL"), "{out:?}");
}
