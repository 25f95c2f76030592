//! # fakeai
//!
//! A fake OpenAI-compatible inference server for developing and load-testing LLM clients:
//! exact timing (every SSE event at an absolute deadline), exact token accounting, and
//! byte-level OpenAI wire compatibility, on a thread-per-core monoio runtime.
//!
//! Data flows one way: socket → [`http1`] parse → [`route`] → handler → [`generation`]
//! (tokens + schedule) → [`sse`]/[`openai`] encoders → socket, with the current core's
//! [`metrics`] shard on the side. Everything except [`server`] is sans-IO.

#![warn(missing_docs, unreachable_pub, clippy::all)]

pub mod app;
pub mod arrival;
pub mod clock;
pub mod config;
pub mod error;
pub mod generation;
pub mod http1;
pub mod metrics;
pub mod openai;
pub mod rng;
pub mod route;
pub mod server;
pub mod sim;
pub mod sockopt;
pub mod sse;
pub mod tokens;
pub mod websocket;
