//! Command line, environment and config file, merged into one typed configuration.
//!
//! [`ServerArgs`] is both the server's flags (clap) and a serde value: [`layers`] builds it
//! from the flags' defaults < a config file < the environment < the flags given. Every server
//! flag `--some-flag` is also `FAKEAI_SOME_FLAG` and `some_flag` in a file; FakeAI's sectioned
//! names (`FAKEAI_SERVER__PORT`, `[generation] ttft_ms`, …) map onto them.

mod generate;
mod layers;
mod print;
mod summary;
mod values;

use std::{path::PathBuf, time::Duration};

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

pub use generate::{completions, man_page};
pub use layers::{Setting, explain, server_args};
pub use print::render as render_settings;
pub use values::{CpuList, parse_cpus, parse_duration, parse_list, parse_size};

use crate::{
    openai::tools::AutoToolCalls,
    sim::{Latency, LengthDist},
    tokens::Encoding,
};

/// fakeai: a fast, exact fake OpenAI-compatible inference server.
#[derive(Debug, Parser)]
#[command(name = "fakeai", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// For `config print`: every setting and where its value came from (filled by [`Cli::load`]).
    #[arg(skip)]
    pub settings: Vec<Setting>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Server(Box<ServerArgs>),
    /// Print a running server's /health.
    Status(ClientArgs),
    /// Print a running server's metrics.
    Metrics(MetricsArgs),
    /// Inspect the configuration `fakeai server` would run with.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script: `fakeai completions bash > /etc/bash_completion.d/fakeai`.
    Completions(CompletionsArgs),
    /// Print a man page in roff: `fakeai man | man -l -` (`fakeai man server` for the server's flags).
    Man(ManArgs),
}

/// `fakeai config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration of `fakeai server` given the same flags, environment
    /// and config file, with where each value came from (default, file, env, flag). The output
    /// is itself a valid TOML config file (API keys hidden).
    Print(Box<ServerArgs>),
}

/// `fakeai completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `fakeai man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// A subcommand's page (`server`, `status`, …) instead of the overview.
    pub subcommand: Option<String>,
}

/// Where a client command connects.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}

/// `fakeai metrics`.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Server address.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "pretty")]
    pub format: MetricsFormat,
    /// Refresh until interrupted (or `--count` times).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with `--watch`.
    #[arg(long, default_value_t = 5.0)]
    pub interval: f64,
    /// Stop after this many refreshes with `--watch`.
    #[arg(long)]
    pub count: Option<u64>,
}

/// `fakeai metrics --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MetricsFormat {
    /// A readable summary.
    Pretty,
    /// The JSON view.
    Json,
    /// Prometheus text.
    Prometheus,
    /// `metric,value` rows.
    Csv,
}

/// Which monoio driver the workers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Driver {
    /// io_uring when the kernel allows it, else epoll.
    Auto,
    /// io_uring only; fail if unavailable.
    Uring,
    /// epoll only.
    Epoll,
}

