//! HTTP/1.1 behaviour over real sockets: keep-alive, pipelining, framing, limits, timeouts.

mod common;

use std::{io::Read, net::TcpStream, thread, time::Duration};

use common::{Conn, Server, chat, encode};

use common::FAST;

#[test]
fn keep_alive_reuses_one_connection() {
    let s = Server::start(FAST);
    let mut c = s.connect();
    for i in 0..20 {
        let body = chat("m", "x", &format!(r#""max_tokens":3,"ignore_eos":true,"stream":{}"#, i % 2 == 0));
        c.send("POST", "/v1/chat/completions", Some(&body), &[]);
        let r = c.response();
        assert_eq!(r.status, 200);
        assert!(r.header("connection").is_none(), "keep-alive is the HTTP/1.1 default");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Server::start(FAST);
    let mut c = s.connect();
    let mut batch = Vec::new();
    for i in 0..10 {
        let body = chat("m", "x", &format!(r#""max_tokens":{},"ignore_eos":true"#, i + 1));
        batch.extend(encode("POST", "/v1/chat/completions", Some(&body), &[("X-Request-ID", &format!("req-{i}"))]));
    }
    batch.extend(encode("GET", "/health", None, &[]));
    c.write_raw(&batch);
    for i in 0..10 {
        let r = c.response();
        assert_eq!(r.header("x-request-id"), Some(format!("req-{i}").as_str()));
        assert_eq!(r.json()["usage"]["completion_tokens"], i + 1);
    }
    assert_eq!(c.response().json()["status"], "healthy");
}

#[test]
fn connection_close_and_http10() {
    let s = Server::start(FAST);
    let mut c = s.connect();
    c.send("GET", "/health", None, &[("Connection", "close")]);
    let r = c.response();
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.is_closed());

    let mut c = s.connect();
    c.write_raw(b"GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(c.response().status, 200);
    assert!(c.is_closed(), "HTTP/1.0 closes by default");

    let mut c = s.connect();
    c.write_raw(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /health HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert_eq!(c.response().status, 200);
    assert!(c.is_closed());

    // An HTTP/1.0 stream is close-delimited: no chunked encoding.
    let mut c = s.connect();
    let body = chat("m", "x", r#""max_tokens":4,"ignore_eos":true,"stream":true"#);
    c.write_raw(
        format!(
            "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.response();
    assert!(r.header("transfer-encoding").is_none());
    assert_eq!(r.content_events(), 4);
}

#[test]
fn head_and_expect_continue() {
    let s = Server::start(FAST);
    let mut c = s.connect();
    c.send("HEAD", "/health", None, &[]);
    let r = c.response_to("HEAD");
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
    c.send("GET", "/health", None, &[]);
    assert_eq!(c.response().json()["ready"], true, "HEAD sent no body bytes");

    let body = chat("m", "x", r#""max_tokens":2"#);
    let mut c = s.connect();
    c.write_raw(format!("POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    assert_eq!(c.response().status, 100);
    c.write_raw(body.as_bytes());
    assert_eq!(c.response().status, 200);
}

#[test]
fn chunked_request_bodies() {
    let s = Server::start(FAST);
    let body = chat("m", "Hello, world!", r#""max_tokens":3,"ignore_eos":true"#);
    let (a, b) = body.split_at(10);
    let mut c = s.connect();
    c.write_raw(format!("POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n{:x}\r\n{a}\r\n", a.len()).as_bytes());
    thread::sleep(Duration::from_millis(50));
    c.write_raw(format!("{:x};ext=1\r\n{b}\r\n0\r\n\r\n", b.len()).as_bytes());
    let v = c.response().json();
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    assert_eq!(v["usage"]["completion_tokens"], 3);
}

#[test]
fn limits_give_clear_errors_then_close() {
    let s = Server::start(&["--max-body-size", "1KiB", "--max-header-size", "2KiB"]);
    let mut c = s.connect();
    c.write_raw(format!("GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(4096)).as_bytes());
    let r = c.response();
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["error"]["code"], "request_header_fields_too_large");
    assert!(c.is_closed());

    let mut c = s.connect();
    c.write_raw(
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    assert!(c.is_closed());

    let mut c = s.connect();
    c.write_raw(
        format!("POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n", "a".repeat(2048))
            .as_bytes(),
    );
    assert_eq!(c.response().status, 413);

    let mut c = s.connect();
    c.write_raw(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
    assert_eq!(c.response().status, 400);
    assert!(c.is_closed());
}

#[test]
fn routes_that_parse_json_on_the_worker_take_at_most_the_json_body_limit() {
    let s = Server::start(&["--max-json-body-size", "1MiB"]);
    // 1.5 MB: over the JSON limit, under the 64 MiB body limit.
    let big = "x".repeat(1_500_000);
    // Refused on the declared length, before any body byte (a client still writing would see the close).
    for path in ["/v1/vector_stores", "/v1/threads"] {
        let mut c = s.connect();
        c.write_raw(format!("POST {path} HTTP/1.1\r\nContent-Length: 1500000\r\n\r\n").as_bytes());
        let r = c.response();
        assert_eq!((r.status, r.json()["error"]["code"].as_str()), (413, Some("payload_too_large")), "{path}");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("1048576 bytes"), "{}", r.text());
    }
    // Chat parses a large body off the worker: the same size is read and judged on its tokens.
    let chat_reply = s.post("/v1/chat/completions", &chat("gpt-4o", &big, r#""max_tokens":1"#));
    assert_eq!(chat_reply.json()["error"]["code"], "context_length_exceeded", "{}", chat_reply.text());
    assert_eq!(s.post("/v1/vector_stores", r#"{"name":"small"}"#).status, 200, "a body under the limit");
    let s = Server::start(&["--max-json-body-size", "2MiB"]);
    assert_eq!(s.post("/v1/vector_stores", &format!(r#"{{"name":"{big}"}}"#)).status, 200, "the limit is the flag's");
}

#[test]
fn slow_clients_time_out_with_408() {
    let s = Server::start(&["--header-timeout", "300ms", "--body-timeout", "300ms", "--keepalive-timeout", "600ms"]);
    let mut c = s.connect();
    c.write_raw(b"GET /health HTTP/1.1\r\nHost: x\r\n");
    let r = c.response();
    assert_eq!(r.status, 408);
    assert_eq!(r.json()["error"]["code"], "request_timeout");
    assert!(c.is_closed());

    let mut c = s.connect();
    c.write_raw(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"model\"");
    assert_eq!(c.response().status, 408);

    // An idle keep-alive connection is closed quietly.
    let mut c = s.connect();
    c.send("GET", "/health", None, &[]);
    assert_eq!(c.response().status, 200);
    let t = std::time::Instant::now();
    assert!(c.is_closed());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn routing_errors_cors_and_request_ids() {
    let s = Server::start(FAST);
    let r = s.request("GET", "/v2/nothing", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "unknown_url");
    let r = s.request("GET", "/v1/completions", None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
    assert!(r.json()["error"]["param"].is_null());
    for read_only in ["/dashboard", "/health/detailed", "/metrics/by-model", "/dynamo/metrics/json"] {
        let r = s.request("POST", read_only, Some("{}"));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, OPTIONS")), "POST {read_only}");
        assert_eq!(r.json()["error"]["code"], "method_not_allowed");
    }
    let r = s.request("OPTIONS", "/v1/chat/completions", None);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").unwrap().contains("POST"));
    let mut c = s.connect();
    c.send("GET", "/health", None, &[("X-Request-ID", "trace-7")]);
    let r = c.response();
    assert_eq!(r.header("x-request-id"), Some("trace-7"));
    assert_eq!(r.header("server"), Some("fakeai"));
    assert!(r.header("date").unwrap().ends_with(" GMT"));
}

#[test]
fn connections_over_the_limit_get_503() {
    let s = Server::start(&["--workers", "1", "--max-connections", "2"]);
    let mut held: Vec<Conn> = (0..2).map(|_| s.connect()).collect();
    for c in &mut held {
        c.send("GET", "/health", None, &[]);
        assert_eq!(c.response().status, 200);
    }
    let mut extra = TcpStream::connect(s.addr).unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = String::new();
    let _ = extra.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 503"), "got {raw:?}");
    assert!(raw.contains("\"connection_limit\""));
    drop(held);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(s.request("GET", "/health", None).status, 200, "capacity returns");
}

#[test]
fn a_burst_of_connections_is_served_and_the_limit_holds_across_it() {
    // Connections that queue up together are taken in batches; each still counts against the limit.
    let s = Server::start(&["--workers", "1", "--max-connections", "300"]);
    let mut conns: Vec<TcpStream> = (0..400).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    for c in &mut conns {
        std::io::Write::write_all(c, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    }
    let mut statuses = std::collections::BTreeMap::new();
    for c in &mut conns {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut raw = String::new();
        let _ = c.read_to_string(&mut raw);
        *statuses.entry(raw.get(9..12).unwrap_or("none").to_owned()).or_insert(0) += 1;
    }
    assert_eq!(statuses.values().sum::<usize>(), 400);
    assert!(statuses.get("200").is_some_and(|&n| n >= 300), "{statuses:?}");
    assert_eq!(
        statuses.get("200").copied().unwrap_or(0) + statuses.get("503").copied().unwrap_or(0),
        400,
        "{statuses:?}"
    );
}

#[test]
fn a_client_vanishing_mid_stream_does_not_disturb_others() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "2:0", "--workers", "1"]);
    let mut quitter = s.connect();
    quitter.send(
        "POST",
        "/v1/chat/completions",
        Some(&chat("m", "x", r#""max_tokens":500,"ignore_eos":true,"stream":true"#)),
        &[],
    );
    let mut buf = [0u8; 512];
    let _ = quitter.stream.read(&mut buf);
    drop(quitter);
    let r = s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":20,"ignore_eos":true,"stream":true"#));
    assert_eq!(r.content_events(), 20);
    thread::sleep(Duration::from_millis(100));
    let metrics = s.request("GET", "/metrics", None).text();
    assert!(metrics.contains("fakeai_streams_cancelled_total 1\n"), "{metrics}");
    assert!(metrics.contains("fakeai_streams_active{worker=\"0\"} 0\n"));
}
