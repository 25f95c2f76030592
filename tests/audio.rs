//! Audio endpoints over HTTP, their files checked by an independent decoder (Debian's
//! ffprobe/ffmpeg; `.ci/run` installs them).

mod common;

use std::process::Command;

use common::Server;
use serde_json::Value;

/// 20 words: 8 s at 150 words a minute.
const TWENTY_WORDS: &str = "Speech from a fake server still needs to sound like speech, so every word \
                            becomes a few short tones today";

fn ffprobe() -> Option<()> {
    common::tool_or_skip(Command::new("ffprobe").arg("-version").output().ok().map(|_| ()), "ffprobe (Debian ffmpeg)")
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("fakeai-audio-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

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
    assert_eq!(audio_tokens, (seconds * 20.0).ceil() as u64);
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
