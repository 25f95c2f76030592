//! Stored Responses API responses, for `previous_response_id` and `GET /v1/responses/{id}`.
//! Shared by all workers behind one mutex: only `/v1/responses` touches it, once per request,
//! and it holds a bounded number of responses (the oldest go first).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

/// One stored response.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Tokens a continuation inherits: this response's input (its own history included) and output.
    pub context_tokens: u64,
    /// The response object as JSON.
    pub body: Arc<[u8]>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, Stored>,
    order: VecDeque<String>,
}

/// A bounded store of responses by id.
#[derive(Debug, Default)]
pub struct ResponseStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl ResponseStore {
    /// A store keeping at most `capacity` responses (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        ResponseStore { capacity, inner: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the map half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether responses are kept at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Keeps `stored` under `id`, dropping the oldest response when full.
    pub fn put(&self, id: String, stored: Stored) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        while inner.by_id.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else { break };
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(id.clone());
        inner.by_id.insert(id, stored);
    }

    /// The response stored under `id`.
    pub fn get(&self, id: &str) -> Option<Stored> {
        self.lock().by_id.get(id).cloned()
    }

    /// Removes the response stored under `id`; says whether there was one.
    pub fn delete(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let found = inner.by_id.remove(id).is_some();
        if found {
            inner.order.retain(|k| k != id);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(n: u64) -> Stored {
        Stored { context_tokens: n, body: Arc::from(&b"{}"[..]) }
    }

    #[test]
    fn bounded_oldest_first() {
        let s = ResponseStore::new(2);
        s.put("a".into(), stored(1));
        s.put("b".into(), stored(2));
        s.put("c".into(), stored(3));
        assert!(s.get("a").is_none());
        assert_eq!(s.get("c").unwrap().context_tokens, 3);
        assert!(s.delete("b") && !s.delete("b"));
        let off = ResponseStore::new(0);
        off.put("a".into(), stored(1));
        assert!(off.get("a").is_none() && !off.enabled());
    }
}
