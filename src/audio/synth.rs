//! "Speech": a deterministic tone pattern that follows the text. Each word takes an equal slot
//! at about 150 words a minute (divided by `speed`); within it, one tone burst per syllable
//! (vowel group, at most four), pitched from the voice and the word, under a smooth envelope so
//! that no click is heard. Same text, voice and speed: the same samples.

use super::voice::{Voice, fnv};

/// Output sample rate (OpenAI's speech is 24 kHz mono).
pub const SAMPLE_RATE: u32 = 24_000;
/// Speaking rate at `speed` 1.
pub const WORDS_PER_MINUTE: f64 = 150.0;
/// Share of a word's slot that is voiced; the rest is the gap before the next word.
const VOICED: f64 = 0.8;
/// Peak amplitude, of full scale.
const AMPLITUDE: f32 = 0.3;

/// Synthesised speech: 16-bit mono samples at [`SAMPLE_RATE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speech {
    /// The samples.
    pub samples: Vec<i16>,
}

/// Words in `text` for timing: whitespace-separated words, or one per six characters of text
/// written without spaces (so CJK text still takes time to say).
pub fn word_count(text: &str) -> usize {
    let words = text.split_whitespace().count();
    words.max(text.chars().filter(|c| !c.is_whitespace()).count().div_ceil(6)).max(1)
}

/// Seconds it takes to say `text` at `speed`.
pub fn duration_of(text: &str, speed: f64) -> f64 {
    word_count(text) as f64 * 60.0 / WORDS_PER_MINUTE / speed
}

impl Speech {
    /// Says `text` in `voice` at `speed` (0.25–4).
    pub fn new(text: &str, voice: &Voice, speed: f64) -> Speech {
        let total = (duration_of(text, speed) * SAMPLE_RATE as f64).round() as usize;
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let count = word_count(text);
        // Text without spaces: cut it into `count` equal pieces so each gets a slot.
        if words.len() < count {
            words = split_evenly(text, count);
        }
        let mut samples = vec![0i16; total];
        let base = voice.pitch();
        for (i, word) in words.iter().enumerate() {
            let (start, end) = (i * total / count, (i + 1) * total / count);
            say_word(word, base, &mut samples[start..end]);
        }
        Speech { samples }
    }

    /// Seconds of audio.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE as f64
    }

    /// The samples as little-endian bytes (raw `pcm`).
    pub fn pcm_bytes(&self) -> Vec<u8> {
        self.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }
}

/// `text` cut into `n` runs of characters of about equal length.
fn split_evenly(text: &str, n: usize) -> Vec<&str> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let chars = bounds.len() - 1;
    (0..n).map(|i| &text[bounds[i * chars / n]..bounds[(i + 1) * chars / n]]).collect()
}

/// Vowel groups in `word`, 1 to 4.
fn syllables(word: &str) -> usize {
    let mut groups = 0;
    let mut in_vowel = false;
    for c in word.chars() {
        let vowel = "aeiouyAEIOUY".contains(c);
        if vowel && !in_vowel {
            groups += 1;
        }
        in_vowel = vowel;
    }
    groups.clamp(1, 4)
}

/// Fills `slot` with one word: a burst per syllable in the voiced part, silence after.
fn say_word(word: &str, base: f64, slot: &mut [i16]) {
    let n = syllables(word);
    let voiced = (slot.len() as f64 * VOICED) as usize;
    let seed = fnv(word.as_bytes());
    for k in 0..n {
        let (start, end) = (k * voiced / n, (k + 1) * voiced / n);
        // Pitch within ±12 % of the voice's, varying by word and syllable.
        let wobble = ((seed >> (8 * k)) & 0xff) as f64 / 255.0 - 0.5;
        burst(base * (1.0 + 0.24 * wobble), &mut slot[start..end]);
    }
}

/// A tone with its octave, under a raised-sine envelope that starts and ends at zero.
fn burst(pitch: f64, out: &mut [i16]) {
    let len = out.len().max(1) as f32;
    let step = (2.0 * std::f64::consts::PI * pitch / SAMPLE_RATE as f64) as f32;
    for (i, s) in out.iter_mut().enumerate() {
        let t = i as f32;
        let envelope = (std::f32::consts::PI * t / len).sin();
        let tone = (step * t).sin() + 0.5 * (2.0 * step * t).sin();
        *s = (AMPLITUDE / 1.5 * envelope * envelope * tone * i16::MAX as f32) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(name: &str) -> Voice {
        Voice(name.into())
    }

    #[test]
    fn duration_follows_words_and_speed() {
        let text = "one two three four five six seven eight nine ten";
        let s = Speech::new(text, &voice("alloy"), 1.0);
        assert!((s.duration() - 4.0).abs() < 1e-3, "10 words at 150/min: {}", s.duration());
        assert!((Speech::new(text, &voice("alloy"), 2.0).duration() - 2.0).abs() < 1e-3);
        assert!((duration_of("你好世界你好世界你好世界", 1.0) - 0.8).abs() < 1e-9, "12 chars, no spaces: 2 words");
    }

    #[test]
    fn audible_deterministic_and_voice_dependent() {
        let a = Speech::new("hello there world", &voice("nova"), 1.0);
        assert_eq!(a, Speech::new("hello there world", &voice("nova"), 1.0));
        assert_ne!(a, Speech::new("hello there world", &voice("onyx"), 1.0));
        let peak = a.samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 5_000, "audible: peak {peak}");
        assert_eq!(a.samples[0], 0, "starts silent, no click");
        let gap = a.samples.len() / 3 - 10;
        assert_eq!(a.samples[gap], 0, "silence between words");
    }
}
