//! A paged KV-cache block pool with prefix caching, after vLLM's scheme: a prompt's whole
//! blocks are named by hashes chained over its token ids (each block's hash covers its parent's
//! hash, its own ids and, for the first block, extra keys such as the model or LoRA adapter and
//! `cache_salt`); a request takes the cached blocks of its longest hashed prefix and fresh blocks
//! for the rest; blocks it frees stay cached until evicted, the least recently freed first, or
//! as another of SGLang's radix-cache policies says ([`EvictionPolicy`]). Pure: no locks, no
//! IO, and no clock of its own: the caller says what time it is ([`BlockPool::set_clock`]), for
//! the residency histograms vLLM keeps per block ([`Residency`]).

use std::collections::{BTreeSet, HashMap};

use crate::metrics::model_stats::FixedHistogram;

/// The hash that names a whole block of tokens and, through its parent, everything before it.
pub type BlockHash = u64;

/// No block: the end of the free list.
const NIL: u32 = u32::MAX;

/// The parent of a prompt's first block (vLLM's `NONE_HASH`, fixed here so that hashes are
/// stable across restarts).
const ROOT: BlockHash = 0x6b76_5f72_6f6f_7421;

/// A 64-bit finaliser (MurmurHash3's `fmix64`): every input bit moves every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Folds `word` into the running hash `h`.
fn fold(h: u64, word: u64) -> u64 {
    mix(h ^ word.wrapping_add(0x9e37_79b9_7f4a_7c15)).rotate_left(17)
}

/// The hash of one block: its parent's hash, its token ids and its extra keys (0: none).
pub fn hash_block(parent: BlockHash, ids: &[u32], extra: u64) -> BlockHash {
    let mut h = fold(fold(parent, extra), ids.len() as u64);
    for pair in ids.chunks(2) {
        let word = u64::from(pair[0]) | pair.get(1).map_or(0, |&b| u64::from(b) << 32);
        h = fold(h, word);
    }
    mix(h)
}

/// The hash of a string, for extra keys (model, LoRA adapter, `cache_salt`).
pub fn hash_str(s: &str) -> u64 {
    s.as_bytes().chunks(8).fold(fold(ROOT, s.len() as u64), |h, chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        fold(h, u64::from_le_bytes(word))
    })
}

/// The first block's extra keys: the model (a LoRA adapter is a model name of its own) and the
/// request's `cache_salt`, so that neither shares blocks with another.
pub fn extra_keys(model: &str, cache_salt: Option<&str>) -> u64 {
    let model = hash_str(model);
    match cache_salt {
        Some(salt) => fold(model, hash_str(salt)),
        None => model,
    }
}

/// The chained hashes of every whole block of `ids` (a partial last block has none: only whole
/// blocks are cacheable); `extra` keys the first block.
pub fn block_hashes(ids: &[u32], block_size: usize, extra: u64) -> Vec<BlockHash> {
    let mut parent = ROOT;
    ids.chunks_exact(block_size.max(1))
        .enumerate()
        .map(|(i, block)| {
            parent = hash_block(parent, block, if i == 0 { extra } else { 0 });
            parent
        })
        .collect()
}

/// Which free cached block goes first when a block is needed (`--eviction-policy`), as SGLang's
/// radix cache chooses (`--radix-eviction-policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EvictionPolicy {
    /// Least recently freed first (vLLM's, and SGLang's default).
    #[default]
    Lru,
    /// Fewest prefix hits first; among equals, the least recently freed.
    Lfu,
    /// Earliest stored first.
    Fifo,
    /// Most recently freed first.
    Mru,
    /// Latest stored first.
    Filo,
}

impl EvictionPolicy {
    /// The flag's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Lfu => "lfu",
            EvictionPolicy::Fifo => "fifo",
            EvictionPolicy::Mru => "mru",
            EvictionPolicy::Filo => "filo",
        }
    }
}

/// Bits of a free tick that rank a block within its release (a request's tail first).
const RANK_BITS: u32 = 24;

/// One physical block.
#[derive(Debug, Clone)]
struct Block {
    /// The hash it is cached under, if any.
    hash: Option<BlockHash>,
    /// Requests holding it.
    refs: u32,
    /// Neighbours in the free list while it is free (LRU only).
    prev: u32,
    next: u32,
    /// When it was last freed: the release's number, then its rank in that release.
    freed: u64,
    /// When it was stored under its hash (a count of stores).
    stored: u64,
    /// Prefix hits since it was allocated.
    hits: u32,
    /// Allocated at, s.
    born: f64,
    /// Allocated or last hit at, s.
    accessed: f64,
    /// Its last (up to) four hits, s, oldest first.
    recent: [f64; 4],
    recent_len: u8,
}

