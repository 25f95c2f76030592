//! The client's event loop: one per thread, edge-triggered epoll over non-blocking sockets.
//!
//! Not monoio, unlike the server. A runtime's readiness cache spends a second read, which fails,
//! after every event, and a task wake-up on every read; at 100,000 events/s on one core that was
//! about a third of this client's time, and its queue is what the client adds to every figure.
//! A loop of its own also chooses what to read first: sockets still waiting for their response's
//! first token are read before the backlog of later events, so a client that falls behind delays
//! later events (per-request ITL averages that out) rather than first tokens (TTFT has one
//! sample per request).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, VecDeque},
    io::{self, ErrorKind},
    mem::MaybeUninit,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use fakeai::{rng::Rng, sockopt::check};
use socket2::{Domain, Socket, Type};

use crate::{Arrival, Clock, Shared, sse::ResponseReader, stats::Stats};

/// Readiness reports taken from the kernel per look.
const MAX_EVENTS: usize = 1024;
/// Backlogged reads between two looks at the kernel for sockets awaiting a first token.
const BACKLOG_BATCH: usize = 64;
/// Wait before reconnecting after a failed connect.
const RETRY: Duration = Duration::from_millis(50);
/// How often in-flight requests are checked against `--timeout`, at most.
const SWEEP: Duration = Duration::from_millis(100);
/// Read buffer growth step; a read always has at least half of it free.
const READ_CHUNK: usize = 16 * 1024;

/// Runs this thread's share of the load to the end and returns what it measured.
pub fn run(shared: &Shared, index: usize, body: &[u8]) -> io::Result<Stats> {
    let mut client = Client::new(shared, body)?;
    let now = Instant::now();
    match shared.args.rate {
        None => {
            let threads = shared.args.threads;
            for conn in (index..shared.args.concurrency).step_by(threads) {
                let slot = client.new_slot();
                client.schedule_open(slot, now + Duration::from_secs_f64(conn as f64 / shared.args.ramp));
            }
        }
        Some(_) => {
            client.arrivals = Some(Rng::new(index as u64 + 1));
            client.timers.push(Reverse((now, Timer::Arrival)));
        }
    }
    client.timers.push(Reverse((now + client.sweep_every(), Timer::Sweep)));
    while client.busy() {
        client.turn()?;
    }
    Ok(client.stats)
}

/// Timed work of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// A closed-loop slot takes its next request (on a new connection).
    Open(usize),
    /// The open loop's next arrival.
    Arrival,
    /// Check in-flight requests against the timeout.
    Sweep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No socket: waiting for an `Open` timer, or finished.
    Closed,
    Connecting,
    /// Sending the request; this many bytes are out.
    Writing(usize),
    Reading,
    /// Open loop only: a keep-alive connection waiting for the next arrival.
    Idle,
}

/// One connection slot.
struct Conn {
    sock: Option<Socket>,
    phase: Phase,
    rbuf: Vec<u8>,
    exchange: Option<Exchange>,
    /// When the current connect or request began, for the timeout.
    since: Instant,
    /// Already in the backlog of sockets to read.
    queued: bool,
    /// The server's FIN was reported (EPOLLRDHUP): read until EOF, not only until a short read,
    /// or an edge-triggered poller never reports the EOF behind the last bytes.
    peer_closed: bool,
}

impl Conn {
    /// Whether its readiness should be handled before backlogged later events.
    fn urgent(&self) -> bool {
        self.phase != Phase::Reading || self.exchange.as_ref().is_some_and(|e| e.first.is_none())
    }

    fn close(&mut self) {
        self.peer_closed = false;
        self.sock = None;
        self.phase = Phase::Closed;
        self.exchange = None;
        self.rbuf.clear();
    }
}

/// One request and its response, as received so far.
struct Exchange {
    started: Instant,
    measured: bool,
    reader: ResponseReader,
    first_byte: Option<Instant>,
    first: Option<Instant>,
    last: Instant,
}

impl Exchange {
    /// Takes in what one read brought at `now`; true once the response is complete.
    fn feed(&mut self, rbuf: &mut Vec<u8>, now: Instant, stats: &mut Stats) -> Result<bool, String> {
        self.first_byte.get_or_insert(now);
        let progress = self.reader.feed(rbuf)?;
        for _ in 0..progress.tokens {
            if self.measured {
                match self.first {
                    None => Stats::record(&mut stats.ttft, (now - self.started).as_nanos() as u64),
                    Some(_) => {
                        Stats::record(&mut stats.icl, (now - self.last).as_nanos() as u64);
                        stats.coalesced += u64::from(now == self.last);
                    }
                }
            }
            self.first.get_or_insert(now);
            self.last = now;
        }
        Ok(progress.done)
    }

