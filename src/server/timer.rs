//! A per-core timer with microsecond precision for event deadlines.
//!
//! monoio's wheel rounds every deadline up to a whole millisecond and parks from a floored "now",
//! so events went out 0–2 ms late. Here one timerfd per core is armed for the earliest deadline
//! and awaited for readiness (an io_uring poll, or epoll under the legacy driver); when it fires,
//! the tasks whose deadlines have passed are woken together: one wake-up per due batch, not one
//! timer per token. Responses' first events go ahead of later ones, and a core that fell behind
//! wakes later events a bounded batch at a time.

use std::{
    cell::{Cell, RefCell},
    cmp::Ordering,
    collections::BinaryHeap,
    future::Future,
    io,
    os::fd::{AsRawFd, FromRawFd},
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use monoio::net::TcpStream;

use crate::sockopt::check;

/// After a wake-up, the next one is at least the timer's window away: deadlines closer than
/// that share a wake-up and go out up to a window late. A narrow window is precise; a wide one
/// batches more sends per wake-up, which on loopback costs measurably less CPU (fewer, larger
/// io_uring submissions and fewer client wake-ups), so the window widens only as the core gets busy.
const NARROWEST: Duration = Duration::from_micros(25);
/// The widest window: as coarse as monoio's own wheel.
const WIDEST: Duration = Duration::from_millis(1);
/// Core utilisation up to which the window stays narrowest, and from which it is widest.
const BUSY_FROM: f64 = 0.5;
const BUSY_TO: f64 = 0.85;

/// The batching window for a core that was busy for this fraction of the last period.
fn window_for(busy: f64) -> Duration {
    let share = ((busy - BUSY_FROM) / (BUSY_TO - BUSY_FROM)).clamp(0.0, 1.0);
    NARROWEST + (WIDEST - NARROWEST).mul_f64(share)
}

/// At most this many later events are woken per wake-up; the rest follow in the runtime's next
/// round, after it has submitted their sends and taken in what completed meanwhile. A core that
/// fell behind would otherwise wake every stream in one batch (1,000 sends, ~9 ms on loopback)
/// and let first events and new requests that fell due meanwhile wait for all of it.
const MAX_BATCH: usize = 32;

/// The timer of one core: due deadlines and the timerfd that wakes them.
pub(crate) struct Timer {
    /// Responses' first events: woken ahead of the rest, since a client sees their lateness as
    /// TTFT, while a later event's lateness only shifts one gap.
    first: RefCell<BinaryHeap<Entry>>,
    queue: RefCell<BinaryHeap<Entry>>,
    /// When the timerfd fires next, if armed.
    armed: Cell<Option<Instant>>,
    /// Later events are due and not yet woken: the timer task runs every round of the runtime
    /// until they are, so the timerfd is left alone meanwhile.
    catching_up: Cell<bool>,
    /// Minimum gap between wake-ups (see [`window_for`]).
    window: Cell<Duration>,
    /// The time of the latest firing: a woken sleep whose deadline is before it is over without
    /// reading the clock again.
    fired: Cell<Instant>,
    /// The timerfd, registered with the runtime only to await its readiness (never read through
    /// monoio; see `clear`).
    fd: TcpStream,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("queued", &self.queue.borrow().len()).finish()
    }
}

