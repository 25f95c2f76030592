//! A typed store of one kind of control-plane object, shared by every worker: a map by id, a
//! created-ordered index for OpenAI's cursor pagination, and bounds (a count, and a byte budget
//! for contents) that refuse new objects, or for caches of generated objects drop the oldest.
//! A lock is fine here: no token ever waits on it. Every change also goes to the store's [`Journal`], where a
//! persistent backend (`--data-dir`) slots in without touching the API code.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    ops::Bound,
    sync::{
        Arc, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

/// An object a [`Store`] can hold.
pub trait Object: Clone + Send + Sync {
    /// Its kind as OpenAI's errors name it (`File`, `Batch`, `Upload`).
    const KIND: &'static str;
    /// Its id.
    fn id(&self) -> &str;
    /// Content bytes it holds against the store's byte budget.
    fn content_bytes(&self) -> u64 {
        0
    }
    /// When it stops existing (unix seconds), if ever.
    fn expires_at(&self) -> Option<u64> {
        None
    }
}

/// A byte budget for contents, shared by the stores that hold bytes (files and upload parts).
#[derive(Debug)]
pub struct ByteBudget {
    max: u64,
    used: AtomicU64,
    /// The flag that sets it.
    flag: &'static str,
}

impl ByteBudget {
    /// A budget of `max` bytes set by `flag`.
    pub fn new(max: u64, flag: &'static str) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { max, used: AtomicU64::new(0), flag })
    }

    /// No budget at all.
    pub fn unlimited() -> Arc<ByteBudget> {
        ByteBudget::new(u64::MAX, "")
    }

    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.used.load(Relaxed)
    }

    /// Takes `wanted` bytes, or says how many are free.
    fn reserve(&self, kind: &'static str, wanted: u64) -> Result<(), StoreError> {
        self.used
            .fetch_update(Relaxed, Relaxed, |used| used.checked_add(wanted).filter(|total| *total <= self.max))
            .map(drop)
            .map_err(|used| StoreError::OverBudget { kind, wanted, free: self.max - used, flag: self.flag })
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Relaxed);
    }
}

/// What a full store does with one more object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuses it (objects a user created and expects to keep).
    Refuse,
    /// Drops the oldest to make room (objects kept as a convenience, such as generated ones);
    /// a store bounded at 0 keeps nothing.
    DropOldest,
}

/// A store's bounds and the flags that set them (named in the error when one is hit).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most objects held at once.
    pub max_objects: usize,
    /// The flag setting `max_objects`.
    pub objects_flag: &'static str,
    /// The budget its contents draw on.
    pub bytes: Arc<ByteBudget>,
    /// What a full store does.
    pub when_full: WhenFull,
}

impl Limits {
    /// At most `max_objects` objects, refused beyond, contents unbudgeted.
    pub fn count(max_objects: usize, objects_flag: &'static str) -> Limits {
        Limits { max_objects, objects_flag, bytes: ByteBudget::unlimited(), when_full: WhenFull::Refuse }
    }

    /// At most `max_objects` objects, the oldest dropped beyond (so no error names a flag).
    pub fn rolling(max_objects: usize) -> Limits {
        Limits { when_full: WhenFull::DropOldest, ..Limits::count(max_objects, "") }
    }
}

