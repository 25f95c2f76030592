//! The state every worker shares: configuration, model registry (its models first seen in
//! requests behind a lock), simulator, and the metric shards (each written only by its own worker).

use std::time::Instant;

use crate::{
    config::ServerArgs,
    generation::SimConfig,
    metrics::{Shard, window::RateWindow},
    openai::{
        anthropic::cache::PromptCache,
        models::{Registry, UnknownModelDefaults},
        stores::Stores,
        vllm_utility::EngineState,
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
    /// Timing and length settings (`PATCH /admin/config` replaces them for later requests).
    pub sim: crate::state::live::Live<SimConfig>,
    /// Prompt tokenizer.
    pub encoding: Encoding,
    /// Counter samples for FakeAI's 60-second rates (fed by the server's sampler thread).
    pub window: RateWindow,
    /// Stored responses, chat completions and conversations.
    pub stores: Stores,
    /// Generated images and video jobs, shared by every core.
    pub media: crate::api::media::Media,
    /// Anthropic prompt-cache prefixes seen recently.
    pub prompt_cache: PromptCache,
    /// Files, uploads and batches, shared by every worker.
    pub state: crate::state::State,
    /// One metrics shard per worker.
    pub shards: Box<[Shard]>,
    /// Process start.
    pub started: Instant,
    /// Sleep, profiling and LoRA adapters, as vLLM's utility endpoints set them.
    pub vllm: EngineState,
    /// The simulated GPUs (`/dcgm/metrics`).
    pub gpus: crate::metrics::dcgm::Telemetry,
}

impl App {
    /// Builds the shared state for `workers` workers, whose metrics count responses by
    /// `labels` (the route table's).
    pub fn new(args: ServerArgs, workers: usize, fingerprint_seed: u64, labels: &'static [&'static str]) -> Self {
        let registry = Registry::new(UnknownModelDefaults {
            context_window: args.default_context_window,
            max_output_tokens: args.default_max_output_tokens,
        })
        .remembering(args.max_auto_models);
        let sim = crate::state::live::Live::new(SimConfig {
            ttft: args.ttft,
            itl: args.itl,
            prefill_tps: args.prefill_tps,
            latency_profiles: !args.no_latency_profiles,
            output_len: args.output_len,
            non_streaming_delay: args.non_streaming_delay,
            fingerprint: format!("fp_{:016x}", crate::rng::Rng::new(fingerprint_seed).next_u64()),
            reasoning_models: args.reasoning_models.clone(),
            encoding: args.tokenizer,
            auto_tool_calls: args.auto_tool_calls,
            stream_obfuscation: args.stream_obfuscation,
        });
        let started = Instant::now();
        let host = crate::metrics::dcgm::host_name();
        let gpus = crate::metrics::dcgm::Telemetry::new(
            args.gpu,
            usize::from(args.gpus),
            &host,
            args.dcgm_lowercase_hostname,
            started,
        )
        .following(crate::metrics::dcgm::EngineView::of(&args));
        App {
            encoding: args.tokenizer,
            registry,
            sim,
            stores: Stores::new(args.response_store, args.store_capacity),
            media: crate::api::media::Media::new(&args),
            prompt_cache: PromptCache::default(),
            state: crate::state::State::new(&args),
            window: RateWindow::default(),
            shards: (0..workers).map(|_| Shard::new(labels)).collect(),
            started,
            vllm: EngineState::default(),
            gpus,
            args,
        }
    }

    /// The same state, serving at `addr` (the bound address, for URLs in responses).
    pub fn bound_to(mut self, addr: std::net::SocketAddr) -> Self {
        self.media.bound_to(addr);
        self
    }
}
