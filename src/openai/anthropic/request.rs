//! `POST /v1/messages` and `/v1/messages/count_tokens` bodies: validated as Anthropic validates
//! them, counted block by block (tools, then system, then messages), with the prefix hash at
//! each `cache_control` breakpoint.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Deserialize;
use serde_json::Value;

use super::cache::Breakpoint;
use crate::{
    error::Error,
    openai::{
        media,
        request::GenRequest,
        tools::{Format, FunctionDef, Structure, ToolChoice, mentioned_tools},
    },
    tokens::Encoding,
};

/// A validated Messages request.
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    /// What the generator needs; `prompt_tokens` is every block's tokens.
    pub generation: GenRequest,
    /// The request's `cache_control` breakpoints, in prompt order.
    pub breakpoints: Vec<Breakpoint>,
}

/// The body as sent; fakeai's extensions `ignore_eos`, `min_tokens` and `seed` are accepted too.
#[derive(Debug, Deserialize)]
struct Body {
    model: Option<String>,
    messages: Option<Vec<MessageParam>>,
    system: Option<Content>,
    max_tokens: Option<i64>,
    stop_sequences: Option<Vec<String>>,
    stream: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    metadata: Option<Metadata>,
    ignore_eos: Option<bool>,
    min_tokens: Option<i64>,
    seed: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct MessageParam {
    role: String,
    content: Option<Content>,
}

/// A string, or a list of content blocks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

impl Content {
    fn is_empty(&self) -> bool {
        match self {
            Content::Text(t) => t.is_empty(),
            Content::Blocks(b) => b.is_empty(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Metadata {
    user_id: Option<String>,
}

/// Whether a JSON value has a field's type.
type TypeCheck = fn(&Value) -> bool;

/// The top-level fields and the JSON type each must have, to name the culprit of a type error.
const FIELDS: &[(&str, &str, TypeCheck)] = &[
    ("model", "a valid string", Value::is_string),
    ("messages", "a valid list", Value::is_array),
    ("system", "a valid string or list", |v| v.is_string() || v.is_array()),
    ("max_tokens", "a valid integer", |v| v.is_i64() || v.is_u64()),
    ("stop_sequences", "a valid list of strings", Value::is_array),
    ("stream", "a valid boolean", Value::is_boolean),
    ("temperature", "a valid number", Value::is_number),
    ("top_p", "a valid number", Value::is_number),
    ("top_k", "a valid integer", |v| v.is_i64() || v.is_u64()),
    ("tools", "a valid list", Value::is_array),
    ("tool_choice", "a valid dictionary", Value::is_object),
    ("thinking", "a valid dictionary", Value::is_object),
    ("metadata", "a valid dictionary", Value::is_object),
];

fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request(message)
}

/// Parses a Messages body; `counting` is `count_tokens`, where `max_tokens` is not required.
pub fn parse(body: &[u8], encoding: Encoding, counting: bool) -> Result<MessagesRequest, Error> {
    parse_within(body, encoding, counting, crate::openai::request::UNBOUNDED)
}

/// [`parse`], counting the prompt only as far as the model's context `window` (a longer
/// prompt is refused whatever its exact length).
pub fn parse_within(
    body: &[u8],
    encoding: Encoding,
    counting: bool,
    window: crate::openai::request::Window<'_>,
) -> Result<MessagesRequest, Error> {
    let req: Body = serde_json::from_slice(body).map_err(|e| type_error(body, &e))?;
    let model = req.model.filter(|m| !m.trim().is_empty()).ok_or_else(|| invalid("model: Field required"))?;
    let messages = req.messages.ok_or_else(|| invalid("messages: Field required"))?;
    if messages.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    check_messages(&messages)?;
    let max_tokens = match (req.max_tokens, counting) {
        (Some(n), _) if n < 1 => return Err(invalid("max_tokens: Input should be greater than or equal to 1")),
        (Some(n), _) => Some(n as u64),
        (None, true) => None,
        (None, false) => return Err(invalid("max_tokens: Field required")),
    };
    check_sampling(req.temperature, req.top_p, req.top_k)?;
    let stop = req.stop_sequences.unwrap_or_default();
    if stop.iter().any(String::is_empty) {
        return Err(invalid("stop_sequences: each stop sequence must be a non-empty string"));
    }
    let tools = req.tools.unwrap_or_default();
    let callable =
        tools.iter().enumerate().filter_map(|(i, t)| custom_tool(t, i).transpose()).collect::<Result<_, _>>()?;
    let mut structure = tool_structure(callable, req.tool_choice.as_ref(), &messages)?;
    let (thinking, budget) = thinking(req.thinking.as_ref(), max_tokens.filter(|_| !counting))?;
    if thinking == Some(true) {
        check_thinking(req.temperature, req.top_p, req.top_k, &structure.choice)?;
    }
    let mut prefix = Prefix::new(encoding, &model, memchr::memmem::find(body, b"cache_control").is_some());
    prefix.cap = window(&model);
    tools.iter().try_for_each(|t| prefix.tool(t))?;
    match &req.system {
        Some(Content::Text(t)) => prefix.text(t),
        Some(Content::Blocks(blocks)) => blocks.iter().try_for_each(|b| prefix.block(b, "system"))?,
        None => {}
    }
    for (i, m) in messages.iter().enumerate() {
        prefix.role(&m.role);
        match &m.content {
            Some(Content::Text(t)) => prefix.text(t),
            Some(Content::Blocks(blocks)) => {
                for (j, b) in blocks.iter().enumerate() {
                    prefix.block(b, &format!("messages.{i}.content.{j}"))?;
                }
            }
            None => {}
        }
    }
    if prefix.breakpoints.len() > 4 {
        let found = prefix.breakpoints.len();
        return Err(invalid(format!("A maximum of 4 blocks with cache_control may be provided. Found {found}.")));
    }
    structure.format = Format::Text;
    let min_tokens = match req.min_tokens {
        Some(n) if n < 0 => return Err(invalid("min_tokens: Input should be greater than or equal to 0")),
        n => n.unwrap_or(0) as u64,
    };
    if let Some(max) = max_tokens.filter(|&max| min_tokens > max) {
        return Err(invalid(format!("min_tokens ({min_tokens}) must be <= max_tokens ({max})")));
    }
    let generation = GenRequest {
        model,
        stream: req.stream.unwrap_or(false),
        prompt_tokens: prefix.tokens,
        max_tokens,
        min_tokens,
        ignore_eos: req.ignore_eos.unwrap_or(false),
        seed: req.seed.map(|s| s as u64),
        stop,
        n: 1,
        reasoning_share: 0.5,
        structure,
        thinking,
        reasoning_budget: budget,
        user: req.metadata.and_then(|m| m.user_id),
        ..GenRequest::default()
    };
    Ok(MessagesRequest { generation, breakpoints: prefix.breakpoints })
}

/// A serde failure as Anthropic words it, naming the top-level field of the wrong type.
fn type_error(body: &[u8], e: &serde_json::Error) -> Error {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return invalid(format!("The request body is not valid JSON: {e}"));
    };
    let wrong = FIELDS.iter().find(|(name, _, ok)| map.get(*name).is_some_and(|v| !v.is_null() && !ok(v)));
    match wrong {
        Some((name, kind, _)) => invalid(format!("{name}: Input should be {kind}")),
        None => invalid(format!("Invalid request body: {e}")),
    }
}

/// Roles are `user` or `assistant` (consecutive turns of one role are combined, as Anthropic
/// does); every message has content except an optional final assistant prefill.
fn check_messages(messages: &[MessageParam]) -> Result<(), Error> {
    let last = messages.len() - 1;
    for (i, m) in messages.iter().enumerate() {
        if m.role != "user" && m.role != "assistant" {
            return Err(invalid(format!("messages.{i}.role: Input should be 'user' or 'assistant'")));
        }
        let Some(content) = &m.content else {
            return Err(invalid(format!("messages.{i}.content: Field required")));
        };
        if content.is_empty() && !(i == last && m.role == "assistant") {
            return Err(invalid(format!(
                "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
            )));
        }
    }
    Ok(())
}

/// Anthropic's ranges: `temperature` and `top_p` 0–1, `top_k` at least 0.
fn check_sampling(temperature: Option<f64>, top_p: Option<f64>, top_k: Option<i64>) -> Result<(), Error> {
    for (name, value) in [("temperature", temperature), ("top_p", top_p)] {
        match value {
            Some(v) if v < 0.0 => return Err(invalid(format!("{name}: Input should be greater than or equal to 0"))),
            Some(v) if v > 1.0 => return Err(invalid(format!("{name}: Input should be less than or equal to 1"))),
            _ => {}
        }
    }
    if top_k.is_some_and(|k| k < 0) {
        return Err(invalid("top_k: Input should be greater than or equal to 0"));
    }
    Ok(())
}

/// A client tool (`type` absent or `custom`) as a callable function; server tools (`bash_…`,
/// `web_search_…`) are accepted and counted but never called.
fn custom_tool(tool: &Value, i: usize) -> Result<Option<FunctionDef>, Error> {
    if !tool.is_object() {
        return Err(invalid(format!("tools.{i}: Input should be a valid dictionary")));
    }
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or("custom");
    let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
    let valid =
        (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(invalid(format!("tools.{i}.{kind}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")));
    }
    if kind != "custom" {
        return Ok(None);
    }
    match tool.get("input_schema") {
        Some(schema) if schema.is_object() => {
            Ok(Some(FunctionDef { name: name.to_owned(), parameters: schema.clone() }))
        }
        Some(_) => Err(invalid(format!("tools.{i}.custom.input_schema: Input should be a valid dictionary"))),
        None => Err(invalid(format!("tools.{i}.custom.input_schema: Field required"))),
    }
}

/// `tool_choice` over the callable tools. Under `auto` the tools the last user message mentions
/// are called (see `--auto-tool-calls`), and a turn that returns tool results is answered in text.
fn tool_structure(
    tools: Vec<FunctionDef>,
    choice: Option<&Value>,
    messages: &[MessageParam],
) -> Result<Structure, Error> {
    let kind = choice.map(|c| c.get("type").and_then(Value::as_str).unwrap_or(""));
    if kind.is_some_and(|k| k != "none") && tools.is_empty() {
        return Err(invalid("tool_choice: tool_choice may only be specified while providing tools"));
    }
    let choice_value = choice.unwrap_or(&Value::Null);
    let choice = match kind.unwrap_or("auto") {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => {
            let name = choice_value
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice.tool.name: Field required"))?;
            if !tools.iter().any(|t| t.name == name) {
                return Err(invalid(format!("tool_choice: tool {name:?} was not found in tools")));
            }
            ToolChoice::Named(name.to_owned())
        }
        other => {
            return Err(invalid(format!(
                "tool_choice: Input tag '{other}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"
            )));
        }
    };
    let parallel = !choice_value.get("disable_parallel_tool_use").and_then(Value::as_bool).unwrap_or(false);
    let last = messages.last().filter(|m| m.role == "user").and_then(|m| m.content.as_ref());
    let answers_tools =
        matches!(last, Some(Content::Blocks(blocks)) if blocks.iter().any(|b| block_type(b) == "tool_result"));
    let choice = if answers_tools && choice == ToolChoice::Auto { ToolChoice::None } else { choice };
    let last_text = last.filter(|_| !answers_tools).map(|c| match c {
        Content::Text(t) => t.clone(),
        Content::Blocks(blocks) => blocks.iter().filter_map(|b| b.get("text")?.as_str()).collect(),
    });
    let mentioned = last_text.map(|t| mentioned_tools(&tools, &t)).unwrap_or_default();
    Ok(Structure { tools, choice, parallel, legacy: false, mentioned, format: Format::Text })
}

/// `thinking`: on (`enabled` with a budget, or `adaptive`), off, or the model's default (absent).
fn thinking(v: Option<&Value>, max_tokens: Option<u64>) -> Result<(Option<bool>, Option<u64>), Error> {
    let Some(v) = v else { return Ok((None, None)) };
    match v.get("type").and_then(Value::as_str).unwrap_or("") {
        "disabled" => Ok((Some(false), None)),
        "adaptive" => Ok((Some(true), None)),
        "enabled" => {
            let budget =
                v.get("budget_tokens").ok_or_else(|| invalid("thinking.enabled.budget_tokens: Field required"))?;
            let budget = budget
                .as_i64()
                .ok_or_else(|| invalid("thinking.enabled.budget_tokens: Input should be a valid integer"))?;
            if budget < 1024 {
                return Err(invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"));
            }
            if max_tokens.is_some_and(|max| budget as u64 >= max) {
                return Err(invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
                ));
            }
            Ok((Some(true), Some(budget as u64)))
        }
        other => Err(invalid(format!(
            "thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
        ))),
    }
}

/// What Anthropic refuses alongside thinking: sampling other than the default, forced tool use.
fn check_thinking(
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    choice: &ToolChoice,
) -> Result<(), Error> {
    if temperature.is_some_and(|t| t != 1.0) {
        return Err(invalid("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode."));
    }
    if top_p.is_some_and(|p| p < 0.95) {
        return Err(invalid("`top_p` must be unset or >= 0.95 when thinking is enabled or in adaptive mode."));
    }
    if top_k.is_some() {
        return Err(invalid("`top_k` must be unset when thinking is enabled or in adaptive mode."));
    }
    if matches!(choice, ToolChoice::Required | ToolChoice::Named(_)) {
        return Err(invalid("Thinking may not be enabled when tool_choice forces tool use."));
    }
    Ok(())
}

fn block_type(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The prompt as it is counted: a running token total and, when the request has cache
/// breakpoints, a running hash of everything so far.
struct Prefix {
    encoding: Encoding,
    tokens: u64,
    hasher: Option<DefaultHasher>,
    breakpoints: Vec<Breakpoint>,
    /// Past this many tokens a text is counted only until it passes: the prompt exceeds the
    /// context window and is refused whatever its exact length.
    cap: u64,
}

impl Prefix {
    fn new(encoding: Encoding, model: &str, hashing: bool) -> Self {
        let hasher = hashing.then(|| {
            let mut h = DefaultHasher::new();
            model.hash(&mut h);
            h
        });
        Prefix { encoding, tokens: 0, hasher, breakpoints: Vec::new(), cap: u64::MAX }
    }

    fn hash(&mut self, piece: &str) {
        if let Some(h) = &mut self.hasher {
            piece.hash(h);
        }
    }

    fn role(&mut self, role: &str) {
        self.hash(role);
    }

    /// Plain string content.
    fn text(&mut self, text: &str) {
        self.tokens += self.count(text);
        self.hash(text);
    }

    /// A tool definition counts as its JSON (without `cache_control`).
    fn tool(&mut self, tool: &Value) -> Result<(), Error> {
        let json = without_cache_control(tool).to_string();
        self.tokens += self.count(&json);
        self.hash(&json);
        self.breakpoint(tool, "tools")
    }

    /// One content block at `path`.
    fn block(&mut self, b: &Value, path: &str) -> Result<(), Error> {
        if !b.is_object() || b.get("type").and_then(Value::as_str).is_none() {
            return Err(invalid(format!("{path}.type: Field required")));
        }
        let kind = block_type(b);
        if path == "system" && kind != "text" {
            return Err(invalid(format!(
                "system: Input tag '{kind}' found using 'type' does not match any of the expected tags: 'text'"
            )));
        }
        for field in required_fields(kind) {
            if b.get(*field).and_then(Value::as_str).is_none() {
                return Err(invalid(format!("{path}.{kind}.{field}: Field required")));
            }
        }
        self.tokens += self.block_tokens(b);
        if self.hasher.is_some() {
            self.hash(&without_cache_control(b).to_string());
        }
        self.breakpoint(b, path)
    }

    /// Tokens of a block. Earlier thinking is not part of the context (Anthropic strips it).
    /// The tokens of `text`, or, when they would pass the cap, a number that passes it.
    fn count(&self, text: &str) -> u64 {
        let left = self.cap.saturating_sub(self.tokens);
        // A token is at least one byte: a text no longer than the tokens left is counted whole.
        if text.len() as u64 > left {
            return self.encoding.count_up_to(text, left as usize) as u64;
        }
        self.encoding.count(text) as u64
    }

    fn block_tokens(&self, b: &Value) -> u64 {
        let count = |s: &str| self.count(s);
        let str_of = |field: &str| b.get(field).and_then(Value::as_str).unwrap_or("");
        match block_type(b) {
            "text" => count(str_of("text")),
            "image" => media::part_tokens(b).0,
            "thinking" | "redacted_thinking" => 0,
            "tool_use" => count(str_of("name")) + b.get("input").map_or(0, |i| count(&i.to_string())),
            "tool_result" => match b.get("content") {
                Some(Value::String(s)) => count(s),
                Some(Value::Array(blocks)) => blocks.iter().map(|c| self.block_tokens(c)).sum(),
                _ => 0,
            },
            "document" => match b.get("source") {
                Some(source) if source.get("type").and_then(Value::as_str) == Some("text") => {
                    count(source.get("data").and_then(Value::as_str).unwrap_or(""))
                }
                Some(source) => source
                    .get("content")
                    .and_then(Value::as_array)
                    .map_or(0, |blocks| blocks.iter().map(|c| self.block_tokens(c)).sum()),
                None => 0,
            },
            _ => count(str_of("text")),
        }
    }

    /// Records a breakpoint when `b` carries `cache_control`.
    fn breakpoint(&mut self, b: &Value, path: &str) -> Result<(), Error> {
        let Some(control) = b.get("cache_control").filter(|c| !c.is_null()) else { return Ok(()) };
        let long_ttl = match control.get("ttl").and_then(Value::as_str) {
            None | Some("5m") => false,
            Some("1h") => true,
            Some(other) => {
                return Err(invalid(format!("{path}.cache_control.ttl: Input should be '5m' or '1h', got {other:?}")));
            }
        };
        if control.get("type").and_then(Value::as_str) != Some("ephemeral") {
            return Err(invalid(format!("{path}.cache_control.type: Input should be 'ephemeral'")));
        }
        let hash = self.hasher.as_ref().map_or(0, Hasher::finish);
        self.breakpoints.push(Breakpoint { hash, tokens: self.tokens, long_ttl });
        Ok(())
    }
}

/// The string fields a block of `kind` must carry.
fn required_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "text" => &["text"],
        "thinking" => &["thinking", "signature"],
        "redacted_thinking" => &["data"],
        "tool_use" => &["id", "name"],
        "tool_result" => &["tool_use_id"],
        _ => &[],
    }
}

/// `v` without its `cache_control` key: moving a breakpoint does not change the prefix.
fn without_cache_control(v: &Value) -> std::borrow::Cow<'_, Value> {
    match v.as_object() {
        Some(map) if map.contains_key("cache_control") => {
            let mut map = map.clone();
            map.remove("cache_control");
            std::borrow::Cow::Owned(Value::Object(map))
        }
        _ => std::borrow::Cow::Borrowed(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding::Cl100kBase;

    fn parse_ok(body: &str) -> MessagesRequest {
        parse(body.as_bytes(), ENC, false).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn message(body: &str) -> String {
        parse(body.as_bytes(), ENC, false).unwrap_err().message
    }

    #[test]
    fn a_prompt_is_counted_only_until_it_passes_the_window() {
        // Longer than the tokenizer's 64 KiB counting piece, so the count can stop early.
        let words = "word ".repeat(40_000);
        let body = format!(r#"{{"model":"c","max_tokens":5,"messages":[{{"role":"user","content":"{words}"}}]}}"#);
        let whole = parse_ok(&body).generation.prompt_tokens;
        assert!(whole >= 40_000, "{whole}");
        let within = |window: u64| parse_within(body.as_bytes(), ENC, false, &|_| window).unwrap();
        let capped = within(100).generation.prompt_tokens;
        assert!(capped > 100 && capped < whole, "past the window: {capped} of {whole}");
        assert_eq!(within(50_000).generation.prompt_tokens, whole, "within the window, exact");
    }

    #[test]
    fn validates_as_anthropic_does() {
        let m = r#""messages":[{"role":"user","content":"Hi"}]"#;
        assert_eq!(message(&format!(r#"{{{m},"max_tokens":5}}"#)), "model: Field required");
        assert_eq!(
            message(r#"{"model":"c","messages":[{"role":"user","content":"Hi"}]}"#),
            "max_tokens: Field required"
        );
        assert!(
            parse(format!(r#"{{"model":"c",{m}}}"#).as_bytes(), ENC, true).is_ok(),
            "count_tokens needs no max_tokens"
        );
        let bad = |extra: &str| message(&format!(r#"{{"model":"c",{m},"max_tokens":5,{extra}}}"#));
        assert_eq!(bad(r#""temperature":1.5"#), "temperature: Input should be less than or equal to 1");
        assert_eq!(bad(r#""top_p":-0.1"#), "top_p: Input should be greater than or equal to 0");
        assert_eq!(bad(r#""top_k":-1"#), "top_k: Input should be greater than or equal to 0");
        assert_eq!(bad(r#""stream":"yes""#), "stream: Input should be a valid boolean");
        assert!(bad(r#""thinking":{"type":"enabled","budget_tokens":512}"#).contains("greater than or equal to 1024"));
        assert!(
            bad(r#""thinking":{"type":"enabled","budget_tokens":2048}"#).starts_with("`max_tokens` must be greater")
        );
        assert!(bad(r#""tool_choice":{"type":"any"}"#).contains("only be specified while providing tools"));
        let empty = message(r#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":[]}]}"#);
        assert!(empty.starts_with("messages.0: all messages must have non-empty content"), "{empty}");
        let system = message(r#"{"model":"c","max_tokens":5,"messages":[{"role":"system","content":"x"}]}"#);
        assert_eq!(system, "messages.0.role: Input should be 'user' or 'assistant'");
        let two_users = r#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":""}]}"#;
        assert_eq!(parse_ok(two_users).generation.prompt_tokens, 2, "combined turns and an empty prefill are accepted");
    }

    #[test]
    fn tools_and_choice_build_the_structure() {
        let tools = r#""tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}]"#;
        let req = |msg: &str, extra: &str| {
            parse_ok(&format!(r#"{{"model":"c","max_tokens":50,{tools},"messages":[{msg}]{extra}}}"#))
                .generation
                .structure
        };
        let ask = r#"{"role":"user","content":"What's the weather in Paris?"}"#;
        let s = req(ask, "");
        assert_eq!(
            (s.tools.len(), s.choice.clone(), s.mentioned.clone(), s.parallel),
            (1, ToolChoice::Auto, vec![0], true)
        );
        let s = req(ask, r#","tool_choice":{"type":"any","disable_parallel_tool_use":true}"#);
        assert_eq!((s.choice, s.parallel), (ToolChoice::Required, false));
        assert_eq!(
            req(ask, r#","tool_choice":{"type":"tool","name":"get_weather"}"#).choice,
            ToolChoice::Named("get_weather".into())
        );
        assert_eq!(req(ask, r#","tool_choice":{"type":"none"}"#).choice, ToolChoice::None);
        let result = format!(
            r#"{ask},{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{{"city":"Paris"}}}}]}},{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_1","content":"Sunny"}}]}}"#
        );
        assert_eq!(req(&result, "").choice, ToolChoice::None, "tool results are answered in text");
        let unknown = message(&format!(
            r#"{{"model":"c","max_tokens":5,{tools},"messages":[{ask}],"tool_choice":{{"type":"tool","name":"nope"}}}}"#
        ));
        assert!(unknown.contains("not found"), "{unknown}");
        let forced = message(&format!(
            r#"{{"model":"c","max_tokens":5000,{tools},"messages":[{ask}],"tool_choice":{{"type":"any"}},"thinking":{{"type":"enabled","budget_tokens":1024}}}}"#
        ));
        assert_eq!(forced, "Thinking may not be enabled when tool_choice forces tool use.");
    }

    #[test]
    fn counts_blocks_and_places_breakpoints() {
        let body = r#"{"model":"c","max_tokens":5,
            "system":[{"type":"text","text":"Hello, world!","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":[{"type":"text","text":"Hello, world!"},
                {"type":"redacted_thinking","data":"abc"}]}]}"#;
        let r = parse_ok(body);
        assert_eq!(r.generation.prompt_tokens, 8);
        assert_eq!(r.breakpoints.len(), 1);
        assert_eq!(r.breakpoints[0].tokens, 4);
        let moved = body.replace(r#","cache_control":{"type":"ephemeral"}"#, "").replace(
            r#""text":"Hello, world!"},"#,
            r#""text":"Hello, world!","cache_control":{"type":"ephemeral","ttl":"1h"}},"#,
        );
        let r2 = parse_ok(&moved);
        assert_eq!((r2.breakpoints[0].tokens, r2.breakpoints[0].long_ttl), (8, true));
        let again = parse_ok(&moved.replace("\"ttl\":\"1h\"", "\"ttl\":\"5m\""));
        assert_eq!(again.breakpoints[0].hash, r2.breakpoints[0].hash, "the marker is not part of the prefix");
        assert_ne!(r.breakpoints[0].hash, r2.breakpoints[0].hash);
        assert!(
            message(&body.replace("\"data\":\"abc\"", "\"x\":1")).ends_with("redacted_thinking.data: Field required")
        );
    }
}
