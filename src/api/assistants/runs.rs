//! Runs: create (on a thread, or with a new thread), retrieve, modify, list, cancel,
//! `submit_tool_outputs`, and their steps. Each generation of a run is a chat completion planned
//! from the thread's messages (and the tool calls and outputs so far) with the assistant's model,
//! instructions, tools and sampling settings; when the planner calls a function the run waits in
//! `requires_action`, and continues with a new generation once the outputs are submitted.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{
    LISTS, assistant, now_us, params,
    stream::{self, Opening, Piece},
    threads,
};
use crate::{
    api::{Ctx, Full, Outcome, Reply, Request, common, file_search, generate},
    app::App,
    error::Error,
    generation::{Answer, GenSummary, Plan},
    openai::{chunks::Flavor, request},
    state::{
        assistants::{Assistant, Call, Message, Outcome as Produced, Phase, Run, RunStatus, Searched, Thread, Written},
        store::{UNDATED, json_id, page_of},
    },
    tokens::ScriptEvent,
};

/// The longest the SDK's poll helper is told to wait before it asks again.
const MAX_POLL_MS: u64 = 1000;

/// One generation of a run, planned.
struct Generation {
    phase: Phase,
    message: Option<Message>,
    pieces: Vec<(u64, Piece)>,
    summary: GenSummary,
}

/// `POST /v1/threads/{thread_id}/runs`.
pub fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let thread = threads::thread(app, req)?;
    let asst = run_assistant(app, &body)?;
    threads::check_idle(app, ctx, &thread.id, "create runs on")?;
    let settings = settings(app, &asst, &body)?;
    let extra: Vec<Message> = match body.get("additional_messages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, m)| threads::user_message(app, ctx, &thread.id, m, &format!("additional_messages[{i}]")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::invalid_param("additional_messages", "'additional_messages' must be an array.")),
    };
    for m in extra {
        app.state.messages.insert(m, ctx.unix_now.0)?;
    }
    start(app, ctx, &thread, &asst, settings, &body, Opening::default())
}

/// `POST /v1/threads/runs`: a thread (`thread`, `tool_resources`) and a run on it.
pub fn create_thread_and_run(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let asst = run_assistant(app, &body)?;
    let settings = settings(app, &asst, &body)?;
    let mut spec = match body.get("thread") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(t)) => t.clone(),
        Some(_) => return Err(Error::invalid_param("thread", "Invalid type for 'thread': expected an object.")),
    };
    if let Some(resources) = body.get("tool_resources").filter(|r| !r.is_null()) {
        spec.insert("tool_resources".into(), resources.clone());
    }
    let thread = threads::new_thread(app, ctx, &spec, "thread")?;
    let mut opening = Opening::default();
    opening.push("thread.created", &thread.to_json());
    start(app, ctx, &thread, &asst, settings, &body, opening)
}

/// The assistant `assistant_id` names (400 when absent, 404 when unknown).
fn run_assistant(app: &App, body: &Map<String, Value>) -> Result<Assistant, Error> {
    let id = body.get("assistant_id").and_then(Value::as_str).ok_or_else(|| common::missing("assistant_id"))?;
    assistant(app, id).map_err(|e| e.with_param("assistant_id"))
}

/// Whether the request asks for a stream.
fn streams(body: &Map<String, Value>) -> Result<bool, Error> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::invalid_param("stream", "Invalid type for 'stream': expected a boolean.")),
    }
}

