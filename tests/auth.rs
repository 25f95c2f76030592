//! API keys and OpenAI-style rate limits over HTTP against the real binary.

mod common;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use common::{Response, Server, chat};

/// One request with `headers` on a fresh connection.
fn call(s: &Server, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Response {
    let mut c = s.connect();
    c.send(method, path, body, headers);
    c.response_to(method)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn models(s: &Server, key: &str) -> Response {
    call(s, "GET", "/v1/models", None, &[("Authorization", &bearer(key))])
}

#[test]
fn keys_in_three_header_styles_and_401_in_each_dialect() {
    let s = Server::start(&["--api-key", "sk-good", "--api-key", "sk-other", "--ttft", "0:0", "--itl", "0:0"]);
    let missing = call(&s, "GET", "/v1/models", None, &[]);
    assert_eq!(missing.status, 401);
    let e = &missing.json()["error"];
    assert!(e["message"].as_str().unwrap().starts_with("You didn't provide an API key"), "{e}");
    assert_eq!(e["type"], "invalid_request_error");
    let wrong = models(&s, "sk-bad");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    assert!(!wrong.text().contains("sk-bad"), "the key is never echoed");

    assert_eq!(models(&s, "sk-good").status, 200, "Authorization: Bearer");
    assert_eq!(call(&s, "GET", "/v1/models", None, &[("Authorization", "sk-other")]).status, 200, "no Bearer");
    assert_eq!(call(&s, "GET", "/v1/models", None, &[("x-api-key", "sk-other")]).status, 200, "Anthropic");
    assert_eq!(call(&s, "GET", "/v1/models", None, &[("api-key", "sk-good")]).status, 200, "Azure");

    let body = r#"{"model":"claude-3-5-haiku","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let anthropic = call(&s, "POST", "/v1/messages", Some(body), &[("x-api-key", "sk-nope")]);
    assert_eq!(anthropic.status, 401);
    assert_eq!(
        anthropic.json(),
        serde_json::json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    );
    assert_eq!(call(&s, "POST", "/v1/messages", Some(body), &[("x-api-key", "sk-good")]).status, 200);
    let tgi = call(&s, "POST", "/generate", Some(r#"{"inputs":"hi"}"#), &[]);
    assert_eq!(tgi.status, 401);
    assert!(tgi.json()["error_type"].is_string(), "TGI's envelope: {}", tgi.text());

    for open in ["/health", "/metrics", "/metrics/json", "/dashboard", "/images/none.png"] {
        let r = call(&s, "GET", open, None, &[]);
        assert_ne!(r.status, 401, "{open} is open");
    }
    let metrics = call(&s, "GET", "/metrics", None, &[]).text();
    assert!(!metrics.contains("sk-good") && !metrics.contains("sk-other"), "no key material in metrics");
}

#[test]
fn fakeai_environment_names_work_unchanged() {
    let env = [("FAKEAI_AUTH__REQUIRE_API_KEY", "true"), ("FAKEAI_AUTH__API_KEYS", r#"["sk-env-1","sk-env-2"]"#)];
    let s = Server::start_with_env(&[], &env);
    assert_eq!(models(&s, "sk-env-2").status, 200);
    assert_eq!(models(&s, "sk-env-3").status, 401);
    assert_eq!(call(&s, "GET", "/v1/models", None, &[]).status, 401);
    drop(s);
    let s = Server::start_with_env(&[], &[("FAKEAI_API_KEYS", "sk-a,sk-b")]);
    assert_eq!(models(&s, "sk-b").status, 200);
    assert_eq!(models(&s, "sk-c").status, 401);
    drop(s);
    let s = Server::start_with_env(&[], &[("FAKEAI_AUTH__REQUIRE_API_KEY", "true")]);
    assert_eq!(models(&s, "anything").status, 401, "required with no keys refuses every key");
    drop(s);
    let env = [("FAKEAI_RATE_LIMITS__ENABLED", "true"), ("FAKEAI_RATE_LIMITS__TIER", "free")];
    let s = Server::start_with_env(&[], &env);
    let r = call(&s, "GET", "/v1/models", None, &[]);
    assert_eq!((r.status, r.header("x-ratelimit-limit-requests")), (200, Some("3")));
    assert_eq!(r.header("x-ratelimit-limit-tokens"), Some("200000"));
}

#[test]
fn keys_file_is_read_again_on_sighup() {
    let path = std::env::temp_dir().join(format!("fakeai-auth-test-{}", std::process::id()));
    std::fs::write(&path, "# keys\nsk-first\n").unwrap();
    let s = Server::start(&["--api-keys-file", path.to_str().unwrap()]);
    assert_eq!(models(&s, "sk-first").status, 200);
    assert_eq!(models(&s, "sk-second").status, 401);
    std::fs::write(&path, "sk-second  # rotated\n").unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &s.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let t = Instant::now();
    while models(&s, "sk-second").status != 200 {
        assert!(t.elapsed() < Duration::from_secs(5), "the new key never worked");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(models(&s, "sk-first").status, 401, "the removed key is refused");
    assert_eq!(s.request("GET", "/health", None).status, 200, "SIGHUP does not stop the server");
    std::fs::remove_file(&path).unwrap();
}

/// The six `x-ratelimit-*` headers of `r`, asserting they are all there.
fn limits(r: &Response) -> [String; 6] {
    [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ]
    .map(|h| r.header(h).unwrap_or_else(|| panic!("{h} missing on {} {}", r.status, r.text())).to_owned())
}

/// OpenAI's duration format: `120ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`.
fn is_openai_duration(d: &str) -> bool {
    let ms = d.strip_suffix("ms").is_some_and(|n| n.parse::<u64>().is_ok());
    let go = d.ends_with('s')
        && !d.ends_with("ms")
        && d.trim_end_matches('s').split(['h', 'm']).all(|p| p.parse::<f64>().is_ok());
    ms || go
}

#[test]
fn a_throttled_client_that_waits_retry_after_succeeds() {
    // 120 RPM: one request refills every 500 ms.
    let s = Server::start(&["--api-key", "sk-1", "--api-key", "sk-2", "--rate-limit-rpm", "120"]);
    let mut admitted = 0;
    let refused = loop {
        let r = models(&s, "sk-1");
        if r.status != 200 {
            break r;
        }
        let l = limits(&r);
        assert_eq!(l[0], "120");
        assert!(l[1].parse::<u64>().unwrap() >= 119 - admitted.min(119), "remaining {} after {admitted}", l[1]);
        assert!(is_openai_duration(&l[2]), "{}", l[2]);
        admitted += 1;
        assert!(admitted < 200, "never throttled");
    };
    assert!(admitted >= 120, "a fresh key holds its whole minute: {admitted}");
    assert_eq!(refused.status, 429, "{}", refused.text());
    let e = &refused.json()["error"];
    assert_eq!((e["code"].as_str(), e["type"].as_str()), (Some("rate_limit_exceeded"), Some("requests")));
    assert_eq!(refused.header("retry-after"), Some("1"));
    let wait: u64 = refused.header("retry-after-ms").unwrap().parse().unwrap();
    assert!((1..=500).contains(&wait), "retry-after-ms {wait}");
    assert_eq!(limits(&refused)[1], "0");
    assert_eq!(models(&s, "sk-2").status, 200, "another key has its own budget");
    std::thread::sleep(Duration::from_millis(wait));
    let retried = models(&s, "sk-1");
    assert_eq!(retried.status, 200, "retried after retry-after-ms: {}", retried.text());
    let anthropic = r#"{"model":"claude-3-5-haiku","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let r = call(&s, "POST", "/v1/messages", Some(anthropic), &[("x-api-key", "sk-1")]);
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error", "Anthropic's envelope");
}

#[test]
fn every_response_on_a_limited_route_carries_the_limits_and_tokens_are_estimated() {
    let s = Server::start(&["--rate-limit-tpm", "10000", "--ttft", "0:0", "--itl", "0:0"]);
    let body = chat("gpt-4o", "hello", r#""max_tokens":400"#);
    let estimate = body.len().div_ceil(4) as u64 + 400;
    let plain = call(&s, "POST", "/v1/chat/completions", Some(&body), &[]);
    assert_eq!(plain.status, 200);
    let l = limits(&plain);
    assert_eq!((l[0].as_str(), l[3].as_str()), ("500", "10000"), "tier-1 RPM, the TPM given");
    assert_eq!(l[4].parse::<u64>().unwrap(), 10_000 - estimate, "prompt bytes / 4 + max_tokens");
    assert!(is_openai_duration(&l[5]), "{}", l[5]);
    // Once answered, the charge is corrected to the real usage (the minute refills ~167 tokens a second).
    let used = plain.json()["usage"]["total_tokens"].as_u64().unwrap();
    assert!(used < estimate);
    let after: u64 = limits(&call(&s, "GET", "/v1/models", None, &[]))[4].parse().unwrap();
    assert!((10_000 - used..10_000 - used + 200).contains(&after), "{after} after using {used}");
    let streamed = chat("gpt-4o", "hello", r#""max_tokens":400,"stream":true"#);
    let r = call(&s, "POST", "/v1/chat/completions", Some(&streamed), &[]);
    assert_eq!(r.status, 200);
    limits(&r);
    assert!(r.text().contains("[DONE]"));
    let bad = call(&s, "POST", "/v1/chat/completions", Some("{}"), &[]);
    assert_eq!(bad.status, 400);
    limits(&bad);
    // Larger than the whole minute's budget: 429 with no retry-after, the request given back.
    let huge = chat("gpt-4o", "hello", r#""max_tokens":20000"#);
    let r = call(&s, "POST", "/v1/chat/completions", Some(&huge), &[]);
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "tokens");
    assert!(r.header("retry-after").is_none());
    assert_eq!(call(&s, "GET", "/health", None, &[]).header("x-ratelimit-limit-requests"), None, "open routes");
}

#[test]
fn limits_are_exact_across_two_workers() {
    // 40 a day: nothing refills during the test.
    let s = Server::start(&["--workers", "2", "--api-key", "sk-1", "--rate-limit-rpd", "40"]);
    let addr: SocketAddr = s.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..12)
                    .map(|_| {
                        let mut c = common::Conn::new(std::net::TcpStream::connect(addr).unwrap());
                        c.send("GET", "/v1/models", None, &[("Authorization", "Bearer sk-1")]);
                        c.response().status
                    })
                    .collect::<Vec<u16>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 40);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 96 - 40);
}

#[test]
fn openai_sdk_sees_authentication_and_rate_limit_errors_and_retries() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = Server::start(&["--api-key", "sk-sdk", "--rate-limit-rpm", "60", "--ttft", "0:0", "--itl", "0:0"]);
    common::run_sdk_script("auth_check.py", &[&format!("http://{}/v1", s.addr)]);
}

#[test]
fn rate_limit_views_and_prometheus_families_name_keys_by_id_only() {
    let s = Server::start(&["--api-key", "sk-view", "--rate-limit-tier", "free"]);
    for _ in 0..4 {
        models(&s, "sk-view");
    }
    models(&s, "sk-wrong");
    call(&s, "GET", "/v1/models", None, &[]);
    let view = call(&s, "GET", "/metrics/rate-limits", None, &[]);
    assert_eq!(view.status, 200);
    let v = view.json();
    assert!(!view.text().contains("sk-view"), "no key material: {v}");
    assert_eq!(v["summary"]["total_keys"], 1);
    assert_eq!(v["summary"]["total_throttle_events"], 1, "free tier: 3 admitted, the 4th refused");
    assert_eq!(v["tier_stats"]["rpm"], 3);
    assert_eq!(v["throttle_analytics"]["auth_failures"], serde_json::json!({"missing": 1, "invalid": 1}));
    let key = &v["keys"][0];
    assert_eq!((key["requests"].as_u64(), key["requests_per_minute"]["remaining"].as_u64()), (Some(3), Some(0)));
    let id = key["key_id"].as_str().unwrap();
    let one = call(&s, "GET", &format!("/metrics/rate-limits/key/{id}"), None, &[]);
    assert_eq!(one.json()["throttled"], 1);
    assert_eq!(call(&s, "GET", "/metrics/rate-limits/key/sk-view", None, &[]).status, 404, "ids only");
    let text = call(&s, "GET", "/metrics", None, &[]).text();
    assert!(text.contains(&format!("fakeai_rate_limit_requests_total{{key_id=\"{id}\"}} 3")), "{text}");
    assert!(text.contains(&format!("fakeai_rate_limit_throttled_total{{key_id=\"{id}\"}} 1")));
    assert!(text.contains("fakeai_auth_failures_total{reason=\"invalid\"} 1"));
    assert!(!text.contains("sk-view"));
    let errors = &call(&s, "GET", "/metrics/json", None, &[]).json()["errors_by_type"];
    assert_eq!(
        (errors["rate_limit_error"].as_u64(), errors["authentication_error"].as_u64()),
        (Some(1), Some(2)),
        "{errors}"
    );
}

#[test]
fn a_keyed_websocket_needs_its_key_before_the_handshake() {
    let s = Server::start(&["--api-key", "sk-ws"]);
    let upgrade = |key: Option<&str>| {
        let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        let raw = format!(
            "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
        );
        let mut c = s.connect();
        c.write_raw(raw.as_bytes());
        c
    };
    let refused = upgrade(None).response();
    assert_eq!(refused.status, 401);
    assert!(refused.json()["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"));
    assert_eq!(upgrade(Some("sk-bad")).response().status, 401);
    let mut ok = upgrade(Some("sk-ws"));
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut ok.stream, &mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101", "the right key upgrades");
    assert_ne!(call(&s, "GET", "/metrics/stream", None, &[]).status, 401, "the metrics stream is open");
}
