//! Prompt-token counting with OpenAI's BPE encodings.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicBool, Ordering},
};

/// Bytes tokenized at a time when a long text is counted against a cap (~1 ms of work).
const PIECE: usize = 64 * 1024;

/// A seam that is not a pre-tokenizer boundary may change the count by a few tokens.
const SEAM_SLACK: usize = 8;

/// Counts `text` piece by piece with `count`, stopping once the total is certainly above `cap`.
/// Pieces end where the pre-tokenizer splits anyway, so their counts add up exactly; a text with
/// no such place nearby is cut at a character, and then it is counted again whole if it turns
/// out to be within the cap.
fn count_pieces(text: &str, cap: usize, piece: usize, count: impl Fn(&str) -> usize) -> usize {
    if text.len() <= piece {
        return count(text);
    }
    let (mut total, mut rest, mut rough_seams) = (0, text, 0);
    while !rest.is_empty() {
        let (head, tail, exact) = split_piece(rest, piece);
        total += count(head);
        rough_seams += usize::from(!exact);
        if total > cap.saturating_add(rough_seams * SEAM_SLACK) {
            return total;
        }
        rest = tail;
    }
    if rough_seams == 0 { total } else { count(text) }
}

/// Splits about `piece` bytes off `text`: before a space that follows an ASCII character other
/// than whitespace when there is one in the piece's second half (no token of cl100k's or o200k's
/// pre-tokenizer contains that pair, so the seam changes nothing), else at a character boundary.
/// Returns the head, the rest, and whether the seam is exact.
fn split_piece(text: &str, piece: usize) -> (&str, &str, bool) {
    if text.len() <= piece {
        return (text, "", true);
    }
    let bytes = text.as_bytes();
    let word_end = |i: &usize| bytes[*i] == b' ' && bytes[*i - 1].is_ascii() && !bytes[*i - 1].is_ascii_whitespace();
    if let Some(at) = (piece / 2..=piece).rev().find(word_end) {
        return (&text[..at], &text[at..], true);
    }
    let at = (0..=piece).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0).max(1);
    let at = (at..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    (&text[..at], &text[at..], false)
}

/// Set once each encoding's tables are built.
static LOADED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// A built-in tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// GPT-4 / GPT-3.5 encoding; AIPerf's usual offline choice, and our default.
    #[default]
    Cl100kBase,
    /// GPT-4o / gpt-oss encoding.
    O200kBase,
}

impl Encoding {
    fn bpe(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
            Encoding::O200kBase => bpe_openai::o200k_base(),
        }
    }

    /// Number of tokens in `text`.
    pub fn count(self, text: &str) -> usize {
        if text.is_empty() { 0 } else { self.bpe().count(text) }
    }

    /// Number of tokens in `text` if it is at most `cap`; otherwise some number above `cap`,
    /// found without tokenizing the rest. A prompt beyond the context window is refused whatever
    /// its exact length, and tokenizing 60 MB on a worker's thread stalled its streams for ~0.9 s.
    pub fn count_up_to(self, text: &str, cap: usize) -> usize {
        count_pieces(text, cap, PIECE, |piece| self.count(piece))
    }

    /// Where each token of `text` ends, as byte offsets. A token that ends inside a character
    /// is merged with the next, so every piece between two offsets is whole UTF-8.
    pub fn token_ends(self, text: &str) -> Vec<usize> {
        let bpe = &self.bpe().bpe;
        let mut ends = Vec::new();
        let mut at = 0;
        for token in self.bpe().encode(text) {
            at += bpe.token_len(token);
            if text.is_char_boundary(at) {
                ends.push(at);
            }
        }
        ends
    }

    /// The token ids of `text`, as tiktoken encodes it (no special tokens).
    pub fn encode(self, text: &str) -> Vec<u32> {
        self.bpe().encode(text)
    }

    /// Number of ordinary (non-special) tokens: valid ids are below it.
    pub fn vocab_size(self) -> u32 {
        self.bpe().bpe.num_tokens() as u32
    }

    /// The bytes of ordinary token `id`, or `None` past the vocabulary.
    pub fn token_bytes(self, id: u32) -> Option<&'static [u8]> {
        (id < self.vocab_size()).then(|| self.bpe().bpe.token_bytes(id))
    }

    /// The end-of-text special token: its id (just past the ordinary ones, as tiktoken numbers
    /// it) and its text.
    pub fn end_of_text(self) -> (u32, &'static str) {
        match self {
            Encoding::Cl100kBase => (100_257, "<|endoftext|>"),
            Encoding::O200kBase => (199_999, "<|endoftext|>"),
        }
    }

    /// The text of token ids (bytes that are not whole UTF-8 replaced), or `None` when an id is
    /// outside the vocabulary.
    pub fn decode(self, ids: &[u64]) -> Option<String> {
        let bpe = &self.bpe().bpe;
        let vocab = bpe.num_tokens() as u64;
        let ids: Vec<u32> = ids.iter().map(|&id| (id < vocab).then_some(id as u32)).collect::<Option<_>>()?;
        Some(String::from_utf8_lossy(&bpe.decode_tokens(&ids)).into_owned())
    }

    /// Builds the encoding's tables now (they are otherwise built on first use).
    pub fn preload(self) {
        self.bpe();
        LOADED[self as usize].store(true, Ordering::Release);
    }

    /// Whether `preload` has finished.
    pub fn is_ready(self) -> bool {
        LOADED[self as usize].load(Ordering::Acquire)
    }

    /// The encoding's name, as tiktoken spells it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }
}

