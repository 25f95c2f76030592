//! `POST /v1/audio/transcriptions` and `/v1/audio/translations`: the multipart request as
//! OpenAI validates it, and the response bodies (json, text, srt, vtt, verbose_json; SSE
//! events for streamed gpt-4o transcriptions) with OpenAI's usage.

use serde_json::{Value, json};

use super::{
    probe::{Probe, probe},
    transcript::{Transcript, language_name},
};
use crate::{error::Error, openai::media::AUDIO_TOKENS_PER_SECOND, proto::multipart};

/// File extensions OpenAI accepts.
pub const FILE_FORMATS: &[&str] = &["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"];
/// `response_format` values.
pub const RESPONSE_FORMATS: &[&str] = &["json", "text", "srt", "verbose_json", "vtt"];

/// Transcribe in the audio's language, or translate into English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// `/v1/audio/transcriptions`.
    Transcribe,
    /// `/v1/audio/translations`.
    Translate,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptionRequest {
    /// Transcription or translation.
    pub task: Task,
    /// The model.
    pub model: String,
    /// `response_format` (default json).
    pub format: String,
    /// `language` (ISO-639-1), transcriptions only.
    pub language: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `temperature`, 0–1.
    pub temperature: f64,
    /// `timestamp_granularities[]` includes `word`.
    pub words: bool,
    /// Stream SSE events (gpt-4o models; whisper-1 ignores it, as OpenAI's does).
    pub stream: bool,
    /// The audio's duration, seconds (read from the file, or estimated from its size).
    pub duration: f64,
    /// What picks the transcript's words.
    pub seed: u64,
}

/// Whether `model` bills in tokens and streams (the gpt-4o transcribe models) rather than by
/// duration (whisper-1).
pub fn is_token_model(model: &str) -> bool {
    model.starts_with("gpt-")
}

fn missing(param: &str) -> Error {
    Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
        .with_code("missing_required_parameter")
}

fn invalid(param: &str, value: &str, supported: &[&str]) -> Error {
    let list = supported.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(", ");
    Error::invalid_param(param, format!("Invalid value: '{value}'. Supported values are: {list}."))
        .with_code("invalid_value")
}

impl TranscriptionRequest {
    /// Parses the form of a `task` request with `content_type`.
    pub fn parse(content_type: &str, body: &[u8], task: Task) -> Result<TranscriptionRequest, Error> {
        let boundary = multipart::boundary(content_type)?;
        let parts = multipart::parse(body, boundary)?;
        let text = |name: &str| -> Result<Option<String>, Error> {
            match parts.iter().find(|p| p.name == name) {
                None => Ok(None),
                Some(p) => String::from_utf8(p.bytes(body).to_vec())
                    .map(Some)
                    .map_err(|_| Error::invalid_param(name, format!("'{name}' must be UTF-8 text."))),
            }
        };
        let model = text("model")?.filter(|m| !m.is_empty()).ok_or_else(|| missing("model"))?;
        let file = parts.iter().find(|p| p.name == "file").ok_or_else(|| missing("file"))?;
        let format = text("response_format")?.unwrap_or_else(|| "json".into());
        if !RESPONSE_FORMATS.contains(&format.as_str()) {
            return Err(invalid("response_format", &format, RESPONSE_FORMATS));
        }
        if is_token_model(&model) && !matches!(format.as_str(), "json" | "text") {
            let message =
                format!("response_format '{format}' is not compatible with model '{model}'. Use 'json' or 'text'.");
            return Err(Error::invalid_param("response_format", message).with_code("unsupported_value"));
        }
        let temperature = match text("temperature")? {
            None => 0.0,
            Some(t) => t.trim().parse::<f64>().ok().filter(|t| (0.0..=1.0).contains(t)).ok_or_else(|| {
                Error::invalid_param(
                    "temperature",
                    format!("Invalid 'temperature': expected a number from 0 to 1, got '{t}'."),
                )
                .with_code("invalid_value")
            })?,
        };
        let mut words = false;
        for p in parts.iter().filter(|p| p.name.starts_with("timestamp_granularities")) {
            match p.bytes(body) {
                b"word" => words = true,
                b"segment" => {}
                other => {
                    return Err(invalid(
                        "timestamp_granularities",
                        &String::from_utf8_lossy(other),
                        &["word", "segment"],
                    ));
                }
            }
            if format != "verbose_json" {
                return Err(Error::invalid_param(
                    "timestamp_granularities",
                    "timestamp_granularities requires response_format 'verbose_json'.",
                )
                .with_code("unsupported_value"));
            }
        }
        let stream = match text("stream")?.as_deref() {
            None | Some("false") | Some("False") => false,
            Some("true") | Some("True") => is_token_model(&model),
            Some(other) => return Err(invalid("stream", other, &["true", "false"])),
        };
        let language = match task {
            Task::Transcribe => text("language")?.filter(|l| !l.is_empty()),
            Task::Translate => None,
        };
        let prompt = text("prompt")?.filter(|p| !p.is_empty());
        let bytes = file.bytes(body);
        let duration = file_duration(file.filename, bytes)?;
        let seed = Transcript::seed(bytes, language.as_deref(), prompt.as_deref());
        Ok(TranscriptionRequest { task, model, format, language, prompt, temperature, words, stream, duration, seed })
    }

