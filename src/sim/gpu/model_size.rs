//! How big the served model is, for the GPUs' memory and capacity: its parameter count read
//! from its name (`Llama-3.1-8B`, `gpt-oss-120b`, `Mixtral-8x7B`), else a documented default.

/// Parameters (billions) assumed when the name does not say: an 8B model, the size most
/// benchmarks of a single server use.
pub const DEFAULT_PARAMS_B: f64 = 8.0;

/// Models whose names carry no size.
const KNOWN: &[(&str, f64)] = &[("deepseek-r1", 671.0), ("deepseek-v3", 671.0), ("kimi-k2", 1000.0)];

/// KV-cache bytes per token of an 8B model (Llama-3.1-8B: 32 layers × 8 KV heads × 128 dims ×
/// K and V × 2 bytes).
const KV_BYTES_PER_TOKEN_8B: f64 = 131_072.0;

/// A served model's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelSize {
    /// Parameters, billions.
    pub params_b: f64,
}

impl Default for ModelSize {
    fn default() -> Self {
        ModelSize { params_b: DEFAULT_PARAMS_B }
    }
}

impl ModelSize {
    /// The size `name` states (the last `<n>b` or `<n>x<m>b` part), else a known model's, else
    /// the default.
    pub fn of(name: &str) -> ModelSize {
        let lower = name.to_ascii_lowercase();
        let params = KNOWN.iter().find(|(k, _)| lower.contains(k)).map(|(_, p)| *p);
        ModelSize { params_b: stated_params(&lower).or(params).unwrap_or(DEFAULT_PARAMS_B) }
    }

    /// Weights in BF16, bytes.
    pub fn weight_bytes(self) -> f64 {
        self.params_b * 1e9 * 2.0
    }

    /// KV-cache bytes per token: an 8B model's, scaled by the square root of the size (layers and
    /// KV heads grow more slowly than parameters; a 70B model holds ~2.5× an 8B's per token).
    pub fn kv_bytes_per_token(self) -> f64 {
        KV_BYTES_PER_TOKEN_8B * (self.params_b / DEFAULT_PARAMS_B).sqrt()
    }

    /// How much slower than an 8B model a token of this model is to decode (decode streams the
    /// weights, so time grows with their size).
    pub fn cost_per_token(self) -> f64 {
        self.params_b / DEFAULT_PARAMS_B
    }
}

/// The parameter count a lower-case name states: a part such as `8b`, `0.5b` or `8x7b`
/// between separators.
fn stated_params(name: &str) -> Option<f64> {
    name.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter_map(|part| {
            let size = part.strip_suffix('b')?;
            match size.split_once('x') {
                Some((n, each)) => Some(n.parse::<f64>().ok()? * each.parse::<f64>().ok()?),
                None => size.parse::<f64>().ok(),
            }
        })
        .rfind(|p| p.is_finite() && *p > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_size_from_the_name() {
        let cases = [
            ("meta-llama/Llama-3.1-8B-Instruct", 8.0),
            ("openai/gpt-oss-120b", 120.0),
            ("mistralai/Mixtral-8x7B-Instruct-v0.1", 56.0),
            ("Qwen/Qwen2.5-0.5B-Instruct", 0.5),
            ("deepseek-ai/DeepSeek-R1", 671.0),
            ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 32.0),
            ("gpt-4o", DEFAULT_PARAMS_B),
            ("microsoft/Phi-3-mini-4k-instruct", DEFAULT_PARAMS_B),
        ];
        for (name, params) in cases {
            assert_eq!(ModelSize::of(name).params_b, params, "{name}");
        }
    }

    #[test]
    fn bigger_models_hold_more_per_token() {
        let (small, big) = (ModelSize::of("x-8b"), ModelSize::of("x-70b"));
        assert_eq!(small.weight_bytes(), 16e9);
        assert_eq!(small.kv_bytes_per_token(), 131_072.0);
        let ratio = big.kv_bytes_per_token() / small.kv_bytes_per_token();
        assert!((2.5..3.5).contains(&ratio), "{ratio}");
    }
}
