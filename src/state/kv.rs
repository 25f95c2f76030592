//! The server's KV cache with prefix caching: one [`BlockPool`] shared by every core, behind a
//! lock taken once when a request is admitted and once when it ends, never per token.
//!
//! Why one pool and not one per core: with `--engine off` there is no per-core engine, and
//! connections land on cores as the kernel's `SO_REUSEPORT` hash decides, so per-core pools
//! would make a repeated prompt hit or miss by the luck of which core accepted its connection.
//! One pool makes the cache behave like a single engine's.
//!
//! With `--engine`, the same pool is the engines' KV cache: every core's engine takes its
//! sequences' blocks from it through [`KvCache::with_pool`], once per simulated step (and once
//! per request to look up its prefix and once to give its blocks back), never per token. Why
//! one shared pool and not a slice per core: a slice would again make prefix hits depend on the
//! accepting core, and a core's slice could run out (and preempt) while another's sat idle. The
//! cost is one uncontended-in-practice lock per step per core; with `--workers 1` the pool and
//! the engine are exactly one vLLM instance's.

use std::{
    sync::{Arc, Mutex, MutexGuard, OnceLock},
    time::{Duration, Instant},
};

use super::kv_events::{self, Event, KvEvents};
use crate::metrics::model_stats::{FixedHistogram, one_two_five};
use crate::sim::{
    engine::{Pool, SeqKv},
    kv::{BlockHash, BlockPool, EvictionPolicy, Residency, Stats},
};

/// Per-model (or per-endpoint) lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests looked up.
    pub requests: u64,
    /// Of them, those that found a cached prefix.
    pub hit_requests: u64,
    /// Prompt tokens looked up.
    pub queried_tokens: u64,
    /// Prompt tokens found cached.
    pub hit_tokens: u64,
    /// Requests whose whole prompt but its last token was cached: that one token's KV is
    /// computed again (vLLM's `prompt_tokens_recomputed`).
    pub recomputed_tokens: u64,
}

impl Counts {
    fn add(&mut self, prompt_tokens: u64, cached_tokens: u64) {
        self.requests += 1;
        self.hit_requests += u64::from(cached_tokens > 0);
        self.queried_tokens += prompt_tokens;
        self.hit_tokens += cached_tokens;
        self.recomputed_tokens += u64::from(cached_tokens > 0 && cached_tokens + 1 == prompt_tokens);
    }
}

/// What caching saved in time to first token, summed over requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Speedup {
    /// Requests recorded.
    pub records: u64,
    /// Σ TTFT had nothing been cached, ms.
    pub baseline_ms: f64,
    /// Σ TTFT as scheduled, ms.
    pub actual_ms: f64,
    /// Σ baseline / actual.
    pub ratio: f64,
    /// Σ cached / prompt tokens.
    pub hit_ratio: f64,
}

/// A request to admit.
#[derive(Debug, Clone, Copy)]
pub struct KvRequest<'a> {
    /// The model as requested.
    pub model: &'a str,
    /// The route it came in on.
    pub endpoint: &'static str,
    /// Hashes of its prompt's whole blocks.
    pub hashes: &'a [BlockHash],
    /// Its prompt's token ids (for the KV events of the blocks it stores).
    pub token_ids: &'a [u32],
    /// Its prompt tokens.
    pub prompt_tokens: u64,
    /// Prompt and output tokens: the KV it will fill.
    pub total_tokens: u64,
    /// Its TTFT before prefill.
    pub ttft: Duration,
    /// Prefill time per uncached prompt token.
    pub prefill_per_token: Duration,
    /// The model's context window (the largest bucket of its computed-tokens histogram).
    pub context_window: u64,
}

