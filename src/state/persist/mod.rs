//! `--data-dir`: every shared store kept in one embedded ACID database (`redb`: pure Rust,
//! copy-on-write B-trees, a commit is durable when it returns). Stores hand their changes to a
//! [`Journaled`] journal under their write lock; one background thread owns the database and
//! commits whatever has queued up in one write transaction (group commit: one fsync for every
//! change that arrived while the previous one was being made durable). A request that changed
//! something gets a [`Durable`] to await before its reply is sent; its core serves other
//! connections meanwhile.

mod attach;
pub mod codec;
mod durable;

use std::{
    cell::Cell,
    os::fd::OwnedFd,
    path::Path,
    sync::{
        Arc, Condvar, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Serialize, de::DeserializeOwned};

pub use attach::attach;
pub use durable::Durable;

use super::store::{Change, Journal, Object, StoreError};

/// The table of process-wide records (boot count, usage snapshot).
const META: &str = "meta";

/// How often snapshots (usage) are written when they changed.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// One change for the database.
#[derive(Debug)]
enum Op {
    /// Write `value` under `key` in `table`.
    Put { table: &'static str, key: String, value: Vec<u8> },
    /// Remove `key` from `table`.
    Delete { table: &'static str, key: String },
}

impl Op {
    fn table(&self) -> &'static str {
        match self {
            Op::Put { table, .. } | Op::Delete { table, .. } => table,
        }
    }
}

/// Changes waiting for the writer, numbered in the order they were queued.
#[derive(Debug, Default)]
struct Queue {
    ops: Vec<Op>,
    /// The number of the latest change queued.
    last: u64,
}

/// A snapshot source: its `meta` key and what to write (`None`: unchanged).
type Snapshot = (&'static str, Box<dyn FnMut() -> Option<Vec<u8>> + Send>);

/// The persistence of one data directory: the queue the stores feed and what the writer has
/// made durable.
pub struct Persist {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// The number of the latest change committed.
    durable: AtomicU64,
    /// Requests waiting for a change number, each woken by closing its socket.
    waiters: Mutex<Vec<(u64, OwnedFd)>>,
    /// Written every [`SNAPSHOT_EVERY`] and at [`Persist::flush`].
    snapshots: Mutex<Vec<Snapshot>>,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist").field("durable", &self.durable).finish_non_exhaustive()
    }
}

/// A data directory opened and read, before its writer starts.
#[derive(Debug)]
pub struct Opened {
    db: Database,
    /// How many times the directory has been opened, this time included.
    pub boot: u64,
}

/// The file inside the data directory.
const FILE: &str = "fakeai.redb";

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

fn db_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Opened {
    /// Opens (creating) the database in `dir` and counts this boot.
    pub fn open(dir: &Path) -> Result<Opened, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(FILE);
        let db = Database::create(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let mut opened = Opened { db, boot: 0 };
        let boot = opened.meta("boot").and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes) + 1;
        let txn = opened.db.begin_write().map_err(db_error)?;
        txn.open_table(table(META)).map_err(db_error)?.insert("boot", &boot.to_be_bytes()[..]).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        opened.boot = boot;
        Ok(opened)
    }

    /// The `meta` record `key`.
    pub fn meta(&self, key: &str) -> Option<Vec<u8>> {
        let txn = self.db.begin_read().ok()?;
        let t = txn.open_table(table(META)).ok()?;
        t.get(key).ok()?.map(|v| v.value().to_vec())
    }

    /// Every object of `name`'s table with its creation sequence, oldest first.
    pub fn load<T: DeserializeOwned>(&self, name: &'static str) -> Result<Vec<(u64, T)>, String> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let t = match txn.open_table(table(name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_error(e)),
        };
        let mut out = Vec::new();
        for entry in t.iter().map_err(db_error)? {
            let (key, value) = entry.map_err(db_error)?;
            let (seq, obj) = split(value.value()).map_err(|e| format!("{name} {}: {e}", key.value()))?;
            out.push((seq, obj));
        }
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out)
    }

    /// Starts `persist`'s writer thread, which owns the database from now on.
    pub fn start(self, persist: Arc<Persist>) -> std::io::Result<()> {
        let writer = persist.clone();
        std::thread::Builder::new().name("fakeai-persist".into()).spawn(move || writer.run(self.db))?;
        Ok(())
    }
}

