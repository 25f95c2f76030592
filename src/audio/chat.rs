//! Chat audio output (`modalities: ["text","audio"]`, `audio: {voice, format}`): the request's
//! audio settings, and each choice's spoken answer (`message.audio`, or `delta.audio` chunks).

use base64::Engine;
use serde_json::{Value, json};

use super::{
    encode::{CHAT_FORMATS, Format},
    speech::audio_tokens,
    synth::{Speech, duration_of},
    voice::{Voice, fnv},
};
use crate::error::Error;

/// How long OpenAI keeps an audio answer for multi-turn use: `expires_at` is this after `created`.
pub const EXPIRES_AFTER_SECONDS: u64 = 3600;
/// Raw PCM bytes per streamed `delta.audio.data` chunk (0.5 s at 24 kHz).
const STREAM_CHUNK: usize = 24_000;

/// The audio a chat request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOut {
    /// The voice.
    pub voice: Voice,
    /// The format of `message.audio.data`.
    pub format: Format,
}

impl AudioOut {
    /// `Some` when `modalities` includes `"audio"`; then `audio` must name a voice and a format
    /// (streams carry raw `pcm16` only, as OpenAI's do).
    pub fn parse(modalities: Option<&Value>, audio: Option<&Value>, stream: bool) -> Result<Option<AudioOut>, Error> {
        let Some(modalities) = modalities.filter(|m| !m.is_null()) else { return Ok(None) };
        let list = modalities.as_array().ok_or_else(|| {
            Error::invalid_param("modalities", "Invalid type for 'modalities': expected an array of strings.")
                .with_code("invalid_type")
        })?;
        let mut wants_audio = false;
        for m in list {
            match m.as_str() {
                Some("text") => {}
                Some("audio") => wants_audio = true,
                _ => {
                    return Err(Error::invalid_param(
                        "modalities",
                        format!("Invalid value: {m}. Supported values are: 'text' and 'audio'."),
                    )
                    .with_code("invalid_value"));
                }
            }
        }
        if !wants_audio {
            return Ok(None);
        }
        let audio = audio.filter(|a| a.is_object()).ok_or_else(|| {
            Error::invalid_param("audio", "Audio output requires the 'audio' parameter: {\"voice\", \"format\"}.")
                .with_code("missing_required_parameter")
        })?;
        let voice = Voice::parse(audio.get("voice"), "audio.voice")?;
        let format = match audio.get("format").and_then(Value::as_str) {
            Some(name) => Format::parse(name, CHAT_FORMATS, "audio.format")?,
            None => {
                return Err(Error::invalid_param("audio.format", "Missing required parameter: 'audio.format'.")
                    .with_code("missing_required_parameter"));
            }
        };
        if stream && format != Format::Pcm {
            return Err(Error::invalid_param(
                "audio.format",
                "Streaming audio output supports only the 'pcm16' format.",
            )
            .with_code("unsupported_value"));
        }
        Ok(Some(AudioOut { voice, format }))
    }

    /// Audio output tokens of saying `transcript`.
    pub fn tokens(transcript: &str) -> u64 {
        audio_tokens(duration_of(transcript, 1.0))
    }

    /// `transcript` spoken and encoded.
    pub fn render(&self, transcript: &str) -> Vec<u8> {
        self.format.encode(&Speech::new(transcript, &self.voice, 1.0))
    }

    /// `message.audio` of a non-streaming choice.
    pub fn message_audio(&self, response_id: &str, index: usize, created: u64, transcript: &str) -> Value {
        json!({
            "id": audio_id(response_id, index),
            "data": base64::engine::general_purpose::STANDARD.encode(self.render(transcript)),
            "expires_at": created + EXPIRES_AFTER_SECONDS,
            "transcript": transcript,
        })
    }

    /// The `delta.audio` objects that follow a streamed transcript: base64 PCM in chunks (the
    /// first with the id), then the expiry alone.
    pub fn stream_deltas(&self, response_id: &str, index: usize, created: u64, transcript: &str) -> Vec<Value> {
        let pcm = self.render(transcript);
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut deltas: Vec<Value> = pcm
            .chunks(STREAM_CHUNK)
            .enumerate()
            .map(|(i, piece)| match i {
                0 => json!({"id": audio_id(response_id, index), "data": b64.encode(piece)}),
                _ => json!({"data": b64.encode(piece)}),
            })
            .collect();
        deltas.push(json!({"expires_at": created + EXPIRES_AFTER_SECONDS}));
        deltas
    }
}

/// A choice's audio id, `audio_` and 32 hex digits derived from its response's id.
pub fn audio_id(response_id: &str, index: usize) -> String {
    let h = fnv(response_id.as_bytes());
    format!("audio_{h:016x}{:016x}", fnv(&[h.to_le_bytes(), (index as u64).to_le_bytes()].concat()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let m = json!(["text", "audio"]);
        let a = json!({"voice": "alloy", "format": "wav"});
        let out = AudioOut::parse(Some(&m), Some(&a), false).unwrap().unwrap();
        assert_eq!(out.format, Format::Wav);
        assert_eq!(AudioOut::parse(Some(&json!(["text"])), Some(&a), false).unwrap(), None);
        assert_eq!(AudioOut::parse(None, Some(&a), false).unwrap(), None);
        let param = |m: &Value, a: Option<&Value>, stream| AudioOut::parse(Some(m), a, stream).unwrap_err().param;
        assert_eq!(param(&m, None, false).as_deref(), Some("audio"));
        assert_eq!(param(&json!(["video"]), Some(&a), false).as_deref(), Some("modalities"));
        assert_eq!(param(&m, Some(&json!({"voice": "x", "format": "wav"})), false).as_deref(), Some("audio.voice"));
        assert_eq!(param(&m, Some(&json!({"voice": "ash", "format": "pcm"})), false).as_deref(), Some("audio.format"));
        assert_eq!(param(&m, Some(&a), true).as_deref(), Some("audio.format"), "streams are pcm16");
        let pcm = json!({"voice": "ash", "format": "pcm16"});
        assert!(AudioOut::parse(Some(&m), Some(&pcm), true).unwrap().is_some());
    }

    #[test]
    fn stream_deltas_reassemble_the_pcm() {
        let out = AudioOut { voice: Voice("sage".into()), format: Format::Pcm };
        let deltas = out.stream_deltas("chatcmpl-1", 0, 100, "one two three four five");
        assert_eq!(deltas[0]["id"], audio_id("chatcmpl-1", 0));
        assert_eq!(deltas.last().unwrap(), &json!({"expires_at": 3700}));
        let b64 = base64::engine::general_purpose::STANDARD;
        let pcm: Vec<u8> =
            deltas.iter().filter_map(|d| d["data"].as_str()).flat_map(|d| b64.decode(d).unwrap()).collect();
        assert_eq!(pcm.len(), 2 * 24_000 * 2, "five words: 2 s");
        assert_ne!(audio_id("chatcmpl-1", 0), audio_id("chatcmpl-1", 1));
    }
}
