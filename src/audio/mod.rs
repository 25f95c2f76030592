//! Audio: speech synthesised as a deterministic tone pattern ([`synth`]), encoded into every
//! format OpenAI serves ([`encode`]), and the duration of uploaded audio read from its headers
//! ([`probe`]).

pub mod cache;
pub mod chat;
pub mod encode;
pub mod probe;
pub mod speech;
pub mod synth;
pub mod transcript;
pub mod transcription;
pub mod voice;

pub use encode::Format;
pub use synth::{SAMPLE_RATE, Speech};
