//! The Assistants API's objects: assistants, threads, their messages, and runs with their steps.
//! A run's status is not stored but read off the clock, as vector store files' are: each
//! generation a run makes (its first, and one after each `submit_tool_outputs`) keeps the unix
//! microseconds its tokens are due, so `in_progress` turns `requires_action` or `completed` exactly
//! when the schedule says, and a message a run writes shows the tokens due so far. Nothing runs
//! in the background.

use std::sync::Arc;

use serde_json::{Value, json};

use super::store::Object;

/// How long a run waits for tool outputs before it expires (OpenAI's ten minutes).
pub const EXPIRES_AFTER_US: u64 = 600 * 1_000_000;

/// Unix seconds of unix microseconds `us`.
pub fn secs(us: u64) -> u64 {
    us / 1_000_000
}

/// An assistant: the settings every run starts from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Assistant {
    /// `asst_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Its settings as the API shows them (`name`, `description`, `model`, `instructions`,
    /// `tools`, `tool_resources`, `metadata`, `temperature`, `top_p`, `response_format`,
    /// `reasoning_effort`), validated.
    pub settings: serde_json::Map<String, Value>,
}

impl Object for Assistant {
    const KIND: &'static str = "Assistant";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Assistant {
    /// OpenAI's `Assistant` object.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"id": self.id, "object": "assistant", "created_at": self.created_at});
        v.as_object_mut().into_iter().for_each(|o| o.extend(self.settings.clone()));
        v
    }

    /// Setting `name` (null when unset).
    pub fn get(&self, name: &str) -> &Value {
        self.settings.get(name).unwrap_or(&Value::Null)
    }
}

/// A thread of messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thread {
    /// `thread_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// `metadata` (an object).
    pub metadata: Value,
    /// `tool_resources` (an object).
    pub tool_resources: Value,
}

impl Object for Thread {
    const KIND: &'static str = "Thread";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Thread {
    /// OpenAI's `Thread` object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "thread",
            "created_at": self.created_at,
            "metadata": self.metadata,
            "tool_resources": self.tool_resources,
        })
    }
}

/// The text a run writes into a message, token by token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Written {
    /// The whole text.
    pub text: String,
    /// Where each token ends in `text`.
    pub ends: Vec<u32>,
    /// When each token is due (unix microseconds), ascending.
    pub due: Vec<u64>,
    /// When the generation ends (its last token, reasoning included).
    pub done: u64,
    /// `max_completion_tokens` cut it short.
    pub truncated: bool,
    /// The files a `file_search` found that the finished text cites: (file id, filename).
    pub citations: Vec<(String, String)>,
}

impl Written {
    /// The finished text's content block: the text, then one `【0:k†filename】` marker per cited
    /// file, each with its `file_citation` annotation (indices count characters, as OpenAI's do).
    pub fn cited_block(&self, text: &str) -> Value {
        let (text, annotations) = cite(text, &self.citations);
        json!({"type": "text", "text": {"value": text, "annotations": annotations}})
    }

    /// Tokens due by `now`.
    pub fn tokens_by(&self, now: u64) -> usize {
        self.due.partition_point(|&at| at <= now)
    }

    /// The text of the first `n` tokens.
    pub fn text_of(&self, n: usize) -> &str {
        let end = n.checked_sub(1).map_or(0, |i| self.ends[i] as usize);
        &self.text[..end]
    }
}

/// A message in a thread.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `msg_…`.
    pub id: String,
    /// Its thread.
    pub thread_id: String,
    /// Unix microseconds.
    pub created_us: u64,
    /// `user` or `assistant`.
    #[serde(deserialize_with = "crate::state::persist::codec::interned")]
    pub role: crate::state::persist::codec::Interned,
    /// Content blocks (for a message a run writes, see `written`).
    pub content: Vec<Value>,
    /// The assistant that wrote it, if a run did.
    pub assistant_id: Option<String>,
    /// The run that wrote it.
    pub run_id: Option<String>,
    /// `attachments`.
    pub attachments: Vec<Value>,
    /// `metadata` (an object).
    pub metadata: Value,
    /// The text a run writes into it (shared, never copied on update).
    pub written: Option<Arc<Written>>,
    /// When its run was cancelled (unix microseconds): the text stops there.
    pub cut: Option<u64>,
}

