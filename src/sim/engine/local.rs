//! One engine per worker core, and the handles through which requests meet it: a [`Ticket`]
//! per sequence (dropping the last handle releases it at once), an [`EngineSchedule`] that
//! turns its steps into token deadlines for the stream, and the gauges every core's engine
//! feeds for the metrics. The only clock read here is one per request, at submission; after
//! that, time comes from the stream's own `elapsed`.
//!
//! Every core's engine takes its KV blocks from the server's one [`KvCache`] pool (why one
//! pool: see `state::kv`): its lock is taken only when a step is simulated (a stream's sync
//! that finds no step due takes none), once per request to look its prefix up and submit it,
//! and once to give its blocks back.

use std::{
    cell::RefCell,
    rc::Rc,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use super::{Config, Due, Engine, Event, Flavour, Phases, QueueFull, SeqId, SeqKv, SeqSpec, StepTime, Work};
use crate::{
    config::{EngineKind, ServerArgs},
    metrics::model_stats::{FixedHistogram, REQUEST_LATENCY_BUCKETS},
    state::kv::{KvCache, KvRequest},
};

/// Models with gauges of their own; more share the last slot (`other`).
const MAX_MODELS: usize = 128;

/// One model's engine state, summed over the cores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Sequences in a running batch.
    pub running: i64,
    /// Sequences waiting (new and preempted).
    pub waiting: i64,
    /// Preemptions since start.
    pub preemptions: u64,
    /// Requests refused because the queue was full.
    pub rejections: u64,
    /// Requests admitted for the first time, and their summed time in the queue, s.
    pub admitted: u64,
    /// Σ queue time of admitted requests, s.
    pub queue_seconds: f64,
}

/// Per-model gauges, indexed by tag.
static GAUGES: Mutex<Vec<(String, Gauges)>> = Mutex::new(Vec::new());

/// One model's finished sequences' phases, as simulated (vLLM's per-request intervals), s.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseHistograms {
    /// Arrival to first scheduled.
    pub queue: FixedHistogram,
    /// First scheduled to first token.
    pub prefill: FixedHistogram,
    /// First token to last.
    pub decode: FixedHistogram,
    /// First scheduled to last token.
    pub inference: FixedHistogram,
}

impl PhaseHistograms {
    fn new() -> Self {
        let h = FixedHistogram::new(REQUEST_LATENCY_BUCKETS);
        PhaseHistograms { queue: h.clone(), prefill: h.clone(), decode: h.clone(), inference: h }
    }

    fn record(&mut self, p: &Phases) {
        self.queue.record(p.queue.as_secs_f64());
        self.prefill.record(p.prefill.as_secs_f64());
        self.decode.record(p.decode.as_secs_f64());
        self.inference.record(p.inference().as_secs_f64());
    }
}

/// Per-model phase histograms, indexed by tag (grown on a model's first finished sequence).
static PHASES: Mutex<Vec<PhaseHistograms>> = Mutex::new(Vec::new());

/// vLLM's `iteration_tokens_total` buckets: tokens computed per step.
pub const ITERATION_TOKENS_BUCKETS: &[f64] =
    &[1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0];

/// Bucket bounds of the simulated step durations, s.
pub const STEP_SECONDS_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Every core's simulated steps: tokens computed and duration of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Iterations {
    /// Tokens computed per step (prefill chunks and decodes).
    pub tokens: FixedHistogram,
    /// Step durations, s.
    pub seconds: FixedHistogram,
    /// What the steps computed, summed (the MFU estimates' input).
    pub work: Work,
}

impl Iterations {
    fn new() -> Self {
        Iterations {
            tokens: FixedHistogram::new(ITERATION_TOKENS_BUCKETS),
            seconds: FixedHistogram::new(STEP_SECONDS_BUCKETS),
            work: Work::default(),
        }
    }
}

/// The steps of every core's engine (made on the first step).
static ITERATIONS: Mutex<Option<Iterations>> = Mutex::new(None);

