//! The event-based dialects' framing on the shared writer: Anthropic's content blocks and the
//! Responses API's output items (their per-token deltas stay beside chat's in `mod.rs`).

use super::{
    super::{
        anthropic::{cache::CacheUsage, events as anthropic},
        responses::{events::Answer as ResponsesAnswer, object::Status},
    },
    ChunkWriter, Usage,
};

impl ChunkWriter {
    /// Anthropic's opening events: `message_start`, the first content block (thinking when the
    /// model reasons first, text when it answers in text; a tool call opens its own), `ping`.
    pub fn messages_open(&self, thinking: bool, text_answer: bool, usage: Usage, cache: CacheUsage, out: &mut Vec<u8>) {
        anthropic::message_start(out, &self.head, usage, cache);
        match (thinking, text_answer) {
            (true, _) => self.messages_block(anthropic::Block::Thinking, out),
            (false, true) => self.messages_block(anthropic::Block::Text, out),
            (false, false) => {}
        }
        anthropic::ping(out);
    }

    /// Anthropic: the thinking block ends with its `signature`, and a text answer's block begins.
    pub fn messages_answer_starts(&self, text_answer: bool, signature: &str, out: &mut Vec<u8>) {
        anthropic::delta(out, 0, "signature_delta", "signature", signature);
        self.messages_block_stop(out);
        if text_answer {
            self.messages_block(anthropic::Block::Text, out);
        }
    }

    /// Anthropic: the open block stops, then `message_delta` with the stop reason (and the stop
    /// sequence that ended the message, if one did) and usage, then `message_stop`.
    pub fn messages_finish(
        &self,
        (finish_reason, stop_sequence): (&str, Option<&str>),
        output_tokens: u64,
        usage: Usage,
        cache: CacheUsage,
        out: &mut Vec<u8>,
    ) {
        self.messages_block_stop(out);
        anthropic::message_end(out, (finish_reason, stop_sequence), usage, cache, output_tokens);
    }

    /// Anthropic: the open block (if any) stops and `block` starts as the next one.
    pub(super) fn messages_block(&self, block: anthropic::Block<'_>, out: &mut Vec<u8>) {
        self.messages_block_stop(out);
        let index = self.blocks.get();
        anthropic::block_start(out, index, block);
        self.tokens.set(index);
        self.blocks.set(index + 1);
    }

    /// Anthropic: the open block, if any, stops.
    pub(super) fn messages_block_stop(&self, out: &mut Vec<u8>) {
        if self.tokens.get() < self.blocks.get() {
            anthropic::block_stop(out, self.tokens.get());
            self.tokens.set(self.blocks.get());
        }
    }

    /// The Responses API's opening events; `tool_calls` when the answer is function calls
    /// rather than a message.
    pub fn responses_open(&self, thinking: bool, tool_calls: bool, out: &mut Vec<u8>) {
        if let Some(ids) = &self.responses {
            ids.open(&self.tokens, thinking, tool_calls, out);
        }
    }

    /// The Responses API: the reasoning item ends (with its text) and the message item begins.
    pub fn responses_answer_starts(&self, reasoning_text: &str, out: &mut Vec<u8>) {
        if let Some(ids) = &self.responses {
            ids.answer_starts(&self.tokens, reasoning_text, out);
        }
    }

    /// The Responses API's closing events, ending with `response.completed` (or
    /// `response.incomplete` at that `status`) and its usage.
    pub fn responses_finish(
        &self,
        reasoning_text: Option<&str>,
        answer: &ResponsesAnswer<'_>,
        status: Status,
        usage: Usage,
        out: &mut Vec<u8>,
    ) {
        if let Some(ids) = &self.responses {
            ids.finish(&self.tokens, reasoning_text, answer, status, usage, out);
        }
    }
}
