//! A continuous-batching scheduler after vLLM's: a running set of at most `max_num_seqs`
//! sequences, an FCFS waiting queue, a token budget per step shared by decodes and (chunked)
//! prefills, KV blocks taken as sequences grow, and preemption by recompute when blocks run out.
//!
//! KV blocks come from a [`Pool`]: the server's one paged pool, which is also the prefix cache.
//! A sequence arrives holding the cached blocks of its prompt's prefix (its prefix hit), takes
//! fresh blocks step by step as it prefills and decodes (the pool evicts least recently freed
//! cached blocks when none is free), caches its whole prompt blocks as they are computed, and
//! gives every block back when it finishes, is preempted or abandoned: they stay cached,
//! evictable. So a preemption happens exactly when the pool has neither a free nor an evictable
//! block; a preempted sequence resumes on what is still cached of its prompt (not counted as a
//! prefix-cache query, as vLLM keeps those apart). Work on the pool is per step and per
//! sequence, never per token. One difference from vLLM: a request looks its prefix up (and holds
//! the hit) on arrival rather than when first scheduled, so that the `cached_tokens` its usage
//! reports are known up front and stay true.
//!
//! [`Flavour`] changes two choices where SGLang's and TensorRT-LLM's default schedulers differ
//! from vLLM's in a way clients see: whether a step mixes prefill and decode, and whether a
//! sequence takes its blocks as it grows (and may be preempted) or all at admission (and never is).
//!
//! Sans-IO: time is passed in. Steps are simulated lazily: [`Engine::advance_to`] commits every
//! step that starts by `now`, and a step starting at `s` holds the sequences submitted before
//! `s`. A committed step's end is the deadline of every token it samples, and never changes.

use std::{collections::VecDeque, time::Duration};

use super::StepTime;
use crate::sim::kv::{BlockHash, BlockPool};

/// The scheduler's limits and timing.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most sequences in the running set (`--max-num-seqs`).
    pub max_num_seqs: usize,
    /// Most tokens computed per step (`--max-num-batched-tokens`).
    pub max_num_batched_tokens: u64,
    /// Most sequences waiting before new ones are refused (`--max-num-queued-requests`).
    pub max_num_queued: Option<usize>,
    /// The step-time model.
    pub step: StepTime,
    /// Tokens per KV block (the pool's).
    pub block_size: u64,
    /// Order the queue (and choose preemption victims) by priority, then arrival.
    pub by_priority: bool,
    /// Order the waiting by their cached prompt tokens, most first (SGLang's `lpm`), after
    /// priority and before arrival.
    pub longest_prefix_first: bool,
    /// Whose scheduler this is, where they differ in a way clients see.
    pub flavour: Flavour,
}

/// Where the engines' default schedulers differ in a way clients can see.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavour {
    /// vLLM: each step mixes decodes and prefill chunks; blocks are taken as sequences grow,
    /// and the newest is preempted when they run out.
    #[default]
    Vllm,
    /// SGLang: a step is either a prefill batch or a decode batch, never both, and prefill
    /// goes first when new sequences wait: running streams pause for it.
    Sglang,
    /// TensorRT-LLM's GUARANTEED_NO_EVICT: a sequence is admitted only when the blocks of its
    /// whole prompt and most output can be taken at once, so none is ever preempted; the rest
    /// wait in the queue.
    Trtllm,
}

/// A sequence to run.
#[derive(Debug, Clone, Copy)]
pub struct SeqSpec {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Of them, those found in the prefix cache (not computed on first admission).
    pub cached_tokens: u64,
    /// Tokens to generate (at least 1).
    pub output_tokens: u64,
    /// The most it may generate (its `max_tokens`; at least `output_tokens`): what TRT-LLM
    /// reserves blocks for.
    pub max_output_tokens: u64,
    /// Who it belongs to, for per-model gauges.
    pub tag: u32,
    /// Lower runs first when the engine orders by priority.
    pub priority: i64,
}

/// Where the engine's KV blocks come from: one paged pool that is also the prefix cache.
pub trait Pool {
    /// Blocks a new allocation can take: free, or cached by no running sequence (evictable).
    fn available(&self) -> u64;
    /// Takes up to `n` blocks (evicting the least recently freed cached ones), appended to
    /// `blocks`.
    fn allocate(&mut self, n: u64, blocks: &mut Vec<u32>);
    /// Gives blocks back; those that cache a prefix stay cached, evictable.
    fn release(&mut self, blocks: &[u32]);
    /// Caches `kv.blocks[from..to]`, whole prompt blocks just computed, under their hashes.
    fn cache(&mut self, kv: &SeqKv, from: usize, to: usize);
    /// Takes the cached blocks of the longest prefix of `hashes`, at most `max_blocks` (a
    /// preempted sequence resuming; not counted as a prefix-cache query).
    fn reuse(&mut self, hashes: &[BlockHash], max_blocks: usize) -> Vec<u32>;
    /// The engine's time is `now`: what follows happens then (for the blocks' residency).
    fn clock(&mut self, _now: Duration) {}
}

impl Pool for BlockPool {
    fn available(&self) -> u64 {
        u64::from(BlockPool::available(self))
    }

    fn allocate(&mut self, n: u64, blocks: &mut Vec<u32>) {
        BlockPool::allocate(self, n, blocks);
    }

    fn release(&mut self, blocks: &[u32]) {
        BlockPool::release(self, blocks);
    }

    fn cache(&mut self, kv: &SeqKv, from: usize, to: usize) {
        for i in from..to {
            BlockPool::cache(self, kv.blocks[i], kv.hashes[i], i);
        }
    }

    fn reuse(&mut self, hashes: &[BlockHash], max_blocks: usize) -> Vec<u32> {
        BlockPool::reuse(self, hashes, max_blocks)
    }

    fn clock(&mut self, now: Duration) {
        self.set_clock(now.as_secs_f64());
    }
}

/// A sequence's KV: the blocks it holds (its prefix hit first) and its prompt's whole-block
/// hashes (and token ids, when KV events need them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqKv {
    /// Blocks held, in token order.
    pub blocks: Vec<u32>,
    /// The prompt's whole blocks' chained hashes (none without prefix caching).
    pub hashes: Vec<BlockHash>,
    /// The prompt's token ids (empty unless someone follows the KV events).
    pub ids: Vec<u32>,
}

