//! Deterministic output text, one vocabulary token per call.

use super::vocab::{CAPITAL, CAPITAL_SPACED, SPACED};
use crate::rng::Rng;

/// Shortest and longest sentence, in words.
const SENTENCE_WORDS: (u64, u64) = (6, 18);
/// One comma per this many word slots, on average.
const COMMA_ODDS: u64 = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    TextStart,
    SentenceStart,
    Inside { words_left: u64, comma_ok: bool },
}

/// Generates text as a sequence of pieces that are each exactly one token under cl100k_base
/// and o200k_base, and that concatenate without changing how a tokenizer splits them:
/// capitalized sentences of spaced words, with commas and periods as their own pieces.
#[derive(Debug, Clone)]
pub struct TextGen {
    rng: Rng,
    place: Place,
}

impl TextGen {
    /// A generator whose output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        TextGen { rng: Rng::new(seed), place: Place::TextStart }
    }

    /// The next token's text.
    pub fn next_token(&mut self) -> &'static str {
        match self.place {
            Place::TextStart => self.start_sentence(&CAPITAL),
            Place::SentenceStart => self.start_sentence(&CAPITAL_SPACED),
            Place::Inside { words_left: 0, .. } => {
                self.place = Place::SentenceStart;
                "."
            }
            Place::Inside { words_left, comma_ok } => {
                if comma_ok && words_left > 1 && self.rng.below(COMMA_ODDS) == 0 {
                    self.place = Place::Inside { words_left, comma_ok: false };
                    return ",";
                }
                self.place = Place::Inside { words_left: words_left - 1, comma_ok: true };
                self.word(&SPACED)
            }
        }
    }

    fn start_sentence(&mut self, forms: &'static [&'static str]) -> &'static str {
        let (lo, hi) = SENTENCE_WORDS;
        let words = lo + self.rng.below(hi - lo + 1);
        self.place = Place::Inside { words_left: words - 1, comma_ok: true };
        self.word(forms)
    }

    fn word(&mut self, forms: &'static [&'static str]) -> &'static str {
        forms[self.rng.below(forms.len() as u64) as usize]
    }

    /// Appends `n` tokens of text to `out`.
    pub fn push_tokens(&mut self, n: usize, out: &mut String) {
        for _ in 0..n {
            out.push_str(self.next_token());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_sentences_and_is_seeded() {
        let mut text = String::new();
        TextGen::new(1).push_tokens(200, &mut text);
        let mut again = String::new();
        TextGen::new(1).push_tokens(200, &mut again);
        assert_eq!(text, again);
        assert!(text.chars().next().unwrap().is_ascii_uppercase());
        assert!(!text.contains(",.") && !text.contains(" ,") && !text.contains(".,"));
        assert!(text.contains(". "), "several sentences: {text}");
        let mut other = String::new();
        TextGen::new(2).push_tokens(200, &mut other);
        assert_ne!(text, other);
    }
}
