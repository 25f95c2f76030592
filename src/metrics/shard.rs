//! One core's metrics, and the merged view a scrape takes.
//!
//! Counters are relaxed atomics that only the owning core writes (a plain store on its own
//! cache line, no read-modify-write), so they are exact at any instant. Histograms live in the
//! core's own [`Recorder`] (no atomics, no locks on the per-token path) and are published into the
//! shard every [`PUBLISH_EVERY`] with a `try_lock`, so neither side ever waits on the other.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::{model_stats::ModelStats, timing::Timing};

/// How often a core publishes its histograms for scrapes.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(20);

/// Publishes a core skips at most while it records nothing (a bound on staleness should some
/// change escape [`Histograms::activity`]).
const QUIET_PUBLISHES_SKIPPED: u32 = 50;

/// The counters each core keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// HTTP requests parsed.
    Requests,
    /// Responses with status >= 400.
    ErrorResponses,
    /// Generation requests completed (all tokens sent).
    GenerationsCompleted,
    /// Streams cut short by a client disconnect or write error.
    StreamsCancelled,
    /// Connections aborted because the client stopped reading for `--send-timeout`.
    SendTimeouts,
    /// Prompt tokens of completed generations.
    PromptTokens,
    /// Completion tokens sent.
    CompletionTokens,
    /// SSE events sent.
    SseEvents,
    /// Connections accepted.
    ConnectionsAccepted,
    /// Connections refused for exceeding `--max-connections`.
    ConnectionsRefused,
    /// Connections currently open (a gauge).
    ConnectionsOpen,
    /// Bytes read from clients.
    BytesIn,
    /// Bytes written to clients.
    BytesOut,
    /// Streams currently sending (a gauge).
    StreamsActive,
    /// The timer's batching window in microseconds (a gauge; see `server::timer`).
    TimerWindowMicros,
}

/// Number of counters.
pub const COUNTERS: usize = Counter::TimerWindowMicros as usize + 1;

/// Statuses that responses are counted by; anything else counts as `other`.
pub const STATUSES: &[u16] = &[101, 200, 204, 400, 404, 405, 408, 413, 415, 429, 431, 500, 501, 503];

/// OpenAI error types that error responses are counted by; anything else counts as the last.
pub const ERROR_TYPES: &[&str] = &[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "server_error",
    "other",
];

fn status_index(status: u16) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len())
}

/// Delay (lateness, read delay) bounds: 1 µs to 10 min in nanoseconds, 2 significant digits (1 %).
/// Small on purpose (25 KB, not the 180 KB of 3 digits over an hour): it is copied at every publication.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, DELAY_MAX_NS, 2).expect("valid histogram bounds")
}

const DELAY_MAX_NS: u64 = 600_000_000_000;

/// Records `delay` in a histogram made by `new_histogram`, clamped to its bounds.
fn record_delay(h: &mut Histogram<u64>, delay: Duration) {
    if !super::OFF {
        h.saturating_record((delay.as_nanos() as u64).clamp(1_000, DELAY_MAX_NS));
    }
}

/// What a core records beyond its counters: distributions and per-model engine statistics.
#[derive(Debug, Clone)]
pub struct Histograms {
    /// Emit lateness of SSE events, ns.
    pub lateness: Histogram<u64>,
    /// Kernel receipt of each request to its handling, ns.
    pub read_delay: Histogram<u64>,
    /// Per-model statistics, by model name.
    pub models: Vec<(String, ModelStats)>,
    /// Arrival to last byte of every response, by route label index for routes seen.
    pub latency: Vec<(usize, Timing)>,
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms { lateness: new_histogram(), read_delay: new_histogram(), models: Vec::new(), latency: Vec::new() }
    }
}

impl Histograms {
    /// A number that changes whenever anything is recorded: the histograms' counts and the
    /// per-model counters, summed.
    fn activity(&self) -> u64 {
        let latency = self.latency.iter().map(|(_, t)| t.count());
        let models = self.models.iter().map(|(_, m)| {
            let finished: u64 = m.finished.iter().sum();
            m.requests + m.prompt_tokens + m.generation_tokens + finished + m.running as u64 + m.kv_tokens as u64
        });
        [self.lateness.len(), self.read_delay.len(), self.models.len() as u64]
            .into_iter()
            .chain(latency)
            .chain(models)
            .fold(0, u64::wrapping_add)
    }

