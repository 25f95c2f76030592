//! Command line, environment and config file, merged into one configuration.
//!
//! Precedence is flag > environment > config file > default. Every server flag `--some-flag`
//! is also `FAKEAI_SOME_FLAG`; FakeAI's nested names (`FAKEAI_SERVER__PORT`,
//! `FAKEAI_GENERATION__TTFT_MS`, …) and its flat `FAKEAI_TTFT_MS` family map onto them.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

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

/// `fakeai server` flags.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// TOML, YAML or JSON file with any of these settings (flat flag names, or FakeAI's
    /// `[server]`/`[generation]` sections).
    #[arg(long, env = "FAKEAI_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, env = "FAKEAI_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, env = "FAKEAI_PORT", default_value_t = 8000)]
    pub port: u16,
    /// Worker threads, one runtime each [default: available cores].
    #[arg(long, env = "FAKEAI_WORKERS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: Option<u16>,
    /// Pin each worker to a core [default: on when workers <= cores].
    #[arg(long, env = "FAKEAI_PIN", overrides_with = "no_pin")]
    pub pin: bool,
    /// Do not pin workers.
    #[arg(long, overrides_with = "pin")]
    pub no_pin: bool,
    /// Cores to pin to, e.g. `0,2-3` [default: 0..workers].
    #[arg(long, env = "FAKEAI_CPUS", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,
    /// Listen backlog of each worker's SO_REUSEPORT socket.
    #[arg(long, env = "FAKEAI_BACKLOG", default_value_t = 4096)]
    pub backlog: i32,
    /// I/O driver.
    #[arg(long, env = "FAKEAI_DRIVER", value_enum, default_value = "auto")]
    pub driver: Driver,
    /// io_uring submission-queue entries per worker.
    #[arg(long, env = "FAKEAI_URING_ENTRIES", default_value_t = 4096)]
    pub uring_entries: u32,
    /// SO_SNDBUF of the listening sockets [default: kernel's].
    #[arg(long, env = "FAKEAI_SOCKET_SNDBUF", value_parser = parse_size)]
    pub socket_sndbuf: Option<u64>,
    /// SO_RCVBUF of the listening sockets [default: kernel's].
    #[arg(long, env = "FAKEAI_SOCKET_RCVBUF", value_parser = parse_size)]
    pub socket_rcvbuf: Option<u64>,
    /// Initial per-connection read buffer (grows for larger requests). An idle keep-alive
    /// connection holds it; 3 KiB takes a typical benchmark request (~1.2 KB) in one read.
    #[arg(long, env = "FAKEAI_READ_BUFFER", default_value = "3KiB", value_parser = parse_size)]
    pub read_buffer: u64,
    /// Per-connection write buffer reserved when a response starts (released while idle).
    #[arg(long, env = "FAKEAI_WRITE_BUFFER", default_value = "4KiB", value_parser = parse_size)]
    pub write_buffer: u64,
    /// Open connections per worker; more get 503 and are closed.
    #[arg(long, env = "FAKEAI_MAX_CONNECTIONS", default_value_t = 20_000)]
    pub max_connections: usize,
    /// Largest request body (413 beyond).
    #[arg(long, env = "FAKEAI_MAX_BODY_SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_body_size: u64,
    /// Largest request head (431 beyond).
    #[arg(long, env = "FAKEAI_MAX_HEADER_SIZE", default_value = "16KiB", value_parser = parse_size)]
    pub max_header_size: u64,
    /// Time to receive a request head once it has begun (408 beyond).
    #[arg(long, env = "FAKEAI_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Time to receive a request body (408 beyond).
    #[arg(long, env = "FAKEAI_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// Idle time before a keep-alive connection is closed.
    #[arg(long, env = "FAKEAI_KEEPALIVE_TIMEOUT", default_value = "300s", value_parser = parse_duration)]
    pub keepalive_timeout: Duration,
    /// On SIGINT/SIGTERM, how long in-flight responses may take to finish.
    #[arg(long, env = "FAKEAI_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Time to first token, `ms[:variance%]` [default: the model's profile, else 20:10].
    #[arg(long, env = "FAKEAI_TTFT")]
    pub ttft: Option<Latency>,
    /// Inter-token latency, `ms[:variance%]` [default: the model's profile, else 5:10].
    #[arg(long, env = "FAKEAI_ITL")]
    pub itl: Option<Latency>,
    /// Prefill speed: prompt tokens per second beyond the first 100 add to TTFT (0 = free)
    /// [default: the model's profile unless --ttft is set, else 0].
    #[arg(long, env = "FAKEAI_PREFILL_TPS")]
    pub prefill_tps: Option<f64>,
    /// Ignore per-model latency profiles; unset timing falls back to 20:10 / 5:10.
    #[arg(long, env = "FAKEAI_NO_LATENCY_PROFILES")]
    pub no_latency_profiles: bool,
    /// Non-streaming responses wait TTFT + n·ITL like streams do.
    #[arg(long, env = "FAKEAI_NON_STREAMING_DELAY", default_value_t = true, action = clap::ArgAction::Set)]
    pub non_streaming_delay: bool,
    /// Natural output length when no EOS is ignored: `N`, `MEAN:PCT` or `normal:MEAN:SD`.
    #[arg(long, env = "FAKEAI_OUTPUT_LEN", default_value = "100:50")]
    pub output_len: LengthDist,
    /// Tokenizer for prompt tokens: cl100k_base or o200k_base.
    #[arg(long, env = "FAKEAI_TOKENIZER", default_value = "cl100k_base")]
    pub tokenizer: Encoding,
    /// Seed for the server's randomness [default: from the clock].
    #[arg(long, env = "FAKEAI_SEED")]
    pub seed: Option<u64>,
    /// Context window of models not in the registry (FakeAI used 8192).
    #[arg(long, env = "FAKEAI_DEFAULT_CONTEXT_WINDOW", default_value_t = 131_072)]
    pub default_context_window: u64,
    /// Comma-separated model-name patterns of reasoning models (case-insensitive substrings;
    /// `^p` matches names whose last `/` part starts with p). Empty: no model reasons.
    #[arg(
        long,
        env = "FAKEAI_REASONING_MODELS",
        default_value = "gpt-oss,deepseek-r1,qwq,qwen3,reasoning,thinking,^o1,^o3,^o4"
    )]
    pub reasoning_models: String,
    /// How many Responses API responses are kept for `previous_response_id` and retrieval
    /// (oldest dropped first; 0 keeps none).
    #[arg(long, env = "FAKEAI_RESPONSE_STORE", default_value_t = 10_000)]
    pub response_store: usize,
    /// How many stored objects of each other kind (chat completions with `store: true`,
    /// conversations) are kept (oldest dropped first; 0 keeps none).
    #[arg(long, env = "FAKEAI_STORE_CAPACITY", default_value_t = 10_000)]
    pub store_capacity: usize,
    /// Pad every chat stream chunk with a random `obfuscation` string as OpenAI does (unless the
    /// request sends `stream_options.include_obfuscation: false`). Off by default: it costs bytes
    /// and work per chunk.
    #[arg(long, env = "FAKEAI_STREAM_OBFUSCATION")]
    pub stream_obfuscation: bool,
    /// When `tool_choice: auto` (the default) calls tools: `match` calls those the last user
    /// message mentions by name or a significant word of it; `always` calls one even without a
    /// mention; `never` answers in text.
    #[arg(long, env = "FAKEAI_AUTO_TOOL_CALLS", value_enum, default_value_t = AutoToolCalls::Match)]
    pub auto_tool_calls: AutoToolCalls,
    /// Simulated KV-cache capacity in tokens (for `vllm:kv_cache_usage_perc`).
    #[arg(long, env = "FAKEAI_KV_CACHE_TOKENS", default_value_t = 524_288, value_parser = clap::value_parser!(u64).range(1..))]
    pub kv_cache_tokens: u64,
    /// Simulated KV-cache block size in tokens.
    #[arg(long, env = "FAKEAI_KV_CACHE_BLOCK_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=128))]
    pub kv_cache_block_size: u64,
    /// Max output tokens of models not in the registry.
    #[arg(long, env = "FAKEAI_DEFAULT_MAX_OUTPUT_TOKENS", default_value_t = 4096)]
    pub default_max_output_tokens: u64,
}