/// Every core's simulated steps so far (empty histograms before the first).
pub fn iterations() -> Iterations {
    let steps = ITERATIONS.lock().unwrap_or_else(|e| e.into_inner());
    steps.clone().unwrap_or_else(Iterations::new)
}

/// Records the steps `engine` committed since the last call (a lock only when there are some).
fn publish_steps(engine: &mut Engine) {
    // Work accrues only with steps, so none is lost when there are none.
    let work = engine.take_work();
    let mut steps = engine.drain_steps().peekable();
    if steps.peek().is_none() {
        return;
    }
    let mut all = ITERATIONS.lock().unwrap_or_else(|e| e.into_inner());
    let all = all.get_or_insert_with(Iterations::new);
    all.work.add(&work);
    for (tokens, duration) in steps {
        all.tokens.record(tokens as f64);
        all.seconds.record(duration.as_secs_f64());
    }
}

/// The shared time base of every core's engine.
static EPOCH: OnceLock<Instant> = OnceLock::new();

thread_local! {
    static ENGINE: RefCell<Option<Rc<RefCell<Engine>>>> = const { RefCell::new(None) };
}

/// Time since the engines' epoch.
fn now() -> Duration {
    EPOCH.get_or_init(Instant::now).elapsed()
}

/// The engine settings of `args` (its KV blocks are the shared pool's).
pub fn config(args: &ServerArgs) -> Config {
    let block_size = args.kv_cache_block_size.max(1);
    Config {
        max_num_seqs: args.max_num_seqs as usize,
        max_num_batched_tokens: args.max_num_batched_tokens,
        max_num_queued: args.max_num_queued_requests.map(|n| n as usize),
        step: args.step_time.unwrap_or_else(|| StepTime::preset(args.gpu)),
        block_size,
        by_priority: args.scheduling_policy == crate::config::SchedulingPolicy::Priority,
        longest_prefix_first: args.schedule_policy == crate::config::SchedulePolicy::Lpm,
        flavour: match args.engine {
            EngineKind::Sglang => Flavour::Sglang,
            EngineKind::Trtllm => Flavour::Trtllm,
            EngineKind::Vllm | EngineKind::Off => Flavour::Vllm,
        },
    }
}

/// This core's engine, made on first use.
fn engine(args: &ServerArgs) -> Rc<RefCell<Engine>> {
    ENGINE.with(|slot| {
        slot.borrow_mut()
            .get_or_insert_with(|| {
                now();
                Rc::new(RefCell::new(Engine::new(config(args))))
            })
            .clone()
    })
}

/// The engines' time base, once an engine runs.
pub fn epoch() -> Option<Instant> {
    EPOCH.get().copied()
}

/// Whether an engine runs on some core (its metric families are shown only then).
pub fn active() -> bool {
    EPOCH.get().is_some()
}

/// Whether `args` turn the engine on.
pub fn enabled(args: &ServerArgs) -> bool {
    args.engine != EngineKind::Off
}

/// The tag of `model`'s gauges.
pub fn tag(model: &str) -> u32 {
    let mut gauges = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = gauges.iter().position(|(m, _)| m == model) {
        return i as u32;
    }
    if gauges.len() >= MAX_MODELS {
        return (MAX_MODELS - 1) as u32;
    }
    let name = if gauges.len() == MAX_MODELS - 1 { "other" } else { model };
    gauges.push((name.to_owned(), Gauges::default()));
    (gauges.len() - 1) as u32
}

/// `model`'s gauges, if the engine has seen it.
pub fn gauges(model: &str) -> Option<Gauges> {
    let gauges = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    gauges.iter().find(|(m, _)| m == model).map(|(_, g)| *g)
}

/// `model`'s phase histograms, if the engine has seen it (empty before its first finish).
pub fn phases(model: &str) -> Option<PhaseHistograms> {
    let tag = GAUGES.lock().unwrap_or_else(|e| e.into_inner()).iter().position(|(m, _)| m == model)?;
    let phases = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    Some(phases.get(tag).cloned().unwrap_or_else(PhaseHistograms::new))
}

