//! SSE chunk encoding from per-stream templates: everything but the token text is encoded
//! once per request, so a content chunk costs two copies and a JSON-escape of the token.

mod dialects;
mod fault;
mod json;

pub use json::{push_json_str, push_u64, push_usage};

use super::anthropic::events as anthropic;

/// Which endpoint's chunk shape to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `chat.completion.chunk`.
    Chat,
    /// `text_completion`.
    Completion,
    /// Hugging Face TGI's `/generate` and `/generate_stream`.
    Tgi,
    /// Anthropic's Messages API (`/v1/messages`).
    Messages,
    /// OpenAI's Responses API (`/v1/responses`).
    Responses,
    /// vLLM's token-in/token-out `/inference/v1/generate`: token ids of this encoding.
    TokenIds(crate::tokens::Encoding),
}

/// Token counts reported in `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Of the prompt tokens, how many were found in the prefix cache.
    pub cached_tokens: u64,
    /// Completion tokens (reasoning included).
    pub completion_tokens: u64,
    /// Of the completion tokens, how many were reasoning.
    pub reasoning_tokens: u64,
    /// Of the prompt tokens, how many were input audio.
    pub prompt_audio_tokens: u64,
    /// Predicted-output tokens that appeared in the completion.
    pub accepted_prediction_tokens: u64,
    /// Predicted-output tokens that did not (billed as completion tokens, as OpenAI does).
    pub rejected_prediction_tokens: u64,
    /// Of the completion tokens, how many were spoken audio (chat audio output).
    pub completion_audio_tokens: u64,
}

/// Per-chunk additions to a chat or completions chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The chunk's `logprobs` value as JSON (empty: `null`).
    pub logprobs: &'a [u8],
    /// Running (prompt, completion) tokens: vLLM's `continuous_usage_stats`.
    pub usage: Option<(u64, u64)>,
}

impl Extras<'_> {
    /// Nothing to add: the chunk is a plain delta.
    fn is_plain(&self) -> bool {
        self.logprobs.is_empty() && self.usage.is_none()
    }
}

/// Identity of one response, shared by all its chunks.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    /// `chatcmpl-…` or `cmpl-…`.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// Model name as requested.
    pub model: String,
    /// `system_fingerprint` (chat only).
    pub fingerprint: String,
}

/// The encoder of one stream's chunks.
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    flavor: Flavor,
    /// TGI numbers its token events; Anthropic keeps its open block index here; the Responses
    /// API its sequence number.
    tokens: std::cell::Cell<u64>,
    /// Anthropic: content blocks started so far (a block is open while `tokens` is below it).
    blocks: std::cell::Cell<u64>,
    /// The Responses API's object and item ids.
    responses: Option<Ids>,
    /// `data: {"id":…,"object":…,"created":…,"model":…,` — everything before `"choices"`.
    head: Vec<u8>,
    /// Chat only: everything before the text of choice 0's `content` and `reasoning_content`
    /// deltas, so that the common chunk is one copy, the text, and one copy.
    delta_prefixes: [Vec<u8>; 2],
    /// Chat only: pad each chunk with `obfuscation`. The pre-encoded delta path never pads: an
    /// obfuscated stream passes `logprobs` extras (`null`) so that its deltas take the general one.
    obfuscation: Option<Obfuscation>,
    /// Chat audio output: the answer's text streams as `delta.audio.transcript`.
    speaking: bool,
    /// Per delta field: choice 0's plain delta is the pre-encoded copy (chat, unless the field is
    /// spoken or padded).
    plain: [bool; 2],
}

use super::obfuscation::Obfuscation;
use super::responses::{events::Ids, object::Params};

const DATA: &[u8] = b"data: ";
/// The blank line that ends an SSE event.
pub(crate) const END: &[u8] = b"\n\n";
/// The chat delta fields, each with a pre-encoded chunk prefix: indices into `DELTA_FIELDS`.
const CONTENT: usize = 0;
const REASONING: usize = 1;
const DELTA_FIELDS: [&[u8]; 2] = [b"content", b"reasoning_content"];
/// What follows the text of a plain chat delta: no logprobs, no running usage.
const PLAIN_DELTA_END: &[u8] = b"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
/// A spoken answer's text is `delta.audio.transcript`: the key path and what closes it.
const TRANSCRIPT_FIELD: &[u8] = b"audio\":{\"transcript";

