//! A bounded store of objects by id, oldest first, shared by all workers behind one mutex: only
//! control-plane requests (create, retrieve, list) touch it, never a token.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use super::list::{ListQuery, Page, paginate};
use crate::error::Error;

#[derive(Debug)]
struct Inner<T> {
    by_id: HashMap<String, T>,
    /// Ids in insertion (creation) order.
    order: VecDeque<String>,
}

/// At most `capacity` objects; the oldest go first when it is full.
#[derive(Debug)]
pub struct ObjectStore<T> {
    capacity: usize,
    inner: Mutex<Inner<T>>,
}

impl<T> ObjectStore<T> {
    /// A store keeping at most `capacity` objects (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        ObjectStore { capacity, inner: Mutex::new(Inner { by_id: HashMap::new(), order: VecDeque::new() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic elsewhere cannot leave the map half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether anything is kept at all.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Keeps `object` under `id`, dropping the oldest when full.
    pub fn insert(&self, id: String, object: T) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.by_id.contains_key(&id) {
            inner.order.retain(|k| *k != id);
        }
        while inner.by_id.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else { break };
            inner.by_id.remove(&oldest);
        }
        inner.order.push_back(id.clone());
        inner.by_id.insert(id, object);
    }

    /// `f` of the object under `id`, if there is one.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        self.lock().by_id.get(id).map(f)
    }

    /// `f` applied to the object under `id` (which it may change), if there is one.
    pub fn update<R>(&self, id: &str, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.lock().by_id.get_mut(id).map(f)
    }

    /// Removes and returns the object under `id`.
    pub fn remove(&self, id: &str) -> Option<T> {
        let mut inner = self.lock();
        let removed = inner.by_id.remove(id);
        if removed.is_some() {
            inner.order.retain(|k| k != id);
        }
        removed
    }

    /// The page `q` asks for of the objects `keep` accepts, each rendered by `render`.
    pub fn page<R>(
        &self,
        q: &ListQuery,
        keep: impl Fn(&T) -> bool,
        render: impl Fn(&T) -> R,
    ) -> Result<Page<R>, Error> {
        let inner = self.lock();
        let items =
            inner.order.iter().filter_map(|id| inner.by_id.get(id).filter(|t| keep(t)).map(|t| (id.as_str(), t)));
        Ok(paginate(items, q)?.map(render))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::list::Order;

    #[test]
    fn bounded_oldest_first_and_listed_in_order() {
        let s = ObjectStore::new(3);
        for (id, n) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
            s.insert(id.to_owned(), n);
        }
        assert_eq!(s.with("a", |n| *n), None);
        assert_eq!(s.update("b", |n| std::mem::replace(n, 20)), Some(2));
        let q = ListQuery::parse("order=desc", Order::Asc).unwrap();
        let page = s.page(&q, |n| *n != 3, |n| *n).unwrap();
        assert_eq!(page.data, [("d".to_owned(), 4), ("b".to_owned(), 20)]);
        assert_eq!(s.remove("b"), Some(20));
        assert_eq!(s.remove("b"), None);
        let off = ObjectStore::new(0);
        off.insert("a".into(), 1);
        assert!(!off.enabled() && off.with("a", |n| *n).is_none());
    }
}
