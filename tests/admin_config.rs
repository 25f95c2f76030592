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
    let off = serde_json::json!({"rpm": null, "tpm": null, "rpd": null, "tpd": null});
    assert_eq!(
        r.json(),
        serde_json::json!({"ttft": "0:0", "itl": "0:0", "output_len": "100:50", "fault_rates": [], "rate_limits": off, "scenario": null})
    );
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

#[test]
fn rate_limits_change_live() {
    let s = Server::start(&["--api-key", "sk-user", "--admin-key", "sk-admin", "--ttft", "0:0", "--itl", "0:0"]);
    let models = || call(&s, "GET", "/v1/models", None, USER);
    let r = models();
    assert_eq!((r.status, r.header("x-ratelimit-limit-requests")), (200, None), "no limits to begin with");

    // Turned on: 600 a minute, one every 100 ms.
    let r = patch(&s, r#"{"rate_limits": {"rpm": 600}}"#);
    assert_eq!(r.json()["rate_limits"], serde_json::json!({"rpm": 600, "tpm": null, "rpd": null, "tpd": null}));
    for _ in 0..3 {
        let r = models();
        assert_eq!((r.status, r.header("x-ratelimit-limit-requests")), (200, Some("600")));
    }

    // Lowered to 60 a minute: the 3 taken stay taken, 57 are left, then a 429 whose
    // retry-after a client can trust (one request refills in 1 s).
    let r = patch(&s, r#"{"rate_limits": {"rpm": 60}}"#);
    assert_eq!(r.json()["rate_limits"]["rpm"], 60);
    let r = models();
    assert_eq!(
        (r.header("x-ratelimit-limit-requests"), r.header("x-ratelimit-remaining-requests")),
        (Some("60"), Some("56"))
    );
    let admitted = 1 + std::iter::from_fn(|| Some(models())).take_while(|r| r.status == 200).count();
    assert!((57..=58).contains(&admitted), "57 left (plus one refilled, if a second passed): {admitted}");
    let r = models();
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (429, Some("rate_limit_exceeded")));
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("60"));
    assert_eq!(r.header("retry-after"), Some("1"), "whole seconds, rounded up");
    let wait: u64 = r.header("retry-after-ms").unwrap().parse().unwrap();
    assert!((1..=1000).contains(&wait), "one request refills in a second: {wait}");
    std::thread::sleep(Duration::from_millis(wait));
    assert_eq!(models().status, 200, "a retry after retry-after-ms succeeds");
    assert_eq!(models().status, 429, "and the window is full again");

    let tier = || call(&s, "GET", "/metrics/rate-limits/tier", None, USER).json();
    assert_eq!((tier()["tier"].as_str(), tier()["rpm"].as_u64()), (Some("custom"), Some(60)), "the live limits");
    assert_eq!(patch(&s, r#"{"rate_limits": {"tier": "tier-3"}}"#).status, 200);
    assert_eq!((tier()["tier"].as_str(), tier()["tpm"].as_u64()), (Some("tier-3"), Some(30_000_000)));

    // Raised: the requests taken are a few of 100,000, so traffic flows at once.
    let r = patch(&s, r#"{"rate_limits": {"tier": "tier-2", "rpm": 100000}}"#);
    assert_eq!(r.json()["rate_limits"]["tpm"], 10_000_000, "the tier's TPM");
    for _ in 0..20 {
        let r = models();
        assert_eq!((r.status, r.header("x-ratelimit-limit-requests")), (200, Some("100000")));
    }
    let r = call(&s, "POST", CHAT, Some(&chat("gpt-4o", "hi", "")), USER);
    assert_eq!((r.status, r.header("x-ratelimit-limit-tokens")), (200, Some("10000000")));

    // Bad limits change nothing; off turns them off.
    for bad in [r#"{"rpm": -1}"#, r#"{"rpm": 0}"#, r#"{"tier": "tier-9"}"#, r#"{"qps": 3}"#, "7"] {
        let r = patch(&s, &format!(r#"{{"rate_limits": {bad}, "itl": "5:0"}}"#));
        assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("rate_limits")), "{bad}");
    }
    let r = call(&s, "GET", "/admin/config", None, ADMIN).json();
    assert_eq!((r["rate_limits"]["rpm"].as_u64(), r["itl"].as_str()), (Some(100_000), Some("0:0")));
    assert_eq!(patch(&s, r#"{"rate_limits": null}"#).json()["rate_limits"]["rpm"], serde_json::Value::Null);
    assert_eq!(models().header("x-ratelimit-limit-requests"), None);
    assert_eq!(tier()["tier"], serde_json::Value::Null, "no limits, no tier");
}

/// The phase `/admin/config` shows, and its loop.
fn phase(s: &Server) -> (Option<String>, u64) {
    let v = call(s, "GET", "/admin/config", None, ADMIN).json();
    (v["scenario"]["phase"].as_str().map(str::to_owned), v["scenario"]["round"].as_u64().unwrap())
}

/// Polls until `name` is the phase of loop `round`; when it was first seen.
fn wait_for(s: &Server, name: &str, round: u64) -> Instant {
    let t = Instant::now();
    while phase(s) != (Some(name.to_owned()), round) {
        assert!(t.elapsed() < Duration::from_secs(5), "phase {name} of loop {round} never came: {:?}", phase(s));
        std::thread::sleep(Duration::from_millis(5));
    }
    Instant::now()
}

#[test]
fn a_scenario_changes_settings_at_its_offsets_and_loops() {
    let script = common::temp_file(
        "scenario.toml",
        br#"loop_every = "1800ms"
[[phase]]
name = "calm"
at = "0s"
set = { ttft = "0:0", fault_rates = [] }
[[phase]]
name = "errors"
at = "600ms"
set = { fault_rates = ["503=1@/v1/chat/completions"] }
[[phase]]
name = "slow"
at = "1.2s"
set = { fault_rates = [], ttft = "300:0" }
"#,
    );
    let s = Server::start(&["--admin-key", "sk-admin", "--itl", "0:0", "--scenario", script.to_str().unwrap()]);
    let chat_call = || {
        let t = Instant::now();
        let r = s.post(CHAT, &chat("gpt-4o", "hi", r#""max_tokens":2"#));
        (r.status, t.elapsed())
    };
    wait_for(&s, "calm", 0);
    let (status, took) = chat_call();
    assert!(status == 200 && took < Duration::from_millis(250), "calm: {status} in {took:?}");

    let errors = wait_for(&s, "errors", 0);
    assert_eq!(chat_call().0, 503, "errors: every chat fails");
    assert_eq!(s.request("GET", "/v1/models", None).status, 200, "the scoped rule only");
    let metrics = s.request("GET", "/metrics", None).text();
    assert!(metrics.contains("fakeai_scenario_phase{name=\"errors\",index=\"1\"} 1"), "{metrics}");
    assert!(metrics.contains("fakeai_scenario_phase{name=\"calm\",index=\"0\"} 0"));

    let slow = wait_for(&s, "slow", 0);
    let (status, took) = chat_call();
    assert!(status == 200 && took >= Duration::from_millis(300), "slow: {status} in {took:?}");
    let gap = slow - errors;
    assert!(gap >= Duration::from_millis(500) && gap <= Duration::from_millis(800), "600 ms apart: {gap:?}");

    let again = wait_for(&s, "calm", 1);
    let gap = again - slow;
    assert!(gap >= Duration::from_millis(500) && gap <= Duration::from_millis(800), "looped 600 ms later: {gap:?}");
    let (status, took) = chat_call();
    assert!(status == 200 && took < Duration::from_millis(250), "calm again: {status} in {took:?}");
    assert!(s.request("GET", "/metrics", None).text().contains("fakeai_scenario_round 1"));
}

#[test]
fn a_bad_scenario_stops_the_server_from_starting() {
    let script = common::temp_file("bad-scenario.toml", b"[[phase]]\nname = \"x\"\nat = 0\nset = { itl = \"fast\" }\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fakeai"))
        .args(["server", "--host", "127.0.0.1", "--port", "0", "--scenario", script.to_str().unwrap()])
        .env("FAKEAI_DCGM_PORT", "off")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("scenario phase \"x\"") && stderr.contains("itl"), "{stderr}");
}
