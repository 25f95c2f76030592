//! Request bodies of the generation endpoints, parsed and validated into one shape.

use serde::Deserialize;

use crate::{error::Error, tokens::Encoding};

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a final usage chunk with `choices: []`.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// A chat message; only what token counting needs.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// A string or a list of content parts.
    #[serde(default)]
    pub content: Option<MessageContent>,
}

/// Message content.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Content parts.
    Parts(Vec<ContentPart>),
}

/// One content part.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    /// Part type, e.g. `text`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
struct ChatBody {
    model: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    #[serde(flatten)]
    common: CommonBody,
}

/// A `/v1/completions` prompt in any of its four shapes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// One string.
    Text(String),
    /// Several strings.
    Texts(Vec<String>),
    /// One token-id list.
    Ids(Vec<u64>),
    /// Several token-id lists.
    IdLists(Vec<Vec<u64>>),
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
struct CompletionBody {
    model: Option<String>,
    prompt: Option<Prompt>,
    #[serde(flatten)]
    common: CommonBody,
}

/// `POST /v1/responses`.
#[derive(Debug, Deserialize)]
struct ResponsesBody {
    model: Option<String>,
    input: Option<ResponsesInput>,
    instructions: Option<String>,
    max_output_tokens: Option<i64>,
    reasoning: Option<ReasoningOptions>,
    #[serde(flatten)]
    common: CommonBody,
}

/// `input`: a string or a list of items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ResponsesInput {
    Text(String),
    Items(Vec<InputItem>),
}

/// One input item: a message (`role` + `content`) or a bare content item with `text`.
#[derive(Debug, Deserialize)]
struct InputItem {
    content: Option<MessageContent>,
    text: Option<String>,
}

/// `reasoning: {effort}`.
#[derive(Debug, Deserialize)]
struct ReasoningOptions {
    effort: Option<String>,
}

/// Parses a Responses API request: prompt tokens count `instructions` and every input text.
pub fn parse_responses(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    let req: ResponsesBody = parse_json(body, &[("input", Kind::StrOrArray), ("instructions", Kind::Str)])?;
    let model = require_model(req.model)?;
    let input = req.input.ok_or_else(|| Error::invalid_param("input", "Missing required parameter: 'input'."))?;
    let mut prompt_tokens = req.instructions.as_deref().map_or(0, |t| encoding.count(t) as u64);
    prompt_tokens += match &input {
        ResponsesInput::Text(t) => encoding.count(t) as u64,
        ResponsesInput::Items(items) => items
            .iter()
            .map(|i| {
                i.content.as_ref().map_or(0, |c| content_tokens(c, encoding))
                    + i.text.as_deref().map_or(0, |t| encoding.count(t) as u64)
            })
            .sum(),
    };
    let effort = req.reasoning.and_then(|r| r.effort);
    let common = CommonBody {
        max_tokens: req.max_output_tokens.or(req.common.max_tokens),
        max_completion_tokens: None,
        reasoning_effort: effort.or(req.common.reasoning_effort),
        ..req.common
    };
    finish(model, common, prompt_tokens)
        .map_err(|e| if e.param.as_deref() == Some("max_tokens") { e.with_param("max_output_tokens") } else { e })
}

/// `POST /v1/messages` (Anthropic).
#[derive(Debug, Deserialize)]
struct MessagesBody {
    model: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    system: Option<MessageContent>,
    max_tokens: Option<i64>,
    stop_sequences: Option<Vec<String>>,
    #[serde(flatten)]
    common: CommonBody,
}

/// Parses an Anthropic Messages request: `max_tokens` is required; the system prompt counts.
pub fn parse_messages(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    let req: MessagesBody = parse_json(body, &[("messages", Kind::Array), ("stop_sequences", Kind::Array)])?;
    let model = require_model(req.model)?;
    let messages = req.messages.ok_or_else(|| Error::invalid_param("messages", "messages: Field required"))?;
    if messages.is_empty() {
        return Err(Error::invalid_param("messages", "messages: at least one message is required"));
    }
    let max_tokens = req.max_tokens.ok_or_else(|| Error::invalid_param("max_tokens", "max_tokens: Field required"))?;
    let mut prompt_tokens = req.system.as_ref().map_or(0, |s| content_tokens(s, encoding));
    for (i, m) in messages.iter().enumerate() {
        if m.role != "user" && m.role != "assistant" {
            let param = format!("messages.[{i}].role");
            return Err(Error::invalid_param(&param, format!("{param}: expected user or assistant, got {:?}", m.role)));
        }
        prompt_tokens += m.content.as_ref().map_or(0, |c| content_tokens(c, encoding));
    }
    let common = CommonBody {
        max_tokens: Some(max_tokens),
        max_completion_tokens: None,
        stop: req.stop_sequences.map(Stop::Many).or(req.common.stop),
        ..req.common
    };
    finish(model, common, prompt_tokens)
}