/// A stored value: its creation sequence (8 bytes, big-endian), then the object.
fn split<T: DeserializeOwned>(value: &[u8]) -> Result<(u64, T), String> {
    let (seq, obj) = value.split_at_checked(8).ok_or("truncated record")?;
    Ok((u64::from_be_bytes(seq.try_into().expect("8 bytes")), codec::decode(obj)?))
}

thread_local! {
    /// The latest change this thread queued since [`take_pending`] last ran.
    static PENDING: Cell<u64> = const { Cell::new(0) };
}

/// The process's open data directory, if any.
static ACTIVE: OnceLock<Arc<Persist>> = OnceLock::new();

/// Makes `persist` the one requests await ([`take_pending`]).
pub fn activate(persist: Arc<Persist>) {
    let _ = ACTIVE.set(persist);
}

/// What the request just handled on this thread must wait for before its reply goes out:
/// `None` without `--data-dir` or when it changed nothing.
pub fn take_pending() -> Option<Durable> {
    let persist = ACTIVE.get()?;
    let seq = PENDING.with(|p| p.replace(0));
    (seq > persist.durable.load(Ordering::Acquire)).then(|| Durable::new(persist.clone(), seq))
}

/// Writes the snapshots now and waits until they are durable (at shutdown).
pub fn flush() {
    if let Some(persist) = ACTIVE.get() {
        persist.flush();
    }
}

impl Persist {
    /// Nothing queued yet; changes queue up until [`Opened::start`] starts the writer.
    pub fn new() -> Arc<Persist> {
        Arc::new(Persist {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            durable: AtomicU64::new(0),
            waiters: Mutex::new(Vec::new()),
            snapshots: Mutex::new(Vec::new()),
        })
    }

    /// Queues `op`, returning its number.
    fn enqueue(&self, op: Op) -> u64 {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.last += 1;
        queue.ops.push(op);
        let seq = queue.last;
        drop(queue);
        self.ready.notify_one();
        PENDING.with(|p| p.set(p.get().max(seq)));
        seq
    }

    /// Adds a snapshot written under `key` in `meta` every [`SNAPSHOT_EVERY`] (when `take`
    /// returns bytes) and at [`Persist::flush`].
    pub fn snapshot(&self, key: &'static str, take: impl FnMut() -> Option<Vec<u8>> + Send + 'static) {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).push((key, Box::new(take)));
    }

    /// Queues every snapshot and blocks until it is durable.
    pub fn flush(&self) {
        let seq = self.queue_snapshots();
        while self.durable.load(Ordering::Acquire) < seq {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Queues the snapshots that changed; the number of the latest change queued.
    fn queue_snapshots(&self) -> u64 {
        let mut snapshots = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        for (key, take) in snapshots.iter_mut() {
            if let Some(value) = take() {
                self.enqueue(Op::Put { table: META, key: (*key).to_owned(), value });
            }
        }
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).last
    }

    /// The writer: commits what is queued, in order, one transaction at a time.
    fn run(&self, db: Database) {
        let mut snapshot_at = Instant::now() + SNAPSHOT_EVERY;
        loop {
            if Instant::now() >= snapshot_at {
                self.queue_snapshots();
                snapshot_at = Instant::now() + SNAPSHOT_EVERY;
            }
            let (ops, last) = {
                let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let wait = snapshot_at.saturating_duration_since(Instant::now());
                let (mut queue, _) =
                    self.ready.wait_timeout_while(queue, wait, |q| q.ops.is_empty()).unwrap_or_else(|p| p.into_inner());
                (std::mem::take(&mut queue.ops), queue.last)
            };
            if ops.is_empty() {
                continue;
            }
            if let Err(e) = commit(&db, ops) {
                // Nothing more can be acknowledged: stop rather than answer as if it were kept.
                eprintln!("fakeai: --data-dir: cannot write: {e}");
                std::process::exit(74);
            }
            self.durable.store(last, Ordering::Release);
            self.wake(last);
        }
    }

    /// Wakes the requests waiting for changes up to `durable` (closing a socket wakes its reader).
    fn wake(&self, durable: u64) {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner()).retain(|(seq, _)| *seq > durable);
    }

    /// The number of the latest change committed.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }
}

