//! Audio endpoints over HTTP, their files checked by an independent decoder (Debian's
//! ffprobe/ffmpeg; `.ci/run` installs them).

mod common;

use std::process::Command;

use common::Server;
use serde_json::Value;

/// 20 words: 8 s at 150 words a minute.
const TWENTY_WORDS: &str = "Speech from a fake server still needs to sound like speech, so every word \
                            becomes a few short tones today";

use common::{ffprobe, temp_file};

/// (codec name, duration in seconds) as ffprobe reads the file; `raw` marks headerless PCM.
fn probe(path: &std::path::Path, raw: bool) -> (String, f64) {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error"]);
    if raw {
        cmd.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    let out =
        cmd.args(["-show_entries", "stream=codec_name:format=duration", "-of", "json"]).arg(path).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codec = v["streams"][0]["codec_name"].as_str().unwrap().to_string();
    (codec, v["format"]["duration"].as_str().unwrap().parse().unwrap())
}

/// Decodes the whole file with ffmpeg: no error may be printed; returns the peak level in dBFS.
fn decode_peak_db(path: &std::path::Path, raw: bool) -> f64 {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostats"]);
    if raw {
        cmd.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    let out = cmd.arg("-i").arg(path).args(["-af", "volumedetect", "-f", "null", "-"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffmpeg failed: {log}");
    assert!(!log.to_lowercase().contains("error"), "ffmpeg reported errors decoding {path:?}: {log}");
    let peak = log.split("max_volume: ").nth(1).and_then(|r| r.split(' ').next()).expect("volumedetect output");
    peak.parse().unwrap()
}

#[test]
fn every_speech_format_is_a_valid_file_of_the_right_length_and_audible() {
    if ffprobe().is_none() {
        return;
    }
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let cases = [
        ("mp3", "audio/mpeg", "mp3", 1.0),
        ("opus", "audio/opus", "opus", 1.0),
        ("aac", "audio/aac", "aac", 2.0),
        ("flac", "audio/flac", "flac", 1.0),
        ("wav", "audio/wav", "pcm_s16le", 0.5),
        ("pcm", "audio/pcm", "pcm_s16le", 4.0),
    ];
    for (format, content_type, codec, speed) in cases {
        let body = serde_json::json!({"model": "tts-1", "input": TWENTY_WORDS, "voice": "shimmer",
            "response_format": format, "speed": speed});
        let r = server.post("/v1/audio/speech", &body.to_string());
        assert_eq!(r.status, 200, "{format}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("content-type"), Some(content_type));
        let path = temp_file(&format!("speech.{format}"), &r.body);
        let raw = format == "pcm";
        let (found, seconds) = probe(&path, raw);
        assert_eq!(found, codec, "{format}");
        let expected = 8.0 / speed;
        // Codec framing adds at most a frame or two of padding (MP3 and AAC: ~50 ms).
        assert!((seconds - expected).abs() < 0.1 + 0.01 * expected, "{format}: {seconds} s, expected {expected}");
        let peak = decode_peak_db(&path, raw);
        assert!(peak > -20.0, "{format} carries audible content: peak {peak} dBFS");
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn speech_sse_streams_base64_audio_then_usage() {
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let body = r#"{"model":"gpt-4o-mini-tts","input":"Hello there, how are you today?","voice":"coral",
        "instructions":"Speak warmly.","response_format":"wav","stream_format":"sse"}"#;
    let r = server.post("/v1/audio/speech", body);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let text = r.text();
    let events: Vec<Value> = text.split_terminator("\n\n").map(|e| serde_json::from_str(&e[6..]).unwrap()).collect();
    let (done, deltas) = events.split_last().unwrap();
    assert!(deltas.iter().all(|e| e["type"] == "speech.audio.delta"));
    use base64::Engine;
    let wav: Vec<u8> = deltas
        .iter()
        .flat_map(|e| base64::engine::general_purpose::STANDARD.decode(e["audio"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(wav.len(), 44 + 2 * 24_000 * 12 / 5, "6 words: 2.4 s of 24 kHz 16-bit audio");
    assert_eq!(done["type"], "speech.audio.done");
    let usage = &done["usage"];
    assert_eq!(usage["output_tokens"], 48, "20 audio tokens a second");
    assert_eq!(usage["total_tokens"], usage["input_tokens"].as_u64().unwrap() + 48);
}

#[test]
fn speech_rejects_bad_input_with_openai_400s() {
    let server = Server::start(&[]);
    let long = "word ".repeat(900);
    let cases = [
        (r#"{"model":"tts-1","voice":"alloy"}"#.to_string(), "input"),
        (format!(r#"{{"model":"tts-1","voice":"alloy","input":"{long}"}}"#), "input"),
        (r#"{"model":"tts-1","input":"hi","voice":"robot"}"#.into(), "voice"),
        (r#"{"model":"tts-1","input":"hi","voice":"alloy","speed":5}"#.into(), "speed"),
        (r#"{"model":"tts-1","input":"hi","voice":"alloy","response_format":"ogg"}"#.into(), "response_format"),
        (r#"{"model":"tts-1","input":"hi","voice":"alloy","instructions":"whisper"}"#.into(), "instructions"),
        (r#"{"model":"tts-1-hd","input":"hi","voice":"alloy","stream_format":"sse"}"#.into(), "stream_format"),
    ];
    for (body, param) in cases {
        let r = server.post("/v1/audio/speech", &body);
        assert_eq!(r.status, 400, "{param}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["param"], param, "{}", r.text());
        assert_eq!(e["error"]["type"], "invalid_request_error");
    }
}

fn b64(s: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s.as_str().expect("base64 string")).unwrap()
}

/// Seconds of speech of `transcript` (150 words a minute; unspaced text counts 6 characters a word).
fn spoken_seconds(transcript: &str) -> f64 {
    let words = transcript.split_whitespace().count();
    let unspaced = transcript.chars().filter(|c| !c.is_whitespace()).count().div_ceil(6);
    words.max(unspaced).max(1) as f64 * 0.4
}

#[test]
fn chat_audio_output_is_a_spoken_file_of_the_transcript() {
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let body = r#"{"model":"gpt-4o-audio-preview","modalities":["text","audio"],"audio":{"voice":"verse","format":"wav"},
        "messages":[{"role":"user","content":"Say something."}],"max_tokens":30}"#;
    let r = server.post("/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let message = &v["choices"][0]["message"];
    assert!(message["content"].is_null(), "the text is the transcript");
    let audio = &message["audio"];
    assert!(audio["id"].as_str().unwrap().starts_with("audio_"));
    assert_eq!(audio["expires_at"].as_u64().unwrap(), v["created"].as_u64().unwrap() + 3600);
    let transcript = audio["transcript"].as_str().unwrap();
    assert!(!transcript.is_empty());
    let seconds = spoken_seconds(transcript);
    let usage = &v["usage"];
    let audio_tokens = usage["completion_tokens_details"]["audio_tokens"].as_u64().unwrap();
    assert_eq!(audio_tokens, (seconds * 20.0).round() as u64, "20 a second; a word is 0.4 s, 8 tokens");
    assert_eq!(usage["completion_tokens"].as_u64().unwrap(), 30 + audio_tokens, "text tokens + audio tokens");
    let wav = b64(&audio["data"]);
    assert_eq!(&wav[..4], b"RIFF");
    if ffprobe().is_some() {
        let path = temp_file("chat.wav", &wav);
        let (codec, duration) = probe(&path, false);
        assert_eq!(codec, "pcm_s16le");
        assert!((duration - seconds).abs() < 0.01, "{duration} s for {transcript:?}");
        std::fs::remove_file(path).unwrap();
    }
    let plain = server.post("/v1/chat/completions", &common::chat("gpt-4o", "hi", r#""max_tokens":5"#)).json();
    assert!(plain["choices"][0]["message"]["audio"].is_null(), "no audio unless asked for");
    assert!(plain["choices"][0]["message"]["content"].is_string());
}

#[test]
fn chat_audio_streams_transcript_then_pcm16_then_expiry() {
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let body = r#"{"model":"gpt-4o-audio-preview","modalities":["text","audio"],"audio":{"voice":"ash","format":"pcm16"},
        "messages":[{"role":"user","content":"Say something."}],"max_tokens":20,"stream":true,
        "stream_options":{"include_usage":true}}"#;
    let r = server.post("/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.events();
    let deltas: Vec<&Value> = events.iter().filter_map(|e| e["choices"].get(0).map(|c| &c["delta"])).collect();
    assert_eq!(deltas[0]["role"], "assistant");
    assert!(deltas[0]["content"].is_null());
    let audio: Vec<&Value> = deltas.iter().filter_map(|d| d.get("audio")).collect();
    let transcript: String = audio.iter().filter_map(|a| a["transcript"].as_str()).collect();
    let pcm: Vec<u8> = audio.iter().filter(|a| a.get("data").is_some()).flat_map(|a| b64(&a["data"])).collect();
    assert_eq!(pcm.len() as f64, (spoken_seconds(&transcript) * 48_000.0).round(), "24 kHz 16-bit mono");
    assert!(audio.iter().any(|a| a["id"].as_str().is_some_and(|id| id.starts_with("audio_"))));
    let last = audio.last().unwrap();
    assert!(
        last.get("expires_at").is_some() && last.as_object().unwrap().len() == 1,
        "the last audio delta: expiry only"
    );
    assert!(deltas.iter().all(|d| d.get("content").is_none_or(Value::is_null)), "text only as transcript");
    let usage = &events.last().unwrap()["usage"];
    assert!(usage["completion_tokens_details"]["audio_tokens"].as_u64().unwrap() > 0);
    let wrong = body.replace("pcm16", "mp3");
    let e = server.post("/v1/chat/completions", &wrong);
    assert_eq!((e.status, e.json()["error"]["param"].as_str()), (400, Some("audio.format")));
}

/// A `multipart/form-data` upload of `file` (named `filename`) with text `fields` to `path`.
fn upload(server: &Server, path: &str, fields: &[(&str, &str)], filename: &str, file: &[u8]) -> common::Response {
    let boundary = "fakeai-test-boundary-7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .bytes(),
    );
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    let mut conn = server.connect();
    conn.write_raw(&request);
    conn.response()
}

/// `words` words of speech as a WAV file from the speech endpoint: 0.4 s a word.
fn spoken_wav(server: &Server, words: usize) -> Vec<u8> {
    let input = "hello ".repeat(words);
    let body = serde_json::json!({"model": "tts-1", "input": input, "voice": "fable", "response_format": "wav"});
    let r = server.post("/v1/audio/speech", &body.to_string());
    assert_eq!(r.status, 200);
    r.body
}

#[test]
fn transcription_segments_and_words_span_the_uploads_real_duration() {
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let wav = spoken_wav(&server, 50); // 20 s
    let fields = [
        ("model", "whisper-1"),
        ("response_format", "verbose_json"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("language", "fr"),
    ];
    let r = upload(&server, "/v1/audio/transcriptions", &fields, "speech.wav", &wav);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["duration"], 20.0);
    assert_eq!(v["language"], "french");
    assert_eq!(v["usage"], serde_json::json!({"type": "duration", "seconds": 20.0}));
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(segments[0]["start"], 0.0);
    assert_eq!(segments.last().unwrap()["end"], 20.0, "the last segment ends with the audio");
    let words = v["words"].as_array().unwrap();
    assert_eq!(words.len(), 50, "150 words a minute of 20 s");
    assert_eq!(words.last().unwrap()["end"], 20.0);
    let joined: String = segments.iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(joined.trim(), v["text"].as_str().unwrap());
    let again = upload(&server, "/v1/audio/transcriptions", &fields, "speech.wav", &wav).json();
    assert_eq!(again["text"], v["text"], "the same file transcribes the same");

    // The same audio as MP3 and FLAC: durations from MPEG frames and STREAMINFO.
    for format in ["mp3", "flac"] {
        let body = serde_json::json!({"model": "tts-1", "input": "hello ".repeat(50), "voice": "fable", "response_format": format});
        let file = server.post("/v1/audio/speech", &body.to_string()).body;
        let fields = [("model", "whisper-1"), ("response_format", "verbose_json")];
        let v = upload(&server, "/v1/audio/transcriptions", &fields, &format!("speech.{format}"), &file).json();
        let duration = v["duration"].as_f64().unwrap();
        assert!((duration - 20.0).abs() < 0.1, "{format}: {duration}");
    }
}

#[test]
fn transcription_formats_usage_streams_translations_and_errors() {
    let server = Server::start(&["--itl", "0", "--ttft", "0"]);
    let wav = spoken_wav(&server, 10); // 4 s
    let t = |fields: &[(&str, &str)]| upload(&server, "/v1/audio/transcriptions", fields, "a.wav", &wav);

    let srt = t(&[("model", "whisper-1"), ("response_format", "srt")]);
    assert!(srt.header("content-type").unwrap().starts_with("text/plain"));
    let srt = srt.text();
    let cue: Vec<&str> = srt.split("\n\n").next().unwrap().lines().collect();
    assert_eq!(cue[0], "1");
    assert!(cue[1].starts_with("00:00:00,000 --> 00:00:0"), "{srt}");
    assert!(srt.contains("--> 00:00:04,000\n"), "{srt}");
    let vtt = t(&[("model", "whisper-1"), ("response_format", "vtt")]).text();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> ") && vtt.contains("--> 00:00:04.000\n"), "{vtt}");
    let text = t(&[("model", "whisper-1"), ("response_format", "text")]).text();
    assert!(text.ends_with(".\n") && text.split_whitespace().count() == 10, "{text:?}");

    let v = t(&[("model", "gpt-4o-transcribe"), ("prompt", "A greeting.")]).json();
    let usage = &v["usage"];
    assert_eq!(usage["type"], "tokens");
    assert_eq!(usage["input_token_details"]["audio_tokens"], 40, "10 audio tokens a second");
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
    );

    let stream = t(&[("model", "gpt-4o-mini-transcribe"), ("stream", "true")]);
    assert!(stream.header("content-type").unwrap().starts_with("text/event-stream"));
    let events: Vec<Value> =
        stream.text().split_terminator("\n\n").map(|e| serde_json::from_str(&e[6..]).unwrap()).collect();
    let (done, deltas) = events.split_last().unwrap();
    assert_eq!(deltas.len(), 10, "a delta per word");
    let streamed: String = deltas.iter().map(|d| d["delta"].as_str().unwrap()).collect();
    assert_eq!((done["type"].as_str(), done["text"].as_str()), (Some("transcript.text.done"), Some(streamed.as_str())));
    assert_eq!(done["usage"]["type"], "tokens");

    let tr = upload(&server, "/v1/audio/translations", &[("model", "whisper-1")], "a.wav", &wav).json();
    assert!(tr["text"].is_string() && tr.get("usage").is_none());
    let tv = upload(
        &server,
        "/v1/audio/translations",
        &[("model", "whisper-1"), ("response_format", "verbose_json")],
        "a.wav",
        &wav,
    )
    .json();
    assert_eq!(
        (tv["task"].as_str(), tv["language"].as_str(), tv["duration"].as_f64()),
        (Some("translate"), Some("english"), Some(4.0))
    );

    let bad = [
        (upload(&server, "/v1/audio/transcriptions", &[("model", "whisper-1")], "a.wav", b"RIFF....WAVEnope"), "file"),
        (upload(&server, "/v1/audio/transcriptions", &[("model", "whisper-1")], "notes.txt", &wav), "file"),
        (upload(&server, "/v1/audio/transcriptions", &[], "a.wav", &wav), "model"),
        (t(&[("model", "gpt-4o-transcribe"), ("response_format", "vtt")]), "response_format"),
        (t(&[("model", "whisper-1"), ("timestamp_granularities[]", "word")]), "timestamp_granularities"),
    ];
    for (r, param) in bad {
        assert_eq!(r.status, 400, "{param}: {}", r.text());
        assert_eq!(r.json()["error"]["param"], param);
    }
    let json_body = server.post("/v1/audio/transcriptions", r#"{"model":"whisper-1"}"#);
    assert_eq!(json_body.status, 400, "a JSON body is not a form");
}

/// The official openai SDK against every audio endpoint, each JSON body validated strictly with
/// its pydantic models (tests/sdk/audio_check.py).
#[test]
fn the_openai_sdk_speaks_transcribes_and_chats_with_audio() {
    common::sdk_check("audio_check.py", "/v1", || Server::start(common::FAST));
}
