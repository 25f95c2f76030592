//! The Responses API's SSE events, and the output items both they and the final response
//! object carry.

use std::cell::Cell;

use serde_json::{Value, json};

use super::{
    file_search::FileSearch,
    object::{Object, Params, Status},
};
use crate::openai::chunks::{END, ResponseMeta, Usage, push_json_str, push_u64};

/// What a response answers with after any reasoning.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A message with this text.
    Text(&'a str),
    /// Function calls as (call id, name, arguments).
    Calls(&'a [(String, String, String)]),
}

impl Answer<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Answer::Text(text) => text.is_empty(),
            Answer::Calls(calls) => calls.is_empty(),
        }
    }
}

/// One response's object and the ids of its output items.
#[derive(Debug, Clone)]
pub struct Ids {
    object: Object,
    message: String,
    reasoning: String,
    /// A reasoning item came first, so the message is output 1.
    reasoning_open: Cell<bool>,
    /// The answer is function calls, not a message.
    tool_calls: Cell<bool>,
    /// The `file_search` call that came first, if the request's tool ran.
    file_search: Option<FileSearch>,
    /// Where the generated items start: 1 after a `file_search_call` item, else 0.
    base: u64,
    /// The message's output index (set once the stream opens, read per token).
    message_index: Cell<u64>,
}

impl Ids {
    /// Ids derived from the response's; `completed_at` is when generation ends (unix seconds).
    pub fn new(meta: &ResponseMeta, params: &Params, completed_at: u64) -> Self {
        let suffix = meta.id.split_once('_').map_or(meta.id.as_str(), |(_, s)| s);
        let file_search = params.file_search.clone();
        let base = u64::from(file_search.is_some());
        Ids {
            object: Object::new(meta, params, completed_at),
            message: format!("msg_{suffix}"),
            reasoning: format!("rs_{suffix}"),
            reasoning_open: Cell::new(false),
            tool_calls: Cell::new(false),
            file_search,
            base,
            message_index: Cell::new(base),
        }
    }

    fn event(seq: &Cell<u64>, out: &mut Vec<u8>, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(seq.get());
        seq.set(seq.get() + 1);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(body.to_string().as_bytes());
        out.extend_from_slice(END);
    }

    /// The response object at `status`, with `output` and `usage`.
    pub fn response(&self, status: Status, output: Value, usage: Option<Usage>) -> Value {
        self.object.render(status, output, usage)
    }

    /// The whole response object of a generation that ended at `status`.
    pub fn ended(&self, status: Status, reasoning: Option<&str>, answer: &Answer<'_>, usage: Usage) -> Value {
        self.response(status, self.output(reasoning, answer, status), Some(usage))
    }

    /// The output items: a reasoning item (when there is reasoning), then the message or the
    /// function calls. The reasoning item is complete once any answer followed it.
    pub fn output(&self, reasoning: Option<&str>, answer: &Answer<'_>, status: Status) -> Value {
        let status = status.item_status();
        let mut items = Vec::new();
        if let Some(search) = &self.file_search {
            items.push(search.item("completed"));
        }
        if let Some(r) = reasoning {
            let reasoning_status = if answer.is_empty() { status } else { "completed" };
            items.push(self.reasoning_item(r, reasoning_status));
        }
        match answer {
            Answer::Text(text) => items.push(self.message_item(text, status)),
            Answer::Calls(calls) => items.extend(
                calls.iter().enumerate().map(|(k, (id, name, args))| self.call_item(k, id, name, args, status)),
            ),
        }
        Value::Array(items)
    }

    fn reasoning_item(&self, text: &str, status: &str) -> Value {
        json!({"id": self.reasoning, "type": "reasoning", "status": status, "summary": [],
            "content": [{"type": "reasoning_text", "text": text}]})
    }