/// A task waiting for its deadline; the heap's top is the earliest.
struct Entry {
    at: Instant,
    waker: Waker,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

impl Timer {
    fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the result is checked before use.
        let raw =
            check(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) })?;
        // monoio waits for readiness of any pollable fd through its stream type; the fd is only
        // ever polled, never read or written as a socket. SAFETY: `raw` is ours and open.
        let fd = TcpStream::from_std(unsafe { std::net::TcpStream::from_raw_fd(raw) })?;
        let (first, queue) = (RefCell::default(), RefCell::default());
        let (armed, catching_up, window) = (Cell::new(None), Cell::new(false), Cell::new(NARROWEST));
        Ok(Timer { first, queue, armed, catching_up, window, fired: Cell::new(Instant::now()), fd })
    }

    /// Creates the core's timer and spawns the task that fires it; call inside the core's runtime.
    pub(crate) fn start() -> io::Result<Rc<Timer>> {
        let timer = Rc::new(Timer::new()?);
        let fired = timer.clone();
        monoio::spawn(async move { fired.run().await });
        Ok(timer)
    }

    /// Completes at `at` (at once if it has passed).
    pub(crate) fn sleep_until(&self, at: Instant) -> Sleep<'_> {
        Sleep { timer: self, at, first: false, queued: false }
    }

    /// Like [`Timer::sleep_until`], for a response's first event: woken ahead of later events.
    pub(crate) fn sleep_until_first(&self, at: Instant) -> Sleep<'_> {
        Sleep { timer: self, at, first: true, queued: false }
    }

    /// Wakes due tasks whenever the timerfd fires; runs for the life of the core. While later
    /// events are still due it comes back after each round of the runtime instead of re-arming
    /// the timerfd: each arming is a syscall and a timer interrupt, and at 10,000 streams the
    /// catch-up re-arming every 20 µs cost 15 % of the core (perf, `do_timerfd_settime`). The
    /// runtime polls I/O at least every other round, so sends are submitted and requests taken
    /// in between batches under either driver.
    async fn run(&self) {
        loop {
            if let Err(e) = self.fd.readable(false).await {
                eprintln!("fakeai: timer wait failed: {e}");
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
            while self.fire(Instant::now()) {
                NextRound::default().await;
            }
        }
    }

    /// Moves the batching window a quarter of the way towards what `busy` calls for and returns
    /// it; the smoothing keeps the window from swinging with the load it changes.
    pub(crate) fn adapt(&self, busy: f64) -> Duration {
        let (old, target) = (self.window.get(), window_for(busy));
        self.window.set((old * 3 + target) / 4);
        self.window.get()
    }

    /// Whether later events due by `now` are still waiting to be woken.
    fn behind(&self, now: Instant) -> bool {
        is_due(&self.queue.borrow(), now)
    }

    fn push(&self, at: Instant, first: bool, waker: Waker) {
        let queue = if first { &self.first } else { &self.queue };
        queue.borrow_mut().push(Entry { at, waker });
        if !self.catching_up.get() && self.armed.get().is_none_or(|armed| at < armed) {
            self.arm(at);
        }
    }

    /// Wakes the tasks due by `now` (every first event, at most [`MAX_BATCH`] others); true if
    /// more later events are due (the caller comes back next round), otherwise arms for the
    /// next deadline (or clears the fd).
    fn fire(&self, now: Instant) -> bool {
        self.fired.set(now);
        let (mut first, mut queue) = (self.first.borrow_mut(), self.queue.borrow_mut());
        // Waking only schedules the task; it does not run here. Tasks run in the order woken.
        wake_due(&mut first, now, usize::MAX);
        let behind = wake_due(&mut queue, now, MAX_BATCH);
        self.catching_up.set(behind);
        if behind {
            return true;
        }
        let earliest = [first.peek(), queue.peek()].into_iter().flatten().map(|e| e.at).min();
        let next = earliest.map(|at| at.max(now + self.window.get()));
        drop((first, queue));
        self.armed.set(None);
        match next {
            // Re-arming also clears the expiration the fd holds.
            Some(at) => self.arm(at),
            None => self.clear(),
        }
        false
    }

    fn arm(&self, at: Instant) {
        // Zero would disarm; a deadline already past fires after 1 ns.
        let wait = at.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: wait.as_secs() as _, tv_nsec: wait.subsec_nanos() as _ },
        };
        // SAFETY: the fd is our open timerfd; `spec` outlives the call.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } == 0 {
            self.armed.set(Some(at));
        }
    }

    /// Consumes a pending expiration so that the fd stops polling readable.
    fn clear(&self) {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into `count`; nonblocking, so it fails harmlessly if none is due.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// Whether the earliest entry of `queue` is due by `now`.
fn is_due(queue: &BinaryHeap<Entry>, now: Instant) -> bool {
    queue.peek().is_some_and(|e| e.at <= now)
}

/// Wakes up to `limit` entries due by `now`, earliest first; true if more are due.
fn wake_due(queue: &mut BinaryHeap<Entry>, now: Instant, limit: usize) -> bool {
    for _ in 0..limit {
        if !is_due(queue, now) {
            return false;
        }
        queue.pop().expect("due").waker.wake();
    }
    is_due(queue, now)
}

/// Completes once every task scheduled before it has run. A task that wakes itself goes to the
/// front of monoio's queue, so the wake-up comes from a task spawned at the back. (monoio polls
/// I/O after at most twice its queue's length of tasks, so at least every other round.)
#[derive(Default)]
struct NextRound(bool);

impl Future for NextRound {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        let waker = cx.waker().clone();
        monoio::spawn(async move { waker.wake() });
        Poll::Pending
    }
}

