//! Where server settings come from. Each source (the flags' defaults, a config file, the
//! environment, the command line) is read into a layer of canonical keys; the layers are merged
//! in that order, a later layer winning key by key (a list is replaced whole), and extracted as
//! one typed [`ServerArgs`]. A bad value is reported with its key as written and its source.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use clap::{ArgMatches, parser::ValueSource};
use figment::{
    Figment, Metadata, Profile, Provider,
    value::{Dict, Map, Value},
};

use super::ServerArgs;

/// Every setting: its canonical key (the flag's long name with `_`, also `FAKEAI_<KEY>`), and
/// the FakeAI-style section and field it can be written as instead (`[server] port` in a file,
/// `FAKEAI_SERVER__PORT` in the environment). FakeAI's own names sit in FakeAI's sections.
pub(super) const KEYS: &[(&str, &str, &str)] = &[
    ("config_file", "", ""),
    ("host", "server", "host"),
    ("port", "server", "port"),
    ("workers", "server", "workers"),
    ("pin", "server", "pin"),
    ("no_pin", "server", "no_pin"),
    ("cpus", "server", "cpus"),
    ("backlog", "server", "backlog"),
    ("tcp_congestion", "server", "tcp_congestion"),
    ("driver", "server", "driver"),
    ("uring_entries", "server", "uring_entries"),
    ("socket_sndbuf", "server", "socket_sndbuf"),
    ("socket_rcvbuf", "server", "socket_rcvbuf"),
    ("read_buffer", "server", "read_buffer"),
    ("write_buffer", "server", "write_buffer"),
    ("max_connections", "server", "max_connections"),
    ("max_body_size", "server", "max_body_size"),
    ("max_json_body_size", "server", "max_json_body_size"),
    ("max_header_size", "server", "max_header_size"),
    ("header_timeout", "server", "header_timeout"),
    ("body_timeout", "server", "body_timeout"),
    ("keepalive_timeout", "server", "keepalive_timeout"),
    ("send_timeout", "server", "send_timeout"),
    ("drain_timeout", "server", "drain_timeout"),
    ("ttft", "generation", "ttft"),
    ("ttft_ms", "generation", "ttft_ms"),
    ("ttft_variance_percent", "generation", "ttft_variance_percent"),
    ("itl", "generation", "itl"),
    ("itl_ms", "generation", "itl_ms"),
    ("itl_variance_percent", "generation", "itl_variance_percent"),
    ("prefill_tps", "generation", "prefill_tps"),
    ("no_latency_profiles", "generation", "no_latency_profiles"),
    ("non_streaming_delay", "generation", "non_streaming_delay"),
    ("output_len", "generation", "output_len"),
    ("embedding_latency", "embeddings", "latency"),
    ("embedding_tps", "embeddings", "tokens_per_second"),
    ("ranking_latency", "rankings", "latency"),
    ("ranking_tps", "rankings", "tokens_per_second"),
    ("tokenizer", "generation", "tokenizer"),
    ("seed", "generation", "seed"),
    ("reasoning_models", "generation", "reasoning_models"),
    ("auto_tool_calls", "generation", "auto_tool_calls"),
    ("default_context_window", "models", "default_context_window"),
    ("default_max_output_tokens", "models", "default_max_output_tokens"),
    ("max_auto_models", "models", "max_auto_models"),
    ("response_store", "storage", "response_store"),
    ("store_capacity", "storage", "store_capacity"),
    ("stream_obfuscation", "generation", "stream_obfuscation"),
    ("image_latency", "generation", "image_latency"),
    ("image_ttl", "storage", "image_ttl"),
    ("image_store_bytes", "storage", "image_store_bytes"),
    ("video_latency", "generation", "video_latency"),
    ("max_files", "storage", "max_files"),
    ("file_storage", "storage", "file_storage"),
    ("max_uploads", "storage", "max_uploads"),
    ("max_batches", "storage", "max_batches"),
    ("max_vector_stores", "storage", "max_vector_stores"),
    ("max_vector_store_files", "storage", "max_vector_store_files"),
    ("max_org_objects", "storage", "max_org_objects"),
    ("data_dir", "storage", "data_dir"),
    ("max_assistant_objects", "storage", "max_assistant_objects"),
    ("vector_store_processing_ms", "storage", "vector_store_processing_ms"),
    ("batch_lines_per_second", "batch", "lines_per_second"),
    ("max_fine_tuning_jobs", "fine_tuning", "max_jobs"),
    ("fine_tuning_ms", "fine_tuning", "duration_ms"),
    ("gpus", "dcgm", "num_gpus"),
    ("gpu", "dcgm", "gpu_model"),
    ("dcgm_port", "dcgm", "port"),
    ("dcgm_lowercase_hostname", "dcgm", "lowercase_hostname"),
    ("kv_cache_tokens", "kv_cache", "tokens"),
    ("kv_cache_block_size", "kv_cache", "block_size"),
    ("num_gpu_blocks", "kv_cache", "num_gpu_blocks"),
    ("no_prefix_caching", "kv_cache", "no_prefix_caching"),
    ("eviction_policy", "kv_cache", "eviction_policy"),
    ("kv_events", "kv_events", "endpoint"),
    ("kv_events_topic", "kv_events", "topic"),
    ("kv_events_format", "kv_events", "format"),
    ("prefill_us_per_token", "kv_cache", "prefill_us_per_token"),
    ("engine", "engine", "kind"),
    ("max_num_seqs", "engine", "max_num_seqs"),
    ("max_num_batched_tokens", "engine", "max_num_batched_tokens"),
    ("max_num_queued_requests", "engine", "max_num_queued_requests"),
    ("step_time", "engine", "step_time_us"),
    ("model_profile", "engine", "model_profile"),
    ("gpu_memory_utilization", "engine", "gpu_memory_utilization"),
    ("tensor_parallel_size", "engine", "tensor_parallel_size"),
    ("scheduling_policy", "engine", "scheduling_policy"),
    ("schedule_policy", "engine", "schedule_policy"),
    ("api_key", "auth", "api_keys"),
    ("api_keys_file", "auth", "api_keys_file"),
    ("require_api_key", "auth", "require_api_key"),
    ("admin_key", "auth", "admin_keys"),
    ("rate_limit_enabled", "rate_limits", "enabled"),
    ("rate_limit_tier", "rate_limits", "tier"),
    ("rate_limit_rpm", "rate_limits", "rpm_override"),
    ("rate_limit_tpm", "rate_limits", "tpm_override"),
    ("rate_limit_rpd", "rate_limits", "rpd_override"),
    ("rate_limit_tpd", "rate_limits", "tpd_override"),
    ("fault_rate", "faults", "rates"),
    ("fault_seed", "faults", "seed"),
    ("compat_metrics", "metrics", "compat_metrics"),
    ("scenario", "faults", "scenario"),
    ("error_injection_enabled", "metrics", "error_injection_enabled"),
    ("error_injection_rate", "metrics", "error_injection_rate"),
    ("error_injection_types", "metrics", "error_injection_types"),
    ("webhook_url", "webhooks", "urls"),
    ("webhook_secret", "webhooks", "secret"),
];