/// `fakeai server` settings: the flags as clap parses them, and the typed value the layers
/// are extracted into (field name = flag name = file key; `FAKEAI_` + upper case = variable).
#[derive(Debug, Clone, Args, Deserialize)]
#[command(after_help = "Every flag is also an environment variable FAKEAI_<FLAG> (--max-body-size: \
FAKEAI_MAX_BODY_SIZE) and a config-file key (max_body_size). Precedence: flag > environment > \
config file > default.")]
pub struct ServerArgs {
    /// TOML, YAML or JSON file with any of these settings (flag names, or FakeAI-style
    /// `[server]`/`[generation]`/`[kv_cache]`/… sections).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Worker threads, one runtime each [default: available cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    #[serde(default, deserialize_with = "values::workers")]
    pub workers: Option<u16>,
    /// Pin each worker to a core [default: on when workers <= cores].
    #[arg(long, overrides_with = "no_pin")]
    pub pin: bool,
    /// Do not pin workers.
    #[arg(long, overrides_with = "pin")]
    pub no_pin: bool,
    /// Cores to pin to, e.g. `0,2-3` [default: 0..workers].
    #[arg(long, value_parser = parse_cpus)]
    #[serde(default, deserialize_with = "values::cpus")]
    pub cpus: Option<CpuList>,
    /// Listen backlog of each worker's SO_REUSEPORT socket.
    #[arg(long, default_value_t = 4096)]
    pub backlog: i32,
    /// I/O driver.
    #[arg(long, value_enum, default_value = "auto")]
    #[serde(deserialize_with = "values::choice")]
    pub driver: Driver,
    /// io_uring submission-queue entries per worker.
    #[arg(long, default_value_t = 4096)]
    pub uring_entries: u32,
    /// TCP congestion control of the server's sockets; `system` keeps the kernel's default.
    /// BBR without the fq qdisc paces every send with a kernel timer, which delays and costs
    /// each small event write.
    #[arg(long, default_value = "cubic")]
    pub tcp_congestion: String,
    /// SO_SNDBUF of the listening sockets [default: kernel's].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "values::size_opt")]
    pub socket_sndbuf: Option<u64>,
    /// SO_RCVBUF of the listening sockets [default: kernel's].
    #[arg(long, value_parser = parse_size)]
    #[serde(default, deserialize_with = "values::size_opt")]
    pub socket_rcvbuf: Option<u64>,
    /// Initial per-connection read buffer (grows for larger requests). An idle keep-alive
    /// connection holds it; 3 KiB takes a typical benchmark request (~1.2 KB) in one read.
    #[arg(long, default_value = "3KiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub read_buffer: u64,
    /// Per-connection write buffer reserved when a response starts (released while idle).
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub write_buffer: u64,
    /// Open connections per worker; more get 503 and are closed.
    #[arg(long, default_value_t = 20_000)]
    pub max_connections: usize,
    /// Largest request body (413 beyond).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub max_body_size: u64,
    /// Largest JSON body of a route that parses it on the worker (413 beyond): the platform's
    /// stores, threads, batches and jobs. Generation, embedding and ranking routes parse large
    /// bodies off the worker and take up to `--max-body-size`.
    #[arg(long, default_value = "4MiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub max_json_body_size: u64,
    /// Largest request head (431 beyond).
    #[arg(long, default_value = "16KiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub max_header_size: u64,
    /// Time to receive a request head once it has begun (408 beyond).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub header_timeout: Duration,
    /// Time to receive a request body (408 beyond).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub body_timeout: Duration,
    /// Idle time before a keep-alive connection is closed.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub keepalive_timeout: Duration,
    /// How long a response may wait on a client that stopped reading (its receive window shut)
    /// before the connection is aborted and counted in `fakeai_send_timeouts_total`; 0 = never.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub send_timeout: Duration,
    /// On SIGINT/SIGTERM, how long in-flight responses may take to finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub drain_timeout: Duration,
    /// Time to first token, `ms[:variance%]` [default: the model's profile, else 20:10].
    #[arg(long)]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub ttft: Option<Latency>,
    /// Inter-token latency, `ms[:variance%]` [default: the model's profile, else 5:10].
    #[arg(long)]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub itl: Option<Latency>,
    /// Prefill speed: prompt tokens per second beyond the first 100 add to TTFT (0 = free)
    /// [default: the model's profile unless --ttft is set, else 0].
    #[arg(long)]
    pub prefill_tps: Option<f64>,
    /// Ignore per-model latency profiles; unset timing falls back to 20:10 / 5:10.
    #[arg(long)]
    pub no_latency_profiles: bool,
    /// Non-streaming responses wait TTFT + (n−1)·ITL like streams do.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub non_streaming_delay: bool,
    /// Base latency of embeddings and moderations, `ms[:variance%]`.
    #[arg(long, default_value = "10:10")]
    #[serde(deserialize_with = "values::parsed")]
    pub embedding_latency: Latency,
    /// Input tokens per second embeddings and moderations add to their latency (0 = free).
    #[arg(long, default_value_t = 100_000.0)]
    pub embedding_tps: f64,
    /// Base latency of rerankers (`/v1/ranking`, `/v1/rerank`, `/v2/rerank`, `/rerank`), `ms[:variance%]`.
    #[arg(long, default_value = "10:10")]
    #[serde(deserialize_with = "values::parsed")]
    pub ranking_latency: Latency,
    /// Query-plus-passage tokens per second rerankers add to their latency (0 = free).
    #[arg(long, default_value_t = 50_000.0)]
    pub ranking_tps: f64,
    /// Natural output length when no EOS is ignored: `N`, `MEAN:PCT` or `normal:MEAN:SD`.
    #[arg(long, default_value = "100:50")]
    #[serde(deserialize_with = "values::parsed")]
    pub output_len: LengthDist,
    /// Tokenizer for prompt tokens: cl100k_base or o200k_base.
    #[arg(long, default_value = "cl100k_base")]
    #[serde(deserialize_with = "values::parsed")]
    pub tokenizer: Encoding,
    /// Seed for the server's randomness [default: from the clock].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Context window of models not in the registry (FakeAI used 8192).
    #[arg(long, default_value_t = 131_072)]
    pub default_context_window: u64,
    /// Model-name patterns of reasoning models, comma-separated or the flag repeated
    /// (case-insensitive substrings; `^p` matches names whose last `/` part starts with p).
    /// Empty: no model reasons.
    #[arg(long, value_delimiter = ',', default_value = "gpt-oss,deepseek-r1,qwq,qwen3,reasoning,thinking,^o1,^o3,^o4")]
    #[serde(deserialize_with = "values::list")]
    pub reasoning_models: Vec<String>,
    /// How many Responses API responses are kept for `previous_response_id` and retrieval
    /// (oldest dropped first; 0 keeps none).
    #[arg(long, default_value_t = 10_000)]
    pub response_store: usize,
    /// How many stored objects of each other kind (chat completions with `store: true`,
    /// conversations) are kept (oldest dropped first; 0 keeps none).
    #[arg(long, default_value_t = 10_000)]
    pub store_capacity: usize,
    /// Pad every chat stream chunk with a random `obfuscation` string as OpenAI does (unless the
    /// request sends `stream_options.include_obfuscation: false`). Off by default: it costs bytes
    /// and work per chunk.
    #[arg(long)]
    pub stream_obfuscation: bool,
    /// Most files held at once (uploads, completed uploads and batch outputs); beyond it,
    /// creating one is a 400 until some are deleted.
    #[arg(long, default_value_t = 10_000)]
    pub max_files: usize,
    /// Bytes of file contents held in memory, upload parts included; beyond it, a 400.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub file_storage: u64,
    /// Most uploads held at once (each lives an hour).
    #[arg(long, default_value_t = 1_000)]
    pub max_uploads: usize,
    /// Most batches held at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_batches: usize,
    /// Most vector stores held at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_vector_stores: usize,
    /// Most files attached to vector stores at once (all stores together; also bounds file batches).
    #[arg(long, default_value_t = 100_000)]
    pub max_vector_store_files: usize,
    /// Most organization objects of each kind held at once (users, invites, projects, project
    /// users, service accounts, project API keys, admin API keys).
    #[arg(long, default_value_t = 10_000)]
    pub max_org_objects: usize,
    /// Keep files, batches, vector stores, fine-tuning, assistants and organization objects in
    /// this directory (created if missing), so they survive a restart or a crash; a reply that
    /// changed any of them is sent once the change is on disk. Without it, all is in memory.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Most assistants, threads and runs held at once (each kind); messages up to ten times as many.
    #[arg(long, default_value_t = 10_000)]
    pub max_assistant_objects: usize,
    /// How long a file added to a vector store stays `in_progress` before it is `completed`
    /// and searchable, in milliseconds (0: at once). It is chunked and embedded when added.
    #[arg(long, default_value_t = 0)]
    pub vector_store_processing_ms: u64,
    /// Pace of batch lines on the background jobs thread, per second (0: as fast as it runs,
    /// at low priority beside live traffic).
    #[arg(long, default_value_t = 0.0)]
    pub batch_lines_per_second: f64,
    /// Most fine-tuning jobs held at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_fine_tuning_jobs: usize,
    /// How long a fine-tuning job takes from creation to success, in milliseconds: a tenth
    /// validating its files, a tenth queued, the rest training (an event per slice of steps).
    #[arg(long, default_value_t = 3_000)]
    pub fine_tuning_ms: u64,
    /// When `tool_choice: auto` (the default) calls tools: `match` calls those the last user
    /// message mentions by name or a significant word of it; `always` calls one even without a
    /// mention; `never` answers in text.
    #[arg(long, value_enum, default_value_t = AutoToolCalls::Match)]
    #[serde(deserialize_with = "values::choice")]
    pub auto_tool_calls: AutoToolCalls,
    /// Simulated KV-cache capacity in tokens: the block pool's size unless `--num-gpu-blocks`
    /// sets it.
    #[arg(long, default_value_t = 524_288, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(deserialize_with = "values::positive")]
    pub kv_cache_tokens: u64,
    /// Simulated KV-cache block size in tokens (vLLM's `--block-size`).
    #[arg(long, alias = "block-size", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=128))]
    #[serde(deserialize_with = "values::block_size")]
    pub kv_cache_block_size: u64,
    /// Simulated GPUs, shown as DCGM-exporter metrics at `/dcgm/metrics` and on the DCGM port
    /// (0: none, and no DCGM port).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub gpus: u16,
    /// Kind of the simulated GPUs (names, memory, power, clocks as `nvidia-smi` reports them).
    #[arg(long, value_enum, default_value = "h100")]
    #[serde(deserialize_with = "values::choice")]
    pub gpu: crate::sim::gpu::GpuKind,
    /// Ports for a DCGM-exporter listener serving the GPUs at `/metrics`, tried in order; the
    /// first free one is bound (AIPerf polls 9400 and 9401 and would count GPUs served on both
    /// twice). `off` or `0`: none.
    #[arg(long, default_value = "9400,9401")]
    #[serde(deserialize_with = "values::parsed")]
    pub dcgm_port: DcgmPorts,
    /// Label the host `hostname` (dcgm-exporter's main branch) instead of 4.x's `Hostname`.
    #[arg(long)]
    pub dcgm_lowercase_hostname: bool,
    /// KV-cache blocks, shared by every core [default: --kv-cache-tokens / --kv-cache-block-size,
    /// 32,768 blocks of 16 tokens].
    #[arg(long, alias = "num-gpu-blocks-override", value_parser = clap::value_parser!(u32).range(1..))]
    pub num_gpu_blocks: Option<u32>,
    /// Turn prefix caching off (vLLM's `--no-enable-prefix-caching`): prompts still take KV
    /// blocks, but none is looked up, so `cached_tokens` stays 0.
    #[arg(long, alias = "no-enable-prefix-caching")]
    pub no_prefix_caching: bool,
    /// Which free cached KV block is evicted first when a block is needed: `lru` (least
    /// recently freed, vLLM's), `lfu` (fewest prefix hits, then least recently freed), `fifo`
    /// (earliest stored), `mru` (most recently freed) or `filo` (latest stored), as SGLang's
    /// `--radix-eviction-policy`.
    #[arg(long, alias = "radix-eviction-policy", value_enum, default_value_t = crate::sim::kv::EvictionPolicy::Lru)]
    #[serde(deserialize_with = "values::choice")]
    pub eviction_policy: crate::sim::kv::EvictionPolicy,
    /// Publish KV-cache events as vLLM does for KV-aware routers (its `--kv-events-config`):
    /// a ZeroMQ PUB socket bound at `tcp://HOST:PORT` (`*`: every interface) sending
    /// `[topic, seq, msgpack KVEventBatch]` with `BlockStored`, `BlockRemoved` and
    /// `AllBlocksCleared` [default: off].
    #[arg(long, value_name = "ENDPOINT")]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub kv_events: Option<crate::state::kv_events::Endpoint>,
    /// Topic (first frame) of every KV-event message; subscribers filter on its prefix.
    #[arg(long, default_value = "")]
    pub kv_events_topic: String,
    /// Encoding of each KV event: `map` (tagged maps, vLLM since 2026-06) or `array`
    /// (positional, older vLLM); the batch is `[ts, events, data_parallel_rank]` either way.
    #[arg(long, value_enum, default_value = "map")]
    #[serde(deserialize_with = "values::choice")]
    pub kv_events_format: crate::state::kv_events::EventFormat,
    /// Prefill time per uncached prompt token, in microseconds: it adds to TTFT, so a prefix-cache
    /// hit shortens TTFT by its cached tokens' share (0: TTFT as configured).
    #[arg(long, default_value_t = 0.0, value_parser = values::parse_non_negative)]
    pub prefill_us_per_token: f64,
    /// Simulated engine: `off` serves every request on its own configured schedule; `vllm`,
    /// `sglang`, `trtllm` run every generation through a per-core continuous-batching engine
    /// (a running set, a waiting queue, a step-time model, KV blocks and preemption); `sglang`
    /// runs prefill and decode in separate steps, `trtllm` admits a sequence only with blocks
    /// for its whole length and never preempts.
    #[arg(long, value_enum, default_value_t = EngineKind::Off)]
    #[serde(deserialize_with = "values::choice")]
    pub engine: EngineKind,
    /// Engine: most sequences in the running batch (vLLM's `--max-num-seqs`).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(deserialize_with = "values::positive")]
    pub max_num_seqs: u64,
    /// Engine: most tokens computed per step, prefill chunks and decodes together (vLLM's
    /// `--max-num-batched-tokens`).
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(deserialize_with = "values::positive")]
    pub max_num_batched_tokens: u64,
    /// Engine: most requests waiting; more get vLLM's 503 [default: no cap].
    #[arg(long)]
    pub max_num_queued_requests: Option<u64>,
    /// Engine: `fcfs` admits in arrival order; `priority` by the request's `priority` (lower
    /// first, then arrival), preempting the lowest priority first (vLLM's `--scheduling-policy`).
    #[arg(long, value_enum, default_value_t = SchedulingPolicy::Fcfs)]
    #[serde(deserialize_with = "values::choice")]
    pub scheduling_policy: SchedulingPolicy,
    /// Engine: `fcfs`, or `lpm`: the waiting request with the longest cached prompt prefix
    /// first, then arrival (SGLang's `--schedule-policy`; it applies to any `--engine`).
    #[arg(long, value_enum, default_value_t = SchedulePolicy::Fcfs)]
    #[serde(deserialize_with = "values::choice")]
    pub schedule_policy: SchedulePolicy,
    /// Engine: step time `a,b,c[,d]` in microseconds: a + b·prefill tokens + c·decoding
    /// sequences + d·their context tokens [default: from --model-profile, else the --gpu preset].
    #[arg(long)]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub step_time: Option<crate::sim::engine::StepTime>,
    /// Engine: the served model's shape (`llama-3.1-8b`, `llama-3.1-70b`, `llama-3.3-70b-fp8`,
    /// `qwen2.5-7b`, `mistral-7b`, `mixtral-8x7b`, `qwen3-30b-a3b`): with `--gpu` it sets
    /// `--num-gpu-blocks` and `--step-time` unless they are given, and what the fake GPUs hold
    /// [default: none: the `--gpu` preset and `--kv-cache-tokens`].
    #[arg(long, value_enum)]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub model_profile: Option<crate::sim::model_profile::ModelProfile>,
    /// Engine: share of each GPU's memory for weights, activations and KV cache, with
    /// `--model-profile` (vLLM's `--gpu-memory-utilization`).
    #[arg(long, default_value_t = 0.9, value_parser = values::parse_utilisation)]
    #[serde(deserialize_with = "values::utilisation")]
    pub gpu_memory_utilization: f64,
    /// Engine: GPUs per tensor-parallel group, with `--model-profile` [default: the profile's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub tensor_parallel_size: Option<u32>,
    /// Max output tokens of models not in the registry.
    #[arg(long, default_value_t = 4096)]
    pub default_max_output_tokens: u64,
    /// How many models first used in requests `/v1/models` lists: the most recent ones, so
    /// typos cannot grow memory without end (0 lists none; any name is served either way).
    #[arg(long, default_value_t = 100)]
    pub max_auto_models: usize,
    /// Time to make one 1024×1024 image at standard/medium quality; scaled by `n`, pixels,
    /// quality (low ½, high/hd 2×) and model (DALL·E 2 and Stable Diffusion ½).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub image_latency: Duration,
    /// How long generated images stay downloadable at their URL.
    #[arg(long, default_value = "3600s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub image_ttl: Duration,
    /// Memory for generated images kept for their URLs (oldest dropped first beyond it).
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    #[serde(deserialize_with = "values::size")]
    pub image_store_bytes: u64,
    /// Time a video job takes per second of video (sora-2-pro twice that); it is `queued` for
    /// the first tenth, then `in_progress` with `progress` by elapsed time.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    #[serde(deserialize_with = "values::duration")]
    pub video_latency: Duration,
    /// An API key the keyed routes accept (repeat the flag; comma-separated or a JSON list in
    /// the environment); a value naming a file is read as a keys file, as FakeAI did. Any key
    /// turns authentication on.
    #[arg(long)]
    #[serde(default, deserialize_with = "values::list")]
    pub api_key: Vec<String>,
    /// File of API keys, one per line (`#` comments); read again on SIGHUP. Turns
    /// authentication on.
    #[arg(long)]
    pub api_keys_file: Option<PathBuf>,
    /// A key the admin routes (`/admin/config`) accept, and no other key does (repeat the flag);
    /// without one, admin routes take any valid key.
    #[arg(long)]
    #[serde(default, deserialize_with = "values::list")]
    pub admin_key: Vec<String>,
    /// Require a key on keyed routes even when none is configured (every such request is 401).
    #[arg(long)]
    pub require_api_key: bool,
    /// Rate-limit each key (at `--rate-limit-tier`, default tier-1).
    #[arg(long, alias = "enable-rate-limiting")]
    pub rate_limit_enabled: bool,
    /// Requests and tokens per minute of a FakeAI/OpenAI usage tier: free, tier-1 … tier-5
    /// (turns rate limits on).
    #[arg(long)]
    #[serde(default, deserialize_with = "values::parsed_opt")]
    pub rate_limit_tier: Option<RateTier>,
    /// Requests per minute per key (turns rate limits on; overrides the tier's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_rpm: Option<u64>,
    /// Tokens per minute per key (turns rate limits on; overrides the tier's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_tpm: Option<u64>,
    /// Requests per day per key [default: unlimited].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_rpd: Option<u64>,
    /// Tokens per day per key [default: unlimited].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_tpd: Option<u64>,
    /// Inject a fault into a fraction of keyed requests: `KIND[;param=value...]=RATE`, scoped
    /// by `@/endpoint` or `@model` (repeat the flag; rates of one request's rules add up). KIND
    /// is an HTTP status or a fault name (see the README's fault table).
    #[arg(long)]
    #[serde(default, deserialize_with = "values::parsed_list")]
    pub fault_rate: Vec<crate::state::faults::Rule>,
    /// Seed of the fault draws: the same seed and the same requests give the same faults
    /// [default: from the clock].
    #[arg(long)]
    pub fault_seed: Option<u64>,
    /// Also serve the vLLM metric names vLLM 0.30 removed (`vllm:gpu_cache_usage_perc`,
    /// `vllm:gpu_prefix_cache_{queries,hits}_total`, `vllm:time_per_output_token_seconds`),
    /// beside their successors, for dashboards written against older servers.
    #[arg(long)]
    pub compat_metrics: bool,
    /// A scenario file (TOML, YAML or JSON): phases of `/admin/config` changes applied at
    /// offsets from the start, optionally looping (see the README's scenarios section).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// FakeAI's error injection: errors at `--error-injection-rate`, of `--error-injection-types`.
    #[arg(long)]
    pub error_injection_enabled: bool,
    /// FakeAI's error-injection rate, 0-1 (with `--error-injection-enabled`).
    #[arg(long, default_value_t = 0.0)]
    pub error_injection_rate: f64,
    /// FakeAI's error-injection types (internal_error, bad_gateway, service_unavailable,
    /// gateway_timeout, rate_limit_quota, context_length_exceeded; or any fault kind)
    /// [default: internal_error, service_unavailable, gateway_timeout, rate_limit_quota].
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "values::list")]
    pub error_injection_types: Vec<String>,
    /// An `http://` URL that receives OpenAI's webhook events (`batch.*`, `fine_tuning.job.*`,
    /// `response.*` of background responses), signed and retried with backoff (repeat the flag).
    #[arg(long, value_parser = parse_webhook_url)]
    #[serde(default, deserialize_with = "values::list")]
    pub webhook_url: Vec<String>,
    /// The webhook signing secret (`whsec_` and base64, as OpenAI issues them, or any text).
    #[arg(long)]
    pub webhook_secret: Option<String>,
}