/// What the run uses and echoes: the request's overrides over the assistant's settings.
fn settings(app: &App, asst: &Assistant, body: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let given = |key: &str| body.get(key).filter(|v| !v.is_null());
    let model = match given("model") {
        Some(v) => json!(params::model(app, v)?),
        None => asst.get("model").clone(),
    };
    let mut instructions = match given("instructions") {
        Some(v) => params::text(v, "instructions", 256_000)?,
        None => asst.get("instructions").clone(),
    };
    if let Some(extra) = given("additional_instructions") {
        let extra = params::text(extra, "additional_instructions", 256_000)?;
        let joined = [instructions.as_str(), extra.as_str()].into_iter().flatten().collect::<Vec<_>>().join("\n\n");
        instructions = json!(joined);
    }
    let tools = match given("tools") {
        Some(v) => json!(params::tools(v, "tools")?),
        None => asst.get("tools").clone(),
    };
    let tool_choice = tool_choice(given("tool_choice"), &tools)?;
    let parallel = match given("parallel_tool_calls") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::invalid_param("parallel_tool_calls", "'parallel_tool_calls' must be a boolean.")),
    };
    let sampling = |key: &str, max: f64| -> Result<Value, Error> {
        match given(key) {
            Some(v) => Ok(json!(params::number(v, key, max)?)),
            None => Ok(asst.get(key).clone()),
        }
    };
    let response_format = match given("response_format") {
        Some(v) => params::response_format(v)?,
        None => asst.get("response_format").clone(),
    };
    let reasoning_effort = match given("reasoning_effort") {
        Some(v) => params::reasoning_effort(v)?,
        None => asst.get("reasoning_effort").clone(),
    };
    let mut s = Map::new();
    s.insert("model".into(), model);
    s.insert("instructions".into(), json!(instructions.as_str().unwrap_or_default()));
    s.insert("tools".into(), tools);
    s.insert("tool_choice".into(), tool_choice);
    s.insert("parallel_tool_calls".into(), json!(parallel));
    s.insert("response_format".into(), response_format);
    s.insert("temperature".into(), sampling("temperature", 2.0)?);
    s.insert("top_p".into(), sampling("top_p", 1.0)?);
    s.insert("max_prompt_tokens".into(), json!(params::count(given("max_prompt_tokens"), "max_prompt_tokens")?));
    s.insert(
        "max_completion_tokens".into(),
        json!(params::count(given("max_completion_tokens"), "max_completion_tokens")?),
    );
    s.insert("truncation_strategy".into(), truncation(given("truncation_strategy"))?);
    s.insert("reasoning_effort".into(), reasoning_effort);
    Ok(s)
}

/// `tool_choice`: `none`, `auto`, `required`, or `{type: "function", function: {name}}` naming
/// one of `tools` (or `{type: "file_search"|"code_interpreter"}`).
fn tool_choice(v: Option<&Value>, tools: &Value) -> Result<Value, Error> {
    let bad = |message: String| Err(Error::invalid_param("tool_choice", message).with_code("invalid_value"));
    match v {
        None => Ok(json!("auto")),
        Some(Value::String(s)) if matches!(s.as_str(), "none" | "auto" | "required") => Ok(json!(s)),
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("file_search" | "code_interpreter") => Ok(json!({"type": o["type"]})),
            Some("function") => {
                let name = o.get("function").and_then(|f| f["name"].as_str()).unwrap_or("");
                let known = tools.as_array().into_iter().flatten().any(|t| t["function"]["name"] == name);
                if known {
                    Ok(json!({"type": "function", "function": {"name": name}}))
                } else {
                    bad(format!("Invalid 'tool_choice': no function named {name:?} among the run's tools."))
                }
            }
            _ => bad("Invalid 'tool_choice.type': expected 'function', 'file_search' or 'code_interpreter'.".into()),
        },
        Some(_) => bad("Invalid 'tool_choice': expected 'none', 'auto', 'required' or an object.".into()),
    }
}

/// `truncation_strategy`: `{type: "auto"}` or `{type: "last_messages", last_messages: n}`.
fn truncation(v: Option<&Value>) -> Result<Value, Error> {
    let Some(v) = v else { return Ok(json!({"type": "auto", "last_messages": null})) };
    let last = params::count(v.get("last_messages"), "truncation_strategy.last_messages")?;
    match v["type"].as_str() {
        Some("auto") => Ok(json!({"type": "auto", "last_messages": last})),
        Some("last_messages") if last.is_some() => Ok(json!({"type": "last_messages", "last_messages": last})),
        Some("last_messages") => Err(common::missing("truncation_strategy.last_messages")),
        _ => Err(Error::invalid_param(
            "truncation_strategy.type",
            "Invalid 'truncation_strategy.type': expected 'auto' or 'last_messages'.",
        )
        .with_code("invalid_value")),
    }
}

