//! fakeai-bench: an SSE load generator for OpenAI-compatible servers, thread-per-core like
//! fakeai. It timestamps every read, as AIPerf does, and reports TTFT, ITL, inter-chunk gaps,
//! end-to-end latency, events/s and errors as HDR percentiles; given the configured TTFT/ITL
//! it reports the timing error. Closed loop (fixed concurrency) or open loop (fixed rate).

mod engine;
mod sse;
mod stats;

use std::{
    fmt::Write as _,
    io::{IsTerminal, Write as _},
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use clap::{Parser, ValueEnum};
use fakeai::config::parse_duration;
use serde_json::json;
use stats::{Stats, summary};

/// Load generator for OpenAI-compatible streaming endpoints.
#[derive(Debug, Clone, Parser)]
#[command(name = "fakeai-bench", version)]
struct Args {
    /// Server base URL (http only).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// Endpoint to drive.
    #[arg(long, value_enum, default_value = "chat")]
    endpoint: Endpoint,
    /// Stream (SSE) or not.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    stream: bool,
    /// Model name to send.
    #[arg(long, default_value = "fakeai-bench")]
    model: String,
    /// Concurrent connections, each running requests back to back (closed loop; a 429 or 503
    /// with `retry-after` is retried after it).
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Requests per second (open loop); overrides the closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Arrival process of the open loop.
    #[arg(long, value_enum, default_value = "poisson")]
    arrival: Arrival,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Stop after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Requests started before this much time has passed are not measured.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    warmup: Duration,
    /// Words in the prompt (about one token each).
    #[arg(long, default_value_t = 128)]
    prompt_words: usize,
    /// max_tokens of each request.
    #[arg(long, default_value_t = 64)]
    max_tokens: u64,
    /// Send ignore_eos so every response is exactly max_tokens long.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    ignore_eos: bool,
    /// Client threads (each its own event loop and share of the connections).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Cores for the client threads, e.g. `1` or `2-3`.
    #[arg(long)]
    cpus: Option<String>,
    /// New connections per second while ramping up (the SYN backlog is finite).
    #[arg(long, default_value_t = 4000.0)]
    ramp: f64,
    /// Per-request timeout.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    timeout: Duration,
    /// Configured TTFT in ms, to report the timing error.
    #[arg(long)]
    expect_ttft: Option<f64>,
    /// Configured ITL in ms, to report the timing error.
    #[arg(long)]
    expect_itl: Option<f64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// When an event counts as received: `read`, when this client reads it (as AIPerf does), or
    /// `kernel`, when its bytes reached the client's socket (the kernel's receive timestamp): the
    /// server's timing without this client's own scheduling delay. A read that takes in several
    /// segments carries the last one's stamp, so a client that falls behind still dates an event
    /// late, if less so.
    #[arg(long, value_enum, default_value_t = Clock::Read)]
    clock: Clock,
    /// Sent as `Authorization: Bearer KEY` (for a server with authentication on).
    #[arg(long)]
    api_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Clock {
    Read,
    Kernel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Endpoint {
    Chat,
    Completions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Arrival {
    Poisson,
    Constant,
}

/// State every client thread shares.
struct Shared {
    args: Args,
    addr: SocketAddr,
    host: String,
    path: String,
    /// Requests not yet started; below zero means the budget is spent.
    budget: AtomicI64,
    done: AtomicU64,
    tokens: AtomicU64,
    stop: AtomicBool,
    start: std::time::Instant,
}

impl Shared {
    fn take(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && self.start.elapsed() < self.args.duration
            && self.budget.fetch_sub(1, Ordering::Relaxed) > 0
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = check_fd_limit(&args) {
        eprintln!("fakeai-bench: {e}");
        std::process::exit(2);
    }
    let (addr, host, path) = match parse_url(&args.url, args.endpoint) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fakeai-bench: {e}");
            std::process::exit(2);
        }
    };
    let cpus = args.cpus.as_deref().map(parse_cpu_list).transpose().unwrap_or_else(|e| {
        eprintln!("fakeai-bench: {e}");
        std::process::exit(2);
    });
    let shared = Arc::new(Shared {
        budget: AtomicI64::new(args.requests as i64),
        done: AtomicU64::new(0),
        tokens: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        start: std::time::Instant::now(),
        addr,
        host,
        path,
        args: args.clone(),
    });
    let progress = std::io::stderr().is_terminal().then(|| spawn_progress(shared.clone()));
    let cpu_of = |t: usize| cpus.as_ref().map(|c| c[t % c.len()]);
    let handles: Vec<_> = (1..args.threads)
        .map(|t| {
            let (shared, cpu) = (shared.clone(), cpu_of(t));
            std::thread::spawn(move || run_thread(&shared, t, cpu))
        })
        .collect();
    // Thread 0 is this one: a single-threaded client pays no shared-descriptor-table cost per syscall.
    let mut total = run_thread(&shared, 0, cpu_of(0));
    for h in handles {
        total.merge(&h.join().expect("client thread"));
    }
    let elapsed = shared.start.elapsed();
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.join();
        eprintln!();
    }
    report(&args, &total, elapsed);
}

fn run_thread(shared: &Shared, index: usize, cpu: Option<usize>) -> Stats {
    if let Some(cpu) = cpu {
        let _ = monoio::utils::bind_to_cpu_set([cpu]);
    }
    let body = request_bytes(&shared.args, &shared.host, &shared.path);
    engine::run(shared, index, &body).unwrap_or_else(|e| {
        eprintln!("fakeai-bench: client thread {index}: {e}");
        std::process::exit(1);
    })
}

fn request_bytes(args: &Args, host: &str, path: &str) -> Vec<u8> {
    let words = fakeai::tokens::vocab::SPACED;
    let prompt: String = (0..args.prompt_words).map(|i| words[(i * 7919) % words.len()]).collect();
    let mut body = match args.endpoint {
        Endpoint::Chat => json!({"model": args.model, "messages": [{"role": "user", "content": prompt.trim_start()}]}),
        Endpoint::Completions => json!({"model": args.model, "prompt": prompt.trim_start()}),
    };
    body["max_tokens"] = json!(args.max_tokens);
    body["stream"] = json!(args.stream);
    if args.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if args.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    let body = body.to_string();
    let accept = if args.stream { "text/event-stream" } else { "application/json" };
    let auth = args.api_key.as_ref().map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fakeai-bench\r\nAccept: {accept}\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn parse_url(url: &str, endpoint: Endpoint) -> Result<(SocketAddr, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    let (host, base) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))?;
    let base = base.trim_end_matches('/').trim_end_matches("v1").trim_end_matches('/');
    let prefix = if base.is_empty() { String::new() } else { format!("/{base}") };
    let path = match endpoint {
        Endpoint::Chat => "/v1/chat/completions",
        Endpoint::Completions => "/v1/completions",
    };
    Ok((addr, host.to_owned(), format!("{prefix}{path}")))
}

fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| format!("bad cpu list {s:?}"))?,
            b.trim().parse().map_err(|_| format!("bad cpu list {s:?}"))?,
        );
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// Refuses a run that needs more descriptors than `ulimit -n` allows.
fn check_fd_limit(args: &Args) -> Result<(), String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Ok(());
    }
    let want = args.concurrency as u64 + 64;
    if args.rate.is_none() && want > lim.rlim_cur {
        return Err(format!(
            "--concurrency {} needs about {want} file descriptors but `ulimit -n` is {}; lower the concurrency \
             or raise the limit",
            args.concurrency, lim.rlim_cur
        ));
    }
    Ok(())
}

