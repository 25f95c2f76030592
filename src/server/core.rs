//! Per-worker state that the worker's connections share: single-threaded (`Cell`/`RefCell`),
//! so nothing here is ever locked or contended.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    sync::Arc,
};

use super::timer::Timer;
use crate::{
    app::App,
    generation::GenSummary,
    metrics::{Recorder, Shard},
    proto::http1::http_date,
    rng::Rng,
};

/// Per-worker state shared by its connections (single-threaded: `Cell`/`RefCell`).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) app: Arc<App>,
    pub index: usize,
    pub rng: RefCell<Rng>,
    pub draining: Cell<bool>,
    pub in_flight: Cell<usize>,
    pub connections: Cell<usize>,
    /// This core's histograms; only this thread touches them.
    pub recorder: RefCell<Recorder>,
    /// Wakes streams at their event deadlines.
    pub timer: Rc<Timer>,
    /// The cached `Date` header: (unix second, value).
    pub date: Cell<(u64, [u8; 29])>,
    /// Write buffers for streams' events, last returned first out (see [`Core::event_buf`]).
    pub event_bufs: RefCell<Vec<Vec<u8>>>,
}

/// A new event buffer's capacity: a few events; a coalesced batch grows it.
const EVENT_BUF: usize = 4096;
/// Buffers grown past this (a zero-latency stream's whole response) are not kept.
const MAX_POOLED_CAPACITY: usize = 16 * 1024;
/// At most this many idle buffers are kept: the sends one core has in flight at once are about a
/// timer batch (32) plus the first events due with it, so after a burst at most 4 MiB stay.
const MAX_POOLED: usize = 256;

impl Core {
    /// This worker's metrics shard.
    pub(crate) fn shard(&self) -> &Shard {
        &self.app.shards[self.index]
    }

    /// Records a generation's admission; returns its model's statistics slot.
    pub(crate) fn admit(&self, s: &GenSummary, endpoint: usize) -> usize {
        let mut r = self.recorder.borrow_mut();
        let slot = r.model_slot(&s.model, s.context_window);
        let model = r.model(slot);
        model.admit(s.usage.prompt_tokens, s.max_tokens);
        model.attribute(endpoint, s.user.as_deref(), crate::clock::unix_now().0);
        slot
    }

    /// Makes this core's histograms visible to scrapes.
    pub(crate) fn publish_metrics(&self) {
        self.recorder.borrow().publish(self.shard());
    }

    /// Publishes the core's histograms if anything was recorded since the last time.
    pub(crate) fn publish_changed_metrics(&self) {
        self.recorder.borrow_mut().publish_if_changed(self.shard());
    }

    /// A buffer to write a stream's due events into. A stream holds none between its wake-ups:
    /// each takes the buffer the core used last, still in cache, where a buffer of its own would
    /// be cold after the stream's gap (at 10,000 streams, a stream's own state is far out of cache).
    pub(crate) fn event_buf(&self) -> Vec<u8> {
        self.event_bufs.borrow_mut().pop().unwrap_or_else(|| Vec::with_capacity(EVENT_BUF))
    }

    /// Takes back a buffer from [`Core::event_buf`] once its bytes are written.
    pub(crate) fn recycle_event_buf(&self, mut buf: Vec<u8>) {
        let mut pool = self.event_bufs.borrow_mut();
        if buf.capacity() > 0 && buf.capacity() <= MAX_POOLED_CAPACITY && pool.len() < MAX_POOLED {
            buf.clear();
            pool.push(buf);
        }
    }

    /// The `Date` header value, reformatted at most once a second.
    pub(crate) fn date(&self) -> [u8; 29] {
        let now = crate::clock::unix_now().0;
        let (secs, cached) = self.date.get();
        if secs == now {
            return cached;
        }
        let fresh = http_date(now);
        self.date.set((now, fresh));
        fresh
    }
}