/// Identifies a submitted sequence.
pub type SeqId = u32;

/// When a token is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Exactly then: the step that samples it is simulated.
    At(Duration),
    /// Not before then: its step is not simulated yet.
    AtLeast(Duration),
}

/// The queue is full: vLLM's 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A change of a sequence's state, for the gauges kept outside the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// Joined the waiting queue.
    Queued(u32),
    /// Left the queue for the running set after waiting this long (first admission only).
    Admitted(u32, Option<Duration>),
    /// Sent back to the queue, its KV freed.
    Preempted(u32),
    /// Left the running set (finished or released).
    LeftRunning(u32),
    /// Left the queue without running (released).
    LeftWaiting(u32),
    /// Refused: the queue was full.
    Rejected(u32),
    /// Sampled its last token; where its time went.
    Finished(u32, Phases),
}

/// Where a finished sequence's time went, as vLLM splits it per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phases {
    /// Arrival to the start of the first step that scheduled it.
    pub queue: Duration,
    /// That step's start to the end of the step that sampled its first token (preemptions
    /// before the first token included).
    pub prefill: Duration,
    /// First token to last (preemptions after the first token included).
    pub decode: Duration,
}

impl Phases {
    /// First scheduled to last token: prefill and decode.
    pub fn inference(&self) -> Duration {
        self.prefill + self.decode
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Running,
    Done,
}

#[derive(Debug)]
struct Seq {
    spec: SeqSpec,
    arrival: Duration,
    phase: Phase,
    /// Tokens whose KV is computed.
    computed: u64,
    /// Tokens sampled so far (kept across preemption: a resumed sequence goes on).
    generated: u64,
    /// KV blocks held, and the prompt's hashes.
    kv: SeqKv,
    /// Prompt blocks below this index are cached (or were found cached).
    cached_upto: usize,
    /// Admitted at least once.
    started: bool,
    /// When the first step that scheduled it started.
    scheduled: Duration,
    /// When its first token was sampled.
    first_token: Duration,
    /// Sampled tokens' deadlines not yet taken, oldest first.
    due: VecDeque<Duration>,
    /// Tokens taken from `due`.
    taken: u64,
}

impl Seq {
    /// Tokens that need computing before the next sample: the prompt (and, after a preemption,
    /// the output so far) in prefill, the last sampled token in decode.
    fn pending(&self) -> u64 {
        (self.spec.prompt_tokens + self.generated).saturating_sub(self.computed)
    }

    fn decoding(&self) -> bool {
        self.generated > 0 && self.pending() == 1
    }
}

/// What one step computes, as it is filled.
#[derive(Debug, Default)]
struct Batch {
    /// Tokens it may still compute.
    budget: u64,
    /// Prompt tokens it computes.
    prefill: u64,
    /// Sequences it decodes.
    decode: u64,
    /// The context tokens they attend over.
    context: u64,
    /// Σ context length (computed before the chunk plus the chunk) of its prefill chunks.
    prefill_context: u64,
    /// Σ chunk · context length of its prefill chunks.
    prefill_product: u64,
    /// It preempted someone: it admits no one.
    preempted: bool,
}

/// One engine's state.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    seqs: Vec<Option<Seq>>,
    vacant: Vec<SeqId>,
    running: Vec<SeqId>,
    waiting: VecDeque<SeqId>,
    /// When the next step may start: the end of the last one, or the time work arrived.
    clock: Duration,
    preemptions: u64,
    steps: u64,
    events: Vec<Event>,
    sampled: Vec<SeqId>,
    /// Committed steps not yet drained: tokens computed and duration of each.
    step_log: Vec<(u64, Duration)>,
    /// What the committed steps computed since the last [`Engine::take_work`].
    work: Work,
}

/// What an engine's steps computed, in the terms of vLLM's per-step performance estimate
/// (`vllm/v1/metrics/perf.py`: each scheduled sequence adds its tokens and its context length,
/// the tokens computed before this step's plus this step's).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    /// Steps (each reads the weights once).
    pub steps: u64,
    /// Tokens computed: prefill chunks and decodes.
    pub tokens: u64,
    /// Σ tokens · context length over the scheduled sequences (attention's FLOPs scale with it).
    pub token_context: u128,
    /// Σ context length over the scheduled sequences (the KV each reads).
    pub context: u64,
}

impl Work {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Work) {
        self.steps += other.steps;
        self.tokens += other.tokens;
        self.token_context += other.token_context;
        self.context += other.context;
    }
}

impl Engine {
    /// An idle engine.
    pub fn new(cfg: Config) -> Self {
        Engine {
            cfg,
            seqs: Vec::new(),
            vacant: Vec::new(),
            running: Vec::new(),
            waiting: VecDeque::new(),
            clock: Duration::ZERO,
            preemptions: 0,
            steps: 0,
            events: Vec::new(),
            sampled: Vec::new(),
            step_log: Vec::new(),
            work: Work::default(),
        }
    }

    /// The limits and timing.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Queues `spec` at `now`, holding `kv` (its prefix hit: `spec.cached_tokens` worth of
    /// blocks), or refuses it when the queue is full (giving the blocks back).
    pub fn submit(
        &mut self,
        now: Duration,
        spec: SeqSpec,
        kv: SeqKv,
        pool: &mut impl Pool,
    ) -> Result<SeqId, QueueFull> {
        self.advance_to(now, pool);
        if self.queue_full() {
            pool.release(&kv.blocks);
            self.events.push(Event::Rejected(spec.tag));
            return Err(QueueFull);
        }
        if self.running.is_empty() && self.waiting.is_empty() {
            self.clock = self.clock.max(now);
        }
        let spec = SeqSpec {
            output_tokens: spec.output_tokens.max(1),
            max_output_tokens: spec.max_output_tokens.max(spec.output_tokens).max(1),
            cached_tokens: spec.cached_tokens.min(spec.prompt_tokens.saturating_sub(1)),
            ..spec
        };
        let seq = Seq {
            spec,
            arrival: now,
            phase: Phase::Waiting,
            computed: 0,
            generated: 0,
            cached_upto: kv.blocks.len(),
            kv,
            started: false,
            scheduled: Duration::ZERO,
            first_token: Duration::ZERO,
            due: VecDeque::new(),
            taken: 0,
        };
        let id = match self.vacant.pop() {
            Some(id) => {
                self.seqs[id as usize] = Some(seq);
                id
            }
            None => {
                self.seqs.push(Some(seq));
                (self.seqs.len() - 1) as SeqId
            }
        };
        self.enqueue(id, false);
        self.events.push(Event::Queued(spec.tag));
        self.advance_to(now, pool);
        Ok(id)
    }

