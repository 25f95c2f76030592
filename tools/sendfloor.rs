//! sendfloor: the least a server can do to stream paced SSE chat completions, for measuring
//! how close fakeai comes to the kernel's own cost of the sends (issue: per-event timing).
//!
//! One thread, edge-free level-triggered epoll, one plain `send` per event at its deadline
//! (request arrival + TTFT + i × ITL), chunks pre-encoded at the size of fakeai's, and nothing
//! else: no routing, no JSON parsing beyond `max_tokens`, no metrics, no timer batching. It speaks
//! just enough HTTP/1.1 for `fakeai-bench` (keep-alive, Content-Length request bodies).
//! It prints its CPU time per event sent and the lateness of its sends (actual minus scheduled
//! time, as fakeai's `fakeai_emit_lateness_seconds`) when it gets SIGINT or SIGTERM.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    io::{ErrorKind, Read, Write},
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use clap::Parser;

/// Paced SSE sender with nothing but the sends.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 18600)]
    port: u16,
    /// Time to the first token, ms.
    #[arg(long, default_value_t = 50.0)]
    ttft: f64,
    /// Gap between tokens, ms.
    #[arg(long, default_value_t = 10.0)]
    itl: f64,
    /// Lateness and CPU are reported for events after this many seconds (the ramp-up excluded).
    #[arg(long, default_value_t = 0.0)]
    measure_after: f64,
    /// Instead of serving: sleep 1 ms at a time for this many seconds, the same way the sender
    /// waits, and report how late the wake-ups were (the machine's own scheduling jitter).
    #[arg(long)]
    idle_jitter: Option<f64>,
}

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
const PREFIX: &str = r#"data: {"id":"chatcmpl-5f0c1e2a9b8d4c7e6f5a4b3c","object":"chat.completion.chunk","created":1765000000,"model":"fakeai-bench","system_fingerprint":"fp_fakeai","choices":[{"index":0,"delta":{"#;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// One HTTP chunk holding `events`.
fn chunk(events: &str) -> Vec<u8> {
    format!("{:x}\r\n{events}\r\n", events.len()).into_bytes()
}

fn event(delta: &str, finish: &str) -> String {
    format!("{PREFIX}{delta}}},\"logprobs\":null,\"finish_reason\":{finish}}}]}}\n\n")
}

/// A connection and the response it is streaming, if any.
struct Conn {
    sock: TcpStream,
    rbuf: Vec<u8>,
    /// (arrival, tokens sent, tokens to send)
    stream: Option<(Instant, u32, u32)>,
}

