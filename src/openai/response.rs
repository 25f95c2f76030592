//! Non-streaming response bodies.

use serde_json::json;

use super::{
    chunks::{Flavor, ResponseMeta, Usage},
    responses::{
        events::{Answer, Ids},
        object::{Params, Status},
    },
};

/// One choice of a non-streaming response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChoiceText {
    /// The answer.
    pub content: String,
    /// The reasoning before it, if the model reasons.
    pub reasoning: Option<String>,
    /// `stop`, `length`, `tool_calls` or `function_call`.
    pub finish_reason: &'static str,
    /// Tool calls as (id, name, arguments); the content is then `null`.
    pub tool_calls: Vec<(String, String, String)>,
    /// Tool calls take the legacy `function_call` shape.
    pub legacy: bool,
    /// The `logprobs` object, when asked for.
    pub logprobs: Option<serde_json::Value>,
    /// Chat audio output's `message.audio`; the text is then its transcript, not `content`.
    pub audio: Option<serde_json::Value>,
}

/// The full `chat.completion` or `text_completion` object, choices by index.
pub fn completion_json(flavor: Flavor, meta: &ResponseMeta, choices: &[ChoiceText], usage: Usage) -> Vec<u8> {
    let usage_json = usage.to_json();
    let body = match flavor {
        Flavor::Chat => json!({
            "id": meta.id,
            "object": "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "choices": choices.iter().enumerate().map(|(index, c)| json!({
                "index": index,
                "message": message(c),
                "logprobs": c.logprobs,
                "finish_reason": c.finish_reason,
            })).collect::<Vec<_>>(),
            "usage": usage_json,
            "system_fingerprint": meta.fingerprint,
        }),
        Flavor::Messages => {
            let c = &choices[0];
            let said = super::anthropic::body::Said {
                thinking: c.reasoning.as_deref(),
                text: &c.content,
                calls: &c.tool_calls,
                finish_reason: c.finish_reason,
                stop_sequence: None,
                output_tokens: usage.completion_tokens,
            };
            return super::anthropic::body::message_json(meta, said, usage, Default::default());
        }
        Flavor::Responses => return responses_json(meta, &Params::default(), meta.created, &choices[0], usage),
        // TGI's routes build their own bodies (`openai::tgi`); this is its details-less shape.
        Flavor::Tgi => json!({"generated_text": choices[0].content}),
        Flavor::TokenIds(_) => unreachable!("/inference/v1/generate builds its own body (openai::vllm_generate)"),
        Flavor::Completion => json!({
            "id": meta.id,
            "object": "text_completion",
            "created": meta.created,
            "model": meta.model,
            "choices": choices.iter().enumerate().map(|(index, c)| json!({
                "text": c.content, "index": index, "logprobs": c.logprobs, "finish_reason": c.finish_reason,
            })).collect::<Vec<_>>(),
            "usage": usage_json,
        }),
    };
    serde_json::to_vec(&body).expect("response serializes")
}

/// The Responses API's response object of a generation that ended at `completed_at` (unix seconds).
pub fn responses_json(
    meta: &ResponseMeta,
    params: &Params,
    completed_at: u64,
    c: &ChoiceText,
    usage: Usage,
) -> Vec<u8> {
    let ids = Ids::new(meta, params, completed_at);
    let answer = match c.tool_calls.is_empty() {
        true => Answer::Text(&c.content),
        false => Answer::Calls(&c.tool_calls),
    };
    let body = ids.ended(Status::ended(c.finish_reason), c.reasoning.as_deref(), &answer, usage);
    serde_json::to_vec(&body).expect("response serializes")
}

/// The assistant message; reasoning models add `reasoning_content` and its `reasoning` alias.
fn message(c: &ChoiceText) -> serde_json::Value {
    let mut m = json!({"role": "assistant", "content": c.content, "refusal": null});
    let calls = c.tool_calls.iter().map(|(id, name, arguments)| {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
    });
    match (c.tool_calls.first(), c.legacy) {
        (None, _) => {}
        (Some((_, name, arguments)), true) => {
            m["content"] = json!(null);
            m["function_call"] = json!({"name": name, "arguments": arguments});
        }
        (Some(_), false) => {
            m["content"] = json!(null);
            m["tool_calls"] = calls.collect();
        }
    }
    if let Some(audio) = &c.audio {
        m["content"] = json!(null);
        m["audio"] = audio.clone();
    }
    if let Some(r) = &c.reasoning {
        m["reasoning_content"] = json!(r);
        m["reasoning"] = json!(r);
    }
    m
}