    /// Whether the waiting queue is at `max_num_queued` (a submission now would be refused).
    pub fn queue_full(&self) -> bool {
        self.cfg.max_num_queued.is_some_and(|max| self.waiting.len() >= max)
    }

    /// Whether [`Engine::advance_to`] `now` would simulate a step (the caller need not fetch
    /// the pool otherwise).
    pub fn due(&self, now: Duration) -> bool {
        self.clock <= now && !(self.running.is_empty() && self.waiting.is_empty())
    }

    /// Simulates every step that starts by `now`.
    pub fn advance_to(&mut self, now: Duration, pool: &mut impl Pool) {
        while self.due(now) {
            if !self.step(pool) {
                break;
            }
        }
    }

    /// The deadline of `id`'s next untaken token.
    pub fn peek(&self, id: SeqId) -> Due {
        let seq = self.seq(id);
        match seq.due.front() {
            Some(&at) => Due::At(at),
            None => Due::AtLeast(self.clock + self.cfg.step.min_step()),
        }
    }

    /// Takes `id`'s next token: the stream has sent it.
    pub fn take(&mut self, id: SeqId) {
        let seq = self.seq_mut(id);
        if seq.due.pop_front().is_some() {
            seq.taken += 1;
        }
    }

    /// The deadline of `id`'s `n`-th token (1-based), without taking any.
    pub fn deadline_of(&self, id: SeqId, n: u64) -> Due {
        let seq = self.seq(id);
        let n = n.clamp(1, seq.spec.output_tokens);
        match n.checked_sub(seq.taken + 1).and_then(|i| seq.due.get(i as usize)) {
            Some(&at) => Due::At(at),
            None if n <= seq.taken => Due::At(Duration::ZERO),
            None => {
                let steps = (n - seq.generated) as u32;
                Due::AtLeast(self.clock + self.cfg.step.min_step() * steps)
            }
        }
    }

    /// `id` is gone (finished, or its client left): it leaves the running set or the queue
    /// and frees its blocks at once.
    pub fn release(&mut self, id: SeqId, pool: &mut impl Pool) {
        let Some(seq) = self.seqs.get_mut(id as usize).and_then(Option::take) else { return };
        pool.release(&seq.kv.blocks);
        match seq.phase {
            Phase::Running => {
                self.running.retain(|&r| r != id);
                self.events.push(Event::LeftRunning(seq.spec.tag));
            }
            Phase::Waiting => {
                self.waiting.retain(|&w| w != id);
                self.events.push(Event::LeftWaiting(seq.spec.tag));
            }
            Phase::Done => {}
        }
        self.vacant.push(id);
    }

