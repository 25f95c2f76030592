//! SIGINT/SIGTERM handling: a dedicated thread waits for the signal and raises a flag that
//! each worker polls. A second signal exits at once. SIGHUP is counted (see [`hangups`]) for
//! whoever reloads on it (the API keys file).

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

static SHUTDOWN: AtomicBool = AtomicBool::new(false);
static HANGUPS: AtomicU64 = AtomicU64::new(0);

/// How often workers look at the flag.
const POLL: Duration = Duration::from_millis(20);

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and so in every thread it spawns later) and
/// starts the thread that waits for them. Call before spawning workers.
pub fn install() {
    let set = signal_set();
    // SAFETY: `set` is initialised; blocking signals in this thread is always valid.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    std::thread::Builder::new()
        .name("fakeai-signals".into())
        .spawn(move || {
            loop {
                let mut sig = 0;
                // SAFETY: `set` and `sig` are valid for the call.
                if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                    continue;
                }
                if sig == libc::SIGHUP {
                    HANGUPS.fetch_add(1, Ordering::AcqRel);
                    continue;
                }
                if SHUTDOWN.swap(true, Ordering::SeqCst) {
                    eprintln!("fakeai: second signal, exiting now");
                    std::process::exit(130);
                }
                eprintln!("fakeai: shutting down (draining in-flight requests)");
            }
        })
        .expect("spawn signal thread");
}

/// How many SIGHUPs have been received.
pub fn hangups() -> u64 {
    HANGUPS.load(Ordering::Acquire)
}

/// Whether shutdown was requested.
pub fn requested() -> bool {
    SHUTDOWN.load(Ordering::Relaxed)
}

/// Completes once shutdown is requested.
pub async fn wait() {
    while !requested() {
        monoio::time::sleep(POLL).await;
    }
}