fn content_tokens(c: &MessageContent, encoding: Encoding) -> u64 {
    match c {
        MessageContent::Text(t) => encoding.count(t) as u64,
        MessageContent::Parts(parts) => {
            parts.iter().filter_map(|p| p.text.as_deref()).map(|t| encoding.count(t) as u64).sum()
        }
    }
}

/// `POST /generate` and `/generate_stream` (Hugging Face TGI).
#[derive(Debug, Deserialize)]
struct TgiBody {
    inputs: Option<String>,
    #[serde(default)]
    parameters: TgiParameters,
    model: Option<String>,
}

/// TGI's `parameters` (others are accepted and ignored).
#[derive(Debug, Default, Deserialize)]
struct TgiParameters {
    max_new_tokens: Option<i64>,
    stop: Option<Vec<String>>,
    seed: Option<i64>,
    ignore_eos: Option<bool>,
    min_tokens: Option<i64>,
}

/// Parses a TGI request; `stream` is set by the path. The model is `model` if given, else `tgi`.
pub fn parse_tgi(body: &[u8], encoding: Encoding, stream: bool) -> Result<GenRequest, Error> {
    let req: TgiBody = parse_json(body, &[("inputs", Kind::Str), ("parameters", Kind::Object)])?;
    let inputs = req.inputs.ok_or_else(|| Error::invalid_param("inputs", "Missing required parameter: 'inputs'."))?;
    let p = req.parameters;
    let common = CommonBody {
        stream: Some(stream),
        max_tokens: Some(p.max_new_tokens.unwrap_or(100)),
        min_tokens: p.min_tokens,
        ignore_eos: p.ignore_eos,
        seed: p.seed,
        stop: p.stop.map(Stop::Many),
        ..CommonBody::default()
    };
    finish(req.model.unwrap_or_else(|| "tgi".to_owned()), common, encoding.count(&inputs) as u64).map_err(|e| {
        if e.param.as_deref() == Some("max_tokens") { e.with_param("parameters.max_new_tokens") } else { e }
    })
}

/// Fields shared by chat and completions.
#[derive(Debug, Default, Deserialize)]
struct CommonBody {
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    min_tokens: Option<i64>,
    ignore_eos: Option<bool>,
    seed: Option<i64>,
    stop: Option<Stop>,
    n: Option<i64>,
    reasoning_effort: Option<String>,
}

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// A validated generation request, whatever endpoint it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    /// Model name.
    pub model: String,
    /// Stream the response as SSE.
    pub stream: bool,
    /// Send the usage chunk at the end of a stream.
    pub include_usage: bool,
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Upper bound on output tokens, if the client set one.
    pub max_tokens: Option<u64>,
    /// Lower bound on output tokens.
    pub min_tokens: u64,
    /// Generate exactly `max_tokens`.
    pub ignore_eos: bool,
    /// Seed for the output text.
    pub seed: Option<u64>,
    /// Stop sequences (at most 4, non-empty).
    pub stop: Vec<String>,
    /// Number of choices, 1–128.
    pub n: u64,
    /// Share of the output a reasoning model spends reasoning, from `reasoning_effort`.
    pub reasoning_share: f64,
}

/// The share of the output spent reasoning at each `reasoning_effort`.
fn reasoning_share(effort: Option<&str>) -> Result<f64, Error> {
    Ok(match effort {
        Some("none") => 0.0,
        Some("minimal") => 0.1,
        Some("low") => 0.25,
        None | Some("medium") => 0.5,
        Some("high") => 0.75,
        Some(other) => {
            return Err(Error::invalid_param(
                "reasoning_effort",
                format!("Invalid reasoning_effort {other:?}: expected none, minimal, low, medium or high."),
            ));
        }
    })
}

