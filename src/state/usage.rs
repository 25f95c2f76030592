//! The usage ledger behind `/v1/organization/usage/*` and `/v1/organization/costs`: every
//! billed request adds one line (its minute, kind, model, payer) to a tally in its own thread's
//! stripe, and a reader merges the stripes. Recording is one uncontended lock and one hash-map
//! update per request, never per token; readers take each stripe's lock in turn.
//!
//! Who pays is decided at admission ([`attribute`]) and read when the request is planned
//! ([`payer`]) on the same thread, with no await in between; the batch runner sets its batch's
//! payer the same way.

use std::{
    cell::RefCell,
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use crossbeam_utils::CachePadded;

/// Stripes (threads beyond this share them).
const STRIPES: usize = 16;

/// Lines one stripe keeps; beyond it the stripe's oldest minute is dropped. At one model and one
/// key this is 45 days of minutes per thread.
const MAX_LINES_PER_STRIPE: usize = 65_536;

/// The project usage is billed to when the request's key names none.
pub const DEFAULT_PROJECT: &str = "proj_default";

/// Who a request is billed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Payer {
    /// The project.
    pub project_id: Arc<str>,
    /// The API key (an admin-created project key), if any.
    pub api_key_id: Option<Arc<str>>,
    /// The user owning the key, if any.
    pub user_id: Option<Arc<str>>,
    /// Run through the Batch API (billed at the batch discount).
    pub batch: bool,
}

impl Payer {
    /// The default project, no key.
    pub fn anonymous() -> Arc<Payer> {
        static ANONYMOUS: LazyLock<Arc<Payer>> = LazyLock::new(|| {
            Arc::new(Payer { project_id: DEFAULT_PROJECT.into(), api_key_id: None, user_id: None, batch: false })
        });
        ANONYMOUS.clone()
    }

    /// The same payer, for work run as a batch.
    pub fn in_batch(&self) -> Arc<Payer> {
        Arc::new(Payer { batch: true, ..self.clone() })
    }
}

/// What a generation's end bills: to whom, and how much of its prompt the cache served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// Who pays.
    pub payer: Arc<Payer>,
    /// Prompt tokens read from the prompt cache.
    pub cached_tokens: u64,
    /// The generation's KV-cache blocks, held as long as its bill is (until the server drops
    /// the finished, failed or abandoned reply's summary). Here rather than in the summary
    /// itself to keep every reply small.
    pub kv: super::kv::Held,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Payer>>> = const { RefCell::new(None) };
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// Bills what this thread handles next to `payer` (set at admission).
pub fn attribute(payer: Arc<Payer>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(payer));
}

/// Who the request this thread is handling is billed to.
pub fn payer() -> Arc<Payer> {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(Payer::anonymous)
}

/// What a line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Chat, completions, responses, messages: tokens in and out.
    Completions,
    /// Embeddings: tokens in.
    Embeddings,
    /// Moderations: tokens in.
    Moderations,
    /// Images: images made.
    Images,
    /// Speech: characters spoken.
    AudioSpeeches,
    /// Transcriptions and translations: seconds heard.
    AudioTranscriptions,
}

/// One ledger line's identity: everything usage can be grouped or filtered by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// Unix minute (seconds / 60).
    pub minute: u64,
    /// What it counts.
    pub kind: Kind,
    /// The model as requested.
    pub model: Box<str>,
    /// Who pays.
    pub payer: Arc<Payer>,
    /// Images: the size (`1024x1024`).
    pub size: Option<Box<str>>,
    /// Images: `image.generation`, `image.edit` or `image.variation`.
    #[serde(deserialize_with = "crate::state::persist::codec::interned_opt")]
    pub source: Option<crate::state::persist::codec::Interned>,
}

/// The counts of one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Requests.
    pub requests: u64,
    /// Input tokens, cached ones included.
    pub input: u64,
    /// Of the input tokens, how many were read from the cache.
    pub cached: u64,
    /// Of the input tokens, how many were audio.
    pub input_audio: u64,
    /// Output tokens.
    pub output: u64,
    /// Of the output tokens, how many were audio.
    pub output_audio: u64,
    /// Images, characters or seconds, by kind.
    pub units: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.input += o.input;
        self.cached += o.cached;
        self.input_audio += o.input_audio;
        self.output += o.output;
        self.output_audio += o.output_audio;
        self.units += o.units;
    }
}

type Stripe = HashMap<Line, Tally>;

/// The per-thread tallies.
#[derive(Debug)]
pub struct Ledger {
    stripes: Box<[CachePadded<Mutex<Stripe>>]>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger { stripes: (0..STRIPES).map(|_| CachePadded::new(Mutex::new(Stripe::new()))).collect() }
    }
}

impl Ledger {
    /// Adds `tally` to `line` in this thread's stripe.
    pub fn record(&self, line: Line, tally: Tally) {
        let stripe = STRIPE.with(|s| *s);
        let mut lines = self.stripes[stripe].lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() >= MAX_LINES_PER_STRIPE && !lines.contains_key(&line) {
            drop_oldest_minute(&mut lines);
        }
        lines.entry(line).or_default().add(&tally);
    }

