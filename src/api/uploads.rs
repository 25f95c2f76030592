//! The Uploads API: a large file sent in parts, then completed into a File (part order and
//! byte count checked) or cancelled.

use std::sync::Arc;

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, missing},
    file_checks, files,
};
use crate::{
    app::App,
    error::Error,
    router::{BodyKind, Route},
    state::uploads::{MAX_UPLOAD_BYTES, Part, Upload, UploadStatus},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/uploads", create),
    Route::post("/v1/uploads/{id}/parts", add_part).body(BodyKind::Multipart),
    Route::post("/v1/uploads/{id}/complete", complete),
    Route::post("/v1/uploads/{id}/cancel", cancel),
];

/// Largest part OpenAI accepts (64 MB).
const MAX_PART_BYTES: usize = 64 * 1024 * 1024;

fn json_body(req: &Request<'_>) -> Result<serde_json::Value, Error> {
    super::generate::require_json(req)?;
    Error::json_object(req.body)
}

fn string<'a>(body: &'a serde_json::Value, param: &str) -> Result<&'a str, Error> {
    match &body[param] {
        serde_json::Value::Null => Err(missing(param)),
        v => v.as_str().ok_or_else(|| Error::invalid_param(param, format!("'{param}' must be a string."))),
    }
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let bytes = match &body["bytes"] {
        serde_json::Value::Null => return Err(missing("bytes")),
        v => v.as_u64().filter(|b| *b <= MAX_UPLOAD_BYTES).ok_or_else(|| {
            Error::invalid_param("bytes", format!("'bytes' must be an integer from 0 to {MAX_UPLOAD_BYTES}."))
        })?,
    };
    let filename = string(&body, "filename")?.to_owned();
    let mime_type = string(&body, "mime_type")?.to_owned();
    let purpose = string(&body, "purpose")?;
    files::check_purpose(purpose)?;
    let expires = &body["expires_after"];
    let lifetime = common::expires_after(expires["anchor"].as_str(), expires.get("seconds"), "expires_after")?;
    let upload = Upload {
        id: common::new_id(ctx.rng, "upload_", 24),
        created_at: ctx.unix_now.0,
        filename,
        purpose: purpose.to_owned(),
        mime_type,
        bytes,
        file_expires_after: lifetime,
        status: UploadStatus::Pending,
        parts: Vec::new(),
        file: None,
    };
    let json = upload.to_json();
    app.state.uploads.insert(upload, ctx.unix_now.0)?;
    Ok(Full::value(&json).into())
}

/// 400 for an upload that no longer takes changes.
fn not_pending(upload: &Upload) -> Error {
    Error::bad_request(format!("Upload {} is {}: it accepts no more changes.", upload.id, upload.status.as_str()))
}

/// Applies `change` to the pending upload named by the path (404 unknown, 400 not pending).
fn change_pending<R>(
    app: &App,
    ctx: &Ctx<'_>,
    req: &Request<'_>,
    change: impl FnOnce(&mut Upload) -> Result<R, Error>,
) -> Result<(Upload, R), Error> {
    let id = req.param("id");
    if app.state.uploads.get(id, ctx.unix_now.0).is_none() {
        return Err(common::no_such("Upload", id));
    }
    let changed = app.state.uploads.update(id, |u| match u.status {
        UploadStatus::Pending => change(u),
        _ => Err(not_pending(u)),
    })?;
    let (upload, result) = changed.ok_or_else(|| common::no_such("Upload", id))?;
    Ok((upload, result?))
}

fn add_part(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let parts = common::form(req)?;
    let data = parts.iter().find(|p| p.name == "data").ok_or_else(|| missing("data"))?.bytes(req.body);
    if data.len() > MAX_PART_BYTES {
        return Err(Error::invalid_param("data", format!("A part may hold at most {MAX_PART_BYTES} bytes.")));
    }
    let part = Part { id: common::new_id(ctx.rng, "part_", 24), created_at: ctx.unix_now.0, data: data.into() };
    let json_of = part.clone();
    let (upload, ()) = change_pending(app, ctx, req, |u| {
        u.parts.push(part);
        Ok(())
    })?;
    Ok(Full::value(&json_of.to_json(&upload.id)).into())
}

/// The parts named by `part_ids`, in that order, joined (400 for an unknown or repeated id).
fn assemble(upload: &Upload, part_ids: &[serde_json::Value]) -> Result<Vec<u8>, Error> {
    let mut used = std::collections::HashSet::new();
    let mut content = Vec::new();
    for id in part_ids {
        let id = id.as_str().ok_or_else(|| Error::invalid_param("part_ids", "'part_ids' must be strings."))?;
        let part = upload.parts.iter().find(|p| p.id == id).filter(|_| used.insert(id)).ok_or_else(|| {
            Error::invalid_param(
                "part_ids",
                format!("Part {id} is not a part of upload {} or is named twice.", upload.id),
            )
        })?;
        content.extend_from_slice(&part.data);
    }
    if content.len() as u64 != upload.bytes {
        let message =
            format!("The parts hold {} bytes, but the upload was created for {} bytes.", content.len(), upload.bytes);
        return Err(Error::invalid_param("part_ids", message));
    }
    Ok(content)
}

fn complete(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let part_ids = body["part_ids"].as_array().ok_or_else(|| missing("part_ids"))?;
    let id = req.param("id");
    let upload = app.state.uploads.get(id, ctx.unix_now.0).ok_or_else(|| common::no_such("Upload", id))?;
    if upload.status != UploadStatus::Pending {
        return Err(not_pending(&upload));
    }
    let content: Arc<[u8]> = assemble(&upload, part_ids)?.into();
    file_checks::check_upload(&upload.purpose, &content)?;
    let file = files::new_file(ctx, upload.filename.clone(), &upload.purpose, upload.file_expires_after, content);
    let file_json = file.to_json();
    // The parts' bytes are released before the file takes them, so completing needs no more room
    // than the parts already hold; if the file is refused, the upload gets its parts back.
    let (done, parts) = change_pending(app, ctx, req, |u| {
        u.status = UploadStatus::Completed;
        u.file = Some(file_json.clone());
        Ok(std::mem::take(&mut u.parts))
    })?;
    if let Err(e) = app.state.files.insert(file, ctx.unix_now.0) {
        let _ = app.state.uploads.update(id, |u| {
            u.status = UploadStatus::Pending;
            u.file = None;
            u.parts = parts;
        });
        return Err(e.into());
    }
    Ok(Full::value(&done.to_json()).into())
}

fn cancel(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let (upload, ()) = change_pending(app, ctx, req, |u| {
        u.status = UploadStatus::Cancelled;
        u.parts.clear();
        Ok(())
    })?;
    Ok(Full::value(&upload.to_json()).into())
}