    fn copy_from(&mut self, other: &Histograms) {
        self.lateness.reset();
        self.lateness.add(&other.lateness).expect("same bounds");
        self.read_delay.reset();
        self.read_delay.add(&other.read_delay).expect("same bounds");
        self.models.clone_from(&other.models);
        self.latency.truncate(other.latency.len());
        for (i, (endpoint, timing)) in other.latency.iter().enumerate() {
            match self.latency.get_mut(i) {
                Some(mine) => {
                    mine.0 = *endpoint;
                    mine.1.copy_from(timing);
                }
                None => self.latency.push((*endpoint, timing.clone())),
            }
        }
    }

    fn merge(&mut self, other: &Histograms) {
        self.lateness.add(&other.lateness).expect("same bounds");
        self.read_delay.add(&other.read_delay).expect("same bounds");
        for (endpoint, timing) in &other.latency {
            match self.latency.iter_mut().find(|(e, _)| e == endpoint) {
                Some((_, mine)) => mine.merge(timing),
                None => self.latency.push((*endpoint, timing.clone())),
            }
        }
        for (name, stats) in &other.models {
            match self.models.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(stats),
                None => self.models.push((name.clone(), stats.clone())),
            }
        }
    }
}

/// The owning core's side: written without synchronization, published periodically.
#[derive(Debug, Default)]
pub struct Recorder {
    hist: Histograms,
    /// [`Histograms::activity`] when last published, and the publishes skipped since.
    published_at: (u64, u32),
}

impl Recorder {
    /// Records how late one SSE event went out.
    pub fn record_lateness(&mut self, late: Duration) {
        record_delay(&mut self.hist.lateness, late);
    }

    /// Records how long a request waited between reaching the socket and being handled.
    pub fn record_read_delay(&mut self, delay: Duration) {
        record_delay(&mut self.hist.read_delay, delay);
    }

    /// The slot of `model`'s statistics, created on first use; `max_model_len` sizes its token
    /// histograms. Beyond [`super::MAX_MODELS`] names, models share the slot `other`.
    pub fn model_slot(&mut self, model: &str, max_model_len: u64) -> usize {
        super::model_entry(&mut self.hist.models, model, || ModelStats::new(max_model_len))
    }

    /// Records a response to `endpoint` (a route label index) that took `seconds` from the
    /// request's arrival to its last byte.
    pub fn record_latency(&mut self, endpoint: usize, seconds: f64) {
        if super::OFF {
            return;
        }
        let latency = &mut self.hist.latency;
        match latency.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, t)) => t.record(seconds),
            None => {
                let mut t = Timing::default();
                t.record(seconds);
                latency.push((endpoint, t));
            }
        }
    }

    /// The statistics in `slot`.
    pub fn model(&mut self, slot: usize) -> &mut ModelStats {
        &mut self.hist.models[slot].1
    }

    /// Copies the histograms into `shard` unless a scrape is reading it right now; whether it did.
    pub fn publish(&self, shard: &Shard) -> bool {
        if super::OFF {
            return true;
        }
        let Ok(mut published) = shard.published.try_lock() else { return false };
        published.copy_from(&self.hist);
        true
    }

    /// [`Recorder::publish`] when something was recorded since the last time: an idle core's
    /// copies (50 a second, ~200k instructions each) were nearly all of its idle CPU.
    pub fn publish_if_changed(&mut self, shard: &Shard) {
        let (last, skipped) = self.published_at;
        let now = self.hist.activity();
        if now == last && skipped < QUIET_PUBLISHES_SKIPPED {
            self.published_at.1 += 1;
        } else if self.publish(shard) {
            self.published_at = (now, 0);
        }
    }
}

/// One core's metrics as other cores see them.
#[derive(Debug)]
pub struct Shard {
    counters: [CachePadded<AtomicU64>; COUNTERS],
    /// The route labels responses are counted by, `other` last.
    labels: &'static [&'static str],
    /// Responses by label × status; one block, written only by the owner.
    responses: CachePadded<Box<[AtomicU64]>>,
    /// Error responses by `ERROR_TYPES` index.
    errors: CachePadded<[AtomicU64; ERROR_TYPES.len()]>,
    published: Mutex<Histograms>,
}

/// Labels of a shard built without a route table (unit tests and benches).
const DEFAULT_LABELS: &[&str] = &["/v1/chat/completions", "/v1/completions", "/v1/models/{id}", "other"];