    /// The transcript.
    pub fn transcript(&self) -> Transcript {
        Transcript::new(self.seed, self.duration)
    }

    /// Input tokens of a token-billed model: the audio (10 a second) and the prompt's `prompt_tokens`.
    pub fn audio_tokens(&self) -> u64 {
        (self.duration * AUDIO_TOKENS_PER_SECOND).ceil() as u64
    }

    /// The `usage` object OpenAI reports: tokens for gpt-4o models, whole seconds for whisper.
    pub fn usage(&self, prompt_tokens: u64, output_tokens: u64) -> Value {
        if !is_token_model(&self.model) {
            return json!({"type": "duration", "seconds": self.duration.ceil()});
        }
        let audio = self.audio_tokens();
        json!({
            "type": "tokens",
            "input_tokens": audio + prompt_tokens,
            "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": audio},
            "output_tokens": output_tokens,
            "total_tokens": audio + prompt_tokens + output_tokens,
        })
    }

    /// The response body and its content type, for a non-streamed answer.
    pub fn body(&self, t: &Transcript, usage: Value) -> (&'static str, Vec<u8>) {
        let plain = "text/plain; charset=utf-8";
        let translate = self.task == Task::Translate;
        match self.format.as_str() {
            "text" => (plain, format!("{}\n", t.text()).into_bytes()),
            "srt" => (plain, t.srt().into_bytes()),
            "vtt" => (plain, t.vtt().into_bytes()),
            "verbose_json" => {
                let mut v = json!({
                    "task": if translate { "translate" } else { "transcribe" },
                    "language": if translate { "english".into() } else { language_name(self.language.as_deref()) },
                    "duration": self.duration,
                    "text": t.text(),
                    "segments": t.segments_json(self.temperature),
                });
                if self.words {
                    v["words"] = t.words_json();
                }
                if !translate {
                    v["usage"] = usage;
                }
                ("application/json", v.to_string().into_bytes())
            }
            _ if translate => ("application/json", json!({"text": t.text()}).to_string().into_bytes()),
            _ => ("application/json", json!({"text": t.text(), "usage": usage}).to_string().into_bytes()),
        }
    }
}

/// The duration of an uploaded file, or OpenAI's 400 for a file it would not take.
fn file_duration(filename: Option<&str>, bytes: &[u8]) -> Result<f64, Error> {
    let extension = filename.and_then(|f| f.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase());
    if let Some(ext) = &extension
        && !FILE_FORMATS.contains(&ext.as_str())
    {
        let list = FILE_FORMATS.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", ");
        return Err(Error::invalid_param("file", format!("Invalid file format. Supported formats: [{list}]"))
            .with_code("invalid_value"));
    }
    let corrupt =
        || Error::invalid_param("file", "Audio file might be corrupted or unsupported").with_code("invalid_value");
    match probe(bytes) {
        _ if bytes.is_empty() => Err(corrupt()),
        Probe::Read(seconds) => Ok(seconds),
        // Formats read by signature must have it; others are estimated from their size.
        Probe::Estimated(_)
            if matches!(extension.as_deref(), Some("wav" | "flac" | "mp3" | "mpga" | "ogg" | "oga")) =>
        {
            Err(corrupt())
        }
        Probe::Estimated(seconds) => Ok(seconds),
        Probe::Corrupt => Err(corrupt()),
    }
}

/// One `data:` event of a streamed transcription.
pub fn delta_event(delta: &str) -> Vec<u8> {
    format!("data: {}\n\n", json!({"type": "transcript.text.delta", "delta": delta})).into_bytes()
}

