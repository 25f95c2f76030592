//! A vector store's files (add by `file_id` with `attributes` and `chunking_strategy`, list,
//! retrieve, update attributes, delete, content) and file batches (create, retrieve, cancel,
//! list files). Adding a file chunks and embeds it at once; its status then follows the clock
//! (see [`crate::state::vector_stores`]).

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{Ctx, Full, Outcome, Request, files_of, get, json_body, now_ms, touch};
use crate::{
    api::common::{self, ListSpec, missing},
    app::App,
    encoders::retrieval,
    error::Error,
    state::{
        files::StoredFile,
        store::{Page, PageQuery},
        vector_stores::{Chunking, FileBatch, FileCounts, FileStatus, VsFile},
    },
};

/// Reads a list of file ids (absent: none).
pub fn id_list(v: Option<&Value>, param: &str) -> Result<Vec<String>, Error> {
    let bad = || Error::invalid_param(param, format!("'{param}' must be an array of file ids."));
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(ids)) => ids.iter().map(|id| id.as_str().map(str::to_owned).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// The files named by `ids`, all of which must exist (400 naming the first that does not).
pub fn sources(app: &App, ctx: &Ctx<'_>, ids: &[String], param: &str) -> Result<Vec<StoredFile>, Error> {
    ids.iter()
        .map(|id| {
            app.state.files.get(id, ctx.unix_now.0).ok_or_else(|| {
                Error::invalid_param(param, format!("No file found with id '{id}'.")).with_code("file_not_found")
            })
        })
        .collect()
}

/// `attributes`: at most 16 keys of up to 64 characters, values strings (≤ 512), numbers or booleans.
fn attributes(v: Option<&Value>, param: &str) -> Result<Map<String, Value>, Error> {
    let pairs = match v {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(pairs)) => pairs,
        Some(_) => return Err(Error::invalid_param(param, format!("'{param}' must be an object."))),
    };
    let value_ok = |v: &Value| match v {
        Value::String(s) => s.chars().count() <= 512,
        Value::Number(_) | Value::Bool(_) => true,
        _ => false,
    };
    if pairs.len() > 16 || !pairs.iter().all(|(k, v)| k.chars().count() <= 64 && value_ok(v)) {
        let message = format!(
            "'{param}' holds at most 16 pairs, keys up to 64 characters and values that are strings (up to 512 \
             characters), numbers or booleans."
        );
        return Err(Error::invalid_param(param, message));
    }
    Ok(pairs.clone())
}

/// Attaches `file` to store `vs_id`: chunks and embeds its text now (a file that is not UTF-8
/// text fails with `unsupported_file`), replacing an earlier attachment of the same file.
pub fn attach(
    app: &App,
    ctx: &Ctx<'_>,
    vs_id: &str,
    file: &StoredFile,
    attributes: Map<String, Value>,
    chunking: Chunking,
    batch_id: Option<&str>,
) -> Result<VsFile, Error> {
    let (text, chunks, error) = match std::str::from_utf8(&file.content) {
        Ok(text) => (text, retrieval::embed_chunks(text, app.encoding, chunking), None),
        Err(_) => ("", Vec::new(), Some(("unsupported_file", format!("File {} is not UTF-8 text.", file.id)))),
    };
    let vs_file = VsFile {
        key: VsFile::key_of(vs_id, &file.id),
        file_id: file.id.clone(),
        vector_store_id: vs_id.to_owned(),
        filename: file.filename.clone(),
        created_at: ctx.unix_now.0,
        ready_at_ms: now_ms(ctx) + app.args.vector_store_processing_ms,
        cancelled: false,
        error,
        attributes,
        chunking,
        usage_bytes: text.len() as u64,
        chunks: chunks.into(),
        text: Arc::from(text),
        batch_id: batch_id.map(str::to_owned),
    };
    app.state.vector_store_files.remove(&vs_file.key)?;
    app.state.vector_store_files.insert(vs_file.clone(), ctx.unix_now.0)?;
    touch(app, ctx, vs_id)?;
    Ok(vs_file)
}

pub(super) fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let vs = get(app, ctx, req)?;
    let file_id = match body.get("file_id") {
        None | Some(Value::Null) => return Err(missing("file_id")),
        Some(v) => v.as_str().ok_or_else(|| Error::invalid_param("file_id", "'file_id' must be a string."))?,
    };
    let attrs = attributes(body.get("attributes"), "attributes")?;
    let chunking = retrieval::chunking(body.get("chunking_strategy"), "chunking_strategy")?;
    let file = sources(app, ctx, &[file_id.to_owned()], "file_id")?.remove(0);
    let added = attach(app, ctx, &vs.id, &file, attrs, chunking, None)?;
    Ok(Full::value(&added.to_json(now_ms(ctx))).into())
}

