//! Request bodies of the generation endpoints, parsed and validated into one shape.

use serde::Deserialize;
use serde_json::Value;

use super::{
    media,
    responses::object::{Params as ResponseParams, Reasoning},
    tools::{RawStructure, Structure},
};
use crate::{audio::chat::AudioOut, error::Error, tokens::Encoding};

mod responses;

pub use responses::{parse_responses, parse_responses_within};

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a final usage chunk with `choices: []`.
    #[serde(default)]
    pub include_usage: Option<bool>,
    /// vLLM: usage in every chunk.
    #[serde(default)]
    pub continuous_usage_stats: Option<bool>,
    /// OpenAI: pad chunks with `obfuscation` (default true, when the server pads at all).
    #[serde(default)]
    pub include_obfuscation: Option<bool>,
}

/// A chat message; only what token counting needs.
#[derive(Debug, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant`, `tool` or `function`.
    pub role: String,
    /// A string or a list of content parts.
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// An assistant's earlier tool calls (they count as prompt tokens).
    #[serde(default)]
    pub tool_calls: Option<Value>,
}

/// Message content.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Content parts: `text` (or `input_text`/`output_text`), `image_url`, `input_audio`, `video_url`.
    Parts(Vec<Value>),
}

impl MessageContent {
    /// The text of the message (its text parts joined).
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(t) => t.clone(),
            MessageContent::Parts(parts) => parts.iter().filter_map(|p| p.get("text")?.as_str()).collect(),
        }
    }
}

/// Prompt tokens as they are counted up, with their ids (for the prefix cache's block hashes).
#[derive(Debug, Clone)]
struct PromptCount {
    encoding: Encoding,
    tokens: u64,
    audio: u64,
    ids: Vec<u32>,
    /// Hashes of the media items (images, audio, video), for the multi-modal cache's metrics.
    media: Vec<u64>,
    /// Past this many tokens counting stops: the prompt exceeds the model's context window and
    /// is refused whatever its exact length.
    cap: u64,
}

impl PromptCount {
    fn new(encoding: Encoding) -> Self {
        PromptCount { encoding, tokens: 0, audio: 0, ids: Vec::new(), media: Vec::new(), cap: u64::MAX }
    }

    /// Counting for `model`, whose context window `window` tells.
    fn within(encoding: Encoding, window: Window<'_>, model: &str) -> Self {
        PromptCount { cap: window(model), ..PromptCount::new(encoding) }
    }

    fn over_cap(&self) -> bool {
        self.tokens > self.cap
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() || self.over_cap() {
            return;
        }
        let left = usize::try_from(self.cap - self.tokens).unwrap_or(usize::MAX);
        // A token is at least one byte: a text no longer than the tokens left cannot pass the
        // cap. A longer one is counted up to the cap first, and only encoded if it fits.
        if text.len() > left {
            let n = self.encoding.count_up_to(text, left);
            if n > left {
                self.tokens += n as u64;
                return;
            }
        }
        let ids = self.encoding.encode(text);
        self.tokens += ids.len() as u64;
        self.ids.extend(ids);
    }

    /// Tokens with no text of their own (images, audio, token-id prompts): ids derived from
    /// `source`, so the same media gives the same ids and a cache hit.
    fn opaque(&mut self, n: u64, source: &str) {
        self.tokens += n;
        self.ids.extend(media_ids(n, source));
    }

    fn content(&mut self, c: &MessageContent) {
        match c {
            MessageContent::Text(t) => self.text(t),
            MessageContent::Parts(parts) => parts.iter().for_each(|p| self.part(p)),
        }
    }

    fn part(&mut self, part: &Value) {
        if let Some(text) = part.get("text").and_then(Value::as_str) {
            return self.text(text);
        }
        let (visual, audio) = media::part_tokens(part);
        let source = part.to_string();
        if visual + audio > 0 {
            self.media.push(crate::sim::kv::hash_str(&source));
        }
        self.opaque(visual + audio, &source);
        self.audio += audio;
    }

    /// Structured data (tool definitions, earlier tool calls) counts as its compact JSON.
    fn json(&mut self, v: Option<&Value>) {
        if let Some(v) = v.filter(|v| !v.is_null() && !self.over_cap()) {
            self.text(&v.to_string());
        }
    }
}