impl Block {
    fn new(b: u32) -> Self {
        Block {
            hash: None,
            refs: 0,
            prev: NIL,
            next: NIL,
            freed: u64::from(b),
            stored: 0,
            hits: 0,
            born: 0.0,
            accessed: 0.0,
            recent: [0.0; 4],
            recent_len: 0,
        }
    }

    /// A prefix hit at `now`, remembered in a ring of four (vLLM keeps as many).
    fn hit(&mut self, now: f64) {
        self.hits = self.hits.saturating_add(1);
        self.accessed = now;
        if usize::from(self.recent_len) == self.recent.len() {
            self.recent.rotate_left(1);
            self.recent_len -= 1;
        }
        self.recent[usize::from(self.recent_len)] = now;
        self.recent_len += 1;
    }
}

/// vLLM's KV-block residency histograms (`--kv-cache-metrics`), observed when a cached block is
/// evicted: its lifetime (allocation to eviction), its idle time (its allocation or last prefix
/// hit to eviction) and the gaps between its last four prefix hits. vLLM samples 1% of blocks by
/// default; here every block is observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Residency {
    /// `vllm:kv_block_lifetime_seconds`.
    pub lifetime: FixedHistogram,
    /// `vllm:kv_block_idle_before_evict_seconds`.
    pub idle: FixedHistogram,
    /// `vllm:kv_block_reuse_gap_seconds`.
    pub reuse_gap: FixedHistogram,
}

/// vLLM's buckets for the residency histograms, s.
pub const RESIDENCY_BUCKETS: [f64; 21] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1200.0, 1800.0,
];

impl Default for Residency {
    fn default() -> Self {
        let h = || FixedHistogram::new(&RESIDENCY_BUCKETS);
        Residency { lifetime: h(), idle: h(), reuse_gap: h() }
    }
}

impl Residency {
    /// Observes `block` evicted at `now`.
    fn evicted(&mut self, block: &Block, now: f64) {
        self.lifetime.record((now - block.born).max(0.0));
        self.idle.record((now - block.accessed).max(0.0));
        let recent = &block.recent[..usize::from(block.recent_len)];
        for pair in recent.windows(2) {
            self.reuse_gap.record((pair[1] - pair[0]).max(0.0));
        }
    }
}

/// Counters since start (a reset of the cache does not clear them, as in vLLM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests looked up.
    pub requests: u64,
    /// Requests that found at least one cached block.
    pub hit_requests: u64,
    /// Prompt tokens looked up (vLLM's `prefix_cache_queries`).
    pub queried_tokens: u64,
    /// Prompt tokens found cached (vLLM's `prefix_cache_hits`).
    pub hit_tokens: u64,
    /// Cached blocks evicted to make room.
    pub evictions: u64,
    /// Blocks a request needed that the pool did not have free.
    pub shortfall_blocks: u64,
}

/// What a request got from the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// Prompt tokens whose KV was already cached: whole blocks, fewer than the prompt's tokens.
    pub cached_tokens: u64,
    /// The blocks it now holds (cached prefix first), to give back with [`BlockPool::release`].
    pub blocks: Vec<u32>,
}

/// A change to the set of cached blocks, as KV-aware routers follow it (vLLM's KV events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `hashes[i]` of the admitted request became cached.
    Stored(usize),
    /// A cached block was evicted.
    Removed(BlockHash),
    /// Every cached prefix was forgotten.
    Cleared,
}

/// A fixed number of blocks of `block_size` tokens, a map from block hash to cached block, and
/// the free blocks in eviction order: with LRU a list, least recently freed first (O(1) a
/// block); with the other policies an ordered set by the policy's key (O(log n) a block).
#[derive(Debug, Clone)]
pub struct BlockPool {
    block_size: u64,
    blocks: Vec<Block>,
    cached: HashMap<BlockHash, u32>,
    policy: EvictionPolicy,
    free_head: u32,
    free_tail: u32,
    /// The free blocks by eviction key, for every policy but LRU.
    ordered: BTreeSet<(u64, u64, u32)>,
    free: u32,
    /// Releases so far, and blocks stored so far (the policies' clocks).
    releases: u64,
    stores: u64,
    /// Now, s (never goes back).
    now: f64,
    stats: Stats,
    residency: Residency,
    /// Changes since the last [`BlockPool::take_changes`], when someone follows them.
    changes: Option<Vec<Change>>,
}

impl BlockPool {
    /// `num_blocks` free blocks of `block_size` tokens (both at least 1), evicted LRU.
    pub fn new(block_size: u64, num_blocks: u32) -> Self {
        Self::with_policy(block_size, num_blocks, EvictionPolicy::Lru)
    }

