//! Work for the background jobs thread: ids of batches to run, in the order they were created.
//! The thread sleeps on the queue while it is empty, so an idle server pays nothing.

use std::{
    collections::VecDeque,
    sync::{Condvar, Mutex},
    time::Duration,
};

/// A blocking FIFO of batch ids.
#[derive(Debug, Default)]
pub struct JobQueue {
    ids: Mutex<VecDeque<String>>,
    ready: Condvar,
}

impl JobQueue {
    /// Queues `id` and wakes the jobs thread.
    pub fn push(&self, id: String) {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).push_back(id);
        self.ready.notify_one();
    }

    /// The next id, waiting up to `timeout` for one.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        let (mut ids, _) =
            self.ready.wait_timeout_while(ids, timeout, |ids| ids.is_empty()).unwrap_or_else(|p| p.into_inner());
        ids.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_out_in_order_and_waiting_ends() {
        let q = JobQueue::default();
        q.push("a".into());
        q.push("b".into());
        assert_eq!(q.next(Duration::ZERO).as_deref(), Some("a"));
        assert_eq!(q.next(Duration::ZERO).as_deref(), Some("b"));
        assert_eq!(q.next(Duration::from_millis(1)), None);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                q.push("c".into());
            });
            assert_eq!(q.next(Duration::from_secs(10)).as_deref(), Some("c"), "a push wakes the waiter");
        });
    }
}
