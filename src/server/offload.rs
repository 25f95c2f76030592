//! A small pool of background threads for work too large for a worker's event loop (parsing
//! and tokenizing a megabyte prompt): the worker hands the work over and serves its other
//! connections until the result is back. A pool thread cannot wake a task of another thread's
//! runtime directly, so each wait holds one end of a socket pair and reads it through its own
//! driver (io_uring or epoll alike); the pool thread closes the other end once the result is
//! stored, and the read returns (as [`crate::state::persist::Durable`] does).

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use monoio::io::AsyncReadRent;

/// Pool threads: a few large bodies parse at once; more would take CPU from the workers.
const THREADS: usize = 2;

/// Their nice value: the pool yields the CPU to the workers' streams when both want it.
const NICENESS: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's queue, its threads started on first use.
fn queue() -> Option<&'static Mutex<mpsc::Sender<Job>>> {
    static QUEUE: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (send, receive) = mpsc::channel::<Job>();
            let receive = Arc::new(Mutex::new(receive));
            let started = (0..THREADS).filter(|i| {
                let receive = receive.clone();
                std::thread::Builder::new().name(format!("fakeai-offload-{i}")).spawn(move || serve(&receive)).is_ok()
            });
            (started.count() > 0).then(|| Mutex::new(send))
        })
        .as_ref()
}

/// One pool thread: runs jobs until the queue is gone.
fn serve(receive: &Mutex<mpsc::Receiver<Job>>) {
    // SAFETY: plain syscalls on this thread's own id; on Linux the nice value is per thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) };
    loop {
        let job = receive.lock().unwrap_or_else(|p| p.into_inner()).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Runs `work` on the pool and resolves to its result; the calling worker serves its other
/// connections meanwhile. Without a pool or a spare descriptor, `work` runs here.
/// `work` must not panic (catch inside it): its result is the only way back.
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let Some((mine, theirs)) = queue().and_then(|_| wake_pair().ok()) else {
        return work();
    };
    let slot = Arc::new(Mutex::new(None));
    let filled = slot.clone();
    let job: Job = Box::new(move || {
        *filled.lock().unwrap_or_else(|p| p.into_inner()) = Some(work());
        // Closing our end wakes the worker's read.
        drop(theirs);
    });
    let sent = queue().map(|q| q.lock().unwrap_or_else(|p| p.into_inner()).send(job));
    if let Some(Err(mpsc::SendError(job))) = sent {
        job();
    }
    let mut mine = mine;
    // Zero bytes (the pool closed its end) or an error: the slot says which.
    drop(mine.read(Vec::with_capacity(1)).await);
    loop {
        if let Some(done) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return done;
        }
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A socket pair: the end this runtime reads, and a plain duplicate of the other end for the
/// pool thread to close (the end monoio registered stays on this thread).
fn wake_pair() -> std::io::Result<(monoio::net::UnixStream, OwnedFd)> {
    let (mine, theirs) = monoio::net::UnixStream::pair()?;
    // SAFETY: `dup` of a descriptor we own; the result is checked before it is owned.
    let dup = unsafe { libc::dup(theirs.as_raw_fd()) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    drop(theirs);
    // SAFETY: `dup` returned a fresh descriptor nothing else owns.
    Ok((mine, unsafe { OwnedFd::from_raw_fd(dup) }))
}