impl Object for Message {
    const KIND: &'static str = "Message";
    fn id(&self) -> &str {
        &self.id
    }
}

/// `text` followed by a marker per file of `citations`, and the markers' annotations.
pub fn cite(text: &str, citations: &[(String, String)]) -> (String, Vec<Value>) {
    let mut out = text.to_owned();
    let mut at = text.chars().count();
    let mut annotations = Vec::new();
    for (k, (file_id, filename)) in citations.iter().enumerate() {
        let marker = format!("【0:{k}†{filename}】");
        let end = at + marker.chars().count();
        annotations.push(json!({"type": "file_citation", "text": marker, "start_index": at, "end_index": end,
            "file_citation": {"file_id": file_id}}));
        out.push_str(&marker);
        at = end;
    }
    (out, annotations)
}

/// A run's `file_search` call: the search made before its first generation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Searched {
    /// Its step (`step_…`).
    pub step_id: String,
    /// Its tool call (`call_…`).
    pub call_id: String,
    /// When it ran (unix microseconds).
    pub at: u64,
    /// The results, best first: `{file_id, file_name, score, content: [{type: "text", text}]}`.
    pub results: Vec<Value>,
    /// The files the answer cites: (file id, filename).
    pub cited: Vec<(String, String)>,
}

/// One text content block.
pub fn text_block(value: &str) -> Value {
    json!({"type": "text", "text": {"value": value, "annotations": []}})
}

impl Message {
    /// OpenAI's `Message` object at `now` (unix microseconds).
    pub fn to_json(&self, now: u64) -> Value {
        let (status, content, completed, incomplete) = match &self.written {
            None => ("completed", self.content.clone(), None, None),
            Some(w) => {
                let cut = self.cut.filter(|&c| c < w.done && c <= now);
                let at = cut.unwrap_or(now);
                let n = w.tokens_by(at);
                let content = if n == 0 && at < w.done { Vec::new() } else { vec![text_block(w.text_of(n))] };
                match (cut, at >= w.done) {
                    (Some(c), _) => ("incomplete", content, None, Some((c, "run_cancelled"))),
                    (None, false) => ("in_progress", content, None, None),
                    (None, true) if w.truncated => ("incomplete", content, None, Some((w.done, "max_tokens"))),
                    (None, true) if !w.citations.is_empty() => {
                        ("completed", vec![w.cited_block(w.text_of(n))], Some(secs(w.done)), None)
                    }
                    (None, true) => ("completed", content, Some(secs(w.done)), None),
                }
            }
        };
        json!({
            "id": self.id,
            "object": "thread.message",
            "created_at": secs(self.created_us),
            "thread_id": self.thread_id,
            "status": status,
            "incomplete_details": incomplete.map(|(_, reason)| json!({"reason": reason})),
            "completed_at": completed.or(self.written.is_none().then(|| secs(self.created_us))),
            "incomplete_at": incomplete.map(|(at, _)| secs(at)),
            "role": self.role,
            "content": content,
            "assistant_id": self.assistant_id,
            "run_id": self.run_id,
            "attachments": self.attachments,
            "metadata": self.metadata,
        })
    }
}

/// A function call a run asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Call {
    /// `call_…`.
    pub id: String,
    /// The function.
    pub name: String,
    /// Its arguments (JSON text).
    pub arguments: String,
}

/// What one generation of a run produces.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// An assistant message.
    Message {
        /// Its id.
        message_id: String,
        /// `max_completion_tokens` cut it short.
        truncated: bool,
    },
    /// Function calls, answered by `submit_tool_outputs`.
    ToolCalls {
        /// The calls.
        calls: Vec<Call>,
        /// When the outputs came (unix microseconds) and each call's output, in call order.
        submitted: Option<(u64, Vec<String>)>,
    },
}

/// One generation of a run, with the step that records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Phase {
    /// The step's id (`step_…`).
    pub step_id: String,
    /// When it began (unix microseconds).
    pub start: u64,
    /// When each generated token is due (unix microseconds), reasoning included.
    pub due: Arc<[u64]>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// What it produced.
    pub outcome: Outcome,
}

impl Phase {
    /// When its last token is due.
    pub fn done(&self) -> u64 {
        self.due.last().copied().unwrap_or(self.start)
    }

