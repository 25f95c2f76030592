//! The Fine-tuning API: create a job from a `fine-tune` file, list (with a metadata filter),
//! retrieve, cancel, pause, resume, and its events and checkpoints. Jobs move through their
//! timed lifecycle on the fine-tuning thread ([`run`]); the models they produce are served as
//! `ft:` models ([`crate::openai::fine_tuned`]).

pub mod params;
pub mod run;
pub mod training;

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec, missing},
};
use crate::{
    app::App,
    error::Error,
    router::Route,
    state::{
        fine_tuning::{Event, Job, JobStatus, ORGANIZATION_NAME, Training},
        store::{Order, UNDATED, page_of},
    },
};

pub use run::spawn_runner;

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/fine_tuning/jobs", create),
    Route::get("/v1/fine_tuning/jobs", list),
    Route::get("/v1/fine_tuning/jobs/{id}", retrieve),
    Route::post("/v1/fine_tuning/jobs/{id}/cancel", cancel),
    Route::post("/v1/fine_tuning/jobs/{id}/pause", pause),
    Route::post("/v1/fine_tuning/jobs/{id}/resume", resume),
    Route::get("/v1/fine_tuning/jobs/{id}/events", events),
    Route::get("/v1/fine_tuning/jobs/{id}/checkpoints", checkpoints),
];

/// Jobs and events list newest first, `limit` 1..=100 (default 20), `after` only.
const NEWEST_FIRST: ListSpec =
    ListSpec { default_limit: 20, max_limit: 100, order: Order::Desc, orderable: false, before: false };

/// Checkpoints: the same with a default `limit` of 10.
const CHECKPOINTS_LIST: ListSpec = ListSpec { default_limit: 10, ..NEWEST_FIRST };

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    super::generate::require_json(req)?;
    let body = Error::json_object(req.body)?;
    let text = |param: &str| match body.get(param) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => {
            v.as_str().map(Some).ok_or_else(|| Error::invalid_param(param, format!("'{param}' must be a string.")))
        }
    };
    let model = text("model")?.ok_or_else(|| missing("model"))?;
    let training_file = text("training_file")?.ok_or_else(|| missing("training_file"))?;
    let validation_file = text("validation_file")?;
    let method = params::method(&body)?;
    let suffix = params::suffix(&body)?;
    let seed = params::seed(&body)?.unwrap_or_else(|| ctx.rng.below(i32::MAX as u64 + 1));
    let integrations = params::integrations(&body)?;
    let metadata = super::batches::check_metadata(body.get("metadata"))?;
    let base = base_model(app, model)?;
    check_file(app, ctx, training_file, "training_file")?;
    if let Some(id) = validation_file {
        check_file(app, ctx, id, "validation_file")?;
    }
    let id = common::new_id(ctx.rng, "ftjob-", 24);
    let model_name = format!("ft:{base}:{ORGANIZATION_NAME}:{suffix}:{}", common::new_id(ctx.rng, "", 8));
    let now = ctx.unix_now.0;
    let mut events = vec![run::event(ctx.rng, now, format!("Created fine-tuning job: {id}"), None)];
    events.push(run::event(ctx.rng, now, format!("Validating training file: {training_file}"), None));
    if let Some(v) = validation_file {
        events.push(run::event(ctx.rng, now, format!("Validating validation file: {v}"), None));
    }
    let job = Job {
        id,
        created_at: now,
        model: model.to_owned(),
        training_file: training_file.to_owned(),
        validation_file: validation_file.map(str::to_owned),
        seed,
        method: method.method,
        method_body: method.body,
        hyperparameters: method.hyperparameters,
        integrations,
        metadata,
        status: JobStatus::ValidatingFiles,
        paused: false,
        model_name,
        trained_tokens: None,
        estimated_finish: None,
        finished_at: None,
        result_files: Vec::new(),
        error: None,
        training: Training::default(),
        events,
        checkpoints: Vec::new(),
    };
    let json = job.to_json();
    app.state.fine_tuning_jobs.insert(job.clone(), now)?;
    app.state.fine_tuning_queue.push(job.id);
    Ok(Full::value(&json).into())
}

/// The base model an `ft:` id names for a job on `model`: a catalogued chat model (or a dated
/// snapshot of one) as given, or the base of an existing fine-tune (training continues from it).
fn base_model(app: &App, model: &str) -> Result<String, Error> {
    if crate::openai::fine_tuned::is_fine_tuned(model) {
        if let Some(parent) = app.state.fine_tuned_models.with(model, UNDATED, |m| m.info.parent.clone()).flatten() {
            return Ok(parent);
        }
    } else if app.registry.fine_tunable(model) {
        return Ok(model.to_owned());
    }
    let message = format!("Model {model} is not available for fine-tuning or does not exist.");
    Err(Error::invalid_param("model", message).with_code("model_not_available"))
}