impl ChunkWriter {
    /// Pre-encodes the parts every chunk of this response shares.
    pub fn new(flavor: Flavor, meta: &ResponseMeta) -> Self {
        // Only chat pre-encodes its deltas' prefixes.
        let basic = |head, responses| ChunkWriter {
            flavor,
            tokens: Default::default(),
            blocks: Default::default(),
            responses,
            head,
            delta_prefixes: Default::default(),
            obfuscation: None,
            speaking: false,
            plain: [false; 2],
        };
        if flavor == Flavor::Tgi {
            return basic(b"data:".to_vec(), None);
        }
        if flavor == Flavor::Responses {
            return Self::responses(meta, &Params::default(), meta.created);
        }
        if let Flavor::TokenIds(_) = flavor {
            return basic(super::vllm_generate::chunk_head(&meta.id), None);
        }
        if flavor == Flavor::Messages {
            let mut head = Vec::with_capacity(160);
            head.extend_from_slice(b"{\"id\":");
            push_json_str(&mut head, &meta.id);
            head.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":");
            push_json_str(&mut head, &meta.model);
            return basic(head, None);
        }
        let mut head = Vec::with_capacity(160);
        head.extend_from_slice(DATA);
        head.extend_from_slice(b"{\"id\":");
        push_json_str(&mut head, &meta.id);
        head.extend_from_slice(match flavor {
            Flavor::Chat => b",\"object\":\"chat.completion.chunk\",\"created\":".as_slice(),
            _ => b",\"object\":\"text_completion\",\"created\":",
        });
        head.extend_from_slice(meta.created.to_string().as_bytes());
        head.extend_from_slice(b",\"model\":");
        push_json_str(&mut head, &meta.model);
        if flavor == Flavor::Chat {
            head.extend_from_slice(b",\"system_fingerprint\":");
            push_json_str(&mut head, &meta.fingerprint);
        }
        head.push(b',');
        if flavor != Flavor::Chat {
            return basic(head, None);
        }
        let delta_prefixes = DELTA_FIELDS.map(|field| {
            let mut prefix = head.clone();
            push_delta_open(&mut prefix, 0, field);
            prefix
        });
        ChunkWriter {
            flavor,
            tokens: Default::default(),
            blocks: Default::default(),
            head,
            responses: None,
            delta_prefixes,
            obfuscation: None,
            speaking: false,
            plain: [true; 2],
        }
    }

    /// This writer, padding every chat chunk with a random `obfuscation` string (seeded by `seed`)
    /// except reasoning deltas, which OpenAI does not send.
    pub fn obfuscated(mut self, seed: u64) -> Self {
        if self.flavor == Flavor::Chat {
            self.obfuscation = Some(Obfuscation::new(seed));
            self.plain[CONTENT] = false;
        }
        self
    }

    /// Closes a chunk object: its padding when obfuscated, then `}`.
    fn close(&self, out: &mut Vec<u8>) {
        if let Some(o) = &self.obfuscation {
            o.push(out);
        }
        out.push(b'}');
    }

    /// The Responses API's encoder: its response object echoes `params` and reports
    /// `completed_at` (unix seconds) once done.
    pub fn responses(meta: &ResponseMeta, params: &Params, completed_at: u64) -> Self {
        ChunkWriter {
            flavor: Flavor::Responses,
            tokens: Default::default(),
            blocks: Default::default(),
            responses: Some(Ids::new(meta, params, completed_at)),
            head: Vec::new(),
            delta_prefixes: Default::default(),
            obfuscation: None,
            speaking: false,
            plain: [false; 2],
        }
    }

    /// Chat audio output: the answer's text becomes `delta.audio.transcript` (through the general
    /// delta encoder: spoken streams are rare, and the common chunk's path stays as it is).
    pub fn speaking(mut self) -> Self {
        if self.flavor == Flavor::Chat {
            self.speaking = true;
            self.plain[CONTENT] = false;
        }
        self
    }

    /// The opening chunk of choice `index`: chat sends the assistant role with empty content;
    /// completions send nothing.
    pub fn role(&self, index: usize, out: &mut Vec<u8>) {
        if self.flavor == Flavor::Chat {
            out.extend_from_slice(&self.head);
            push_index(out, index);
            out.extend_from_slice(match self.speaking {
                // A spoken answer has no `content`: its text is the audio's transcript.
                true => {
                    b",\"delta\":{\"role\":\"assistant\",\"content\":null},\"logprobs\":null,\"finish_reason\":null}]"
                }
                false => {
                    b",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]"
                }
            });
            self.close(out);
            out.extend_from_slice(END);
        }
    }

    /// A chat chunk of choice `index` whose delta is `{"audio": audio}` (spoken PCM, its id,
    /// its expiry).
    pub fn audio(&self, index: usize, audio: &serde_json::Value, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        push_index(out, index);
        out.extend_from_slice(b",\"delta\":{\"audio\":");
        out.extend_from_slice(audio.to_string().as_bytes());
        out.push(b'}');
        self.chunk_end(out, Extras::default());
        out.extend_from_slice(END);
    }

    /// One content chunk of choice `index` carrying `token`.
    pub fn content(&self, index: usize, token: &str, out: &mut Vec<u8>) {
        self.content_with(index, token, Extras::default(), out);
    }

    /// One content chunk with log-probabilities or running usage (chat and completions).
    pub fn content_with(&self, index: usize, token: &str, extras: Extras<'_>, out: &mut Vec<u8>) {
        // The common chunk first, before any dialect check.
        if index == 0 && self.plain[CONTENT] && extras.is_plain() {
            return self.plain_delta(CONTENT, token, out);
        }
        if matches!(self.flavor, Flavor::Messages) {
            return anthropic::delta(out, self.tokens.get(), "text_delta", "text", token);
        }
        if let Some(ids) = &self.responses {
            return ids.text_delta(&self.tokens, token, out);
        }
        match self.flavor {
            Flavor::Chat => return self.chat_delta(index, CONTENT, token, extras, out),
            Flavor::Completion => {
                out.extend_from_slice(&self.head);
                out.extend_from_slice(b"\"choices\":[{\"text\":");
                push_json_str(out, token);
                out.extend_from_slice(b",\"index\":");
                push_u64(out, index as u64);
                // Completions are never padded: their chunks close as they always did.
                push_choice_end(out, extras);
                out.push(b'}');
            }
            Flavor::Messages | Flavor::Responses => unreachable!("handled above"),
            Flavor::Tgi => {
                // The stream's end (`tgi::Ending`) rewrites this event's tail on the last token.
                out.extend_from_slice(&self.head);
                let n = self.tokens.get() + 1;
                self.tokens.set(n);
                out.extend_from_slice(b"{\"index\":");
                push_u64(out, n);
                out.extend_from_slice(b",\"token\":{\"id\":");
                push_u64(out, 1000 + n);
                out.extend_from_slice(b",\"text\":");
                push_json_str(out, token);
                out.extend_from_slice(b",\"logprob\":-0.1,\"special\":false},");
                return out.extend_from_slice(super::tgi::EVENT_TAIL);
            }
            Flavor::TokenIds(encoding) => {
                out.extend_from_slice(&self.head);
                push_u64(out, index as u64);
                out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null,\"token_ids\":[");
                push_u64(out, encoding.piece_id(token).into());
                out.extend_from_slice(b"],\"routed_experts\":null}],\"usage\":null}");
            }
        }
        out.extend_from_slice(END);
    }

    /// One reasoning chunk of choice `index` (chat only): `delta.reasoning_content`.
    pub fn reasoning(&self, index: usize, token: &str, out: &mut Vec<u8>) {
        if index == 0 && self.plain[REASONING] {
            return self.plain_delta(REASONING, token, out);
        }
        if matches!(self.flavor, Flavor::Messages) {
            return anthropic::delta(out, 0, "thinking_delta", "thinking", token);
        }
        if let Some(ids) = &self.responses {
            return ids.reasoning_delta(&self.tokens, token, out);
        }
        self.chat_delta(index, REASONING, token, Extras::default(), out);
    }

    /// Choice 0's plain delta of `field`: the pre-encoded prefix, the text and a constant end (a
    /// constant, so that its copy is inlined).
    fn plain_delta(&self, field: usize, text: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.delta_prefixes[field]);
        push_json_str(out, text);
        out.extend_from_slice(PLAIN_DELTA_END);
    }

    /// A chat chunk whose delta is `{DELTA_FIELDS[field]: text}`, encoded in full (the plain
    /// chunk of choice 0 is `plain_delta`).
    fn chat_delta(&self, index: usize, field: usize, text: &str, extras: Extras<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        let spoken = self.speaking && field == CONTENT;
        push_delta_open(out, index, if spoken { TRANSCRIPT_FIELD } else { DELTA_FIELDS[field] });
        push_json_str(out, text);
        out.extend_from_slice(if spoken { b"}}" } else { b"}" });
        self.chunk_end(out, extras);
        out.extend_from_slice(END);
    }

    /// A tool call of choice `index` begins: its id, type and function name, with empty
    /// arguments (or the legacy `function_call` with its name).
    pub fn tool_call_start(&self, index: usize, call: usize, id: &str, name: &str, legacy: bool, out: &mut Vec<u8>) {
        match &self.responses {
            Some(ids) => ids.call_start(&self.tokens, call, id, name, out),
            None if self.flavor == Flavor::Messages => self.messages_block(anthropic::Block::ToolUse { id, name }, out),
            None => self.tool_delta(index, call, Some((id, name)), "", legacy, out),
        }
    }

    /// One token of a tool call's arguments.
    pub fn tool_call_args(&self, index: usize, call: usize, fragment: &str, legacy: bool, out: &mut Vec<u8>) {
        match &self.responses {
            Some(ids) => ids.call_delta(&self.tokens, call, fragment, out),
            None if self.flavor == Flavor::Messages => {
                anthropic::delta(out, self.tokens.get(), "input_json_delta", "partial_json", fragment)
            }
            None => self.tool_delta(index, call, None, fragment, legacy, out),
        }
    }

    /// A chat chunk whose delta is a piece of tool call `call`: its header (id and name) when
    /// given, and `arguments`; legacy calls are `function_call` deltas without id or index.
    fn tool_delta(
        &self,
        index: usize,
        call: usize,
        header: Option<(&str, &str)>,
        arguments: &str,
        legacy: bool,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(&self.head);
        push_index(out, index);
        if legacy {
            out.extend_from_slice(b",\"delta\":{\"function_call\":{");
        } else {
            out.extend_from_slice(b",\"delta\":{\"tool_calls\":[{\"index\":");
            push_u64(out, call as u64);
            if let Some((id, _)) = header {
                out.extend_from_slice(b",\"id\":");
                push_json_str(out, id);
                out.extend_from_slice(b",\"type\":\"function\"");
            }
            out.extend_from_slice(b",\"function\":{");
        }
        if let Some((_, name)) = header {
            out.extend_from_slice(b"\"name\":");
            push_json_str(out, name);
            out.push(b',');
        }
        out.extend_from_slice(b"\"arguments\":");
        push_json_str(out, arguments);
        out.extend_from_slice(if legacy { b"}}".as_slice() } else { b"}}]}" });
        self.chunk_end(out, Extras::default());
        out.extend_from_slice(END);
    }

    /// Closes a chat choice that is still going and the chunk (with its padding when obfuscated).
    fn chunk_end(&self, out: &mut Vec<u8>, extras: Extras<'_>) {
        push_choice_end(out, extras);
        self.close(out);
    }

    /// The chunk that carries choice `index`'s `finish_reason`.
    pub fn finish(&self, index: usize, reason: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        match self.flavor {
            Flavor::Chat => {
                push_index(out, index);
                out.extend_from_slice(b",\"delta\":{},\"logprobs\":null,\"finish_reason\":");
            }
            _ => {
                out.extend_from_slice(b"\"choices\":[{\"text\":\"\",\"index\":");
                push_u64(out, index as u64);
                out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
            }
        }
        push_json_str(out, reason);
        out.extend_from_slice(b"}]");
        self.close(out);
        out.extend_from_slice(END);
    }

    /// The usage chunk, with `choices: []`.
    pub fn usage(&self, usage: Usage, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\"choices\":[],\"usage\":");
        push_usage(out, usage);
        self.close(out);
        out.extend_from_slice(END);
    }

    /// The terminating `data: [DONE]`.
    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

