//! A transcript of uploaded audio: deterministic words (from the file's bytes, the language
//! and the prompt) at 150 words a minute of the audio's real duration, each word timed
//! evenly across it, grouped into sentence-like segments; rendered as OpenAI's `text`, `srt`,
//! `vtt` and `verbose_json` shapes.

use serde_json::{Value, json};

use super::{synth::WORDS_PER_MINUTE, voice::fnv};
use crate::tokens::TextGen;

/// Most words in one segment.
const SEGMENT_WORDS: usize = 12;

/// One timed word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// The word, punctuation attached.
    pub text: String,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

/// A transcript: its words across `duration` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words, in order.
    pub words: Vec<Word>,
    /// The audio's duration, seconds.
    pub duration: f64,
}

/// One segment: a run of words.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its text (words joined by spaces).
    pub text: String,
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
}

impl Transcript {
    /// Transcribes `duration` seconds of audio; `seed` picks the words.
    pub fn new(seed: u64, duration: f64) -> Transcript {
        let count = ((duration * WORDS_PER_MINUTE / 60.0).round() as usize).max(1);
        let mut text = String::new();
        let mut tokens = TextGen::new(seed);
        // Tokens until there is one word more than needed: the last one may still be growing.
        while text.split_whitespace().count() <= count {
            text.push_str(tokens.next_token());
        }
        let mut words: Vec<String> = text.split_whitespace().take(count).map(str::to_owned).collect();
        if let Some(last) = words.last_mut() {
            let trimmed = last.trim_end_matches(|c: char| c.is_ascii_punctuation()).to_owned();
            *last = if trimmed.is_empty() { ".".into() } else { format!("{trimmed}.") };
        }
        let step = duration / count as f64;
        let words = words
            .into_iter()
            .enumerate()
            .map(|(i, text)| Word { text, start: i as f64 * step, end: (i + 1) as f64 * step })
            .collect();
        Transcript { words, duration }
    }

    /// The seed of a transcript of `file` given `language` and `prompt`.
    pub fn seed(file: &[u8], language: Option<&str>, prompt: Option<&str>) -> u64 {
        let sample = &file[..file.len().min(64 * 1024)];
        fnv(sample)
            ^ (file.len() as u64)
            ^ fnv(language.unwrap_or("").as_bytes()).rotate_left(17)
            ^ fnv(prompt.unwrap_or("").as_bytes()).rotate_left(33)
    }

    /// The whole text.
    pub fn text(&self) -> String {
        self.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The text as streamed: each word (with its leading space) one delta.
    pub fn deltas(&self) -> impl Iterator<Item = String> + '_ {
        self.words.iter().enumerate().map(|(i, w)| if i == 0 { w.text.clone() } else { format!(" {}", w.text) })
    }