impl ServerArgs {
    /// Whether workers are pinned, given the number of cores.
    pub fn pin_workers(&self, workers: usize, cores: usize) -> bool {
        if self.no_pin { false } else { self.pin || self.cpus.is_some() || workers <= cores }
    }
}

/// A list of CPU ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list {s:?}: expected e.g. 0,2-3");
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (usize, usize) = (lo.parse().map_err(|_| bad())?, hi.parse().map_err(|_| bad())?);
        if lo > hi {
            return Err(bad());
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(CpuList(cpus))
}

/// Parses `4096`, `4KiB`, `64MiB`, `1GB`, `16k`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} too large"))
}

/// Parses `250ms`, `10s`, `5m`, or bare seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("invalid duration {s:?}: expected e.g. 250ms, 10s, 5m");
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// FakeAI's nested and legacy variable names, and the flat variable each sets.
const ALIASES: &[(&str, &str)] = &[
    ("FAKEAI_SERVER__HOST", "FAKEAI_HOST"),
    ("FAKEAI_SERVER__PORT", "FAKEAI_PORT"),
    ("FAKEAI_SERVER__WORKERS", "FAKEAI_WORKERS"),
    ("FAKEAI_KV_CACHE__BLOCK_SIZE", "FAKEAI_KV_CACHE_BLOCK_SIZE"),
];

