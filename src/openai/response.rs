//! Non-streaming response bodies.

use serde_json::json;

use super::chunks::{Flavor, ResponseMeta, Usage};

/// The full `chat.completion` or `text_completion` object.
pub fn completion_json(flavor: Flavor, meta: &ResponseMeta, text: &str, finish_reason: &str, usage: Usage) -> Vec<u8> {
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
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": null},
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "usage": usage_json,
            "system_fingerprint": meta.fingerprint,
        }),
        Flavor::Completion => json!({
            "id": meta.id,
            "object": "text_completion",
            "created": meta.created,
            "model": meta.model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish_reason}],
            "usage": usage_json,
        }),
    };
    serde_json::to_vec(&body).expect("response serializes")
}
