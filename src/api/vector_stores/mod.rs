//! The Vector Stores API: stores (create, list, retrieve, update, delete), their files and file
//! batches ([`files`]), and search ([`search`]). Files are chunked by the server's tokenizer and
//! embedded as `/v1/embeddings` embeds text when they are added; they turn `completed` after
//! `--vector-store-processing-ms` (at once by default).

pub mod files;
pub mod search;

use serde_json::{Map, Value};

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec},
};
use crate::{
    app::App,
    error::Error,
    router::Route,
    state::vector_stores::{FileCounts, FileStatus, VectorStore, VsFile},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/vector_stores", create),
    Route::get("/v1/vector_stores", list),
    Route::get("/v1/vector_stores/{id}", retrieve),
    Route::post("/v1/vector_stores/{id}", update),
    Route::delete("/v1/vector_stores/{id}", delete),
    Route::post("/v1/vector_stores/{id}/search", search::search).prepare(|_, body| Box::new(search::read(body))),
    Route::post("/v1/vector_stores/{id}/files", files::create),
    Route::get("/v1/vector_stores/{id}/files", files::list),
    Route::get("/v1/vector_stores/{id}/files/{file_id}", files::retrieve),
    Route::post("/v1/vector_stores/{id}/files/{file_id}", files::update),
    Route::delete("/v1/vector_stores/{id}/files/{file_id}", files::delete),
    Route::get("/v1/vector_stores/{id}/files/{file_id}/content", files::content),
    Route::post("/v1/vector_stores/{id}/file_batches", files::create_batch),
    Route::get("/v1/vector_stores/{id}/file_batches/{batch_id}", files::retrieve_batch),
    Route::post("/v1/vector_stores/{id}/file_batches/{batch_id}/cancel", files::cancel_batch),
    Route::get("/v1/vector_stores/{id}/file_batches/{batch_id}/files", files::batch_files),
];

/// The request body as a JSON object (400 otherwise).
fn json_body(req: &Request<'_>) -> Result<Map<String, Value>, Error> {
    super::generate::require_json(req)?;
    json_object(req.body)
}

/// `body` as a JSON object.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(Error::bad_request("The request body must be a JSON object.")),
    }
}

/// The wall clock in unix milliseconds.
fn now_ms(ctx: &Ctx<'_>) -> u64 {
    ctx.unix_now.0 * 1000 + u64::from(ctx.unix_now.1) / 1000
}

/// The vector store named by the path (404 when there is none).
fn get(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<VectorStore, Error> {
    let id = req.param("id");
    app.state.vector_stores.get(id, ctx.unix_now.0).ok_or_else(|| common::no_such("VectorStore", id))
}

/// The files of store `id`.
fn files_of(app: &App, ctx: &Ctx<'_>, id: &str) -> Vec<VsFile> {
    app.state.vector_store_files.matching(ctx.unix_now.0, |f| f.vector_store_id == id)
}

/// The store's JSON with its files' counts and bytes as of now.
fn store_json(app: &App, ctx: &Ctx<'_>, vs: &VectorStore) -> Value {
    let now = now_ms(ctx);
    let files = files_of(app, ctx, &vs.id);
    let bytes = files.iter().filter(|f| f.status(now) == FileStatus::Completed).map(|f| f.usage_bytes).sum();
    vs.to_json(FileCounts::of(&files, now), bytes)
}

/// Marks the store active now (its expiry counts from here).
fn touch(app: &App, ctx: &Ctx<'_>, id: &str) -> Result<(), Error> {
    app.state.vector_stores.update(id, |vs| vs.last_active_at = ctx.unix_now.0)?;
    Ok(())
}

/// `expires_after`: `{anchor: "last_active_at", days: 1..=365}`; `None` when absent or null.
fn expires_after(v: Option<&Value>) -> Result<Option<u64>, Error> {
    let v = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    if v["anchor"] != "last_active_at" {
        let message = "Invalid 'expires_after.anchor': expected 'last_active_at'.";
        return Err(Error::invalid_param("expires_after.anchor", message).with_code("invalid_value"));
    }
    match v["days"].as_u64() {
        Some(d @ 1..=365) => Ok(Some(d)),
        _ => Err(Error::invalid_param(
            "expires_after.days",
            "Invalid 'expires_after.days': expected an integer between 1 and 365.",
        )
        .with_code("invalid_value")),
    }
}

/// `name`: a string, or absent.
fn name(body: &Map<String, Value>) -> Result<Option<String>, Error> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::invalid_param("name", "'name' must be a string.")),
    }
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let metadata = super::batches::check_metadata(body.get("metadata"))?;
    let expires_after_days = expires_after(body.get("expires_after"))?;
    let chunking = crate::encoders::retrieval::chunking(body.get("chunking_strategy"), "chunking_strategy")?;
    let file_ids = files::id_list(body.get("file_ids"), "file_ids")?;
    let sources = files::sources(app, ctx, &file_ids, "file_ids")?;
    let vs = VectorStore {
        id: common::new_id(ctx.rng, "vs_", 24),
        created_at: ctx.unix_now.0,
        name: name(&body)?.unwrap_or_default(),
        metadata,
        expires_after_days,
        last_active_at: ctx.unix_now.0,
    };
    app.state.vector_stores.insert(vs.clone(), ctx.unix_now.0)?;
    for file in &sources {
        files::attach(app, ctx, &vs.id, file, Map::new(), chunking, None)?;
    }
    Ok(Full::value(&store_json(app, ctx, &vs)).into())
}

fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, ListSpec::STANDARD)?;
    let page = app.state.vector_stores.page(&query, ctx.unix_now.0, |_| true)?;
    Ok(common::list_reply(&page, |vs| store_json(app, ctx, vs)).into())
}

fn retrieve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&store_json(app, ctx, &get(app, ctx, req)?)).into())
}

fn update(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let vs = get(app, ctx, req)?;
    let new_name = name(&body)?;
    let metadata = body.contains_key("metadata").then(|| super::batches::check_metadata(body.get("metadata")));
    let metadata = metadata.transpose()?;
    let expiry = body.contains_key("expires_after").then(|| expires_after(body.get("expires_after")));
    let expiry = expiry.transpose()?;
    let changed = app.state.vector_stores.update(&vs.id, |vs| {
        if let Some(n) = new_name {
            vs.name = n;
        }
        if let Some(m) = metadata {
            vs.metadata = m;
        }
        if let Some(days) = expiry {
            vs.expires_after_days = days;
        }
        vs.last_active_at = ctx.unix_now.0;
    })?;
    let (vs, ()) = changed.ok_or_else(|| common::no_such("VectorStore", &vs.id))?;
    Ok(Full::value(&store_json(app, ctx, &vs)).into())
}

/// Deletes the store with its file attachments and batches (the files themselves stay).
fn delete(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let vs = get(app, ctx, req)?;
    app.state.vector_stores.remove(&vs.id)?;
    for f in files_of(app, ctx, &vs.id) {
        app.state.vector_store_files.remove(&f.key)?;
    }
    for b in app.state.file_batches.matching(ctx.unix_now.0, |b| b.vector_store_id == vs.id) {
        app.state.file_batches.remove(&b.id)?;
    }
    Ok(Full::value(&serde_json::json!({"id": vs.id, "object": "vector_store.deleted", "deleted": true})).into())
}