/// `n` token ids standing for media or context with no text here, derived from `source`.
pub fn media_ids(n: u64, source: &str) -> impl Iterator<Item = u32> {
    let seed = crate::sim::kv::hash_str(source);
    (0..n).map(move |i| (crate::sim::kv::hash_block(seed, &[i as u32], 0) >> 40) as u32)
}

/// `POST /v1/chat/completions`, as decoded from JSON (public so that the CPU benches can compare
/// JSON parsers on the server's own request type).
#[derive(Debug, Deserialize)]
pub struct ChatBody {
    model: Option<String>,
    messages: Option<Vec<ChatMessage>>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    functions: Option<Value>,
    function_call: Option<Value>,
    response_format: Option<Value>,
    logprobs: Option<bool>,
    top_logprobs: Option<i64>,
    prediction: Option<Prediction>,
    modalities: Option<Value>,
    audio: Option<Value>,
    #[serde(flatten)]
    common: CommonBody,
}

/// `prediction: {type: "content", content}`.
#[derive(Debug, Deserialize)]
struct Prediction {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Option<MessageContent>,
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
    logprobs: Option<i64>,
    echo: Option<bool>,
    best_of: Option<i64>,
    #[serde(flatten)]
    common: CommonBody,
}

/// FakeAI's `POST /v1/text/generation`.
#[derive(Debug, Deserialize)]
struct TextGenerationBody {
    model: Option<String>,
    input: Option<String>,
    prompt: Option<String>,
    max_output_tokens: Option<i64>,
    #[serde(flatten)]
    common: CommonBody,
}

/// Parses a text-generation request: `input` (or `prompt`) is required, `max_output_tokens`
/// defaults to 100, and the answer is never streamed.
pub fn parse_text_generation(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    let fields = [("input", Kind::Str), ("prompt", Kind::Str), ("max_output_tokens", Kind::Int)];
    let req: TextGenerationBody = parse_json(body, &fields)?;
    let model = require_model(req.model)?;
    let input = req
        .input
        .or(req.prompt)
        .ok_or_else(|| Error::invalid_param("input", "Missing required parameter: 'input'."))?;
    let mut count = PromptCount::new(encoding);
    count.text(&input);
    let common = CommonBody {
        stream: None,
        stream_options: None,
        max_tokens: Some(req.max_output_tokens.or(req.common.max_tokens).unwrap_or(100)),
        max_completion_tokens: None,
        ..req.common
    };
    finish(model, common, count).map_err(max_tokens_named("max_output_tokens"))
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
    temperature: Option<f64>,
    top_p: Option<f64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    repetition_penalty: Option<f64>,
    top_k: Option<i64>,
    logit_bias: Option<serde_json::Map<String, Value>>,
    metadata: Option<serde_json::Map<String, Value>>,
    service_tier: Option<String>,
    user: Option<String>,
    store: Option<bool>,
    cache_salt: Option<String>,
    priority: Option<i64>,
}

/// `stop`: one string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// A validated generation request, whatever endpoint it came from.
#[derive(Debug, Clone, PartialEq, Default)]
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
    /// Of the prompt tokens, how many were input audio.
    pub prompt_audio_tokens: u64,
    /// Tool calls and `response_format`.
    pub structure: Structure,
    /// Log-probabilities of each output token, with this many alternatives each.
    pub logprobs: Option<u32>,
    /// Completions' `echo`: the prompt text, sent back before the completion.
    pub echo: Option<String>,
    /// vLLM's `continuous_usage_stats`: running usage in every chunk.
    pub continuous_usage: bool,
    /// Predicted output (`prediction.content`).
    pub prediction: Option<String>,
    /// Responses API: the response this one continues.
    pub previous_response_id: Option<String>,
    /// Responses API: keep the response for retrieval and continuation.
    pub store: bool,
    /// The caller's `user` field, for per-user metrics.
    pub user: Option<String>,
    /// Thinking forced on or off (Anthropic's `thinking`); `None`: as the model's name says.
    pub thinking: Option<bool>,
    /// At most this many reasoning tokens (Anthropic's `budget_tokens`).
    pub reasoning_budget: Option<u64>,
    /// How the prompt met the prompt cache (Anthropic's `cache_control`).
    pub prompt_cache: super::anthropic::cache::CacheUsage,
    /// Responses API: what the response object echoes.
    pub responses: Option<Box<ResponseParams>>,
    /// `stream_options.include_obfuscation` (default true).
    pub obfuscation: bool,
    /// Chat audio output (`modalities` with `"audio"`): the answer is also spoken.
    pub audio: Option<AudioOut>,
    /// The prompt's token ids (as many as `prompt_tokens` once context is inherited), for the
    /// prefix cache.
    pub prompt_ids: Vec<u32>,
    /// vLLM's `cache_salt`: only requests with the same salt share cached prefixes.
    pub cache_salt: Option<String>,
    /// vLLM's `priority` (lower runs first under `--scheduling-policy priority`).
    pub priority: i64,
    /// Hashes of the prompt's media items (images, audio, video), for vLLM's multi-modal cache
    /// metrics.
    pub media: Vec<u64>,
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

