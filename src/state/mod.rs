//! Control-plane state shared by every worker: files, uploads, batches, vector stores and fine-tuning in typed, bounded
//! stores (see [`store`]), and the queue of work for the background jobs thread. Created
//! through one core, an object is visible through every other at once.

pub mod assistants;
pub mod auth;
pub mod batches;
pub mod faults;
pub mod files;
pub mod fine_tuning;
pub mod jobs;
pub mod kv;
pub mod kv_events;
pub mod live;
pub mod org;
pub mod persist;
pub mod ratelimit;
pub mod scenario;
pub mod store;
pub mod uploads;
pub mod usage;
pub mod vector_stores;
pub mod webhooks;

use crate::config::ServerArgs;
use store::{ByteBudget, Limits, Store};

/// Every shared store.
#[derive(Debug)]
pub struct State {
    /// Files, with their contents.
    pub files: Store<files::StoredFile>,
    /// Uploads in progress and recent.
    pub uploads: Store<uploads::Upload>,
    /// Batches.
    pub batches: Store<batches::Batch>,
    /// Batches waiting for the jobs thread.
    pub jobs: jobs::JobQueue,
    /// API keys and their rate limits.
    pub auth: auth::Auth,
    /// Fault rules and counts.
    pub faults: faults::Faults,
    /// The `--scenario` running, if any, and its phase.
    pub scenario: scenario::Progress,
    /// Vector stores.
    pub vector_stores: Store<vector_stores::VectorStore>,
    /// Files attached to vector stores, with their chunks and embeddings.
    pub vector_store_files: Store<vector_stores::VsFile>,
    /// Vector store file batches.
    pub file_batches: Store<vector_stores::FileBatch>,
    /// Fine-tuning jobs.
    pub fine_tuning_jobs: Store<fine_tuning::Job>,
    /// The models fine-tuning jobs produced (final and checkpoints), by id.
    pub fine_tuned_models: Store<fine_tuning::FineTunedModel>,
    /// Fine-tuning jobs for the fine-tuning thread to advance (new or resumed).
    pub fine_tuning_queue: jobs::JobQueue,
    /// Users, projects, keys.
    pub org: org::Org,
    /// Usage of every billed request, for the usage and costs endpoints.
    pub usage: std::sync::Arc<usage::Ledger>,
    /// Webhook endpoints and the events waiting for delivery.
    pub webhooks: webhooks::Webhooks,
    /// Assistants.
    pub assistants: Store<assistants::Assistant>,
    /// Threads.
    pub threads: Store<assistants::Thread>,
    /// Messages of every thread.
    pub messages: Store<assistants::Message>,
    /// Runs of every thread.
    pub runs: Store<assistants::Run>,
    /// The KV cache with prefix caching, shared by every core.
    pub kv: std::sync::Arc<kv::KvCache>,
}

impl State {
    /// Stores bounded by `args` (files and upload parts share one byte budget): empty, or with
    /// `--data-dir` as they were left there (a directory that cannot be opened stops the server).
    pub fn new(args: &ServerArgs) -> State {
        let mut state = State::empty(args);
        if let Some(dir) = &args.data_dir
            && let Err(e) = persist::attach(&mut state, dir)
        {
            eprintln!("fakeai: --data-dir {}: {e}", dir.display());
            std::process::exit(2);
        }
        state
    }

    /// Empty stores bounded by `args`.
    fn empty(args: &ServerArgs) -> State {
        let bytes = ByteBudget::new(args.file_storage, "--file-storage");
        State {
            files: Store::new(Limits { bytes: bytes.clone(), ..Limits::count(args.max_files, "--max-files") }),
            uploads: Store::new(Limits { bytes, ..Limits::count(args.max_uploads, "--max-uploads") }),
            batches: Store::new(Limits::count(args.max_batches, "--max-batches")),
            jobs: jobs::JobQueue::default(),
            auth: auth::Auth::new(
                args.api_key.clone(),
                args.api_keys_file.clone(),
                args.require_api_key,
                args.rate_limits(),
            ),
            faults: faults::Faults::new(args.fault_rules().unwrap_or_default(), fault_seed(args)),
            scenario: scenario::Progress::default(),
            vector_stores: Store::new(Limits::count(args.max_vector_stores, "--max-vector-stores")),
            vector_store_files: Store::new(Limits::count(args.max_vector_store_files, "--max-vector-store-files")),
            file_batches: Store::new(Limits::count(args.max_vector_store_files, "--max-vector-store-files")),
            fine_tuning_jobs: Store::new(Limits::count(args.max_fine_tuning_jobs, "--max-fine-tuning-jobs")),
            // A job makes its model and up to three checkpoints; jobs are never deleted, so this
            // bound is never the one hit.
            fine_tuned_models: Store::new(Limits::count(
                args.max_fine_tuning_jobs.saturating_mul(4),
                "--max-fine-tuning-jobs",
            )),
            fine_tuning_queue: jobs::JobQueue::default(),
            org: org::Org::new(org::OrgLimits { per_kind: args.max_org_objects }, crate::clock::unix_now().0),
            usage: Default::default(),
            webhooks: webhooks::Webhooks::new(args.webhook_url.clone(), args.webhook_secret.as_deref()),
            assistants: Store::new(Limits::count(args.max_assistant_objects, "--max-assistant-objects")),
            threads: Store::new(Limits::count(args.max_assistant_objects, "--max-assistant-objects")),
            messages: Store::new(Limits::count(
                args.max_assistant_objects.saturating_mul(10),
                "--max-assistant-objects",
            )),
            runs: Store::new(Limits::count(args.max_assistant_objects, "--max-assistant-objects")),
            kv: kv_cache(args),
        }
    }
}

/// The shared KV cache, publishing its events when `--kv-events` asks (a socket that cannot be
/// bound stops the server at start, as a taken `--port` does).
fn kv_cache(args: &ServerArgs) -> std::sync::Arc<kv::KvCache> {
    let cache = kv::KvCache::with_policy(
        args.kv_cache_block_size,
        num_gpu_blocks(args),
        !args.no_prefix_caching,
        args.eviction_policy,
    );
    if let Some(endpoint) = &args.kv_events {
        let format = args.kv_events_format;
        match kv_events::KvEvents::start(endpoint, &args.kv_events_topic, format, args.kv_cache_block_size) {
            Ok(events) => cache.publish_to(events),
            Err(e) => {
                eprintln!("fakeai: --kv-events tcp://{}:{}: {e}", endpoint.host, endpoint.port);
                std::process::exit(2);
            }
        }
    }
    cache
}

/// `--num-gpu-blocks`, else `--kv-cache-tokens` in blocks of `--kv-cache-block-size`.
pub fn num_gpu_blocks(args: &ServerArgs) -> u32 {
    let derived = (args.kv_cache_tokens / args.kv_cache_block_size.max(1)).clamp(1, u64::from(u32::MAX));
    args.num_gpu_blocks.unwrap_or(derived as u32)
}

/// `--fault-seed`, else one from the clock.
fn fault_seed(args: &ServerArgs) -> u64 {
    args.fault_seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64
    })
}
