//! Opening a data directory for [`State`]: every store read back and journaled from then on,
//! usage restored and snapshotted, unfinished batches and fine-tunes handed back to their
//! threads.

use std::{path::Path, sync::Arc};

use serde::{Serialize, de::DeserializeOwned};

use super::{Journaled, Opened, Persist, activate, codec};
use crate::state::{
    State,
    batches::BatchStatus,
    store::{Object, Store, UNDATED},
    usage::{Line, Tally},
};

/// The `meta` key of the usage snapshot.
const USAGE: &str = "usage";

/// Reads `state` back from `dir` (or, on its first use, writes what `state` starts with) and
/// journals every change to it from now on.
pub fn attach(state: &mut State, dir: &Path) -> Result<(), String> {
    let opened = Opened::open(dir)?;
    crate::api::common::salt_ids(opened.boot);
    let persist = Persist::new();
    let fresh = opened.boot == 1;
    let mut each = Attach { opened: &opened, persist: &persist, fresh };
    each.store(&mut state.files, "files")?;
    each.store(&mut state.uploads, "uploads")?;
    each.store(&mut state.batches, "batches")?;
    each.store(&mut state.vector_stores, "vector_stores")?;
    each.store(&mut state.vector_store_files, "vector_store_files")?;
    each.store(&mut state.file_batches, "file_batches")?;
    each.store(&mut state.fine_tuning_jobs, "fine_tuning_jobs")?;
    each.store(&mut state.fine_tuned_models, "fine_tuned_models")?;
    each.store(&mut state.assistants, "assistants")?;
    each.store(&mut state.threads, "threads")?;
    each.store(&mut state.messages, "messages")?;
    each.store(&mut state.runs, "runs")?;
    let org = &mut state.org;
    each.store(&mut org.users, "org_users")?;
    each.store(&mut org.invites, "org_invites")?;
    each.store(&mut org.projects, "org_projects")?;
    each.store(&mut org.project_users, "org_project_users")?;
    each.store(&mut org.service_accounts, "org_service_accounts")?;
    each.store(&mut org.project_keys, "org_project_keys")?;
    each.store(&mut org.admin_keys, "org_admin_keys")?;
    for key in org.project_keys.matching(UNDATED, |_| true) {
        org.register(&key);
    }
    restore_usage(state, &opened)?;
    snapshot_usage(state, &persist);
    resume(state);
    opened.start(persist.clone()).map_err(|e| format!("cannot start the writer: {e}"))?;
    activate(persist);
    Ok(())
}

/// One store at a time.
struct Attach<'a> {
    opened: &'a Opened,
    persist: &'a Arc<Persist>,
    fresh: bool,
}

impl Attach<'_> {
    /// Reads `store` back from `table` (a directory opened before holds the whole truth, the
    /// defaults the store started with included), or on first use writes what it starts with.
    fn store<T>(&mut self, store: &mut Store<T>, table: &'static str) -> Result<(), String>
    where
        T: Object + Serialize + DeserializeOwned + 'static,
    {
        store.set_journal(Box::new(Journaled::new(self.persist.clone(), table)));
        match self.fresh {
            true => store.journal_all().map_err(|e| e.to_string()),
            false => {
                store.restore(self.opened.load(table)?);
                Ok(())
            }
        }
    }
}

/// Adds the last usage snapshot to the ledger.
fn restore_usage(state: &State, opened: &Opened) -> Result<(), String> {
    let Some(bytes) = opened.meta(USAGE) else { return Ok(()) };
    let lines: Vec<(Line, Tally)> = codec::decode(&bytes).map_err(|e| format!("usage snapshot: {e}"))?;
    for (line, tally) in lines {
        state.usage.record(line, tally);
    }
    Ok(())
}

/// Snapshots the ledger every second when it changed, and at shutdown.
fn snapshot_usage(state: &State, persist: &Persist) {
    let ledger = state.usage.clone();
    let mut last = Vec::new();
    persist.snapshot(USAGE, move || {
        let mut lines = ledger.collect(|_| true);
        // A stable order, so an unchanged ledger encodes to the same bytes.
        lines.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
        let bytes = codec::encode(&lines).ok()?;
        (bytes != last).then(|| {
            last = bytes.clone();
            bytes
        })
    });
}

/// Hands back what was under way at the last stop: a batch not yet final runs again from its
/// first line (its counts and usage start over; its output file is written once it ends); a
/// fine-tuning job not yet final continues from the step it had reached.
fn resume(state: &State) {
    let unfinished = |b: &crate::state::batches::Batch| !b.status.is_final();
    for batch in state.batches.matching(UNDATED, unfinished) {
        let _ = state.batches.update(&batch.id, |b| {
            if matches!(b.status, BatchStatus::InProgress | BatchStatus::Finalizing) {
                b.status = BatchStatus::InProgress;
                b.finalizing_at = None;
                b.counts.completed = 0;
                b.counts.failed = 0;
                b.usage = Default::default();
            }
        });
        state.jobs.push(batch.id);
    }
    for job in state.fine_tuning_jobs.matching(UNDATED, |j| !j.status.is_final()) {
        state.fine_tuning_queue.push(job.id);
    }
}
