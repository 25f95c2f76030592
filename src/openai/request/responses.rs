//! The Responses API's request: `input` as text or items, `instructions`, and everything the
//! response object echoes back.

use serde::Deserialize;
use serde_json::Value;

use super::*;

/// `POST /v1/responses`.
#[derive(Debug, Deserialize)]
struct ResponsesBody {
    model: Option<String>,
    input: Option<ResponsesInput>,
    instructions: Option<MessageContent>,
    max_output_tokens: Option<i64>,
    reasoning: Option<ReasoningOptions>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    text: Option<TextOptions>,
    previous_response_id: Option<String>,
    truncation: Option<String>,
    background: Option<bool>,
    conversation: Option<Value>,
    top_logprobs: Option<u64>,
    max_tool_calls: Option<u64>,
    prompt: Option<Value>,
    prompt_cache_key: Option<String>,
    prompt_cache_retention: Option<String>,
    safety_identifier: Option<String>,
    #[serde(flatten)]
    common: CommonBody,
}

/// `text: {format, verbosity}`: the Responses API's `response_format`.
#[derive(Debug, Deserialize)]
struct TextOptions {
    format: Option<Value>,
    verbosity: Option<String>,
}

/// `input`: a string or a list of items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ResponsesInput {
    Text(String),
    Items(Vec<InputItem>),
}

/// One input item: a message (`role` + `content`), a bare content item with `text`, an earlier
/// `function_call` (`arguments`) or a tool result (`function_call_output` with `output`).
#[derive(Debug, Deserialize)]
struct InputItem {
    role: Option<String>,
    content: Option<MessageContent>,
    text: Option<String>,
    arguments: Option<String>,
    output: Option<Value>,
}

/// `reasoning: {effort, summary}`.
#[derive(Debug, Deserialize)]
struct ReasoningOptions {
    effort: Option<String>,
    summary: Option<String>,
}

/// Parses a Responses API request: prompt tokens count `instructions` and every input text.
pub fn parse_responses(body: &[u8], encoding: Encoding) -> Result<GenRequest, Error> {
    parse_responses_within(body, encoding, super::UNBOUNDED)
}

/// [`parse_responses`], counting the prompt only as far as the model's context `window`.
pub fn parse_responses_within(body: &[u8], encoding: Encoding, window: super::Window<'_>) -> Result<GenRequest, Error> {
    let fields = [
        ("input", Kind::StrOrArray),
        ("instructions", Kind::StrOrArray),
        ("tools", Kind::Array),
        ("parallel_tool_calls", Kind::Bool),
        ("text", Kind::Object),
        ("previous_response_id", Kind::Str),
        ("max_output_tokens", Kind::Int),
        ("truncation", Kind::Str),
        ("background", Kind::Bool),
        ("top_logprobs", Kind::Int),
        ("max_tool_calls", Kind::Int),
    ];
    let req: ResponsesBody = parse_json(body, &fields)?;
    let model = require_model(req.model.clone())?;
    let input =
        req.input.as_ref().ok_or_else(|| Error::invalid_param("input", "Missing required parameter: 'input'."))?;
    let mut count = PromptCount::within(encoding, window, &model);
    match &req.instructions {
        Some(MessageContent::Text(t)) => count.text(t),
        Some(MessageContent::Parts(items)) => items.iter().for_each(|i| count.json(Some(i))),
        None => {}
    }
    let last_user = match input {
        ResponsesInput::Text(t) => {
            count.text(t);
            Some(t.clone())
        }
        ResponsesInput::Items(items) => {
            for item in items {
                item.content.iter().for_each(|c| count.content(c));
                count.text(item.text.as_deref().unwrap_or(""));
                count.text(item.arguments.as_deref().unwrap_or(""));
                match &item.output {
                    Some(Value::String(s)) => count.text(s),
                    other => count.json(other.as_ref()),
                }
            }
            let last = items.last().filter(|i| i.role.as_deref().is_none_or(|r| r == "user"));
            last.and_then(|i| i.content.as_ref().map(MessageContent::text).or(i.text.clone()))
        }
    };
    let params = responses_params(&req)?;
    // Responses tools are flat (`{type, name, parameters}`); only function tools can be called.
    let tools: Option<Value> = req.tools.map(|tools| {
        let functions = tools.into_iter().filter(|t| t.get("type").and_then(Value::as_str) == Some("function"));
        functions.map(|t| serde_json::json!({"type": "function", "function": t})).collect()
    });
    let format = req.text.and_then(|t| t.format).map(|f| match f.get("type").and_then(Value::as_str) {
        Some("json_schema") => serde_json::json!({"type": "json_schema", "json_schema": f}),
        _ => f,
    });
    // A built-in tool's choice (`{"type": "file_search"}`), or any choice among built-in tools
    // only, is not about functions.
    let has_functions = tools.as_ref().and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    let tool_choice = req
        .tool_choice
        .as_ref()
        .filter(|c| has_functions && c.get("type").and_then(Value::as_str).is_none_or(|kind| kind == "function"));
    let raw = RawStructure {
        tools: tools.as_ref(),
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format: format.as_ref(),
        ..RawStructure::default()
    };
    let structure = raw.parse(last_user.as_deref())?;
    count.json(tools.as_ref().filter(|t| t.as_array().is_some_and(|a| !a.is_empty())));
    let effort = req.reasoning.and_then(|r| r.effort);
    let common = CommonBody {
        max_tokens: req.max_output_tokens.or(req.common.max_tokens),
        max_completion_tokens: None,
        reasoning_effort: effort.or(req.common.reasoning_effort),
        ..req.common
    };
    let mut r = finish(model, common, count).map_err(max_tokens_named("max_output_tokens"))?;
    r.structure = structure;
    r.previous_response_id = req.previous_response_id;
    r.store = params.store;
    r.responses = Some(Box::new(params));
    Ok(r)
}