fn main() {
    let args = Args::parse();
    if let Some(secs) = args.idle_jitter {
        return idle_jitter(Duration::from_secs_f64(secs));
    }
    let (ttft, itl) = (Duration::from_secs_f64(args.ttft / 1e3), Duration::from_secs_f64(args.itl / 1e3));
    let open = [HEAD, &chunk(&event(r#""role":"assistant","content":"""#, "null"))].concat();
    let token = chunk(&event(r#""content":" word""#, "null"));
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    let listener = TcpListener::bind(("127.0.0.1", args.port)).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    // As fakeai does by default: no BBR pacing timer per send (accepted sockets inherit it).
    let cubic = b"cubic";
    // SAFETY: the name outlives the call and its length is passed.
    unsafe {
        libc::setsockopt(listener.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_CONGESTION, cubic.as_ptr().cast(), 5)
    };
    // SAFETY: plain syscalls on fds we own.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    watch(ep, listener.as_raw_fd(), u64::MAX);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let measure_from = Instant::now() + Duration::from_secs_f64(args.measure_after);
    let (mut sent, mut cpu0, mut late_us) = (0u64, None, Vec::new());
    while !STOP.load(Ordering::Relaxed) {
        let now = Instant::now();
        let measuring = now >= measure_from;
        if measuring && cpu0.is_none() {
            cpu0 = Some(cpu_time());
        }
        while let Some(&Reverse((at, id))) = due.peek() {
            if at > now {
                break;
            }
            due.pop();
            let Some(conn) = conns[id].as_mut() else { continue };
            let Some((arrival, done, total)) = conn.stream.as_mut() else { continue };
            *done += 1;
            if measuring {
                sent += 1;
                late_us.push(Instant::now().duration_since(at).as_micros() as u32);
            }
            let mut out = token.clone();
            if *done == *total {
                let usage = format!(
                    "data: {{\"id\":\"chatcmpl-5f0c1e2a9b8d4c7e6f5a4b3c\",\"object\":\"chat.completion.chunk\",\"created\":1765000000,\"model\":\"fakeai-bench\",\"choices\":[],\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":{total},\"total_tokens\":{}}}}}\n\ndata: [DONE]\n\n",
                    *total + 1
                );
                out.extend(chunk(&(event("", "\"length\"") + &usage)));
                out.extend(b"0\r\n\r\n");
                conn.stream = None;
            } else {
                due.push(Reverse((*arrival + ttft + itl * *done, id)));
            }
            if conn.sock.write_all(&out).is_err() {
                conns[id] = None;
            }
        }
        let wait = due.peek().map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()));
        for ev in poll(ep, &mut events, wait) {
            if ev == u64::MAX {
                accept_all(&listener, ep, &mut conns);
            } else if let Some(total) = read_request(&mut conns, ev as usize) {
                let conn = conns[ev as usize].as_mut().expect("read");
                let arrival = Instant::now();
                conn.stream = Some((arrival, 0, total));
                if conn.sock.write_all(&open).is_err() {
                    conns[ev as usize] = None;
                } else {
                    due.push(Reverse((arrival + ttft, ev as usize)));
                }
            }
        }
    }
    let cpu = cpu_time() - cpu0.unwrap_or_else(cpu_time);
    late_us.sort_unstable();
    let q = |p: f64| late_us.get((late_us.len() as f64 * p) as usize).map_or(0.0, |&us| us as f64 / 1e3);
    println!(
        "events {sent} cpu_ns_per_event {:.0} lateness_ms p50/p90/p99 {:.2}/{:.2}/{:.2} >2ms {:.2}%",
        cpu.as_nanos() as f64 / sent.max(1) as f64,
        q(0.5),
        q(0.9),
        q(0.99),
        late_us.iter().filter(|&&us| us > 2000).count() as f64 * 100.0 / late_us.len().max(1) as f64
    );
}

/// Sleeps 1 ms at a time through epoll_pwait2 and prints the wake-ups' lateness quantiles.
fn idle_jitter(span: Duration) {
    // SAFETY: plain syscall.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1];
    let (start, mut late_us) = (Instant::now(), Vec::new());
    while start.elapsed() < span {
        let at = Instant::now() + Duration::from_millis(1);
        poll(ep, &mut events, Some(at - Instant::now()));
        late_us.push(Instant::now().saturating_duration_since(at).as_micros() as u32);
    }
    late_us.sort_unstable();
    let q = |p: f64| late_us[((late_us.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    let over = late_us.iter().filter(|&&us| us > 2000).count() as f64 * 100.0 / late_us.len() as f64;
    println!(
        "wake-ups {} late_ms p50/p90/p99/max {:.3}/{:.3}/{:.3}/{:.3} >2ms {over:.2}%",
        late_us.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}

fn watch(ep: libc::c_int, fd: libc::c_int, tag: u64) {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: tag };
    // SAFETY: `ev` outlives the call.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
}

/// Waits up to `wait` (forever if `None`) with nanosecond precision; the tags of ready fds.
fn poll(ep: libc::c_int, events: &mut [libc::epoll_event], wait: Option<Duration>) -> Vec<u64> {
    let spec = wait.map(|w| libc::timespec { tv_sec: w.as_secs() as _, tv_nsec: w.subsec_nanos() as _ });
    let spec_ptr = spec.as_ref().map_or(std::ptr::null(), |s| s as *const libc::timespec);
    // SAFETY: epoll_pwait2(2) with buffers that outlive the call; 441 is its number on x86_64.
    let n = unsafe {
        libc::syscall(441, ep, events.as_mut_ptr(), events.len() as libc::c_int, spec_ptr, std::ptr::null::<u8>(), 0)
    };
    events[..n.max(0) as usize].iter().map(|e| e.u64).collect()
}

fn accept_all(listener: &TcpListener, ep: libc::c_int, conns: &mut Vec<Option<Conn>>) {
    while let Ok((sock, _)) = listener.accept() {
        let _ = sock.set_nodelay(true);
        let _ = sock.set_nonblocking(true);
        let id = conns.iter().position(Option::is_none).unwrap_or_else(|| {
            conns.push(None);
            conns.len() - 1
        });
        watch(ep, sock.as_raw_fd(), id as u64);
        conns[id] = Some(Conn { sock, rbuf: Vec::new(), stream: None });
    }
}

/// Reads what `id` sent; the request's `max_tokens` once a whole request is in.
fn read_request(conns: &mut [Option<Conn>], id: usize) -> Option<u32> {
    let conn = conns[id].as_mut()?;
    let mut buf = [0u8; 4096];
    loop {
        match conn.sock.read(&mut buf) {
            Ok(0) => {
                conns[id] = None;
                return None;
            }
            Ok(n) => conn.rbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => {
                conns[id] = None;
                return None;
            }
        }
    }
    let text = std::str::from_utf8(&conn.rbuf).ok()?;
    let head_end = text.find("\r\n\r\n")? + 4;
    let length: usize = text[..head_end]
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().ok()))??;
    if text.len() < head_end + length {
        return None;
    }
    let body = &text[head_end..head_end + length];
    let tokens = body.split("\"max_tokens\":").nth(1)?.trim_start().split(|c: char| !c.is_ascii_digit()).next()?;
    let tokens = tokens.parse().ok()?;
    conn.rbuf.drain(..head_end + length);
    Some(tokens)
}

fn cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into `t`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