/// The closing `transcript.text.done` event.
pub fn done_event(text: &str, usage: &Value) -> Vec<u8> {
    format!("data: {}\n\n", json!({"type": "transcript.text.done", "text": text, "usage": usage})).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Format, Speech, voice::Voice};

    /// A form with `fields` and a WAV `file` of `words` words.
    fn form(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> (String, Vec<u8>) {
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend(format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes());
        }
        body.extend(
            format!("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\r\n").bytes(),
        );
        body.extend_from_slice(file);
        body.extend(b"\r\n--b--\r\n");
        ("multipart/form-data; boundary=b".into(), body)
    }

    fn wav(words: usize) -> Vec<u8> {
        Format::Wav.encode(&Speech::new(&"word ".repeat(words), &Voice("alloy".into()), 1.0))
    }

    fn parse(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> Result<TranscriptionRequest, Error> {
        let (ct, body) = form(fields, filename, file);
        TranscriptionRequest::parse(&ct, &body, Task::Transcribe)
    }

    #[test]
    fn reads_the_duration_and_validates() {
        let audio = wav(10);
        let r = parse(&[("model", "whisper-1")], "a.wav", &audio).unwrap();
        assert!((r.duration - 4.0).abs() < 1e-9);
        assert_eq!(r.usage(0, 0), json!({"type": "duration", "seconds": 4.0}));
        let err = |fields: &[(&str, &str)], name: &str, file: &[u8]| parse(fields, name, file).unwrap_err().param;
        assert_eq!(err(&[], "a.wav", &audio).as_deref(), Some("model"));
        assert_eq!(err(&[("model", "whisper-1")], "a.txt", &audio).as_deref(), Some("file"));
        assert_eq!(err(&[("model", "whisper-1")], "a.wav", b"not audio").as_deref(), Some("file"));
        assert_eq!(err(&[("model", "whisper-1")], "a.wav", b"").as_deref(), Some("file"));
        let m = ("model", "whisper-1");
        assert_eq!(err(&[m, ("response_format", "xml")], "a.wav", &audio).as_deref(), Some("response_format"));
        assert_eq!(err(&[m, ("temperature", "2")], "a.wav", &audio).as_deref(), Some("temperature"));
        assert_eq!(
            err(&[m, ("timestamp_granularities[]", "word")], "a.wav", &audio).as_deref(),
            Some("timestamp_granularities"),
            "words need verbose_json"
        );
        let g = ("model", "gpt-4o-transcribe");
        assert_eq!(err(&[g, ("response_format", "srt")], "a.wav", &audio).as_deref(), Some("response_format"));
        let (ct, body) = form(&[("model", "whisper-1")], "a.wav", &audio);
        let missing = TranscriptionRequest::parse(&ct, &body.replace_file_name(), Task::Transcribe).unwrap_err();
        assert_eq!(missing.param.as_deref(), Some("file"));
        let webm = parse(&[m], "a.webm", &[1u8; 32_000]).unwrap();
        assert_eq!(webm.duration, 2.0, "unread containers are estimated from size");
    }

    #[test]
    fn token_usage_and_bodies() {
        let audio = wav(25);
        let r = parse(&[("model", "gpt-4o-mini-transcribe"), ("stream", "true")], "a.wav", &audio).unwrap();
        assert!(r.stream);
        let u = r.usage(3, 20);
        assert_eq!((u["input_tokens"].as_u64(), u["total_tokens"].as_u64()), (Some(103), Some(123)));
        let w = parse(&[("model", "whisper-1"), ("stream", "true")], "a.wav", &audio).unwrap();
        assert!(!w.stream, "whisper-1 ignores stream");
        let v = parse(
            &[("model", "whisper-1"), ("response_format", "verbose_json"), ("timestamp_granularities[]", "word")],
            "a.wav",
            &audio,
        )
        .unwrap();
        let t = v.transcript();
        let (ct, body) = v.body(&t, v.usage(0, 0));
        assert_eq!(ct, "application/json");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["duration"], 10.0);
        assert_eq!(body["words"].as_array().unwrap().len(), 25);
        assert_eq!(body["segments"].as_array().unwrap().last().unwrap()["end"], 10.0);
    }

    trait ReplaceFileName {
        fn replace_file_name(&self) -> Vec<u8>;
    }

    impl ReplaceFileName for Vec<u8> {
        /// The form with its file field renamed, so that no `file` is sent.
        fn replace_file_name(&self) -> Vec<u8> {
            let at = memchr::memmem::find(self, b"name=\"file\"").unwrap();
            let mut out = self.clone();
            out[at..at + 11].copy_from_slice(b"name=\"data\"");
            out
        }
    }
}