/// The context window of a model, by name (`u64::MAX` when unknown): prompt counting stops
/// beyond it.
pub type Window<'a> = &'a dyn Fn(&str) -> u64;

/// No window: every prompt is counted whole.
pub const UNBOUNDED: Window<'static> = &|_| u64::MAX;

/// Parses and validates a chat request; prompt tokens are the tokens of every message's text.
pub fn parse_chat(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    parse_chat_within(body, encoding, UNBOUNDED)
}

/// [`parse_chat`], counting the prompt only as far as the model's context `window`.
pub fn parse_chat_within(body: &[u8], encoding: Encoding, window: Window<'_>) -> Result<GenRequest, Error> {
    let req: ChatBody = parse_json(body, CHAT_FIELDS)?;
    let model = require_model(req.model)?;
    let messages =
        req.messages.ok_or_else(|| Error::invalid_param("messages", "Missing required parameter: 'messages'."))?;
    if messages.is_empty() {
        return Err(Error::invalid_param("messages", "'messages' must contain at least one message."));
    }
    let mut count = PromptCount::within(encoding, window, &model);
    for (i, m) in messages.iter().enumerate() {
        if !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant" | "tool" | "function") {
            let param = format!("messages.[{i}].role");
            return Err(Error::invalid_param(&param, format!("Invalid role {:?} in {param}.", m.role)));
        }
        check_content(i, m)?;
        m.content.iter().for_each(|c| count.content(c));
        count.json(m.tool_calls.as_ref());
    }
    let raw = RawStructure {
        tools: req.tools.as_ref(),
        tool_choice: req.tool_choice.as_ref(),
        parallel_tool_calls: req.parallel_tool_calls,
        functions: req.functions.as_ref(),
        function_call: req.function_call.as_ref(),
        response_format: req.response_format.as_ref(),
    };
    // Only tools look at the last user message (for the ones it names); a prompt beyond the
    // window is refused anyway, and copying and lowercasing 60 MB would stall the worker.
    let wants_last = (req.tools.is_some() || req.functions.is_some()) && !count.over_cap();
    let last = messages
        .last()
        .filter(|m| m.role == "user" && wants_last)
        .and_then(|m| m.content.as_ref())
        .map(MessageContent::text);
    let structure = raw.parse(last.as_deref())?;
    count.json(req.tools.as_ref().or(req.functions.as_ref()));
    let logprobs = match (req.logprobs.unwrap_or(false), req.top_logprobs) {
        (_, Some(k)) if !(0..=20).contains(&k) => {
            return Err(Error::invalid_param(
                "top_logprobs",
                format!("top_logprobs must be between 0 and 20, got {k}."),
            ));
        }
        (false, Some(_)) => {
            return Err(Error::invalid_param("top_logprobs", "top_logprobs requires logprobs to be true."));
        }
        (true, k) => Some(k.unwrap_or(0) as u32),
        (false, None) => None,
    };
    let prediction = match req.prediction {
        None => None,
        Some(Prediction { kind, content }) => {
            if kind.as_deref() != Some("content") {
                return Err(Error::invalid_param(
                    "prediction.type",
                    "Invalid value for 'prediction.type': expected 'content'.",
                ));
            }
            Some(content.map(|c| c.text()).unwrap_or_default())
        }
    };
    let store = req.common.store.unwrap_or(false);
    let mut r = finish(model, req.common, count)?;
    r.store = store;
    r.structure = structure;
    r.logprobs = logprobs;
    r.prediction = prediction;
    r.audio = AudioOut::parse(req.modalities.as_ref(), req.audio.as_ref(), r.stream)?;
    Ok(r)
}

