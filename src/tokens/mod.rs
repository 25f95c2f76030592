//! Tokens: counting prompts with a real BPE, and generating output text one token at a time.

mod generate;
pub mod json_gen;
mod piece_ids;
mod script;
mod tokenizer;
pub mod vocab;

pub use generate::TextGen;
pub use script::{Script, ScriptEvent};
pub use tokenizer::Encoding;