/// Every model's gauges summed.
pub fn totals() -> Gauges {
    let gauges = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    gauges.iter().fold(Gauges::default(), |t, (_, g)| Gauges {
        running: t.running + g.running,
        waiting: t.waiting + g.waiting,
        preemptions: t.preemptions + g.preemptions,
        rejections: t.rejections + g.rejections,
        admitted: t.admitted + g.admitted,
        queue_seconds: t.queue_seconds + g.queue_seconds,
    })
}

/// Applies the engine's state changes to the shared gauges (a lock only when there are some).
fn publish(engine: &mut Engine) {
    let (running, waiting) = engine.counts();
    super::load::note(running + waiting > 0);
    publish_steps(engine);
    let mut events = engine.drain_events().peekable();
    if events.peek().is_none() {
        return;
    }
    let mut gauges = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    let mut finished = Vec::new();
    for event in events {
        let tag = match event {
            Event::Queued(t)
            | Event::Admitted(t, _)
            | Event::Preempted(t)
            | Event::LeftRunning(t)
            | Event::LeftWaiting(t)
            | Event::Rejected(t) => t,
            Event::Finished(t, phases) => {
                finished.push((t, phases));
                continue;
            }
        };
        let Some((_, g)) = gauges.get_mut(tag as usize) else { continue };
        match event {
            Event::Queued(_) => g.waiting += 1,
            Event::Admitted(_, queued) => {
                (g.waiting, g.running) = (g.waiting - 1, g.running + 1);
                if let Some(q) = queued {
                    g.admitted += 1;
                    g.queue_seconds += q.as_secs_f64();
                }
            }
            Event::Preempted(_) => {
                (g.running, g.waiting, g.preemptions) = (g.running - 1, g.waiting + 1, g.preemptions + 1)
            }
            Event::LeftRunning(_) => g.running -= 1,
            Event::LeftWaiting(_) => g.waiting -= 1,
            Event::Rejected(_) => g.rejections += 1,
            Event::Finished(..) => {}
        }
    }
    drop(gauges);
    if finished.is_empty() {
        return;
    }
    let mut phases = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    for (tag, p) in finished {
        let tag = tag as usize;
        if phases.len() <= tag {
            phases.resize_with(tag + 1, PhaseHistograms::new);
        }
        phases[tag].record(&p);
    }
}

/// A sequence in this core's engine; the last handle dropped releases it.
#[derive(Debug)]
pub struct Ticket {
    engine: Rc<RefCell<Engine>>,
    /// The pool its blocks come from.
    kv: Arc<KvCache>,
    id: SeqId,
    /// When its request arrived, on the engines' time base.
    origin: Duration,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut engine = self.engine.borrow_mut();
        self.kv.with_pool(|pool| {
            engine.release(self.id, pool);
            pool.ended();
            super::load::note_blocks(pool.used_blocks());
        });
        publish(&mut engine);
    }
}

impl Ticket {
    /// Advances the engine to `elapsed` after the request's arrival.
    fn sync(&self, elapsed: Duration) {
        let mut engine = self.engine.borrow_mut();
        let now = self.origin + elapsed;
        if engine.due(now) {
            self.kv.with_pool(|pool| {
                engine.advance_to(now, pool);
                super::load::note_blocks(pool.used_blocks());
            });
        }
        publish(&mut engine);
    }

    /// A deadline on the engine's time base as an offset from the request's arrival.
    fn offset(&self, due: Due) -> (Duration, bool) {
        match due {
            Due::At(t) => (t.saturating_sub(self.origin), true),
            Due::AtLeast(t) => (t.saturating_sub(self.origin), false),
        }
    }
}

