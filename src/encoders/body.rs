//! The `/v1/embeddings` response body, written straight into bytes: floats with `ryu`
//! (shortest text that reads back as the same f32), or base64 of little-endian f32s.

use base64::Engine as _;

use crate::openai::chunks::push_json_str;

/// `encoding_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A JSON array of numbers.
    #[default]
    Float,
    /// A base64 string of the little-endian float32 bytes (what the Python SDK asks for).
    Base64,
}

/// An embeddings list being written.
#[derive(Debug)]
pub struct EmbeddingsBody {
    out: Vec<u8>,
    format: Format,
    count: usize,
    scratch: Vec<u8>,
}

impl EmbeddingsBody {
    /// Starts a list of `inputs` vectors of `dims` values.
    pub fn new(format: Format, dims: usize, inputs: usize) -> EmbeddingsBody {
        let per_value = match format {
            Format::Float => 12,
            Format::Base64 => 6,
        };
        let mut out = Vec::with_capacity(inputs * (dims * per_value + 48) + 160);
        out.extend_from_slice(br#"{"object":"list","data":["#);
        EmbeddingsBody { out, format, count: 0, scratch: Vec::new() }
    }

    /// Appends the next embedding.
    pub fn push(&mut self, vector: &[f32]) {
        if self.count > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(br#"{"object":"embedding","index":"#);
        self.out.extend_from_slice(itoa::Buffer::new().format(self.count).as_bytes());
        self.out.extend_from_slice(br#","embedding":"#);
        match self.format {
            Format::Float => self.push_floats(vector),
            Format::Base64 => self.push_base64(vector),
        }
        self.out.push(b'}');
        self.count += 1;
    }

    fn push_floats(&mut self, vector: &[f32]) {
        let mut text = ryu::Buffer::new();
        self.out.push(b'[');
        for (i, &x) in vector.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(text.format_finite(x).as_bytes());
        }
        self.out.push(b']');
    }

    fn push_base64(&mut self, vector: &[f32]) {
        self.scratch.clear();
        self.scratch.extend(vector.iter().flat_map(|x| x.to_le_bytes()));
        let engine = &base64::engine::general_purpose::STANDARD;
        self.out.push(b'"');
        let start = self.out.len();
        self.out.resize(start + base64::encoded_len(self.scratch.len(), true).unwrap_or(0), 0);
        let written = engine.encode_slice(&self.scratch, &mut self.out[start..]).expect("sized for the encoding");
        self.out.truncate(start + written);
        self.out.push(b'"');
    }

    /// Ends the list with `model` and the usage.
    pub fn finish(mut self, model: &str, prompt_tokens: u64) -> Vec<u8> {
        self.out.extend_from_slice(br#"],"model":"#);
        push_json_str(&mut self.out, model);
        let tokens = itoa::Buffer::new().format(prompt_tokens).as_bytes().to_vec();
        self.out.extend_from_slice(br#","usage":{"prompt_tokens":"#);
        self.out.extend_from_slice(&tokens);
        self.out.extend_from_slice(br#","total_tokens":"#);
        self.out.extend_from_slice(&tokens);
        self.out.extend_from_slice(b"}}");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn floats_read_back_exactly() {
        let v = [0.1f32, -0.25, 1e-7, 0.0, -0.0, 0.333_333_34];
        let mut body = EmbeddingsBody::new(Format::Float, v.len(), 2);
        body.push(&v);
        body.push(&v[..1]);
        let parsed: Value = serde_json::from_slice(&body.finish("m\"x", 7)).unwrap();
        let back: Vec<f32> =
            parsed["data"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(back, v);
        assert_eq!(parsed["data"][1]["index"], 1);
        assert_eq!(parsed["model"], "m\"x");
        assert_eq!(parsed["usage"], json!({"prompt_tokens": 7, "total_tokens": 7}));
        assert_eq!(parsed["object"], "list");
        assert_eq!(parsed["data"][1]["object"], "embedding");
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let v = [1.0f32, -2.5, 0.125];
        let mut body = EmbeddingsBody::new(Format::Base64, v.len(), 1);
        body.push(&v);
        let parsed: Value = serde_json::from_slice(&body.finish("m", 1)).unwrap();
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(parsed["data"][0]["embedding"].as_str().unwrap()).unwrap();
        let back: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(back, v);
    }
}
