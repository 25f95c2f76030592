//! FakeAI's 60-second sliding-window rates: counter totals sampled once a second (by a thread
//! of the server, never by a worker) and differenced at scrape time.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::shard::{COUNTERS, Shard, Snapshot};

/// How far back rates look.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Counter totals at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Summed counters, indexed by `Counter as usize`.
    pub counters: [u64; COUNTERS],
    /// Responses by endpoint × status, as in [`Snapshot::responses`].
    pub responses: Vec<u64>,
}

impl Totals {
    /// The totals of a snapshot.
    pub fn of(snap: &Snapshot) -> Totals {
        Totals { counters: snap.counters, responses: snap.responses.clone() }
    }

    /// The totals of `shards` now (counters only, no histograms).
    pub fn sample(shards: &[Shard]) -> Totals {
        Totals::of(&Snapshot::merge_counters(shards))
    }

    fn zero(like: &Totals) -> Totals {
        Totals { counters: [0; COUNTERS], responses: vec![0; like.responses.len()] }
    }
}

/// Per-second rates over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// Seconds the rates span (shorter than the window right after start).
    pub seconds: f64,
    /// Per counter.
    pub counters: [f64; COUNTERS],
    /// Per endpoint × status cell.
    pub responses: Vec<f64>,
}

/// Samples of the last [`WINDOW`], oldest first.
#[derive(Debug)]
pub struct RateWindow {
    started: Instant,
    samples: Mutex<VecDeque<(Instant, Totals)>>,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow::new(Instant::now())
    }
}

impl RateWindow {
    /// An empty window; before any sample, rates run from `started` (when every total was 0).
    pub fn new(started: Instant) -> Self {
        RateWindow { started, samples: Mutex::new(VecDeque::new()) }
    }

    /// Adds the totals sampled `at`, forgetting samples the window no longer needs.
    pub fn record(&self, at: Instant, totals: Totals) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        samples.push_back((at, totals));
        // Keep the newest sample at or before the window's start: it is the rates' base.
        while samples.len() > 1 && samples[1].0 + WINDOW <= at {
            samples.pop_front();
        }
    }

    /// Calls `f` with each sample taken after `after`, oldest first.
    pub fn each_since(&self, after: Instant, mut f: impl FnMut(Instant, &Totals)) {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        for (at, totals) in samples.iter().filter(|(at, _)| *at > after) {
            f(*at, totals);
        }
    }

    /// Rates from the window's base sample to `now` (taken `at`).
    pub fn rates(&self, at: Instant, now: &Totals) -> Rates {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let base = samples.iter().find(|(t, _)| *t + WINDOW >= at).or(samples.back());
        let (since, base) = match base {
            Some((t, totals)) if *t < at => (*t, totals.clone()),
            _ => (self.started, Totals::zero(now)),
        };
        let seconds = at.saturating_duration_since(since).as_secs_f64().max(1e-3);
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
        Rates {
            seconds,
            counters: std::array::from_fn(|i| rate(now.counters[i], base.counters[i])),
            responses: now.responses.iter().zip(&base.responses).map(|(n, b)| rate(*n, *b)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64) -> Totals {
        let mut counters = [0; COUNTERS];
        counters[0] = requests;
        Totals { counters, responses: vec![requests] }
    }

    #[test]
    fn rates_span_at_most_the_window() {
        let t0 = Instant::now();
        let w = RateWindow::new(t0);
        let s = Duration::from_secs;
        let r = w.rates(t0 + s(10), &totals(50));
        assert_eq!((r.seconds, r.counters[0]), (10.0, 5.0), "from start before any sample");
        for i in 1..=100 {
            w.record(t0 + s(i), totals(i * 10));
        }
        // The base is the sample 60 s before: 1000 − 400 over 60 s.
        let r = w.rates(t0 + s(100), &totals(1000));
        assert_eq!(r.seconds, 60.0);
        assert_eq!(r.counters[0], 10.0);
        assert_eq!(r.responses[0], 10.0);
        assert!(w.samples.lock().unwrap().len() <= 62, "old samples are dropped");
    }
}