    /// Segments: a sentence, or at most `SEGMENT_WORDS` words; the last ends with the audio.
    pub fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut run: Vec<&Word> = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            run.push(w);
            let sentence_end = w.text.ends_with(['.', '!', '?']);
            if sentence_end || run.len() == SEGMENT_WORDS || i + 1 == self.words.len() {
                let text = run.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
                out.push(Segment { text, start: run[0].start, end: run[run.len() - 1].end });
                run.clear();
            }
        }
        if let Some(last) = out.last_mut() {
            last.end = self.duration;
        }
        out
    }

    /// SubRip: numbered cues with `HH:MM:SS,mmm` times.
    pub fn srt(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.segments().iter().enumerate() {
            out.push_str(&format!("{}\n{} --> {}\n{}\n\n", i + 1, clock(s.start, ','), clock(s.end, ','), s.text));
        }
        out
    }

    /// WebVTT: the `WEBVTT` header, then cues with `HH:MM:SS.mmm` times.
    pub fn vtt(&self) -> String {
        let mut out = String::from("WEBVTT\n\n");
        for s in self.segments() {
            out.push_str(&format!("{} --> {}\n{}\n\n", clock(s.start, '.'), clock(s.end, '.'), s.text));
        }
        out
    }

    /// `verbose_json`'s segments, in Whisper's shape.
    pub fn segments_json(&self, temperature: f64) -> Value {
        let segments = self.segments();
        let list = segments.iter().enumerate().map(|(id, s)| {
            let tokens: Vec<u64> = s.text.split_whitespace().map(|w| 220 + fnv(w.as_bytes()) % 50_000).collect();
            json!({
                "id": id,
                "seek": (s.start / 30.0).floor() as u64 * 3000,
                "start": round_ms(s.start),
                "end": round_ms(s.end),
                "text": format!(" {}", s.text),
                "tokens": tokens,
                "temperature": temperature,
                "avg_logprob": -0.2 - (fnv(s.text.as_bytes()) % 100) as f64 / 1000.0,
                "compression_ratio": 1.4,
                "no_speech_prob": 0.01,
            })
        });
        Value::Array(list.collect())
    }

    /// `verbose_json`'s words.
    pub fn words_json(&self) -> Value {
        let words = self.words.iter().map(|w| {
            let bare = w.text.trim_matches(|c: char| c.is_ascii_punctuation());
            json!({"word": if bare.is_empty() { w.text.as_str() } else { bare }, "start": round_ms(w.start), "end": round_ms(w.end)})
        });
        Value::Array(words.collect())
    }
}

/// Seconds to milliseconds precision (what Whisper reports).
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// `HH:MM:SS` then `sep` and milliseconds.
fn clock(seconds: f64, sep: char) -> String {
    let ms = (seconds * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Whisper's name of a language given by its ISO-639-1 code (the code itself when unlisted).
pub fn language_name(code: Option<&str>) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("en", "english"),
        ("fr", "french"),
        ("de", "german"),
        ("es", "spanish"),
        ("it", "italian"),
        ("pt", "portuguese"),
        ("nl", "dutch"),
        ("ja", "japanese"),
        ("zh", "chinese"),
        ("ko", "korean"),
        ("ru", "russian"),
        ("ar", "arabic"),
        ("hi", "hindi"),
        ("pl", "polish"),
        ("tr", "turkish"),
        ("sv", "swedish"),
        ("uk", "ukrainian"),
    ];
    let code = code.unwrap_or("en");
    NAMES.iter().find(|(c, _)| c.eq_ignore_ascii_case(code)).map_or(code.to_ascii_lowercase(), |(_, n)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_span_the_audio_at_speaking_rate() {
        let t = Transcript::new(7, 12.0);
        assert_eq!(t.words.len(), 30, "150 words a minute");
        assert_eq!(t.words[0].start, 0.0);
        assert!((t.words.last().unwrap().end - 12.0).abs() < 1e-9);
        assert!(t.text().ends_with('.'));
        assert_eq!(t, Transcript::new(7, 12.0), "deterministic");
        assert_ne!(t.text(), Transcript::new(8, 12.0).text());
        let segments = t.segments();
        assert_eq!(segments[0].start, 0.0);
        assert_eq!(segments.last().unwrap().end, 12.0);
        assert!(segments.windows(2).all(|w| w[0].end <= w[1].start + 1e-9));
        assert_eq!(segments.iter().map(|s| s.text.split_whitespace().count()).sum::<usize>(), 30);
        assert_eq!(t.deltas().collect::<String>(), t.text());
    }

    #[test]
    fn srt_and_vtt_syntax() {
        let t = Transcript::new(3, 61.5);
        let srt = t.srt();
        assert!(srt.starts_with("1\n00:00:00,000 --> "));
        assert!(srt.trim_end().lines().last().is_some());
        assert!(srt.contains(" --> 00:01:01,500\n"), "the last cue ends with the audio");
        let vtt = t.vtt();
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> "));
        assert!(vtt.contains(" --> 00:01:01.500\n"));
        assert_eq!(clock(3723.0456, ','), "01:02:03,046");
        assert_eq!(language_name(Some("FR")), "french");
        assert_eq!(language_name(Some("xx")), "xx");
    }
}
