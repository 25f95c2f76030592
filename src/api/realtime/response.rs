//! One Realtime response in flight: its assistant item's tokens, due on the chat schedule
//! (TTFT, then ITL draws), as text deltas or as audio deltas with their transcript.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{sim::Schedule, tokens::TextGen};

/// Output audio per token: 50 ms of pcm16 24 kHz (one audio token, OpenAI's output rate).
const AUDIO_MS_PER_TOKEN: u64 = 50;
const SAMPLES_PER_TOKEN: usize = 24_000 * AUDIO_MS_PER_TOKEN as usize / 1000;

/// How the response ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every token was sent.
    Completed,
    /// `max_output_tokens` cut it short.
    Capped,
    /// The client cancelled it.
    Cancelled,
    /// Speech interrupted it.
    TurnDetected,
}

/// A response being generated.
#[derive(Debug)]
pub struct Active {
    /// `resp_…`.
    pub id: String,
    /// The assistant item's id.
    pub item_id: String,
    /// Audio output (else text).
    pub audio: bool,
    /// The voice of audio output.
    pub voice: String,
    /// The response lands in the conversation.
    pub in_conversation: bool,
    /// `max_output_tokens` as requested (`"inf"` or a number).
    pub max_output_tokens: Value,
    /// Request metadata, echoed.
    pub metadata: Value,
    /// Prompt tokens (text, audio).
    pub input_tokens: (u64, u64),
    /// When it started, from the connection's start.
    pub start: Duration,
    /// Token deadlines from `start`.
    pub schedule: Schedule,
    /// Tokens still to send.
    pub left: u64,
    /// It stops at `max_output_tokens` before its natural end.
    pub capped: bool,
    /// Its text source.
    pub text: TextGen,
    /// Text (or transcript) sent so far.
    pub sent: String,
    /// Tokens sent so far.
    pub tokens: u64,
    /// Phase of the tone, in samples, so deltas join without clicks.
    pub phase: usize,
}

impl Active {
    /// When the next token is due from the connection's start, if any is left.
    pub fn next_due(&self) -> Option<Duration> {
        (self.left > 0).then(|| self.start + self.schedule.peek())
    }

    /// The next token's events (one text delta, or an audio delta and its transcript delta).
    pub fn next_token(&mut self, head: impl Fn(&str) -> Value) -> Vec<Value> {
        self.schedule.advance();
        self.left -= 1;
        self.tokens += 1;
        let token = self.text.next_token();
        self.sent.push_str(token);
        let delta = |kind: &str, d: String| {
            let mut v = head(kind);
            v["item_id"] = json!(self.item_id);
            v["output_index"] = json!(0);
            v["content_index"] = json!(0);
            v["delta"] = json!(d);
            v
        };
        if !self.audio {
            return vec![delta("response.output_text.delta", token.to_owned())];
        }
        let pcm = tone(&self.voice, self.phase, SAMPLES_PER_TOKEN);
        self.phase += SAMPLES_PER_TOKEN;
        let b64 = base64::engine::general_purpose::STANDARD.encode(pcm);
        vec![
            delta("response.output_audio.delta", b64),
            delta("response.output_audio_transcript.delta", token.to_owned()),
        ]
    }

    /// Milliseconds of audio sent so far.
    pub fn audio_ms(&self) -> u64 {
        if self.audio { self.tokens * AUDIO_MS_PER_TOKEN } else { 0 }
    }

    /// The assistant item as it stands (`status` in_progress, completed or incomplete).
    pub fn item(&self, status: &str, with_content: bool) -> Value {
        let content = match (with_content, self.audio) {
            (false, _) => json!([]),
            (true, false) => json!([{"type": "output_text", "text": self.sent}]),
            (true, true) => json!([{"type": "output_audio", "transcript": self.sent}]),
        };
        json!({"id": self.item_id, "object": "realtime.item", "type": "message", "status": status,
               "role": "assistant", "content": content})
    }

    /// The content part as it stands.
    pub fn part(&self) -> Value {
        match self.audio {
            false => json!({"type": "text", "text": self.sent}),
            true => json!({"type": "audio", "transcript": self.sent}),
        }
    }

    /// The `realtime.response` object (`ending` None while in progress).
    pub fn object(&self, ending: Option<Ending>, conversation_id: &str) -> Value {
        let (status, details) = match ending {
            None => ("in_progress", Value::Null),
            Some(Ending::Completed) => ("completed", Value::Null),
            Some(Ending::Capped) => ("incomplete", json!({"type": "incomplete", "reason": "max_output_tokens"})),
            Some(Ending::Cancelled) => ("cancelled", json!({"type": "cancelled", "reason": "client_cancelled"})),
            Some(Ending::TurnDetected) => ("cancelled", json!({"type": "cancelled", "reason": "turn_detected"})),
        };
        let output = match ending {
            None => json!([]),
            Some(Ending::Completed) => json!([self.item("completed", true)]),
            Some(_) => json!([self.item("incomplete", true)]),
        };
        let usage = match ending {
            None => Value::Null,
            Some(_) => self.usage(),
        };
        json!({
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": output,
            "conversation_id": if self.in_conversation { json!(conversation_id) } else { Value::Null },
            "output_modalities": [if self.audio { "audio" } else { "text" }],
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": self.voice}},
            "usage": usage,
            "metadata": self.metadata,
        })
    }

    /// Exact usage: the prompt's text and audio tokens; text tokens sent, and as many audio
    /// tokens (one per 50 ms delta) when speaking.
    fn usage(&self) -> Value {
        let (text_in, audio_in) = self.input_tokens;
        let audio_out = if self.audio { self.tokens } else { 0 };
        let output = self.tokens + audio_out;
        json!({
            "total_tokens": text_in + audio_in + output,
            "input_tokens": text_in + audio_in,
            "output_tokens": output,
            "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in, "image_tokens": 0,
                "cached_tokens": 0, "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}},
            "output_token_details": {"text_tokens": self.tokens, "audio_tokens": audio_out},
        })
    }
}

/// `n` samples of the voice's tone (pcm16 little-endian), from sample `phase` on: audible,
/// deterministic per voice.
fn tone(voice: &str, phase: usize, n: usize) -> Vec<u8> {
    let pitch = 160.0 + (voice.bytes().map(u32::from).sum::<u32>() % 160) as f64;
    let step = std::f64::consts::TAU * pitch / 24_000.0;
    (phase..phase + n).flat_map(|i| (((i as f64 * step).sin() * 6_000.0) as i16).to_le_bytes()).collect()
}
