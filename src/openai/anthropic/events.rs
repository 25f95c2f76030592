//! Anthropic's SSE events (`event: NAME\ndata: JSON\n\n`), written by hand: the per-token
//! deltas are two copies and an escape of the token, as the chat chunks are.

use super::cache::CacheUsage;
use crate::openai::chunks::{Usage, push_json_str, push_u64};

const END: &[u8] = b"\n\n";

/// What a content block holds.
#[derive(Debug, Clone, Copy)]
pub enum Block<'a> {
    /// Answer text.
    Text,
    /// Extended thinking.
    Thinking,
    /// A call of a client tool.
    ToolUse {
        /// `toolu_…`.
        id: &'a str,
        /// The tool's name.
        name: &'a str,
    },
}

/// Anthropic's `stop_reason` for a finish reason and the stop sequence that ended generation.
pub fn stop_reason(finish_reason: &str, stop_sequence: Option<&str>) -> &'static str {
    match finish_reason {
        _ if stop_sequence.is_some() => "stop_sequence",
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        _ => "end_turn",
    }
}

/// `event: NAME` and the start of its data line.
fn event(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
}

/// `message_start`: the message so far (`head` is everything up to its `model`), no content.
pub fn message_start(out: &mut Vec<u8>, head: &[u8], usage: Usage, cache: CacheUsage) {
    event(out, "message_start");
    out.extend_from_slice(b"{\"type\":\"message_start\",\"message\":");
    out.extend_from_slice(head);
    out.extend_from_slice(b",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":");
    push_usage(out, usage, cache, 0, true);
    out.extend_from_slice(b"}}");
    out.extend_from_slice(END);
}

/// `ping`.
pub fn ping(out: &mut Vec<u8>) {
    event(out, "ping");
    out.extend_from_slice(b"{\"type\":\"ping\"}");
    out.extend_from_slice(END);
}

/// `content_block_start` of block `index`, empty.
pub fn block_start(out: &mut Vec<u8>, index: u64, block: Block<'_>) {
    event(out, "content_block_start");
    out.extend_from_slice(b"{\"type\":\"content_block_start\",\"index\":");
    push_u64(out, index);
    match block {
        Block::Text => out.extend_from_slice(b",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"),
        Block::Thinking => {
            out.extend_from_slice(b",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}")
        }
        Block::ToolUse { id, name } => {
            out.extend_from_slice(b",\"content_block\":{\"type\":\"tool_use\",\"id\":");
            push_json_str(out, id);
            out.extend_from_slice(b",\"name\":");
            push_json_str(out, name);
            out.extend_from_slice(b",\"input\":{}}}");
        }
    }
    out.extend_from_slice(END);
}

/// `content_block_stop` of block `index`.
pub fn block_stop(out: &mut Vec<u8>, index: u64) {
    event(out, "content_block_stop");
    out.extend_from_slice(b"{\"type\":\"content_block_stop\",\"index\":");
    push_u64(out, index);
    out.extend_from_slice(b"}");
    out.extend_from_slice(END);
}

/// One `content_block_delta` of block `index`: `{"type": kind, field: text}` (`text_delta`,
/// `thinking_delta`, `input_json_delta`, `signature_delta`).
pub fn delta(out: &mut Vec<u8>, index: u64, kind: &str, field: &str, text: &str) {
    event(out, "content_block_delta");
    out.extend_from_slice(b"{\"type\":\"content_block_delta\",\"index\":");
    push_u64(out, index);
    out.extend_from_slice(b",\"delta\":{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(b"\":");
    push_json_str(out, text);
    out.extend_from_slice(b"}}");
    out.extend_from_slice(END);
}

/// `message_delta` with the stop reason and the cumulative usage, then `message_stop`.
pub fn message_end(
    out: &mut Vec<u8>,
    (finish_reason, stop_sequence): (&str, Option<&str>),
    usage: Usage,
    cache: CacheUsage,
    output_tokens: u64,
) {
    event(out, "message_delta");
    out.extend_from_slice(b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    push_json_str(out, stop_reason(finish_reason, stop_sequence));
    out.extend_from_slice(b",\"stop_sequence\":");
    match stop_sequence {
        Some(s) => push_json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"},\"usage\":");
    push_usage(out, usage, cache, output_tokens, false);
    out.extend_from_slice(b"}");
    out.extend_from_slice(END);
    event(out, "message_stop");
    out.extend_from_slice(b"{\"type\":\"message_stop\"}");
    out.extend_from_slice(END);
}

/// The usage object: the message's (`full`: with the cache breakdown and service tier) or a
/// `message_delta`'s. `input_tokens` are the prompt tokens the cache neither read nor wrote.
pub fn push_usage(out: &mut Vec<u8>, u: Usage, cache: CacheUsage, output_tokens: u64, full: bool) {
    let input = u.prompt_tokens.saturating_sub(cache.read + cache.created());
    let fields: [(&[u8], u64); 3] = [
        (b"{\"input_tokens\":", input),
        (b",\"cache_creation_input_tokens\":", cache.created()),
        (b",\"cache_read_input_tokens\":", cache.read),
    ];
    for (key, value) in fields {
        out.extend_from_slice(key);
        push_u64(out, value);
    }
    if full {
        out.extend_from_slice(b",\"cache_creation\":{\"ephemeral_5m_input_tokens\":");
        push_u64(out, cache.created_5m);
        out.extend_from_slice(b",\"ephemeral_1h_input_tokens\":");
        push_u64(out, cache.created_1h);
        out.push(b'}');
    }
    out.extend_from_slice(b",\"output_tokens\":");
    push_u64(out, output_tokens);
    out.extend_from_slice(if full {
        b",\"server_tool_use\":null,\"service_tier\":\"standard\"}".as_slice()
    } else {
        b",\"server_tool_use\":null}"
    });
}

/// A thinking block's `signature`: opaque base64 (344 characters, as long as a short real one),
/// fixed by the message id.
pub fn signature(message_id: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut h = DefaultHasher::new();
    message_id.hash(&mut h);
    let mut rng = crate::rng::Rng::new(h.finish());
    // Real signatures begin with a protobuf tag, "Eo" or "Er" in base64.
    let mut s = String::from("Eq");
    s.extend((2..344).map(|_| BASE64[rng.below(64) as usize] as char));
    s
}
