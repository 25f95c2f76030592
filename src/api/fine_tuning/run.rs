//! The fine-tuning thread: moves every job through its timed lifecycle — validating_files (the
//! files read, their examples and BPE tokens counted, `auto` hyperparameters resolved) →
//! queued → running (a metrics event per slice of steps, a checkpoint and its model at the
//! end of each of the last epochs) → succeeded (the result CSV stored as a file, the `ft:`
//! model served) — or failed. `--fine-tuning-ms` sets the whole: a tenth validating, a tenth
//! queued, the rest training.
//!
//! One thread advances all jobs, each when its next transition is due, so jobs run side by
//! side; it sleeps on the queue while none is active. A change made meanwhile by a request
//! (cancel, pause) wins: a transition applies only to the status it was computed from.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use super::training;
use crate::{
    api::{Ctx, common},
    app::App,
    rng::Rng,
    state::{
        fine_tuning::{Checkpoint, Event, FineTunedModel, Job, JobError, JobStatus, Method},
        store::UNDATED,
    },
};

/// Starts the fine-tuning thread.
pub fn spawn_runner(app: Arc<App>) -> std::io::Result<()> {
    let seed = app.args.seed.unwrap_or_else(|| crate::clock::unix_now().0) ^ 0xF17E_7A9E;
    std::thread::Builder::new().name("fakeai-fine-tune".into()).spawn(move || {
        crate::api::batches::run::lower_priority();
        let mut rng = Rng::new(seed);
        // Each active job and when its next transition is due.
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            let wait = due.values().min().map_or(Duration::from_secs(3600), |at| at.duration_since(Instant::now()));
            if let Some(id) = app.state.fine_tuning_queue.next(wait) {
                // A job already waiting keeps its time (a resume right after a pause).
                if let Some(delay) = app.state.fine_tuning_jobs.with(&id, UNDATED, |j| delay(&app, j)).flatten() {
                    due.entry(id).or_insert_with(|| Instant::now() + delay);
                }
            }
            let now = Instant::now();
            let ready: Vec<String> = due.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
            for id in ready {
                match advance(&app, &id, &mut rng) {
                    Some(delay) => due.insert(id, now + delay),
                    None => due.remove(&id),
                };
            }
        }
    })?;
    Ok(())
}

/// Unix seconds now.
fn unix_now() -> u64 {
    crate::clock::unix_now().0
}

/// An `info` event.
pub fn event(rng: &mut Rng, now: u64, message: String, data: Option<serde_json::Value>) -> Event {
    Event { id: common::new_id(rng, "ftevent-", 24), created_at: now, level: "info", message, data }
}

/// How long one phase (validating, queued) takes.
fn phase(app: &App) -> Duration {
    Duration::from_millis(app.args.fine_tuning_ms / 10)
}

/// How long one slice of the training takes.
fn slice(app: &App, job: &Job) -> Duration {
    Duration::from_millis(app.args.fine_tuning_ms * 8 / 10 / training::slices(&job.training))
}

/// Slices of the training done.
fn slices_done(job: &Job) -> u64 {
    let t = &job.training;
    (1..=training::slices(t)).take_while(|&k| training::step_after(t, k) <= t.step).count() as u64
}

/// When `job`'s next transition is due from now; `None` when it has none (final or paused).
fn delay(app: &App, job: &Job) -> Option<Duration> {
    match job.status {
        _ if job.paused => None,
        JobStatus::ValidatingFiles | JobStatus::Queued => Some(phase(app)),
        JobStatus::Running => Some(slice(app, job)),
        _ => None,
    }
}

/// The time `job` still needs to succeed, once its files are validated.
pub fn remaining(app: &App, job: &Job) -> Duration {
    let training = slice(app, job) * (training::slices(&job.training) - slices_done(job)) as u32;
    if job.status == JobStatus::Queued { phase(app) + training } else { training }
}

/// `estimated_finish` for `job` now.
fn estimated_finish(app: &App, job: &Job) -> Option<u64> {
    Some(unix_now() + remaining(app, job).as_millis().div_ceil(1000) as u64)
}