    /// Tokens generated by `at`.
    fn generated_by(&self, at: u64) -> u64 {
        self.due.partition_point(|&t| t <= at) as u64
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RunStatus {
    /// Created, not yet started.
    Queued,
    /// Generating.
    InProgress,
    /// Waiting for tool outputs.
    RequiresAction,
    /// Cancel was asked for (only ever the cancel reply).
    Cancelling,
    /// Cancelled.
    Cancelled,
    /// Done.
    Completed,
    /// Cut short by `max_completion_tokens`.
    Incomplete,
    /// Tool outputs never came.
    Expired,
}

impl RunStatus {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::InProgress => "in_progress",
            RunStatus::RequiresAction => "requires_action",
            RunStatus::Cancelling => "cancelling",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Completed => "completed",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Expired => "expired",
        }
    }

    /// Whether the run can change no more (usage is final).
    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Cancelled | RunStatus::Completed | RunStatus::Incomplete | RunStatus::Expired)
    }
}

/// A run of an assistant on a thread.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// `run_…`.
    pub id: String,
    /// Its thread.
    pub thread_id: String,
    /// Its assistant.
    pub assistant_id: String,
    /// Unix microseconds.
    pub created_us: u64,
    /// What it echoes: `model`, `instructions`, `tools`, `tool_choice`, `parallel_tool_calls`,
    /// `response_format`, `temperature`, `top_p`, `max_prompt_tokens`,
    /// `max_completion_tokens`, `truncation_strategy`.
    pub settings: serde_json::Map<String, Value>,
    /// `metadata` (an object).
    pub metadata: Value,
    /// Its generations, in order.
    pub phases: Vec<Phase>,
    /// When it was cancelled (unix microseconds).
    pub cancelled: Option<u64>,
    /// Its `file_search` call, when its tools searched vector stores.
    pub file_search: Option<Arc<Searched>>,
}

impl Object for Run {
    const KIND: &'static str = "Run";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Run {
    /// The generation under way or last made.
    pub fn last(&self) -> &Phase {
        self.phases.last().expect("a run has a generation from its creation")
    }

    /// When tool outputs stop being accepted.
    pub fn expires_at(&self) -> u64 {
        self.created_us + EXPIRES_AFTER_US
    }

    /// Its status at `now` (unix microseconds).
    pub fn status(&self, now: u64) -> RunStatus {
        let last = self.last();
        match (&last.outcome, self.cancelled) {
            (_, Some(_)) => RunStatus::Cancelled,
            _ if now < last.done() => RunStatus::InProgress,
            (Outcome::ToolCalls { .. }, _) if now >= self.expires_at() => RunStatus::Expired,
            (Outcome::ToolCalls { .. }, _) => RunStatus::RequiresAction,
            (Outcome::Message { truncated: true, .. }, _) => RunStatus::Incomplete,
            (Outcome::Message { .. }, _) => RunStatus::Completed,
        }
    }

    /// When its status next changes on its own after `now`, if it will.
    pub fn next_change(&self, now: u64) -> Option<u64> {
        match self.status(now) {
            RunStatus::InProgress | RunStatus::Queued => Some(self.last().done()),
            RunStatus::RequiresAction => Some(self.expires_at()),
            _ => None,
        }
    }

    /// Usage by `at`: every generation's prompt and the tokens due by then.
    fn usage(&self, at: u64) -> Value {
        let prompt: u64 = self.phases.iter().map(|p| p.prompt_tokens).sum();
        let completion: u64 = self.phases.iter().map(|p| p.generated_by(at)).sum();
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
    }