/// Variable names that make up `FAKEAI_TTFT` / `FAKEAI_ITL` as `ms:variance`.
const LATENCY_PARTS: &[(&str, &[&str], &[&str])] = &[
    (
        "FAKEAI_TTFT",
        &["FAKEAI_TTFT_MS", "FAKEAI_GENERATION__TTFT_MS"],
        &["FAKEAI_TTFT_VARIANCE_PERCENT", "FAKEAI_TTFT_VARIANCE_PCT", "FAKEAI_GENERATION__TTFT_VARIANCE_PERCENT"],
    ),
    (
        "FAKEAI_ITL",
        &["FAKEAI_ITL_MS", "FAKEAI_GENERATION__ITL_MS"],
        &["FAKEAI_ITL_VARIANCE_PERCENT", "FAKEAI_ITL_VARIANCE_PCT", "FAKEAI_GENERATION__ITL_VARIANCE_PERCENT"],
    ),
];

type Vars = BTreeMap<String, String>;

/// Rewrites FakeAI's alias names in `vars` to the flat names the flags read.
fn resolve_aliases(vars: &mut Vars) {
    for (alias, flat) in ALIASES {
        if let Some(v) = vars.get(*alias).cloned() {
            vars.entry((*flat).to_owned()).or_insert(v);
        }
    }
    for (flat, ms_names, var_names) in LATENCY_PARTS {
        let ms = ms_names.iter().find_map(|n| vars.get(*n)).cloned();
        let var = var_names.iter().find_map(|n| vars.get(*n)).cloned();
        if vars.contains_key(*flat) || (ms.is_none() && var.is_none()) {
            continue;
        }
        let default_ms = if *flat == "FAKEAI_TTFT" { "20" } else { "5" };
        let value = format!("{}:{}", ms.as_deref().unwrap_or(default_ms), var.as_deref().unwrap_or("10"));
        vars.insert((*flat).to_owned(), value);
    }
}