/// Reads a files list's `filter` (a status).
fn status_filter(req: &Request<'_>) -> Result<Option<FileStatus>, Error> {
    match req.query("filter").filter(|f| !f.is_empty()) {
        None => Ok(None),
        Some(f) => FileStatus::parse(&f).map(Some).ok_or_else(|| {
            let message = format!(
                "Invalid value: '{f}'. Supported values are: 'in_progress', 'completed', 'failed' and 'cancelled'."
            );
            Error::invalid_param("filter", message).with_code("invalid_value")
        }),
    }
}

/// A page of store `vs_id`'s files that `keep` accepts; cursors name files by their file id.
fn page_files(
    app: &App,
    ctx: &Ctx<'_>,
    req: &Request<'_>,
    vs_id: &str,
    keep: impl Fn(&VsFile) -> bool,
) -> Result<Page<VsFile>, Error> {
    let query = common::page_query(req, ListSpec::STANDARD)?;
    let filter = status_filter(req)?;
    let key = |id: Option<String>| id.map(|id| VsFile::key_of(vs_id, &id));
    let query = PageQuery { after: key(query.after), before: key(query.before), ..query };
    let now = now_ms(ctx);
    let page = app.state.vector_store_files.page(&query, ctx.unix_now.0, |f| {
        f.vector_store_id == vs_id && filter.is_none_or(|s| f.status(now) == s) && keep(f)
    });
    // An unknown cursor names the file as the client gave it.
    page.map_err(|e| match e {
        crate::state::store::StoreError::UnknownCursor { kind, param, id } => {
            let id = id.rsplit('/').next().unwrap_or(&id).to_owned();
            crate::state::store::StoreError::UnknownCursor { kind, param, id }.into()
        }
        other => other.into(),
    })
}

pub(super) fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let vs = get(app, ctx, req)?;
    let page = page_files(app, ctx, req, &vs.id, |_| true)?;
    let now = now_ms(ctx);
    Ok(common::list_reply(&page, |f| f.to_json(now)).into())
}

/// The file named by the path in the store named by the path (404 otherwise).
fn get_file(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<VsFile, Error> {
    let vs = get(app, ctx, req)?;
    let file_id = req.param("file_id");
    let found = app.state.vector_store_files.get(&VsFile::key_of(&vs.id, file_id), ctx.unix_now.0);
    found.ok_or_else(|| common::no_such("VectorStoreFile", file_id))
}

pub(super) fn retrieve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&get_file(app, ctx, req)?.to_json(now_ms(ctx))).into())
}

/// Replaces the file's `attributes`.
pub(super) fn update(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    if !body.contains_key("attributes") {
        return Err(missing("attributes"));
    }
    let attrs = attributes(body.get("attributes"), "attributes")?;
    let file = get_file(app, ctx, req)?;
    let changed = app.state.vector_store_files.update(&file.key, |f| f.attributes = attrs)?;
    let (file, ()) = changed.ok_or_else(|| common::no_such("VectorStoreFile", &file.file_id))?;
    Ok(Full::value(&file.to_json(now_ms(ctx))).into())
}

/// Detaches the file from the store (the file itself stays).
pub(super) fn delete(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let file = get_file(app, ctx, req)?;
    app.state.vector_store_files.remove(&file.key)?;
    touch(app, ctx, &file.vector_store_id)?;
    Ok(Full::value(&json!({"id": file.file_id, "object": "vector_store.file.deleted", "deleted": true})).into())
}

/// The file's parsed text, as one text part.
pub(super) fn content(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let file = get_file(app, ctx, req)?;
    let data: Vec<Value> = match file.text.is_empty() {
        true => Vec::new(),
        false => vec![json!({"type": "text", "text": &*file.text})],
    };
    let page = json!({"object": "vector_store.file_content.page", "data": data, "has_more": false, "next_page": null});
    Ok(Full::value(&page).into())
}

/// What a file batch adds: each file with its attributes and chunking.
type BatchItems = Vec<(StoredFile, Map<String, Value>, Chunking)>;