/// Creates the run and its first generation; answers with the run (`queued`) or its stream.
fn start(
    app: &App,
    ctx: &mut Ctx<'_>,
    thread: &Thread,
    asst: &Assistant,
    settings: Map<String, Value>,
    body: &Map<String, Value>,
    mut opening: Opening,
) -> Outcome {
    let stream = streams(body)?;
    let now = now_us(ctx);
    let mut run = Run {
        id: common::new_id(ctx.rng, "run_", 24),
        thread_id: thread.id.clone(),
        assistant_id: asst.id.clone(),
        created_us: now,
        settings,
        metadata: params::metadata(body.get("metadata"))?,
        phases: Vec::new(),
        cancelled: None,
        file_search: None,
    };
    run.file_search = search(app, ctx, &run, thread, asst, now)?.map(Arc::new);
    let g = generate_phase(app, ctx, &run, now)?;
    run.phases.push(g.phase.clone());
    app.state.runs.insert(run.clone(), ctx.unix_now.0)?;
    if let Some(m) = &g.message {
        app.state.messages.insert(m.clone(), ctx.unix_now.0)?;
    }
    if stream {
        opening.run_starts(&run, now);
        return Ok(streamed(&run, g, now, opening));
    }
    bill(app, ctx, &g.summary);
    Ok(Full::value(&run.to_json_as(now, RunStatus::Queued)).into())
}

/// The run's `file_search` call, made before its first generation when its tools include
/// `file_search`, its `tool_choice` allows it, the thread or the assistant has vector stores
/// (`tool_resources.file_search.vector_store_ids`) and the thread has a user message to search with.
fn search(
    app: &App,
    ctx: &mut Ctx<'_>,
    run: &Run,
    thread: &Thread,
    asst: &Assistant,
    now: u64,
) -> Result<Option<Searched>, Error> {
    let s = &run.settings;
    let tools = s["tools"].as_array().map_or(&[][..], Vec::as_slice);
    let Some((index, tool)) = tools.iter().enumerate().find(|(_, t)| t["type"] == "file_search") else {
        return Ok(None);
    };
    let allowed = match &s["tool_choice"] {
        Value::String(choice) => choice != "none",
        choice => choice.get("type").is_none_or(|t| t == "file_search"),
    };
    let mut ids = store_ids(&thread.tool_resources);
    for id in store_ids(asst.get("tool_resources")) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let messages = app.state.messages.matching(UNDATED, |m| m.thread_id == thread.id && m.role == "user");
    let question = messages.last().map(|m| m.content.iter().filter_map(|b| b["text"]["value"].as_str()));
    let question = question.map(|texts| texts.collect::<Vec<_>>().join("\n")).filter(|q| !q.trim().is_empty());
    let (true, false, Some(question)) = (allowed, ids.is_empty(), question) else { return Ok(None) };
    let options = tool.get("file_search").cloned().unwrap_or_else(|| json!({}));
    let query = file_search::search_query(&options, &format!("tools[{index}].file_search"), question)?;
    let hits = file_search::search_stores(app, ctx, &ids, &query)?;
    let results = hits
        .iter()
        .map(|h| {
            json!({"file_id": h.file_id, "file_name": h.filename, "score": h.score,
                "content": [{"type": "text", "text": h.text}]})
        })
        .collect();
    Ok(Some(Searched {
        step_id: common::new_id(ctx.rng, "step_", 24),
        call_id: common::new_id(ctx.rng, "call_", 24),
        at: now,
        results,
        cited: file_search::cited(&hits),
    }))
}

/// `tool_resources.file_search.vector_store_ids`.
fn store_ids(resources: &Value) -> Vec<String> {
    let ids = resources["file_search"]["vector_store_ids"].as_array().into_iter().flatten();
    ids.filter_map(Value::as_str).map(str::to_owned).collect()
}