/// Parses and validates a completions request; token-id prompts count as their length.
pub fn parse_completion(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    parse_completion_within(body, encoding, UNBOUNDED)
}

/// [`parse_completion`], counting the prompt only as far as the model's context `window`.
pub fn parse_completion_within(body: &[u8], encoding: Encoding, window: Window<'_>) -> Result<GenRequest, Error> {
    let req: CompletionBody = parse_json(body, COMPLETION_FIELDS)?;
    let model = require_model(req.model)?;
    let prompt = req.prompt.ok_or_else(|| Error::invalid_param("prompt", "Missing required parameter: 'prompt'."))?;
    check_token_ids(&prompt, encoding)?;
    let mut count = PromptCount::within(encoding, window, &model);
    // Several prompts are looked up in the prefix cache as one sequence, in order.
    let id = |id: &u64| u32::try_from(*id).unwrap_or(u32::MAX);
    let ids = |count: &mut PromptCount, list: &[u64]| {
        count.ids.extend(list.iter().map(id));
        count.tokens += list.len() as u64;
    };
    match &prompt {
        Prompt::Text(t) => count.text(t),
        Prompt::Texts(ts) => ts.iter().for_each(|t| count.text(t)),
        Prompt::Ids(list) => ids(&mut count, list),
        Prompt::IdLists(lists) => lists.iter().for_each(|l| ids(&mut count, l)),
    }
    let mut common = req.common;
    // OpenAI's legacy completions default to 16 tokens.
    if common.max_tokens.is_none() && common.max_completion_tokens.is_none() {
        common.max_tokens = Some(16);
    }
    let logprobs = match req.logprobs {
        Some(k @ 0..=5) => Some(k as u32),
        Some(k) => return Err(Error::invalid_param("logprobs", format!("logprobs must be between 0 and 5, got {k}."))),
        None => None,
    };
    let n = common.n.unwrap_or(1);
    if let Some(best_of) = req.best_of.filter(|&b| b < n || b > 20) {
        let message = format!("best_of must be between n ({n}) and 20, got {best_of}.");
        return Err(Error::invalid_param("best_of", message));
    }
    let echo = match (req.echo.unwrap_or(false), &prompt) {
        (false, _) => None,
        (true, Prompt::Text(t)) => Some(t.clone()),
        (true, Prompt::Texts(ts)) => Some(ts.concat()),
        (true, _) => return Err(Error::invalid_param("echo", "echo needs a text prompt, not token ids.")),
    };
    let mut r = finish(model, common, count)?;
    r.logprobs = logprobs;
    r.echo = echo;
    Ok(r)
}

/// Content part types a chat message may carry: OpenAI's, plus the Responses API's text parts
/// and vLLM's `video_url` that other clients send to OpenAI-compatible servers.
const PART_TYPES: &[&str] =
    &["text", "image_url", "input_audio", "refusal", "audio", "file", "input_text", "output_text", "video_url"];

