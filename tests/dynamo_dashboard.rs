//! The `/dashboard/dynamo` page: self-contained, and live in headless Chromium under traffic
//! (the engine's queue, its KV cache and hit rate, and the fake GPUs move).

mod common;

use std::{process::Command, thread};

use common::{Server, chat};

#[test]
fn engine_dashboard_is_one_self_contained_page() {
    let s = Server::start(common::FAST);
    let r = s.request("GET", "/dashboard/dynamo", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    for source in ["/vllm/metrics", "/kv-cache/metrics", "/dynamo/metrics/json", "/dcgm/metrics/json"] {
        assert!(page.contains(source), "fed from {source}");
    }
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http"] {
        assert!(!page.contains(external), "no external asset ({external})");
    }
}

/// The value of `attr="…"` on the element with `id`.
fn attr_of(dom: &str, id: &str, attr: &str) -> f64 {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("#{id} in {dom}"));
    let tag = &dom[dom[..at].rfind('<').unwrap()..at + dom[at..].find('>').unwrap()];
    let v =
        &tag[tag.find(&format!("{attr}=\"")).unwrap_or_else(|| panic!("{attr} on #{id}: {tag}")) + attr.len() + 2..];
    v[..v.find('"').unwrap()].parse().unwrap_or_else(|_| panic!("{attr} on #{id}: {tag}"))
}

/// The number shown in the element with `id`.
fn shown(dom: &str, id: &str) -> u64 {
    let rest = &dom[dom.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("#{id} in {dom}"))..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find('<').unwrap()];
    text.replace(',', "").parse().unwrap_or_else(|_| panic!("#{id}: {text:?}"))
}

#[test]
fn engine_dashboard_draws_and_updates_in_headless_chromium_under_traffic() {
    if common::tool_or_skip(Command::new("chromium").arg("--version").output().ok(), "chromium").is_none() {
        return;
    }
    let s = Server::start(&[
        "--ttft",
        "5:0",
        "--itl",
        "20:0",
        "--gpus",
        "2",
        "--dcgm-port",
        "off",
        "--num-gpu-blocks",
        "500",
    ]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let warm = std::sync::Arc::new(std::sync::Barrier::new(5));
    // Four clients streaming one long prompt: blocks stay held while they stream, and repeats hit.
    // Short requests keep admissions (and so prefix lookups) steady under every poll of the page,
    // and the page opens only once each client has finished one, so its repeats find the prompt
    // cached: however fast Chromium's virtual time runs, some poll window sees hits.
    let prompt = "Summarise the history of paged attention and prefix caching. ".repeat(12);
    let traffic: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop, warm, prompt) = (s.addr, stop.clone(), warm.clone(), prompt.clone());
            thread::spawn(move || {
                let mut c = common::Conn::new(std::net::TcpStream::connect(addr).unwrap());
                let body = chat("dash", &prompt, r#""max_tokens":10,"ignore_eos":true,"stream":true"#);
                let mut stream = || {
                    c.send("POST", "/v1/chat/completions", Some(&body), &[]);
                    c.response().status
                };
                let first = stream();
                warm.wait();
                assert_eq!(first, 200);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(stream(), 200);
                }
            })
        })
        .collect();
    warm.wait();
    let url = format!("http://{}/dashboard/dynamo?interval=200", s.addr);
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400", "--virtual-time-budget=4000"])
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic.into_iter().for_each(|t| t.join().unwrap());
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(dom.contains("live · every 200 ms"), "status line");
    let body = &dom[dom.find("<body").unwrap()..];
    let updates: f64 = body["<body data-updates=\"".len()..].split('"').next().unwrap().parse().unwrap();
    assert!(updates >= 3.0, "the page polled and redrew several times: {updates}");
    assert!(body.contains("data-errors=\"0\""), "every poll succeeded");
    for chart in ["queue", "preemptions", "kv-usage", "hit-rate", "step", "gpu-util", "gpu-power", "gpu-memory"] {
        assert!(attr_of(&dom, &format!("chart-{chart}"), "data-ink") > 50.0, "{chart} drew its line");
    }
    assert!(attr_of(&dom, "chart-queue", "data-max") >= 1.0, "requests ran while the page watched");
    assert!(attr_of(&dom, "chart-kv-usage", "data-max") > 0.0, "streams held KV blocks");
    assert!(attr_of(&dom, "chart-hit-rate", "data-max") > 50.0, "repeats of one prompt hit the prefix cache");
    assert!(attr_of(&dom, "chart-step", "data-max") >= 19.0, "ITL as configured (20 ms)");
    assert!(attr_of(&dom, "chart-gpu-power", "data-max") > 100.0, "two GPUs draw power");
    assert!(attr_of(&dom, "chart-gpu-memory", "data-max") > 1.0, "weights and KV in GPU memory");
    assert_eq!(shown(&dom, "gpus"), 2);
    assert_eq!(shown(&dom, "kv-total"), 500);
}
