//! # fakeai
//!
//! A fake OpenAI-compatible inference server for developing and load-testing LLM clients:
//! exact timing (every SSE event at an absolute deadline), exact token accounting, and
//! byte-level OpenAI wire compatibility, on a thread-per-core monoio runtime.
//!
//! Data flows one way: socket → [`proto`] (HTTP/1.1 head and body) → [`router`] (one table of
//! every route) → an [`api`] handler → [`generation`] (tokens + schedule) → [`sse`]/[`openai`]
//! encoders → socket, with the current core's [`metrics`] shard on the side. Everything except
//! [`server`] is sans-IO.

#![warn(missing_docs, unreachable_pub, clippy::all)]

pub mod api;
pub mod app;
pub mod arrival;
pub mod audio;
pub mod clock;
pub mod config;
pub mod encoders;
pub mod error;
pub mod generation;
pub mod metrics;
pub mod openai;
pub mod proto;
pub mod rng;
pub mod router;
pub mod server;
pub mod sim;
pub mod sockopt;
pub mod sse;
pub mod state;
pub mod tokens;