/// Parses and validates a chat request; prompt tokens are the tokens of every message's text.
pub fn parse_chat(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    let req: ChatBody = parse_json(body, CHAT_FIELDS)?;
    let model = require_model(req.model)?;
    let messages =
        req.messages.ok_or_else(|| Error::invalid_param("messages", "Missing required parameter: 'messages'."))?;
    if messages.is_empty() {
        return Err(Error::invalid_param("messages", "'messages' must contain at least one message."));
    }
    let mut prompt_tokens = 0u64;
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant" | "tool" | "function") {
            let param = format!("messages.[{i}].role");
            return Err(Error::invalid_param(&param, format!("Invalid role {:?} in {param}.", m.role)));
        }
        prompt_tokens += m.content.as_ref().map_or(0, |c| content_tokens(c, encoding));
    }
    finish(model, req.common, prompt_tokens)
}

/// Parses and validates a completions request; token-id prompts count as their length.
pub fn parse_completion(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    let req: CompletionBody = parse_json(body, COMPLETION_FIELDS)?;
    let model = require_model(req.model)?;
    let prompt = req.prompt.ok_or_else(|| Error::invalid_param("prompt", "Missing required parameter: 'prompt'."))?;
    let prompt_tokens = match &prompt {
        Prompt::Text(t) => encoding.count(t),
        Prompt::Texts(ts) => ts.iter().map(|t| encoding.count(t)).sum(),
        Prompt::Ids(ids) => ids.len(),
        Prompt::IdLists(lists) => lists.iter().map(Vec::len).sum(),
    } as u64;
    let mut common = req.common;
    // OpenAI's legacy completions default to 16 tokens.
    if common.max_tokens.is_none() && common.max_completion_tokens.is_none() {
        common.max_tokens = Some(16);
    }
    finish(model, common, prompt_tokens)
}

fn require_model(model: Option<String>) -> Result<String, Error> {
    model.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
        Error::invalid_param("model", "You must provide a model parameter.").with_code("missing_required_parameter")
    })
}

fn finish(model: String, c: CommonBody, prompt_tokens: u64) -> Result<GenRequest, Error> {
    let stream = c.stream.unwrap_or(false);
    let max_tokens = match (c.max_completion_tokens, c.max_tokens) {
        (Some(n), _) => Some(positive("max_completion_tokens", n)?),
        (None, Some(n)) => Some(positive("max_tokens", n)?),
        (None, None) => None,
    };
    let min_tokens = match c.min_tokens {
        Some(n) if n < 0 => return Err(Error::invalid_param("min_tokens", "min_tokens must be >= 0.")),
        Some(n) => n as u64,
        None => 0,
    };
    if let Some(max) = max_tokens.filter(|&max| min_tokens > max) {
        return Err(Error::invalid_param(
            "min_tokens",
            format!("min_tokens ({min_tokens}) must be <= max_tokens ({max})."),
        ));
    }
    let include_usage = c.stream_options.and_then(|o| o.include_usage).unwrap_or(false);
    let stop = match c.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    let reasoning_share = reasoning_share(c.reasoning_effort.as_deref())?;
    let n = match c.n {
        None => 1,
        Some(n @ 1..=128) => n as u64,
        Some(n) => return Err(Error::invalid_param("n", format!("n must be between 1 and 128, got {n}."))),
    };
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err(Error::invalid_param("stop", "'stop' takes up to 4 non-empty sequences."));
    }
    Ok(GenRequest {
        model,
        stream,
        include_usage,
        prompt_tokens,
        max_tokens,
        min_tokens,
        ignore_eos: c.ignore_eos.unwrap_or(false),
        seed: c.seed.map(|s| s as u64),
        stop,
        n,
        reasoning_share,
    })
}

fn positive(param: &str, n: i64) -> Result<u64, Error> {
    if n < 1 {
        return Err(
            Error::invalid_param(param, format!("{param} must be at least 1, got {n}.")).with_code("invalid_value")
        );
    }
    Ok(n as u64)
}

/// The JSON type a top-level field must have.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Array,
    Object,
    StrOrArray,
}

const COMMON_FIELDS: &[(&str, Kind)] = &[
    ("model", Kind::Str),
    ("stream", Kind::Bool),
    ("stream_options", Kind::Object),
    ("max_tokens", Kind::Int),
    ("max_completion_tokens", Kind::Int),
    ("min_tokens", Kind::Int),
    ("ignore_eos", Kind::Bool),
    ("seed", Kind::Int),
    ("stop", Kind::StrOrArray),
    ("n", Kind::Int),
    ("reasoning_effort", Kind::Str),
];
const CHAT_FIELDS: &[(&str, Kind)] = &[("messages", Kind::Array)];
const COMPLETION_FIELDS: &[(&str, Kind)] = &[("prompt", Kind::StrOrArray)];

