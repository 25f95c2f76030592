//! The Batch API: create (from a `batch` file), retrieve, list, cancel. Batches run on the
//! background jobs thread ([`run`]), each line through the same handler as a live request.

pub mod run;

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec, missing},
    file_checks,
};
use crate::{
    app::App,
    error::Error,
    router::Route,
    state::{
        batches::{Batch, BatchStatus, COMPLETION_WINDOW},
        store::Order,
    },
};

pub use run::spawn_runner;

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/batches", create),
    Route::get("/v1/batches", list),
    Route::get("/v1/batches/{id}", retrieve),
    Route::post("/v1/batches/{id}/cancel", cancel),
];

/// Batches list newest first, `limit` 1..=100 (default 20), `after` only.
const BATCHES_LIST: ListSpec =
    ListSpec { default_limit: 20, max_limit: 100, order: Order::Desc, orderable: false, before: false };

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    super::generate::require_json(req)?;
    let body = Error::json_object(req.body)?;
    let text = |param: &str| match body.get(param) {
        None | Some(serde_json::Value::Null) => Err(missing(param)),
        Some(v) => v.as_str().ok_or_else(|| Error::invalid_param(param, format!("'{param}' must be a string."))),
    };
    let (input_file_id, endpoint, window) = (text("input_file_id")?, text("endpoint")?, text("completion_window")?);
    if !file_checks::batch_endpoint(endpoint) {
        let allowed = file_checks::served_batch_endpoints().join("', '");
        let message = format!("Invalid value: '{endpoint}'. Supported values are: '{allowed}'.");
        return Err(Error::invalid_param("endpoint", message).with_code("invalid_value"));
    }
    if window != COMPLETION_WINDOW {
        let message = format!("Invalid value: '{window}'. Supported values are: '{COMPLETION_WINDOW}'.");
        return Err(Error::invalid_param("completion_window", message).with_code("invalid_value"));
    }
    let metadata = check_metadata(body.get("metadata"))?;
    let expires = body.get("output_expires_after").unwrap_or(&serde_json::Value::Null);
    let output_lifetime =
        common::expires_after(expires["anchor"].as_str(), expires.get("seconds"), "output_expires_after")?;
    let file = app
        .state
        .files
        .get(input_file_id, ctx.unix_now.0)
        .ok_or_else(|| common::no_such("File", input_file_id).with_param("input_file_id"))?;
    if file.purpose != "batch" {
        let message =
            format!("File {input_file_id} has purpose '{}': a batch's input must have purpose 'batch'.", file.purpose);
        return Err(Error::invalid_param("input_file_id", message));
    }
    let mut batch = Batch::new(
        common::new_id(ctx.rng, "batch_", 32),
        ctx.unix_now.0,
        endpoint.to_owned(),
        input_file_id.to_owned(),
    );
    batch.metadata = metadata;
    batch.output_expires_after = output_lifetime;
    let json = batch.to_json();
    app.state.batches.insert(batch.clone(), ctx.unix_now.0)?;
    app.state.jobs.push(batch.id);
    Ok(Full::value(&json).into())
}

/// OpenAI's metadata: at most 16 pairs, keys up to 64 characters, string values up to 512.
pub fn check_metadata(metadata: Option<&serde_json::Value>) -> Result<Option<serde_json::Value>, Error> {
    let pairs = match metadata {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::Object(pairs)) => pairs,
        Some(_) => return Err(Error::invalid_param("metadata", "'metadata' must be an object of strings.")),
    };
    let fits = pairs.len() <= 16
        && pairs.iter().all(|(k, v)| k.chars().count() <= 64 && v.as_str().is_some_and(|v| v.chars().count() <= 512));
    if !fits {
        let message = "'metadata' holds at most 16 pairs, keys up to 64 characters and string values up to 512.";
        return Err(Error::invalid_param("metadata", message));
    }
    Ok(Some(serde_json::Value::Object(pairs.clone())))
}

fn get(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<Batch, Error> {
    let id = req.param("id");
    app.state.batches.get(id, ctx.unix_now.0).ok_or_else(|| common::no_such("Batch", id))
}

fn retrieve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&get(app, ctx, req)?.to_json()).into())
}

fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, BATCHES_LIST)?;
    let page = app.state.batches.page(&query, ctx.unix_now.0, |_| true)?;
    Ok(common::list_reply(&page, Batch::to_json).into())
}

/// Asks a running batch to stop: `cancelling` now, `cancelled` once the jobs thread has written
/// what ran (a batch not yet started is cancelled when the thread reaches it).
fn cancel(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = get(app, ctx, req)?.id;
    let now = ctx.unix_now.0;
    let (batch, refused) = app
        .state
        .batches
        .update(&id, |b| match b.status {
            BatchStatus::Validating | BatchStatus::InProgress => {
                b.status = BatchStatus::Cancelling;
                b.cancelling_at = Some(now);
                None
            }
            BatchStatus::Cancelling => None,
            other => Some(other),
        })?
        .ok_or_else(|| common::no_such("Batch", &id))?;
    if let Some(status) = refused {
        let message = format!("Cannot cancel a batch with status '{}'.", status.as_str());
        return Err(Error::new(409, "invalid_request_error", message).with_code("batch_not_cancellable"));
    }
    Ok(Full::value(&batch.to_json()).into())
}
