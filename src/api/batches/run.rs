//! Running a batch on the background jobs thread: validate its input file, execute every line
//! through the route table's handler for the line's `url` (the same code, usage and errors as
//! a live request), at the configured pace, then write the output and error files.
//!
//! The thread is started with the server (not lazily from a handler, which sees only `&App`
//! and could not hand the thread an owned `Arc<App>`); it sleeps on the job queue while idle and
//! runs at `SCHED_IDLE`, below the workers, so a 50,000-line batch yields the cores to live
//! traffic.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    api::{Ctx, Reply, Request, common, file_checks},
    app::App,
    error::Error,
    proto::http1::{Method, RequestHead},
    rng::Rng,
    router::{Found, table::router},
    state::batches::{Batch, BatchStatus, LineError},
};

/// The jobs thread's niceness where `SCHED_IDLE` is refused.
const JOBS_NICENESS: i32 = 10;

/// Starts the jobs threads: this one runs queued batches one after another; fine-tuning jobs
/// advance on their own ([`crate::api::fine_tuning::run`]), so neither waits on the other.
pub fn spawn_runner(app: Arc<App>) -> std::io::Result<()> {
    crate::api::fine_tuning::spawn_runner(app.clone())?;
    let seed = app.args.seed.unwrap_or_else(|| crate::clock::unix_now().0) ^ 0x0BA7_C4E5;
    std::thread::Builder::new().name("fakeai-jobs".into()).spawn(move || {
        lower_priority();
        let mut rng = Rng::new(seed);
        loop {
            if let Some(id) = app.state.jobs.next(Duration::from_secs(3600)) {
                run_batch(&app, &id, &mut rng);
            }
        }
    })?;
    Ok(())
}

/// Lowers the calling thread's scheduling priority to `SCHED_IDLE`: it runs only when the
/// workers leave the core idle, and a worker waking up preempts it at once. At nice 10 (the
/// first choice) a 50,000-line batch beside 1,000 paced streams on one core still took slices
/// of milliseconds: live events' lateness p99 went from 1.1–1.6 to 4.2–6.5 ms while it ran
/// (`tools/batch_load.sh`). Falls back to nice 10 where `SCHED_IDLE` is not allowed.
pub fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain arguments for the calling thread (pid 0); `param` outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0 {
        return;
    }
    // SAFETY: plain integer arguments; on failure the thread keeps the normal priority.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, JOBS_NICENESS);
    }
}

/// Unix seconds now.
fn now() -> u64 {
    crate::clock::unix_now().0
}

/// Applies `change` to batch `id` (a batch deleted meanwhile is left alone).
/// A batch that reaches a final status here sends its webhook event (`batch.completed`, …).
fn change(app: &App, id: &str, change: impl FnOnce(&mut Batch)) -> Option<Batch> {
    let became_final = |b: &mut Batch| {
        let was_final = b.status.is_final();
        change(b);
        !was_final && b.status.is_final()
    };
    let (batch, ended) = app.state.batches.update(id, became_final).ok().flatten()?;
    if ended {
        app.state.webhooks.emit(batch_event(batch.status), id);
    }
    Some(batch)
}

/// The webhook event of a batch's final status.
fn batch_event(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Completed => "batch.completed",
        BatchStatus::Cancelled => "batch.cancelled",
        BatchStatus::Expired => "batch.expired",
        _ => "batch.failed",
    }
}

/// Runs batch `id` to a final status.
pub fn run_batch(app: &App, id: &str, rng: &mut Rng) {
    let Some(batch) = app.state.batches.get(id, now()) else { return };
    if batch.status == BatchStatus::Cancelling {
        change(app, id, |b| finish(b, BatchStatus::Cancelled));
        return;
    }
    let lines = match input_lines(app, &batch) {
        Ok(lines) => lines,
        Err(errors) => {
            change(app, id, |b| {
                b.errors = errors;
                b.status = BatchStatus::Failed;
                b.failed_at = Some(now());
            });
            return;
        }
    };
    let started = change(app, id, |b| {
        if b.status == BatchStatus::Validating {
            b.status = BatchStatus::InProgress;
            b.in_progress_at = Some(now());
            b.counts.total = lines.len() as u64;
            b.model = lines[0].body["model"].as_str().map(str::to_owned);
        }
    });
    if started.is_none() {
        return;
    }
    let outcome = execute_lines(app, &batch, &lines, rng);
    finalize(app, &batch, outcome, rng);
}