fn spawn_progress(shared: Arc<Shared>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (mut last_done, mut last_tokens) = (0, 0);
        while !shared.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let (done, tokens) = (shared.done.load(Ordering::Relaxed), shared.tokens.load(Ordering::Relaxed));
            let pct = (done as f64 / shared.args.requests as f64 * 100.0)
                .max(shared.start.elapsed().as_secs_f64() / shared.args.duration.as_secs_f64() * 100.0)
                .min(100.0);
            eprint!(
                "\r[{:<30}] {pct:5.1}%  {done} requests  {} req/s  {} events/s   ",
                "#".repeat((pct / 100.0 * 30.0) as usize),
                done - last_done,
                tokens - last_tokens
            );
            (last_done, last_tokens) = (done, tokens);
        }
    })
}

fn report(args: &Args, s: &Stats, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    let v = json!({
        "config": {
            "url": args.url, "endpoint": format!("{:?}", args.endpoint).to_lowercase(), "stream": args.stream,
            "concurrency": args.concurrency, "rate": args.rate, "max_tokens": args.max_tokens,
            "threads": args.threads, "requests": args.requests, "clock": format!("{:?}", args.clock).to_lowercase(),
        },
        "duration_s": secs,
        "requests_ok": s.ok,
        "errors": s.errors,
        "requests_per_s": s.ok as f64 / secs,
        "events_per_s": s.tokens as f64 / secs,
        "ttft_ms": summary(&s.ttft, args.expect_ttft),
        "ttfb_ms": summary(&s.ttfb, None),
        "itl_ms": summary(&s.itl, args.expect_itl),
        "inter_chunk_ms": summary(&s.icl, None),
        "coalesced_share": if s.icl.is_empty() { 0.0 } else { s.coalesced as f64 / s.icl.len() as f64 },
        "e2e_ms": summary(&s.e2e, None),
    });
    if args.json {
        return print(format!("{}\n", serde_json::to_string_pretty(&v).expect("report serializes")));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "duration {secs:.2} s   ok {}   errors {}   {:.1} req/s   {:.0} events/s",
        s.ok,
        s.errors.values().sum::<u64>(),
        s.ok as f64 / secs,
        s.tokens as f64 / secs
    );
    for (kind, n) in &s.errors {
        let _ = writeln!(out, "  error {kind}: {n}");
    }
    let _ = writeln!(
        out,
        "{:<14} {:>9} {:>9} {:>9} {:>9} {:>9}   error vs configured (mean / p50 / p99)",
        "ms", "mean", "p50", "p90", "p99", "max"
    );
    for (name, key) in [
        ("TTFT", "ttft_ms"),
        ("first byte", "ttfb_ms"),
        ("ITL", "itl_ms"),
        ("inter-chunk", "inter_chunk_ms"),
        ("end-to-end", "e2e_ms"),
    ] {
        let r = &v[key];
        if r["count"] == 0 {
            continue;
        }
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        let err = r.get("error_vs_config").map_or(String::new(), |e| {
            format!(
                "{:+.3} ({:+.2} %) / {:+.3} / {:+.3}",
                e["mean"].as_f64().unwrap_or(0.0),
                e["mean_pct"].as_f64().unwrap_or(0.0),
                e["p50"].as_f64().unwrap_or(0.0),
                e["p99"].as_f64().unwrap_or(0.0)
            )
        });
        let _ = writeln!(
            out,
            "{name:<14} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}   {err}",
            f("mean"),
            f("p50"),
            f("p90"),
            f("p99"),
            f("max")
        );
    }
    let share = v["coalesced_share"].as_f64().unwrap_or(0.0) * 100.0;
    let _ = writeln!(
        out,
        "coalesced: {share:.2} % of events after a stream's first arrived in one read with the one before"
    );
    print(out);
}

/// Writes the report; a closed pipe (`| head`) is not an error worth a panic.
fn print(text: String) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}