    /// `num_blocks` free blocks of `block_size` tokens (both at least 1), evicted as `policy` says.
    pub fn with_policy(block_size: u64, num_blocks: u32, policy: EvictionPolicy) -> Self {
        let num_blocks = num_blocks.max(1);
        let mut pool = BlockPool {
            block_size: block_size.max(1),
            blocks: (0..num_blocks).map(Block::new).collect(),
            cached: HashMap::new(),
            policy,
            free_head: NIL,
            free_tail: NIL,
            ordered: BTreeSet::new(),
            free: 0,
            releases: 1,
            stores: 0,
            now: 0.0,
            stats: Stats::default(),
            residency: Residency::default(),
            changes: None,
        };
        (0..num_blocks).for_each(|b| pool.push_free(b));
        pool
    }

    /// The eviction policy.
    pub fn policy(&self) -> EvictionPolicy {
        self.policy
    }

    /// Sets the time, s, that what follows happens at (a time before the last one counts as
    /// the last one: the engines on different cores may be a step apart).
    pub fn set_clock(&mut self, now: f64) {
        self.now = self.now.max(now);
    }

    /// The residency histograms so far.
    pub fn residency(&self) -> &Residency {
        &self.residency
    }

    /// Tokens per block.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Blocks in the pool.
    pub fn num_blocks(&self) -> u32 {
        self.blocks.len() as u32
    }

    /// Blocks held by requests now.
    pub fn used_blocks(&self) -> u32 {
        self.num_blocks() - self.free
    }

    /// Blocks that hold a cached prefix (held or free).
    pub fn cached_blocks(&self) -> usize {
        self.cached.len()
    }

    /// Share of the blocks held by requests, 0–1 (cached but free blocks count as free, as
    /// vLLM's `kv_cache_usage_perc` counts them).
    pub fn usage(&self) -> f64 {
        f64::from(self.used_blocks()) / f64::from(self.num_blocks())
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Starts recording which blocks become cached, are evicted or cleared.
    pub fn record_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    /// The changes recorded since the last call, oldest first (none unless recording).
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, change: Change) {
        if let Some(changes) = &mut self.changes {
            changes.push(change);
        }
    }

    /// Admits a request whose prompt has `prompt_tokens` tokens, `hashes` naming its whole
    /// blocks, and that will fill `total_tokens` (prompt and output): it takes the cached blocks
    /// of the longest hashed prefix and fresh blocks for the rest, and its new whole prompt blocks
    /// become cached. As in vLLM, the last prompt token is always computed (its logits start the
    /// output), so a prompt that is all cached still recomputes its last block. When the pool runs
    /// short the request holds what there was: nothing waits with the engine off.
    pub fn admit(&mut self, hashes: &[BlockHash], prompt_tokens: u64, total_tokens: u64) -> Admission {
        let bs = self.block_size;
        let max_hit = (prompt_tokens.saturating_sub(1) / bs).min(hashes.len() as u64) as usize;
        let mut blocks = Vec::with_capacity(total_tokens.div_ceil(bs) as usize);
        for hash in &hashes[..max_hit] {
            let Some(&b) = self.cached.get(hash) else { break };
            self.take_cached(b);
            blocks.push(b);
        }
        let hit = blocks.len();
        let wanted = total_tokens.div_ceil(bs).max(hit as u64) - hit as u64;
        let granted = wanted.min(u64::from(self.free));
        for i in hit..hit + granted as usize {
            let b = self.evict_head();
            if let Some(&hash) = hashes.get(i).filter(|h| !self.cached.contains_key(*h)) {
                self.store(b, hash, i);
            }
            blocks.push(b);
        }
        let cached_tokens = hit as u64 * bs;
        let s = &mut self.stats;
        s.requests += 1;
        s.hit_requests += u64::from(hit > 0);
        s.queried_tokens += prompt_tokens;
        s.hit_tokens += cached_tokens;
        s.shortfall_blocks += wanted - granted;
        Admission { cached_tokens, blocks }
    }

    /// Blocks a new allocation can take: free ones and cached ones no request holds.
    pub fn available(&self) -> u32 {
        self.free
    }

    /// Looks up a prompt of `prompt_tokens` tokens whose whole blocks `hashes` name, and takes
    /// the cached blocks of its longest hashed prefix (never its last token's block, which is
    /// always computed), counted in the stats; the engine allocates the rest as it prefills.
    pub fn lookup(&mut self, hashes: &[BlockHash], prompt_tokens: u64) -> Vec<u32> {
        let max_hit = (prompt_tokens.saturating_sub(1) / self.block_size) as usize;
        let blocks = self.reuse(hashes, max_hit);
        let s = &mut self.stats;
        s.requests += 1;
        s.hit_requests += u64::from(!blocks.is_empty());
        s.queried_tokens += prompt_tokens;
        s.hit_tokens += blocks.len() as u64 * self.block_size;
        blocks
    }

