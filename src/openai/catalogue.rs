//! The built-in model catalogue: FakeAI's 29 listed models first, then the models FakeAI's
//! context-window and price tables name, and OpenAI's embedding, image, audio and moderation
//! models.
//!
//! Context windows are FakeAI's `context_validator` values wherever that table names the model
//! (by id or by the part after the last `/`), since those are what FakeAI enforced; elsewhere
//! they are its `/v1/models` values.

use super::models::Kind::{self, Chat, Embedding, Image, Moderation, Speech, Transcription};

/// One catalogue row.
pub struct Row {
    /// Model id.
    pub id: &'static str,
    /// Owner shown in `/v1/models`.
    pub owner: &'static str,
    /// What the model serves.
    pub kind: Kind,
    /// Context window in tokens.
    pub ctx: u64,
    /// Most output tokens per response.
    pub out: u64,
    /// Accepts images, accepts audio, calls tools.
    pub vision_audio_tools: (bool, bool, bool),
    /// USD per million input, output and cached input tokens.
    pub prices: (f64, f64, f64),
}

const fn row(
    id: &'static str,
    owner: &'static str,
    kind: Kind,
    ctx: u64,
    out: u64,
    vision_audio_tools: (bool, bool, bool),
    prices: (f64, f64, f64),
) -> Row {
    Row { id, owner, kind, ctx, out, vision_audio_tools, prices }
}

const NONE: (bool, bool, bool) = (false, false, false);
const TOOLS: (bool, bool, bool) = (false, false, true);
const VISION_TOOLS: (bool, bool, bool) = (true, false, true);
const ALL: (bool, bool, bool) = (true, true, true);
const FREE: (f64, f64, f64) = (0.0, 0.0, 0.0);

/// How many leading rows are FakeAI's own `/v1/models` list.
pub const FAKEAI_LISTED: usize = 29;

