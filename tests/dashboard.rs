//! The `/dashboard` page: self-contained, and live in headless Chromium under traffic.

mod common;

use std::{process::Command, thread, time::Duration};

use common::{Server, chat};

#[test]
fn dashboard_is_one_self_contained_page() {
    let s = Server::start(&[]);
    let r = s.request("GET", "/dashboard", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    assert!(page.contains("/metrics/json"), "fed from the JSON view");
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http"] {
        assert!(!page.contains(external), "no external asset ({external}): nothing beyond loopback is reachable");
    }
}

/// The value of `attr="…"` at each occurrence in `dom`.
fn attr_values(dom: &str, attr: &str) -> Vec<u64> {
    dom.match_indices(&format!("{attr}=\""))
        .filter_map(|(at, m)| dom[at + m.len()..].split('"').next()?.parse().ok())
        .collect()
}

/// The number shown in the element with `id`.
fn shown(dom: &str, id: &str) -> u64 {
    let rest = &dom[dom.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("#{id} in {dom}"))..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find('<').unwrap()];
    text.replace(',', "").parse().unwrap_or_else(|_| panic!("#{id}: {text:?}"))
}

#[test]
fn dashboard_draws_and_updates_in_headless_chromium_under_traffic() {
    if common::tool_or_skip(Command::new("chromium").arg("--version").output().ok(), "chromium").is_none() {
        return;
    }
    let s = Server::start(&["--ttft", "5:0", "--itl", "2:0"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = thread::spawn({
        let (addr, stop) = (s.addr, stop.clone());
        move || {
            let mut c = common::Conn::new(std::net::TcpStream::connect(addr).unwrap());
            let body = chat("dash", "x", r#""max_tokens":10,"ignore_eos":true,"stream":true"#);
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.send("POST", "/v1/chat/completions", Some(&body), &[]);
                assert_eq!(c.response().status, 200);
                sent += 1;
            }
            sent
        }
    });
    thread::sleep(Duration::from_millis(300));
    let url = format!("http://{}/dashboard?interval=200", s.addr);
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900", "--virtual-time-budget=4000"])
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = traffic.join().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let updates = attr_values(&dom, "data-updates");
    assert!(updates.first().is_some_and(|&n| n >= 3), "the page polled and redrew several times: {updates:?}");
    assert_eq!(attr_values(&dom, "data-errors"), [0], "every poll succeeded");
    let ink = attr_values(&dom, "data-ink");
    assert_eq!(ink.len(), 6, "six charts: {dom}");
    assert!(ink.iter().all(|&px| px > 50), "every chart drew its line: {ink:?}");
    let requests = shown(&dom, "total-requests");
    // Every HTTP request counts: the streams, the page's own polls, its load, start-up health checks.
    let polls = updates[0];
    assert!(requests >= 5 && requests <= sent + polls + 20, "live totals ({requests}: {sent} streams, {polls} polls)");
    assert!(shown(&dom, "total-tokens") >= 10 * 5, "tokens flowed while the page watched");
    // Start-up polls of /health answer 503 (server_error) until ready; nothing else may fail.
    let metrics = s.request("GET", "/metrics", None).text();
    let failed = "fakeai_errors_total{type=\"invalid_request_error\"} 0";
    assert!(metrics.contains(failed), "no favicon or asset request failed");
    assert!(dom.contains("live · every 200 ms"), "status line");
}
