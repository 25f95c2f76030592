//! Tokens: counting prompts with a real BPE, and generating output text one token at a time.

mod generate;
mod tokenizer;
pub mod vocab;

pub use generate::TextGen;
pub use tokenizer::Encoding;