/// A step as listed: its file search results keep their `content` only when `include[]` asks
/// for `step_details.tool_calls[*].file_search.results[*].content`.
fn step_as_asked(mut step: Value, req: &Request<'_>) -> Value {
    let asked = req.query("include[]").or_else(|| req.query("include"));
    if asked.is_some_and(|i| i.contains("file_search.results")) {
        return step;
    }
    let calls = step["step_details"]["tool_calls"].as_array_mut().into_iter().flatten();
    let results = calls.filter_map(|c| c["file_search"]["results"].as_array_mut()).flatten();
    results.filter_map(Value::as_object_mut).for_each(|r| {
        r.remove("content");
    });
    step
}

/// Bills a generation whose events are not streamed (a stream bills as it ends).
fn bill(app: &App, ctx: &Ctx<'_>, summary: &GenSummary) {
    crate::state::usage::record_generation(&app.state.usage, summary, 0, true, ctx.unix_now.0);
}

/// The stream of `run`'s latest generation `g`.
fn streamed(run: &Run, g: Generation, now: u64, opening: Opening) -> Reply {
    let events = stream::events(run, g.message.as_ref(), &g.pieces, now, opening, g.summary);
    Reply::Events(Box::new(events))
}

/// Plans `run`'s next generation, starting at `now`: the chat completion its thread (and its
/// tool calls and outputs so far) asks for.
fn generate_phase(app: &App, ctx: &mut Ctx<'_>, run: &Run, now: u64) -> Result<Generation, Error> {
    let chat = chat_body(app, run, now);
    // Counted only as far as the context window, as chat counts: a longer thread is refused anyway.
    let gen_req = request::parse_chat_within(chat.to_string().as_bytes(), app.encoding, &generate::window(app))?;
    let model = crate::openai::fine_tuned::resolve(app, &gen_req.model)?;
    generate::check_context_length(&gen_req, model.context_window, Flavor::Chat)?;
    let plan = app.sim.get().plan(Flavor::Chat, &gen_req, &model, ctx.rng, ctx.unix_now.0);
    let (due, pieces) = replay(&plan, now);
    let choice = &plan.choices[0];
    let step_id = common::new_id(ctx.rng, "step_", 24);
    let calls = choice.tool_calls();
    let (outcome, message) = if calls.is_empty() {
        let message = written_message(ctx, run, &pieces, &due, now, choice.finish_reason == "length");
        let outcome = Produced::Message { message_id: message.id.clone(), truncated: choice.finish_reason == "length" };
        (outcome, Some(message))
    } else {
        let calls = calls.into_iter().map(|(id, name, arguments)| Call { id, name, arguments }).collect();
        (Produced::ToolCalls { calls, submitted: None }, None)
    };
    let phase = Phase { step_id, start: now, due: due.into(), prompt_tokens: plan.usage.prompt_tokens, outcome };
    Ok(Generation { phase, message, pieces, summary: plan.summary() })
}

/// The assistant message a generation writes, token by token.
fn written_message(
    ctx: &mut Ctx<'_>,
    run: &Run,
    pieces: &[(u64, Piece)],
    due: &[u64],
    now: u64,
    truncated: bool,
) -> Message {
    let citations = run.file_search.as_ref().map(|s| s.cited.clone()).unwrap_or_default();
    let mut w = Written { text: String::new(), ends: Vec::new(), due: Vec::new(), done: now, truncated, citations };
    for (at, piece) in pieces {
        if let Piece::Text(token) = piece {
            w.text.push_str(token);
            w.ends.push(w.text.len() as u32);
            w.due.push(*at);
        }
    }
    w.done = due.last().copied().unwrap_or(now);
    Message {
        id: common::new_id(ctx.rng, "msg_", 24),
        thread_id: run.thread_id.clone(),
        created_us: now,
        role: "assistant",
        content: Vec::new(),
        assistant_id: Some(run.assistant_id.clone()),
        run_id: Some(run.id.clone()),
        attachments: Vec::new(),
        metadata: json!({}),
        written: Some(Arc::new(w)),
        cut: None,
    }
}