impl FromStr for Encoding {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cl100k_base" | "cl100k" => Ok(Encoding::Cl100kBase),
            "o200k_base" | "o200k" => Ok(Encoding::O200kBase),
            _ => Err(format!("unknown tokenizer {s:?} (built in: cl100k_base, o200k_base)")),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_tiktoken() {
        // Reference counts from tiktoken.
        assert_eq!(Encoding::Cl100kBase.count("Hello, world!"), 4);
        assert_eq!(Encoding::O200kBase.count("Hello, world!"), 4);
        assert_eq!(Encoding::Cl100kBase.count(""), 0);
        assert_eq!("o200k_base".parse::<Encoding>(), Ok(Encoding::O200kBase));
        assert!("gpt2".parse::<Encoding>().is_err());
        let text = r#"{"city": "Paris", "temperature": 21.5, "note": "naïve"}"#;
        let ends = Encoding::Cl100kBase.token_ends(text);
        assert_eq!(ends.last(), Some(&text.len()));
        assert!(ends.len() >= Encoding::Cl100kBase.count(text) - 1 && ends.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn counting_piece_by_piece_is_exact_within_the_cap_and_stops_beyond_it() {
        let prose =
            "The quick brown fox, naïve as ever, jumps over 1234 lazy dogs.\n\n  Indented  text\tand\r\n".repeat(40);
        let code = "fn main() { let x = vec![1, 2, 3]; println!(\"{x:?}\"); }\n    // comment's here\n".repeat(40);
        let cjk = "日本語のテキストには空白がありません。".repeat(60);
        let mixed = format!("{prose}{cjk}{code} trailing   spaces   ");
        for e in [Encoding::Cl100kBase, Encoding::O200kBase] {
            for text in [&prose, &code, &cjk, &mixed] {
                let exact = e.count(text);
                for piece in [64, 97, 500] {
                    assert_eq!(count_pieces(text, usize::MAX, piece, |t| e.count(t)), exact, "{e} piece {piece}");
                    assert_eq!(count_pieces(text, exact, piece, |t| e.count(t)), exact, "a cap met exactly");
                }
            }
        }
        let counted = std::cell::Cell::new(0);
        let huge = "word ".repeat(1_000_000);
        let n = count_pieces(&huge, 1000, PIECE, |t| {
            counted.set(counted.get() + t.len());
            Encoding::Cl100kBase.count(t)
        });
        assert!(n > 1000, "{n}");
        assert!(counted.get() <= PIECE, "stopped after the first piece, not {} bytes", counted.get());
        let spaceless = "a".repeat(1 << 20);
        assert!(Encoding::Cl100kBase.count_up_to(&spaceless, 100) > 100);
    }

    #[test]
    fn ids_match_tiktoken_and_decode_back() {
        // tiktoken: "Hello, world!" is [9906, 11, 1917, 0] in cl100k_base.
        let e = Encoding::Cl100kBase;
        assert_eq!(e.encode("Hello, world!"), [9906, 11, 1917, 0]);
        assert_eq!(e.token_bytes(1917), Some(b" world".as_slice()));
        assert_eq!(e.vocab_size(), 100_256);
        assert_eq!(e.token_bytes(e.vocab_size()), None);
        assert_eq!(Encoding::O200kBase.end_of_text().0, 199_999);
    }

    #[test]
    fn decodes_ids_in_the_vocabulary() {
        assert_eq!(Encoding::Cl100kBase.decode(&[9906, 11, 1917, 0]).as_deref(), Some("Hello, world!"));
        let ids: Vec<u64> = Encoding::O200kBase.bpe().encode("naïve café").into_iter().map(u64::from).collect();
        assert_eq!(Encoding::O200kBase.decode(&ids).as_deref(), Some("naïve café"));
        assert_eq!(Encoding::Cl100kBase.decode(&[9906, 10_000_000]), None);
    }
}