impl Default for Shard {
    fn default() -> Self {
        Shard::new(DEFAULT_LABELS)
    }
}

impl Shard {
    /// A shard counting responses by `labels` (the route table's, `other` last).
    pub fn new(labels: &'static [&'static str]) -> Shard {
        Shard {
            counters: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            labels,
            responses: CachePadded::new((0..labels.len() * (STATUSES.len() + 1)).map(|_| AtomicU64::new(0)).collect()),
            errors: CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))),
            published: Mutex::new(Histograms::default()),
        }
    }

    /// Adds `n` to a counter. Only the owning core calls this, so a relaxed load+store
    /// suffices (no read-modify-write bus lock).
    pub fn add(&self, c: Counter, n: u64) {
        if super::OFF {
            return;
        }
        let cell = &self.counters[c as usize];
        cell.store(cell.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Sets a gauge to `n`.
    pub fn set(&self, c: Counter, n: u64) {
        if super::OFF {
            return;
        }
        self.counters[c as usize].store(n, Ordering::Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(&self, c: Counter, n: u64) {
        if super::OFF {
            return;
        }
        let cell = &self.counters[c as usize];
        cell.store(cell.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// Counts one response to a request for `endpoint` (a label index) with `status`.
    pub fn count_response(&self, endpoint: usize, status: u16) {
        if super::OFF {
            return;
        }
        let cell = &self.responses[endpoint * (STATUSES.len() + 1) + status_index(status)];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Counts one error response of OpenAI type `kind`.
    pub fn count_error(&self, kind: &str) {
        if super::OFF {
            return;
        }
        let i = ERROR_TYPES.iter().position(|t| *t == kind).unwrap_or(ERROR_TYPES.len() - 1);
        let cell = &self.errors[i];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Ordering::Relaxed)
    }
}

/// All shards merged.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Summed counters, indexed by `Counter as usize`.
    pub counters: [u64; COUNTERS],
    /// Per-shard counters, for per-worker gauges.
    pub per_shard: Vec<[u64; COUNTERS]>,
    /// The route labels, `other` last.
    pub labels: &'static [&'static str],
    /// Responses by label × status (labels major, `STATUSES` + other minor).
    pub responses: Vec<u64>,
    /// Merged emit lateness, in nanoseconds (as of each core's last publication).
    pub lateness: Histogram<u64>,
    /// Merged request read delay, in nanoseconds (as of each core's last publication).
    pub read_delay: Histogram<u64>,
    /// Per-model statistics merged over cores (as of each core's last publication).
    pub models: Vec<(String, ModelStats)>,
    /// Error responses by `ERROR_TYPES` index.
    pub errors: [u64; ERROR_TYPES.len()],
    /// Response latency by route label index for routes seen (as of each core's last
    /// publication).
    pub latency: Vec<(usize, Timing)>,
}

impl Snapshot {
    /// Merges `shards`: counters as of now, histograms as last published.
    pub fn merge(shards: &[Shard]) -> Snapshot {
        Snapshot::merge_with(shards, true)
    }

    /// Merges only the counters (the histograms stay empty).
    pub fn merge_counters(shards: &[Shard]) -> Snapshot {
        Snapshot::merge_with(shards, false)
    }

    fn merge_with(shards: &[Shard], histograms: bool) -> Snapshot {
        let mut counters = [0u64; COUNTERS];
        let mut per_shard = Vec::with_capacity(shards.len());
        let mut hist = Histograms::default();
        let labels = shards.first().map_or(&["other"][..], |s| s.labels);
        let mut responses = vec![0u64; labels.len() * (STATUSES.len() + 1)];
        let mut errors = [0u64; ERROR_TYPES.len()];
        for s in shards {
            for (sum, cell) in errors.iter_mut().zip(s.errors.iter()) {
                *sum += cell.load(Ordering::Relaxed);
            }
            for (sum, cell) in responses.iter_mut().zip(s.responses.iter()) {
                *sum += cell.load(Ordering::Relaxed);
            }
            let mine: [u64; COUNTERS] = std::array::from_fn(|i| s.counters[i].load(Ordering::Relaxed));
            for (sum, v) in counters.iter_mut().zip(mine) {
                *sum = sum.wrapping_add(v);
            }
            per_shard.push(mine);
            if !histograms {
                continue;
            }
            if let Ok(published) = s.published.lock() {
                hist.merge(&published);
            }
        }
        let Histograms { lateness, read_delay, models, latency } = hist;
        Snapshot { counters, per_shard, labels, responses, lateness, read_delay, models, errors, latency }
    }

    /// The latency of `endpoint`'s responses.
    pub fn endpoint_latency(&self, endpoint: usize) -> Option<&Timing> {
        self.latency.iter().find(|(e, _)| *e == endpoint).map(|(_, t)| t)
    }

    /// A merged counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// Non-zero response counts as (endpoint, status label, count).
    pub fn responses_by_endpoint(&self) -> impl Iterator<Item = (&'static str, String, u64)> + '_ {
        self.responses.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
            let (e, s) = (i / (STATUSES.len() + 1), i % (STATUSES.len() + 1));
            let status = STATUSES.get(s).map_or("other".to_owned(), |s| s.to_string());
            (self.labels[e], status, *n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_counters_and_published_histograms() {
        let shards = [Shard::default(), Shard::default()];
        let mut recorders = [Recorder::default(), Recorder::default()];
        shards[0].add(Counter::Requests, 3);
        shards[1].add(Counter::Requests, 4);
        shards[1].add(Counter::StreamsActive, 2);
        shards[1].sub(Counter::StreamsActive, 1);
        recorders[0].record_lateness(Duration::from_micros(100));
        recorders[1].record_lateness(Duration::from_millis(2));
        let s = Snapshot::merge(&shards);
        assert_eq!(s.get(Counter::Requests), 7, "counters are exact at once");
        assert_eq!(s.get(Counter::StreamsActive), 1);
        assert_eq!(s.per_shard[0][Counter::Requests as usize], 3);
        assert_eq!(s.lateness.len(), 0, "histograms appear when published");
        for (r, sh) in recorders.iter().zip(&shards) {
            r.publish(sh);
        }
        let s = Snapshot::merge(&shards);
        assert_eq!(s.lateness.len(), 2);
        assert!(s.lateness.max() >= 1_999_000);
        recorders[0].publish(&shards[0]);
        assert_eq!(Snapshot::merge(&shards).lateness.len(), 2, "publishing replaces, never double counts");
    }

    #[test]
    fn a_quiet_core_skips_publishing_but_never_misses_a_record() {
        let shard = Shard::default();
        let mut r = Recorder::default();
        r.record_lateness(Duration::from_micros(100));
        r.publish_if_changed(&shard);
        assert_eq!(Snapshot::merge(std::slice::from_ref(&shard)).lateness.len(), 1);
        r.publish_if_changed(&shard);
        assert_eq!(r.published_at.1, 1, "nothing new: skipped");
        let slot = r.model_slot("m", 4096);
        r.model(slot).tokens(3, None);
        r.publish_if_changed(&shard);
        assert_eq!(r.published_at.1, 0, "a model's counters changed: published");
        let published = Snapshot::merge(std::slice::from_ref(&shard));
        assert_eq!(published.models[0].1.generation_tokens, 3);
        for _ in 0..=QUIET_PUBLISHES_SKIPPED {
            r.publish_if_changed(&shard);
        }
        assert_eq!(r.published_at.1, 0, "published again after the longest quiet spell");
    }

    #[test]
    fn responses_count_by_route_and_status() {
        let shards = [Shard::default(), Shard::default()];
        shards[0].count_response(0, 200);
        shards[1].count_response(0, 200);
        shards[1].count_response(2, 404);
        shards[1].count_response(3, 418);
        let s = Snapshot::merge(&shards);
        let rows: Vec<_> = s.responses_by_endpoint().collect();
        assert_eq!(
            rows,
            [
                ("/v1/chat/completions", "200".to_owned(), 2),
                ("/v1/models/{id}", "404".to_owned(), 1),
                ("other", "other".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn publishing_skips_instead_of_waiting_on_a_scrape() {
        let shard = Shard::default();
        let mut r = Recorder::default();
        r.record_lateness(Duration::from_millis(1));
        let held = shard.published.lock().unwrap();
        r.publish(&shard);
        drop(held);
        assert_eq!(Snapshot::merge(std::slice::from_ref(&shard)).lateness.len(), 0);
        r.publish(&shard);
        assert_eq!(Snapshot::merge(std::slice::from_ref(&shard)).lateness.len(), 1);
    }
}