/// Submits `request`'s sequence to this core's engine, arriving now, holding the cached
/// blocks of its prompt's prefix from `kv`: its ticket and its cached prompt tokens.
pub fn submit(
    args: &ServerArgs,
    kv: &Arc<KvCache>,
    request: KvRequest<'_>,
    spec: SeqSpec,
) -> Result<(Rc<Ticket>, u64), QueueFull> {
    let engine = engine(args);
    let origin = now();
    let submitted = {
        let mut e = engine.borrow_mut();
        let submitted = kv.with_pool(|pool| {
            e.advance_to(origin, pool);
            pool.at(origin);
            if e.queue_full() {
                // Refused before it is looked up: vLLM's 503 never reaches the prefix cache.
                return e.submit(origin, spec, SeqKv::default(), pool).map(|id| (id, 0));
            }
            let (blocks, cached) = pool.lookup(request);
            let id = e.submit(origin, SeqSpec { cached_tokens: cached, ..spec }, blocks, pool);
            if id.is_err() {
                pool.ended();
            }
            super::load::note_blocks(pool.used_blocks());
            id.map(|id| (id, cached))
        });
        publish(&mut e);
        submitted
    };
    let (id, cached) = submitted?;
    Ok((Rc::new(Ticket { engine, kv: kv.clone(), id, origin }), cached))
}

/// Token deadlines from the engine: the end of the step that samples each token, as offsets
/// from the request's arrival. `next` is exact once that step is simulated, a lower bound
/// before; once handed out it only ever moves later.
#[derive(Debug, Clone)]
pub struct EngineSchedule {
    ticket: Rc<Ticket>,
    next: Duration,
    exact: bool,
    /// Injected stalls, added to every deadline.
    offset: Duration,
}

impl EngineSchedule {
    /// The schedule of `ticket`'s tokens.
    pub fn new(ticket: Rc<Ticket>) -> Self {
        let mut s = EngineSchedule { ticket, next: Duration::ZERO, exact: false, offset: Duration::ZERO };
        s.refresh();
        s
    }

    /// Brings the engine up to `elapsed`: every step started by then is simulated.
    pub fn sync(&mut self, elapsed: Duration) {
        self.ticket.sync(elapsed);
        self.refresh();
    }

    fn refresh(&mut self) {
        let due = self.ticket.engine.borrow().peek(self.ticket.id);
        let (at, exact) = self.ticket.offset(due);
        self.next = self.next.max(at + self.offset);
        self.exact = exact;
    }

    /// The next token's deadline (a lower bound until its step is simulated).
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// The next token's deadline; moves on to the one after.
    pub fn advance(&mut self) -> Duration {
        let due = self.next;
        if self.exact {
            self.ticket.engine.borrow_mut().take(self.ticket.id);
            self.exact = false;
            self.refresh();
        }
        due
    }

    /// A stall: every deadline from the next on moves `by` later.
    pub fn delay(&mut self, by: Duration) {
        self.offset += by;
        self.next += by;
    }

    /// The `n`-th token's deadline (a lower bound until its step is simulated).
    pub fn deadline_of(&self, n: u64) -> Duration {
        let due = self.ticket.engine.borrow().deadline_of(self.ticket.id, n);
        self.ticket.offset(due).0 + self.offset
    }

    /// A handle that tells when the whole reply of `n` tokens is complete.
    pub fn completion(&self, n: u64) -> Completion {
        Completion { ticket: self.ticket.clone(), n, offset: self.offset }
    }
}

/// When a whole (non-streaming) reply is complete: the end of the step that samples its last
/// token. Holds its sequence in the engine until dropped.
#[derive(Debug, Clone)]
pub struct Completion {
    ticket: Rc<Ticket>,
    n: u64,
    offset: Duration,
}

impl Completion {
    /// `None` once the reply is complete at `elapsed` after arrival; else when to look again.
    pub fn pending(&self, elapsed: Duration) -> Option<Duration> {
        self.ticket.sync(elapsed);
        let due = self.ticket.engine.borrow().deadline_of(self.ticket.id, self.n);
        let (at, exact) = self.ticket.offset(due);
        let at = at + self.offset;
        (!exact || at > elapsed).then_some(at.max(elapsed))
    }
}

impl PartialEq for Completion {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.ticket, &other.ticket) && self.n == other.n
    }
}

impl Eq for Completion {}
