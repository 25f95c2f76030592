//! Dense embedding vectors from features (steps 2–4 of [`super`]), and each model's size.

use super::features::{Features, hash, mix};
use crate::rng::Rng;

/// Positions each feature is added at.
const SPREAD: usize = 4;

/// Default sizes of embedding models: a name matches when its last `/` part (or a fine-tune's
/// base) starts with the key, case-insensitively. Every embedding model of the catalogue is
/// here (a unit test checks it).
const SIZES: &[(&str, usize)] = &[
    ("text-embedding-3-small", 1536),
    ("text-embedding-3-large", 3072),
    ("text-embedding-ada-002", 1536),
    ("nomic-embed-text", 768),
    ("bge-m3", 1024),
    ("all-mpnet-base-v2", 768),
    ("all-minilm-l6-v2", 384),
    ("bge-large-en", 1024),
    ("bge-base-en", 768),
    ("bge-small-en", 384),
    ("nv-embedqa-e5-v5", 1024),
    ("llama-3.2-nv-embedqa-1b", 2048),
    ("e5-mistral-7b-instruct", 4096),
];

/// The size of a model not in [`SIZES`] (OpenAI's and FakeAI's default).
pub const DEFAULT_SIZE: usize = 1536;

/// The name [`SIZES`] is matched against: a fine-tune's base, else the last `/` part.
fn base_name(model: &str) -> &str {
    match model.strip_prefix("ft:") {
        Some(rest) => rest.split(':').next().unwrap_or(rest),
        None => model.rsplit('/').next().unwrap_or(model),
    }
}

/// The number of dimensions `model` produces by default.
pub fn model_size(model: &str) -> usize {
    let base = base_name(model).to_ascii_lowercase();
    SIZES.iter().find(|(key, _)| base.starts_with(key)).map_or(DEFAULT_SIZE, |&(_, size)| size)
}

/// Whether `model` rejects `dimensions` (OpenAI's `text-embedding-ada-002`).
pub fn fixed_size(model: &str) -> bool {
    base_name(model).to_ascii_lowercase().starts_with("text-embedding-ada-002")
}

/// Builds one model's vectors.
#[derive(Debug, Clone)]
pub struct Projector {
    /// The model's hash: positions, coefficients and signs all derive from it.
    seed: u64,
    /// The power of two the model's size is rounded up to.
    n: usize,
    /// The mixing step's sign per position, one bit each.
    signs: Vec<u64>,
}

impl Projector {
    /// The projector of `model`, whose size is `size`.
    pub fn new(model: &str, size: usize) -> Projector {
        let seed = hash(model.as_bytes(), 0x5eed);
        let n = size.max(1).next_power_of_two();
        let mut rng = Rng::new(seed);
        let signs = (0..n.div_ceil(64)).map(|_| rng.next_u64()).collect();
        Projector { seed, n, signs }
    }

    /// The L2-normalised embedding of `features`, its first `dims` values (`dims` ≤ the size).
    pub fn embed(&self, features: &Features, dims: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.n];
        for &(h, weight) in features.items() {
            let mut z = h ^ self.seed;
            for _ in 0..SPREAD {
                z = mix(z.wrapping_add(0x9E37_79B9_7F4A_7C15));
                v[z as usize & (self.n - 1)] += weight * gaussian(z >> 32);
            }
        }
        hadamard(&mut v);
        for (i, x) in v.iter_mut().enumerate() {
            if self.signs[i / 64] >> (i % 64) & 1 == 1 {
                *x = -*x;
            }
        }
        hadamard(&mut v);
        v.truncate(dims);
        normalise(&mut v);
        v
    }
}

/// A roughly standard-normal coefficient from 32 random bits (the sum of four bytes, centred
/// and scaled: mean 0, variance 1).
fn gaussian(bits: u64) -> f32 {
    let sum: u64 = (0..4).map(|i| (bits >> (8 * i)) & 0xff).sum();
    (sum as f32 - 510.0) / 147.8
}

