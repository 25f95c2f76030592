//! The OpenAI wire format: request types, model registry, and response/chunk encoding.

pub mod chunks;
pub mod logprobs;
pub mod media;
pub mod models;
pub mod request;
pub mod response;
pub mod responses;
pub mod store;
pub mod tools;