/// Reads a config file into `FAKEAI_*` variables: top-level keys are flag names, and
/// `[section] field` becomes FakeAI's `FAKEAI_SECTION__FIELD`.
pub fn file_vars(path: &std::path::Path) -> Result<Vars, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let value: serde_json::Value = match ext.as_str() {
        "toml" => toml::from_str(&text).map_err(|e| format!("invalid TOML in {}: {e}", path.display()))?,
        "yaml" | "yml" => {
            serde_yaml_ng::from_str(&text).map_err(|e| format!("invalid YAML in {}: {e}", path.display()))?
        }
        "json" => serde_json::from_str(&text).map_err(|e| format!("invalid JSON in {}: {e}", path.display()))?,
        _ => return Err(format!("config file {} must end in .toml, .yaml, .yml or .json", path.display())),
    };
    let serde_json::Value::Object(top) = value else {
        return Err(format!("config file {} must hold a table of settings", path.display()));
    };
    let mut vars = Vars::new();
    for (key, v) in top {
        let name = format!("FAKEAI_{}", key.replace('-', "_").to_ascii_uppercase());
        match v {
            serde_json::Value::Object(section) => {
                for (field, v) in section {
                    vars.insert(format!("{name}__{}", field.to_ascii_uppercase()), scalar(&v)?);
                }
            }
            v => {
                vars.insert(name, scalar(&v)?);
            }
        }
    }
    Ok(vars)
}

fn scalar(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("config value {other} must be a string, number or boolean")),
    }
}

/// Environment names the server flags read.
fn known_vars() -> Vec<String> {
    let cmd = Cli::command();
    let server = cmd.find_subcommand("server").expect("server subcommand");
    server.get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect()
}

/// Merges FakeAI aliases and the config file into the environment, below any variable the
/// user set, so that clap sees flag > env > file > default. Call before parsing, while the
/// process is single-threaded.
pub fn prepare_environment(args: &[String]) -> Result<(), String> {
    let mut env: Vars = std::env::vars().filter(|(k, _)| k.starts_with("FAKEAI_")).collect();
    resolve_aliases(&mut env);
    let file = config_file_arg(args).or_else(|| env.get("FAKEAI_CONFIG_FILE").map(PathBuf::from));
    let mut merged = match file {
        Some(path) => {
            let mut vars = file_vars(&path)?;
            resolve_aliases(&mut vars);
            let known = known_vars();
            let flat = |k: &String| known.contains(k) || ALIASES.iter().any(|(a, _)| a == k);
            let part =
                |k: &String| LATENCY_PARTS.iter().any(|(_, m, v)| m.contains(&k.as_str()) || v.contains(&k.as_str()));
            if let Some(unknown) = vars.keys().find(|k| !flat(k) && !part(k)) {
                let key = unknown.trim_start_matches("FAKEAI_").to_ascii_lowercase();
                return Err(format!("unknown setting {key:?} in config file {}", path.display()));
            }
            vars
        }
        None => Vars::new(),
    };
    merged.extend(env);
    for (k, v) in merged {
        if std::env::var_os(&k).is_none() {
            // SAFETY: called from main before any thread is spawned.
            unsafe { std::env::set_var(k, v) };
        }
    }
    Ok(())
}

fn config_file_arg(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix("--config-file=") {
            return Some(v.into());
        }
        if a == "--config-file" {
            return it.next().map(PathBuf::from);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_durations_cpus() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("16k"), Ok(16 << 10));
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_cpus("0,2-3"), Ok(CpuList(vec![0, 2, 3])));
        assert!(parse_cpus("3-1").is_err());
    }

    #[test]
    fn fakeai_aliases_map_to_flags() {
        let mut v: Vars = [
            ("FAKEAI_GENERATION__TTFT_MS", "300"),
            ("FAKEAI_ITL_MS", "7"),
            ("FAKEAI_ITL_VARIANCE_PCT", "0"),
            ("FAKEAI_SERVER__PORT", "9000"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        resolve_aliases(&mut v);
        assert_eq!(v["FAKEAI_TTFT"], "300:10");
        assert_eq!(v["FAKEAI_ITL"], "7:0");
        assert_eq!(v["FAKEAI_PORT"], "9000");
    }

    #[test]
    fn every_flag_has_an_env_name() {
        let cmd = Cli::command();
        let server = cmd.find_subcommand("server").unwrap();
        for a in server.get_arguments().filter(|a| a.get_id() != "no_pin" && a.get_id() != "help") {
            let want = format!("FAKEAI_{}", a.get_id().as_str().to_ascii_uppercase());
            assert_eq!(a.get_env().map(|e| e.to_string_lossy().into_owned()), Some(want));
        }
        Cli::command().debug_assert();
    }
}
