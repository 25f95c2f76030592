//! One worker thread: pinned, its own monoio runtime, its own listener, its own metrics
//! shard. Accepts until shutdown, then drains in-flight requests.

use std::{
    cell::{Cell, RefCell},
    os::fd::{AsRawFd, FromRawFd, RawFd},
    rc::Rc,
    sync::{Arc, mpsc::Sender},
    time::Duration,
};

use monoio::{
    FusionDriver, IoUringDriver, LegacyDriver, RuntimeBuilder,
    io::AsyncWriteRentExt,
    net::{TcpListener, TcpStream},
};

use super::{
    conn,
    core::Core,
    signals,
    timer::{BusyMeter, Timer},
};
use crate::{
    app::App,
    config::Driver,
    metrics::{Counter, PUBLISH_EVERY, Recorder},
    rng::Rng,
};

/// Where and how a worker runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerPlan {
    /// Worker index (its metrics shard).
    pub index: usize,
    /// Core to pin to.
    pub cpu: Option<usize>,
    /// Seed of the worker's random source.
    pub seed: u64,
}

/// What a worker reports once its runtime is up: the driver's name, or why it failed.
pub(crate) type Ready = (usize, Result<&'static str, String>);

/// Thread body: pin, build the runtime for the configured driver, serve (and the DCGM port's
/// connections when given its listener).
pub(crate) fn run(
    app: Arc<App>,
    listener: std::net::TcpListener,
    dcgm: Option<std::net::TcpListener>,
    plan: WorkerPlan,
    ready: Sender<Ready>,
) {
    if let Some(cpu) = plan.cpu
        && let Err(e) = monoio::utils::bind_to_cpu_set([cpu])
    {
        eprintln!("fakeai: worker {} cannot pin to cpu {cpu}: {e}", plan.index);
    }
    let entries = app.args.uring_entries;
    let driver = app.args.driver;
    let main = serve(app, listener, dcgm, plan, ready.clone());
    let built = match driver {
        Driver::Auto => RuntimeBuilder::<FusionDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(main)),
        Driver::Uring => RuntimeBuilder::<IoUringDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(main)),
        Driver::Epoll => RuntimeBuilder::<LegacyDriver>::new()
            .with_entries(entries)
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(main)),
    };
    if let Err(e) = built {
        let _ = ready.send((plan.index, Err(format!("cannot build the {driver:?} runtime: {e}"))));
    }
}

async fn serve(
    app: Arc<App>,
    listener: std::net::TcpListener,
    dcgm: Option<std::net::TcpListener>,
    plan: WorkerPlan,
    ready: Sender<Ready>,
) {
    let registered =
        TcpListener::from_std(listener).and_then(|l| Ok((l, dcgm.map(TcpListener::from_std).transpose()?)));
    let (listener, dcgm) = match registered {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send((plan.index, Err(format!("cannot register listener: {e}"))));
            return;
        }
    };
    let timer = match Timer::start() {
        Ok(t) => t,
        Err(e) => {
            let _ = ready.send((plan.index, Err(format!("cannot create the timer: {e}"))));
            return;
        }
    };
    let driver = if monoio::utils::is_legacy() { "epoll" } else { "io_uring" };
    let _ = ready.send((plan.index, Ok(driver)));
    drop(ready);
    let core = Rc::new(Core {
        index: plan.index,
        rng: RefCell::new(Rng::new(plan.seed)),
        draining: Cell::new(false),
        in_flight: Cell::new(0),
        connections: Cell::new(0),
        recorder: RefCell::new(Recorder::default()),
        timer,
        date: Cell::new((0, [0; 29])),
        event_bufs: RefCell::default(),
        app,
    });
    monoio::spawn(publish_metrics(core.clone()));
    let dcgm_fd = dcgm.as_ref().map(|l| l.as_raw_fd());
    if let Some(dcgm) = dcgm {
        monoio::spawn(accept_dcgm(core.clone(), dcgm));
    }
    accept_until_shutdown(&core, listener).await;
    core.draining.set(true);
    dcgm_fd.into_iter().for_each(release_port);
    drain(&core).await;
    core.publish_metrics();
}