    /// Records a complete response.
    fn finish(self, shared: &Shared, stats: &mut Stats) {
        let reader = self.reader;
        shared.done.fetch_add(1, Ordering::Relaxed);
        shared.tokens.fetch_add(reader.tokens, Ordering::Relaxed);
        if reader.status != 200 {
            return stats.error(format!("http {}", reader.status));
        }
        let streaming = shared.args.stream;
        if let Some(usage) = reader.usage_completion.filter(|&u| streaming && u != reader.tokens) {
            stats.error(format!("usage {usage} != {} content events", reader.tokens));
        }
        if !self.measured {
            return;
        }
        let end = Instant::now();
        let ns = |d: Duration| d.as_nanos() as u64;
        if !streaming {
            Stats::record(&mut stats.ttft, ns(end - self.started));
        }
        if let Some(at) = self.first_byte {
            Stats::record(&mut stats.ttfb, ns(at - self.started));
        }
        if let (Some(first), true) = (self.first, reader.tokens > 1) {
            Stats::record(&mut stats.itl, ns(self.last - first) / (reader.tokens - 1));
        }
        Stats::record(&mut stats.e2e, ns(end - self.started));
        stats.ok += 1;
        stats.tokens += if streaming { reader.tokens } else { reader.usage_completion.unwrap_or(0) };
    }
}

/// One thread's connections, timers and measurements.
struct Client<'a> {
    shared: &'a Shared,
    body: &'a [u8],
    poller: Poller,
    conns: Vec<Conn>,
    /// Open loop: keep-alive connections waiting for an arrival, and slots free for reuse.
    idle: Vec<usize>,
    free: Vec<usize>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Sockets reported ready whose reads wait behind the urgent ones.
    backlog: VecDeque<usize>,
    /// Slots with a connect or request in flight.
    live: usize,
    /// Closed-loop slots waiting for their `Open` timer.
    opens: usize,
    /// The open loop's random source, while arrivals go on.
    arrivals: Option<Rng>,
    stats: Stats,
}

impl<'a> Client<'a> {
    fn new(shared: &'a Shared, body: &'a [u8]) -> io::Result<Self> {
        Ok(Client {
            shared,
            body,
            poller: Poller::new()?,
            conns: Vec::new(),
            idle: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            backlog: VecDeque::new(),
            live: 0,
            opens: 0,
            arrivals: None,
            stats: Stats::default(),
        })
    }

    fn new_slot(&mut self) -> usize {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        self.conns.push(Conn {
            sock: None,
            phase: Phase::Closed,
            rbuf: Vec::with_capacity(READ_CHUNK),
            exchange: None,
            since: Instant::now(),
            queued: false,
            peer_closed: false,
        });
        self.conns.len() - 1
    }

    /// Sweep period: a request times out at most a quarter of its timeout late.
    fn sweep_every(&self) -> Duration {
        SWEEP.min(self.shared.args.timeout / 4)
    }

    /// Whether anything is in flight or will start.
    fn busy(&self) -> bool {
        self.live > 0 || self.opens > 0 || self.arrivals.is_some()
    }

    fn schedule_open(&mut self, slot: usize, at: Instant) {
        self.opens += 1;
        self.timers.push(Reverse((at, Timer::Open(slot))));
    }

    /// One look at the kernel, the urgent sockets it reported, a batch of the backlog, due timers.
    fn turn(&mut self) -> io::Result<()> {
        let wait = if self.backlog.is_empty() {
            self.timers.peek().map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        let ready = self.poller.wait(wait)?;
        for i in 0..ready {
            let (slot, mask) = self.poller.event(i);
            if mask & (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32 != 0 {
                self.conns[slot].peer_closed = true;
            }
            if self.conns[slot].urgent() {
                self.on_ready(slot, mask);
            } else if !self.conns[slot].queued {
                self.conns[slot].queued = true;
                self.backlog.push_back(slot);
            }
        }
        for _ in 0..BACKLOG_BATCH {
            let Some(slot) = self.backlog.pop_front() else { break };
            self.conns[slot].queued = false;
            self.on_ready(slot, libc::EPOLLIN as u32);
        }
        self.run_timers();
        Ok(())
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Open(slot) => {
                    self.opens -= 1;
                    self.open(slot);
                }
                Timer::Arrival => self.arrive(at),
                Timer::Sweep => self.sweep(now),
            }
        }
    }

    /// A closed-loop slot: its next request on a new connection, if the budget allows.
    fn open(&mut self, slot: usize) {
        if self.shared.take() {
            self.connect(slot);
        }
    }

