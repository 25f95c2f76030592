//! The load generator (`fakeai-bench`) against the real server: counts and timing it reports.

mod common;

use std::process::Command;

use common::Server;

fn bench(addr: std::net::SocketAddr, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fakeai-bench"))
        .args(["--url", &format!("http://{addr}"), "--json"])
        .args(extra)
        .output()
        .expect("run fakeai-bench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[test]
fn closed_loop_streams_report_exact_counts_and_timing() {
    let s = Server::start(&["--ttft", "30:0", "--itl", "5:0"]);
    let r = bench(
        s.addr,
        &["--concurrency", "20", "--requests", "100", "--max-tokens", "20", "--expect-ttft", "30", "--expect-itl", "5"],
    );
    assert_eq!(r["requests_ok"], 100);
    assert_eq!(r["errors"], serde_json::json!({}), "no errors, and usage matched the events of every stream");
    assert_eq!(r["ttft_ms"]["count"], 100);
    let ttft = r["ttft_ms"]["p50"].as_f64().unwrap();
    let itl = r["itl_ms"]["mean"].as_f64().unwrap();
    assert!((29.0..45.0).contains(&ttft), "TTFT p50 {ttft}");
    assert!((4.8..5.5).contains(&itl), "ITL mean {itl}");
    assert!(r["itl_ms"]["error_vs_config"]["mean"].as_f64().unwrap().abs() < 0.5);
}

#[test]
fn kernel_clock_times_events_by_socket_arrival() {
    let s = Server::start(&["--ttft", "30:0", "--itl", "5:0"]);
    let args = ["--concurrency", "10", "--requests", "50", "--max-tokens", "20", "--clock", "kernel"];
    let r = bench(s.addr, &args);
    assert_eq!(r["config"]["clock"], "kernel");
    assert_eq!(r["requests_ok"], 50);
    assert_eq!(r["errors"], serde_json::json!({}));
    // Wall-clock stamps converted to the monotonic clock: never before the configured TTFT.
    let (min, p50) = (r["ttft_ms"]["min"].as_f64().unwrap(), r["ttft_ms"]["p50"].as_f64().unwrap());
    assert!(min >= 29.9 && p50 < 45.0, "TTFT min {min} p50 {p50} for 30 configured");
    let itl = r["itl_ms"]["mean"].as_f64().unwrap();
    assert!((4.8..5.5).contains(&itl), "ITL mean {itl}");
}

#[test]
fn open_loop_non_streaming_and_completions() {
    let s = Server::start(common::FAST);
    let r = bench(
        s.addr,
        &[
            "--rate",
            "400",
            "--arrival",
            "constant",
            "--requests",
            "100",
            "--stream",
            "false",
            "--endpoint",
            "completions",
            "--max-tokens",
            "8",
        ],
    );
    assert_eq!(r["requests_ok"], 100);
    let tokens = r["events_per_s"].as_f64().unwrap() * r["duration_s"].as_f64().unwrap();
    assert!((tokens - 800.0).abs() < 0.01, "8 tokens x 100 from usage, got {tokens}");
    assert!(r["duration_s"].as_f64().unwrap() >= 0.24, "paced at 400/s");
}

#[test]
fn refuses_more_connections_than_the_fd_limit() {
    let out = Command::new(env!("CARGO_BIN_EXE_fakeai-bench")).args(["--concurrency", "100000000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ulimit -n"));
}

#[test]
fn failures_are_counted_by_kind_and_the_run_still_ends() {
    // A port held by a socket that never listens: connections to it are refused.
    let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    held.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let closed = held.local_addr().unwrap().as_socket().unwrap();
    let r = bench(closed, &["--concurrency", "2", "--requests", "5"]);
    assert_eq!(r["requests_ok"], 0);
    assert_eq!(r["errors"], serde_json::json!({"connect: connection refused": 5}));

    let s = Server::start(&["--ttft", "5000:0", "--itl", "1:0"]);
    let r = bench(s.addr, &["--concurrency", "3", "--requests", "6", "--timeout", "200ms"]);
    assert_eq!(r["errors"], serde_json::json!({"timeout": 6}));
    let secs = r["duration_s"].as_f64().unwrap();
    assert!((0.4..2.0).contains(&secs), "two rounds of 200 ms timeouts took {secs} s");
}

#[test]
fn a_stream_the_server_closes_midway_counts_as_closed_early_never_as_a_timeout() {
    // The FIN often arrives with the last bytes in one edge-triggered report; a read that stopped
    // at the short read never saw the EOF and the request hung until its timeout.
    let s = Server::start(&["--ttft", "10:0", "--itl", "5:0", "--fault-rate", "close=1.0"]);
    for concurrency in ["1", "20"] {
        let args = ["--concurrency", concurrency, "--requests", "60", "--max-tokens", "20", "--timeout", "5s"];
        let r = bench(s.addr, &args);
        assert_eq!(r["errors"], serde_json::json!({"closed early": 60}), "concurrency {concurrency}");
    }
}

#[test]
fn the_closed_loop_waits_out_a_retry_after() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--fault-rate", "503=1.0"]);
    let t = std::time::Instant::now();
    let r = bench(s.addr, &["--concurrency", "1", "--requests", "3", "--max-tokens", "5"]);
    assert_eq!(r["errors"], serde_json::json!({"http 503": 3}));
    assert!(t.elapsed() >= std::time::Duration::from_secs(2), "two waits of the 503's retry-after (1 s)");
}