/// When each of `plan`'s tokens is due (unix microseconds from `start`), and its answer's pieces
/// with theirs: text tokens, or tool calls' starts and argument fragments.
fn replay(plan: &Plan, start: u64) -> (Vec<u64>, Vec<(u64, Piece)>) {
    let choice = &plan.choices[0];
    let mut schedule = plan.schedule.clone();
    let due: Vec<u64> = (0..choice.length).map(|_| start + schedule.advance().as_micros() as u64).collect();
    let mut answer = choice.answer.clone();
    let mut pieces = Vec::new();
    for &at in &due[choice.reasoning as usize..] {
        let piece = match &mut answer {
            Answer::Text(text) => Some(Piece::Text(text.next_token().to_owned())),
            Answer::Script(script) => match script.tick() {
                None => None,
                Some(ScriptEvent::Content(token)) => Some(Piece::Text(token.to_owned())),
                Some(ScriptEvent::CallStart { call, id, name }) => {
                    Some(Piece::CallStart { call, id: id.to_owned(), name: name.to_owned() })
                }
                Some(ScriptEvent::CallArgs { call, fragment }) => {
                    Some(Piece::CallArgs { call, fragment: fragment.to_owned() })
                }
            },
        };
        pieces.extend(piece.map(|p| (at, p)));
    }
    (due, pieces)
}

/// The chat completion request of `run`'s next generation at `now`: its instructions as the
/// system message, the thread's messages (the last `last_messages` of them when truncated), the
/// tool calls and outputs so far, and the run's tools and sampling settings. Once outputs were
/// submitted the model answers in text (`tool_choice: none`), so a run always ends.
fn chat_body(app: &App, run: &Run, now: u64) -> Value {
    let s = &run.settings;
    let mut thread: Vec<Value> = app
        .state
        .messages
        .matching(UNDATED, |m| m.thread_id == run.thread_id)
        .iter()
        .map(|m| chat_message(m, now))
        .collect();
    if let Some(n) = s["truncation_strategy"]["last_messages"].as_u64() {
        thread.drain(..thread.len().saturating_sub(n as usize));
    }
    let mut messages = vec![json!({"role": "system", "content": s["instructions"]})];
    messages.extend(thread);
    if let Some(search) = &run.file_search {
        // The model reads what the search found.
        let found = search.results.iter().filter_map(|r| r["content"][0]["text"].as_str());
        messages.push(json!({"role": "system", "content": found.collect::<Vec<_>>().join("\n\n")}));
    }
    let mut answered = false;
    for p in &run.phases {
        if let Produced::ToolCalls { calls, submitted: Some((_, outputs)) } = &p.outcome {
            let tool_calls: Vec<Value> = calls
                .iter()
                .map(
                    |c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}),
                )
                .collect();
            messages.push(json!({"role": "assistant", "content": null, "tool_calls": tool_calls}));
            for (c, output) in calls.iter().zip(outputs) {
                messages.push(json!({"role": "tool", "tool_call_id": c.id, "content": output}));
            }
            answered = true;
        }
    }
    let mut body = json!({"model": s["model"], "messages": messages});
    let functions = params::function_tools(s["tools"].as_array().map_or(&[][..], Vec::as_slice));
    if !functions.is_empty() {
        let choice = match &s["tool_choice"] {
            _ if answered => json!("none"),
            Value::Object(o) if o.get("type").is_some_and(|t| t != "function") => json!("auto"),
            other => other.clone(),
        };
        body["tools"] = json!(functions);
        body["tool_choice"] = choice;
        body["parallel_tool_calls"] = s["parallel_tool_calls"].clone();
    }
    for key in ["temperature", "top_p", "reasoning_effort"] {
        if !s[key].is_null() {
            body[key] = s[key].clone();
        }
    }
    if s["response_format"].is_object() {
        body["response_format"] = s["response_format"].clone();
    }
    if let Some(max) = s["max_completion_tokens"].as_u64() {
        let spent: u64 = run.phases.iter().map(|p| p.due.len() as u64).sum();
        body["max_completion_tokens"] = json!(max.saturating_sub(spent).max(1));
    }
    body
}