/// The unnormalised fast Walsh–Hadamard transform (`v.len()` a power of two).
fn hadamard(v: &mut [f32]) {
    let mut half = 1;
    while half < v.len() {
        for block in v.chunks_exact_mut(2 * half) {
            let (a, b) = block.split_at_mut(half);
            for (x, y) in a.iter_mut().zip(b) {
                (*x, *y) = (*x + *y, *x - *y);
            }
        }
        half *= 2;
    }
}

/// Scales `v` to unit length (a zero vector becomes the first unit vector).
fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    if norm > 0.0 {
        let scale = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= scale);
    } else if let Some(first) = v.first_mut() {
        *first = 1.0;
    }
}

/// Cosine similarity of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{catalogue::ROWS, models::Kind};

    fn embed(model: &str, text: &str, dims: usize) -> Vec<f32> {
        let size = model_size(model);
        Projector::new(model, size).embed(&Features::of_text(text), dims)
    }

    #[test]
    fn sizes_follow_the_model_and_cover_the_catalogue() {
        assert_eq!(model_size("text-embedding-3-large"), 3072);
        assert_eq!(model_size("openai/text-embedding-3-small"), 1536);
        assert_eq!(model_size("ft:text-embedding-3-large:org::x1"), 3072);
        assert_eq!(model_size("nomic-ai/nomic-embed-text-v1.5"), 768);
        assert_eq!(model_size("nomic-embed-text"), 768);
        assert_eq!(model_size("BAAI/bge-m3"), 1024);
        assert_eq!(model_size("sentence-transformers/all-mpnet-base-v2"), 768);
        assert_eq!(model_size("my-embedder"), DEFAULT_SIZE);
        assert!(fixed_size("text-embedding-ada-002") && !fixed_size("text-embedding-3-small"));
        for row in ROWS.iter().filter(|r| r.kind == Kind::Embedding) {
            let base = base_name(row.id).to_ascii_lowercase();
            assert!(SIZES.iter().any(|(k, _)| base.starts_with(k)), "{} has no size", row.id);
        }
    }

    #[test]
    fn unit_length_deterministic_and_model_specific() {
        let a = embed("text-embedding-3-small", "the quick brown fox", 1536);
        assert_eq!(a.len(), 1536);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert_eq!(a, embed("text-embedding-3-small", "the quick brown fox", 1536));
        let other_model = embed("text-embedding-3-large", "the quick brown fox", 1536);
        assert!(dot(&a, &other_model).abs() < 0.2, "another model's space is unrelated");
        assert!(a.iter().filter(|x| **x == 0.0).count() < 10, "dense");
    }

    #[test]
    fn shortened_vectors_are_renormalised_prefixes() {
        let full = embed("text-embedding-3-small", "hello there", 1536);
        let short = embed("text-embedding-3-small", "hello there", 256);
        let norm = full[..256].iter().map(|x| x * x).sum::<f32>().sqrt();
        for (s, f) in short.iter().zip(&full) {
            assert!((s - f / norm).abs() < 1e-5);
        }
        assert_eq!(embed("text-embedding-3-small", "x", 1), vec![embed("text-embedding-3-small", "x", 1)[0]]);
        assert!((embed("text-embedding-3-small", "x", 1)[0].abs() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn cosine_follows_shared_words() {
        for dims in [1536, 256] {
            let q = embed("text-embedding-3-small", "how do I bake sourdough bread", dims);
            let near = embed("text-embedding-3-small", "a recipe to bake sourdough bread at home", dims);
            let far = embed("text-embedding-3-small", "quarterly earnings of the semiconductor industry", dims);
            let (near, far) = (dot(&q, &near), dot(&q, &far));
            assert!(near > 0.3 && far.abs() < 0.2 && near > far + 0.2, "dims {dims}: near {near}, far {far}");
        }
    }
}
