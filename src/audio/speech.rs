//! `POST /v1/audio/speech`: the request as OpenAI validates it, and the `stream_format: "sse"`
//! body (`speech.audio.delta` events of base64 audio, then `speech.audio.done` with usage).

use base64::Engine;
use serde_json::{Value, json};

use super::{
    encode::{Format, SPEECH_FORMATS},
    voice::{Voice, fnv},
};
use crate::error::Error;

/// Longest `input`, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;
/// Audio output tokens per second of speech (gpt-4o-mini-tts bills about 1,250 a minute).
pub const AUDIO_TOKENS_PER_SECOND: f64 = 20.0;
/// Encoded bytes carried by one `speech.audio.delta` event.
const SSE_CHUNK: usize = 12 * 1024;

/// A validated speech request.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechRequest {
    /// The model.
    pub model: String,
    /// The text to say.
    pub input: String,
    /// The voice.
    pub voice: Voice,
    /// `response_format` (default mp3).
    pub format: Format,
    /// `speed`, 0.25–4 (default 1).
    pub speed: f64,
    /// `instructions` (gpt-4o-mini-tts only).
    pub instructions: Option<String>,
    /// `stream_format: "sse"`.
    pub sse: bool,
}

/// Whether `model` is one of the older TTS models without instructions or SSE.
fn is_classic_tts(model: &str) -> bool {
    model.starts_with("tts-1")
}

fn missing(param: &str) -> Error {
    Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
        .with_code("missing_required_parameter")
}

fn wrong_type(param: &str, expected: &str) -> Error {
    Error::invalid_param(param, format!("Invalid type for '{param}': expected {expected}.")).with_code("invalid_type")
}

/// An optional string field.
fn string(body: &Value, param: &str) -> Result<Option<String>, Error> {
    match body.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(param, "a string")),
    }
}

impl SpeechRequest {
    /// Parses and validates a speech request body.
    pub fn parse(body: &[u8]) -> Result<SpeechRequest, Error> {
        let body = Error::json_object(body)?;
        let model = string(&body, "model")?.filter(|m| !m.is_empty()).ok_or_else(|| missing("model"))?;
        let input = string(&body, "input")?.ok_or_else(|| missing("input"))?;
        let chars = input.chars().count();
        if chars > MAX_INPUT_CHARS {
            let message = format!(
                "Invalid 'input': string too long. Expected a string with maximum length {MAX_INPUT_CHARS}, \
                 but got a string with length {chars} instead."
            );
            return Err(Error::invalid_param("input", message).with_code("string_above_max_length"));
        }
        if input.trim().is_empty() {
            return Err(Error::invalid_param(
                "input",
                "Invalid 'input': empty string. Expected a string with minimum length 1.",
            )
            .with_code("string_below_min_length"));
        }
        let voice = Voice::parse(body.get("voice"), "voice")?;
        let format = match string(&body, "response_format")? {
            Some(name) => Format::parse(&name, SPEECH_FORMATS, "response_format")?,
            None => Format::Mp3,
        };
        let speed = match body.get("speed") {
            None | Some(Value::Null) => 1.0,
            Some(v) => v.as_f64().ok_or_else(|| wrong_type("speed", "a number"))?,
        };
        if speed < 0.25 {
            return Err(Error::invalid_param(
                "speed",
                format!("Invalid 'speed': numeric value must be at least 0.25, got {speed} instead."),
            )
            .with_code("decimal_below_min_value"));
        }
        if speed > 4.0 {
            return Err(Error::invalid_param(
                "speed",
                format!("Invalid 'speed': numeric value must be at most 4, got {speed} instead."),
            )
            .with_code("decimal_above_max_value"));
        }
        let instructions = string(&body, "instructions")?.filter(|s| !s.is_empty());
        if instructions.is_some() && is_classic_tts(&model) {
            return Err(Error::invalid_param(
                "instructions",
                format!("Instructions are not supported for model '{model}'."),
            )
            .with_code("unsupported_parameter"));
        }
        let sse = match string(&body, "stream_format")?.as_deref() {
            None | Some("audio") => false,
            Some("sse") if is_classic_tts(&model) => {
                return Err(Error::invalid_param(
                    "stream_format",
                    format!("stream_format 'sse' is not supported for model '{model}'."),
                )
                .with_code("unsupported_value"));
            }
            Some("sse") => true,
            Some(other) => {
                return Err(Error::invalid_param(
                    "stream_format",
                    format!("Invalid value: '{other}'. Supported values are: 'sse' and 'audio'."),
                )
                .with_code("invalid_value"));
            }
        };
        Ok(SpeechRequest { model, input, voice, format, speed, instructions, sse })
    }
}