/// Reads a batch's `file_ids` (with shared `attributes` and `chunking_strategy`) or `files`
/// (each with its own), exactly one of them.
fn batch_items(app: &App, ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<BatchItems, Error> {
    let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    match (has("file_ids"), has("files")) {
        (true, true) => Err(Error::bad_request("Give either 'file_ids' or 'files', not both.")),
        (false, false) => Err(missing("file_ids")),
        (true, false) => {
            let ids = id_list(body.get("file_ids"), "file_ids")?;
            if ids.is_empty() {
                return Err(Error::invalid_param("file_ids", "'file_ids' must name at least one file."));
            }
            let attrs = attributes(body.get("attributes"), "attributes")?;
            let chunking = retrieval::chunking(body.get("chunking_strategy"), "chunking_strategy")?;
            let files = sources(app, ctx, &ids, "file_ids")?;
            Ok(files.into_iter().map(|f| (f, attrs.clone(), chunking)).collect())
        }
        (false, true) => {
            let Some(items) = body["files"].as_array().filter(|a| !a.is_empty()) else {
                return Err(Error::invalid_param("files", "'files' must be a non-empty array."));
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let param = format!("files[{i}]");
                    let id = item["file_id"].as_str().ok_or_else(|| missing(&format!("{param}.file_id")))?;
                    let file = sources(app, ctx, &[id.to_owned()], &format!("{param}.file_id"))?.remove(0);
                    let attrs = attributes(item.get("attributes"), &format!("{param}.attributes"))?;
                    let chunking =
                        retrieval::chunking(item.get("chunking_strategy"), &format!("{param}.chunking_strategy"))?;
                    Ok((file, attrs, chunking))
                })
                .collect()
        }
    }
}

/// The batch's JSON with its files' counts as of now.
fn batch_json(app: &App, ctx: &Ctx<'_>, batch: &FileBatch) -> Value {
    let files = files_of(app, ctx, &batch.vector_store_id);
    let mine = files.iter().filter(|f| f.batch_id.as_deref() == Some(&batch.id));
    batch.to_json(FileCounts::of(mine, now_ms(ctx)))
}

pub(super) fn create_batch(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = json_body(req)?;
    let vs = get(app, ctx, req)?;
    let items = batch_items(app, ctx, &body)?;
    let batch = FileBatch {
        id: common::new_id(ctx.rng, "vsfb_", 24),
        vector_store_id: vs.id.clone(),
        created_at: ctx.unix_now.0,
        cancelled: false,
    };
    app.state.file_batches.insert(batch.clone(), ctx.unix_now.0)?;
    for (file, attrs, chunking) in &items {
        attach(app, ctx, &vs.id, file, attrs.clone(), *chunking, Some(&batch.id))?;
    }
    Ok(Full::value(&batch_json(app, ctx, &batch)).into())
}

/// The batch named by the path, in the store named by the path (404 otherwise).
fn get_batch(app: &App, ctx: &Ctx<'_>, req: &Request<'_>) -> Result<FileBatch, Error> {
    let vs = get(app, ctx, req)?;
    let id = req.param("batch_id");
    let found = app.state.file_batches.get(id, ctx.unix_now.0).filter(|b| b.vector_store_id == vs.id);
    found.ok_or_else(|| common::no_such("VectorStoreFileBatch", id))
}

pub(super) fn retrieve_batch(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&batch_json(app, ctx, &get_batch(app, ctx, req)?)).into())
}

/// Cancels the batch's files still in progress (those done stay done).
pub(super) fn cancel_batch(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let batch = get_batch(app, ctx, req)?;
    let now = now_ms(ctx);
    app.state.file_batches.update(&batch.id, |b| b.cancelled = true)?;
    for f in files_of(app, ctx, &batch.vector_store_id) {
        if f.batch_id.as_deref() == Some(&batch.id) && f.status(now) == FileStatus::InProgress {
            app.state.vector_store_files.update(&f.key, |f| f.cancelled = true)?;
        }
    }
    let batch = get_batch(app, ctx, req)?;
    Ok(Full::value(&batch_json(app, ctx, &batch)).into())
}

pub(super) fn batch_files(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let batch = get_batch(app, ctx, req)?;
    let page = page_files(app, ctx, req, &batch.vector_store_id, |f| f.batch_id.as_deref() == Some(&batch.id))?;
    let now = now_ms(ctx);
    Ok(common::list_reply(&page, |f| f.to_json(now)).into())
}
