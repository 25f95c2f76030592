//! The read-only state every worker shares: configuration, model registry, simulator, and
//! the metric shards (each written only by its own worker).

use std::time::Instant;

use crate::{
    config::ServerArgs,
    generation::SimConfig,
    metrics::{Shard, window::RateWindow},
    openai::{
        models::{Registry, UnknownModelDefaults},
        stores::Stores,
    },
    tokens::Encoding,
};

/// Shared, immutable server state.
#[derive(Debug)]
pub struct App {
    /// The server flags as resolved.
    pub args: ServerArgs,
    /// Known models.
    pub registry: Registry,
    /// Timing and length settings.
    pub sim: SimConfig,
    /// Prompt tokenizer.
    pub encoding: Encoding,
    /// Counter samples for FakeAI's 60-second rates (fed by the server's sampler thread).
    pub window: RateWindow,
    /// Stored responses, chat completions and conversations.
    pub stores: Stores,
    /// One metrics shard per worker.
    pub shards: Box<[Shard]>,
    /// Process start.
    pub started: Instant,
}

impl App {
    /// Builds the shared state for `workers` workers.
    pub fn new(args: ServerArgs, workers: usize, fingerprint_seed: u64) -> Self {
        let registry = Registry::new(UnknownModelDefaults {
            context_window: args.default_context_window,
            max_output_tokens: args.default_max_output_tokens,
        });
        let sim = SimConfig {
            ttft: args.ttft,
            itl: args.itl,
            prefill_tps: args.prefill_tps,
            latency_profiles: !args.no_latency_profiles,
            output_len: args.output_len,
            non_streaming_delay: args.non_streaming_delay,
            fingerprint: format!("fp_{:016x}", crate::rng::Rng::new(fingerprint_seed).next_u64()),
            reasoning_models: args
                .reasoning_models
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            encoding: args.tokenizer,
            auto_tool_calls: args.auto_tool_calls,
            stream_obfuscation: args.stream_obfuscation,
        };
        App {
            encoding: args.tokenizer,
            registry,
            sim,
            stores: Stores::new(args.response_store, args.store_capacity),
            window: RateWindow::default(),
            shards: (0..workers).map(|_| Shard::default()).collect(),
            started: Instant::now(),
            args,
        }
    }
}