/// Commits made (for the group-commit test).
#[cfg(test)]
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Applies `ops` in one write transaction, each table opened once (a stable sort keeps the
/// order of changes to one key, which always lie in one table).
fn commit(db: &Database, mut ops: Vec<Op>) -> Result<(), String> {
    ops.sort_by_key(Op::table);
    let txn = db.begin_write().map_err(db_error)?;
    {
        let mut ops = ops.into_iter().peekable();
        while let Some(name) = ops.peek().map(Op::table) {
            let mut t = txn.open_table(table(name)).map_err(db_error)?;
            while let Some(op) = ops.next_if(|op| op.table() == name) {
                match op {
                    Op::Put { key, value, .. } => t.insert(key.as_str(), value.as_slice()).map(drop),
                    Op::Delete { key, .. } => t.remove(key.as_str()).map(drop),
                }
                .map_err(db_error)?;
            }
        }
    }
    txn.commit().map_err(db_error)?;
    #[cfg(test)]
    COMMITS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The journal of a store kept in table `table` of a data directory.
#[derive(Debug)]
pub struct Journaled {
    persist: Arc<Persist>,
    table: &'static str,
}

impl Journaled {
    /// The journal of the store in `table`.
    pub fn new(persist: Arc<Persist>, table: &'static str) -> Journaled {
        Journaled { persist, table }
    }
}

impl<T: Object + Serialize> Journal<T> for Journaled {
    fn record(&self, change: Change<'_, T>) -> Result<(), StoreError> {
        let op = match change {
            Change::Put { seq, obj } => {
                let mut value = seq.to_be_bytes().to_vec();
                rmp_serde::encode::write_named(&mut value, obj).map_err(|e| StoreError::Journal(e.to_string()))?;
                Op::Put { table: self.table, key: obj.id().to_owned(), value }
            }
            Change::Delete(id) => Op::Delete { table: self.table, key: id.to_owned() },
        };
        self.persist.enqueue(op);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::{Limits, Store};

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Note {
        id: String,
        text: String,
    }

    impl Object for Note {
        const KIND: &'static str = "Note";
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn note(i: usize) -> Note {
        Note { id: format!("n{i}"), text: format!("text {i}") }
    }

    #[test]
    fn concurrent_changes_commit_together_and_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("fakeai-persist-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opened = Opened::open(&dir).unwrap();
        assert_eq!(opened.boot, 1);
        let persist = Persist::new();
        opened.start(persist.clone()).unwrap();
        let store = Arc::new(Store::with_journal(
            Limits::count(1000, "--x"),
            Box::new(Journaled::new(persist.clone(), "notes")),
        ));
        // While the writer is held after its first commit (it wakes waiters under this lock),
        // eight threads queue 50 changes each: the writer then takes them all in one commit.
        let held = persist.waiters.lock().unwrap();
        store.insert(note(400), 0).unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        store.insert(note(t * 50 + i), 0).unwrap();
                    }
                });
            }
        });
        store.remove("n7").unwrap();
        store.update("n8", |n| n.text = "changed".into()).unwrap();
        drop(held);
        let last = PENDING.with(Cell::get);
        let deadline = Instant::now() + Duration::from_secs(30);
        while persist.durable() < last {
            assert!(Instant::now() < deadline, "the writer keeps up");
            std::thread::sleep(Duration::from_millis(1));
        }
        let commits = COMMITS.load(Ordering::Relaxed);
        assert!(commits <= 2, "403 changes in {commits} commits: grouped");
        drop(store);
        // A second open (the writer thread still holds the first, so read a copy of the file).
        let copy = dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(dir.join(FILE), copy.join(FILE)).unwrap();
        let reopened = Opened::open(&copy).unwrap();
        assert_eq!(reopened.boot, 2, "the boot count goes on");
        let notes: Vec<(u64, Note)> = reopened.load("notes").unwrap();
        assert_eq!(notes.len(), 400);
        assert!(notes.windows(2).all(|w| w[0].0 < w[1].0), "read back in creation order");
        assert!(!notes.iter().any(|(_, n)| n.id == "n7"));
        assert_eq!(notes.iter().find(|(_, n)| n.id == "n8").unwrap().1.text, "changed");
        assert!(reopened.load::<Note>("absent").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