/// FakeAI's sectioned names for a key that has its own section too.
const SECTION_ALIASES: &[(&str, &str, &str)] = &[("max_body_size", "security", "max_request_size")];

/// FakeAI's other flat spellings of a key.
const ALIASES: &[(&str, &str)] = &[
    ("ttft_variance_pct", "ttft_variance_percent"),
    ("itl_variance_pct", "itl_variance_percent"),
    ("api_keys", "api_key"),
    ("enable_rate_limiting", "rate_limit_enabled"),
];

/// FakeAI's latency parts: the whole setting, its `ms` and variance keys, and the default ms.
const LATENCY_PARTS: &[(&str, &str, &str, &str)] =
    &[("ttft", "ttft_ms", "ttft_variance_percent", "20"), ("itl", "itl_ms", "itl_variance_percent", "5")];

/// The canonical key of a flat name (`[key]`) or a sectioned one (`[section, field]`), both
/// already lower-case with `_`.
fn canonical(path: &[&str]) -> Option<&'static str> {
    match *path {
        [key] => {
            let key = ALIASES.iter().find(|(alias, _)| *alias == key).map_or(key, |(_, k)| k);
            KEYS.iter().find(|(k, ..)| *k == key).map(|(k, ..)| *k)
        }
        [section, field] => {
            KEYS.iter().chain(SECTION_ALIASES).find(|(_, s, f)| *s == section && *f == field).map(|(k, ..)| *k)
        }
        _ => None,
    }
}