/// Why a store refused an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The count bound is reached.
    TooMany {
        /// The kind.
        kind: &'static str,
        /// The bound.
        limit: usize,
        /// The flag that sets it.
        flag: &'static str,
    },
    /// The content would exceed the byte budget.
    OverBudget {
        /// The kind.
        kind: &'static str,
        /// Bytes asked for.
        wanted: u64,
        /// Bytes still free.
        free: u64,
        /// The flag that sets the budget.
        flag: &'static str,
    },
    /// A pagination cursor names no object.
    UnknownCursor {
        /// The kind.
        kind: &'static str,
        /// `after` or `before`.
        param: &'static str,
        /// The id given.
        id: String,
    },
    /// The journal (persistence) refused the change.
    Journal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::TooMany { kind, limit, flag } => {
                write!(f, "Limit of {limit} {kind} objects reached: delete some or start fakeai with a larger {flag}.")
            }
            StoreError::OverBudget { kind, wanted, free, flag } => write!(
                f,
                "{kind} storage is full: {wanted} bytes needed, {free} free. Delete some or start fakeai with a \
                 larger {flag}."
            ),
            StoreError::UnknownCursor { kind, param, id } => write!(f, "Invalid '{param}': no {kind} with id '{id}'."),
            StoreError::Journal(e) => write!(f, "The change could not be recorded: {e}"),
        }
    }
}

/// A change as the journal sees it, in the order the store applied it.
#[derive(Debug)]
pub enum Change<'a, T> {
    /// `T` was created or replaced.
    Put {
        /// Its place in creation order (kept, so a store read back lists as before).
        seq: u64,
        /// The object.
        obj: &'a T,
    },
    /// The object of this id was removed.
    Delete(&'a str),
}

/// Where a store's changes go besides memory. Called under the store's write lock, so it sees
/// changes in the order they apply; an error refuses the change. The in-memory default records
/// nothing; the `--data-dir` writer will enqueue the change for its background thread here and
/// hand back what the reply awaits before it is sent.
pub trait Journal<T>: Send + Sync + fmt::Debug {
    /// Records one change.
    fn record(&self, change: Change<'_, T>) -> Result<(), StoreError>;
}

/// The journal of a store kept only in memory.
#[derive(Debug, Default)]
pub struct InMemory;

impl<T> Journal<T> for InMemory {
    fn record(&self, _: Change<'_, T>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Listing order by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// One page's request: OpenAI's `limit`, `after`, `before` and `order`, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Most objects returned.
    pub limit: usize,
    /// Start after this id (in listing order).
    pub after: Option<String>,
    /// End before this id (in listing order).
    pub before: Option<String>,
    /// Listing order.
    pub order: Order,
}

/// One page of objects, in listing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The objects.
    pub data: Vec<T>,
    /// More objects lie beyond the page in the direction of travel.
    pub has_more: bool,
}

#[derive(Debug)]
struct Inner<T> {
    /// Object and its position in `order`, by id.
    by_id: HashMap<String, (u64, T)>,
    /// Ids by creation sequence.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

/// A bounded, created-ordered store of `T`s shared by every worker.
#[derive(Debug)]
pub struct Store<T> {
    limits: Limits,
    inner: RwLock<Inner<T>>,
    journal: Box<dyn Journal<T>>,
}

impl<T: Object + 'static> Store<T> {
    /// An empty in-memory store bounded by `limits`.
    pub fn new(limits: Limits) -> Self {
        Store::with_journal(limits, Box::new(InMemory))
    }

    /// An empty store whose changes also go to `journal`.
    pub fn with_journal(limits: Limits, journal: Box<dyn Journal<T>>) -> Self {
        let inner = Inner { by_id: HashMap::new(), order: BTreeMap::new(), next_seq: 0 };
        Store { limits, inner: RwLock::new(inner), journal }
    }

    /// Replaces the journal (once the store has been read back from it).
    pub fn set_journal(&mut self, journal: Box<dyn Journal<T>>) {
        self.journal = journal;
    }

    /// Replaces what the store holds with `objects` read from its journal, each at its creation
    /// sequence, without journaling them again; they count against the bounds even beyond them (nothing
    /// acknowledged is dropped), and new objects come after them.
    pub fn restore(&self, objects: Vec<(u64, T)>) {
        let mut inner = self.write();
        for (_, (_, obj)) in inner.by_id.drain() {
            self.limits.bytes.release(obj.content_bytes());
        }
        inner.order.clear();
        inner.next_seq = 0;
        for (seq, obj) in objects {
            self.limits.bytes.used.fetch_add(obj.content_bytes(), Relaxed);
            if let Some((old, _)) = inner.by_id.insert(obj.id().to_owned(), (seq, obj.clone())) {
                inner.order.remove(&old);
            }
            inner.order.insert(seq, obj.id().to_owned());
            inner.next_seq = inner.next_seq.max(seq + 1);
        }
    }

