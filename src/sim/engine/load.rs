//! The engines' load summed over the cores, for the fake GPUs: how long some engine has had
//! work (an engine with a sequence running or waiting runs its steps back to back, so this is
//! the wall time spent in steps) and the KV blocks the engines hold. Each engine sync compares
//! its state with a thread-local copy; shared state is touched only when it changed (blocks
//! grow once per block of tokens; work starts and stops per request), never per token.

use std::{
    cell::Cell,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Cores whose engine has work, since when some has, the busy time before that, and when some
/// engine last started or stopped having work.
#[derive(Debug)]
struct Busy {
    cores: u32,
    since: Option<Instant>,
    before: Duration,
    changed: Option<Instant>,
}

static BUSY: Mutex<Busy> = Mutex::new(Busy { cores: 0, since: None, before: Duration::ZERO, changed: None });

/// The engines' busy state at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State {
    /// Wall time so far during which some engine had work.
    pub busy_time: Duration,
    /// Whether some engine has work now.
    pub busy: bool,
    /// When that last changed (the time asked about when it never has).
    pub changed: Instant,
}

/// KV blocks held in the one pool every core's engine shares, as an engine last left it.
static BLOCKS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this core's engine had work when last noted.
    static NOTED: Cell<bool> = const { Cell::new(false) };
}

/// Notes the KV blocks the shared pool holds, read by an engine that just used it.
pub fn note_blocks(held: u64) {
    BLOCKS.store(held, Ordering::Relaxed);
}

/// Notes whether this core's engine has work. Nothing shared is touched unless that changed;
/// the clock is read only when the engine starts or stops having work.
pub fn note(has_work: bool) {
    let had_work = NOTED.with(|n| n.replace(has_work));
    if has_work == had_work {
        return;
    }
    let now = Instant::now();
    let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
    busy.changed = Some(now);
    if has_work {
        busy.cores += 1;
        busy.since.get_or_insert(now);
    } else {
        busy.cores = busy.cores.saturating_sub(1);
        if busy.cores == 0
            && let Some(since) = busy.since.take()
        {
            busy.before += now.saturating_duration_since(since);
        }
    }
}

/// The engines' busy state at `now`.
pub fn state(now: Instant) -> State {
    let busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
    State {
        busy_time: busy.before + busy.since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
        busy: busy.since.is_some(),
        changed: busy.changed.unwrap_or(now),
    }
}

/// Wall time up to `now` during which some engine had work.
pub fn busy_time(now: Instant) -> Duration {
    state(now).busy_time
}

/// KV blocks the engines hold now.
pub fn blocks_held() -> u64 {
    BLOCKS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_runs_while_some_core_has_work() {
        let start = Instant::now();
        let before = busy_time(start);
        let on_other_core = std::thread::spawn(|| {
            note(true);
            std::thread::sleep(Duration::from_millis(30));
            note(false);
        });
        note(true);
        note_blocks(10);
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(blocks_held(), 10);
        on_other_core.join().unwrap();
        note(true);
        note(false);
        note_blocks(0);
        let busy = busy_time(Instant::now()) - before;
        assert!(busy >= Duration::from_millis(30), "{busy:?}");
        assert!(busy <= start.elapsed(), "overlapping work counts once: {busy:?}");
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(busy_time(Instant::now()) - before, busy, "idle time does not count");
        assert_eq!(blocks_held(), 0);
    }
}