/// Every catalogued model, in `/v1/models` order.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    // FakeAI's list (its `_init_simulated_models`, later duplicate keys winning).
    row("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "openai", Chat, 1024, 1024, NONE, FREE),
    row("meta-llama/Llama-3.1-8B-Instruct", "openai", Chat, 131_072, 4096, TOOLS, (0.5, 1.5, 0.25)),
    row("openai/gpt-oss-120b", "openai", Chat, 128_000, 16384, ALL, (2.5, 10.0, 1.25)),
    row("openai/gpt-oss-20b", "openai", Chat, 32768, 16384, ALL, (0.15, 0.6, 0.075)),
    row("openai/gpt-oss-120b-realtime", "openai", Chat, 128_000, 4096, (false, true, true), (5.0, 20.0, 2.5)),
    row("deepseek-ai/DeepSeek-R1", "openai", Chat, 64000, 32768, NONE, (15.0, 60.0, 7.5)),
    row("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "openai", Chat, 128_000, 65536, NONE, (3.0, 12.0, 1.5)),
    row("gpt-oss-120b", "openai", Chat, 128_000, 100_000, TOOLS, FREE),
    row("gpt-oss-20b", "openai", Chat, 32768, 100_000, TOOLS, FREE),
    row("claude-3-opus", "anthropic", Chat, 200_000, 4096, VISION_TOOLS, (15.0, 75.0, 7.5)),
    row("claude-3-sonnet", "anthropic", Chat, 200_000, 4096, VISION_TOOLS, (3.0, 15.0, 1.5)),
    row("claude-3-haiku", "anthropic", Chat, 200_000, 4096, VISION_TOOLS, (0.25, 1.25, 0.125)),
    row("gemini-1.5-pro", "google", Chat, 2_000_000, 8192, ALL, (1.25, 5.0, 0.625)),
    row("gemini-1.5-flash", "google", Chat, 1_000_000, 8192, ALL, (0.075, 0.3, 0.0375)),
    row("mixtral-8x7b", "mistralai", Chat, 32768, 8192, TOOLS, (0.5, 1.5, 0.25)),
    row("mixtral-8x22b", "mistralai", Chat, 65536, 16384, TOOLS, (2.0, 6.0, 1.0)),
    row("mistral-large", "mistralai", Chat, 128_000, 8192, TOOLS, (4.0, 12.0, 2.0)),
    row("deepseek-v3", "deepseek-ai", Chat, 128_000, 8192, TOOLS, (0.27, 1.1, 0.135)),
    row("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai", Chat, 128_000, 8192, TOOLS, FREE),
    row("llama-3.1-405b", "meta", Chat, 128_000, 4096, TOOLS, (3.0, 3.0, 1.5)),
    row("llama-3.1-70b", "meta", Chat, 128_000, 4096, TOOLS, (0.88, 0.88, 0.44)),
    row("llama-3.1-8b", "meta", Chat, 128_000, 4096, TOOLS, (0.2, 0.2, 0.1)),
    row("sentence-transformers/all-mpnet-base-v2", "openai", Embedding, 8191, 0, NONE, (0.1, 0.0, 0.0)),
    row("nomic-ai/nomic-embed-text-v1.5", "openai", Embedding, 8191, 0, NONE, (0.02, 0.0, 0.0)),
    row("BAAI/bge-m3", "openai", Embedding, 8191, 0, NONE, (0.13, 0.0, 0.0)),
    row("stabilityai/stable-diffusion-2-1", "openai", Image, 77, 0, NONE, FREE),
    row("stabilityai/stable-diffusion-xl-base-1.0", "openai", Image, 77, 0, NONE, FREE),
    row("tts-1", "openai", Speech, 4096, 0, NONE, FREE),
    row("tts-1-hd", "openai", Speech, 4096, 0, NONE, FREE),
    // Chat models FakeAI's context-window and price tables name (prices per million).
    row("gpt-4", "openai", Chat, 8192, 8192, TOOLS, (30.0, 60.0, 15.0)),
    row("gpt-4-32k", "openai", Chat, 32768, 8192, TOOLS, (60.0, 120.0, 30.0)),
    row("gpt-4-turbo", "openai", Chat, 128_000, 4096, VISION_TOOLS, (10.0, 30.0, 5.0)),
    row("gpt-4o", "openai", Chat, 128_000, 16384, ALL, (2.5, 10.0, 1.25)),
    row("gpt-4o-mini", "openai", Chat, 128_000, 16384, VISION_TOOLS, (0.15, 0.6, 0.075)),
    row("gpt-3.5-turbo", "openai", Chat, 16385, 4096, TOOLS, (0.5, 1.5, 0.25)),
    row("gpt-3.5-turbo-16k", "openai", Chat, 16385, 4096, TOOLS, (3.0, 4.0, 1.5)),
    row("gemini-pro", "google", Chat, 32768, 8192, TOOLS, (0.5, 1.5, 0.25)),
    row("meta-llama/Llama-3.1-70B-Instruct", "meta", Chat, 131_072, 4096, TOOLS, (0.9, 0.9, 0.45)),
    row("meta-llama/Llama-3.1-405B-Instruct", "meta", Chat, 131_072, 4096, TOOLS, (3.0, 3.0, 1.5)),
    row("mistral-7b", "mistralai", Chat, 32768, 8192, TOOLS, (0.25, 0.25, 0.125)),
    // OpenAI's embedding, image, audio and moderation models.
    row("text-embedding-3-small", "openai", Embedding, 8191, 0, NONE, (0.02, 0.0, 0.0)),
    row("text-embedding-3-large", "openai", Embedding, 8191, 0, NONE, (0.13, 0.0, 0.0)),
    row("text-embedding-ada-002", "openai", Embedding, 8191, 0, NONE, (0.1, 0.0, 0.0)),
    row("dall-e-2", "openai", Image, 1000, 0, NONE, FREE),
    row("dall-e-3", "openai", Image, 4000, 0, NONE, FREE),
    row("gpt-image-1", "openai", Image, 32000, 0, NONE, FREE),
    row("gpt-4o-mini-tts", "openai", Speech, 2000, 0, NONE, FREE),
    row("whisper-1", "openai", Transcription, 0, 0, (false, true, false), FREE),
    row("gpt-4o-transcribe", "openai", Transcription, 16000, 0, (false, true, false), FREE),
    row("gpt-4o-mini-transcribe", "openai", Transcription, 16000, 0, (false, true, false), FREE),
    row("omni-moderation-latest", "openai", Moderation, 32768, 0, (true, false, false), FREE),
    row("text-moderation-latest", "openai", Moderation, 32768, 0, NONE, FREE),
];

/// What a model that bills by something other than tokens charges, in USD, from OpenAI's list
/// prices: images per image (standard quality, 1024×1024), speech per million characters,
/// transcription per minute of audio. Models not named here charge nothing for these.
#[rustfmt::skip]
pub const UNIT_PRICES: &[(&str, f64)] = &[
    ("dall-e-2", 0.02), ("dall-e-3", 0.04), ("gpt-image-1", 0.042),
    ("stabilityai/stable-diffusion-2-1", 0.02), ("stabilityai/stable-diffusion-xl-base-1.0", 0.04),
    ("tts-1", 15.0), ("tts-1-hd", 30.0), ("gpt-4o-mini-tts", 12.0),
    ("whisper-1", 0.006), ("gpt-4o-transcribe", 0.006), ("gpt-4o-mini-transcribe", 0.003),
];

/// `model`'s price per unit (see [`UNIT_PRICES`]), 0 when it has none.
pub fn unit_price(model: &str) -> f64 {
    UNIT_PRICES.iter().find(|(id, _)| *id == model).map_or(0.0, |(_, p)| *p)
}
