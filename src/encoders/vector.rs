//! Dense embedding vectors from features (steps 2–4 of [`super`]), and each model's size.

use super::features::{self, Features, hash, mix};
use crate::rng::Rng;

/// Positions each feature is added at.
const SPREAD: usize = 4;

/// The largest model size (every position must fit in 15 hash bits).
pub const MAX_SIZE: usize = 1 << 15;

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
}

impl Projector {
    /// The projector of `model`, whose size is `size`.
    pub fn new(model: &str, size: usize) -> Projector {
        let seed = hash(model.as_bytes(), 0x5eed);
        let n = size.clamp(1, MAX_SIZE).next_power_of_two();
        Projector { seed, n }
    }

    /// The L2-normalised embedding of `text`, its first `dims` values (`dims` ≤ the size).
    pub fn embed_text(&self, text: &str, dims: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.n];
        features::for_each(text, |h, weight| self.add(&mut v, h, weight));
        self.finish(v, dims)
    }

    /// The embedding of merged `features` (token ids outside the vocabulary).
    pub fn embed(&self, features: &Features, dims: usize) -> Vec<f32> {
        let mut v = vec![0f32; self.n];
        features.items().iter().for_each(|&(h, weight)| self.add(&mut v, h, weight));
        self.finish(v, dims)
    }

    /// Adds feature `h` at its [`SPREAD`] positions with its signs: one hash gives all of them
    /// (`n` ≤ 2^15: four 15-bit positions and four sign bits).
    fn add(&self, v: &mut [f32], h: u64, weight: f32) {
        let z = mix(h ^ self.seed);
        for i in 0..SPREAD {
            let pos = (z >> (15 * i)) as usize & (self.n - 1);
            v[pos] += if z >> (60 + i) & 1 == 1 { weight } else { -weight };
        }
    }

    /// Mixes, shortens and normalises.
    fn finish(&self, mut v: Vec<f32>, dims: usize) -> Vec<f32> {
        hadamard(&mut v);
        // D: a sign per position from the model's stream, flipped in the float's sign bit.
        let mut rng = Rng::new(self.seed);
        for chunk in v.chunks_mut(64) {
            let bits = rng.next_u64();
            for (i, x) in chunk.iter_mut().enumerate() {
                *x = f32::from_bits(x.to_bits() ^ (((bits >> i) & 1) as u32) << 31);
            }
        }
        hadamard(&mut v);
        v.truncate(dims);
        normalise(&mut v);
        v
    }
}

/// The unnormalised fast Walsh–Hadamard transform (`v.len()` a power of two). The first two
/// levels run as one radix-4 pass: their blocks are too short for the compiler to vectorize.
fn hadamard(v: &mut [f32]) {
    let mut half = 1;
    if v.len() >= 4 {
        for q in v.chunks_exact_mut(4) {
            let (a, b, c, d) = (q[0] + q[1], q[0] - q[1], q[2] + q[3], q[2] - q[3]);
            q.copy_from_slice(&[a + c, b + d, a - c, b - d]);
        }
        half = 4;
    }
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
        Projector::new(model, size).embed_text(text, dims)
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
    fn the_transform_is_walsh_hadamard() {
        for n in [1usize, 2, 4, 8, 16] {
            let mut v: Vec<f32> = (0..n).map(|i| (i * i + 1) as f32).collect();
            let want: Vec<f32> = (0..n)
                .map(|i| (0..n).map(|j| if (i & j).count_ones() % 2 == 0 { v[j] } else { -v[j] }).sum())
                .collect();
            hadamard(&mut v);
            assert_eq!(v, want, "n = {n}");
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
        let merged =
            Projector::new("text-embedding-3-small", 1536).embed(&Features::of_text("the quick brown fox"), 1536);
        assert!((dot(&a, &merged) - 1.0).abs() < 1e-5, "streamed and merged features agree");
        let word = embed("text-embedding-3-small", "fox", 1536);
        let distinct: std::collections::HashSet<u32> = word.iter().map(|x| x.abs().to_bits()).collect();
        assert!(distinct.len() > 100, "even one word's values look continuous: {}", distinct.len());
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