/// A thread message as a chat message: its text, with `image_url` parts kept as images.
fn chat_message(m: &Message, now: u64) -> Value {
    if let Some(w) = &m.written {
        let at = m.cut.map_or(now, |c| c.min(now));
        return json!({"role": m.role, "content": w.text_of(w.tokens_by(at))});
    }
    let parts: Vec<Value> = m
        .content
        .iter()
        .filter_map(|block| match block["type"].as_str() {
            Some("text") => Some(json!({"type": "text", "text": block["text"]["value"]})),
            Some("image_url") => Some(json!({"type": "image_url", "image_url": {"url": block["image_url"]["url"]}})),
            _ => None,
        })
        .collect();
    json!({"role": m.role, "content": parts})
}

/// The run named by the path, of the thread named by it (404 otherwise).
fn run_of(app: &App, req: &Request<'_>) -> Result<Run, Error> {
    let thread = threads::thread(app, req)?;
    let id = req.param("run_id");
    app.state.runs.get(id, UNDATED).filter(|r| r.thread_id == thread.id).ok_or_else(|| common::no_such("Run", id))
}

/// `GET /v1/threads/{thread_id}/runs/{run_id}`, telling pollers when the status next changes
/// (`openai-poll-after-ms`, which the SDK's `*_and_poll` helpers follow).
pub fn retrieve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let run = run_of(app, req)?;
    let now = now_us(ctx);
    let full = Full::value(&run.to_json(now));
    Ok(match run.next_change(now) {
        Some(at) => full.with_header("openai-poll-after-ms", poll_after_ms(now, at).to_string()),
        None => full,
    }
    .into())
}

/// Milliseconds from `now` until `at` (rounded up), between 1 and [`MAX_POLL_MS`].
fn poll_after_ms(now: u64, at: u64) -> u64 {
    at.saturating_sub(now).div_ceil(1000).clamp(1, MAX_POLL_MS)
}

/// `POST /v1/threads/{thread_id}/runs/{run_id}`: `metadata`.
pub fn modify(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let run = run_of(app, req)?;
    let metadata = params::metadata(body.get("metadata"))?;
    let changed = app.state.runs.update(&run.id, |r| r.metadata = metadata)?;
    let (run, ()) = changed.ok_or_else(|| common::no_such("Run", &run.id))?;
    Ok(Full::value(&run.to_json(now_us(ctx))).into())
}

/// `GET /v1/threads/{thread_id}/runs`.
pub fn list(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, LISTS)?;
    let thread = threads::thread(app, req)?;
    let page = app.state.runs.page(&query, UNDATED, |r| r.thread_id == thread.id)?;
    let now = now_us(ctx);
    Ok(common::list_reply(&page, |r| r.to_json(now)).into())
}

/// `POST /v1/threads/{thread_id}/runs/{run_id}/cancel`: a run not yet final stops now (its
/// message keeps the tokens due so far, `incomplete`); the reply says `cancelling`.
pub fn cancel(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let run = run_of(app, req)?;
    let now = now_us(ctx);
    let status = run.status(now);
    if status.is_final() {
        return Err(Error::bad_request(format!("Cannot cancel run with status '{}'.", status.as_str())));
    }
    let changed = app.state.runs.update(&run.id, |r| r.cancelled = Some(now))?;
    let (run, ()) = changed.ok_or_else(|| common::no_such("Run", &run.id))?;
    if let Produced::Message { message_id, .. } = &run.last().outcome {
        app.state.messages.update(message_id, |m| m.cut = Some(now))?;
    }
    Ok(Full::value(&run.to_json_as(now, RunStatus::Cancelling)).into())
}

