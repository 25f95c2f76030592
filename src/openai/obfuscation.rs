//! `ChatCompletionChunk.obfuscation`: OpenAI pads each streamed chunk with a random string so that
//! chunk sizes do not reveal token lengths. Off unless `--stream-obfuscation`; then on for every
//! chat stream that does not send `stream_options.include_obfuscation: false`.

use std::cell::Cell;

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Padding is 1 to this many characters long.
const MAX_LEN: u64 = 16;

/// One stream's padding generator (xorshift64*, its state in a cell: chunks are written through
/// a shared reference).
#[derive(Debug, Clone)]
pub struct Obfuscation {
    state: Cell<u64>,
}

impl Obfuscation {
    /// A generator seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        Obfuscation { state: Cell::new(seed | 1) }
    }

    fn next(&self) -> u64 {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Appends `,"obfuscation":"…"`: a random alphanumeric string of 1–16 characters.
    pub fn push(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"obfuscation\":\"");
        let len = 1 + self.next() % MAX_LEN;
        let mut bits = self.next();
        for i in 0..len {
            if i == 10 {
                bits = self.next();
            }
            out.push(ALPHABET[(bits % 62) as usize]);
            bits /= 62;
        }
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_short_random_alphanumerics() {
        let o = Obfuscation::new(7);
        let pads: Vec<String> = (0..50)
            .map(|_| {
                let mut out = Vec::new();
                o.push(&mut out);
                let v: serde_json::Value = serde_json::from_slice(&[b"{\"x\":0", &out[..], b"}"].concat()).unwrap();
                v["obfuscation"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(pads.iter().all(|p| (1..=16).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())));
        assert!(pads.iter().any(|p| p != &pads[0]), "varies chunk to chunk");
    }
}
