//! The Files API: upload (multipart), list, retrieve, the exact bytes, delete.

use std::sync::Arc;

use super::{
    Body, Ctx, Full, Outcome, Request,
    common::{self, ListSpec},
    file_checks,
};
use crate::{
    app::App,
    error::Error,
    router::{BodyKind, Route},
    state::files::{BATCH_FILE_LIFETIME, StoredFile, UPLOAD_PURPOSES},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/files", create).body(BodyKind::Multipart),
    Route::get("/v1/files", list),
    Route::get("/v1/files/{id}", retrieve),
    Route::delete("/v1/files/{id}", delete),
    Route::get("/v1/files/{id}/content", content),
];

/// The files list: up to 10,000 a page, newest first.
const FILES_LIST: ListSpec = ListSpec { default_limit: 10_000, max_limit: 10_000, ..ListSpec::STANDARD };

/// Checks `purpose` is one a client may upload for.
pub fn check_purpose(purpose: &str) -> Result<(), Error> {
    if UPLOAD_PURPOSES.contains(&purpose) {
        return Ok(());
    }
    let message = format!("'{purpose}' is not one of {UPLOAD_PURPOSES:?} - 'purpose'");
    Err(Error::invalid_param("purpose", message).with_code("invalid_value"))
}

/// A new file of `content`, with OpenAI's default lifetime for its purpose unless `lifetime` is given.
pub fn new_file(
    ctx: &mut Ctx<'_>,
    filename: String,
    purpose: &str,
    lifetime: Option<u64>,
    content: Arc<[u8]>,
) -> StoredFile {
    let created_at = ctx.unix_now.0;
    let lifetime = lifetime.or((purpose == "batch").then_some(BATCH_FILE_LIFETIME));
    StoredFile {
        id: common::new_id(ctx.rng, "file-", 22),
        created_at,
        filename,
        purpose: purpose.to_owned(),
        expires_at: lifetime.map(|s| created_at + s),
        content,
    }
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let parts = common::form(req)?;
    let file = parts.iter().find(|p| p.name == "file").ok_or_else(|| common::missing("file"))?;
    let purpose = common::form_text(&parts, req.body, "purpose")?.ok_or_else(|| common::missing("purpose"))?;
    check_purpose(purpose)?;
    let anchor = common::form_text(&parts, req.body, "expires_after[anchor]")?;
    let seconds = common::form_text(&parts, req.body, "expires_after[seconds]")?.map(serde_json::Value::from);
    let lifetime = common::expires_after(anchor, seconds.as_ref(), "expires_after")?;
    let content = file.bytes(req.body);
    file_checks::check_upload(purpose, content)?;
    let filename = file.filename.unwrap_or("file").to_owned();
    let stored = new_file(ctx, filename, purpose, lifetime, content.into());
    let json = stored.to_json();
    app.state.files.insert(stored, ctx.unix_now.0)?;
    Ok(Full::value(&json).into())
}

fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, FILES_LIST)?;
    let purpose = req.query("purpose").filter(|p| !p.is_empty());
    let page = app.state.files.page(&query, ctx.unix_now.0, |f| purpose.as_ref().is_none_or(|p| f.purpose == *p))?;
    Ok(common::list_reply(&page, StoredFile::to_json).into())
}

fn get(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<StoredFile, Error> {
    let id = req.param("id");
    app.state.files.get(id, ctx.unix_now.0).ok_or_else(|| common::no_such("File", id))
}

fn retrieve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&get(app, ctx, req)?.to_json()).into())
}

/// The exact bytes uploaded, shared with the store rather than copied.
fn content(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::text("application/octet-stream", Body::Shared(get(app, ctx, req)?.content)).into())
}

fn delete(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let file = get(app, ctx, req)?;
    app.state.files.remove(&file.id)?;
    Ok(Full::value(&serde_json::json!({"id": file.id, "object": "file", "deleted": true})).into())
}