/// How busy this thread has been since the last reading.
#[derive(Debug)]
pub(crate) struct BusyMeter {
    last: (Instant, Duration),
}

impl BusyMeter {
    /// Starts measuring the calling thread.
    pub(crate) fn new() -> BusyMeter {
        BusyMeter { last: (Instant::now(), thread_cpu()) }
    }

    /// The fraction of wall time this thread spent on a CPU since the last call.
    pub(crate) fn busy(&mut self) -> f64 {
        let now = (Instant::now(), thread_cpu());
        let (wall, cpu) = (now.0 - self.last.0, now.1.saturating_sub(self.last.1));
        self.last = now;
        if wall.is_zero() { 0.0 } else { cpu.as_secs_f64() / wall.as_secs_f64() }
    }
}

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into `t`, which outlives the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Waits for a deadline on the core's timer.
#[derive(Debug)]
pub(crate) struct Sleep<'a> {
    timer: &'a Timer,
    at: Instant,
    first: bool,
    queued: bool,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.queued && self.at <= self.timer.fired.get() {
            return Poll::Ready(());
        }
        let now = Instant::now();
        // A later event already due queues behind those the timer has not woken yet, so that a
        // core that fell behind keeps first events ahead and its batches bounded.
        if now >= self.at && (self.queued || self.first || !self.timer.behind(now)) {
            return Poll::Ready(());
        }
        // The timer wakes an entry only once it is due, so one entry per sleep is enough.
        if !self.queued {
            self.timer.push(self.at, self.first, cx.waker().clone());
            self.queued = true;
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body` on an io_uring runtime (where the kernel has it) and on an epoll one.
    fn on_each_driver<F: Future<Output = ()>>(body: impl Fn() -> F) {
        if let Ok(mut rt) = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new().enable_timer().build() {
            rt.block_on(body());
        }
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap().block_on(body());
    }

    #[test]
    fn the_window_is_narrow_on_an_idle_core_and_widens_with_load() {
        assert_eq!(window_for(0.0), NARROWEST);
        assert_eq!(window_for(BUSY_FROM), NARROWEST);
        assert!(window_for(0.7) > NARROWEST && window_for(0.7) < WIDEST);
        assert!(window_for(0.6) < window_for(0.7));
        assert_eq!(window_for(BUSY_TO), WIDEST);
        assert_eq!(window_for(1.5), WIDEST);
    }

    /// Whether `trial` passes in one of three attempts: timing trials share the machine with
    /// the other tests, so one attempt may lose its core; a broken mechanism fails all three.
    fn in_one_of_three(mut trial: impl FnMut() -> bool) -> bool {
        (0..3).any(|_| trial())
    }

    #[test]
    fn the_busy_meter_sees_a_spinning_thread_and_a_sleeping_one() {
        assert!(in_one_of_three(|| {
            let mut meter = BusyMeter::new();
            let until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < until {}
            meter.busy() > 0.5
        }));
        assert!(in_one_of_three(|| {
            let mut meter = BusyMeter::new();
            std::thread::sleep(Duration::from_millis(30));
            meter.busy() < 0.5
        }));
    }

    #[test]
    fn sleeps_end_in_deadline_order_within_a_fraction_of_a_millisecond() {
        on_each_driver(|| async {
            let mut lateness = Vec::new();
            for _ in 0..3 {
                let (late, order) = sleep_four().await;
                assert_eq!(order, [1, 3, 2, 0], "wake-ups in deadline order");
                // monoio's own wheel is 0–2 ms late; a loaded machine may delay one or two wake-ups.
                if late[1] < Duration::from_micros(900) {
                    return;
                }
                lateness.push(late);
            }
            panic!("late by {lateness:?}");
        });
    }

    /// Four sleeps of 7, 3, 5 and 3 ms: their lateness (sorted) and the order they ended in.
    async fn sleep_four() -> (Vec<Duration>, Vec<usize>) {
        {
            let timer = Timer::start().unwrap();
            let start = Instant::now();
            let order = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for (i, ms) in [7u64, 3, 5, 3].into_iter().enumerate() {
                let (timer, order) = (timer.clone(), order.clone());
                tasks.push(monoio::spawn(async move {
                    let at = start + Duration::from_millis(ms);
                    timer.sleep_until(at).await;
                    let late = Instant::now() - at;
                    order.borrow_mut().push(i);
                    late
                }));
            }
            let mut late = Vec::new();
            for task in tasks {
                late.push(task.await);
            }
            late.sort();
            let order = order.borrow().clone();
            (late, order)
        }
    }

    /// Records which wakers were woken, in order.
    #[derive(Clone, Default)]
    struct Woken(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

    struct Recorder(usize, Woken);

    impl std::task::Wake for Recorder {
        fn wake(self: std::sync::Arc<Self>) {
            self.1.0.lock().unwrap().push(self.0);
        }
    }

    impl Woken {
        fn waker(&self, index: usize) -> Waker {
            Waker::from(std::sync::Arc::new(Recorder(index, self.clone())))
        }

        fn take(&self) -> Vec<usize> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    /// A timer that fell behind: later events 0..MAX_BATCH + 8 fell due about 1 ms before `now`,
    /// the earliest first.
    fn timer_behind(now: Instant, woken: &Woken) -> Timer {
        let timer = Timer::new().unwrap();
        for i in 0..MAX_BATCH + 8 {
            timer.push(now - Duration::from_millis(1) + Duration::from_micros(i as u64), false, woken.waker(i));
        }
        timer
    }

    #[test]
    fn a_core_behind_wakes_first_events_ahead_and_later_ones_a_batch_at_a_time() {
        on_each_driver(|| async {
            let (now, woken) = (Instant::now(), Woken::default());
            let timer = timer_behind(now, &woken);
            timer.push(now + Duration::from_millis(5), false, woken.waker(50));
            // The first event (99) is due last and pushed last, yet goes first.
            timer.push(now - Duration::from_micros(10), true, woken.waker(99));
            assert!(timer.fire(now), "more are due: the timer task comes back next round");
            assert_eq!(woken.take(), std::iter::once(99).chain(0..MAX_BATCH).collect::<Vec<_>>());
            // Meanwhile nothing re-arms the timerfd, not even a first event.
            let armed = timer.armed.get();
            timer.push(now, true, woken.waker(98));
            assert_eq!(timer.armed.get(), armed);
            assert!(!timer.fire(now));
            assert_eq!(woken.take(), std::iter::once(98).chain(MAX_BATCH..MAX_BATCH + 8).collect::<Vec<_>>());
            assert_eq!(timer.armed.get(), Some(now + Duration::from_millis(5)));
        });
    }

    #[test]
    fn a_later_event_already_due_waits_behind_those_not_yet_woken() {
        on_each_driver(|| async {
            let (now, woken) = (Instant::now(), Woken::default());
            let timer = timer_behind(now, &woken);
            let (late, recorded) = (now - Duration::from_micros(500), woken.waker(99));
            let mut later = std::pin::pin!(timer.sleep_until(late));
            let mut cx = Context::from_waker(&recorded);
            assert!(later.as_mut().poll(&mut cx).is_pending(), "jumped the queue of a core behind");
            // A first event is not held back.
            assert!(std::pin::pin!(timer.sleep_until_first(late)).poll(&mut cx).is_ready());
            timer.fire(now);
            timer.fire(now);
            assert_eq!(woken.take().last(), Some(&99), "woken after the earlier ones");
            assert!(later.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
        });
    }

    #[test]
    fn a_passed_deadline_is_ready_at_once_and_an_idle_timer_does_not_spin() {
        on_each_driver(|| async {
            let timer = Timer::start().unwrap();
            timer.sleep_until(Instant::now() - Duration::from_millis(1)).await;
            timer.sleep_until(Instant::now() + Duration::from_millis(2)).await;
            // Nothing queued: the fd was cleared, so the runtime idles for this sleep.
            let mut meter = BusyMeter::new();
            monoio::time::sleep(Duration::from_millis(50)).await;
            assert!(meter.busy() < 0.2, "timer spun while idle");
            assert!(timer.queue.borrow().is_empty());
        });
    }
}
