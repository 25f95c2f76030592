//! The non-streaming Messages response: a `message` object.

use serde_json::{Value, json};

use super::{cache::CacheUsage, events};
use crate::openai::chunks::{ResponseMeta, Usage};

/// What a message says, in content-block order.
#[derive(Debug, Clone, Copy)]
pub struct Said<'a> {
    /// The thinking before the answer, if the model thought.
    pub thinking: Option<&'a str>,
    /// The text answer (ignored when there are tool calls).
    pub text: &'a str,
    /// Tool calls as (id, name, arguments JSON).
    pub calls: &'a [(String, String, String)],
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'a str,
    /// The stop sequence that ended the message, if one did.
    pub stop_sequence: Option<&'a str>,
    /// Output tokens.
    pub output_tokens: u64,
}

/// The `message` object as JSON bytes.
pub fn message_json(meta: &ResponseMeta, said: Said<'_>, usage: Usage, cache: CacheUsage) -> Vec<u8> {
    let mut content = Vec::new();
    if let Some(thinking) = said.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": events::signature(&meta.id)}));
    }
    if said.calls.is_empty() {
        content.push(json!({"type": "text", "text": said.text}));
    }
    for (id, name, arguments) in said.calls {
        // Arguments cut short by max_tokens are not JSON; the call then has no input.
        let input = serde_json::from_str::<Value>(arguments).ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let mut usage_json = Vec::new();
    events::push_usage(&mut usage_json, usage, cache, said.output_tokens, true);
    let body = json!({
        "id": meta.id,
        "type": "message",
        "role": "assistant",
        "model": meta.model,
        "content": content,
        "stop_reason": events::stop_reason(said.finish_reason, said.stop_sequence),
        "stop_sequence": said.stop_sequence,
        "usage": serde_json::from_slice::<Value>(&usage_json).expect("usage is JSON"),
    });
    serde_json::to_vec(&body).expect("message serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_answer() {
        let meta = ResponseMeta { id: "msg_1".into(), created: 0, model: "claude".into(), fingerprint: String::new() };
        let calls = [("toolu_01a".to_owned(), "get_weather".to_owned(), r#"{"city":"Paris"}"#.to_owned())];
        let cache = CacheUsage { read: 3, created_5m: 2, created_1h: 1 };
        let usage = Usage { prompt_tokens: 10, ..Usage::default() };
        let said = Said {
            thinking: Some("Hmm"),
            text: "",
            calls: &calls,
            finish_reason: "tool_calls",
            stop_sequence: None,
            output_tokens: 7,
        };
        let v: Value = serde_json::from_slice(&message_json(&meta, said, usage, cache)).unwrap();
        assert_eq!(v["content"][0]["type"], "thinking");
        assert_eq!(v["content"][0]["signature"].as_str().unwrap().len(), 344);
        assert_eq!(
            v["content"][1],
            json!({"type": "tool_use", "id": "toolu_01a", "name": "get_weather", "input": {"city": "Paris"}})
        );
        assert_eq!(v["content"].as_array().unwrap().len(), 2, "no text block beside tool calls");
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 4, "cache_creation_input_tokens": 3, "cache_read_input_tokens": 3,
                "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 1},
                "output_tokens": 7, "server_tool_use": null, "service_tier": "standard"})
        );
        let cut = [("toolu_01b".to_owned(), "f".to_owned(), r#"{"ci"#.to_owned())];
        let said = Said {
            thinking: None,
            text: "",
            calls: &cut,
            finish_reason: "length",
            stop_sequence: None,
            output_tokens: 3,
        };
        let v: Value = serde_json::from_slice(&message_json(&meta, said, usage, cache)).unwrap();
        assert_eq!((v["content"][0]["input"].clone(), v["stop_reason"].as_str()), (json!({}), Some("max_tokens")));
    }
}
