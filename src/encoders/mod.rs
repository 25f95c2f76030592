//! What encoder models serve: embeddings, reranker scores and moderation verdicts. All of it is
//! sans-IO and deterministic: the same request always gets the same numbers.
//!
//! # How a text becomes a vector
//! 1. **Features** ([`features`]): the text's words (maximal runs of letters and digits,
//!    lower-cased) with weight 1 (0.2 for a few dozen English stop words), and the character
//!    trigrams of each word padded with boundary marks (`^cat$` → `^ca`, `cat`, `at$`) with
//!    weight 0.3, so `embedding` and `embeddings` share most of their features. A text with no
//!    word gets one feature of its whole bytes. Token-id input is decoded with the server's
//!    tokenizer first (ids of `"hello world"` embed as that text); ids outside the vocabulary
//!    are features of their own.
//! 2. **Hashing** ([`vector`]): each feature is added with a random sign at 4 positions of a
//!    vector of `N` = the model's size rounded up to a power of two (positions and signs from
//!    one hash of the feature and the model name).
//! 3. **Mixing**: a randomized Hadamard transform `H·D·H` (D: ±1 per position from the model
//!    name) turns that sparse vector into a dense one with the same inner products.
//! 4. **Output**: the first `dimensions` values (the model's size by default), L2-normalised —
//!    so, as with OpenAI's `text-embedding-3` models, a shortened embedding is the renormalised
//!    prefix of the full one.
//!
//! Steps 2–4 are linear and nearly inner-product preserving, so the cosine of two embeddings is
//! close to the cosine of their bags of features: texts sharing words are closer than texts that
//! share none (whose cosine is about 0). Rerankers score with that feature cosine directly
//! ([`features::Features::cosine`], in `[0, 1]`).

pub mod body;
pub mod features;
pub mod fields;
pub mod moderation;
pub mod rag_corpus;
pub mod request;
pub mod rerank;
pub mod retrieval;
pub mod vector;
