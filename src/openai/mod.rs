//! The OpenAI wire format: request types, model registry, and response/chunk encoding.

pub mod anthropic;
pub mod catalogue;
pub mod chunks;
pub mod conversations;
pub mod fine_tuned;
pub mod logprobs;
pub mod lora;
pub mod media;
pub mod metadata;
pub mod models;
pub mod obfuscation;
pub mod prefix;
pub mod recent;
pub mod request;
pub mod response;
pub mod responses;
pub mod stored_chat;
pub mod stores;
pub mod tgi;
pub mod tools;
pub mod vllm_generate;
pub mod vllm_utility;