    fn call_item(&self, call: usize, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
        json!({"id": self.call_item_id(call), "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments})
    }

    fn call_item_id(&self, call: usize) -> String {
        format!("fc_{}{call}", &self.message[4..])
    }

    fn call_index(&self, call: usize) -> u64 {
        self.base + u64::from(self.reasoning_open.get()) + call as u64
    }

    /// A function call item opens.
    pub(crate) fn call_start(&self, seq: &Cell<u64>, call: usize, call_id: &str, name: &str, out: &mut Vec<u8>) {
        let item = self.call_item(call, call_id, name, "", "in_progress");
        let body = json!({"output_index": self.call_index(call), "item": item});
        Self::event(seq, out, "response.output_item.added", body);
    }

    /// One token of a function call's arguments.
    pub(crate) fn call_delta(&self, seq: &Cell<u64>, call: usize, fragment: &str, out: &mut Vec<u8>) {
        let item = self.call_item_id(call);
        let kind = b"response.function_call_arguments.delta";
        self.delta_head(seq, kind, &item, self.call_index(call), out);
        out.extend_from_slice(b",\"delta\":");
        push_json_str(out, fragment);
        out.push(b'}');
        out.extend_from_slice(END);
    }

    fn message_item(&self, text: &str, status: &str) -> Value {
        json!({"id": self.message, "type": "message", "status": status, "role": "assistant",
            "content": [self.answer_text(text)]})
    }

    /// The answer's `output_text` part, citing the files a file search found.
    fn answer_text(&self, text: &str) -> Value {
        let mut part = output_text(text);
        if let Some(search) = &self.file_search {
            part["annotations"] = Value::Array(search.annotations(text));
        }
        part
    }

    /// The `file_search_call` item's events: added, in progress, searching, completed, done.
    fn file_search_events(&self, seq: &Cell<u64>, search: &FileSearch, out: &mut Vec<u8>) {
        let added = json!({"output_index": 0, "item": search.item("in_progress")});
        Self::event(seq, out, "response.output_item.added", added);
        for phase in ["in_progress", "searching", "completed"] {
            let body = json!({"item_id": search.id, "output_index": 0});
            Self::event(seq, out, &format!("response.file_search_call.{phase}"), body);
        }
        let done = json!({"output_index": 0, "item": search.item("completed")});
        Self::event(seq, out, "response.output_item.done", done);
    }

    fn open_message(&self, seq: &Cell<u64>, output_index: u64, out: &mut Vec<u8>) {
        let mut item = self.message_item("", "in_progress");
        item["content"] = json!([]);
        Self::event(seq, out, "response.output_item.added", json!({"output_index": output_index, "item": item}));
        let body = json!({"item_id": self.message, "output_index": output_index, "content_index": 0,
            "part": output_text("")});
        Self::event(seq, out, "response.content_part.added", body);
    }

    pub(crate) fn open(&self, seq: &Cell<u64>, thinking: bool, tool_calls: bool, out: &mut Vec<u8>) {
        let created = self.response(Status::InProgress, json!([]), None);
        Self::event(seq, out, "response.created", json!({"response": created}));
        Self::event(seq, out, "response.in_progress", json!({"response": created}));
        if let Some(search) = &self.file_search {
            self.file_search_events(seq, search, out);
        }
        self.reasoning_open.set(thinking);
        self.tool_calls.set(tool_calls);
        self.message_index.set(self.base + u64::from(thinking));
        if thinking {
            let mut item = self.reasoning_item("", "in_progress");
            item["content"] = json!([]);
            let added = json!({"output_index": self.base, "item": item});
            Self::event(seq, out, "response.output_item.added", added);
        } else if !tool_calls {
            self.open_message(seq, self.base, out);
        }
    }

    /// `event: KIND\ndata: {"type":KIND,"sequence_number":N,"item_id":…,"output_index":I` —
    /// what every per-token event starts with.
    fn delta_head(&self, seq: &Cell<u64>, kind: &[u8], item: &str, output_index: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\",\"sequence_number\":");
        push_u64(out, seq.get());
        seq.set(seq.get() + 1);
        out.extend_from_slice(b",\"item_id\":");
        push_json_str(out, item);
        out.extend_from_slice(b",\"output_index\":");
        push_u64(out, output_index);
    }

    fn delta(&self, seq: &Cell<u64>, kind: &[u8], item: &str, output_index: u64, token: &str, out: &mut Vec<u8>) {
        self.delta_head(seq, kind, item, output_index, out);
        out.extend_from_slice(b",\"content_index\":0,\"delta\":");
        push_json_str(out, token);
        out.extend_from_slice(b",\"logprobs\":[]}");
        out.extend_from_slice(END);
    }

    pub(crate) fn text_delta(&self, seq: &Cell<u64>, token: &str, out: &mut Vec<u8>) {
        let index = self.message_index.get();
        self.delta(seq, b"response.output_text.delta", &self.message, index, token, out);
    }

    pub(crate) fn reasoning_delta(&self, seq: &Cell<u64>, token: &str, out: &mut Vec<u8>) {
        self.delta_head(seq, b"response.reasoning_text.delta", &self.reasoning, self.base, out);
        out.extend_from_slice(b",\"content_index\":0,\"delta\":");
        push_json_str(out, token);
        out.push(b'}');
        out.extend_from_slice(END);
    }

    fn close_reasoning(&self, seq: &Cell<u64>, text: &str, status: &str, out: &mut Vec<u8>) {
        let body = json!({"item_id": self.reasoning, "output_index": self.base, "content_index": 0, "text": text});
        Self::event(seq, out, "response.reasoning_text.done", body);
        let item = self.reasoning_item(text, status);
        Self::event(seq, out, "response.output_item.done", json!({"output_index": self.base, "item": item}));
    }

    pub(crate) fn answer_starts(&self, seq: &Cell<u64>, reasoning_text: &str, out: &mut Vec<u8>) {
        self.close_reasoning(seq, reasoning_text, "completed", out);
        if !self.tool_calls.get() {
            self.open_message(seq, self.base + 1, out);
        }
    }

    /// The open items close, then `response.completed` (or `response.incomplete` when cut).
    pub(crate) fn finish(
        &self,
        seq: &Cell<u64>,
        reasoning: Option<&str>,
        answer: &Answer<'_>,
        status: Status,
        usage: Usage,
        out: &mut Vec<u8>,
    ) {
        match answer {
            Answer::Text(text) => self.close_message(seq, reasoning, text, status, out),
            Answer::Calls(calls) => self.close_calls(seq, reasoning, calls, status, out),
        }
        let response = self.ended(status, reasoning, answer, usage);
        Self::event(seq, out, status.final_event(), json!({"response": response}));
    }

    fn close_message(&self, seq: &Cell<u64>, reasoning: Option<&str>, text: &str, status: Status, out: &mut Vec<u8>) {
        let index = self.message_index.get();
        if let (Some(r), true) = (reasoning, text.is_empty()) {
            // Stopped before any answer token: the reasoning item still closes, the message opens.
            self.answer_starts(seq, r, out);
        }
        let annotations = self.file_search.as_ref().map(|s| s.annotations(text)).unwrap_or_default();
        for (k, annotation) in annotations.into_iter().enumerate() {
            let body = json!({"item_id": self.message, "output_index": index, "content_index": 0,
                "annotation_index": k, "annotation": annotation});
            Self::event(seq, out, "response.output_text.annotation.added", body);
        }
        let body = json!({"item_id": self.message, "output_index": index, "content_index": 0, "text": text,
            "logprobs": []});
        Self::event(seq, out, "response.output_text.done", body);
        let body = json!({"item_id": self.message, "output_index": index, "content_index": 0,
            "part": self.answer_text(text)});
        Self::event(seq, out, "response.content_part.done", body);
        let item = self.message_item(text, status.item_status());
        Self::event(seq, out, "response.output_item.done", json!({"output_index": index, "item": item}));
    }

    /// Each function call's arguments and item close.
    fn close_calls(
        &self,
        seq: &Cell<u64>,
        reasoning: Option<&str>,
        calls: &[(String, String, String)],
        status: Status,
        out: &mut Vec<u8>,
    ) {
        if let (Some(r), true) = (reasoning, calls.is_empty()) {
            self.close_reasoning(seq, r, status.item_status(), out);
        }
        for (k, (id, name, args)) in calls.iter().enumerate() {
            let (item_id, index) = (self.call_item_id(k), self.call_index(k));
            let body = json!({"item_id": item_id, "output_index": index, "arguments": args});
            Self::event(seq, out, "response.function_call_arguments.done", body);
            let item = self.call_item(k, id, name, args, status.item_status());
            Self::event(seq, out, "response.output_item.done", json!({"output_index": index, "item": item}));
        }
    }
}

/// An `output_text` content part.
fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}
