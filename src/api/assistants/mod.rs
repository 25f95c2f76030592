//! The Assistants API (v2): assistants ([`self`]), threads and their messages ([`threads`]),
//! runs and their steps ([`runs`]), streamed as Assistants events ([`stream`]). A run really
//! generates: the thread's messages become a chat prompt planned by the same generator and
//! schedule as `/v1/chat/completions`, and its status, message text and usage follow that
//! schedule (read off the clock; nothing runs in the background). The SDK's
//! `OpenAI-Beta: assistants=v2` header is accepted, not required.

pub mod params;
pub mod runs;
pub mod stream;
pub mod threads;

use serde_json::{Map, Value, json};

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec},
};
use crate::{app::App, error::Error, router::Route, state::assistants::Assistant};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/assistants", create),
    Route::get("/v1/assistants", list),
    Route::get("/v1/assistants/{id}", retrieve),
    Route::post("/v1/assistants/{id}", modify),
    Route::delete("/v1/assistants/{id}", delete),
    Route::post("/v1/threads", threads::create),
    Route::post("/v1/threads/runs", runs::create_thread_and_run),
    Route::get("/v1/threads/{thread_id}", threads::retrieve),
    Route::post("/v1/threads/{thread_id}", threads::modify),
    Route::delete("/v1/threads/{thread_id}", threads::delete),
    Route::post("/v1/threads/{thread_id}/messages", threads::create_message),
    Route::get("/v1/threads/{thread_id}/messages", threads::list_messages),
    Route::get("/v1/threads/{thread_id}/messages/{message_id}", threads::retrieve_message),
    Route::post("/v1/threads/{thread_id}/messages/{message_id}", threads::modify_message),
    Route::delete("/v1/threads/{thread_id}/messages/{message_id}", threads::delete_message),
    Route::post("/v1/threads/{thread_id}/runs", runs::create),
    Route::get("/v1/threads/{thread_id}/runs", runs::list),
    Route::get("/v1/threads/{thread_id}/runs/{run_id}", runs::retrieve),
    Route::post("/v1/threads/{thread_id}/runs/{run_id}", runs::modify),
    Route::post("/v1/threads/{thread_id}/runs/{run_id}/cancel", runs::cancel),
    Route::post("/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", runs::submit_tool_outputs),
    Route::get("/v1/threads/{thread_id}/runs/{run_id}/steps", runs::list_steps),
    Route::get("/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}", runs::retrieve_step),
];

/// Assistants, threads' messages, runs and steps list newest first, 20 at a time.
const LISTS: ListSpec = ListSpec::STANDARD;

/// The wall clock in unix microseconds.
fn now_us(ctx: &Ctx<'_>) -> u64 {
    super::generate::unix_micros(ctx)
}

/// The assistant `id` (404 when there is none).
fn assistant(app: &App, id: &str) -> Result<Assistant, Error> {
    app.state.assistants.get(id, crate::state::store::UNDATED).ok_or_else(|| common::no_such("Assistant", id))
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let model = body.get("model").ok_or_else(|| common::missing("model"))?;
    let mut settings = Map::new();
    for (key, default) in [
        ("name", Value::Null),
        ("description", Value::Null),
        ("model", Value::Null),
        ("instructions", Value::Null),
        ("tools", json!([])),
        ("tool_resources", json!({})),
        ("metadata", json!({})),
        ("temperature", json!(1.0)),
        ("top_p", json!(1.0)),
        ("response_format", json!("auto")),
        ("reasoning_effort", Value::Null),
    ] {
        settings.insert(key.to_owned(), default);
    }
    settings.insert("model".into(), model.clone());
    apply(app, ctx, &body, &mut settings)?;
    let a = Assistant { id: common::new_id(ctx.rng, "asst_", 24), created_at: ctx.unix_now.0, settings };
    app.state.assistants.insert(a.clone(), ctx.unix_now.0)?;
    Ok(Full::value(&a.to_json()).into())
}

/// Validates the settings `body` gives and writes them over `settings`.
fn apply(
    app: &App,
    ctx: &mut Ctx<'_>,
    body: &Map<String, Value>,
    settings: &mut Map<String, Value>,
) -> Result<(), Error> {
    for (key, max) in [("name", 256), ("description", 512), ("instructions", 256_000)] {
        if let Some(v) = body.get(key) {
            settings.insert(key.into(), params::text(v, key, max)?);
        }
    }
    if let Some(v) = body.get("model") {
        settings.insert("model".into(), json!(params::model(app, v)?));
    }
    if let Some(v) = body.get("tools") {
        settings.insert("tools".into(), json!(params::tools(v, "tools")?));
    }
    if let Some(v) = body.get("tool_resources") {
        settings.insert("tool_resources".into(), params::tool_resources(app, ctx, v, "tool_resources")?);
    }
    if body.contains_key("metadata") {
        let metadata = super::batches::check_metadata(body.get("metadata"))?;
        settings.insert("metadata".into(), metadata.unwrap_or_else(|| json!({})));
    }
    for (key, max, default) in [("temperature", 2.0, 1.0), ("top_p", 1.0, 1.0)] {
        if let Some(v) = body.get(key) {
            settings.insert(key.into(), json!(params::number(v, key, max)?.unwrap_or(default)));
        }
    }
    if let Some(v) = body.get("response_format") {
        settings.insert("response_format".into(), params::response_format(v)?);
    }
    if let Some(v) = body.get("reasoning_effort") {
        settings.insert("reasoning_effort".into(), params::reasoning_effort(v)?);
    }
    Ok(())
}

fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, LISTS)?;
    let page = app.state.assistants.page(&query, ctx.unix_now.0, |_| true)?;
    Ok(common::list_reply(&page, Assistant::to_json).into())
}

fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&assistant(app, req.param("id"))?.to_json()).into())
}

fn modify(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let mut a = assistant(app, req.param("id"))?;
    apply(app, ctx, &body, &mut a.settings)?;
    let settings = a.settings.clone();
    app.state.assistants.update(&a.id, |stored| stored.settings = settings)?;
    Ok(Full::value(&a.to_json()).into())
}

fn delete(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let a = assistant(app, req.param("id"))?;
    app.state.assistants.remove(&a.id)?;
    Ok(Full::value(&json!({"id": a.id, "object": "assistant.deleted", "deleted": true})).into())
}
