//! Rendered speech kept per core: load tests repeat their inputs, and a long input costs
//! seconds of encoding (a 4,096-character input is over four minutes of audio). Bounded by
//! bytes; the oldest entries go first. Per core (thread-local), so no lock is taken.

use std::{cell::RefCell, collections::VecDeque, sync::Arc};

/// Bytes of rendered audio each core keeps.
pub const CAPACITY_BYTES: usize = 64 << 20;

/// One rendered result: the encoded file and its duration.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The encoded bytes.
    pub bytes: Arc<[u8]>,
    /// Seconds of audio.
    pub seconds: f64,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// A byte-bounded first-in-first-out cache.
#[derive(Debug, Default)]
pub struct Cache {
    entries: VecDeque<(u64, Rendered)>,
    bytes: usize,
}

impl Cache {
    /// The entry under `key`, if kept.
    pub fn get(&self, key: u64) -> Option<Rendered> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, r)| r.clone())
    }

    /// Keeps `value` under `key` within `capacity` bytes (a value larger than that is not kept).
    pub fn put(&mut self, key: u64, value: Rendered, capacity: usize) {
        if value.bytes.len() > capacity || self.get(key).is_some() {
            return;
        }
        while self.bytes + value.bytes.len() > capacity {
            let (_, old) = self.entries.pop_front().expect("over capacity means not empty");
            self.bytes -= old.bytes.len();
        }
        self.bytes += value.bytes.len();
        self.entries.push_back((key, value));
    }
}

/// This core's rendering under `key`, made by `render` if not kept.
pub fn get_or_render(key: u64, render: impl FnOnce() -> Rendered) -> Rendered {
    if let Some(hit) = CACHE.with_borrow(|c| c.get(key)) {
        return hit;
    }
    let value = render();
    CACHE.with_borrow_mut(|c| c.put(key, value.clone(), CAPACITY_BYTES));
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(n: usize) -> Rendered {
        Rendered { bytes: vec![0u8; n].into(), seconds: 1.0 }
    }

    #[test]
    fn bounded_by_bytes_oldest_out_first() {
        let mut c = Cache::default();
        c.put(1, rendered(40), 100);
        c.put(2, rendered(40), 100);
        c.put(3, rendered(40), 100);
        assert!(c.get(1).is_none() && c.get(2).is_some() && c.get(3).is_some());
        c.put(4, rendered(101), 100);
        assert!(c.get(4).is_none(), "too large to keep");
        let mut calls = 0;
        for _ in 0..2 {
            get_or_render(99, || {
                calls += 1;
                rendered(1)
            });
        }
        assert_eq!(calls, 1);
    }
}