/// Message `i` has content where its role requires it, and every content part a known `type`
/// (OpenAI answers both with 400; a part nobody can read must not count as an empty prompt).
fn check_content(i: usize, m: &ChatMessage) -> Result<(), Error> {
    let parts = match &m.content {
        None if matches!(m.role.as_str(), "system" | "developer" | "user" | "tool") => {
            return Err(missing_parameter(&format!("messages[{i}].content")));
        }
        Some(MessageContent::Parts(parts)) => parts,
        _ => return Ok(()),
    };
    for (j, part) in parts.iter().enumerate() {
        let param = format!("messages[{i}].content[{j}].type");
        match part.get("type").and_then(Value::as_str) {
            None => return Err(missing_parameter(&param)),
            Some(kind) if !PART_TYPES.contains(&kind) => {
                let message = format!(
                    "Invalid value: '{kind}'. Supported values are: 'text', 'image_url', 'input_audio', 'refusal', \
                     'audio', and 'file'."
                );
                return Err(Error::invalid_param(&param, message).with_code("invalid_value"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// OpenAI's error for a required parameter that was not sent.
fn missing_parameter(param: &str) -> Error {
    Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
        .with_code("missing_required_parameter")
}

/// A prompt's token ids must be in the vocabulary (its ordinary tokens and end-of-text).
fn check_token_ids(prompt: &Prompt, encoding: Encoding) -> Result<(), Error> {
    let max = u64::from(encoding.end_of_text().0);
    let ids: Box<dyn Iterator<Item = &u64>> = match prompt {
        Prompt::Ids(ids) => Box::new(ids.iter()),
        Prompt::IdLists(lists) => Box::new(lists.iter().flatten()),
        Prompt::Text(_) | Prompt::Texts(_) => return Ok(()),
    };
    let vocab = u64::from(encoding.vocab_size());
    match ids.copied().find(|&id| id >= vocab && id != max) {
        Some(id) => Err(Error::invalid_param(
            "prompt",
            format!("Invalid token in prompt: {id}. Minimum value is 0, maximum value is {max} (inclusive)."),
        )
        .with_code("invalid_value")),
        None => Ok(()),
    }
}

/// Most `logit_bias` entries OpenAI accepts.
const MAX_LOGIT_BIAS: usize = 300;
/// Most stop sequences OpenAI accepts.
const MAX_STOPS: usize = 4;
/// Longest stop sequence, in characters. OpenAI publishes no bound; a stop sequence is matched
/// against the output, so one longer than any output a test asks for only costs memory.
const MAX_STOP_CHARS: usize = 4096;

/// `logit_bias` and `stop` within OpenAI's bounds, in its words.
fn check_bounds(logit_bias: Option<&serde_json::Map<String, Value>>, stop: &[String]) -> Result<(), Error> {
    if let Some(n) = logit_bias.map(serde_json::Map::len).filter(|&n| n > MAX_LOGIT_BIAS) {
        let message = format!(
            "Invalid 'logit_bias': too many properties. Expected an object with at most {MAX_LOGIT_BIAS} \
             properties, but got an object with {n} properties instead."
        );
        return Err(Error::invalid_param("logit_bias", message).with_code("object_above_max_properties"));
    }
    if stop.len() > MAX_STOPS {
        return Err(Error::array_too_long("stop", MAX_STOPS, stop.len()));
    }
    for (i, s) in stop.iter().enumerate() {
        let chars = s.chars().count();
        if chars > MAX_STOP_CHARS {
            let message = format!(
                "Invalid 'stop[{i}]': string too long. Expected a string with maximum length {MAX_STOP_CHARS}, but \
                 got a string with length {chars} instead."
            );
            return Err(Error::invalid_param(&format!("stop[{i}]"), message).with_code("string_above_max_length"));
        }
    }
    Ok(())
}

fn require_model(model: Option<String>) -> Result<String, Error> {
    model.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
        Error::invalid_param("model", "You must provide a model parameter.").with_code("missing_required_parameter")
    })
}

fn finish(model: String, c: CommonBody, count: PromptCount) -> Result<GenRequest, Error> {
    check_sampling(&c)?;
    let stream = c.stream.unwrap_or(false);
    if c.stream_options.is_some() && !stream {
        return Err(Error::invalid_param(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
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
    let options = c.stream_options.unwrap_or_default();
    let include_usage = options.include_usage.unwrap_or(false);
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
    check_bounds(c.logit_bias.as_ref(), &stop)?;
    if stop.iter().any(String::is_empty) {
        return Err(Error::invalid_param("stop", "'stop' takes up to 4 non-empty sequences."));
    }
    if c.cache_salt.as_deref() == Some("") {
        return Err(Error::invalid_param(
            "cache_salt",
            "Parameter 'cache_salt' must be a non-empty string if provided.",
        ));
    }
    Ok(GenRequest {
        model,
        stream,
        include_usage,
        prompt_tokens: count.tokens,
        max_tokens,
        min_tokens,
        ignore_eos: c.ignore_eos.unwrap_or(false),
        seed: c.seed.map(|s| s as u64),
        stop,
        n,
        reasoning_share,
        prompt_audio_tokens: count.audio,
        structure: Structure::default(),
        logprobs: None,
        echo: None,
        continuous_usage: options.continuous_usage_stats.unwrap_or(false),
        prediction: None,
        previous_response_id: None,
        store: false,
        user: c.user,
        thinking: None,
        reasoning_budget: None,
        prompt_cache: Default::default(),
        responses: None,
        obfuscation: options.include_obfuscation.unwrap_or(true),
        audio: None,
        prompt_ids: count.ids,
        cache_salt: c.cache_salt,
        priority: c.priority.unwrap_or(0),
        media: count.media,
    })
}

/// Sampling parameters change nothing here, but out-of-range values get OpenAI's 400.
fn check_sampling(c: &CommonBody) -> Result<(), Error> {
    let ranges = [
        ("temperature", c.temperature, 0.0, 2.0),
        ("top_p", c.top_p, 0.0, 1.0),
        ("frequency_penalty", c.frequency_penalty, -2.0, 2.0),
        ("presence_penalty", c.presence_penalty, -2.0, 2.0),
        ("repetition_penalty", c.repetition_penalty, f64::MIN_POSITIVE, f64::MAX),
    ];
    for (param, value, lo, hi) in ranges {
        if let Some(v) = value.filter(|v| !(lo..=hi).contains(v)) {
            let message = match hi == f64::MAX {
                true => format!("Invalid '{param}': must be greater than 0, got {v}."),
                false => format!("Invalid '{param}': must be between {lo} and {hi}, got {v}."),
            };
            return Err(Error::invalid_param(param, message).with_code("invalid_value"));
        }
    }
    if let Some(k) = c.top_k.filter(|&k| k < -1 || k == 0) {
        return Err(Error::invalid_param("top_k", format!("top_k must be -1 (off) or at least 1, got {k}.")));
    }
    for (token, bias) in c.logit_bias.iter().flatten() {
        let bias = bias.as_f64().filter(|b| (-100.0..=100.0).contains(b));
        if token.parse::<u32>().is_err() || bias.is_none() {
            let message = format!(
                "Invalid 'logit_bias': keys must be token ids and values numbers between -100 and 100 (at {token:?})."
            );
            return Err(Error::invalid_param("logit_bias", message));
        }
    }
    if let Some(m) = &c.metadata {
        let bad = m.iter().find(|(k, v)| k.len() > 64 || v.as_str().is_none_or(|s| s.len() > 512));
        if m.len() > 16 || bad.is_some() {
            let message = "Invalid 'metadata': at most 16 string values of up to 512 characters, keys up to 64.";
            return Err(Error::invalid_param("metadata", message));
        }
    }
    if let Some(tier) =
        c.service_tier.as_deref().filter(|t| !["auto", "default", "flex", "scale", "priority"].contains(t))
    {
        let message = format!("Invalid 'service_tier' {tier:?}: expected auto, default, flex, scale or priority.");
        return Err(Error::invalid_param("service_tier", message));
    }
    Ok(())
}

/// Renames the `max_tokens` param of an error to the endpoint's own name for it.
fn max_tokens_named(param: &'static str) -> impl Fn(Error) -> Error {
    move |e| if e.param.as_deref() == Some("max_tokens") { e.with_param(param) } else { e }
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
    Num,
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
    ("temperature", Kind::Num),
    ("top_p", Kind::Num),
    ("frequency_penalty", Kind::Num),
    ("presence_penalty", Kind::Num),
    ("repetition_penalty", Kind::Num),
    ("top_k", Kind::Int),
    ("logit_bias", Kind::Object),
    ("user", Kind::Str),
    ("metadata", Kind::Object),
    ("store", Kind::Bool),
    ("service_tier", Kind::Str),
    ("cache_salt", Kind::Str),
    ("priority", Kind::Int),
];
const CHAT_FIELDS: &[(&str, Kind)] = &[
    ("messages", Kind::Array),
    ("tools", Kind::Array),
    ("functions", Kind::Array),
    ("parallel_tool_calls", Kind::Bool),
    ("response_format", Kind::Object),
    ("logprobs", Kind::Bool),
    ("top_logprobs", Kind::Int),
    ("prediction", Kind::Object),
    ("modalities", Kind::Array),
    ("audio", Kind::Object),
];
const COMPLETION_FIELDS: &[(&str, Kind)] =
    &[("prompt", Kind::StrOrArray), ("logprobs", Kind::Int), ("echo", Kind::Bool), ("best_of", Kind::Int)];

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
        Kind::Num => v.is_number(),
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