    /// Takes the cached blocks of the longest prefix of `hashes`, at most `max_blocks`, without
    /// counting a lookup (a preempted sequence resuming, as vLLM keeps those apart).
    pub fn reuse(&mut self, hashes: &[BlockHash], max_blocks: usize) -> Vec<u32> {
        let mut blocks = Vec::new();
        for hash in &hashes[..max_blocks.min(hashes.len())] {
            let Some(&b) = self.cached.get(hash) else { break };
            self.take_cached(b);
            blocks.push(b);
        }
        blocks
    }

    /// Takes up to `n` blocks, least recently freed first (evicting the prefixes they cached),
    /// appending them to `blocks`; what it could not grant counts as a shortfall.
    pub fn allocate(&mut self, n: u64, blocks: &mut Vec<u32>) {
        let granted = n.min(u64::from(self.free));
        blocks.extend((0..granted).map(|_| self.evict_head()));
        self.stats.shortfall_blocks += n - granted;
    }

    /// Caches held block `b` as the prompt's `index`-th whole block, named `hash` (unless
    /// another block already caches that hash).
    pub fn cache(&mut self, b: u32, hash: BlockHash, index: usize) {
        if self.cached.contains_key(&hash) || self.blocks[b as usize].hash.is_some() {
            return;
        }
        self.store(b, hash, index);
    }

    /// Names held block `b` `hash`, the prompt's `index`-th whole block.
    fn store(&mut self, b: u32, hash: BlockHash, index: usize) {
        self.stores += 1;
        let block = &mut self.blocks[b as usize];
        block.hash = Some(hash);
        block.stored = self.stores;
        self.cached.insert(hash, b);
        self.record(Change::Stored(index));
    }

    /// Gives back a request's blocks. They are freed last block first, so that a prompt's tail
    /// is evicted before its head (the head is the part others share), as vLLM frees them.
    pub fn release(&mut self, blocks: &[u32]) {
        let mut rank = 0u64;
        for &b in blocks.iter().rev() {
            let block = &mut self.blocks[b as usize];
            block.refs -= 1;
            if block.refs == 0 {
                block.freed = (self.releases << RANK_BITS) | rank.min((1 << RANK_BITS) - 1);
                rank += 1;
                self.push_free(b);
            }
        }
        self.releases += 1;
    }

    /// Forgets every cached prefix. Like vLLM, refuses (returns false) while requests hold
    /// blocks, unless `running_too` (vLLM's `reset_running_requests`): then the blocks they
    /// hold stop being cached too.
    pub fn reset(&mut self, running_too: bool) -> bool {
        if self.used_blocks() > 0 && !running_too {
            return false;
        }
        self.cached.clear();
        // The free blocks' keys change with their hashes: re-sort them (once a reset).
        let free: Vec<u32> = std::mem::take(&mut self.ordered).into_iter().map(|(_, _, b)| b).collect();
        self.blocks.iter_mut().for_each(|b| b.hash = None);
        for b in free {
            let key = self.key(b);
            self.ordered.insert(key);
        }
        self.record(Change::Cleared);
        true
    }

    /// Takes block `b` for one more request (out of the free list if it was free).
    fn take(&mut self, b: u32) {
        if self.blocks[b as usize].refs == 0 {
            self.unlink(b);
        }
        self.blocks[b as usize].refs += 1;
    }

    /// Takes cached block `b` for a prefix hit.
    fn take_cached(&mut self, b: u32) {
        self.take(b);
        self.blocks[b as usize].hit(self.now);
    }

    /// Takes the block the policy evicts first, evicting its cached prefix if it has one.
    fn evict_head(&mut self) -> u32 {
        let b = match self.policy {
            EvictionPolicy::Lru => self.free_head,
            _ => self.ordered.first().expect("a free block").2,
        };
        self.take(b);
        let now = self.now;
        let block = &mut self.blocks[b as usize];
        if let Some(hash) = block.hash.take() {
            self.residency.evicted(block, now);
            self.cached.remove(&hash);
            self.stats.evictions += 1;
            self.record(Change::Removed(hash));
        }
        let block = &mut self.blocks[b as usize];
        (block.born, block.accessed, block.hits, block.recent_len) = (now, now, 0, 0);
        b
    }

