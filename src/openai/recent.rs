//! Models first seen in requests, shared by every worker: the most recent `capacity` ids, oldest
//! forgotten first, so a stream of typos cannot grow memory without end.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, RwLock},
};

use super::models::ModelInfo;

/// Longest id remembered; longer ones are still served, just not listed.
pub const MAX_ID_LEN: usize = 256;

/// A bounded, creation-ordered set of models.
#[derive(Debug)]
pub struct Recent {
    capacity: usize,
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<String, Arc<ModelInfo>>,
    /// Oldest first.
    order: VecDeque<Arc<ModelInfo>>,
}

impl Recent {
    /// An empty set keeping at most `capacity` models.
    pub fn new(capacity: usize) -> Self {
        Recent { capacity, inner: RwLock::new(Entries::default()) }
    }

    /// The remembered model `id` (a read lock and one hash lookup).
    pub fn get(&self, id: &str) -> Option<Arc<ModelInfo>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).by_id.get(id).cloned()
    }

    /// Remembers `model` (unless its id is too long or nothing is kept), forgetting the oldest
    /// beyond capacity; if another worker remembered the id first, that one is returned.
    pub fn insert(&self, model: Arc<ModelInfo>) -> Arc<ModelInfo> {
        if self.capacity == 0 || model.id.len() > MAX_ID_LEN {
            return model;
        }
        let mut e = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = e.by_id.get(&model.id) {
            return first.clone();
        }
        e.by_id.insert(model.id.clone(), model.clone());
        e.order.push_back(model.clone());
        while e.order.len() > self.capacity {
            let oldest = e.order.pop_front().expect("over capacity, so not empty");
            e.by_id.remove(&oldest.id);
        }
        model
    }

    /// The remembered models, oldest first.
    pub fn all(&self) -> Vec<Arc<ModelInfo>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).order.iter().cloned().collect()
    }
}