    /// OpenAI's `Run` object at `now` (unix microseconds) in `status` (its status then, unless
    /// a reply names another: `queued` when created, `cancelling` when cancel is asked).
    pub fn to_json_as(&self, now: u64, status: RunStatus) -> Value {
        let last = self.last();
        let required_action = match (&last.outcome, status) {
            (Outcome::ToolCalls { calls, .. }, RunStatus::RequiresAction) => {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})
                    })
                    .collect();
                json!({"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}})
            }
            _ => Value::Null,
        };
        let at = |cond: bool, us: u64| if cond { json!(secs(us)) } else { Value::Null };
        let cancelled = self.cancelled.unwrap_or(now);
        let mut v = json!({
            "id": self.id,
            "object": "thread.run",
            "created_at": secs(self.created_us),
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "status": status.as_str(),
            "required_action": required_action,
            "last_error": null,
            "expires_at": at(!status.is_final(), self.expires_at()),
            "started_at": at(status != RunStatus::Queued, self.created_us),
            "cancelled_at": at(status == RunStatus::Cancelled, cancelled),
            "failed_at": null,
            "completed_at": at(status == RunStatus::Completed, last.done()),
            "incomplete_details": match status {
                RunStatus::Incomplete => json!({"reason": "max_completion_tokens"}),
                _ => Value::Null,
            },
            "usage": if status.is_final() { self.usage(self.cancelled.unwrap_or(now)) } else { Value::Null },
            "metadata": self.metadata,
        });
        v.as_object_mut().into_iter().for_each(|o| o.extend(self.settings.clone()));
        v
    }

    /// OpenAI's `Run` object at `now`.
    pub fn to_json(&self, now: u64) -> Value {
        self.to_json_as(now, self.status(now))
    }

    /// Its steps (its file search, then one per generation) at `now`, oldest first.
    pub fn steps(&self, now: u64) -> Vec<Value> {
        let status = self.status(now);
        let search = self.file_search.as_deref().map(|s| self.search_step(s));
        let generations =
            self.phases.iter().enumerate().map(|(i, p)| self.step_json(p, i + 1 == self.phases.len(), status, now));
        search.into_iter().chain(generations).collect()
    }

    /// The `tool_calls` step of its file search (done as soon as it ran).
    pub fn search_step(&self, s: &Searched) -> Value {
        let call = json!({"id": s.call_id, "type": "file_search", "file_search": {
            "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}, "results": s.results}});
        json!({
            "id": s.step_id,
            "object": "thread.run.step",
            "created_at": secs(s.at),
            "run_id": self.id,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "type": "tool_calls",
            "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": [call]},
            "last_error": null,
            "expired_at": null,
            "cancelled_at": null,
            "failed_at": null,
            "completed_at": secs(s.at),
            "metadata": {},
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })
    }

    /// The step of generation `p` at `now`; `last` says whether it is the run's latest.
    fn step_json(&self, p: &Phase, last: bool, run: RunStatus, now: u64) -> Value {
        let ended = match &p.outcome {
            Outcome::ToolCalls { submitted: Some((at, _)), .. } => Some(*at),
            Outcome::ToolCalls { submitted: None, .. } => None,
            Outcome::Message { .. } => Some(p.done()).filter(|&d| d <= now),
        };
        let (status, when) = match (ended, last, run) {
            (Some(at), _, _) if self.cancelled.is_none_or(|c| at <= c) => ("completed", Some(at)),
            (_, true, RunStatus::Cancelled) => ("cancelled", self.cancelled),
            (_, true, RunStatus::Expired) => ("expired", Some(self.expires_at())),
            _ => ("in_progress", None),
        };
        let details = match &p.outcome {
            Outcome::Message { message_id, .. } => {
                json!({"type": "message_creation", "message_creation": {"message_id": message_id}})
            }
            Outcome::ToolCalls { calls, submitted } => {
                let outputs = submitted.as_ref().map(|(_, o)| o.as_slice()).unwrap_or_default();
                let calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        json!({"id": c.id, "type": "function", "function": {
                        "name": c.name, "arguments": c.arguments, "output": outputs.get(i)}})
                    })
                    .collect();
                json!({"type": "tool_calls", "tool_calls": calls})
            }
        };
        let completion = p.generated_by(when.unwrap_or(now));
        let usage = (status != "in_progress").then(|| {
            json!({"prompt_tokens": p.prompt_tokens, "completion_tokens": completion,
                "total_tokens": p.prompt_tokens + completion})
        });
        let at = |s: &str| when.filter(|_| status == s).map(secs);
        json!({
            "id": p.step_id,
            "object": "thread.run.step",
            "created_at": secs(p.start),
            "run_id": self.id,
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "type": details["type"],
            "status": status,
            "step_details": details,
            "last_error": null,
            "expired_at": at("expired"),
            "cancelled_at": at("cancelled"),
            "failed_at": null,
            "completed_at": at("completed"),
            "metadata": {},
            "usage": usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome) -> Run {
        Run {
            id: "run_1".into(),
            thread_id: "thread_1".into(),
            assistant_id: "asst_1".into(),
            created_us: 1_000_000,
            settings: Default::default(),
            metadata: json!({}),
            phases: vec![Phase {
                step_id: "step_1".into(),
                start: 1_000_000,
                due: Arc::from([1_100_000, 1_200_000, 3_000_000]),
                prompt_tokens: 10,
                outcome,
            }],
            cancelled: None,
            file_search: None,
        }
    }

    fn message_outcome() -> Outcome {
        Outcome::Message { message_id: "msg_1".into(), truncated: false }
    }

    #[test]
    fn a_message_run_completes_when_its_last_token_is_due() {
        let r = run(message_outcome());
        assert_eq!(r.status(1_000_000), RunStatus::InProgress);
        assert_eq!(r.status(2_999_999), RunStatus::InProgress);
        assert_eq!(r.next_change(2_000_000), Some(3_000_000));
        let done = r.to_json(3_000_000);
        assert_eq!((done["status"].as_str(), done["completed_at"].as_u64()), (Some("completed"), Some(3)));
        assert_eq!(done["usage"], json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}));
        assert!(r.to_json(2_000_000)["usage"].is_null(), "no usage before the run is final");
        let steps = r.steps(3_000_000);
        assert_eq!((steps[0]["status"].as_str(), steps[0]["completed_at"].as_u64()), (Some("completed"), Some(3)));
        assert_eq!(r.steps(2_000_000)[0]["status"], "in_progress");
    }

    #[test]
    fn tool_calls_wait_for_outputs_then_expire() {
        let calls = vec![Call { id: "call_1".into(), name: "f".into(), arguments: "{}".into() }];
        let r = run(Outcome::ToolCalls { calls, submitted: None });
        let waiting = r.to_json(3_000_000);
        assert_eq!(waiting["status"], "requires_action");
        assert_eq!(waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"], "call_1");
        assert_eq!(r.status(r.expires_at()), RunStatus::Expired);
        assert_eq!(r.steps(r.expires_at())[0]["status"], "expired");
    }

    #[test]
    fn a_cancelled_run_bills_and_shows_what_was_due() {
        let mut r = run(message_outcome());
        r.cancelled = Some(1_500_000);
        let v = r.to_json(5_000_000);
        assert_eq!((v["status"].as_str(), v["cancelled_at"].as_u64()), (Some("cancelled"), Some(1)));
        assert_eq!(v["usage"]["completion_tokens"], 2);
        assert_eq!(r.steps(5_000_000)[0]["status"], "cancelled");
        let w = Written {
            text: "Hello there friend".into(),
            ends: vec![5, 11, 18],
            due: vec![1_100_000, 1_200_000, 3_000_000],
            done: 3_000_000,
            truncated: false,
            citations: Vec::new(),
        };
        let mut m = Message {
            id: "msg_1".into(),
            thread_id: "thread_1".into(),
            created_us: 1_000_000,
            role: "assistant",
            content: Vec::new(),
            assistant_id: Some("asst_1".into()),
            run_id: Some("run_1".into()),
            attachments: Vec::new(),
            metadata: json!({}),
            written: Some(Arc::new(w)),
            cut: None,
        };
        assert_eq!(m.to_json(1_000_000)["content"], json!([]), "nothing due yet");
        assert_eq!(m.to_json(1_150_000)["content"][0]["text"]["value"], "Hello");
        assert_eq!(m.to_json(3_000_000)["status"], "completed");
        m.cut = Some(1_500_000);
        let v = m.to_json(5_000_000);
        assert_eq!(
            (v["status"].as_str(), v["content"][0]["text"]["value"].as_str()),
            (Some("incomplete"), Some("Hello there"))
        );
        assert_eq!(v["incomplete_details"]["reason"], "run_cancelled");
    }

    #[test]
    fn a_finished_answer_cites_each_file_with_a_marker() {
        let citations = [("file-a".to_owned(), "a.txt".to_owned()), ("file-b".to_owned(), "b.txt".to_owned())];
        let (text, annotations) = cite("Héllo", &citations);
        assert_eq!(text, "Héllo【0:0†a.txt】【0:1†b.txt】");
        let chars: Vec<char> = text.chars().collect();
        for a in &annotations {
            let (start, end) = (a["start_index"].as_u64().unwrap() as usize, a["end_index"].as_u64().unwrap() as usize);
            assert_eq!(chars[start..end].iter().collect::<String>(), a["text"].as_str().unwrap());
        }
        assert_eq!(annotations[1]["file_citation"]["file_id"], "file-b");
    }
}
