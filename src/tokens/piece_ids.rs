//! The token id of each piece the text generator emits (every piece is exactly one token), looked
//! up in a table built once per encoding, so token-id streams cost a hash lookup per token.

use std::{collections::HashMap, sync::OnceLock};

use super::{
    Encoding,
    vocab::{CAPITAL, CAPITAL_SPACED, SPACED},
};

/// One table per encoding, built on first use.
static TABLES: [OnceLock<HashMap<&'static str, u32>>; 2] = [OnceLock::new(), OnceLock::new()];

impl Encoding {
    /// The id of `piece`, a single token: from the generator's table, else by encoding it (its
    /// first token).
    pub fn piece_id(self, piece: &str) -> u32 {
        let table = TABLES[self as usize].get_or_init(|| {
            let pieces = SPACED.iter().chain(&CAPITAL).chain(&CAPITAL_SPACED).chain(&[",", "."]);
            pieces.map(|&p| (p, self.encode(p)[0])).collect()
        });
        match table.get(piece) {
            Some(&id) => id,
            None => self.encode(piece).first().copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TextGen;

    #[test]
    fn generated_pieces_have_their_tokenizer_ids() {
        for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
            let mut text_gen = TextGen::new(5);
            let pieces: Vec<&str> = (0..200).map(|_| text_gen.next_token()).collect();
            let ids: Vec<u32> = pieces.iter().map(|p| encoding.piece_id(p)).collect();
            assert_eq!(ids, encoding.encode(&pieces.concat()), "{encoding}");
        }
    }
}