/// Takes job `id` one transition on; when the next is due (`None`: it has none).
fn advance(app: &App, id: &str, rng: &mut Rng) -> Option<Duration> {
    let job = app.state.fine_tuning_jobs.get(id, UNDATED)?;
    let step = match job.status {
        _ if job.paused => return None,
        JobStatus::ValidatingFiles => validate(app, &job, rng),
        JobStatus::Queued => {
            start(app, &job, rng);
            Ok(())
        }
        JobStatus::Running => train(app, &job, rng),
        _ => return None,
    };
    if let Err(e) = step {
        fail(app, &job, e, rng);
        return None;
    }
    app.state.fine_tuning_jobs.with(id, UNDATED, |j| delay(app, j)).flatten()
}

/// Applies `change` to job `id` if it still stands where `from` (the copy a transition was
/// computed from) stood; whether it did.
fn apply(app: &App, from: &Job, change: impl FnOnce(&mut Job)) -> bool {
    let unchanged = |j: &Job| j.status == from.status && !j.paused && j.training.step == from.training.step;
    let applied = app.state.fine_tuning_jobs.update(&from.id, |j| {
        let ok = unchanged(j);
        if ok {
            change(j);
        }
        ok
    });
    match applied {
        Ok(Some((job, true))) => {
            if job.status.is_final() && !from.status.is_final() {
                app.state.webhooks.emit(job_event(job.status), &job.id);
            }
            true
        }
        _ => false,
    }
}

/// The webhook event of a job's final status.
pub fn job_event(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Succeeded => "fine_tuning.job.succeeded",
        JobStatus::Cancelled => "fine_tuning.job.cancelled",
        _ => "fine_tuning.job.failed",
    }
}

/// Reads the files: the job is queued with its step plan, or fails.
fn validate(app: &App, job: &Job, rng: &mut Rng) -> Result<(), JobError> {
    let data = dataset(app, &job.training_file, job.method, "training_file")?;
    if let Some(file) = &job.validation_file {
        dataset(app, file, job.method, "validation_file")?;
    }
    let resolved = training::resolve(job.hyperparameters, data, job.method);
    let plan = training::plan(data, resolved);
    let done = event(rng, unix_now(), "Files validated, moving job to queued state".into(), None);
    apply(app, job, |j| {
        (j.hyperparameters, j.training, j.status) = (resolved, plan, JobStatus::Queued);
        j.events.push(done);
        j.estimated_finish = estimated_finish(app, j);
    });
    Ok(())
}

/// The examples of file `id` for `method`.
fn dataset(app: &App, id: &str, method: Method, param: &'static str) -> Result<training::Dataset, JobError> {
    let Some(content) = app.state.files.with(id, unix_now(), |f| f.content.clone()) else {
        let code = if param == "training_file" { "invalid_training_file" } else { "invalid_validation_file" };
        let message = format!("The {} {id} was deleted before it could be read.", param.replace('_', " "));
        return Err(JobError { code, message, param: Some(param) });
    };
    training::read_dataset(&content, method, app.encoding, param)
}

/// Queued → running.
fn start(app: &App, job: &Job, rng: &mut Rng) {
    let started = event(rng, unix_now(), "Fine-tuning job started".into(), None);
    apply(app, job, |j| {
        j.status = JobStatus::Running;
        j.events.push(started);
        j.estimated_finish = estimated_finish(app, j);
    });
}

/// What a training slice created outside the job, removed again if the slice does not apply.
#[derive(Default)]
struct Created {
    models: Vec<String>,
    file: Option<String>,
}

impl Created {
    fn undo(self, app: &App) {
        for id in self.models {
            let _ = app.state.fine_tuned_models.remove(&id);
        }
        if let Some(id) = self.file {
            let _ = app.state.files.remove(&id);
        }
    }
}