    /// State changes since the last call.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Steps committed since the last call: tokens computed (prefill chunks and decodes) and
    /// duration of each.
    pub fn drain_steps(&mut self) -> std::vec::Drain<'_, (u64, Duration)> {
        self.step_log.drain(..)
    }

    /// What the steps committed since the last call computed.
    pub fn take_work(&mut self) -> Work {
        std::mem::take(&mut self.work)
    }

    /// Sequences running and waiting.
    pub fn counts(&self) -> (usize, usize) {
        (self.running.len(), self.waiting.len())
    }

    /// Preemptions since start.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// Steps simulated since start.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn seq(&self, id: SeqId) -> &Seq {
        self.seqs[id as usize].as_ref().expect("a live sequence")
    }

    fn seq_mut(&mut self, id: SeqId) -> &mut Seq {
        self.seqs[id as usize].as_mut().expect("a live sequence")
    }

    fn blocks_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.cfg.block_size.max(1))
    }

    /// Simulates the step starting at `self.clock`; false when it could schedule nothing.
    fn step(&mut self, pool: &mut impl Pool) -> bool {
        let mut batch = Batch { budget: self.cfg.max_num_batched_tokens.max(1), ..Batch::default() };
        self.sampled.clear();
        pool.clock(self.clock);
        if self.cfg.flavour == Flavour::Sglang {
            // A prefill batch if any sequence is mid-prefill or a waiting one can start; else
            // a decode batch.
            self.run(&mut batch, Some(false), pool);
            self.admit(&mut batch, pool);
            if batch.prefill == 0 {
                self.run(&mut batch, Some(true), pool);
            }
        } else {
            self.run(&mut batch, None, pool);
            self.admit(&mut batch, pool);
        }
        self.finish(&batch, pool)
    }

    /// Runs the running sequences in admission order (only those decoding, or only those
    /// not, when `only` says); the newest make room when blocks run out.
    fn run(&mut self, batch: &mut Batch, only: Option<bool>, pool: &mut impl Pool) {
        let mut i = 0;
        while i < self.running.len() && batch.budget > 0 {
            let id = self.running[i];
            let (chunk, grow, decoding, computed) = {
                let seq = self.seq(id);
                let chunk = seq.pending().min(batch.budget);
                let held = seq.kv.blocks.len() as u64;
                (chunk, self.blocks_for(seq.computed + chunk).saturating_sub(held), seq.decoding(), seq.computed)
            };
            if only.is_some_and(|d| d != decoding) {
                i += 1;
                continue;
            }
            while grow > pool.available() && self.running.len() > i + 1 {
                let victim = self.victim(i);
                self.preempt(victim, pool);
                batch.preempted = true;
            }
            if grow > pool.available() && i > 0 {
                let me = self.running.pop().expect("itself");
                self.preempt(me, pool);
                batch.preempted = true;
                break;
            }
            // The oldest sequence always runs, short of blocks if it alone exceeds the pool.
            self.take_blocks(id, grow, pool);
            if decoding {
                batch.decode += 1;
                batch.context += computed;
            } else {
                batch.prefill += chunk;
                batch.prefill_context += computed + chunk;
                batch.prefill_product += chunk * (computed + chunk);
            }
            batch.budget -= chunk;
            self.compute(id, chunk, pool);
            i += 1;
        }
    }

    /// Admits waiting sequences while the budget, the running set and the blocks allow,
    /// unless this step had to preempt (as vLLM does).
    fn admit(&mut self, batch: &mut Batch, pool: &mut impl Pool) {
        let start = self.clock;
        while !batch.preempted && batch.budget > 0 && self.running.len() < self.cfg.max_num_seqs.max(1) {
            let Some(&id) = self.waiting.front() else { break };
            if self.seq(id).started {
                self.reuse_prefix(id, pool);
            }
            let (chunk, grow) = {
                let seq = self.seq(id);
                let base = if seq.started { seq.computed } else { seq.spec.cached_tokens };
                let chunk = (seq.spec.prompt_tokens + seq.generated - base).min(batch.budget);
                let reach = match self.cfg.flavour {
                    // Its whole life's blocks at once: it never needs another.
                    Flavour::Trtllm => seq.spec.prompt_tokens + seq.spec.max_output_tokens,
                    _ => base + chunk,
                };
                (chunk, self.blocks_for(reach).saturating_sub(seq.kv.blocks.len() as u64))
            };
            if grow > pool.available() && !self.running.is_empty() {
                // A resumed one gives its prefix back until it can run (a new one keeps its hit).
                let seq = self.seq_mut(id);
                if seq.started {
                    let blocks = std::mem::take(&mut seq.kv.blocks);
                    (seq.computed, seq.cached_upto) = (0, 0);
                    pool.release(&blocks);
                }
                break;
            }
            self.waiting.pop_front();
            self.running.push(id);
            self.take_blocks(id, grow, pool);
            let seq = self.seq_mut(id);
            if !seq.started {
                seq.computed = seq.spec.cached_tokens;
            }
            seq.phase = Phase::Running;
            let queued = (!seq.started).then(|| start.saturating_sub(seq.arrival));
            if !seq.started {
                seq.scheduled = start;
            }
            seq.started = true;
            let tag = seq.spec.tag;
            self.events.push(Event::Admitted(tag, queued));
            let base = self.seq(id).computed;
            batch.prefill += chunk;
            batch.prefill_context += base + chunk;
            batch.prefill_product += chunk * (base + chunk);
            batch.budget -= chunk;
            self.compute(id, chunk, pool);
        }
    }

    /// Ends the step: its duration from the batch, a token for every sequence it sampled, and
    /// the finished ones leave. False when it scheduled nothing.
    fn finish(&mut self, batch: &Batch, pool: &mut impl Pool) -> bool {
        let (start, prefill) = (self.clock, batch.prefill);
        if self.sampled.is_empty() && prefill == 0 {
            return false;
        }
        let end = start + self.cfg.step.duration(prefill, batch.decode, batch.context);
        self.clock = end;
        self.steps += 1;
        self.step_log.push((prefill + batch.decode, end - start));
        // A decode computes one token over its context and itself (vLLM's context_len).
        let decode_context = batch.context + batch.decode;
        self.work.add(&Work {
            steps: 1,
            tokens: prefill + batch.decode,
            token_context: u128::from(batch.prefill_product) + u128::from(decode_context),
            context: batch.prefill_context + decode_context,
        });
        pool.clock(end);
        for k in 0..self.sampled.len() {
            let id = self.sampled[k];
            let seq = self.seq_mut(id);
            seq.generated += 1;
            seq.due.push_back(end);
            if seq.generated == 1 {
                seq.first_token = end;
            }
            if seq.generated >= seq.spec.output_tokens {
                seq.phase = Phase::Done;
                let phases = Phases {
                    queue: seq.scheduled.saturating_sub(seq.arrival),
                    prefill: seq.first_token - seq.scheduled,
                    decode: end - seq.first_token,
                };
                let tag = seq.spec.tag;
                let blocks = std::mem::take(&mut seq.kv.blocks);
                pool.release(&blocks);
                self.running.retain(|&r| r != id);
                self.events.push(Event::LeftRunning(tag));
                self.events.push(Event::Finished(tag, phases));
            }
        }
        true
    }

    /// Computes `chunk` of `id`'s pending tokens (caching the prompt blocks this fills); it
    /// samples a token when none remain.
    fn compute(&mut self, id: SeqId, chunk: u64, pool: &mut impl Pool) {
        let bs = self.cfg.block_size.max(1);
        let seq = self.seq_mut(id);
        seq.computed += chunk;
        let full = ((seq.computed / bs) as usize).min(seq.kv.hashes.len()).min(seq.kv.blocks.len());
        if full > seq.cached_upto {
            pool.cache(&seq.kv, seq.cached_upto, full);
            seq.cached_upto = full;
        }
        if seq.pending() == 0 {
            self.sampled.push(id);
        }
    }

    /// A preempted sequence about to resume takes back what is still cached of its computed
    /// prompt, and recomputes only the rest.
    fn reuse_prefix(&mut self, id: SeqId, pool: &mut impl Pool) {
        let bs = self.cfg.block_size.max(1);
        let seq = self.seq_mut(id);
        let limit = ((seq.spec.prompt_tokens + seq.generated).saturating_sub(1) / bs) as usize;
        seq.kv.blocks = pool.reuse(&seq.kv.hashes, limit);
        seq.cached_upto = seq.kv.blocks.len();
        seq.computed = seq.kv.blocks.len() as u64 * bs;
    }

    fn take_blocks(&mut self, id: SeqId, n: u64, pool: &mut impl Pool) {
        if n > 0 {
            pool.allocate(n, &mut self.seq_mut(id).kv.blocks);
        }
    }

    /// Orders by (priority, most cached prompt tokens, arrival), each part when the engine
    /// orders by it; otherwise a new sequence goes last and a preempted one first.
    fn key(&self, id: SeqId) -> (i64, std::cmp::Reverse<u64>, Duration) {
        let seq = self.seq(id);
        let priority = if self.cfg.by_priority { seq.spec.priority } else { 0 };
        let cached = if self.cfg.longest_prefix_first { seq.spec.cached_tokens } else { 0 };
        (priority, std::cmp::Reverse(cached), seq.arrival)
    }

    fn enqueue(&mut self, id: SeqId, preempted: bool) {
        if !self.cfg.by_priority && !self.cfg.longest_prefix_first {
            return if preempted { self.waiting.push_front(id) } else { self.waiting.push_back(id) };
        }
        let key = self.key(id);
        let at = self.waiting.iter().position(|&w| self.key(w) > key).unwrap_or(self.waiting.len());
        self.waiting.insert(at, id);
    }

    /// The running sequence after index `i` to preempt: the newest, or by priority the one
    /// that would run last.
    fn victim(&mut self, i: usize) -> SeqId {
        let at = match self.cfg.by_priority {
            false => self.running.len() - 1,
            true => (i + 1..self.running.len()).max_by_key(|&j| self.key(self.running[j])).expect("a later one"),
        };
        self.running.remove(at)
    }

    /// Recompute preemption: `id` frees its KV (its computed prompt blocks stay cached,
    /// evictable) and goes back to the front of the queue.
    fn preempt(&mut self, id: SeqId, pool: &mut impl Pool) {
        let seq = self.seq_mut(id);
        let tag = seq.spec.tag;
        let blocks = std::mem::take(&mut seq.kv.blocks);
        seq.computed = 0;
        seq.cached_upto = 0;
        seq.phase = Phase::Waiting;
        pool.release(&blocks);
        self.enqueue(id, true);
        self.preemptions += 1;
        self.events.push(Event::Preempted(tag));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// An engine and the pool it takes blocks from.
    struct Sim {
        e: Engine,
        pool: BlockPool,
    }

    impl std::ops::Deref for Sim {
        type Target = Engine;
        fn deref(&self) -> &Engine {
            &self.e
        }
    }

    impl std::ops::DerefMut for Sim {
        fn deref_mut(&mut self) -> &mut Engine {
            &mut self.e
        }
    }

    impl Sim {
        fn submit(&mut self, now: Duration, spec: SeqSpec) -> Result<SeqId, QueueFull> {
            self.e.submit(now, spec, SeqKv::default(), &mut self.pool)
        }

        /// Submits a prompt of `ids` (its prefix looked up in the pool, as the server does).
        fn submit_prompt(&mut self, now: Duration, ids: &[u32], output: u64) -> (SeqId, u64) {
            let hashes = crate::sim::kv::block_hashes(ids, 16, 0);
            let blocks = self.pool.lookup(&hashes, ids.len() as u64);
            let cached = blocks.len() as u64 * 16;
            let spec = SeqSpec { cached_tokens: cached, ..spec(ids.len() as u64, output) };
            let kv = SeqKv { blocks, hashes, ids: Vec::new() };
            (self.e.submit(now, spec, kv, &mut self.pool).unwrap(), cached)
        }

        fn advance_to(&mut self, now: Duration) {
            self.e.advance_to(now, &mut self.pool);
        }

        fn release(&mut self, id: SeqId) {
            self.e.release(id, &mut self.pool);
        }
    }

    /// 10 ms per step plus 1 ms per 100 prompt tokens; `seqs` running at most; `blocks` of 16
    /// tokens.
    fn engine(seqs: usize, blocks: u32) -> Sim {
        let e = Engine::new(Config {
            max_num_seqs: seqs,
            max_num_batched_tokens: 512,
            max_num_queued: None,
            step: StepTime { a: 10_000.0, b: 10.0, c: 0.0, d: 0.0 },
            block_size: 16,
            by_priority: false,
            longest_prefix_first: false,
            flavour: Flavour::Vllm,
        });
        Sim { e, pool: BlockPool::new(16, blocks) }
    }

    fn spec(prompt: u64, output: u64) -> SeqSpec {
        SeqSpec {
            prompt_tokens: prompt,
            cached_tokens: 0,
            output_tokens: output,
            max_output_tokens: output,
            tag: 0,
            priority: 0,
        }
    }

    /// Takes every token of `id` up to `until`, returning their deadlines.
    fn drain(e: &mut Sim, id: SeqId, until: Duration) -> Vec<Duration> {
        e.advance_to(until);
        let mut out = Vec::new();
        while let Due::At(at) = e.peek(id) {
            out.push(at);
            e.take(id);
        }
        out
    }

    #[test]
    fn one_sequence_prefills_then_decodes_step_by_step() {
        let mut e = engine(4, 100);
        let id = e.submit(Duration::ZERO, spec(100, 3)).unwrap();
        assert_eq!(e.counts(), (1, 0));
        assert_eq!(e.peek(id), Due::At(11 * MS), "prefill step: 10 ms + 100 × 10 µs");
        assert_eq!(drain(&mut e, id, Duration::from_secs(1)), [11 * MS, 21 * MS, 31 * MS]);
        assert_eq!(e.counts(), (0, 0), "done: it left the running set");
    }

    #[test]
    fn each_committed_step_logs_its_tokens_and_duration_once() {
        let mut e = engine(4, 100);
        let a = e.submit(Duration::ZERO, spec(100, 3)).unwrap();
        e.submit(15 * MS, spec(40, 1)).unwrap();
        drain(&mut e, a, Duration::from_secs(1));
        let steps: Vec<_> = e.drain_steps().collect();
        // a's prefill; a's decode (b arrives during it); a's last decode beside b's prompt.
        assert_eq!(steps, [(100, 11 * MS), (1, 10 * MS), (41, Duration::from_micros(10_400))]);
        assert_eq!(e.drain_steps().count(), 0, "drained");
    }

    #[test]
    fn work_counts_each_chunk_and_decode_over_its_context_once() {
        let mut e = engine(8, 1000);
        let long = e.submit(Duration::ZERO, spec(1000, 2)).unwrap();
        drain(&mut e, long, Duration::from_secs(1));
        // Chunks of 512 and 488 (contexts 512 and 1000), then one decode over 1001.
        let want =
            Work { steps: 3, tokens: 1001, token_context: 512 * 512 + 488 * 1000 + 1001, context: 512 + 1000 + 1001 };
        assert_eq!(e.e.take_work(), want);
        assert_eq!(e.e.take_work(), Work::default(), "taken once");
    }

    #[test]
    fn a_queue_forms_past_max_num_seqs_and_drains_fcfs() {
        let mut e = engine(2, 1000);
        let ids: Vec<_> = (0..4).map(|_| e.submit(Duration::ZERO, spec(0, 3)).unwrap()).collect();
        assert_eq!(e.counts(), (1, 3), "the first step started with the first arrival");
        e.advance_to(10 * MS);
        assert_eq!(e.counts(), (2, 2), "the next step admits one more: the set is full");
        let firsts: Vec<_> = ids.iter().map(|&id| drain(&mut e, id, Duration::from_secs(1))[0]).collect();
        // c waits for a's last token (the step ending at 30 ms), d for b's.
        assert_eq!(firsts, [10 * MS, 20 * MS, 40 * MS, 50 * MS]);
        assert_eq!(e.counts(), (0, 0));
    }

    #[test]
    fn steps_in_flight_are_not_joined_later_deadlines_never_move_earlier() {
        let mut e = engine(8, 1000);
        let a = e.submit(Duration::ZERO, spec(0, 3)).unwrap();
        let b = e.submit(5 * MS, spec(0, 1)).unwrap();
        assert_eq!(e.peek(a), Due::At(10 * MS));
        assert_eq!(e.peek(b), Due::AtLeast(20 * MS), "b joins the step after the one in flight");
        e.advance_to(10 * MS);
        assert_eq!(e.peek(b), Due::At(20 * MS));
        e.release(b);
        assert_eq!(drain(&mut e, a, Duration::from_secs(1)), [10 * MS, 20 * MS, 30 * MS]);
    }

    #[test]
    fn chunked_prefill_shares_the_token_budget() {
        let mut e = engine(8, 1000);
        let long = e.submit(Duration::ZERO, spec(1000, 1)).unwrap();
        // 512 + 488 tokens over two steps: 15.12 ms and 14.88 ms.
        assert_eq!(drain(&mut e, long, Duration::from_secs(1)), [Duration::from_micros(15_120 + 14_880)]);
    }

    #[test]
    fn blocks_running_out_preempt_the_newest_which_resumes_its_tokens() {
        // 4 blocks of 16 tokens; two sequences of 16 + 40 tokens cannot both fit.
        let mut e = engine(8, 4);
        let a = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        let b = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        let mut now = Duration::ZERO;
        while got_a.len() < 40 || got_b.len() < 40 {
            now += MS;
            got_a.extend(drain(&mut e, a, now));
            got_b.extend(drain(&mut e, b, now));
        }
        assert!(e.preemptions() > 0, "the cache ran out");
        assert!(got_a.windows(2).all(|w| w[0] < w[1]) && got_b.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(e.pool.used_blocks(), 0, "every block came back");
        assert_eq!(e.counts(), (0, 0));
    }

    #[test]
    fn the_queue_cap_refuses_and_released_sequences_leave_at_once() {
        let mut e = engine(1, 100);
        e.cfg.max_num_queued = Some(1);
        let a = e.submit(Duration::ZERO, spec(0, 100)).unwrap();
        let b = e.submit(Duration::ZERO, spec(0, 2)).unwrap();
        assert_eq!(e.submit(Duration::ZERO, spec(0, 1)), Err(QueueFull));
        assert!(e.drain_events().any(|ev| ev == Event::Rejected(0)));
        e.release(a);
        e.advance_to(10 * MS);
        assert_eq!(e.counts(), (1, 0), "b took a's place at the next step");
        assert_eq!(e.peek(b), Due::At(20 * MS));
    }

    #[test]
    fn cached_prefix_tokens_are_not_prefilled() {
        let mut e = engine(8, 100);
        let id = e.submit(Duration::ZERO, SeqSpec { cached_tokens: 96, ..spec(100, 1) }).unwrap();
        assert_eq!(e.peek(id), Due::At(Duration::from_micros(10_040)));
    }

    #[test]
    fn by_priority_the_lowest_value_is_admitted_first() {
        let mut e = engine(1, 100);
        e.cfg.by_priority = true;
        let first = e.submit(Duration::ZERO, spec(0, 2)).unwrap();
        let low = e.submit(Duration::ZERO, SeqSpec { priority: 5, ..spec(0, 1) }).unwrap();
        let high = e.submit(Duration::ZERO, SeqSpec { priority: -1, ..spec(0, 1) }).unwrap();
        e.advance_to(Duration::from_secs(1));
        assert_eq!(e.peek(first), Due::At(10 * MS));
        assert_eq!(e.peek(high), Due::At(30 * MS), "high waits only for the running one");
        assert_eq!(e.peek(low), Due::At(40 * MS));
    }

    #[test]
    fn a_whole_reply_is_due_at_its_last_step() {
        let mut e = engine(8, 100);
        let id = e.submit(Duration::ZERO, spec(0, 5)).unwrap();
        assert_eq!(e.deadline_of(id, 5), Due::AtLeast(50 * MS), "a lower bound before it is simulated");
        e.advance_to(Duration::from_secs(1));
        assert_eq!(e.deadline_of(id, 5), Due::At(50 * MS));
    }

    fn finished(e: &mut Engine) -> Vec<Phases> {
        e.drain_events().filter_map(|ev| if let Event::Finished(_, p) = ev { Some(p) } else { None }).collect()
    }

    #[test]
    fn phases_split_queue_prefill_and_decode_as_simulated() {
        let mut e = engine(1, 1000);
        let a = e.submit(Duration::ZERO, spec(100, 3)).unwrap();
        let b = e.submit(2 * MS, spec(0, 2)).unwrap();
        drain(&mut e, a, Duration::from_secs(1));
        drain(&mut e, b, Duration::from_secs(1));
        let phases = finished(&mut e);
        // a: prefill step 0–11 ms, decodes to 31 ms; b waits from 2 ms until the step at 31 ms.
        assert_eq!(phases[0], Phases { queue: Duration::ZERO, prefill: 11 * MS, decode: 20 * MS });
        assert_eq!(phases[1], Phases { queue: 29 * MS, prefill: 10 * MS, decode: 10 * MS });
        assert_eq!(phases[1].inference(), 20 * MS);
    }

    #[test]
    fn a_preempted_sequences_phases_still_add_up_to_its_life() {
        let mut e = engine(8, 4);
        let a = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        let b = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        let mut last = [Duration::ZERO; 2];
        let mut now = Duration::ZERO;
        while e.counts() != (0, 0) {
            now += MS;
            for (k, id) in [a, b].into_iter().enumerate() {
                if let Some(&t) = drain(&mut e, id, now).last() {
                    last[k] = t;
                }
            }
        }
        assert!(e.preemptions() > 0);
        let phases = finished(&mut e);
        assert_eq!(phases.len(), 2);
        for p in &phases {
            assert!(last.contains(&(p.queue + p.inference())), "arrival at 0 to the last token: {p:?} {last:?}");
        }
    }

    fn ids(n: u32, seed: u32) -> Vec<u32> {
        (0..n).map(|i| i.wrapping_mul(2_654_435_761).wrapping_add(seed) % 50_000).collect()
    }

    #[test]
    fn a_finished_prompt_stays_cached_and_its_repeat_holds_the_same_blocks() {
        let mut e = engine(8, 100);
        let prompt = ids(40, 1);
        let (a, cached) = e.submit_prompt(Duration::ZERO, &prompt, 2);
        assert_eq!(cached, 0);
        assert_eq!(e.pool.used_blocks(), 3, "40 tokens prefilled in one step: 3 blocks held");
        drain(&mut e, a, Duration::from_secs(1));
        assert_eq!((e.pool.used_blocks(), e.pool.cached_blocks()), (0, 2), "its two whole blocks stay cached");
        let at = Duration::from_secs(1);
        let (b, cached) = e.submit_prompt(at, &prompt, 1);
        assert_eq!(cached, 32, "two whole blocks hit");
        assert_eq!(e.peek(b), Due::At(at + Duration::from_micros(10_080)), "only 8 tokens prefilled");
        assert_eq!(e.pool.stats().evictions, 0);
        e.release(b);
        assert_eq!(e.pool.used_blocks(), 0);
    }

    /// Runs every sequence to its end, a millisecond at a time.
    fn run_all(e: &mut Sim, ids: &[SeqId]) {
        let mut now = Duration::ZERO;
        while e.counts() != (0, 0) {
            now += MS;
            for &id in ids {
                drain(e, id, now);
            }
        }
    }

    #[test]
    fn evicted_blocks_residency_is_on_the_simulated_clock() {
        let mut e = engine(1, 4);
        let prompt = |seed: u32, n: u32| (0..n).map(|i| i * 7 + seed).collect::<Vec<u32>>();
        let (a, _) = e.submit_prompt(Duration::ZERO, &prompt(1, 32), 1);
        e.advance_to(50 * MS);
        e.release(a);
        // At 100 ms a 64-token prompt needs all four blocks: a's two cached ones are evicted
        // then, 100 ms after the step that allocated them started.
        let (b, _) = e.submit_prompt(100 * MS, &prompt(2, 64), 1);
        let r = e.pool.residency();
        assert_eq!(e.pool.stats().evictions, 2);
        assert_eq!((r.lifetime.cumulative().last(), r.idle.cumulative().last()), (Some(2), Some(2)));
        assert!((r.lifetime.sum() - 0.2).abs() < 1e-9 && (r.idle.sum() - 0.2).abs() < 1e-9, "{r:?}");
        e.release(b);
    }

    #[test]
    fn cached_blocks_are_evicted_before_anyone_is_preempted() {
        // 8 blocks; a finished 64-token prompt leaves 4 of them cached (evictable).
        let mut e = engine(8, 8);
        let (a, _) = e.submit_prompt(Duration::ZERO, &ids(64, 2), 1);
        run_all(&mut e, &[a]);
        assert_eq!(e.pool.cached_blocks(), 4);
        // Two sequences of 16 + 48 tokens need 4 blocks each: the whole pool, evicting all 4.
        let (b, c) = (e.submit(Duration::ZERO, spec(16, 48)).unwrap(), e.submit(Duration::ZERO, spec(16, 48)).unwrap());
        run_all(&mut e, &[b, c]);
        assert_eq!((e.pool.stats().evictions, e.preemptions()), (4, 0), "evicted, never preempted");
        // Three such sequences cannot fit: preemption, once nothing is left to evict.
        let more: Vec<_> = (0..3).map(|_| e.submit(Duration::ZERO, spec(16, 48)).unwrap()).collect();
        run_all(&mut e, &more);
        assert!(e.preemptions() > 0);
        assert_eq!(e.pool.used_blocks(), 0, "every block came back");
    }

    #[test]
    fn a_preempted_sequences_computed_prompt_stays_cached() {
        // 5 blocks: a (16 + 40 tokens) and b (32 + 40) cannot both finish; b, the newer, yields.
        let mut e = engine(8, 5);
        let a = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        let (b, _) = e.submit_prompt(Duration::ZERO, &ids(32, 3), 40);
        let mut now = Duration::ZERO;
        while e.preemptions() == 0 {
            now += MS;
            drain(&mut e, a, now);
            drain(&mut e, b, now);
        }
        assert_eq!(e.pool.cached_blocks(), 2, "b's two prompt blocks, computed, stay cached");
        assert_eq!(e.pool.used_blocks(), 3, "only a holds blocks now (16 + 30-odd tokens)");
        let cached = e.pool.stats();
        run_all(&mut e, &[a, b]);
        assert_eq!(e.pool.used_blocks(), 0);
        assert_eq!(e.pool.stats().requests, cached.requests, "resuming is not counted as a lookup");
        assert_eq!(e.pool.cached_blocks(), 2, "cached once, never twice");
    }

    #[test]
    fn a_resumed_sequence_recomputes_only_what_is_no_longer_cached() {
        // 3 blocks: a (1 + 3 tokens) takes 1, b's 32-token prompt 2; b's first decode needs a
        // third and is preempted; once a is done, b resumes on its two cached prompt blocks.
        let mut e = engine(8, 3);
        let a = e.submit(Duration::ZERO, spec(1, 3)).unwrap();
        let (b, _) = e.submit_prompt(Duration::ZERO, &ids(32, 3), 2);
        let us = Duration::from_micros;
        assert_eq!(drain(&mut e, a, Duration::from_secs(1)), [us(10_010), us(20_330), us(30_330)]);
        // Steps: a's prefill, b's (32 tokens, 10.32 ms) beside a's decode, a's last decode (b
        // preempted), then b's resume: 1 token recomputed, not 33 (10.01 ms, not 10.33).
        assert_eq!(drain(&mut e, b, Duration::from_secs(1)), [us(20_330), us(40_340)]);
        assert_eq!(e.preemptions(), 1);
        assert_eq!(e.pool.stats().requests, 1, "b's resume is not counted as a prefix-cache query");
    }

    #[test]
    fn trtllm_admits_only_with_blocks_for_the_whole_sequence_and_never_preempts() {
        // 4 blocks of 16 tokens; each sequence may reach 16 + 40 tokens: 4 blocks, the pool.
        let mut e = engine(8, 4);
        e.cfg.flavour = Flavour::Trtllm;
        let a = e.submit(Duration::ZERO, spec(16, 40)).unwrap();
        // b will stop after 1 token, but its max_tokens is 40: it waits all the same.
        let b = e.submit(Duration::ZERO, SeqSpec { max_output_tokens: 40, ..spec(16, 1) }).unwrap();
        assert_eq!(e.counts(), (1, 1), "b waits: a holds every block");
        assert_eq!(e.pool.used_blocks(), 4, "a reserved its whole length at once");
        let got_a = drain(&mut e, a, Duration::from_secs(1));
        let got_b = drain(&mut e, b, Duration::from_secs(1));
        assert_eq!((got_a.len(), got_b.len()), (40, 1));
        assert!(got_a.windows(2).all(|w| w[1] - w[0] == 10 * MS), "a's ITL never jumps");
        assert!(got_b[0] > got_a[39], "b started once a gave its blocks back");
        assert_eq!(e.preemptions(), 0);
        assert_eq!(e.pool.used_blocks(), 0, "every block came back");
        // The same pair under vLLM: both run at once, and one is preempted.
        let mut v = engine(8, 4);
        let (a, b) = (v.submit(Duration::ZERO, spec(16, 40)).unwrap(), v.submit(Duration::ZERO, spec(16, 40)).unwrap());
        run_all(&mut v, &[a, b]);
        assert!(v.preemptions() > 0);
    }

    /// The deadlines of a stream `a` (16 + 5 tokens, from 0) when a 400-token prompt arrives
    /// at 15 ms, under `flavour`.
    fn gaps_when_a_long_prompt_arrives(flavour: Flavour) -> Vec<Duration> {
        let mut e = engine(8, 1000);
        e.cfg.flavour = flavour;
        let a = e.submit(Duration::ZERO, spec(16, 5)).unwrap();
        let _b = e.submit(15 * MS, spec(400, 2)).unwrap();
        drain(&mut e, a, Duration::from_secs(1))
    }

    #[test]
    fn sglang_pauses_running_streams_for_a_prefill_step() {
        let us = Duration::from_micros;
        // vLLM: a's third token comes from a mixed step (a's decode beside b's 400 tokens).
        let vllm = gaps_when_a_long_prompt_arrives(Flavour::Vllm);
        assert_eq!(vllm, [us(10_160), us(20_160), us(34_160), us(44_160), us(54_160)]);
        // SGLang: b's prefill step (14 ms) runs alone, then a decode step of both.
        let sglang = gaps_when_a_long_prompt_arrives(Flavour::Sglang);
        assert_eq!(sglang, [us(10_160), us(20_160), us(44_160), us(54_160), us(64_160)]);
    }

    #[test]
    fn sglang_prefills_in_chunks_before_decoding_again() {
        // A 1000-token prompt over the 512-token budget: two prefill steps, no decode between.
        let mut e = engine(8, 1000);
        e.cfg.flavour = Flavour::Sglang;
        let a = e.submit(Duration::ZERO, spec(16, 3)).unwrap();
        let b = e.submit(5 * MS, spec(1000, 1)).unwrap();
        let us = Duration::from_micros;
        let got_b = drain(&mut e, b, Duration::from_secs(1));
        // a's prefill to 10.16 ms; b's chunks 15.12 and 14.88 ms; then a decodes.
        assert_eq!(got_b, [us(10_160 + 15_120 + 14_880)]);
        assert_eq!(drain(&mut e, a, Duration::from_secs(1)), [us(10_160), us(50_160), us(60_160)]);
    }

    /// Whether, behind a busy sequence, a prompt whose prefix is cached starts before a cold
    /// one that arrived first.
    fn cached_one_overtakes(lpm: bool) -> bool {
        let mut e = engine(1, 100);
        e.cfg.longest_prefix_first = lpm;
        let prompt = ids(64, 5);
        let (warm, _) = e.submit_prompt(Duration::ZERO, &prompt, 1);
        run_all(&mut e, &[warm]);
        let at = Duration::from_secs(1);
        let busy = e.submit(at, spec(16, 3)).unwrap();
        let cold = e.submit(at, spec(64, 1)).unwrap();
        let (hot, cached) = e.submit_prompt(at, &prompt, 1);
        assert_eq!(cached, 48);
        drain(&mut e, busy, 2 * at);
        drain(&mut e, hot, 2 * at)[0] < drain(&mut e, cold, 2 * at)[0]
    }

    #[test]
    fn lpm_admits_the_longest_cached_prefix_first() {
        assert!(cached_one_overtakes(true));
        assert!(!cached_one_overtakes(false), "fcfs: arrival order");
    }
}