/// `POST /v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs`: an output for every call
/// the run waits on; the run goes on with a new generation (streamed with `stream: true`).
pub fn submit_tool_outputs(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let body = params::json_body(req)?;
    let stream = streams(&body)?;
    let mut run = run_of(app, req)?;
    let now = now_us(ctx);
    let status = run.status(now);
    let Produced::ToolCalls { calls, submitted: None } = &run.last().outcome else { return refuse_outputs(status) };
    if status != RunStatus::RequiresAction {
        return refuse_outputs(status);
    }
    let outputs = outputs_for(calls, body.get("tool_outputs"))?;
    let waiting_step = run.last().step_id.clone();
    if let Some(Phase { outcome: Produced::ToolCalls { submitted, .. }, .. }) = run.phases.last_mut() {
        *submitted = Some((now, outputs));
    }
    let g = generate_phase(app, ctx, &run, now)?;
    run.phases.push(g.phase.clone());
    let next = run.clone();
    let changed = app.state.runs.update(&run.id, |stored| {
        let still_waiting = stored.last().step_id == waiting_step && stored.cancelled.is_none();
        if still_waiting {
            *stored = next;
        }
        still_waiting
    })?;
    if !matches!(changed, Some((_, true))) {
        return Err(Error::bad_request("The run stopped waiting for tool outputs before these arrived."));
    }
    if let Some(m) = &g.message {
        app.state.messages.insert(m.clone(), ctx.unix_now.0)?;
    }
    if stream {
        let mut opening = Opening::default();
        let steps = run.steps(now);
        opening.push("thread.run.step.completed", &steps[steps.len() - 2]);
        opening.push("thread.run.queued", &run.to_json_as(now, RunStatus::Queued));
        opening.push("thread.run.in_progress", &run.to_json(now));
        return Ok(streamed(&run, g, now, opening));
    }
    bill(app, ctx, &g.summary);
    Ok(Full::value(&run.to_json_as(now, RunStatus::Queued)).into())
}

/// OpenAI's 400 for tool outputs sent to a run in `status`.
fn refuse_outputs(status: RunStatus) -> Outcome {
    Err(Error::bad_request(format!("Runs in status \"{}\" do not accept tool outputs.", status.as_str())))
}

/// `tool_outputs` ordered as `calls`: exactly one `{tool_call_id, output}` for each call.
fn outputs_for(calls: &[Call], v: Option<&Value>) -> Result<Vec<String>, Error> {
    let list = match v {
        None | Some(Value::Null) => return Err(common::missing("tool_outputs")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Error::invalid_param("tool_outputs", "'tool_outputs' must be an array.")),
    };
    let mut outputs: Vec<Option<String>> = vec![None; calls.len()];
    for (i, o) in list.iter().enumerate() {
        let id =
            o["tool_call_id"].as_str().ok_or_else(|| common::missing(&format!("tool_outputs[{i}].tool_call_id")))?;
        let Some(k) = calls.iter().position(|c| c.id == id) else {
            let message = format!("No tool call with id '{id}' is waiting for output.");
            return Err(Error::invalid_param(&format!("tool_outputs[{i}].tool_call_id"), message));
        };
        outputs[k] = Some(o["output"].as_str().unwrap_or_default().to_owned());
    }
    let missing: Vec<&str> =
        calls.iter().zip(&outputs).filter(|(_, o)| o.is_none()).map(|(c, _)| c.id.as_str()).collect();
    if !missing.is_empty() {
        let message = format!("Expected tool outputs for call_ids {missing:?}.");
        return Err(Error::invalid_param("tool_outputs", message));
    }
    Ok(outputs.into_iter().flatten().collect())
}

/// `GET /v1/threads/{thread_id}/runs/{run_id}/steps`.
pub fn list_steps(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let query = common::page_query(req, LISTS)?;
    let run = run_of(app, req)?;
    let steps: Vec<Value> = run.steps(now_us(ctx)).into_iter().map(|s| step_as_asked(s, req)).collect();
    let page = page_of(&steps, json_id, "RunStep", &query)?;
    Ok(common::list_reply(&page, Value::clone).into())
}

/// `GET /v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}`.
pub fn retrieve_step(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let run = run_of(app, req)?;
    let id = req.param("step_id");
    let step =
        run.steps(now_us(ctx)).into_iter().find(|s| s["id"] == id).ok_or_else(|| common::no_such("RunStep", id))?;
    Ok(Full::value(&step_as_asked(step, req)).into())
}
