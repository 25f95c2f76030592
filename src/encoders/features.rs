//! A text's bag of hashed features: words and their character trigrams (see [`super`]).

/// Weight of an ordinary word.
const WORD: f32 = 1.0;
/// Weight of a stop word (a few dozen common English words, and the scale of their trigrams): shared articles and prepositions should
/// not make texts similar.
const STOP_WORD: f32 = 0.2;
/// Weight of each character trigram of a word.
const TRIGRAM: f32 = 0.3;
/// Marks the start and end of a word in its trigrams.
const WORD_START: u8 = 0x02;
/// Marks the end of a word in its trigrams.
const WORD_END: u8 = 0x03;

/// A text's features: `(hash, weight)` sorted by hash, each hash once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    items: Vec<(u64, f32)>,
}

/// A 64-bit hash of `bytes` salted with `salt` (FNV-1a, then SplitMix64's finalizer so that
/// every bit depends on every byte).
pub fn hash(bytes: &[u8], salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ salt;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// SplitMix64's finalizer.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Calls `f(hash, weight)` for each feature of `text` in text order, a repeated feature each
/// time it occurs: summing them is what [`Features::of_text`] does, without the sort.
pub fn for_each(text: &str, mut f: impl FnMut(u64, f32)) {
    let mut word = Vec::with_capacity(32);
    let mut any = false;
    for raw in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        word.clear();
        word.push(WORD_START);
        match raw.is_ascii() {
            true => word.extend(raw.bytes().map(|b| b.to_ascii_lowercase())),
            false => word.extend_from_slice(raw.to_lowercase().as_bytes()),
        }
        word.push(WORD_END);
        let bare = &word[1..word.len() - 1];
        // A stop word's trigrams are scaled down with it.
        let scale = if is_stop_word(bare) { STOP_WORD } else { WORD };
        f(hash(bare, 0), scale);
        word.windows(3).for_each(|t| f(hash(t, 3), TRIGRAM * scale));
        any = true;
    }
    if !any {
        f(hash(text.as_bytes(), 1), WORD);
    }
}

impl Features {
    /// The features of `text`, merged (see [`for_each`] for the unmerged stream).
    pub fn of_text(text: &str) -> Features {
        let mut items = Vec::with_capacity(text.len() / 2 + 1);
        for_each(text, |h, w| items.push((h, w)));
        Features::merged(items)
    }

    /// The features of token ids outside the tokenizer's vocabulary: one per id.
    pub fn of_ids(ids: &[u64]) -> Features {
        let items = ids.iter().map(|id| (hash(&id.to_le_bytes(), 2), WORD)).collect();
        Features::merged(items)
    }

    /// Sorts by hash and sums the weights of equal hashes.
    fn merged(mut items: Vec<(u64, f32)>) -> Features {
        items.sort_unstable_by_key(|&(h, _)| h);
        items.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        Features { items }
    }

    /// `(hash, weight)` of every feature.
    pub fn items(&self) -> &[(u64, f32)] {
        &self.items
    }

    /// The Euclidean norm of the weights.
    pub fn norm(&self) -> f32 {
        self.items.iter().map(|(_, w)| w * w).sum::<f32>().sqrt()
    }

    /// Cosine similarity of the two bags, in `[0, 1]` (weights are positive): 1 for the same
    /// words, 0 for no word or trigram in common.
    pub fn cosine(&self, other: &Features) -> f32 {
        let (mut a, mut b, mut dot) = (self.items.iter().peekable(), other.items.iter().peekable(), 0.0f32);
        while let (Some(&&(ha, wa)), Some(&&(hb, wb))) = (a.peek(), b.peek()) {
            match ha.cmp(&hb) {
                std::cmp::Ordering::Less => _ = a.next(),
                std::cmp::Ordering::Greater => _ = b.next(),
                std::cmp::Ordering::Equal => {
                    dot += wa * wb;
                    a.next();
                    b.next();
                }
            }
        }
        let norms = self.norm() * other.norm();
        if norms > 0.0 { (dot / norms).clamp(0.0, 1.0) } else { 0.0 }
    }
}

/// Whether `word` (lower-case) is one of the few dozen English stop words weighed down.
pub fn is_stop_word(word: &[u8]) -> bool {
    matches!(
        word,
        b"a" | b"an"
            | b"and"
            | b"are"
            | b"as"
            | b"at"
            | b"be"
            | b"by"
            | b"do"
            | b"for"
            | b"from"
            | b"has"
            | b"have"
            | b"he"
            | b"her"
            | b"his"
            | b"i"
            | b"in"
            | b"is"
            | b"it"
            | b"its"
            | b"me"
            | b"my"
            | b"of"
            | b"on"
            | b"or"
            | b"our"
            | b"she"
            | b"so"
            | b"that"
            | b"the"
            | b"their"
            | b"they"
            | b"this"
            | b"to"
            | b"was"
            | b"we"
            | b"were"
            | b"what"
            | b"will"
            | b"with"
            | b"you"
            | b"your"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &str, b: &str) -> f32 {
        Features::of_text(a).cosine(&Features::of_text(b))
    }

    #[test]
    fn same_words_any_case_or_punctuation_are_identical() {
        assert_eq!(Features::of_text("Hello, World!"), Features::of_text("hello world"));
        assert!((cos("the cat sat", "the cat sat") - 1.0).abs() < 1e-6);
    }

    #[test]
    fn shared_words_are_closer_than_unrelated_ones() {
        let query = "how do I bake sourdough bread";
        let near = cos(query, "a recipe to bake sourdough bread at home");
        let far = cos(query, "quarterly earnings of the semiconductor industry");
        assert!(near > 0.3 && far < 0.05, "near {near}, far {far}");
        assert!(cos("embedding", "embeddings") > 0.3, "trigrams relate word forms");
        assert!(cos("embedding", "tractor") < 0.01);
    }

    #[test]
    fn stop_words_weigh_little() {
        assert!(cos("the cat of the house", "the dog of the garden") < 0.15);
    }

    #[test]
    fn a_text_without_words_still_has_a_feature() {
        assert_eq!(Features::of_text("!!!").items().len(), 1);
        assert_ne!(Features::of_text("!!!"), Features::of_text("???"));
        assert_eq!(Features::of_ids(&[7, 7]).items(), &[(hash(&7u64.to_le_bytes(), 2), 2.0)]);
    }
}