    /// An open-loop arrival: one request on an idle or new connection; schedules the next.
    fn arrive(&mut self, at: Instant) {
        if !self.shared.take() {
            self.arrivals = None;
            return;
        }
        let rate = self.shared.args.rate.unwrap_or(1.0) / self.shared.args.threads as f64;
        if let Some(rng) = &mut self.arrivals {
            let gap = match self.shared.args.arrival {
                Arrival::Constant => 1.0 / rate,
                Arrival::Poisson => -(1.0 - rng.unit()).ln() / rate,
            };
            self.timers.push(Reverse((at + Duration::from_secs_f64(gap), Timer::Arrival)));
        }
        match self.idle.pop() {
            Some(slot) => {
                self.live += 1;
                self.begin(slot);
            }
            None => {
                let slot = self.new_slot();
                self.connect(slot);
            }
        }
    }

    /// Times out requests and connects older than `--timeout`; keeps sweeping while needed.
    fn sweep(&mut self, now: Instant) {
        let limit = self.shared.args.timeout;
        for slot in 0..self.conns.len() {
            let c = &self.conns[slot];
            let busy = matches!(c.phase, Phase::Connecting | Phase::Writing(_) | Phase::Reading);
            if busy && now - c.since >= limit {
                self.fail(slot, "timeout".to_owned());
            }
        }
        if self.busy() {
            self.timers.push(Reverse((now + self.sweep_every(), Timer::Sweep)));
        }
    }

    fn connect(&mut self, slot: usize) {
        let watched = new_socket(self.shared).and_then(|sock| self.poller.add(sock.as_raw_fd(), slot).map(|()| sock));
        match watched {
            Ok(sock) => {
                let c = &mut self.conns[slot];
                c.sock = Some(sock);
                c.phase = Phase::Connecting;
                c.since = Instant::now();
                self.live += 1;
            }
            Err(e) => self.connect_failed(slot, e),
        }
    }

    fn connect_failed(&mut self, slot: usize, e: io::Error) {
        self.stats.error(format!("connect: {}", e.kind()));
        self.retire(slot, RETRY);
    }

    /// Sends a request on a connected slot.
    fn begin(&mut self, slot: usize) {
        let measured = self.shared.start.elapsed() >= self.shared.args.warmup;
        let now = Instant::now();
        let c = &mut self.conns[slot];
        c.since = now;
        c.exchange = Some(Exchange {
            started: now,
            measured,
            reader: ResponseReader::new(self.shared.args.stream),
            first_byte: None,
            first: None,
            last: now,
        });
        c.phase = Phase::Writing(0);
        self.write(slot);
    }

