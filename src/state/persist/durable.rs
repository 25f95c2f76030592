//! The wait for a change to be durable, from a monoio task: the writer thread cannot wake a
//! task of another thread's runtime directly, so each wait holds one end of a socket pair and
//! reads it through its own driver (io_uring or epoll alike); the writer closes the other end
//! once the change is committed, and the read returns.

use std::{
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use monoio::io::AsyncReadRent;

use super::Persist;

/// A change a reply waits for.
#[derive(Debug)]
pub struct Durable {
    persist: Arc<Persist>,
    seq: u64,
}

impl PartialEq for Durable {
    fn eq(&self, other: &Durable) -> bool {
        self.seq == other.seq && Arc::ptr_eq(&self.persist, &other.persist)
    }
}

impl Eq for Durable {}

impl Durable {
    pub(super) fn new(persist: Arc<Persist>, seq: u64) -> Durable {
        Durable { persist, seq }
    }

    fn done(&self) -> bool {
        self.persist.durable.load(Ordering::Acquire) >= self.seq
    }

    /// Resolves once the change is committed.
    pub async fn wait(self) {
        match self.register() {
            Ok(None) => return,
            // Zero bytes (the writer closed its end) or an error: `done` says which.
            Ok(Some(mut socket)) => drop(socket.read(Vec::with_capacity(1)).await),
            // No socket to spare (descriptors exhausted): poll below.
            Err(_) => {}
        }
        while !self.done() {
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The socket to read, or `None` when the change is already committed. Checked under the
    /// waiters' lock, which the writer takes after publishing its progress: no wake-up is lost.
    fn register(&self) -> std::io::Result<Option<monoio::net::UnixStream>> {
        let mut waiters = self.persist.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if self.done() {
            return Ok(None);
        }
        let (mine, theirs) = monoio::net::UnixStream::pair()?;
        // The writer thread closes a plain duplicate: the end monoio registered stays on this thread.
        // SAFETY: `dup` of a descriptor we own; the result is checked before it is owned.
        let dup = unsafe { libc::dup(theirs.as_raw_fd()) };
        if dup < 0 {
            return Err(std::io::Error::last_os_error());
        }
        drop(theirs);
        // SAFETY: `dup` returned a fresh descriptor nothing else owns.
        waiters.push((self.seq, unsafe { OwnedFd::from_raw_fd(dup) }));
        Ok(Some(mine))
    }
}
