//! SIGINT/SIGTERM handling: a dedicated thread waits for the signal and raises a flag that
//! each worker polls. A second signal exits at once.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

static SHUTDOWN: AtomicBool = AtomicBool::new(false);

/// How often workers look at the flag.
const POLL: Duration = Duration::from_millis(20);

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT/SIGTERM in the calling thread (and so in every thread it spawns later) and
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
                if SHUTDOWN.swap(true, Ordering::SeqCst) {
                    eprintln!("fakeai: second signal, exiting now");
                    std::process::exit(130);
                }
                eprintln!("fakeai: shutting down (draining in-flight requests)");
            }
        })
        .expect("spawn signal thread");
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
