//! The Responses API's response object: the request's settings echoed (defaulted as OpenAI does),
//! where the response stands, its output and its usage.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::openai::chunks::{ResponseMeta, Usage};

/// Where a response stands (`status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Background: accepted, not started.
    Queued,
    /// Generating.
    InProgress,
    /// Ended on its own.
    Completed,
    /// Cut by `max_output_tokens`.
    Incomplete,
    /// Background: cancelled before it ended.
    Cancelled,
}

impl Status {
    /// How a generation that ended with `finish_reason` stands: `length` means it was cut.
    pub fn ended(finish_reason: &str) -> Status {
        match finish_reason {
            "length" => Status::Incomplete,
            _ => Status::Completed,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete => "incomplete",
            Status::Cancelled => "cancelled",
        }
    }

    /// The status of the output items that close with the response.
    pub fn item_status(self) -> &'static str {
        match self {
            Status::Incomplete | Status::Cancelled => "incomplete",
            Status::Queued | Status::InProgress => "in_progress",
            Status::Completed => "completed",
        }
    }

    /// The stream's last event for a response that ended at this status.
    pub fn final_event(self) -> &'static str {
        match self {
            Status::Incomplete => "response.incomplete",
            _ => "response.completed",
        }
    }

    /// `incomplete_details`.
    fn incomplete_details(self) -> Value {
        match self {
            Status::Incomplete => json!({"reason": "max_output_tokens"}),
            _ => Value::Null,
        }
    }
}

/// `reasoning` as echoed: the effort (`medium` by default for reasoning models) and summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Reasoning {
    /// `reasoning.effort`.
    pub effort: Option<String>,
    /// `reasoning.summary`.
    pub summary: Option<String>,
}

/// The request's settings that the response object carries, each defaulted as OpenAI does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Params {
    /// Run in the background (poll with GET).
    pub background: bool,
    /// `{"id": conversation}` when the response belongs to a conversation.
    pub conversation: Option<Value>,
    /// A string, a list of input items, or null.
    pub instructions: Option<Value>,
    /// The output cap as requested.
    pub max_output_tokens: Option<u64>,
    /// The cap on built-in tool calls as requested.
    pub max_tool_calls: Option<u64>,
    /// Up to 16 string pairs; `{}` when not given.
    pub metadata: Map<String, Value>,
    /// Default true.
    pub parallel_tool_calls: bool,
    /// The response this one continues.
    pub previous_response_id: Option<String>,
    /// A prompt template reference, echoed.
    pub prompt: Option<Value>,
    /// Echoed.
    pub prompt_cache_key: Option<String>,
    /// Echoed.
    pub prompt_cache_retention: Option<String>,
    /// Effort and summary.
    pub reasoning: Reasoning,
    /// Echoed.
    pub safety_identifier: Option<String>,
    /// The tier that served it: `auto` (or none) is served as `default`.
    pub service_tier: String,
    /// Kept for retrieval (default true).
    pub store: bool,
    /// Default 1.
    pub temperature: f64,
    /// `{format, verbosity}`; default `{"format":{"type":"text"},"verbosity":"medium"}`.
    pub text: Value,
    /// Default `auto`.
    pub tool_choice: Value,
    /// The tools as given.
    pub tools: Vec<Value>,
    /// Default 0.
    pub top_logprobs: u64,
    /// Default 1.
    pub top_p: f64,
    /// `auto` or `disabled` (default).
    pub truncation: String,
    /// Echoed.
    pub user: Option<String>,
    /// The `file_search` tool's search, run before generation (not echoed: it is an output item).
    #[serde(skip)]
    pub file_search: Option<super::file_search::FileSearch>,
}

impl Params {
    /// The id of the conversation the response belongs to.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation.as_ref()?.get("id")?.as_str()
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            background: false,
            conversation: None,
            instructions: None,
            max_output_tokens: None,
            max_tool_calls: None,
            metadata: Map::new(),
            parallel_tool_calls: true,
            previous_response_id: None,
            prompt: None,
            prompt_cache_key: None,
            prompt_cache_retention: None,
            reasoning: Reasoning::default(),
            safety_identifier: None,
            service_tier: "default".to_owned(),
            store: true,
            temperature: 1.0,
            text: json!({"format": {"type": "text"}, "verbosity": "medium"}),
            tool_choice: json!("auto"),
            tools: Vec::new(),
            top_logprobs: 0,
            top_p: 1.0,
            truncation: "disabled".to_owned(),
            user: None,
            file_search: None,
        }
    }
}