    /// Every line `keep` accepts, with its tally summed over the stripes.
    pub fn collect(&self, keep: impl Fn(&Line) -> bool) -> Vec<(Line, Tally)> {
        let mut merged: HashMap<Line, Tally> = HashMap::new();
        for stripe in self.stripes.iter() {
            let lines = stripe.lock().unwrap_or_else(|e| e.into_inner());
            for (line, tally) in lines.iter().filter(|(line, _)| keep(line)) {
                merged.entry(line.clone()).or_default().add(tally);
            }
        }
        merged.into_iter().collect()
    }
}

fn drop_oldest_minute(lines: &mut Stripe) {
    if let Some(oldest) = lines.keys().map(|l| l.minute).min() {
        lines.retain(|l, _| l.minute != oldest);
    }
}

/// Records what a generation used (the end of every generation, streamed or not, and every
/// batch line), billed to its payer: its usage when it completed, else its prompt and the
/// `sent` tokens that reached the client before it was cut short.
pub fn record_generation(ledger: &Ledger, s: &crate::generation::GenSummary, sent: u64, ok: bool, now: u64) {
    let Some(bill) = &s.bill else { return };
    let output = if ok { s.usage.completion_tokens } else { sent.min(s.usage.completion_tokens) };
    let line = Line {
        minute: now / 60,
        kind: Kind::Completions,
        model: s.model.as_str().into(),
        payer: bill.payer.clone(),
        size: None,
        source: None,
    };
    let u = &s.usage;
    let tally = Tally {
        requests: 1,
        input: u.prompt_tokens,
        cached: bill.cached_tokens.min(u.prompt_tokens),
        input_audio: u.prompt_audio_tokens,
        output,
        output_audio: u.completion_audio_tokens.min(output),
        units: 0,
    };
    ledger.record(line, tally);
}

/// Records one non-generation request of `kind` (embeddings, moderations, images, audio)
/// billed to this thread's current payer: `input` tokens or `units` images/characters/seconds.
pub fn record_request(ledger: &Ledger, kind: Kind, model: &str, input: u64, units: u64, now: u64) {
    record_detailed(ledger, kind, model, Tally { requests: 1, input, units, ..Tally::default() }, None, now);
}

/// Records an images request: `n` images of `size` made by `source`.
pub fn record_images(ledger: &Ledger, model: &str, n: u64, size: &str, source: &'static str, now: u64) {
    let tally = Tally { requests: 1, units: n, ..Tally::default() };
    record_detailed(ledger, Kind::Images, model, tally, Some((size, source)), now);
}

fn record_detailed(
    ledger: &Ledger,
    kind: Kind,
    model: &str,
    tally: Tally,
    image: Option<(&str, &'static str)>,
    now: u64,
) {
    let line = Line {
        minute: now / 60,
        kind,
        model: model.into(),
        payer: payer(),
        size: image.map(|(size, _)| size.into()),
        source: image.map(|(_, source)| source),
    };
    ledger.record(line, tally);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(minute: u64, model: &str) -> Line {
        Line {
            minute,
            kind: Kind::Completions,
            model: model.into(),
            payer: Payer::anonymous(),
            size: None,
            source: None,
        }
    }

    #[test]
    fn stripes_merge_on_read() {
        let ledger = Arc::new(Ledger::default());
        let one = Tally { requests: 1, input: 10, output: 5, ..Tally::default() };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let ledger = ledger.clone();
                std::thread::spawn(move || (0..100).for_each(|_| ledger.record(line(7, "m"), one)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        ledger.record(line(8, "m"), one);
        let all = ledger.collect(|l| l.minute == 7);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1, Tally { requests: 400, input: 4000, output: 2000, ..Tally::default() });
    }

    #[test]
    fn a_full_stripe_drops_its_oldest_minute() {
        let ledger = Ledger::default();
        let one = Tally { requests: 1, ..Tally::default() };
        for i in 0..MAX_LINES_PER_STRIPE as u64 {
            ledger.record(line(1 + i / 1000, &i.to_string()), one);
        }
        ledger.record(line(1000, "new"), one);
        assert!(ledger.collect(|l| l.minute == 1).is_empty(), "minute 1 dropped");
        assert_eq!(ledger.collect(|l| l.minute == 2).len(), 1000);
        assert_eq!(ledger.collect(|l| l.minute == 1000).len(), 1);
    }

    #[test]
    fn the_payer_is_per_thread() {
        let p = Arc::new(Payer { project_id: "proj_x".into(), api_key_id: None, user_id: None, batch: true });
        attribute(p.clone());
        assert_eq!(payer(), p);
        std::thread::spawn(|| assert_eq!(payer(), Payer::anonymous())).join().unwrap();
    }
}