/// The input file's lines, or why the batch fails validation.
fn input_lines(app: &App, batch: &Batch) -> Result<Vec<file_checks::BatchLine>, Vec<LineError>> {
    let Some(file) = app.state.files.get(&batch.input_file_id, now()) else {
        let message = format!("The input file {} no longer exists.", batch.input_file_id);
        return Err(vec![LineError { code: "file_not_found", line: None, message, param: Some("input_file_id") }]);
    };
    let lines = file_checks::batch_lines(&file.content).map_err(|e| vec![e])?;
    // Like OpenAI, list every line that calls another endpoint (the first 100).
    let mismatched: Vec<LineError> = lines
        .iter()
        .filter(|l| l.url != batch.endpoint)
        .take(100)
        .map(|l| LineError {
            code: "url_mismatch",
            line: Some(l.line),
            message: format!("The URL provided for this request does not match the batch endpoint {}.", batch.endpoint),
            param: Some("url"),
        })
        .collect();
    if mismatched.is_empty() { Ok(lines) } else { Err(mismatched) }
}

/// What running the lines produced.
struct Outcome {
    /// JSONL of the successful lines.
    output: Vec<u8>,
    /// JSONL of the failed (or unrun) lines.
    errors: Vec<u8>,
    /// The status the batch ends in.
    status: BatchStatus,
}

