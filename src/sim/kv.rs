//! A paged KV-cache block pool with prefix caching, after vLLM's scheme: a prompt's whole
//! blocks are named by hashes chained over its token ids (each block's hash covers its parent's
//! hash, its own ids and, for the first block, extra keys such as the model or LoRA adapter and
//! `cache_salt`); a request takes the cached blocks of its longest hashed prefix and fresh blocks
//! for the rest; blocks it frees stay cached until the least recently freed is evicted. Pure: no
//! clock, no locks, no IO.

use std::collections::HashMap;

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

/// One physical block.
#[derive(Debug, Clone)]
struct Block {
    /// The hash it is cached under, if any.
    hash: Option<BlockHash>,
    /// Requests holding it.
    refs: u32,
    /// Neighbours in the free list while it is free.
    prev: u32,
    next: u32,
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
/// the free blocks in eviction order (least recently freed first).
#[derive(Debug, Clone)]
pub struct BlockPool {
    block_size: u64,
    blocks: Vec<Block>,
    cached: HashMap<BlockHash, u32>,
    free_head: u32,
    free_tail: u32,
    free: u32,
    stats: Stats,
    /// Changes since the last [`BlockPool::take_changes`], when someone follows them.
    changes: Option<Vec<Change>>,
}

impl BlockPool {
    /// `num_blocks` free blocks of `block_size` tokens (both at least 1).
    pub fn new(block_size: u64, num_blocks: u32) -> Self {
        let num_blocks = num_blocks.max(1);
        let mut pool = BlockPool {
            block_size: block_size.max(1),
            blocks: vec![Block { hash: None, refs: 0, prev: NIL, next: NIL }; num_blocks as usize],
            cached: HashMap::new(),
            free_head: NIL,
            free_tail: NIL,
            free: 0,
            stats: Stats::default(),
            changes: None,
        };
        (0..num_blocks).for_each(|b| pool.push_free(b));
        pool
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
            self.take(b);
            blocks.push(b);
        }
        let hit = blocks.len();
        let wanted = total_tokens.div_ceil(bs).max(hit as u64) - hit as u64;
        let granted = wanted.min(u64::from(self.free));
        for i in hit..hit + granted as usize {
            let b = self.evict_head();
            if let Some(&hash) = hashes.get(i).filter(|h| !self.cached.contains_key(*h)) {
                self.blocks[b as usize].hash = Some(hash);
                self.cached.insert(hash, b);
                self.record(Change::Stored(i));
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
            self.take(b);
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
        self.blocks[b as usize].hash = Some(hash);
        self.cached.insert(hash, b);
        self.record(Change::Stored(index));
    }

    /// Gives back a request's blocks. They are freed last block first, so that a prompt's tail
    /// is evicted before its head (the head is the part others share), as vLLM frees them.
    pub fn release(&mut self, blocks: &[u32]) {
        for &b in blocks.iter().rev() {
            let block = &mut self.blocks[b as usize];
            block.refs -= 1;
            if block.refs == 0 {
                self.push_free(b);
            }
        }
    }

    /// Forgets every cached prefix. Like vLLM, refuses (returns false) while requests hold
    /// blocks, unless `running_too` (vLLM's `reset_running_requests`): then the blocks they
    /// hold stop being cached too.
    pub fn reset(&mut self, running_too: bool) -> bool {
        if self.used_blocks() > 0 && !running_too {
            return false;
        }
        self.cached.clear();
        self.blocks.iter_mut().for_each(|b| b.hash = None);
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

    /// Takes the least recently freed block, evicting its cached prefix if it has one.
    fn evict_head(&mut self) -> u32 {
        let b = self.free_head;
        self.take(b);
        if let Some(hash) = self.blocks[b as usize].hash.take() {
            self.cached.remove(&hash);
            self.stats.evictions += 1;
            self.record(Change::Removed(hash));
        }
        b
    }

    /// Appends free block `b` at the most-recent end of the free list.
    fn push_free(&mut self, b: u32) {
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

    /// Removes block `b` from the free list.
    fn unlink(&mut self, b: u32) {
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

    /// The free blocks, least recently freed first (for tests).
    #[cfg(test)]
    fn free_order(&self) -> Vec<u32> {
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
}