    /// Records every object held as a change (a journal attached to a store that already
    /// holds its defaults).
    pub fn journal_all(&self) -> Result<(), StoreError> {
        let inner = self.write();
        inner
            .order
            .iter()
            .try_for_each(|(seq, id)| self.journal.record(Change::Put { seq: *seq, obj: &inner.by_id[id].1 }))
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<T>> {
        // Every mutation completes before it can panic, so a poisoned lock holds consistent data.
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<T>> {
        self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the store keeps anything at all.
    pub fn enabled(&self) -> bool {
        self.limits.max_objects > 0
    }

    /// Adds `obj` (replacing one of its id), after dropping objects expired by `now`; when the
    /// count bound is reached it is refused or the oldest make room, as the limits say. Refused
    /// when the byte budget cannot hold it.
    pub fn insert(&self, obj: T, now: u64) -> Result<(), StoreError> {
        let mut inner = self.write();
        self.purge_expired(&mut inner, now)?;
        self.remove_locked(&mut inner, obj.id())?;
        let kind = T::KIND;
        if inner.by_id.len() >= self.limits.max_objects {
            match self.limits.when_full {
                WhenFull::Refuse => {
                    let (limit, flag) = (self.limits.max_objects, self.limits.objects_flag);
                    return Err(StoreError::TooMany { kind, limit, flag });
                }
                WhenFull::DropOldest if self.limits.max_objects == 0 => return Ok(()),
                WhenFull::DropOldest => self.drop_oldest(&mut inner)?,
            }
        }
        self.limits.bytes.reserve(kind, obj.content_bytes())?;
        let seq = inner.next_seq;
        if let Err(e) = self.journal.record(Change::Put { seq, obj: &obj }) {
            self.limits.bytes.release(obj.content_bytes());
            return Err(e);
        }
        inner.next_seq += 1;
        inner.order.insert(seq, obj.id().to_owned());
        inner.by_id.insert(obj.id().to_owned(), (seq, obj));
        Ok(())
    }

    /// Drops the oldest objects until one more fits.
    fn drop_oldest(&self, inner: &mut Inner<T>) -> Result<(), StoreError> {
        while inner.by_id.len() >= self.limits.max_objects {
            let Some((_, oldest)) = inner.order.first_key_value() else { break };
            let oldest = oldest.clone();
            self.remove_locked(inner, &oldest)?;
        }
        Ok(())
    }

    /// Removes what expired by `now`: it no longer exists, so it holds no bound.
    fn purge_expired(&self, inner: &mut Inner<T>, now: u64) -> Result<(), StoreError> {
        let expired: Vec<String> = inner
            .by_id
            .iter()
            .filter(|(_, (_, o))| o.expires_at().is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_locked(inner, &id)?;
        }
        Ok(())
    }

    /// The object `id`, unless it expired by `now`.
    pub fn get(&self, id: &str, now: u64) -> Option<T> {
        self.with(id, now, T::clone)
    }

    /// `read` of the object `id` (unless it expired by `now`), without copying it.
    pub fn with<R>(&self, id: &str, now: u64, read: impl FnOnce(&T) -> R) -> Option<R> {
        self.read().by_id.get(id).map(|(_, o)| o).filter(|o| live(*o, now)).map(read)
    }

    /// Changes the object `id` with `change` (which may not alter its id) and returns the result;
    /// `None` when there is no such object. A change the budget cannot hold is refused.
    pub fn update<R>(&self, id: &str, change: impl FnOnce(&mut T) -> R) -> Result<Option<(T, R)>, StoreError> {
        let mut inner = self.write();
        let Some(&(seq, ref current)) = inner.by_id.get(id) else { return Ok(None) };
        let mut next = current.clone();
        let result = change(&mut next);
        debug_assert_eq!(next.id(), id, "an update keeps the id");
        let (old, new) = (current.content_bytes(), next.content_bytes());
        self.limits.bytes.reserve(T::KIND, new.saturating_sub(old))?;
        if let Err(e) = self.journal.record(Change::Put { seq, obj: &next }) {
            self.limits.bytes.release(new.saturating_sub(old));
            return Err(e);
        }
        self.limits.bytes.release(old.saturating_sub(new));
        let slot = &mut inner.by_id.get_mut(id).expect("present").1;
        *slot = next.clone();
        Ok(Some((next, result)))
    }

    /// Removes the object `id` (expired or not) and returns it.
    pub fn remove(&self, id: &str) -> Result<Option<T>, StoreError> {
        let mut inner = self.write();
        self.remove_locked(&mut inner, id)
    }

    fn remove_locked(&self, inner: &mut Inner<T>, id: &str) -> Result<Option<T>, StoreError> {
        if !inner.by_id.contains_key(id) {
            return Ok(None);
        }
        self.journal.record(Change::Delete(id))?;
        let (seq, obj) = inner.by_id.remove(id).expect("present");
        inner.order.remove(&seq);
        self.limits.bytes.release(obj.content_bytes());
        Ok(Some(obj))
    }

    /// Objects held (expired ones not yet purged included).
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live object `keep` accepts, oldest first.
    pub fn matching(&self, now: u64, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let inner = self.read();
        inner.order.values().map(|id| &inner.by_id[id].1).filter(|o| live(*o, now) && keep(o)).cloned().collect()
    }

    /// The sum of `value` over the live objects, read in place.
    pub fn sum(&self, now: u64, value: impl Fn(&T) -> u64) -> u64 {
        self.read().by_id.values().map(|(_, o)| o).filter(|o| live(*o, now)).map(value).sum()
    }

    /// One page of the live objects `keep` accepts, as OpenAI paginates: in `query.order`,
    /// strictly after `after` and before `before` (ids that must exist), at most `limit` of
    /// them; with only `before`, the `limit` nearest to it.
    pub fn page(&self, query: &PageQuery, now: u64, keep: impl Fn(&T) -> bool) -> Result<Page<T>, StoreError> {
        let inner = self.read();
        let position = |id: &str| inner.by_id.get(id).map(|(seq, _)| *seq);
        let Some(range) = between(query, T::KIND, position)? else { return Ok(Page::empty()) };
        let matching = inner.order.range(range).map(|(_, id)| &inner.by_id[id].1).filter(|o| live(*o, now) && keep(o));
        Ok(take_page(matching, query))
    }
}

/// One page of `items` (oldest first, each named by `id`) as [`Store::page`] pages a store:
/// for lists held inside one object, such as a conversation's items. `kind` names an item in
/// the error for an unknown cursor.
pub fn page_of<T: Clone>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    kind: &'static str,
    query: &PageQuery,
) -> Result<Page<T>, StoreError> {
    let position = |wanted: &str| items.iter().position(|item| id(item) == wanted);
    let Some(range) = between(query, kind, position)? else { return Ok(Page::empty()) };
    Ok(take_page(items[range].iter(), query))
}

/// A range of positions, each end open or unbounded.
type Span<P> = (Bound<P>, Bound<P>);

/// The positions (creation order) strictly between `query`'s cursors, whichever way the list
/// runs; `None` when no position lies between them; an error for a cursor `position` cannot find.
fn between<P: Copy + Ord>(
    query: &PageQuery,
    kind: &'static str,
    position: impl Fn(&str) -> Option<P>,
) -> Result<Option<Span<P>>, StoreError> {
    let locate = |param: &'static str, id: &Option<String>| -> Result<Option<P>, StoreError> {
        id.as_deref()
            .map(|id| position(id).ok_or_else(|| StoreError::UnknownCursor { kind, param, id: id.to_owned() }))
            .transpose()
    };
    let (after, before) = (locate("after", &query.after)?, locate("before", &query.before)?);
    let (low, high) = match query.order {
        Order::Asc => (after, before),
        Order::Desc => (before, after),
    };
    // Cursors that cross (or meet) leave nothing between them; a range over them would panic.
    if let (Some(low), Some(high)) = (low, high)
        && low >= high
    {
        return Ok(None);
    }
    Ok(Some((low.map_or(Bound::Unbounded, Bound::Excluded), high.map_or(Bound::Unbounded, Bound::Excluded))))
}

/// The page `query` asks for of `matching` (the objects between its cursors, oldest first):
/// walking from `after` (or the start), or backwards from `before` when only it is given.
fn take_page<'a, T: Clone + 'a>(matching: impl DoubleEndedIterator<Item = &'a T>, query: &PageQuery) -> Page<T> {
    let backwards = query.before.is_some() && query.after.is_none();
    let mut taken: Vec<&T> = match (query.order == Order::Asc) != backwards {
        true => matching.take(query.limit.saturating_add(1)).collect(),
        false => matching.rev().take(query.limit.saturating_add(1)).collect(),
    };
    let has_more = taken.len() > query.limit;
    taken.truncate(query.limit);
    if backwards {
        taken.reverse();
    }
    Page { data: taken.into_iter().cloned().collect(), has_more }
}

impl<T> Page<T> {
    fn empty() -> Page<T> {
        Page { data: Vec::new(), has_more: false }
    }