    /// Where free block `b` stands in the eviction order of every policy but LRU, first first.
    /// Blocks that cache nothing go before any cached one (SGLang evicts only when its free
    /// memory runs out); a request's tail goes before its head where recency decides.
    fn key(&self, b: u32) -> (u64, u64, u32) {
        let block = &self.blocks[b as usize];
        if block.hash.is_none() {
            return (0, block.freed, b);
        }
        let release = block.freed >> RANK_BITS;
        let rank = block.freed & ((1 << RANK_BITS) - 1);
        match self.policy {
            EvictionPolicy::Lru | EvictionPolicy::Lfu => (1 + u64::from(block.hits), block.freed, b),
            EvictionPolicy::Fifo => (1, block.stored, b),
            EvictionPolicy::Filo => (1, u64::MAX - block.stored, b),
            EvictionPolicy::Mru => (1, (((u64::MAX >> RANK_BITS) - release) << RANK_BITS) | rank, b),
        }
    }

    /// Adds free block `b` to the eviction order: at the most-recent end of the LRU list.
    fn push_free(&mut self, b: u32) {
        if self.policy != EvictionPolicy::Lru {
            let key = self.key(b);
            self.ordered.insert(key);
            self.free += 1;
            return;
        }
        let tail = self.free_tail;
        let block = &mut self.blocks[b as usize];
        block.prev = tail;
        block.next = NIL;
        match tail {
            NIL => self.free_head = b,
            t => self.blocks[t as usize].next = b,
        }
        self.free_tail = b;
        self.free += 1;
    }

    /// Removes block `b` from the eviction order.
    fn unlink(&mut self, b: u32) {
        if self.policy != EvictionPolicy::Lru {
            let key = self.key(b);
            self.ordered.remove(&key);
            self.free -= 1;
            return;
        }
        let Block { prev, next, .. } = self.blocks[b as usize];
        match prev {
            NIL => self.free_head = next,
            p => self.blocks[p as usize].next = next,
        }
        match next {
            NIL => self.free_tail = prev,
            n => self.blocks[n as usize].prev = prev,
        }
        self.free -= 1;
    }