/// The state behind the lock.
#[derive(Debug)]
struct Inner {
    pool: BlockPool,
    models: Vec<(String, Counts)>,
    /// Per model: each request's prompt tokens whose KV was computed (not found cached).
    computed: Vec<(String, FixedHistogram)>,
    endpoints: Vec<(&'static str, Counts)>,
    speedup: Speedup,
    active: u64,
}

/// The shared pool and what it has seen.
#[derive(Debug)]
pub struct KvCache {
    prefix_caching: bool,
    block_size: u64,
    /// The pool's time base (the engines' simulated time is converted to it).
    epoch: Instant,
    inner: Mutex<Inner>,
    /// Where changes to the cached blocks go (`--kv-events`).
    events: OnceLock<KvEvents>,
}

/// A copy of the cache's state for the metric views.
#[derive(Debug, Clone)]
pub struct KvSnapshot {
    /// Tokens per block.
    pub block_size: u64,
    /// Blocks in the pool.
    pub num_blocks: u32,
    /// Whether prompts are looked up at all.
    pub prefix_caching: bool,
    /// Blocks held by requests.
    pub used_blocks: u32,
    /// Blocks holding a cached prefix.
    pub cached_blocks: usize,
    /// Requests holding blocks now.
    pub active_requests: u64,
    /// The pool's counters.
    pub stats: Stats,
    /// Lookups per model.
    pub models: Vec<(String, Counts)>,
    /// Lookups per route.
    pub endpoints: Vec<(&'static str, Counts)>,
    /// TTFT saved.
    pub speedup: Speedup,
    /// The eviction policy.
    pub policy: EvictionPolicy,
    /// The evicted blocks' residency (vLLM's `kv_block_*_seconds`).
    pub residency: Residency,
    /// Per model: each request's prompt tokens whose KV was computed (vLLM's
    /// `request_prefill_kv_computed_tokens`).
    pub computed: Vec<(String, FixedHistogram)>,
}

impl KvSnapshot {
    /// Share of the blocks held by requests, 0–1.
    pub fn usage(&self) -> f64 {
        f64::from(self.used_blocks) / f64::from(self.num_blocks.max(1))
    }

    /// A model's lookups (zeros for one never looked up).
    pub fn model(&self, name: &str) -> Counts {
        self.models.iter().find(|(n, _)| n == name).map_or_else(Counts::default, |(_, c)| *c)
    }
}

/// Blocks a request holds until it ends; dropping the last handle gives them back.
#[derive(Debug)]
pub struct Lease {
    cache: Arc<KvCache>,
    blocks: Vec<u32>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let now = self.cache.now();
        let mut inner = self.cache.lock();
        inner.pool.set_clock(now);
        inner.pool.release(&self.blocks);
        inner.active -= 1;
    }
}

/// A request's hold on its blocks, shared by its plan and its summary (whichever the server
/// keeps longest, a finished, failed or abandoned response frees them when it goes).
#[derive(Debug, Clone, Default)]
pub struct Held(Option<Arc<Lease>>);

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

impl Eq for Held {}

impl KvCache {
    /// A pool of `num_blocks` blocks of `block_size` tokens, evicted LRU; `prefix_caching`
    /// off: prompts still take blocks, but nothing is looked up.
    pub fn new(block_size: u64, num_blocks: u32, prefix_caching: bool) -> Arc<Self> {
        Self::with_policy(block_size, num_blocks, prefix_caching, EvictionPolicy::Lru)
    }

    /// [`KvCache::new`], evicting as `policy` says.
    pub fn with_policy(block_size: u64, num_blocks: u32, prefix_caching: bool, policy: EvictionPolicy) -> Arc<Self> {
        Arc::new(KvCache {
            prefix_caching,
            block_size: block_size.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                pool: BlockPool::with_policy(block_size, num_blocks, policy),
                models: Vec::new(),
                computed: Vec::new(),
                endpoints: Vec::new(),
                speedup: Speedup::default(),
                active: 0,
            }),
            events: OnceLock::new(),
        })
    }

    /// From now on, publishes every change to the cached blocks to `events`.
    pub fn publish_to(&self, events: KvEvents) {
        self.lock().pool.record_changes();
        let _ = self.events.set(events);
    }

    /// The KV-event publisher, if any.
    pub fn events(&self) -> Option<&KvEvents> {
        self.events.get()
    }

    /// Whether prompts are looked up.
    pub fn prefix_caching(&self) -> bool {
        self.prefix_caching
    }

    /// Tokens per block.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Seconds since the pool was made: the time its blocks' residency is measured in.
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the pool half-updated: every change is made whole
        // under the lock, so a poisoned lock's state is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits `r`: returns its hold on its blocks and its cached prompt tokens.
    pub fn admit(self: &Arc<Self>, r: KvRequest<'_>) -> (Held, u64) {
        let hashes = if self.prefix_caching { r.hashes } else { &[] };
        let now = self.now();
        let mut inner = self.lock();
        inner.pool.set_clock(now);
        let admission = inner.pool.admit(hashes, r.prompt_tokens, r.total_tokens);
        let cached = admission.cached_tokens;
        inner.active += 1;
        inner.computed(&r, cached);
        if let Some(events) = self.events.get() {
            // Sent under the lock, so that events from different cores keep the pool's order.
            let changes = inner.pool.take_changes();
            events.send(kv_events::events_of(&changes, hashes, r.token_ids, self.block_size as usize));
        }
        if self.prefix_caching {
            inner.count(&r, cached);
        }
        drop(inner);
        let lease = Lease { cache: self.clone(), blocks: admission.blocks };
        (Held(Some(Arc::new(lease))), cached)
    }

    /// Runs `f` with the pool as an engine's block source, under the lock; then publishes the
    /// KV events its changes made (still under the lock, to keep the pool's order).
    pub fn with_pool<R>(&self, f: impl FnOnce(&mut EnginePool<'_>) -> R) -> R {
        let mut inner = self.lock();
        let mut pool = EnginePool { inner: &mut inner, cache: self, events: Vec::new() };
        let out = f(&mut pool);
        let events = std::mem::take(&mut pool.events);
        if let Some(publisher) = self.events.get() {
            publisher.send(events);
        }
        out
    }

    /// Forgets every cached prefix (see [`BlockPool::reset`]); false when refused.
    pub fn reset(&self, running_too: bool) -> bool {
        let mut inner = self.lock();
        let done = inner.pool.reset(running_too);
        if let (true, Some(events)) = (done, self.events.get()) {
            inner.pool.take_changes();
            events.send(vec![Event::Cleared]);
        }
        done
    }

    /// The state now.
    pub fn snapshot(&self) -> KvSnapshot {
        let inner = self.lock();
        KvSnapshot {
            block_size: inner.pool.block_size(),
            num_blocks: inner.pool.num_blocks(),
            prefix_caching: self.prefix_caching,
            used_blocks: inner.pool.used_blocks(),
            cached_blocks: inner.pool.cached_blocks(),
            active_requests: inner.active,
            stats: inner.pool.stats(),
            models: inner.models.clone(),
            endpoints: inner.endpoints.clone(),
            speedup: inner.speedup,
            policy: inner.pool.policy(),
            residency: inner.pool.residency().clone(),
            computed: inner.computed.clone(),
        }
    }
}