/// OpenAI's 400 unless `id` is a file uploaded for fine-tuning.
fn check_file(app: &App, ctx: &Ctx<'_>, id: &str, param: &'static str) -> Result<(), Error> {
    let code = if param == "training_file" { "invalid_training_file" } else { "invalid_validation_file" };
    let Some(purpose) = app.state.files.with(id, ctx.unix_now.0, |f| f.purpose.clone()) else {
        return Err(Error::invalid_param(param, format!("Invalid {param}: no file with id '{id}'.")).with_code(code));
    };
    if purpose != "fine-tune" {
        let message =
            format!("Invalid {param}: file {id} has purpose '{purpose}', fine-tuning needs purpose 'fine-tune'.");
        return Err(Error::invalid_param(param, message).with_code(code));
    }
    Ok(())
}

fn get(app: &App, req: &Request<'_>) -> Result<Job, Error> {
    let id = req.param("id");
    app.state.fine_tuning_jobs.get(id, UNDATED).ok_or_else(|| common::no_such("FineTuningJob", id))
}

fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&get(app, req)?.to_json()).into())
}

fn list(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, NEWEST_FIRST)?;
    let filter = params::MetadataFilter::parse(req.head.query());
    let page = app.state.fine_tuning_jobs.page(&query, UNDATED, |j| filter.accepts(j.metadata.as_ref()))?;
    Ok(common::list_reply(&page, Job::to_json).into())
}

fn events(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, NEWEST_FIRST)?;
    let job = get(app, req)?;
    let page = page_of(&job.events, |e| &e.id, "FineTuningJobEvent", &query)?;
    Ok(common::list_reply(&page, Event::to_json).into())
}

fn checkpoints(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, CHECKPOINTS_LIST)?;
    let job = get(app, req)?;
    let page = page_of(&job.checkpoints, |c| &c.id, "FineTuningJobCheckpoint", &query)?;
    Ok(common::list_reply(&page, |c| c.to_json(&job.id)).into())
}

/// Applies `change` to the job the request names: `Err(message)` refuses it with a 400.
fn change(
    app: &App,
    ctx: &mut Ctx<'_>,
    req: &Request<'_>,
    change: impl FnOnce(&mut Job, &mut Ctx<'_>) -> Result<(), String>,
) -> Outcome {
    let id = get(app, req)?.id;
    let (job, outcome) = app
        .state
        .fine_tuning_jobs
        .update(&id, |j| change(j, ctx))?
        .ok_or_else(|| common::no_such("FineTuningJob", &id))?;
    outcome.map_err(|message| Error::bad_request(message).with_code("invalid_job_status"))?;
    Ok(Full::value(&job.to_json()).into())
}

/// Cancels a job that has not finished; the checkpoints it saved stay.
fn cancel(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    change(app, ctx, req, |j, ctx| {
        if j.status.is_final() {
            return Err(format!("Cannot cancel job {}: its status is '{}'.", j.id, j.status.as_str()));
        }
        let now = ctx.unix_now.0;
        j.status = JobStatus::Cancelled;
        (j.paused, j.estimated_finish, j.finished_at) = (false, None, Some(now));
        j.events.push(run::event(ctx.rng, now, "Fine-tuning job cancelled".into(), None));
        app.state.webhooks.emit(run::job_event(j.status), &j.id);
        Ok(())
    })
}

/// Pauses a running job: it shows `queued` (the SDK knows no `paused`) until resumed.
fn pause(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    change(app, ctx, req, |j, ctx| {
        if j.status != JobStatus::Running || j.paused {
            return Err(format!("Only a running job can be paused; job {} is '{}'.", j.id, shown(j)));
        }
        (j.paused, j.status, j.estimated_finish) = (true, JobStatus::Queued, None);
        j.events.push(run::event(ctx.rng, ctx.unix_now.0, "Fine-tuning job paused".into(), None));
        Ok(())
    })
}

/// Resumes a paused job where it stopped.
fn resume(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let outcome = change(app, ctx, req, |j, ctx| {
        if !j.paused {
            return Err(format!("Only a paused job can be resumed; job {} is '{}'.", j.id, shown(j)));
        }
        (j.paused, j.status) = (false, JobStatus::Running);
        j.estimated_finish = Some(ctx.unix_now.0 + run::remaining(app, j).as_secs().max(1));
        j.events.push(run::event(ctx.rng, ctx.unix_now.0, "Fine-tuning job resumed".into(), None));
        Ok(())
    })?;
    app.state.fine_tuning_queue.push(req.param("id").to_owned());
    Ok(outcome)
}

/// A job's status as its errors name it.
fn shown(j: &Job) -> &'static str {
    if j.paused { "paused" } else { j.status.as_str() }
}
