//! Threads (create with initial messages, retrieve, modify, delete) and their messages (create,
//! list with a `run_id` filter, retrieve, modify, delete).

use serde_json::{Map, Value, json};

use super::{LISTS, now_us, params};
use crate::{
    api::{Ctx, Full, Outcome, Request, common},
    app::App,
    error::Error,
    state::{
        assistants::{Message, Thread},
        store::UNDATED,
    },
};

/// The thread named by the path (404 when there is none).
pub fn thread(app: &App, req: &Request<'_>) -> Result<Thread, Error> {
    let id = req.param("thread_id");
    app.state.threads.get(id, UNDATED).ok_or_else(|| common::no_such("Thread", id))
}

/// A new thread from a `thread` object (`messages`, `metadata`, `tool_resources`); `param`
/// prefixes the names in its errors.
pub fn new_thread(app: &App, ctx: &mut Ctx<'_>, body: &Map<String, Value>, param: &str) -> Result<Thread, Error> {
    let at = |name: &str| if param.is_empty() { name.to_owned() } else { format!("{param}.{name}") };
    let metadata = params::metadata(body.get("metadata")).map_err(|e| Error { param: Some(at("metadata")), ..e })?;
    let tool_resources = match body.get("tool_resources") {
        Some(v) => params::tool_resources(app, ctx, v, &at("tool_resources"))?,
        None => json!({}),
    };
    let thread =
        Thread { id: common::new_id(ctx.rng, "thread_", 24), created_at: ctx.unix_now.0, metadata, tool_resources };
    let messages = match body.get("messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, m)| user_message(app, ctx, &thread.id, m, &at(&format!("messages[{i}]"))))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::invalid_param(&at("messages"), "'messages' must be an array.")),
    };
    app.state.threads.insert(thread.clone(), ctx.unix_now.0)?;
    for m in messages {
        app.state.messages.insert(m, ctx.unix_now.0)?;
    }
    Ok(thread)
}

/// A message a client adds (`role`, `content`, `attachments`, `metadata`), not yet stored.
pub fn user_message(app: &App, ctx: &mut Ctx<'_>, thread_id: &str, v: &Value, param: &str) -> Result<Message, Error> {
    let at = |name: &str| if param.is_empty() { name.to_owned() } else { format!("{param}.{name}") };
    let role = match v.get("role").and_then(Value::as_str) {
        Some("user") => "user",
        Some("assistant") => "assistant",
        None => return Err(common::missing(&at("role"))),
        Some(other) => {
            let message = format!("Invalid value: '{other}'. Supported values are: 'user' and 'assistant'.");
            return Err(Error::invalid_param(&at("role"), message).with_code("invalid_value"));
        }
    };
    Ok(Message {
        id: common::new_id(ctx.rng, "msg_", 24),
        thread_id: thread_id.to_owned(),
        created_us: now_us(ctx),
        role,
        content: params::content(v.get("content"), &at("content"))?,
        assistant_id: None,
        run_id: None,
        attachments: params::attachments(app, ctx, v.get("attachments"), &at("attachments"))?,
        metadata: params::metadata(v.get("metadata")).map_err(|e| Error { param: Some(at("metadata")), ..e })?,
        written: None,
        cut: None,
    })
}

/// `POST /v1/threads`.
pub fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) { Map::new() } else { params::json_body(req)? };
    Ok(Full::value(&new_thread(app, ctx, &body, "")?.to_json()).into())
}

/// `GET /v1/threads/{thread_id}`.
pub fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&thread(app, req)?.to_json()).into())
}

/// `POST /v1/threads/{thread_id}`: `metadata`, `tool_resources`.
pub fn modify(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let mut t = thread(app, req)?;
    if body.contains_key("metadata") {
        t.metadata = params::metadata(body.get("metadata"))?;
    }
    if let Some(v) = body.get("tool_resources") {
        t.tool_resources = params::tool_resources(app, ctx, v, "tool_resources")?;
    }
    let changed = t.clone();
    app.state.threads.update(&t.id, |stored| *stored = changed)?;
    Ok(Full::value(&t.to_json()).into())
}

/// `DELETE /v1/threads/{thread_id}`: the thread, its messages and its runs.
pub fn delete(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let t = thread(app, req)?;
    app.state.threads.remove(&t.id)?;
    for m in app.state.messages.matching(UNDATED, |m| m.thread_id == t.id) {
        app.state.messages.remove(&m.id)?;
    }
    for r in app.state.runs.matching(UNDATED, |r| r.thread_id == t.id) {
        app.state.runs.remove(&r.id)?;
    }
    Ok(Full::value(&json!({"id": t.id, "object": "thread.deleted", "deleted": true})).into())
}

/// 400 when a run of `thread_id` is still going (queued, in progress or waiting for outputs).
pub fn check_idle(app: &App, ctx: &Ctx<'_>, thread_id: &str, doing: &str) -> Result<(), Error> {
    let now = now_us(ctx);
    let active = app.state.runs.matching(UNDATED, |r| r.thread_id == thread_id && !r.status(now).is_final());
    match active.first() {
        None => Ok(()),
        Some(run) => Err(Error::bad_request(format!("Can't {doing} {thread_id} while a run {} is active.", run.id))),
    }
}

/// `POST /v1/threads/{thread_id}/messages`.
pub fn create_message(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = Value::Object(params::json_body(req)?);
    let t = thread(app, req)?;
    check_idle(app, ctx, &t.id, "add messages to")?;
    let m = user_message(app, ctx, &t.id, &body, "")?;
    app.state.messages.insert(m.clone(), ctx.unix_now.0)?;
    Ok(Full::value(&m.to_json(now_us(ctx))).into())
}

/// `GET /v1/threads/{thread_id}/messages` (`run_id` keeps the messages one run wrote).
pub fn list_messages(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, LISTS)?;
    let t = thread(app, req)?;
    let run_id = req.query("run_id").filter(|r| !r.is_empty());
    let keep = |m: &Message| m.thread_id == t.id && run_id.as_ref().is_none_or(|r| m.run_id.as_ref() == Some(r));
    let page = app.state.messages.page(&query, UNDATED, keep)?;
    let now = now_us(ctx);
    Ok(common::list_reply(&page, |m| m.to_json(now)).into())
}

/// The message named by the path, in the thread named by it (404 otherwise).
fn message(app: &App, req: &Request<'_>) -> Result<Message, Error> {
    let t = thread(app, req)?;
    let id = req.param("message_id");
    app.state.messages.get(id, UNDATED).filter(|m| m.thread_id == t.id).ok_or_else(|| common::no_such("Message", id))
}

/// `GET /v1/threads/{thread_id}/messages/{message_id}`.
pub fn retrieve_message(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&message(app, req)?.to_json(now_us(ctx))).into())
}

/// `POST /v1/threads/{thread_id}/messages/{message_id}`: `metadata`.
pub fn modify_message(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let m = message(app, req)?;
    let metadata = params::metadata(body.get("metadata"))?;
    let changed = app.state.messages.update(&m.id, |stored| stored.metadata = metadata)?;
    let (m, ()) = changed.ok_or_else(|| common::no_such("Message", &m.id))?;
    Ok(Full::value(&m.to_json(now_us(ctx))).into())
}

/// `DELETE /v1/threads/{thread_id}/messages/{message_id}`.
pub fn delete_message(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let m = message(app, req)?;
    app.state.messages.remove(&m.id)?;
    Ok(Full::value(&json!({"id": m.id, "object": "thread.message.deleted", "deleted": true})).into())
}