/// What the response object echoes of a Responses request, defaulted as OpenAI does.
fn responses_params(req: &ResponsesBody) -> Result<ResponseParams, Error> {
    let defaults = ResponseParams::default();
    let truncation = req.truncation.clone().unwrap_or(defaults.truncation);
    if truncation != "auto" && truncation != "disabled" {
        let message = format!("Invalid value for 'truncation': {truncation:?}; expected auto or disabled.");
        return Err(Error::invalid_param("truncation", message).with_code("invalid_value"));
    }
    let store = req.common.store.unwrap_or(true);
    let background = req.background.unwrap_or(false);
    if background && !store {
        return Err(Error::invalid_param("background", "Background mode requires 'store' to be true."));
    }
    let conversation = match &req.conversation {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(serde_json::json!({"id": id})),
        Some(Value::Object(o)) if o.get("id").is_some_and(Value::is_string) => Some(serde_json::json!({"id": o["id"]})),
        Some(_) => return Err(Error::invalid_param("conversation", "'conversation' must be an id or {\"id\": …}.")),
    };
    if conversation.is_some() && req.previous_response_id.is_some() {
        let message = "'conversation' and 'previous_response_id' cannot be used together.";
        return Err(Error::invalid_param("conversation", message));
    }
    let text = req.text.as_ref();
    let reasoning = req.reasoning.as_ref();
    Ok(ResponseParams {
        background,
        conversation,
        instructions: req.instructions.as_ref().map(|i| match i {
            MessageContent::Text(t) => Value::String(t.clone()),
            MessageContent::Parts(items) => Value::Array(items.clone()),
        }),
        max_output_tokens: req.max_output_tokens.and_then(|n| u64::try_from(n).ok()),
        max_tool_calls: req.max_tool_calls,
        metadata: req.common.metadata.clone().unwrap_or_default(),
        parallel_tool_calls: req.parallel_tool_calls.unwrap_or(true),
        previous_response_id: req.previous_response_id.clone(),
        prompt: req.prompt.clone(),
        prompt_cache_key: req.prompt_cache_key.clone(),
        prompt_cache_retention: req.prompt_cache_retention.clone(),
        reasoning: Reasoning {
            effort: reasoning.and_then(|r| r.effort.clone()).or(req.common.reasoning_effort.clone()),
            summary: reasoning.and_then(|r| r.summary.clone()),
        },
        safety_identifier: req.safety_identifier.clone(),
        service_tier: match req.common.service_tier.as_deref() {
            None | Some("auto") => defaults.service_tier,
            Some(tier) => tier.to_owned(),
        },
        store,
        temperature: req.common.temperature.unwrap_or(defaults.temperature),
        text: serde_json::json!({
            "format": text.and_then(|t| t.format.clone()).unwrap_or(defaults.text["format"].clone()),
            "verbosity": text.and_then(|t| t.verbosity.clone()).unwrap_or_else(|| "medium".to_owned()),
        }),
        tool_choice: req.tool_choice.clone().unwrap_or(defaults.tool_choice),
        tools: req.tools.clone().unwrap_or_default(),
        top_logprobs: req.top_logprobs.unwrap_or(0),
        top_p: req.common.top_p.unwrap_or(defaults.top_p),
        truncation,
        user: req.common.user.clone(),
        file_search: None,
    })
}