impl Inner {
    /// Records that `r` computes the KV of its prompt but the `cached` tokens.
    fn computed(&mut self, r: &KvRequest<'_>, cached: u64) {
        let bounds = || FixedHistogram::new(&one_two_five(r.context_window.max(1)));
        named(&mut self.computed, r.model, bounds).record(r.prompt_tokens.saturating_sub(cached) as f64);
    }

    /// Counts a lookup of `r` that found `cached` tokens, per model and route, and what it saved.
    fn count(&mut self, r: &KvRequest<'_>, cached: u64) {
        model_counts(&mut self.models, r.model).add(r.prompt_tokens, cached);
        endpoint_counts(&mut self.endpoints, r.endpoint).add(r.prompt_tokens, cached);
        let per_token = r.prefill_per_token.as_secs_f64() * 1e3;
        let baseline = r.ttft.as_secs_f64() * 1e3 + per_token * r.prompt_tokens as f64;
        let actual = baseline - per_token * cached as f64;
        let s = &mut self.speedup;
        s.records += 1;
        s.baseline_ms += baseline;
        s.actual_ms += actual;
        s.ratio += if actual > 0.0 { baseline / actual } else { 1.0 };
        s.hit_ratio += cached as f64 / r.prompt_tokens.max(1) as f64;
    }
}

/// The pool lent to an engine under the cache's lock (see [`KvCache::with_pool`]); the changes
/// it makes to the cached blocks become KV events.
#[derive(Debug)]
pub struct EnginePool<'a> {
    inner: &'a mut Inner,
    cache: &'a KvCache,
    events: Vec<Event>,
}

impl EnginePool<'_> {
    /// Blocks held by sequences (not free, not merely cached).
    pub fn used_blocks(&self) -> u64 {
        u64::from(self.inner.pool.used_blocks())
    }

    /// Looks `r` up (counted as [`KvCache::admit`] counts it) and takes the cached blocks of its
    /// prompt's longest cached prefix: its sequence's first blocks, and its cached tokens.
    pub fn lookup(&mut self, r: KvRequest<'_>) -> (SeqKv, u64) {
        let hashes = if self.cache.prefix_caching { r.hashes } else { &[] };
        let blocks = self.inner.pool.lookup(hashes, r.prompt_tokens);
        let cached = blocks.len() as u64 * self.cache.block_size;
        self.inner.active += 1;
        self.inner.computed(&r, cached);
        if self.cache.prefix_caching {
            self.inner.count(&r, cached);
        }
        let ids = if self.cache.events.get().is_some() { r.token_ids.to_vec() } else { Vec::new() };
        (SeqKv { blocks, hashes: hashes.to_vec(), ids }, cached)
    }

    /// The engines' time is `now` (since their epoch): what follows happens then.
    pub fn at(&mut self, now: Duration) {
        if let Some(epoch) = crate::sim::engine::local::epoch() {
            let t = epoch.saturating_duration_since(self.cache.epoch) + now;
            self.inner.pool.set_clock(t.as_secs_f64());
        }
    }

    /// A sequence that [`EnginePool::lookup`] started has ended (its blocks given back).
    pub fn ended(&mut self) {
        self.inner.active -= 1;
    }

    /// Turns the pool's recorded changes into KV events (`hashes`/`ids`: the sequence whose
    /// blocks were stored, if any).
    fn flush(&mut self, hashes: &[BlockHash], ids: &[u32]) {
        if self.cache.events.get().is_none() {
            return;
        }
        let changes = self.inner.pool.take_changes();
        if !changes.is_empty() {
            self.events.extend(kv_events::events_of(&changes, hashes, ids, self.cache.block_size as usize));
        }
    }
}