/// A webhook URL fakeai can post to: `http://host[:port]/path` (no TLS client here).
pub fn parse_webhook_url(url: &str) -> Result<String, String> {
    match url.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(url.to_owned()),
        _ => Err(format!("'{url}' is not an http:// URL (fakeai posts webhooks over plain HTTP)")),
    }
}

/// `--dcgm-port`: the ports to try for the DCGM listener, in order (empty: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcgmPorts(pub Vec<u16>);

impl std::str::FromStr for DcgmPorts {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if matches!(s.trim(), "off" | "0" | "") {
            return Ok(DcgmPorts(Vec::new()));
        }
        let port = |p: &str| match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("invalid DCGM port {p:?} in {s:?}: expected ports 1-65535, comma-separated, or off")),
        };
        s.split(',').map(port).collect::<Result<_, _>>().map(DcgmPorts)
    }
}

/// A usage tier's name, checked against [`crate::state::ratelimit::TIERS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateTier(pub String);

impl std::str::FromStr for RateTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match crate::state::ratelimit::tier(s) {
            Some(_) => Ok(RateTier(s.trim().to_owned())),
            None => Err(format!("unknown rate-limit tier {s:?}: expected free or tier-1 … tier-5")),
        }
    }
}

impl ServerArgs {
    /// Each key's rate limits: none unless turned on (by the flag, a tier or a number); a
    /// number overrides the tier's value of its dimension.
    pub fn rate_limits(&self) -> crate::state::ratelimit::Limits {
        let numbers = [self.rate_limit_rpm, self.rate_limit_tpm, self.rate_limit_rpd, self.rate_limit_tpd];
        if !(self.rate_limit_enabled || self.rate_limit_tier.is_some() || numbers.iter().any(Option::is_some)) {
            return crate::state::ratelimit::Limits::default();
        }
        let tier = self.rate_limit_tier.as_ref().map_or("tier-1", |t| t.0.as_str());
        let (rpm, tpm) = crate::state::ratelimit::tier(tier).unwrap_or((500, 2_000_000));
        crate::state::ratelimit::Limits {
            rpm: Some(self.rate_limit_rpm.unwrap_or(rpm)),
            tpm: Some(self.rate_limit_tpm.unwrap_or(tpm)),
            rpd: self.rate_limit_rpd,
            tpd: self.rate_limit_tpd,
        }
    }