/// Publishes the core's histograms for scrapes, and fits the timer's batching window to the
/// core's load, periodically.
async fn publish_metrics(core: Rc<Core>) {
    let mut meter = BusyMeter::new();
    loop {
        monoio::time::sleep(PUBLISH_EVERY).await;
        let window = core.timer.adapt(meter.busy());
        core.shard().set(Counter::TimerWindowMicros, window.as_micros() as u64);
        core.publish_changed_metrics();
    }
}

async fn accept_until_shutdown(core: &Rc<Core>, listener: TcpListener) {
    let max = core.app.args.max_connections;
    let mut shutdown = std::pin::pin!(signals::wait());
    loop {
        monoio::select! {
            _ = &mut shutdown => {
                release_port(listener.as_raw_fd());
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    take(core, stream, max);
                    take_waiting(core, listener.as_raw_fd(), max);
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("fakeai: accept failed: {e}");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Serves the DCGM port's connections (only its exporter paths) while the runtime runs.
async fn accept_dcgm(core: Rc<Core>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                monoio::spawn(conn::serve_dcgm(core.clone(), stream));
            }
            Err(_) if core.draining.get() => return,
            Err(e) => {
                eprintln!("fakeai: DCGM accept failed: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Stops a listener at shutdown so that its port is free as soon as the process has exited: under
/// io_uring a pending accept keeps the socket alive until the ring's deferred teardown, and a server
/// restarted at once found the port still in use.
fn release_port(listener: RawFd) {
    // SAFETY: shutdown on a listening socket we own moves it out of LISTEN and fails pending accepts.
    unsafe { libc::shutdown(listener, libc::SHUT_RDWR) };
}

/// Serves an accepted connection, or refuses it when the worker is at its connection limit.
fn take(core: &Rc<Core>, stream: TcpStream, max: usize) {
    if core.connections.get() >= max {
        core.shard().add(Counter::ConnectionsRefused, 1);
        monoio::spawn(refuse(stream));
    } else {
        monoio::spawn(conn::serve(core.clone(), stream));
    }
}

/// Connections taken per accept beyond the first, so that a ramp does not starve streams.
const ACCEPT_BATCH: usize = 256;

/// Takes connections already waiting on the listener without a trip through the runtime each:
/// with one accept per runtime tick, a busy core took 10,000 connections over ~12 s.
fn take_waiting(core: &Rc<Core>, listener: RawFd, max: usize) {
    // monoio's own accept makes blocking sockets under io_uring and nonblocking ones under epoll.
    let flags = libc::SOCK_CLOEXEC | if monoio::utils::is_legacy() { libc::SOCK_NONBLOCK } else { 0 };
    for _ in 0..ACCEPT_BATCH {
        let mut waiting = libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a zero timeout never blocks. The listener may be a blocking
        // socket (io_uring), so accept only what poll says is there.
        if unsafe { libc::poll(&mut waiting, 1, 0) } != 1 {
            return;
        }
        // SAFETY: plain accept on our listener; the result is checked before use.
        let raw = unsafe { libc::accept4(listener, std::ptr::null_mut(), std::ptr::null_mut(), flags) };
        if raw < 0 {
            return;
        }
        // SAFETY: `raw` is a freshly accepted socket that nothing else owns.
        match TcpStream::from_std(unsafe { std::net::TcpStream::from_raw_fd(raw) }) {
            Ok(stream) => take(core, stream, max),
            Err(_) => return,
        }
    }
}

/// Stops taking requests and waits for in-flight ones, up to the drain timeout.
async fn drain(core: &Core) {
    core.draining.set(true);
    let deadline = monoio::time::Instant::now() + core.app.args.drain_timeout;
    while core.in_flight.get() > 0 && monoio::time::Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = crate::error::Error::new(503, "server_error", "Too many open connections; try again later.")
        .with_code("connection_limit")
        .to_json();
    let mut msg = format!(
        "HTTP/1.1 503 Service Unavailable\r\nServer: fakeai\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n",
        body.len()
    )
    .into_bytes();
    msg.extend_from_slice(&body);
    let _ = stream.write_all(msg).await;
}