/// Runs every line at the configured pace until done, cancelled or out of time.
fn execute_lines(app: &App, batch: &Batch, lines: &[file_checks::BatchLine], rng: &mut Rng) -> Outcome {
    let pace = (app.args.batch_lines_per_second > 0.0).then(|| 1.0 / app.args.batch_lines_per_second);
    let start = Instant::now();
    let mut out = Outcome { output: Vec::new(), errors: Vec::new(), status: BatchStatus::Completed };
    for (i, line) in lines.iter().enumerate() {
        if let Some(interval) = pace {
            let due = start + Duration::from_secs_f64(interval * i as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let current = app.state.batches.get(&batch.id, now());
        match current.as_ref().map(|b| b.status) {
            Some(BatchStatus::Cancelling) => out.status = BatchStatus::Cancelled,
            None => out.status = BatchStatus::Cancelled,
            Some(_) if now() >= batch.expires_at() => out.status = BatchStatus::Expired,
            Some(_) => {}
        }
        if out.status != BatchStatus::Completed {
            unrun(&mut out, &lines[i..], rng);
            change(app, &batch.id, |b| b.counts.failed += (lines.len() - i) as u64);
            break;
        }
        crate::state::usage::attribute(batch.payer.clone());
        let (status, body) = execute(app, rng, &line.url, &line.body);
        let ok = (200..300).contains(&status);
        let usage = ok.then(|| serde_json::from_slice::<serde_json::Value>(&body).ok()).flatten();
        write_line(if ok { &mut out.output } else { &mut out.errors }, rng, &line.custom_id, status, &body);
        change(app, &batch.id, |b| match usage {
            Some(body) => {
                b.counts.completed += 1;
                b.usage.add(&body["usage"]);
            }
            None => b.counts.failed += 1,
        });
    }
    out
}

/// Error-file lines for lines the batch will not run.
fn unrun(out: &mut Outcome, lines: &[file_checks::BatchLine], rng: &mut Rng) {
    let (code, message) = match out.status {
        BatchStatus::Expired => {
            ("batch_expired", "This request could not be executed before the completion window expired.")
        }
        _ => ("batch_cancelled", "This request was not executed because the batch was cancelled."),
    };
    for line in lines {
        let entry = serde_json::json!({
            "id": common::new_id(rng, "batch_req_", 32),
            "custom_id": line.custom_id,
            "response": null,
            "error": {"code": code, "message": message},
        });
        out.errors.extend_from_slice(entry.to_string().as_bytes());
        out.errors.push(b'\n');
    }
}

/// Appends one output line: `{id, custom_id, response: {status_code, request_id, body}, error: null}`.
fn write_line(to: &mut Vec<u8>, rng: &mut Rng, custom_id: &str, status: u16, body: &[u8]) {
    let custom_id = serde_json::to_string(custom_id).expect("a string serializes");
    let (id, request_id) = (common::new_id(rng, "batch_req_", 32), common::new_id(rng, "req_", 32));
    to.extend_from_slice(format!(r#"{{"id":"{id}","custom_id":{custom_id},"response":{{"status_code":{status},"request_id":"{request_id}","body":"#).as_bytes());
    to.extend_from_slice(body);
    to.extend_from_slice(b"},\"error\":null}\n");
}

/// Answers one line as the live endpoint would: its status and body (the error envelope for
/// an error). A stream is refused, as OpenAI's Batch API does.
pub fn execute(app: &App, rng: &mut Rng, url: &str, body: &serde_json::Value) -> (u16, Vec<u8>) {
    let refuse = |e: Error| (e.status, e.to_json());
    if body["stream"] == true {
        return refuse(Error::invalid_param("stream", "Streaming is not supported by the Batch API."));
    }
    let Found::Route { route, params, .. } = router().find(Method::Post, url) else {
        return refuse(Error::not_found(url));
    };
    let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
    let head = synthetic_head(url);
    let request = Request { head: &head, body: &bytes, params: &params, prepared: Default::default() };
    let mut ctx = Ctx { rng, unix_now: crate::clock::unix_now() };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (route.handler)(app, &mut ctx, &request)))
        .unwrap_or_else(|_| Err(Error::new(500, "server_error", "Internal error while handling the request")));
    match outcome {
        // A batch line takes the body as soon as it is planned: nobody waits on its schedule.
        Ok(Reply::Generated { full, summary, .. }) => {
            let (ok, now) = ((200..300).contains(&full.status), crate::clock::unix_now().0);
            crate::state::usage::record_generation(&app.state.usage, &summary, 0, ok, now);
            (full.status, full.body.as_slice().to_vec())
        }
        // Handlers return `Now`; a line never awaits durability (its batch is journaled as it goes).
        Ok(Reply::Now(full) | Reply::AfterDurable { full, .. }) => (full.status, full.body.as_slice().to_vec()),
        Ok(Reply::Stream(_) | Reply::Events(_)) => {
            refuse(Error::invalid_param("stream", "Streaming is not supported by the Batch API."))
        }
        Err(e) => (e.status, e.to_json_in(route.dialect)),
    }
}

/// The head of a line's request: `POST url` with a JSON body.
fn synthetic_head(url: &str) -> RequestHead {
    RequestHead::synthetic(Method::Post, url).with(crate::proto::http1::Field::ContentType, super::super::JSON)
}

/// Sets the final status and its timestamp.
fn finish(b: &mut Batch, status: BatchStatus) {
    let at = Some(now());
    b.status = status;
    match status {
        BatchStatus::Completed => b.completed_at = at,
        BatchStatus::Cancelled => b.cancelled_at = at,
        BatchStatus::Expired => b.expired_at = at,
        _ => b.failed_at = at,
    }
}

/// Writes the output and error files and ends the batch.
fn finalize(app: &App, batch: &Batch, out: Outcome, rng: &mut Rng) {
    if out.status == BatchStatus::Completed {
        change(app, &batch.id, |b| {
            b.status = BatchStatus::Finalizing;
            b.finalizing_at = Some(now());
        });
    }
    let output = store_output(app, batch, rng, out.output, "output");
    let errors = store_output(app, batch, rng, out.errors, "error");
    let stored = match (output, errors) {
        (Ok(output), Ok(errors)) => Ok((output, errors)),
        // Half the results is no result: the batch fails and holds no file.
        (output, errors) => {
            for id in [&output, &errors].into_iter().filter_map(|r| r.as_ref().ok().cloned().flatten()) {
                let _ = app.state.files.remove(&id);
            }
            Err(output.and(errors).unwrap_err())
        }
    };
    change(app, &batch.id, |b| match stored {
        Ok((output, errors)) => {
            b.output_file_id = output;
            b.error_file_id = errors;
            finish(b, out.status);
        }
        Err(e) => {
            b.errors = vec![LineError { code: "output_not_stored", line: None, message: e.message, param: None }];
            finish(b, BatchStatus::Failed);
        }
    });
}

/// Stores a batch's `kind` (`output` or `error`) file, unless it is empty.
fn store_output(
    app: &App,
    batch: &Batch,
    rng: &mut Rng,
    content: Vec<u8>,
    kind: &str,
) -> Result<Option<String>, Error> {
    if content.is_empty() {
        return Ok(None);
    }
    let mut ctx = Ctx { rng, unix_now: crate::clock::unix_now() };
    let name = format!("{}_{kind}.jsonl", batch.id);
    let file = crate::api::files::new_file(&mut ctx, name, "batch_output", batch.output_expires_after, content.into());
    let id = file.id.clone();
    app.state.files.insert(file, ctx.unix_now.0)?;
    Ok(Some(id))
}