/// Appends `"choices":[{"index":N` (chat's choice prefix).
fn push_index(out: &mut Vec<u8>, index: usize) {
    out.extend_from_slice(b"\"choices\":[{\"index\":");
    push_u64(out, index as u64);
}

/// `"choices":[{"index":N,"delta":{"FIELD":` — what precedes a chat delta's text.
fn push_delta_open(out: &mut Vec<u8>, index: usize, field: &[u8]) {
    push_index(out, index);
    out.extend_from_slice(b",\"delta\":{\"");
    out.extend_from_slice(field);
    out.extend_from_slice(b"\":");
}

/// Closes a choice that is still going: `,"logprobs":…,"finish_reason":null}]` and the running
/// usage if any (the chunk's own `}` follows).
fn push_choice_end(out: &mut Vec<u8>, extras: Extras<'_>) {
    out.extend_from_slice(b",\"logprobs\":");
    out.extend_from_slice(if extras.logprobs.is_empty() { b"null" } else { extras.logprobs });
    out.extend_from_slice(b",\"finish_reason\":null}]");
    if let Some((prompt, completion)) = extras.usage {
        out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
        push_u64(out, prompt);
        out.extend_from_slice(b",\"completion_tokens\":");
        push_u64(out, completion);
        out.extend_from_slice(b",\"total_tokens\":");
        push_u64(out, prompt + completion);
        out.push(b'}');
    }
}