impl SpeechRequest {
    /// What identifies its rendering: input, voice, speed and format (not the model or
    /// instructions, which do not change the tone pattern).
    pub fn render_key(&self) -> u64 {
        let mut key = fnv(self.input.as_bytes()) ^ fnv(self.voice.0.as_bytes()).rotate_left(21);
        key ^= self.speed.to_bits().rotate_left(42);
        key ^ fnv(self.format.content_type().as_bytes()).rotate_left(7)
    }
}

/// Output tokens of `seconds` of speech.
pub fn audio_tokens(seconds: f64) -> u64 {
    // Less a hair, so that 11.2 s stays 224 tokens whatever rounding made it 11.200000000000001.
    (seconds * AUDIO_TOKENS_PER_SECOND - 1e-9).ceil() as u64
}

/// The `speech.audio.delta` events of `audio`: its bytes in base64 pieces.
pub fn delta_events(audio: &[u8]) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    audio
        .chunks(SSE_CHUNK)
        .map(|piece| event(&json!({"type": "speech.audio.delta", "audio": b64.encode(piece)})))
        .collect()
}

/// The closing `speech.audio.done` event with the usage.
pub fn done_event(input_tokens: u64, output_tokens: u64) -> Vec<u8> {
    let usage = json!({"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens});
    event(&json!({"type": "speech.audio.done", "usage": usage}))
}

/// One `data:` event.
fn event(value: &Value) -> Vec<u8> {
    format!("data: {value}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> Error {
        SpeechRequest::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn defaults_and_validation() {
        let r = SpeechRequest::parse(br#"{"model":"tts-1","input":"hi","voice":"coral"}"#).unwrap();
        assert_eq!((r.format, r.speed, r.sse), (Format::Mp3, 1.0, false));
        assert_eq!(err(r#"{"input":"hi","voice":"coral"}"#).param.as_deref(), Some("model"));
        assert_eq!(err(r#"{"model":"tts-1","voice":"coral"}"#).param.as_deref(), Some("input"));
        assert_eq!(err(r#"{"model":"tts-1","input":"hi"}"#).param.as_deref(), Some("voice"));
        assert_eq!(err(r#"{"model":"tts-1","input":"hi","voice":"x"}"#).param.as_deref(), Some("voice"));
        let long = "a".repeat(4097);
        let e = err(&format!(r#"{{"model":"tts-1","input":"{long}","voice":"coral"}}"#));
        assert_eq!((e.status, e.param.as_deref()), (400, Some("input")));
        let ok = "é".repeat(4096);
        assert!(
            SpeechRequest::parse(format!(r#"{{"model":"tts-1","input":"{ok}","voice":"ash"}}"#).as_bytes()).is_ok()
        );
        for speed in ["0.2", "4.5", "\"fast\""] {
            let e = err(&format!(r#"{{"model":"tts-1","input":"hi","voice":"ash","speed":{speed}}}"#));
            assert_eq!(e.param.as_deref(), Some("speed"));
        }
        let e = err(r#"{"model":"tts-1","input":"hi","voice":"ash","response_format":"ogg"}"#);
        assert_eq!(e.param.as_deref(), Some("response_format"));
        let e = err(r#"{"model":"tts-1-hd","input":"hi","voice":"ash","instructions":"calm"}"#);
        assert_eq!(e.param.as_deref(), Some("instructions"));
        let e = err(r#"{"model":"tts-1","input":"hi","voice":"ash","stream_format":"sse"}"#);
        assert_eq!(e.param.as_deref(), Some("stream_format"));
        let r = SpeechRequest::parse(
            br#"{"model":"gpt-4o-mini-tts","input":"hi","voice":"ash","instructions":"calm","stream_format":"sse"}"#,
        )
        .unwrap();
        assert!(r.sse && r.instructions.is_some());
    }

    #[test]
    fn sse_events_carry_the_audio_then_usage() {
        let audio = vec![7u8; SSE_CHUNK + 1];
        let mut body = delta_events(&audio).concat();
        body.extend(done_event(3, 40));
        let body = String::from_utf8(body).unwrap();
        let events: Vec<Value> =
            body.split("\n\n").filter(|e| !e.is_empty()).map(|e| serde_json::from_str(&e[6..]).unwrap()).collect();
        assert_eq!(events.len(), 3);
        let b64 = base64::engine::general_purpose::STANDARD;
        let joined: Vec<u8> =
            events[..2].iter().flat_map(|e| b64.decode(e["audio"].as_str().unwrap()).unwrap()).collect();
        assert_eq!(joined, audio);
        assert_eq!(events[2]["usage"]["total_tokens"], 43);
    }
}