    fn write(&mut self, slot: usize) {
        let Phase::Writing(mut sent) = self.conns[slot].phase else { return };
        let sock = self.conns[slot].sock.as_ref().expect("a writing slot has a socket");
        while sent < self.body.len() {
            match sock.send(&self.body[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.fail(slot, format!("write: {}", e.kind())),
            }
        }
        self.conns[slot].phase = if sent == self.body.len() { Phase::Reading } else { Phase::Writing(sent) };
    }

    /// Handles one readiness report of `slot`.
    fn on_ready(&mut self, slot: usize, mask: u32) {
        match self.conns[slot].phase {
            Phase::Connecting => {
                let sock = self.conns[slot].sock.as_ref().expect("a connecting slot has a socket");
                let error = match sock.take_error() {
                    Ok(error) => error,
                    Err(e) => Some(e),
                };
                match error {
                    None if mask & libc::EPOLLOUT as u32 != 0 => self.begin(slot),
                    None if mask & (libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 => {}
                    error => {
                        self.live -= 1;
                        self.connect_failed(slot, error.unwrap_or_else(|| ErrorKind::ConnectionRefused.into()));
                    }
                }
            }
            Phase::Writing(_) if mask & libc::EPOLLOUT as u32 != 0 => self.write(slot),
            Phase::Reading => self.read(slot),
            _ => {}
        }
    }

    /// Reads until the socket is drained or the response is complete.
    fn read(&mut self, slot: usize) {
        let clock = self.shared.args.clock;
        loop {
            let c = &mut self.conns[slot];
            if c.rbuf.capacity() - c.rbuf.len() < READ_CHUNK / 2 {
                c.rbuf.reserve(READ_CHUNK);
            }
            let room = c.rbuf.capacity() - c.rbuf.len();
            let sock = c.sock.as_ref().expect("a reading slot has a socket");
            let (n, now) = match recv(sock, &mut c.rbuf, clock) {
                Ok(read) => read,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(slot, format!("read: {}", e.kind())),
            };
            let exchange = c.exchange.as_mut().expect("a reading slot has a request");
            if n == 0 {
                return match exchange.reader.finish_at_eof() {
                    true => self.complete(slot, false),
                    false => self.fail(slot, "closed early".to_owned()),
                };
            }
            match exchange.feed(&mut c.rbuf, now, &mut self.stats) {
                Ok(true) => {
                    let reusable = !exchange.reader.close;
                    return self.complete(slot, reusable);
                }
                Ok(false) if n < room && !c.peer_closed => return,
                Ok(false) => {}
                Err(e) => return self.fail(slot, e),
            }
        }
    }

    /// A response is complete: record it and go on with the slot (after the server's
    /// `retry-after`, when it gave one, as a retrying client would).
    fn complete(&mut self, slot: usize, reusable: bool) {
        let c = &mut self.conns[slot];
        let exchange = c.exchange.take().expect("a completed slot had a request");
        let wait = exchange.reader.retry_after.filter(|_| exchange.reader.status != 200);
        exchange.finish(self.shared, &mut self.stats);
        c.rbuf.clear();
        if let Some(wait) = wait.filter(|_| self.shared.args.rate.is_none()) {
            self.live -= 1;
            return self.retire(slot, wait);
        }
        match (self.shared.args.rate.is_none(), reusable) {
            (true, true) if self.shared.take() => self.begin(slot),
            (true, false) if self.shared.take() => {
                self.conns[slot].close();
                self.live -= 1;
                self.connect(slot);
            }
            (false, true) => {
                self.conns[slot].phase = Phase::Idle;
                self.live -= 1;
                self.idle.push(slot);
            }
            _ => {
                self.conns[slot].close();
                self.live -= 1;
                self.free.push(slot);
            }
        }
    }

    /// Counts a failed request and closes its connection; the closed loop goes on at once.
    fn fail(&mut self, slot: usize, error: String) {
        self.stats.error(error);
        self.live -= 1;
        self.retire(slot, Duration::ZERO);
    }

    /// Closes a slot; the closed loop tries again after `retry_after`.
    fn retire(&mut self, slot: usize, retry_after: Duration) {
        self.conns[slot].close();
        if self.shared.args.rate.is_none() {
            self.schedule_open(slot, Instant::now() + retry_after);
        } else {
            self.free.push(slot);
        }
    }
}

/// A non-blocking TCP connection under way to the server.
fn new_socket(shared: &Shared) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(shared.addr), Type::STREAM.nonblocking().cloexec(), None)?;
    sock.set_nodelay(true)?;
    if shared.args.clock == Clock::Kernel {
        fakeai::arrival::enable(sock.as_raw_fd())?;
    }
    match sock.connect(&shared.addr.into()) {
        Ok(()) => Ok(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(sock),
        Err(e) => Err(e),
    }
}

/// One read into the spare capacity of `buf`: the bytes read and when they count as received.
fn recv(sock: &Socket, buf: &mut Vec<u8>, clock: Clock) -> io::Result<(usize, Instant)> {
    if clock == Clock::Kernel {
        return fakeai::arrival::recv(sock.as_raw_fd(), buf);
    }
    let spare: &mut [MaybeUninit<u8>] = buf.spare_capacity_mut();
    let n = sock.recv(spare)?;
    // SAFETY: the kernel initialised the first `n` spare bytes.
    unsafe { buf.set_len(buf.len() + n) };
    Ok((n, Instant::now()))
}

/// An edge-triggered epoll instance and its last batch of readiness reports.
struct Poller {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    /// `epoll_pwait2` (nanosecond timeouts, Linux 5.11) works here; else whole milliseconds.
    fine_timeouts: bool,
}

impl Poller {
    fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the descriptor it returns is owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        Ok(Poller { fd, events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS], fine_timeouts: true })
    }

    /// Watches `fd` for input and output edges, reported as `slot`.
    fn add(&self, fd: RawFd, slot: usize) -> io::Result<()> {
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        let mut ev = libc::epoll_event { events: flags as u32, u64: slot as u64 };
        // SAFETY: `ev` outlives the call.
        check(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout` (forever if none) and returns how many reports arrived.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let (epfd, events) = (self.fd.as_raw_fd(), self.events.as_mut_ptr());
        let n = if self.fine_timeouts {
            let ts = timeout.map(|t| libc::timespec { tv_sec: t.as_secs() as _, tv_nsec: t.subsec_nanos() as _ });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `events` has room for MAX_EVENTS reports; `ts_ptr` is null or points at `ts`.
            unsafe { libc::epoll_pwait2(epfd, events, MAX_EVENTS as i32, ts_ptr, std::ptr::null()) }
        } else {
            // Rounded up: waking early would spin until the deadline.
            let ms = timeout.map_or(-1, |t| t.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32);
            // SAFETY: `events` has room for MAX_EVENTS reports.
            unsafe { libc::epoll_wait(epfd, events, MAX_EVENTS as i32, ms) }
        };
        match check(n) {
            Ok(n) => Ok(n as usize),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) && self.fine_timeouts => {
                self.fine_timeouts = false;
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// The slot and event mask of report `i` of the last wait.
    fn event(&self, i: usize) -> (usize, u32) {
        let ev = self.events[i];
        (ev.u64 as usize, ev.events)
    }
}
