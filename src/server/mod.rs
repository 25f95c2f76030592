//! The runtime side: listeners, worker threads with one monoio runtime each, connections.
//! This is the only module that knows about monoio.

mod conn;
mod core;
mod listener;
mod offload;
pub mod signals;
mod timer;
mod webhooks;
mod worker;

use std::{io, net::SocketAddr, sync::Arc, time::Instant};

use crate::{app::App, config::ServerArgs, metrics::window::Totals};
pub use listener::{ListenOpts, bind_all, bind_first_free};

/// A started server: where it listens and how its workers run.
#[derive(Debug)]
pub struct Running {
    /// Bound address.
    pub addr: SocketAddr,
    /// Driver name per worker (`io_uring` or `epoll`).
    pub drivers: Vec<&'static str>,
    /// Where the DCGM exporter listens, if anywhere.
    pub dcgm: Option<SocketAddr>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Waits for every worker to finish (after a shutdown signal and drain).
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Binds the listeners, starts the workers and waits until each has its runtime.
pub fn start(args: ServerArgs) -> io::Result<Running> {
    no_huge_pages();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.map_or(cores, usize::from);
    let congestion = Some(args.tcp_congestion.as_str()).filter(|name| *name != "system");
    let opts = ListenOpts { backlog: args.backlog, sndbuf: args.socket_sndbuf, rcvbuf: args.socket_rcvbuf, congestion };
    let (addr, listeners) = bind_all(&args.host, args.port, workers, opts)?;
    let ports = if args.gpus > 0 { args.dcgm_port.0.as_slice() } else { &[] };
    let (dcgm, mut dcgm_listener) = bind_first_free(&args.host, ports, "DCGM").unzip();
    let cpus: Vec<usize> = match &args.cpus {
        Some(list) => list.0.clone(),
        None => (0..cores).collect(),
    };
    let pin = args.pin_workers(workers, cores);
    let seed = args.seed.unwrap_or_else(|| {
        let (s, us) = crate::clock::unix_now();
        s.wrapping_mul(1_000_003) ^ u64::from(us) ^ u64::from(std::process::id()) << 32
    });
    let app = Arc::new(App::new(args, workers, seed, crate::router::table::router().labels()).bound_to(addr));
    spawn_rate_sampler(app.clone())?;
    crate::api::batches::spawn_runner(app.clone())?;
    webhooks::spawn(app.clone())?;
    crate::api::admin::spawn_scenario(app.clone())?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut handles = Vec::with_capacity(workers);
    for (i, listener) in listeners.into_iter().enumerate() {
        let plan = worker::WorkerPlan {
            index: i,
            cpu: pin.then(|| cpus[i % cpus.len()]),
            seed: seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        let (app, ready) = (app.clone(), ready_tx.clone());
        // The first worker alone serves the DCGM port: a few scrapes a second.
        let extra = dcgm_listener.take();
        handles.push(
            std::thread::Builder::new()
                .name(format!("fakeai-worker-{i}"))
                .spawn(move || worker::run(app, listener, extra, plan, ready))?,
        );
    }
    drop(ready_tx);
    let mut drivers = vec![""; workers];
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok((i, Ok(driver))) => drivers[i] = driver,
            Ok((i, Err(e))) => return Err(io::Error::other(format!("worker {i}: {e}"))),
            Err(_) => return Err(io::Error::other("a worker exited during startup")),
        }
    }
    Ok(Running { addr, drivers, dcgm, handles })
}

/// Opts the process out of transparent huge pages. The allocator's arena is eligible for them, and
/// khugepaged collapsing it takes the process's memory-map lock for writing: a worker that
/// page-faults meanwhile sleeps in the kernel (measured at 2,000 streams: 4.7 ms in a page fault,
/// first events 10–20 ms late).
fn no_huge_pages() {
    // SAFETY: a prctl with integer arguments; if it fails (old kernel) huge pages stay allowed.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Samples the counter totals once a second for FakeAI's 60-second rates, off the workers.
fn spawn_rate_sampler(app: Arc<App>) -> io::Result<()> {
    std::thread::Builder::new().name("fakeai-rates".into()).spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            app.window.record(Instant::now(), Totals::sample(&app.shards));
        }
    })?;
    Ok(())
}

/// Runs `fakeai server` until a signal; returns the process exit code.
pub fn serve(args: ServerArgs) -> i32 {
    let t0 = Instant::now();
    signals::install();
    let encoding = args.tokenizer;
    // Build the tokenizer off the startup path; the first request waits for it if needed.
    std::thread::spawn(move || encoding.preload());
    let pinned = args.cpus.clone();
    match start(args) {
        Ok(running) => {
            println!(
                "fakeai {} listening on http://{} workers={} driver={} tokenizer={}{}{} ready in {:.1} ms",
                env!("CARGO_PKG_VERSION"),
                running.addr,
                running.drivers.len(),
                describe_drivers(&running.drivers),
                encoding,
                pinned.map(|c| format!(" cpus={:?}", c.0)).unwrap_or_default(),
                running.dcgm.map(|a| format!(" dcgm={a}")).unwrap_or_default(),
                t0.elapsed().as_secs_f64() * 1e3
            );
            running.join();
            0
        }
        Err(e) => {
            eprintln!("fakeai: cannot start server: {e}");
            1
        }
    }
}

/// `io_uring` when every worker got it, else each worker's driver (`0:io_uring,1:epoll`).
fn describe_drivers(drivers: &[&str]) -> String {
    if drivers.windows(2).all(|w| w[0] == w[1]) {
        return drivers.first().copied().unwrap_or("none").to_owned();
    }
    drivers.iter().enumerate().map(|(i, d)| format!("{i}:{d}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::describe_drivers;

    #[test]
    fn names_each_worker_only_when_they_differ() {
        assert_eq!(describe_drivers(&["io_uring", "io_uring"]), "io_uring");
        assert_eq!(describe_drivers(&["io_uring", "epoll"]), "0:io_uring,1:epoll");
    }
}
