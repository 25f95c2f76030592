//! Simulated log-probabilities: for each output token a plausible logprob (near 0, seeded) and
//! `top` alternatives from the vocabulary in descending order, the sampled token first, encoded
//! in chat's and legacy completions' shapes without allocating.

use std::io::Write;

use super::chunks::push_json_str;
use crate::{rng::Rng, tokens::vocab::SPACED};

/// The logprob source of one choice.
#[derive(Debug, Clone)]
pub struct Logprobs {
    rng: Rng,
    top: u32,
}

impl Logprobs {
    /// A source fixed by `seed`, giving `top` alternatives per token.
    pub fn new(seed: u64, top: u32) -> Self {
        Logprobs { rng: Rng::new(seed ^ 0x10C9_2B5E_0000_0000), top }
    }

    /// The sampled token's logprob.
    fn sample(&mut self) -> f64 {
        let u = self.rng.unit();
        -(u * u * 2.0)
    }

    /// The `top` alternatives as (token, logprob), best first: the sampled token itself, then
    /// other vocabulary words, each less likely than the one before.
    fn alternatives(&mut self, token: &str, logprob: f64, mut each: impl FnMut(usize, &str, f64)) {
        if self.top == 0 {
            return;
        }
        each(0, token, logprob);
        let mut lp = logprob;
        for i in 1..self.top as usize {
            lp -= 0.25 + self.rng.unit() * 2.0;
            let pick = self.rng.below(SPACED.len() as u64) as usize;
            let other = if SPACED[pick] == token { SPACED[(pick + 1) % SPACED.len()] } else { SPACED[pick] };
            each(i, other, lp);
        }
    }

    /// Chat's entry for one token: `{"token","logprob","bytes","top_logprobs":[…]}`.
    pub fn chat_entry(&mut self, token: &str, out: &mut Vec<u8>) {
        let logprob = self.sample();
        chat_top(out, token, logprob);
        out.pop();
        out.extend_from_slice(b",\"top_logprobs\":[");
        self.alternatives(token, logprob, |i, t, lp| {
            if i > 0 {
                out.push(b',');
            }
            chat_top(out, t, lp);
        });
        out.extend_from_slice(b"]}");
    }

    /// Chat's per-chunk `logprobs` value for one token: `{"content":[entry]}`.
    pub fn chat_chunk(&mut self, token: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"content\":[");
        self.chat_entry(token, out);
        out.extend_from_slice(b"]}");
    }

    /// Legacy completions' per-chunk `logprobs` value for one token at `offset` in the text.
    pub fn completion_chunk(&mut self, token: &str, offset: usize, out: &mut Vec<u8>) {
        let logprob = self.sample();
        out.extend_from_slice(b"{\"tokens\":[");
        push_json_str(out, token);
        out.extend_from_slice(b"],\"token_logprobs\":[");
        push_f64(out, logprob);
        out.extend_from_slice(b"],\"top_logprobs\":[{");
        self.alternatives(token, logprob, |i, t, lp| {
            if i > 0 {
                out.push(b',');
            }
            push_json_str(out, t);
            out.push(b':');
            push_f64(out, lp);
        });
        out.extend_from_slice(b"}],\"text_offset\":[");
        let _ = write!(out, "{offset}");
        out.extend_from_slice(b"]}");
    }

    /// Chat's whole `logprobs` object for a non-streaming choice.
    pub fn chat_all<'a>(&mut self, tokens: impl Iterator<Item = &'a str>) -> serde_json::Value {
        let mut out = b"{\"content\":[".to_vec();
        for (i, token) in tokens.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.chat_entry(token, &mut out);
        }
        out.extend_from_slice(b"]}");
        serde_json::from_slice(&out).expect("logprobs are valid JSON")
    }

    /// Legacy completions' whole `logprobs` object; `prompt` tokens (echo) come first, the very
    /// first with a null logprob, as vLLM reports them.
    pub fn completion_all<'a>(
        &mut self,
        prompt: impl Iterator<Item = &'a str>,
        tokens: impl Iterator<Item = &'a str>,
    ) -> serde_json::Value {
        let (mut all, mut lps, mut tops, mut offsets) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0;
        for (i, token) in prompt.map(|t| (true, t)).chain(tokens.map(|t| (false, t))).enumerate() {
            let (is_prompt, token) = token;
            let mut top = serde_json::Map::new();
            let lp = self.sample();
            self.alternatives(token, lp, |_, t, lp| {
                top.insert(t.to_owned(), lp.into());
            });
            let first = is_prompt && i == 0;
            lps.push(if first { serde_json::Value::Null } else { lp.into() });
            tops.push(if first { serde_json::Value::Null } else { top.into() });
            all.push(token.to_owned());
            offsets.push(offset);
            offset += token.len();
        }
        serde_json::json!({"tokens": all, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
    }
}

fn chat_top(out: &mut Vec<u8>, token: &str, logprob: f64) {
    out.extend_from_slice(b"{\"token\":");
    push_json_str(out, token);
    out.extend_from_slice(b",\"logprob\":");
    push_f64(out, logprob);
    out.extend_from_slice(b",\"bytes\":");
    push_bytes(out, token);
    out.push(b'}');
}

fn push_f64(out: &mut Vec<u8>, x: f64) {
    let _ = write!(out, "{:.6}", x);
}

fn push_bytes(out: &mut Vec<u8>, token: &str) {
    out.push(b'[');
    for (i, b) in token.bytes().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{b}");
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn chat_entries_rank_the_sampled_token_first() {
        let mut out = Vec::new();
        Logprobs::new(1, 3).chat_chunk(" hello", &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let entry = &v["content"][0];
        assert_eq!(entry["token"], " hello");
        assert_eq!(entry["bytes"], serde_json::json!([32, 104, 101, 108, 108, 111]));
        let top = entry["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0]["token"], " hello");
        assert_eq!(top[0]["logprob"], entry["logprob"]);
        let lps: Vec<f64> = top.iter().map(|t| t["logprob"].as_f64().unwrap()).collect();
        assert!(lps.windows(2).all(|w| w[0] > w[1]) && lps[0] <= 0.0);
        let mut none = Vec::new();
        Logprobs::new(1, 0).chat_chunk("x", &mut none);
        let v: Value = serde_json::from_slice(&none).unwrap();
        assert_eq!(v["content"][0]["top_logprobs"], serde_json::json!([]));
    }

    #[test]
    fn completion_shapes() {
        let mut out = Vec::new();
        Logprobs::new(2, 2).completion_chunk(" cat", 7, &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tokens"][0], " cat");
        assert_eq!(v["text_offset"][0], 7);
        assert_eq!(v["top_logprobs"][0].as_object().unwrap().len(), 2);
        let all = Logprobs::new(2, 1).completion_all(["Hi", " there"].into_iter(), [" you"].into_iter());
        assert_eq!(all["tokens"], serde_json::json!(["Hi", " there", " you"]));
        assert_eq!(all["token_logprobs"][0], Value::Null);
        assert_eq!(all["text_offset"], serde_json::json!([0, 2, 8]));
    }
}