/// Parses `body`; on failure, names the offending top-level parameter when there is one.
fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8], fields: &[(&str, Kind)]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Error::bad_request(format!(
                "We could not parse the JSON body of your request. ({e}) The request body must be a JSON object."
            ));
        };
        let wrong = COMMON_FIELDS
            .iter()
            .chain(fields)
            .find(|(name, kind)| map.get(*name).is_some_and(|v| !v.is_null() && !has_kind(v, *kind)));
        match wrong {
            Some((name, _)) => Error::invalid_param(name, format!("Invalid type for '{name}': {e}")),
            None => Error::bad_request(format!("Invalid request: {e}")),
        }
    })
}

fn has_kind(v: &serde_json::Value, kind: Kind) -> bool {
    match kind {
        Kind::Str => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Int => v.is_i64() || v.is_u64(),
        Kind::Array => v.is_array(),
        Kind::Object => v.is_object(),
        Kind::StrOrArray => v.is_string() || v.is_array(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding::Cl100kBase;

    #[test]
    fn chat_counts_every_message() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"Hello, world!"},
            {"role":"developer","content":[{"type":"text","text":"Hello, world!"}]},{"role":"assistant","content":null}],
            "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":8,"max_tokens":99,"ignore_eos":true}"#;
        let r = parse_chat(body, ENC).unwrap();
        assert_eq!(r.prompt_tokens, 8);
        assert_eq!(r.max_tokens, Some(8));
        assert!(r.stream && r.include_usage && r.ignore_eos);
    }

    #[test]
    fn completion_prompt_shapes() {
        let count = |p: &str| parse_completion(format!(r#"{{"model":"m","prompt":{p}}}"#).as_bytes(), ENC).unwrap();
        assert_eq!(count(r#""Hello, world!""#).prompt_tokens, 4);
        assert_eq!(count(r#"["Hello, world!","Hello, world!"]"#).prompt_tokens, 8);
        assert_eq!(count("[1,2,3]").prompt_tokens, 3);
        assert_eq!(count("[[1,2],[3,4,5]]").prompt_tokens, 5);
        assert_eq!(count(r#""x""#).max_tokens, Some(16));
    }

    #[test]
    fn errors_name_the_param() {
        let err = |b: &str| parse_chat(b.as_bytes(), ENC).unwrap_err();
        assert_eq!(err(r#"{"messages":[{"role":"user","content":"x"}]}"#).param.as_deref(), Some("model"));
        assert_eq!(err(r#"{"model":"","messages":[]}"#).param.as_deref(), Some("model"));
        assert_eq!(err(r#"{"model":"m"}"#).param.as_deref(), Some("messages"));
        assert_eq!(err(r#"{"model":"m","messages":[]}"#).param.as_deref(), Some("messages"));
        assert_eq!(err(r#"{"model":"m","messages":"hi"}"#).param.as_deref(), Some("messages"));
        let m = r#""messages":[{"role":"user","content":"x"}]"#;
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"max_tokens":"5"}}"#)).param.as_deref(), Some("max_tokens"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"max_tokens":0}}"#)).param.as_deref(), Some("max_tokens"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"stream":"yes"}}"#)).param.as_deref(), Some("stream"));
        let e = err(&format!(r#"{{"model":"m",{m},"max_tokens":5,"min_tokens":6}}"#));
        assert_eq!(e.param.as_deref(), Some("min_tokens"));
        assert_eq!(err(r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#).status, 400);
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"stop":["a","b","c","d","e"]}}"#)).param.as_deref(), Some("stop"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"stop":""}}"#)).param.as_deref(), Some("stop"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"stop":5}}"#)).param.as_deref(), Some("stop"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"n":0}}"#)).param.as_deref(), Some("n"));
        assert_eq!(err(&format!(r#"{{"model":"m",{m},"n":129}}"#)).param.as_deref(), Some("n"));
        let e = err(&format!(r#"{{"model":"m",{m},"reasoning_effort":"extreme"}}"#));
        assert_eq!(e.param.as_deref(), Some("reasoning_effort"));
        assert!(err("{not json").param.is_none());
        assert_eq!(err("[1,2]").status, 400);
    }
}