/// `Output-Len` → `output_len`.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// One source's settings under canonical keys.
struct Layer {
    /// Names the source in messages: `the environment`, `config file x.toml`, ….
    name: String,
    values: Dict,
    /// Canonical key → the name it was written as (`FAKEAI_SERVER__PORT`, `server.port`).
    written: BTreeMap<String, String>,
    /// Keys set by their flat name, which a sectioned name in the same layer does not override.
    flat: Vec<&'static str>,
}

impl Layer {
    fn new(name: String) -> Self {
        Layer { name, values: Dict::new(), written: BTreeMap::new(), flat: Vec::new() }
    }

    fn set(&mut self, key: &'static str, value: Value, written: String, sectioned: bool) {
        if sectioned && self.flat.contains(&key) {
            return;
        }
        if !sectioned {
            self.flat.push(key);
        }
        self.values.insert(key.to_owned(), value);
        self.written.insert(key.to_owned(), written);
    }

    /// Folds FakeAI's latency parts into `ttft`/`itl` as `ms:variance` (missing parts take
    /// FakeAI's defaults), unless this layer sets the whole value.
    fn fold_latency_parts(&mut self) {
        for (whole, ms_key, var_key, default_ms) in LATENCY_PARTS {
            let ms = self.values.remove(*ms_key);
            let var = self.values.remove(*var_key);
            let names: Vec<String> = [ms_key, var_key].iter().filter_map(|k| self.written.remove(**k)).collect();
            if self.values.contains_key(*whole) || (ms.is_none() && var.is_none()) {
                continue;
            }
            let text = |v: Option<Value>, default: &str| match v {
                Some(Value::String(_, s)) => s,
                Some(v) => v.deserialize::<serde_json::Value>().map_or_else(|_| format!("{v:?}"), |j| j.to_string()),
                None => default.to_owned(),
            };
            let value = format!("{}:{}", text(ms, default_ms), text(var, "10"));
            self.values.insert((*whole).to_owned(), value.into());
            self.written.insert((*whole).to_owned(), names.join(" + "));
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        match self.values.get(key) {
            Some(Value::String(_, s)) => Some(PathBuf::from(s)),
            _ => None,
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let written = Arc::new(self.written.clone());
        Metadata::named(self.name.clone()).interpolater(move |_: &Profile, keys: &[&str]| {
            let mut parts: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            if let Some(first) = parts.first_mut()
                && let Some(name) = written.get(first.as_str())
            {
                name.clone_into(first);
            }
            parts.join(".")
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

/// The flags' defaults and the flags given, from the server subcommand's matches.
fn clap_layers(m: &ArgMatches) -> (Layer, Layer) {
    let mut defaults = Layer::new("the defaults".into());
    let mut flags = Layer::new("the command line".into());
    for id in m.ids() {
        let Some(key) = canonical(&[id.as_str()]) else { continue };
        let Ok(Some(raw)) = m.try_get_raw(key) else { continue };
        let mut items: Vec<String> = raw.map(|s| s.to_string_lossy().into_owned()).collect();
        let value = if items.len() == 1 { Value::from(items.remove(0)) } else { Value::from(items) };
        match m.value_source(key) {
            Some(ValueSource::CommandLine) => {
                flags.set(key, value, format!("--{}", key.replace('_', "-")), false);
                // `--pin` and `--no-pin` override each other in every layer below too.
                match key {
                    "pin" => flags.set("no_pin", false.into(), "--pin".into(), false),
                    "no_pin" => flags.set("pin", false.into(), "--no-pin".into(), false),
                    _ => {}
                }
            }
            Some(ValueSource::DefaultValue) => defaults.set(key, value, key.to_owned(), false),
            _ => {}
        }
    }
    (defaults, flags)
}

/// `FAKEAI_*` variables naming a setting; others (`FAKEAI_SDK_PYTHON`, FakeAI settings fakeai
/// does not have) are left alone.
fn env_layer(vars: &[(String, String)]) -> Layer {
    let mut layer = Layer::new("the environment".into());
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("FAKEAI_") else { continue };
        let rest = rest.to_ascii_lowercase();
        let path: Vec<&str> = rest.split("__").collect();
        if let Some(key) = canonical(&path) {
            layer.set(key, value.clone().into(), name.clone(), path.len() > 1);
        }
    }
    layer.fold_latency_parts();
    layer
}

/// A TOML, YAML or JSON file (by extension): top-level keys are settings, tables are FakeAI
/// sections. An unknown key is an error.
fn file_layer(path: &Path) -> Result<Layer, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {shown}: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let value: serde_json::Value = match ext.as_str() {
        "toml" => toml::from_str(&text).map_err(|e| format!("invalid TOML in config file {shown}: {e}"))?,
        "yaml" | "yml" => {
            serde_yaml_ng::from_str(&text).map_err(|e| format!("invalid YAML in config file {shown}: {e}"))?
        }
        "json" => serde_json::from_str(&text).map_err(|e| format!("invalid JSON in config file {shown}: {e}"))?,
        _ => return Err(format!("config file {shown} must end in .toml, .yaml, .yml or .json")),
    };
    let serde_json::Value::Object(top) = value else {
        return Err(format!("config file {shown} must hold a table of settings"));
    };
    let unknown = |key: &str| format!("unknown setting {key:?} in config file {shown}");
    let to_value = |v: serde_json::Value| Value::serialize(v).map_err(|e| format!("config file {shown}: {e}"));
    let mut layer = Layer::new(format!("config file {shown}"));
    for (key, v) in top {
        let key = normalize(&key);
        if let Some(canon) = canonical(&[&key]) {
            layer.set(canon, to_value(v)?, key, false);
            continue;
        }
        let serde_json::Value::Object(fields) = v else { return Err(unknown(&key)) };
        for (field, v) in fields {
            let written = format!("{key}.{}", normalize(&field));
            let canon = canonical(&[&key, &normalize(&field)]).ok_or_else(|| unknown(&written))?;
            layer.set(canon, to_value(v)?, written, true);
        }
    }
    layer.fold_latency_parts();
    Ok(layer)
}

/// Builds the server's settings from `matches` (the server subcommand's) and `env` (the
/// process environment): defaults < config file < environment < flags. The config file is
/// `--config-file`, else `FAKEAI_CONFIG_FILE`.
pub fn server_args(m: &ArgMatches, env: impl IntoIterator<Item = (String, String)>) -> Result<ServerArgs, String> {
    let mut args: ServerArgs = merged(m, env)?.extract_lossy().map_err(describe)?;
    crate::sim::model_profile::apply(&mut args)?;
    Ok(args)
}

/// The layers merged, not yet extracted.
fn merged(m: &ArgMatches, env: impl IntoIterator<Item = (String, String)>) -> Result<Figment, String> {
    let env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("FAKEAI_")).collect();
    let (defaults, flags) = clap_layers(m);
    let env = env_layer(&env);
    let mut figment = Figment::new().merge(defaults);
    if let Some(path) = flags.path("config_file").or_else(|| env.path("config_file")) {
        figment = figment.merge(file_layer(&path)?);
    }
    Ok(figment.merge(env).merge(flags))
}

/// One setting of the effective configuration and where its value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Canonical key (the config-file name).
    pub key: &'static str,
    /// The value as merged (before typing), `None` when no layer sets it.
    pub value: Option<serde_json::Value>,
    /// The layer that set it (`the defaults`, `config file x.toml`, `the environment`, `the command line`).
    pub source: Option<String>,
    /// The name it was written as in that layer (`--port`, `FAKEAI_SERVER__PORT`, `server.port`).
    pub written: Option<String>,
}

/// Every setting of `fakeai server` with the same `m` and `env`, in [`KEYS`] order, after
/// checking that the whole configuration is valid.
pub fn explain(m: &ArgMatches, env: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Setting>, String> {
    let figment = merged(m, env)?;
    figment.extract_lossy::<ServerArgs>().map_err(describe)?;
    // FakeAI's latency parts are folded into `ttft`/`itl`, which show them.
    let part = |key: &str| LATENCY_PARTS.iter().any(|(_, ms, var, _)| key == *ms || key == *var);
    let settings = KEYS
        .iter()
        .filter(|(key, ..)| !part(key))
        .map(|(key, ..)| {
            let found = figment.find_value(key).ok();
            let metadata = found.as_ref().and_then(|_| figment.find_metadata(key));
            Setting {
                key,
                value: found.and_then(|v| v.deserialize::<serde_json::Value>().ok()),
                source: metadata.map(|md| md.name.to_string()),
                written: metadata.map(|md| md.interpolate(&Profile::Default, &[key])),
            }
        })
        .collect();
    Ok(settings)
}

/// `invalid FAKEAI_SERVER__PORT in the environment: invalid type: found string "x", expected u16`.
fn describe(errors: figment::Error) -> String {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|e| {
            let key = match &e.metadata {
                Some(md) if !e.path.is_empty() => md.interpolate(&Profile::Default, &e.path),
                _ => e.path.join("."),
            };
            let source = e.metadata.as_ref().map_or("the settings", |md| &md.name);
            format!("invalid {key} in {source}: {}", e.kind)
        })
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use clap::CommandFactory;

    use super::*;
    use crate::{
        config::{Cli, CpuList},
        sim::Latency,
    };

    /// Settings for `fakeai server FLAGS` with `env`, and a config file `(extension, text)`.
    fn load(flags: &[&str], env: &[(&str, &str)], file: Option<(&str, &str)>) -> Result<ServerArgs, String> {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let mut argv: Vec<String> = vec!["fakeai".into(), "server".into()];
        if let Some((ext, text)) = file {
            let n = FILES.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("fakeai-layers-{}-{n}.{ext}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            argv.extend(["--config-file".into(), path.to_string_lossy().into_owned()]);
        }
        argv.extend(flags.iter().map(|f| (*f).to_owned()));
        let matches = Cli::command().try_get_matches_from(argv).map_err(|e| e.to_string())?;
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        server_args(matches.subcommand_matches("server").unwrap(), env)
    }

    fn ok(flags: &[&str], env: &[(&str, &str)], file: Option<(&str, &str)>) -> ServerArgs {
        load(flags, env, file).unwrap()
    }

    #[test]
    fn defaults_are_what_clap_parses_for_no_flags() {
        let layered = ok(&[], &[], None);
        let Cli { command: crate::config::Command::Server(parsed), .. } =
            <Cli as clap::Parser>::try_parse_from(["fakeai", "server"]).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(format!("{layered:?}"), format!("{parsed:?}"));
        assert_eq!(layered.reasoning_models.len(), 9, "the default list, split");
    }

    #[test]
    fn scalar_flag_beats_env_beats_file_beats_default() {
        let file = Some(("toml", "port = 1\n"));
        assert_eq!(ok(&[], &[], None).port, 8000);
        assert_eq!(ok(&[], &[], file).port, 1);
        assert_eq!(ok(&[], &[("FAKEAI_SERVER__PORT", "2")], file).port, 2, "FakeAI's nested name");
        assert_eq!(ok(&[], &[("FAKEAI_SERVER__PORT", "2"), ("FAKEAI_PORT", "3")], file).port, 3, "flat beats nested");
        assert_eq!(ok(&["--port", "4"], &[("FAKEAI_PORT", "3")], file).port, 4);
        // Key by key: a layer leaves what it does not set to the layers below.
        let s = ok(&["--port", "4"], &[("FAKEAI_HOST", "0.0.0.0")], Some(("toml", "port = 1\nbacklog = 7\n")));
        assert_eq!((s.port, s.host.as_str(), s.backlog), (4, "0.0.0.0", 7));
    }

    #[test]
    fn list_flag_beats_env_beats_file_beats_default_and_is_replaced_whole() {
        let models = |flags: &[&str], env: &[(&str, &str)], file| ok(flags, env, file).reasoning_models;
        let file = Some(("toml", "[generation]\nreasoning_models = [\"a,1\", \"b\"]\n"));
        assert_eq!(models(&[], &[], file), ["a,1", "b"], "a file's array items are taken whole");
        assert_eq!(models(&[], &[], Some(("yaml", "reasoning_models: a, b\n"))), ["a", "b"]);
        let env = [("FAKEAI_GENERATION__REASONING_MODELS", r#"["c"]"#)];
        assert_eq!(models(&[], &env, file), ["c"], "FakeAI's JSON form in the environment");
        let env = [("FAKEAI_REASONING_MODELS", "d, e")];
        assert_eq!(models(&[], &env, file), ["d", "e"]);
        assert_eq!(models(&["--reasoning-models", "f", "--reasoning-models", "g"], &env, file), ["f", "g"]);
        assert_eq!(models(&["--reasoning-models", "h,i"], &env, file), ["h", "i"]);
        assert!(models(&["--reasoning-models", ""], &env, file).is_empty(), "empty turns it off");
    }

    #[test]
    fn kv_cache_settings_from_every_layer() {
        let file = "[kv_cache]\nnum_gpu_blocks = 64\nno_prefix_caching = true\nprefill_us_per_token = 2.5\n";
        let s = ok(&[], &[], Some(("toml", file)));
        assert_eq!((s.num_gpu_blocks, s.no_prefix_caching, s.prefill_us_per_token), (Some(64), true, 2.5));
        let s = ok(
            &["--block-size", "32", "--num-gpu-blocks-override", "9"],
            &[("FAKEAI_PREFILL_US_PER_TOKEN", "4")],
            None,
        );
        assert_eq!((s.kv_cache_block_size, s.num_gpu_blocks, s.prefill_us_per_token), (32, Some(9), 4.0));
        assert!(!s.no_prefix_caching, "vLLM's default: on");
        assert!(ok(&["--no-enable-prefix-caching"], &[], None).no_prefix_caching, "vLLM's spelling");
        use crate::sim::kv::EvictionPolicy;
        assert_eq!(s.eviction_policy, EvictionPolicy::Lru, "vLLM's, the default");
        let file = "[kv_cache]\neviction_policy = \"lfu\"\n";
        assert_eq!(ok(&[], &[], Some(("toml", file))).eviction_policy, EvictionPolicy::Lfu);
        assert_eq!(
            ok(&["--radix-eviction-policy", "filo"], &[], None).eviction_policy,
            EvictionPolicy::Filo,
            "SGLang's"
        );
        assert_eq!(ok(&[], &[("FAKEAI_EVICTION_POLICY", "mru")], None).eviction_policy, EvictionPolicy::Mru);
    }

    #[test]
    fn fakeai_sections_and_latency_parts() {
        let file = "ttft = \"0:0\"\n[generation]\nitl_ms = 7\n[kv_cache]\nblock_size = 32\ntokens = 1000\n";
        let s = ok(&[], &[], Some(("toml", file)));
        assert_eq!(s.ttft, Some(Latency { ms: 0.0, variance_pct: 0.0 }));
        assert_eq!(s.itl, Some(Latency { ms: 7.0, variance_pct: 10.0 }), "FakeAI's default variance");
        assert_eq!((s.kv_cache_block_size, s.kv_cache_tokens), (32, 1000));
        // The environment's parts make a whole TTFT that replaces the file's.
        let env = [("FAKEAI_GENERATION__TTFT_MS", "250"), ("FAKEAI_ITL_VARIANCE_PCT", "0")];
        let s = ok(&[], &env, Some(("toml", file)));
        assert_eq!(s.ttft, Some(Latency { ms: 250.0, variance_pct: 10.0 }));
        assert_eq!(s.itl, Some(Latency { ms: 5.0, variance_pct: 0.0 }), "parts fold within one layer");
        let s = ok(&[], &[], Some(("json", r#"{"server": {"workers": 3, "cpus": [0, 2]}, "Output-Len": 9}"#)));
        assert_eq!((s.workers, s.cpus), (Some(3), Some(CpuList(vec![0, 2]))));
        assert_eq!(s.output_len, "9".parse().unwrap(), "a number where text is expected, a dashed key");
    }

    #[test]
    fn gpu_settings_from_every_layer() {
        use crate::{config::DcgmPorts, sim::gpu::GpuKind};
        let d = ok(&[], &[], None);
        assert_eq!((d.gpus, d.gpu, d.dcgm_port.0.as_slice()), (4, GpuKind::H100, &[9400, 9401][..]));
        let file = Some(("toml", "[dcgm]\nnum_gpus = 8\ngpu_model = \"B200\"\nport = 9500\n"));
        let s = ok(&[], &[], file);
        assert_eq!((s.gpus, s.gpu, s.dcgm_port), (8, GpuKind::B200, DcgmPorts(vec![9500])));
        assert!(ok(&[], &[("FAKEAI_DCGM_PORT", "off")], file).dcgm_port.0.is_empty());
        let s = ok(&["--gpu", "l40s", "--dcgm-port", "0"], &[("FAKEAI_DCGM_PORT", "9600")], file);
        assert_eq!((s.gpu, s.dcgm_port.0.len()), (GpuKind::L40s, 0));
        let e = load(&[], &[("FAKEAI_DCGM_PORT", "9400,x")], None).unwrap_err();
        assert!(e.contains("invalid DCGM port"), "{e}");
    }

    #[test]
    fn fakeai_auth_and_rate_limit_names() {
        let s =
            ok(&[], &[("FAKEAI_AUTH__API_KEYS", r#"["sk-a","sk-b"]"#), ("FAKEAI_AUTH__REQUIRE_API_KEY", "true")], None);
        assert_eq!((s.api_key.as_slice(), s.require_api_key), (&["sk-a".to_owned(), "sk-b".to_owned()][..], true));
        assert_eq!(ok(&[], &[("FAKEAI_API_KEYS", "sk-c, sk-d")], None).api_key, ["sk-c", "sk-d"]);
        assert_eq!(ok(&["--api-key", "x", "--api-key", "y"], &[("FAKEAI_API_KEYS", "z")], None).api_key, ["x", "y"]);
        let file = Some(("yaml", "auth:\n  api_keys: [sk-f]\nrate_limits:\n  enabled: true\n  tier: free\n"));
        let s = ok(&[], &[], file);
        assert_eq!(s.api_key, ["sk-f"]);
        let limits = s.rate_limits();
        assert_eq!((limits.rpm, limits.tpm, limits.rpd), (Some(3), Some(200_000), None));
        assert!(!ok(&[], &[], None).rate_limits().any(), "off by default");
        let env = [("FAKEAI_RATE_LIMITS__ENABLED", "true"), ("FAKEAI_RATE_LIMITS__RPM_OVERRIDE", "7")];
        assert_eq!(ok(&[], &env, None).rate_limits().rpm, Some(7));
        assert_eq!(ok(&["--rate-limit-tpm", "9"], &[], None).rate_limits().tpm, Some(9), "a number turns it on");
        assert!(load(&[], &[("FAKEAI_RATE_LIMITS__TIER", "tier-9")], None).unwrap_err().contains("tier"));
    }

    #[test]
    fn fakeai_security_and_error_injection_names() {
        let s = ok(&[], &[("FAKEAI_SECURITY__MAX_REQUEST_SIZE", "2048")], None);
        assert_eq!(s.max_body_size, 2048);
        let file = Some(("toml", "[security]\nmax_request_size = 4096\n[server]\nmax_body_size = 8192\n"));
        assert_eq!(ok(&[], &[], file).max_body_size, 8192, "of two spellings in one file, the later wins");
        let env = [
            ("FAKEAI_METRICS__ERROR_INJECTION_ENABLED", "true"),
            ("FAKEAI_METRICS__ERROR_INJECTION_RATE", "0.5"),
            ("FAKEAI_METRICS__ERROR_INJECTION_TYPES", r#"["bad_gateway","rate_limit_quota"]"#),
        ];
        let rules = ok(&[], &env, None).fault_rules().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!((rules[0].fault.label(), rules[0].rate), ("http_502", 0.25));
        let e = load(&[], &[("FAKEAI_FAULTS__RATES", "503=2")], None).unwrap_err();
        assert!(e.starts_with("invalid FAKEAI_FAULTS__RATES in the environment:") && e.contains("0-1"), "{e}");
        let types = [("FAKEAI_ERROR_INJECTION_TYPES", "boom")];
        assert!(ok(&["--error-injection-enabled", "--error-injection-rate", "1"], &types, None).fault_rules().is_err());
    }

    #[test]
    fn pin_and_no_pin_override_each_other_across_layers() {
        let file = Some(("toml", "no_pin = true\n"));
        assert!(!ok(&[], &[], file).pin_workers(1, 4));
        assert!(ok(&["--pin"], &[], file).pin_workers(8, 4), "--pin beats the file's no_pin");
        assert!(!ok(&["--no-pin"], &[("FAKEAI_PIN", "true")], None).pin_workers(1, 4));
    }

    #[test]
    fn errors_name_the_key_as_written_and_its_source() {
        let err = |flags: &[&str], env: &[(&str, &str)], file| load(flags, env, file).unwrap_err();
        let e = err(&[], &[("FAKEAI_SERVER__PORT", "x")], None);
        assert!(e.starts_with("invalid FAKEAI_SERVER__PORT in the environment:"), "{e}");
        let e = err(&[], &[("FAKEAI_REASONING_MODELS", "[oops")], None);
        assert!(e.starts_with("invalid FAKEAI_REASONING_MODELS in the environment: invalid JSON list"), "{e}");
        let e = err(&[], &[("FAKEAI_TTFT_MS", "soon")], None);
        assert!(e.contains("FAKEAI_TTFT_MS") && e.contains("invalid latency"), "{e}");
        let e = err(&[], &[], Some(("toml", "[kv_cache]\nblock_size = 500\n")));
        assert!(e.starts_with("invalid kv_cache.block_size in config file ") && e.contains("1..=128"), "{e}");
        let e = err(&[], &[], Some(("yaml", "max_body_size: lots\n")));
        assert!(e.starts_with("invalid max_body_size in config file ") && e.contains(".yaml"), "{e}");
        let e = err(&[], &[], Some(("toml", "[server]\nno_such = 1\n")));
        assert!(e.starts_with("unknown setting \"server.no_such\" in config file "), "{e}");
        let e = err(&[], &[], Some(("toml", "port = \n")));
        assert!(e.starts_with("invalid TOML in config file "), "{e}");
        // Variables that name no setting belong to someone else.
        assert_eq!(ok(&[], &[("FAKEAI_SDK_PYTHON", "/x"), ("FAKEAI_SECURITY__ENABLE_SECURITY", "1")], None).port, 8000);
    }

    #[test]
    fn every_flag_is_a_key_and_every_key_a_flag_or_a_latency_part() {
        let cmd = Cli::command();
        let server = cmd.find_subcommand("server").unwrap();
        let flags: Vec<&str> = server.get_arguments().map(|a| a.get_id().as_str()).filter(|id| *id != "help").collect();
        for flag in &flags {
            assert_eq!(canonical(&[flag]), Some(*flag), "--{flag} has a key");
        }
        let parts: Vec<&str> = LATENCY_PARTS.iter().flat_map(|(_, ms, var, _)| [*ms, *var]).collect();
        for (key, ..) in KEYS {
            assert!(flags.contains(key) || parts.contains(key), "{key} is a flag or a part");
        }
        Cli::command().debug_assert();
    }
}