    /// The fault rules: `--fault-rate`'s, and FakeAI's error injection when enabled.
    pub fn fault_rules(&self) -> Result<Vec<crate::state::faults::Rule>, String> {
        let mut rules = self.fault_rate.clone();
        if self.error_injection_enabled && self.error_injection_rate > 0.0 {
            if !(0.0..=1.0).contains(&self.error_injection_rate) {
                return Err("--error-injection-rate must be 0-1".into());
            }
            rules.extend(crate::state::faults::fakeai_rules(self.error_injection_rate, &self.error_injection_types)?);
        }
        Ok(rules)
    }

    /// Whether workers are pinned, given the number of cores.
    pub fn pin_workers(&self, workers: usize, cores: usize) -> bool {
        if self.no_pin { false } else { self.pin || self.cpus.is_some() || workers <= cores }
    }
}

impl Cli {
    /// Parses the command line (clap prints help, or an error and exits 2, itself) and, for
    /// `server`, layers the config file and the environment under the flags. An `Err` is a bad
    /// config file or variable, for the caller to print before exiting 2.
    pub fn load() -> Result<Cli, String> {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        // Not `env::vars()`, which panics on a variable that is not UTF-8.
        let env = || std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        match (&mut cli.command, matches.subcommand()) {
            (Command::Server(args), Some(("server", server))) => {
                **args = server_args(server, env())?;
                args.fault_rules()?;
            }
            (Command::Config(ConfigCommand::Print(args)), Some(("config", config))) => {
                let print = config.subcommand_matches("print").expect("the only config subcommand");
                **args = server_args(print, env())?;
                args.fault_rules()?;
                cli.settings = explain(print, env())?;
            }
            _ => {}
        }
        Ok(cli)
    }
}

/// Which engine `--engine` simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// No engine: every request on its own configured schedule.
    Off,
    /// vLLM's scheduler.
    Vllm,
    /// SGLang's: prefill and decode in separate steps, prefill first; SGLang's metric names.
    Sglang,
    /// TensorRT-LLM's: admitted only with blocks for its whole length, never preempted;
    /// TRT-LLM's metric names.
    Trtllm,
}

/// SGLang's queue order (`--schedule-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulePolicy {
    /// First come, first served.
    Fcfs,
    /// Longest prefix match: the most cached prompt tokens first, then arrival.
    Lpm,
}

/// The engine's queue order (`--scheduling-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulingPolicy {
    /// First come, first served.
    Fcfs,
    /// By the request's `priority`, then arrival.
    Priority,
}