impl Pool for EnginePool<'_> {
    fn available(&self) -> u64 {
        u64::from(self.inner.pool.available())
    }

    fn allocate(&mut self, n: u64, blocks: &mut Vec<u32>) {
        self.inner.pool.allocate(n, blocks);
        self.flush(&[], &[]);
    }

    fn release(&mut self, blocks: &[u32]) {
        self.inner.pool.release(blocks);
    }

    fn cache(&mut self, kv: &SeqKv, from: usize, to: usize) {
        for i in from..to {
            self.inner.pool.cache(kv.blocks[i], kv.hashes[i], i);
        }
        self.flush(&kv.hashes, &kv.ids);
    }

    fn reuse(&mut self, hashes: &[BlockHash], max_blocks: usize) -> Vec<u32> {
        self.inner.pool.reuse(hashes, max_blocks)
    }

    fn clock(&mut self, now: Duration) {
        self.at(now);
    }
}

fn model_counts<'a>(models: &'a mut Vec<(String, Counts)>, model: &str) -> &'a mut Counts {
    named(models, model, Counts::default)
}

/// `model`'s entry in `models`, made by `make` on first use (as the metric shards, models past
/// [`crate::metrics::MAX_MODELS`] share `other`'s).
fn named<'a, T>(models: &'a mut Vec<(String, T)>, model: &str, make: impl FnOnce() -> T) -> &'a mut T {
    let i = crate::metrics::model_entry(models, model, make);
    &mut models[i].1
}

fn endpoint_counts<'a>(endpoints: &'a mut Vec<(&'static str, Counts)>, endpoint: &'static str) -> &'a mut Counts {
    match endpoints.iter().position(|(e, _)| *e == endpoint) {
        Some(i) => &mut endpoints[i].1,
        None => {
            endpoints.push((endpoint, Counts::default()));
            &mut endpoints.last_mut().expect("just pushed").1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::kv::block_hashes;

    fn request<'a>(hashes: &'a [BlockHash], model: &'a str) -> KvRequest<'a> {
        KvRequest {
            model,
            endpoint: "/v1/chat/completions",
            hashes,
            token_ids: &[],
            prompt_tokens: 40,
            total_tokens: 50,
            ttft: Duration::from_millis(10),
            prefill_per_token: Duration::from_micros(100),
            context_window: 4096,
        }
    }

    #[test]
    fn dropping_the_last_hold_frees_the_blocks() {
        let kv = KvCache::new(16, 10, true);
        let ids: Vec<u32> = (0..40).collect();
        let h = block_hashes(&ids, 16, 1);
        let (held, cached) = kv.admit(request(&h, "m"));
        assert_eq!(cached, 0);
        let copy = held.clone();
        assert_eq!(copy, held);
        assert_eq!((kv.snapshot().used_blocks, kv.snapshot().active_requests), (4, 1));
        drop(held);
        assert_eq!(kv.snapshot().used_blocks, 4, "the copy still holds them");
        drop(copy);
        let snap = kv.snapshot();
        assert_eq!((snap.used_blocks, snap.active_requests, snap.cached_blocks), (0, 0, 2));
        let (_held, cached) = kv.admit(request(&h, "m"));
        assert_eq!(cached, 32);
        let snap = kv.snapshot();
        assert_eq!(
            snap.model("m"),
            Counts { requests: 2, hit_requests: 1, queried_tokens: 80, hit_tokens: 32, recomputed_tokens: 0 }
        );
        assert_eq!(snap.model("other"), Counts::default());
        let s = snap.speedup;
        assert_eq!(s.records, 2);
        assert!((s.baseline_ms - 2.0 * 14.0).abs() < 1e-9 && (s.actual_ms - (14.0 + 10.8)).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn without_prefix_caching_blocks_are_taken_but_nothing_hits() {
        let kv = KvCache::new(16, 10, false);
        let h = block_hashes(&(0..40).collect::<Vec<u32>>(), 16, 1);
        drop(kv.admit(request(&h, "m")));
        let (held, cached) = kv.admit(request(&h, "m"));
        assert_eq!((cached, kv.snapshot().used_blocks), (0, 4));
        assert!(kv.snapshot().models.is_empty(), "no lookups are counted");
        drop(held);
    }
}
