//! A run's Assistants event stream (`stream: true`): the run's and its step's and message's
//! lifecycle events around `thread.message.delta` (or, for tool calls, `thread.run.step.delta`)
//! events, each due when the generation schedule says its token is; pre-rendered once per
//! request and paced by [`TimedEvents`], then `done` with `[DONE]`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    api::events::{TimedEvents, sse_event},
    generation::GenSummary,
    state::assistants::{Message, Run, RunStatus},
};

/// One piece of a generation's output, as streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A token of the message's text.
    Text(String),
    /// A function call begins.
    CallStart {
        /// Its index in the step.
        call: usize,
        /// `call_…`.
        id: String,
        /// The function.
        name: String,
    },
    /// A token of a call's arguments.
    CallArgs {
        /// Its index in the step.
        call: usize,
        /// The argument text.
        fragment: String,
    },
}

/// The events that open a stream, all due at once.
#[derive(Debug, Default)]
pub struct Opening(Vec<u8>);

impl Opening {
    /// Adds event `name` with `data`.
    pub fn push(&mut self, name: &str, data: &Value) {
        self.0.extend_from_slice(&sse_event(name, data));
    }

    /// A new run's `created`, `queued` and `in_progress` events at `start`.
    pub fn run_starts(&mut self, run: &Run, start: u64) {
        let queued = run.to_json_as(start, RunStatus::Queued);
        self.push("thread.run.created", &queued);
        self.push("thread.run.queued", &queued);
        self.push("thread.run.in_progress", &run.to_json(start));
    }
}

/// The stream of `run`'s latest generation, begun at `start` (unix microseconds, the request's
/// arrival): `opening`, then its step and `message`, `pieces` at their times, and the end.
pub fn events(
    run: &Run,
    message: Option<&Message>,
    pieces: &[(u64, Piece)],
    start: u64,
    opening: Opening,
    summary: GenSummary,
) -> TimedEvents {
    let mut out = TimedEvents::new(summary);
    let Opening(mut head) = opening;
    let step_at = |at: u64| run.steps(at).pop().unwrap_or_default();
    let mut step = step_at(start);
    if step["type"] == "tool_calls" {
        // The calls arrive as deltas; a snapshot that held them already would double them.
        step["step_details"]["tool_calls"] = json!([]);
    }
    if let Some(search) = run.file_search.as_deref().filter(|_| run.phases.len() == 1) {
        // The search ran before the first generation: its step opens and completes at once.
        let done = run.search_step(search);
        let mut opened = done.clone();
        opened["status"] = json!("in_progress");
        opened["completed_at"] = Value::Null;
        opened["step_details"]["tool_calls"] = json!([]);
        head.extend(sse_event("thread.run.step.created", &opened));
        head.extend(sse_event("thread.run.step.in_progress", &opened));
        let mut call = done["step_details"]["tool_calls"][0].clone();
        call["index"] = json!(0);
        head.extend(step_delta(&search.step_id, call));
        head.extend(sse_event("thread.run.step.completed", &done));
    }
    head.extend(sse_event("thread.run.step.created", &step));
    head.extend(sse_event("thread.run.step.in_progress", &step));
    if let Some(m) = message {
        let opened = m.to_json(start);
        head.extend(sse_event("thread.message.created", &opened));
        head.extend(sse_event("thread.message.in_progress", &opened));
    }
    out.push(Duration::ZERO, head);
    let step_id = &run.last().step_id;
    for (at, piece) in pieces {
        let event = match piece {
            Piece::Text(token) => {
                let id = message.map_or("", |m| m.id.as_str());
                let delta = json!({"content": [{"index": 0, "type": "text",
                    "text": {"value": token, "annotations": []}}]});
                sse_event("thread.message.delta", &json!({"id": id, "object": "thread.message.delta", "delta": delta}))
            }
            Piece::CallStart { call, id, name } => step_delta(
                step_id,
                json!({"index": call, "id": id, "type": "function",
                    "function": {"name": name, "arguments": "", "output": null}}),
            ),
            Piece::CallArgs { call, fragment } => {
                step_delta(step_id, json!({"index": call, "type": "function", "function": {"arguments": fragment}}))
            }
        };
        out.push(offset(start, *at), event);
    }
    let done = run.last().done();
    let mut tail = Vec::new();
    if let Some(m) = message {
        tail.extend(citations_delta(m));
        let finished = m.to_json(done);
        let name =
            if finished["status"] == "incomplete" { "thread.message.incomplete" } else { "thread.message.completed" };
        tail.extend(sse_event(name, &finished));
        tail.extend(sse_event("thread.run.step.completed", &step_at(done)));
    }
    let ended = run.to_json(done);
    tail.extend(sse_event(&format!("thread.run.{}", ended["status"].as_str().unwrap_or("completed")), &ended));
    tail.extend_from_slice(b"event: done\ndata: [DONE]\n\n");
    out.push(offset(start, done), tail);
    out
}

/// The `thread.message.delta` that ends a finished answer citing files: the citation markers
/// with their annotations (nothing when there are none or the answer was cut).
fn citations_delta(m: &Message) -> Vec<u8> {
    let Some(w) = m.written.as_deref().filter(|w| !w.citations.is_empty() && !w.truncated && m.cut.is_none()) else {
        return Vec::new();
    };
    let (cited, annotations) = crate::state::assistants::cite(&w.text, &w.citations);
    let markers = &cited[w.text.len()..];
    let annotations: Vec<Value> = annotations
        .into_iter()
        .enumerate()
        .map(|(k, mut a)| {
            a["index"] = json!(k);
            a
        })
        .collect();
    let delta =
        json!({"content": [{"index": 0, "type": "text", "text": {"value": markers, "annotations": annotations}}]});
    sse_event("thread.message.delta", &json!({"id": m.id, "object": "thread.message.delta", "delta": delta}))
}

/// A `thread.run.step.delta` event carrying one tool call's delta.
fn step_delta(step_id: &str, call: Value) -> Vec<u8> {
    let delta = json!({"step_details": {"type": "tool_calls", "tool_calls": [call]}});
    sse_event("thread.run.step.delta", &json!({"id": step_id, "object": "thread.run.step.delta", "delta": delta}))
}

/// How long after `start` the instant `at` is (both unix microseconds).
fn offset(start: u64, at: u64) -> Duration {
    Duration::from_micros(at.saturating_sub(start))
}