    /// OpenAI's list object of the page, each object rendered by `json` (which holds its `id`):
    /// `{object: "list", data, first_id, last_id, has_more}`.
    pub fn to_json(&self, json: impl Fn(&T) -> serde_json::Value) -> serde_json::Value {
        let data: Vec<serde_json::Value> = self.data.iter().map(json).collect();
        let id = |v: Option<&serde_json::Value>| v.map_or(serde_json::Value::Null, |v| v["id"].clone());
        serde_json::json!({
            "object": "list",
            "data": data,
            "first_id": id(data.first()),
            "last_id": id(data.last()),
            "has_more": self.has_more,
        })
    }
}

/// The `id` of an object kept as JSON (`""` when it has none), for [`page_of`].
pub fn json_id(v: &serde_json::Value) -> &str {
    v["id"].as_str().unwrap_or_default()
}

/// The `now` to pass for objects that never expire (any time would do).
pub const UNDATED: u64 = 0;

fn live<T: Object>(o: &T, now: u64) -> bool {
    o.expires_at().is_none_or(|at| at > now)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Thing {
        id: String,
        size: u64,
        kind: &'static str,
        expires: Option<u64>,
    }

    impl Object for Thing {
        const KIND: &'static str = "Thing";
        fn id(&self) -> &str {
            &self.id
        }
        fn content_bytes(&self) -> u64 {
            self.size
        }
        fn expires_at(&self) -> Option<u64> {
            self.expires
        }
    }

    fn thing(id: &str) -> Thing {
        Thing { id: id.into(), size: 0, kind: "a", expires: None }
    }

    fn store_of(n: usize) -> Store<Thing> {
        let s = Store::new(Limits::count(1000, "--max-things"));
        for i in 0..n {
            s.insert(thing(&format!("t{i}")), 0).unwrap();
        }
        s
    }

    fn ids(p: &Page<Thing>) -> Vec<&str> {
        p.data.iter().map(|t| t.id.as_str()).collect()
    }

    fn q(limit: usize, after: Option<&str>, before: Option<&str>, order: Order) -> PageQuery {
        PageQuery { limit, after: after.map(Into::into), before: before.map(Into::into), order }
    }

    #[test]
    fn pages_walk_forward_in_either_order() {
        let s = store_of(5);
        let p = s.page(&q(2, None, None, Order::Desc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t4", "t3"], true));
        let p = s.page(&q(2, Some("t3"), None, Order::Desc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t2", "t1"], true));
        let p = s.page(&q(2, Some("t1"), None, Order::Desc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t0"], false));
        let p = s.page(&q(3, Some("t1"), None, Order::Asc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t2", "t3", "t4"], false));
        let p = s.page(&q(5, None, None, Order::Asc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t0", "t1", "t2", "t3", "t4"], false), "exactly limit: no more");
    }

    #[test]
    fn before_gives_the_nearest_page_in_listing_order() {
        let s = store_of(6);
        let p = s.page(&q(2, None, Some("t4"), Order::Asc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t2", "t3"], true));
        let p = s.page(&q(2, None, Some("t1"), Order::Desc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t3", "t2"], true));
        let p = s.page(&q(10, None, Some("t2"), Order::Asc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t0", "t1"], false));
        let p = s.page(&q(10, Some("t1"), Some("t4"), Order::Asc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t2", "t3"], false));
        let p = s.page(&q(1, Some("t4"), Some("t1"), Order::Desc), 0, |_| true).unwrap();
        assert_eq!((ids(&p), p.has_more), (vec!["t3"], true));
        for (after, before) in [("t4", "t1"), ("t2", "t2")] {
            let p = s.page(&q(5, Some(after), Some(before), Order::Asc), 0, |_| true).unwrap();
            assert!(p.data.is_empty() && !p.has_more, "cursors that cross hold nothing between them");
        }
    }

    #[test]
    fn lists_inside_an_object_page_the_same_way() {
        let items: Vec<Thing> = (0..5).map(|i| thing(&format!("t{i}"))).collect();
        let page = |query: &PageQuery| page_of(&items, |t| &t.id, "item", query);
        for query in
            [q(2, Some("t3"), None, Order::Desc), q(2, None, Some("t4"), Order::Asc), q(9, None, None, Order::Asc)]
        {
            assert_eq!(page(&query).unwrap(), store_of(5).page(&query, 0, |_| true).unwrap(), "{query:?}");
        }
        let e = page(&q(2, Some("zz"), None, Order::Asc)).unwrap_err();
        assert_eq!(e, StoreError::UnknownCursor { kind: "item", param: "after", id: "zz".into() });
    }

    #[test]
    fn a_rolling_store_drops_the_oldest_and_replaces_by_id() {
        let s = Store::new(Limits::rolling(2));
        for id in ["a", "b", "a", "c"] {
            s.insert(thing(id), 0).unwrap();
        }
        assert_eq!(ids(&s.page(&q(9, None, None, Order::Asc), 0, |_| true).unwrap()), ["a", "c"]);
        let off = Store::new(Limits::rolling(0));
        off.insert(thing("a"), 0).unwrap();
        assert!(!off.enabled() && off.is_empty());
    }

    #[test]
    fn filters_and_unknown_cursors() {
        let s = store_of(0);
        for (i, kind) in ["a", "b", "a", "b", "a"].into_iter().enumerate() {
            s.insert(Thing { kind, ..thing(&format!("t{i}")) }, 0).unwrap();
        }
        let p = s.page(&q(10, Some("t1"), None, Order::Asc), 0, |t| t.kind == "a").unwrap();
        assert_eq!(ids(&p), ["t2", "t4"], "a cursor filtered out still places the page");
        let e = s.page(&q(10, Some("nope"), None, Order::Asc), 0, |_| true).unwrap_err();
        assert_eq!(e, StoreError::UnknownCursor { kind: "Thing", param: "after", id: "nope".into() });
        assert!(matches!(
            s.page(&q(10, None, Some("x"), Order::Asc), 0, |_| true),
            Err(StoreError::UnknownCursor { param: "before", .. })
        ));
    }

    #[test]
    fn bounds_refuse_and_deleting_frees() {
        let budget = ByteBudget::new(100, "--b");
        let s = Store::new(Limits { max_objects: 2, bytes: budget.clone(), ..Limits::count(0, "--max-things") });
        s.insert(Thing { size: 60, ..thing("a") }, 0).unwrap();
        let e = s.insert(Thing { size: 41, ..thing("b") }, 0).unwrap_err();
        assert_eq!(e, StoreError::OverBudget { kind: "Thing", wanted: 41, free: 40, flag: "--b" });
        s.insert(Thing { size: 40, ..thing("b") }, 0).unwrap();
        let e = s.insert(thing("c"), 0).unwrap_err();
        assert!(e.to_string().contains("Limit of 2 Thing objects reached") && e.to_string().contains("--max-things"));
        assert_eq!(s.get("a", 0).unwrap().size, 60, "nothing live was evicted");
        assert_eq!(s.remove("a").unwrap().unwrap().size, 60);
        assert_eq!(budget.used(), 40);
        s.insert(Thing { size: 60, ..thing("c") }, 0).unwrap();
        assert!(s.update("c", |t| t.size = 61).unwrap_err().to_string().contains("0 free"));
        assert_eq!(s.update("c", |t| t.size = 10).unwrap().unwrap().0.size, 10);
        assert_eq!(budget.used(), 50);
        let other = Store::new(Limits { bytes: budget.clone(), ..Limits::count(10, "--y") });
        assert!(matches!(other.insert(Thing { size: 51, ..thing("d") }, 0), Err(StoreError::OverBudget { .. })));
        other.insert(Thing { size: 50, ..thing("d") }, 0).expect("the budget is shared");
    }

    #[test]
    fn expired_objects_vanish_and_free_their_bounds() {
        let s = Store::new(Limits::count(1, "--max-things"));
        s.insert(Thing { expires: Some(100), ..thing("old") }, 0).unwrap();
        assert!(s.get("old", 99).is_some());
        assert!(s.get("old", 100).is_none());
        assert!(s.page(&q(10, None, None, Order::Asc), 100, |_| true).unwrap().data.is_empty());
        s.insert(thing("new"), 100).expect("the expired object no longer counts");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn list_object_names_its_ends() {
        let page = Page { data: vec!["a", "b"], has_more: true };
        let v = page.to_json(|s| serde_json::json!({"id": s}));
        assert_eq!(
            v,
            serde_json::json!({"object": "list", "data": [{"id": "a"}, {"id": "b"}], "first_id": "a",
                "last_id": "b", "has_more": true})
        );
        let empty = Page::<&str>::empty().to_json(|s| serde_json::json!({"id": s}));
        assert!(empty["first_id"].is_null() && empty["last_id"].is_null() && empty["data"] == serde_json::json!([]));
    }

    #[derive(Debug, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Journal<Thing> for Log {
        fn record(&self, change: Change<'_, Thing>) -> Result<(), StoreError> {
            let line = match change {
                Change::Put { obj, .. } if obj.id == "refused" => return Err(StoreError::Journal("disk full".into())),
                Change::Put { seq, obj } => format!("put {} {} at {seq}", obj.id, obj.size),
                Change::Delete(id) => format!("delete {id}"),
            };
            self.0.lock().unwrap().push(line);
            Ok(())
        }
    }

    #[test]
    fn the_journal_sees_every_change_and_can_refuse_one() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let s = Store::with_journal(Limits::count(10, "--x"), Box::new(Log(log.clone())));
        s.insert(thing("a"), 0).unwrap();
        s.update("a", |t| t.size = 3).unwrap();
        s.remove("a").unwrap();
        assert!(s.insert(thing("refused"), 0).is_err());
        assert!(s.get("refused", 0).is_none(), "a change the journal refused is not applied");
        assert_eq!(*log.lock().unwrap(), ["put a 0 at 0", "put a 3 at 0", "delete a"]);
    }
}