impl Usage {
    /// The OpenAI `usage` object.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": self.prompt_audio_tokens},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens, "audio_tokens": self.completion_audio_tokens,
                "accepted_prediction_tokens": self.accepted_prediction_tokens,
                "rejected_prediction_tokens": self.rejected_prediction_tokens
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::anthropic::cache::CacheUsage;
    use serde_json::Value;

    fn meta() -> ResponseMeta {
        ResponseMeta { id: "chatcmpl-1".into(), created: 42, model: "a/\"b\"".into(), fingerprint: "fp_1".into() }
    }

    fn events(bytes: &[u8]) -> Vec<Value> {
        let text = std::str::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\n\n"));
        text.split_terminator("\n\n")
            .map(|e| e.strip_prefix("data: ").expect("data line"))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("valid JSON"))
            .collect()
    }

    #[test]
    fn pre_encoded_chat_deltas_match_the_general_encoding() {
        let w = ChunkWriter::new(Flavor::Chat, &meta());
        for token in [" word", "say \"hi\"\n"] {
            let general =
                |index, out: &mut Vec<u8>| w.content_with(index, token, Extras { logprobs: b"null", usage: None }, out);
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            w.content(0, token, &mut fast);
            general(0, &mut slow);
            assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
            let (mut fast, mut other) = (Vec::new(), Vec::new());
            w.reasoning(0, token, &mut fast);
            w.reasoning(1, token, &mut other);
            let other = String::from_utf8(other).unwrap().replace("\"index\":1", "\"index\":0");
            assert_eq!(String::from_utf8(fast).unwrap(), other);
        }
    }

    #[test]
    fn a_spoken_answer_streams_its_text_as_the_audio_transcript() {
        let w = ChunkWriter::new(Flavor::Chat, &meta()).speaking();
        let parse = |out: &[u8]| -> Value { serde_json::from_slice(&out[6..out.len() - 2]).unwrap() };
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        w.content(0, "say \"hi\"", &mut fast);
        w.content_with(1, "say \"hi\"", Extras { logprobs: b"null", usage: None }, &mut slow);
        let (fast, slow) = (parse(&fast), parse(&slow));
        assert_eq!(fast["choices"][0]["delta"], serde_json::json!({"audio": {"transcript": "say \"hi\""}}));
        assert_eq!(slow["choices"][0]["delta"], fast["choices"][0]["delta"]);
        let mut reasoning = Vec::new();
        w.reasoning(0, "hm", &mut reasoning);
        assert_eq!(parse(&reasoning)["choices"][0]["delta"]["reasoning_content"], "hm", "reasoning stays text");
        let mut role = Vec::new();
        w.role(0, &mut role);
        assert!(parse(&role)["choices"][0]["delta"]["content"].is_null());
        let mut audio = Vec::new();
        w.audio(0, &serde_json::json!({"expires_at": 5}), &mut audio);
        assert_eq!(parse(&audio)["choices"][0]["delta"]["audio"]["expires_at"], 5);
    }

    #[test]
    fn chat_chunks_parse_back() {
        let w = ChunkWriter::new(Flavor::Chat, &meta());
        let mut out = Vec::new();
        w.role(0, &mut out);
        w.content(0, " he said \"hi\"\n\u{1}", &mut out);
        w.finish(0, "length", &mut out);
        w.reasoning(1, "Hmm", &mut out);
        w.usage(Usage { prompt_tokens: 3, completion_tokens: 1, reasoning_tokens: 1, ..Usage::default() }, &mut out);
        ChunkWriter::done(&mut out);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
        let ev = events(&out);
        assert_eq!(ev.len(), 5);
        assert_eq!(ev[3]["choices"][0]["delta"]["reasoning_content"], "Hmm");
        assert_eq!(ev[3]["choices"][0]["index"], 1);
        assert_eq!(ev[4]["usage"]["completion_tokens_details"]["reasoning_tokens"], 1);
        for e in &ev {
            assert_eq!(e["object"], "chat.completion.chunk");
            assert_eq!(
                (e["id"].as_str(), e["model"].as_str(), e["created"].as_u64()),
                (Some("chatcmpl-1"), Some("a/\"b\""), Some(42))
            );
            assert_eq!(e["system_fingerprint"], "fp_1");
        }
        assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(ev[1]["choices"][0]["delta"]["content"], " he said \"hi\"\n\u{1}");
        assert!(ev[1]["choices"][0]["finish_reason"].is_null());
        assert_eq!(ev[2]["choices"][0]["finish_reason"], "length");
        assert_eq!(ev[4]["choices"], serde_json::json!([]));
        assert_eq!(ev[4]["usage"]["total_tokens"], 4);
    }

    /// (event name, data) of Anthropic SSE bytes; each data's `type` is its event's name.
    fn named_events(out: Vec<u8>) -> Vec<(String, Value)> {
        let text = String::from_utf8(out).unwrap();
        let ev: Vec<(String, Value)> = text
            .split_terminator("\n\n")
            .map(|e| {
                let (name, data) = e.split_once("\ndata: ").unwrap();
                (name.strip_prefix("event: ").unwrap().to_owned(), serde_json::from_str(data).unwrap())
            })
            .collect();
        assert!(ev.iter().all(|(n, v)| v["type"] == n.as_str()));
        ev
    }

    #[test]
    fn anthropic_events_parse_back() {
        let w = ChunkWriter::new(Flavor::Messages, &meta());
        let mut out = Vec::new();
        let usage = Usage { prompt_tokens: 7, ..Usage::default() };
        w.messages_open(true, true, usage, CacheUsage::default(), &mut out);
        w.reasoning(0, "Hmm", &mut out);
        w.messages_answer_starts(true, "Eqsig", &mut out);
        w.content(0, "Yes", &mut out);
        w.messages_finish(("length", None), 2, usage, CacheUsage::default(), &mut out);
        let ev = named_events(out);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0].1["message"]["usage"]["input_tokens"], 7);
        assert_eq!(ev[0].1["message"]["model"], "a/\"b\"");
        assert_eq!(ev[1].1["content_block"]["type"], "thinking");
        assert_eq!(ev[3].1["delta"]["thinking"], "Hmm");
        assert_eq!(ev[4].1["delta"], serde_json::json!({"type": "signature_delta", "signature": "Eqsig"}));
        assert_eq!((ev[7].1["index"].as_u64(), ev[7].1["delta"]["text"].as_str()), (Some(1), Some("Yes")));
        assert_eq!(ev[9].1["delta"]["stop_reason"], "max_tokens");
        assert_eq!(ev[9].1["usage"]["output_tokens"], 2);
    }

    #[test]
    fn anthropic_tool_use_blocks_follow_each_other() {
        let w = ChunkWriter::new(Flavor::Messages, &meta());
        let mut out = Vec::new();
        w.messages_open(false, false, Usage::default(), CacheUsage::default(), &mut out);
        w.tool_call_start(0, 0, "toolu_01a", "get_weather", false, &mut out);
        w.tool_call_args(0, 0, "{\"city\":", false, &mut out);
        w.tool_call_args(0, 0, "\"Paris\"}", false, &mut out);
        w.tool_call_start(0, 1, "toolu_01b", "f", false, &mut out);
        w.tool_call_args(0, 1, "{}", false, &mut out);
        w.messages_finish(("tool_calls", None), 9, Usage::default(), CacheUsage::default(), &mut out);
        let ev = named_events(out);
        let blocks: Vec<(u64, &str)> = ev
            .iter()
            .filter(|(n, _)| n.starts_with("content_block"))
            .map(|(n, v)| (v["index"].as_u64().unwrap(), n.as_str()))
            .collect();
        let (start, delta, stop) = ("content_block_start", "content_block_delta", "content_block_stop");
        assert_eq!(blocks, [(0, start), (0, delta), (0, delta), (0, stop), (1, start), (1, delta), (1, stop)]);
        assert_eq!(ev[1].0, "ping", "no empty text block before a tool call");
        assert_eq!(
            ev[2].1["content_block"],
            serde_json::json!({"type": "tool_use", "id": "toolu_01a", "name": "get_weather", "input": {}})
        );
        assert_eq!(ev[3].1["delta"], serde_json::json!({"type": "input_json_delta", "partial_json": "{\"city\":"}));
        assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn tgi_events_parse_back() {
        let w = ChunkWriter::new(Flavor::Tgi, &meta());
        let mut out = Vec::new();
        w.content(0, " hi", &mut out);
        w.content(0, " \"there\"", &mut out);
        let text = String::from_utf8(out).unwrap();
        let ev: Vec<Value> = text
            .split_terminator("\n\n")
            .map(|e| serde_json::from_str(e.strip_prefix("data:").unwrap()).unwrap())
            .collect();
        assert_eq!((ev[0]["token"]["text"].as_str(), ev[0]["index"].as_u64()), (Some(" hi"), Some(1)));
        assert_eq!((ev[1]["token"]["text"].as_str(), ev[1]["token"]["id"].as_u64()), (Some(" \"there\""), Some(1002)));
        assert!(ev.iter().all(|e| e["token"]["special"] == false && e["generated_text"].is_null()));
        assert!(ev.iter().all(|e| e["details"].is_null() && e.get("top_tokens").is_none()));
    }

    #[test]
    fn completion_chunks_parse_back() {
        let w = ChunkWriter::new(Flavor::Completion, &meta());
        let mut out = Vec::new();
        w.role(0, &mut out);
        assert!(out.is_empty());
        w.content(12, "The", &mut out);
        w.finish(12, "stop", &mut out);
        let ev = events(&out);
        assert_eq!(ev[0]["object"], "text_completion");
        assert_eq!(ev[0]["choices"][0]["text"], "The");
        assert_eq!(ev[0]["choices"][0]["index"], 12);
        assert_eq!(ev[1]["choices"][0]["index"], 12);
        assert!(ev[0].get("system_fingerprint").is_none());
        assert_eq!(ev[1]["choices"][0]["text"], "");
        assert_eq!(ev[1]["choices"][0]["finish_reason"], "stop");
    }
}