/// Fields the SDK models that fakeai has nothing to report in: always `null`.
const UNREPORTED: [&str; 7] = [
    "access_programs",
    "image",
    "input_transformations",
    "moderation",
    "prompt_cache_diagnostics",
    "prompt_cache_options",
    "tool_usage",
];

/// One response's fixed parts: identity, timeline and echoed settings (serialized once).
#[derive(Debug, Clone)]
pub struct Object {
    id: String,
    model: String,
    created_at: u64,
    /// When generation ends (unix seconds), reported once the response is done.
    completed_at: u64,
    params: Map<String, Value>,
}

impl Object {
    /// The object of the response `meta` names, ending at `completed_at`.
    pub fn new(meta: &ResponseMeta, params: &Params, completed_at: u64) -> Self {
        let Ok(Value::Object(params)) = serde_json::to_value(params) else { unreachable!("Params is a struct") };
        Object { id: meta.id.clone(), model: meta.model.clone(), created_at: meta.created, completed_at, params }
    }

    /// The response id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The response object at `status` with `output` and (once done) `usage`.
    pub fn render(&self, status: Status, output: Value, usage: Option<Usage>) -> Value {
        let done = matches!(status, Status::Completed | Status::Incomplete);
        let mut v = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status.as_str(),
            "completed_at": if done { json!(self.completed_at) } else { Value::Null },
            "error": null,
            "incomplete_details": status.incomplete_details(),
            "model": self.model,
            "output_text": output_text(&output),
            "output": output,
            "usage": usage.map(usage_json),
        });
        let map = v.as_object_mut().expect("object");
        map.extend(self.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        map.extend(UNREPORTED.iter().map(|k| ((*k).to_owned(), Value::Null)));
        v
    }
}

/// The finished response object `done` as it stood before it finished (or when cancelled): at
/// `status`, without output, usage or completion time.
pub fn pending(done: &Value, status: Status) -> Value {
    let mut v = done.clone();
    v["status"] = json!(status.as_str());
    v["output"] = json!([]);
    v["output_text"] = json!("");
    for field in ["usage", "completed_at", "incomplete_details"] {
        v[field] = Value::Null;
    }
    v
}

/// The text of every message in `output` (FakeAI's convenience field; the SDK computes the same).
fn output_text(output: &Value) -> String {
    let items = output.as_array().into_iter().flatten().filter(|i| i["type"] == "message");
    let parts = items.flat_map(|i| i["content"].as_array().into_iter().flatten());
    parts.filter_map(|c| c["text"].as_str()).collect()
}

/// The Responses API's `usage` object.
pub fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> Object {
        let meta = ResponseMeta { id: "resp_1".into(), created: 10, model: "m".into(), fingerprint: String::new() };
        Object::new(&meta, &Params::default(), 12)
    }

    #[test]
    fn defaults_are_openais() {
        let v = object().render(Status::InProgress, json!([]), None);
        assert_eq!(v["temperature"], 1.0);
        assert_eq!(v["tool_choice"], "auto");
        assert_eq!(v["truncation"], "disabled");
        assert_eq!(v["service_tier"], "default");
        assert_eq!(v["metadata"], json!({}));
        assert_eq!(v["text"]["format"]["type"], "text");
        assert!(v["completed_at"].is_null() && v["usage"].is_null() && v["incomplete_details"].is_null());
        assert!(v.get("tool_usage").is_some_and(Value::is_null));
    }

    #[test]
    fn pending_objects_have_no_output_yet() {
        let done = object().render(Status::Completed, json!([{"type": "message"}]), Some(Usage::default()));
        let queued = pending(&done, Status::Queued);
        assert_eq!((queued["status"].as_str(), queued["output"].as_array().map(Vec::len)), (Some("queued"), Some(0)));
        assert!(queued["usage"].is_null() && queued["completed_at"].is_null());
        assert_eq!(queued["id"], done["id"]);
    }

    #[test]
    fn a_cut_response_is_incomplete() {
        let v = object().render(Status::ended("length"), json!([]), Some(Usage::default()));
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["completed_at"], 12);
        assert_eq!(Status::ended("stop").final_event(), "response.completed");
    }
}
