//! Non-streaming response bodies.

use serde_json::json;

use super::chunks::{Flavor, ResponseMeta, Usage};

/// The full `chat.completion` or `text_completion` object; `choices` are (text, finish_reason) by
/// index.
pub fn completion_json(flavor: Flavor, meta: &ResponseMeta, choices: &[(String, &str)], usage: Usage) -> Vec<u8> {
    let usage_json = json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        },
    });
    let body = match flavor {
        Flavor::Chat => json!({
            "id": meta.id,
            "object": "chat.completion",
            "created": meta.created,
            "model": meta.model,
            "choices": choices.iter().enumerate().map(|(index, (text, finish_reason))| json!({
                "index": index,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason,
            })).collect::<Vec<_>>(),
            "usage": usage_json,
            "system_fingerprint": meta.fingerprint,
        }),
        Flavor::Completion => json!({
            "id": meta.id,
            "object": "text_completion",
            "created": meta.created,
            "model": meta.model,
            "choices": choices.iter().enumerate().map(|(index, (text, finish_reason))| json!({
                "text": text, "index": index, "logprobs": null, "finish_reason": finish_reason,
            })).collect::<Vec<_>>(),
            "usage": usage_json,
        }),
    };
    serde_json::to_vec(&body).expect("response serializes")
}