/// One slice of training: its metrics event, the checkpoints it reaches and, at the last
/// step, the result file and the model.
fn train(app: &App, job: &Job, rng: &mut Rng) -> Result<(), JobError> {
    let mut created = Created::default();
    match train_slice(app, job, rng, &mut created) {
        Ok(true) => Ok(()),
        Ok(false) => {
            created.undo(app);
            Ok(())
        }
        Err(e) => {
            created.undo(app);
            Err(e)
        }
    }
}

/// [`train`]'s work: whether the slice applied.
fn train_slice(app: &App, job: &Job, rng: &mut Rng, created: &mut Created) -> Result<bool, JobError> {
    let (t, validated, now) = (job.training, job.validation_file.is_some(), unix_now());
    let n_epochs = job.hyperparameters.n_epochs.unwrap_or(1);
    let step = training::step_after(&t, slices_done(job) + 1);
    let (message, data) = training::metrics_event(&t, step, validated);
    let mut events = vec![event(rng, now, message, Some(data))];
    let mut checkpoints = Vec::new();
    for at in training::checkpoint_steps(&t, n_epochs, t.step, step) {
        let model = format!("{}:ckpt-step-{at}", job.model_name);
        register(app, &model, job, true, now, created)?;
        let metrics = training::checkpoint_metrics(&t, at, validated);
        checkpoints.push(Checkpoint {
            id: common::new_id(rng, "ftckpt_", 24),
            created_at: now,
            model,
            step: at,
            metrics,
        });
        events.push(event(rng, now, format!("Checkpoint created at step {at}"), None));
    }
    let finished = step >= t.total_steps;
    if finished {
        store_results(app, job, rng, created)?;
        register(app, &job.model_name, job, false, now, created)?;
        events.push(event(rng, now, format!("New fine-tuned model created: {}", job.model_name), None));
        events.push(event(rng, now, "The job has successfully completed".into(), None));
    }
    let results = created.file.clone();
    Ok(apply(app, job, |j| {
        j.training.step = step;
        j.events.extend(events);
        j.checkpoints.extend(checkpoints);
        if finished {
            j.status = JobStatus::Succeeded;
            j.trained_tokens = Some(t.tokens_per_epoch * n_epochs);
            (j.finished_at, j.estimated_finish) = (Some(now), None);
            j.result_files = results.into_iter().collect();
        }
    }))
}

/// Serves model `name` of `job` from now on.
fn register(
    app: &App,
    name: &str,
    job: &Job,
    checkpoint: bool,
    now: u64,
    created: &mut Created,
) -> Result<(), JobError> {
    let info = Arc::new((*app.registry.describe(name)).clone());
    let model = FineTunedModel { created: now, job_id: job.id.clone(), checkpoint, info };
    app.state.fine_tuned_models.insert(model, now).map_err(|e| stored_nothing("model_not_stored", e))?;
    created.models.push(name.to_owned());
    Ok(())
}

/// Stores the result CSV as a `fine-tune-results` file.
fn store_results(app: &App, job: &Job, rng: &mut Rng, created: &mut Created) -> Result<(), JobError> {
    let csv = training::results_csv(&job.training, job.validation_file.is_some());
    let mut ctx = Ctx { rng, unix_now: crate::clock::unix_now() };
    let file = crate::api::files::new_file(&mut ctx, "step_metrics.csv".into(), "fine-tune-results", None, csv.into());
    let id = file.id.clone();
    app.state.files.insert(file, ctx.unix_now.0).map_err(|e| stored_nothing("result_file_not_stored", e))?;
    created.file = Some(id);
    Ok(())
}

fn stored_nothing(code: &'static str, e: crate::state::store::StoreError) -> JobError {
    JobError { code, message: e.to_string(), param: None }
}

/// Ends the job as failed with `error`.
fn fail(app: &App, job: &Job, error: JobError, rng: &mut Rng) {
    let now = unix_now();
    let mut failed = event(rng, now, error.message.clone(), None);
    failed.level = "error";
    apply(app, job, |j| {
        j.status = JobStatus::Failed;
        j.events.push(failed);
        (j.error, j.finished_at, j.estimated_finish) = (Some(error), Some(now), None);
    });
}