    /// The free blocks, the first to be evicted first (for tests).
    #[cfg(test)]
    fn free_order(&self) -> Vec<u32> {
        if self.policy != EvictionPolicy::Lru {
            return self.ordered.iter().map(|&(_, _, b)| b).collect();
        }
        let mut order = Vec::new();
        let mut b = self.free_head;
        while b != NIL {
            order.push(b);
            b = self.blocks[b as usize].next;
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32, seed: u32) -> Vec<u32> {
        (0..n).map(|i| i.wrapping_mul(2_654_435_761).wrapping_add(seed) % 100_000).collect()
    }

    #[test]
    fn hashes_chain_over_whole_blocks_only() {
        let a = ids(40, 1);
        let h = block_hashes(&a, 16, 7);
        assert_eq!(h.len(), 2, "40 tokens: two whole blocks, the partial third is not hashed");
        assert_eq!(block_hashes(&a[..32], 16, 7), h, "the partial block changes nothing");
        let mut b = a.clone();
        b[20] += 1;
        let hb = block_hashes(&b, 16, 7);
        assert_eq!((hb[0] == h[0], hb[1] == h[1]), (true, false), "a change in block 1 changes only block 1 on");
        let mut c = a.clone();
        c[3] += 1;
        let hc = block_hashes(&c, 16, 7);
        assert!(hc[0] != h[0] && hc[1] != h[1], "a change in block 0 changes every later hash (chained)");
        let salted = block_hashes(&a, 16, 8);
        assert!(salted[0] != h[0] && salted[1] != h[1], "the extra keys of the first block reach every block");
        assert_eq!(hash_block(ROOT, &a[..16], 7), h[0]);
        assert_eq!(hash_block(h[0], &a[16..32], 0), h[1]);
    }

    #[test]
    fn extra_keys_isolate_models_adapters_and_salts() {
        let base = extra_keys("llama", None);
        assert_eq!(base, extra_keys("llama", None));
        assert_ne!(base, extra_keys("llama-lora-sql", None));
        assert_ne!(base, extra_keys("llama", Some("tenant-a")));
        assert_ne!(extra_keys("llama", Some("tenant-a")), extra_keys("llama", Some("tenant-b")));
        assert_ne!(hash_str("ab"), hash_str("ab\0"), "length is part of a string's hash");
    }

    #[test]
    fn a_repeated_prompt_hits_whole_blocks_and_recomputes_its_last_token() {
        let mut pool = BlockPool::new(16, 100);
        let prompt = ids(50, 3);
        let h = block_hashes(&prompt, 16, 0);
        let first = pool.admit(&h, 50, 60);
        assert_eq!((first.cached_tokens, first.blocks.len()), (0, 4), "60 tokens fill 4 blocks");
        pool.release(&first.blocks);
        let again = pool.admit(&h, 50, 60);
        assert_eq!(again.cached_tokens, 48, "three whole blocks of 50 tokens");
        assert_eq!(again.blocks[..3], first.blocks[..3], "the same physical blocks");
        pool.release(&again.blocks);
        let exact = ids(48, 4);
        let he = block_hashes(&exact, 16, 0);
        let r = pool.admit(&he, 48, 48);
        pool.release(&r.blocks);
        let r2 = pool.admit(&he, 48, 48);
        assert_eq!(r2.cached_tokens, 32, "a prompt of exactly three blocks hits two: its last token is recomputed");
        assert!(pool.admit(&block_hashes(&ids(1, 9), 16, 0), 1, 2).cached_tokens == 0);
        let s = pool.stats();
        assert_eq!(
            (s.requests, s.hit_requests, s.queried_tokens, s.hit_tokens),
            (5, 2, 50 + 50 + 48 + 48 + 1, 48 + 32)
        );
    }

    #[test]
    fn a_different_salt_or_model_misses() {
        let mut pool = BlockPool::new(16, 100);
        let prompt = ids(64, 5);
        let a = block_hashes(&prompt, 16, extra_keys("m", None));
        let r = pool.admit(&a, 64, 64);
        pool.release(&r.blocks);
        let salted = block_hashes(&prompt, 16, extra_keys("m", Some("s")));
        assert_eq!(pool.admit(&salted, 64, 64).cached_tokens, 0);
        let lora = block_hashes(&prompt, 16, extra_keys("m-lora", None));
        assert_eq!(pool.admit(&lora, 64, 64).cached_tokens, 0);
        assert_eq!(pool.admit(&a, 64, 64).cached_tokens, 48);
    }

    #[test]
    fn held_blocks_are_shared_with_reference_counts() {
        let mut pool = BlockPool::new(16, 10);
        let h = block_hashes(&ids(40, 6), 16, 0);
        let a = pool.admit(&h, 40, 40);
        let b = pool.admit(&h, 40, 40);
        assert_eq!(b.cached_tokens, 32, "a running request's blocks are shared at once");
        assert_eq!(pool.used_blocks(), 4, "3 blocks for a, 2 shared + 1 own for b");
        pool.release(&a.blocks);
        assert_eq!(pool.used_blocks(), 3, "shared blocks stay held by b");
        pool.release(&b.blocks);
        assert_eq!((pool.used_blocks(), pool.usage()), (0, 0.0));
        assert_eq!(pool.cached_blocks(), 2, "the freed prefix stays cached");
    }

    #[test]
    fn eviction_takes_the_least_recently_freed_and_tails_first() {
        let mut pool = BlockPool::new(4, 6);
        let (p, q) = (ids(12, 1), ids(12, 2));
        let (hp, hq) = (block_hashes(&p, 4, 0), block_hashes(&q, 4, 0));
        let a = pool.admit(&hp, 12, 12);
        let b = pool.admit(&hq, 12, 12);
        assert_eq!(pool.free_order(), Vec::<u32>::new());
        pool.release(&a.blocks);
        pool.release(&b.blocks);
        let mut order = a.blocks.clone();
        order.reverse();
        order.extend(b.blocks.iter().rev());
        assert_eq!(pool.free_order(), order, "freed in LRU order, each request's tail first");
        let hit = pool.admit(&hp, 12, 12);
        assert_eq!(hit.cached_tokens, 8, "p's head is still cached");
        pool.release(&hit.blocks);
        // p was just used again: q is now least recent, and q's tail goes first.
        let r = pool.admit(&block_hashes(&ids(8, 3), 4, 0), 8, 8);
        assert_eq!(r.blocks, vec![b.blocks[2], b.blocks[1]]);
        // Three evictions: p's last block (recomputed, as its last token always is, in the LRU
        // head, which was p's own old last block) and q's two tail blocks.
        assert_eq!(pool.stats().evictions, 3);
        pool.release(&r.blocks);
        assert_eq!(pool.admit(&hq, 12, 12).cached_tokens, 4, "q kept only its first block");
    }

    #[test]
    fn a_full_pool_grants_what_it_has() {
        let mut pool = BlockPool::new(16, 3);
        let a = pool.admit(&[], 10, 100);
        assert_eq!((a.blocks.len(), pool.usage()), (3, 1.0));
        assert_eq!(pool.stats().shortfall_blocks, 4);
        let b = pool.admit(&[], 10, 20);
        assert!(b.blocks.is_empty());
        pool.release(&a.blocks);
        pool.release(&b.blocks);
        assert_eq!(pool.used_blocks(), 0);
    }

    #[test]
    fn recorded_changes_follow_stores_evictions_and_clears() {
        let mut pool = BlockPool::new(4, 3);
        let h = block_hashes(&ids(12, 1), 4, 0);
        let a = pool.admit(&h, 12, 12);
        assert!(pool.take_changes().is_empty(), "nothing recorded before asked");
        pool.release(&a.blocks);
        pool.record_changes();
        let again = pool.admit(&h, 12, 12);
        assert_eq!(again.cached_tokens, 8);
        assert_eq!(pool.take_changes(), vec![Change::Removed(h[2]), Change::Stored(2)], "the last block recomputed");
        pool.release(&again.blocks);
        let other = block_hashes(&ids(8, 2), 4, 0);
        let b = pool.admit(&other, 8, 8);
        assert_eq!(
            pool.take_changes(),
            vec![Change::Removed(h[2]), Change::Stored(0), Change::Removed(h[1]), Change::Stored(1)],
            "the tail is evicted first"
        );
        pool.release(&b.blocks);
        assert!(pool.reset(false));
        assert_eq!(pool.take_changes(), vec![Change::Cleared]);
        assert!(pool.take_changes().is_empty());
    }

    #[test]
    fn reset_forgets_prefixes_but_not_while_blocks_are_held() {
        let mut pool = BlockPool::new(16, 10);
        let h = block_hashes(&ids(40, 8), 16, 0);
        let a = pool.admit(&h, 40, 40);
        assert!(!pool.reset(false), "refused while a request holds blocks");
        assert_eq!(pool.cached_blocks(), 2);
        pool.release(&a.blocks);
        assert!(pool.reset(false));
        assert_eq!(pool.cached_blocks(), 0);
        assert_eq!(pool.admit(&h, 40, 40).cached_tokens, 0, "the next repeat misses");
        assert!(pool.reset(true), "running requests too, on request");
        assert_eq!(pool.admit(&h, 40, 40).cached_tokens, 0);
        assert_eq!(pool.stats().requests, 3, "counters survive a reset");
    }

    /// p and q (3 blocks each) freed, p (hit again in between) first: each policy's order.
    fn freed_pair(policy: EvictionPolicy) -> (BlockPool, Vec<u32>, Vec<u32>) {
        let mut pool = BlockPool::with_policy(4, 6, policy);
        let (hp, hq) = (block_hashes(&ids(12, 1), 4, 0), block_hashes(&ids(12, 2), 4, 0));
        let p = pool.admit(&hp, 12, 12);
        let q = pool.admit(&hq, 12, 12);
        pool.release(&p.blocks);
        let again = pool.admit(&hp, 12, 12);
        assert_eq!((again.cached_tokens, &again.blocks), (8, &p.blocks), "p hits twice, recomputes its last");
        pool.release(&again.blocks);
        pool.release(&q.blocks);
        (pool, p.blocks, q.blocks)
    }

    #[test]
    fn each_eviction_policy_picks_its_first_block() {
        let cases = [
            // Least recently freed, each request's tail first.
            (EvictionPolicy::Lru, [(0, 2), (0, 1), (0, 0), (1, 2), (1, 1), (1, 0)]),
            // Fewest hits (p's last block and q's: none) first, then least recently freed.
            (EvictionPolicy::Lfu, [(0, 2), (1, 2), (1, 1), (1, 0), (0, 1), (0, 0)]),
            // Earliest stored: p's head; p's last block was stored again, last.
            (EvictionPolicy::Fifo, [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (0, 2)]),
            // Most recently freed (q), each request's tail first.
            (EvictionPolicy::Mru, [(1, 2), (1, 1), (1, 0), (0, 2), (0, 1), (0, 0)]),
            // Latest stored first.
            (EvictionPolicy::Filo, [(0, 2), (1, 2), (1, 1), (1, 0), (0, 1), (0, 0)]),
        ];
        for (policy, order) in cases {
            let (mut pool, p, q) = freed_pair(policy);
            let expected: Vec<u32> = order.iter().map(|&(who, i)| [&p, &q][who][i]).collect();
            assert_eq!(pool.free_order(), expected, "{policy:?}");
            let r = pool.admit(&block_hashes(&ids(8, 3), 4, 0), 8, 8);
            assert_eq!(r.blocks, expected[..2], "{policy:?}: a new prompt evicts the first two");
            assert_eq!(pool.stats().evictions, 2 + 1, "{policy:?}: and p's recomputed last block once");
        }
    }

    #[test]
    fn other_policies_take_blocks_that_cache_nothing_first() {
        for policy in [EvictionPolicy::Lfu, EvictionPolicy::Fifo, EvictionPolicy::Mru, EvictionPolicy::Filo] {
            let mut pool = BlockPool::with_policy(4, 4, policy);
            let h = block_hashes(&ids(8, 1), 4, 0);
            let a = pool.admit(&h, 8, 16);
            pool.release(&a.blocks);
            assert_eq!(pool.free_order()[..2], [a.blocks[3], a.blocks[2]], "{policy:?}: the output's blocks first");
            let b = pool.admit(&[], 4, 8);
            assert_eq!((b.blocks.len(), pool.stats().evictions), (2, 0), "{policy:?}: nothing cached is lost");
            pool.release(&b.blocks);
            assert_eq!(pool.admit(&h, 8, 8).cached_tokens, 4, "{policy:?}");
        }
    }

    #[test]
    fn a_reset_reorders_the_free_blocks_it_uncaches() {
        let (mut pool, p, q) = freed_pair(EvictionPolicy::Lfu);
        assert!(pool.reset(false));
        assert_eq!(pool.free_order().len(), 6);
        assert_eq!(pool.free_order()[..3], [p[2], p[1], p[0]], "now uncached: by release, tail first");
        assert_eq!(pool.free_order()[3..], [q[2], q[1], q[0]]);
    }

    #[test]
    fn residency_is_observed_when_a_cached_block_is_evicted() {
        let mut pool = BlockPool::new(4, 2);
        let h = block_hashes(&ids(5, 1), 4, 0);
        let at = |pool: &mut BlockPool, t: f64| pool.set_clock(t);
        at(&mut pool, 1.0);
        let first = pool.admit(&h, 5, 8);
        at(&mut pool, 2.0);
        pool.release(&first.blocks);
        for t in [3.0, 5.0] {
            at(&mut pool, t);
            let r = pool.admit(&h, 5, 8);
            assert_eq!((r.cached_tokens, r.blocks[0]), (4, first.blocks[0]));
            pool.release(&r.blocks);
        }
        at(&mut pool, 4.0);
        assert!(pool.residency().lifetime.cumulative().last() == Some(0), "nothing evicted yet");
        at(&mut pool, 10.0);
        let other = pool.admit(&block_hashes(&ids(8, 2), 4, 0), 8, 8);
        let r = pool.residency();
        let count = |h: &FixedHistogram| h.cumulative().last().unwrap_or(0);
        assert_eq!((count(&r.lifetime), count(&r.idle), count(&r.reuse_gap)), (1, 1, 1), "one cached block evicted");
        assert_eq!((r.lifetime.sum(), r.idle.sum(), r.reuse_gap.sum()), (9.0, 5.0, 2.0), "born at 1, hit at 3 and 5");
        pool.release(&other.blocks);
    }

    #[test]
    fn every_policy_keeps_its_free_set_exact_under_random_traffic() {
        let policies =
            [EvictionPolicy::Lru, EvictionPolicy::Lfu, EvictionPolicy::Fifo, EvictionPolicy::Mru, EvictionPolicy::Filo];
        for policy in policies {
            let mut pool = BlockPool::with_policy(4, 24, policy);
            let mut rng = 0x2545_f491_4f6c_dd1d_u64;
            let mut next = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let prompts: Vec<Vec<u32>> = (0..6).map(|p| ids(4 * (2 + p), p)).collect();
            let mut held: Vec<Vec<u32>> = Vec::new();
            for step in 0..1500 {
                pool.set_clock(step as f64 * 0.01);
                match next(10) {
                    0..=3 => {
                        let p = &prompts[next(6) as usize];
                        let n = p.len() as u64;
                        held.push(pool.admit(&block_hashes(p, 4, 0), n, n + next(8)).blocks);
                    }
                    4..=8 if !held.is_empty() => {
                        let lease = held.swap_remove(next(held.len() as u64) as usize);
                        pool.release(&lease);
                    }
                    _ => {
                        pool.reset(held.is_empty());
                    }
                }
                let free = pool.free_order();
                assert_eq!(free.len() as u32, pool.available(), "{policy:?} step {step}");
                assert!(free.iter().all(|&b| pool.blocks[b as usize].refs == 0), "{policy:?}: only free blocks");
                let held_blocks: usize =
                    held.iter().map(|l| l.iter().collect::<std::collections::HashSet<_>>().len()).sum();
                assert!(held_blocks as u32 >= pool.used_blocks(), "{policy:?}");
            }
            let r = pool.residency();
            assert!(pool.stats().evictions > 100, "{policy:?}: {:?}", pool.stats());
            assert_eq!(r.lifetime.cumulative().last(), Some(pool.stats().evictions), "{policy:?}");
        }
    }
}
