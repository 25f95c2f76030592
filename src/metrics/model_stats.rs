//! Per-model statistics in vLLM's terms: request and token counters, running requests,
//! KV-cache occupancy, and fixed-bucket histograms with vLLM's boundaries, so that dashboards
//! and AIPerf's server-metrics collector read them as they would a vLLM server.

use super::timing::Timing;

/// vLLM's `time_to_first_token_seconds` boundaries.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    160.0, 640.0, 2560.0,
];
/// vLLM's `inter_token_latency_seconds` / `time_per_output_token_seconds` boundaries.
pub const ITL_BUCKETS: &[f64] =
    &[0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
/// vLLM's request-latency boundaries (e2e, queue, inference, prefill, decode).
pub const REQUEST_LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
    1920.0, 7680.0,
];

/// vLLM's 1-2-5 series up to `max` (token-count histograms), ending at `max`.
pub fn one_two_five(max: u64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut scale = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            let v = m * scale;
            if v > max {
                break 'outer;
            }
            out.push(v as f64);
        }
        scale *= 10;
    }
    if out.last() != Some(&(max as f64)) {
        out.push(max as f64);
    }
    out
}

/// A Prometheus-style histogram with fixed upper bounds (the last bucket is +Inf).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedHistogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

impl FixedHistogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &[f64]) -> Self {
        FixedHistogram { bounds: bounds.to_vec(), counts: vec![0; bounds.len() + 1], sum: 0.0 }
    }

    /// Records `n` observations of `v`.
    pub fn record_n(&mut self, v: f64, n: u64) {
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i] += n;
        self.sum += v * n as f64;
    }

    /// Records one observation.
    pub fn record(&mut self, v: f64) {
        self.record_n(v, 1);
    }

    /// Adds `other` (same bounds) into `self`.
    pub fn merge(&mut self, other: &FixedHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
    }

    /// Upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Cumulative counts per bound, then the total (+Inf).
    pub fn cumulative(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().scan(0u64, |acc, c| {
            *acc += c;
            Some(*acc)
        })
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Mean observation (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 { 0.0 } else { self.sum / n as f64 }
    }

    /// The `q` quantile, interpolated linearly inside its bucket as Prometheus'
    /// `histogram_quantile` does; observations past the last bound count as that bound.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let Some(&hi) = self.bounds.get(i) else { return self.bounds.last().copied().unwrap_or(0.0) };
                let lo = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                return lo + (hi - lo) * ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
            }
            below += n;
        }
        self.bounds.last().copied().unwrap_or(0.0)
    }
}

/// Why a request ended, as vLLM labels `request_success_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Natural end of the output.
    Stop,
    /// Cut by max_tokens.
    Length,
    /// The client went away.
    Abort,
}

/// One model's statistics on one core.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStats {
    /// Requests being generated (gauge).
    pub running: i64,
    /// KV-cache tokens held by running requests (gauge).
    pub kv_tokens: i64,
    /// Prompt tokens of admitted requests.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generation_tokens: u64,
    /// Finished requests by reason: stop, length, abort.
    pub finished: [u64; 3],
    /// Requests admitted.
    pub requests: u64,
    /// Time to first token, s.
    pub ttft: FixedHistogram,
    /// Gap between consecutive tokens as sent, s.
    pub itl: FixedHistogram,
    /// Per request: decode time / (tokens − 1), s.
    pub tpot: FixedHistogram,
    /// Arrival to last token, s.
    pub e2e: FixedHistogram,
    /// Waiting before running, s (0 here; with `--engine` the scrape shows the simulated ones).
    pub queue: FixedHistogram,
    /// Prefill phase (= TTFT without queueing), s.
    pub prefill: FixedHistogram,
    /// Decode phase, s.
    pub decode: FixedHistogram,
    /// Prompt tokens per request.
    pub prompt_len: FixedHistogram,
    /// Generated tokens per request.
    pub generation_len: FixedHistogram,
    /// Requested max_tokens per request.
    pub max_tokens: FixedHistogram,
    /// The same timings at 1 % precision, for the JSON views.
    pub fine: Fine,
    /// Requests per route label index (grown on first use).
    pub endpoints: Vec<u64>,
    /// Requests per `user` field: at most [`MAX_USERS`] names, the rest as `other`.
    pub users: Vec<(String, u64)>,
    /// Requests per hour (start of the hour, unix seconds), the last [`HOURS_KEPT`] hours.
    pub hours: Vec<(u64, u64)>,
    /// First and last request, unix seconds (0 before any).
    pub first_last: (u64, u64),
    /// What finished requests computed as if each ran alone (a prefill step, then a step per
    /// further token): the MFU estimates' input without `--engine`.
    pub work: crate::sim::engine::Work,
}

/// Distinct `user` values tracked per model and core.
pub const MAX_USERS: usize = 64;
/// Hourly request buckets kept per model.
pub const HOURS_KEPT: usize = 25;

/// Fine timing distributions of a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fine {
    /// Time to first token.
    pub ttft: Timing,
    /// Gaps between tokens as sent (0 within one write).
    pub itl: Timing,
    /// Arrival to last token.
    pub e2e: Timing,
    /// First token to last.
    pub decode: Timing,
    /// Per request: decode time / (tokens − 1).
    pub tpot: Timing,
}

impl Fine {
    fn merge(&mut self, o: &Fine) {
        self.ttft.merge(&o.ttft);
        self.itl.merge(&o.itl);
        self.e2e.merge(&o.e2e);
        self.decode.merge(&o.decode);
        self.tpot.merge(&o.tpot);
    }
}

/// Adds `n` to the count under `key` in a small list, or appends it.
fn add_to<K: PartialEq>(list: &mut Vec<(K, u64)>, key: K, n: u64) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, c)) => *c += n,
        None => list.push((key, n)),
    }
}

impl ModelStats {
    /// Empty statistics; token histograms go up to `max_model_len`.
    pub fn new(max_model_len: u64) -> Self {
        let tokens = one_two_five(max_model_len);
        let latency = FixedHistogram::new(REQUEST_LATENCY_BUCKETS);
        ModelStats {
            running: 0,
            kv_tokens: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            finished: [0; 3],
            requests: 0,
            ttft: FixedHistogram::new(TTFT_BUCKETS),
            itl: FixedHistogram::new(ITL_BUCKETS),
            tpot: FixedHistogram::new(ITL_BUCKETS),
            e2e: latency.clone(),
            queue: latency.clone(),
            prefill: latency.clone(),
            decode: latency,
            prompt_len: FixedHistogram::new(&tokens),
            generation_len: FixedHistogram::new(&tokens),
            max_tokens: FixedHistogram::new(&tokens),
            fine: Fine::default(),
            endpoints: Vec::new(),
            users: Vec::new(),
            hours: Vec::new(),
            first_last: (0, 0),
            work: crate::sim::engine::Work::default(),
        }
    }

    /// Adds another core's statistics for the same model.
    pub fn merge(&mut self, o: &ModelStats) {
        self.running += o.running;
        self.kv_tokens += o.kv_tokens;
        self.prompt_tokens += o.prompt_tokens;
        self.generation_tokens += o.generation_tokens;
        self.requests += o.requests;
        for (a, b) in self.finished.iter_mut().zip(o.finished) {
            *a += b;
        }
        for (a, b) in self.histograms_mut().into_iter().zip(o.histograms()) {
            a.merge(b);
        }
        self.fine.merge(&o.fine);
        self.work.add(&o.work);
        if self.endpoints.len() < o.endpoints.len() {
            self.endpoints.resize(o.endpoints.len(), 0);
        }
        for (a, b) in self.endpoints.iter_mut().zip(&o.endpoints) {
            *a += b;
        }
        for (user, n) in &o.users {
            add_to(&mut self.users, user.clone(), *n);
        }
        for &(hour, n) in &o.hours {
            add_to(&mut self.hours, hour, n);
        }
        self.hours.sort_unstable();
        self.first_last = match (self.first_last, o.first_last) {
            ((0, _), theirs) => theirs,
            (mine, (0, _)) => mine,
            ((f1, l1), (f2, l2)) => (f1.min(f2), l1.max(l2)),
        };
    }

    /// Who asked and where: the request's route label index, its `user` field, and
    /// its arrival in unix seconds.
    pub fn attribute(&mut self, endpoint: usize, user: Option<&str>, unix_secs: u64) {
        if super::OFF {
            return;
        }
        if self.endpoints.len() <= endpoint {
            self.endpoints.resize(endpoint + 1, 0);
        }
        self.endpoints[endpoint] += 1;
        if let Some(user) = user {
            let known = self.users.iter().any(|(u, _)| u == user);
            let key = if known || self.users.len() < MAX_USERS { user } else { "other" };
            match self.users.iter_mut().find(|(u, _)| u == key) {
                Some((_, n)) => *n += 1,
                None => self.users.push((key.to_owned(), 1)),
            }
        }
        let hour = unix_secs / 3600 * 3600;
        match self.hours.last_mut() {
            Some((h, n)) if *h == hour => *n += 1,
            _ => {
                self.hours.push((hour, 1));
                if self.hours.len() > HOURS_KEPT {
                    self.hours.remove(0);
                }
            }
        }
        if self.first_last.0 == 0 {
            self.first_last.0 = unix_secs;
        }
        self.first_last.1 = unix_secs;
    }

    fn histograms(&self) -> [&FixedHistogram; 10] {
        [
            &self.ttft,
            &self.itl,
            &self.tpot,
            &self.e2e,
            &self.queue,
            &self.prefill,
            &self.decode,
            &self.prompt_len,
            &self.generation_len,
            &self.max_tokens,
        ]
    }

    fn histograms_mut(&mut self) -> [&mut FixedHistogram; 10] {
        [
            &mut self.ttft,
            &mut self.itl,
            &mut self.tpot,
            &mut self.e2e,
            &mut self.queue,
            &mut self.prefill,
            &mut self.decode,
            &mut self.prompt_len,
            &mut self.generation_len,
            &mut self.max_tokens,
        ]
    }

    /// A request was admitted.
    pub fn admit(&mut self, prompt_tokens: u64, max_tokens: Option<u64>) {
        if super::OFF {
            return;
        }
        self.requests += 1;
        self.running += 1;
        self.kv_tokens += prompt_tokens as i64;
        self.prompt_tokens += prompt_tokens;
        self.prompt_len.record(prompt_tokens as f64);
        if let Some(m) = max_tokens {
            self.max_tokens.record(m as f64);
        }
        self.queue.record(0.0);
    }

    /// `n` tokens went out together; `gap` is the time since the previous batch (None for the
    /// first). Tokens sent in one write are 0 s apart, as a client reading them sees.
    pub fn tokens(&mut self, n: u64, gap: Option<f64>) {
        if super::OFF {
            return;
        }
        self.generation_tokens += n;
        self.kv_tokens += n as i64;
        let together = match gap {
            Some(g) => {
                self.itl.record(g);
                self.fine.itl.record(g);
                n - 1
            }
            None => n - 1,
        };
        if together > 0 {
            self.itl.record_n(0.0, together);
            self.fine.itl.record_n(0.0, together);
        }
    }

    /// A non-streaming response of `n` tokens, the first due `ttft` s after arrival and the rest
    /// `gap` s apart.
    pub fn generated_at_once(&mut self, n: u64, ttft: f64, gap: f64) {
        if super::OFF {
            return;
        }
        self.generation_tokens += n;
        self.kv_tokens += n as i64;
        self.first_token(ttft);
        if n > 1 {
            self.itl.record_n(gap, n - 1);
            self.fine.itl.record_n(gap, n - 1);
        }
    }

    /// The first token went out `ttft` seconds after arrival.
    pub fn first_token(&mut self, ttft: f64) {
        if super::OFF {
            return;
        }
        self.ttft.record(ttft);
        self.prefill.record(ttft);
        self.fine.ttft.record(ttft);
    }

    /// A request ended: releases its KV tokens and records its totals.
    pub fn finish(&mut self, how: Finish, prompt_tokens: u64, generated: u64, ttft: Option<f64>, e2e: f64) {
        if super::OFF {
            return;
        }
        self.running -= 1;
        self.kv_tokens -= (prompt_tokens + generated) as i64;
        self.finished[how as usize] += 1;
        self.e2e.record(e2e);
        self.fine.e2e.record(e2e);
        self.generation_len.record(generated as f64);
        self.work.add(&alone(prompt_tokens, generated));
        if let Some(ttft) = ttft {
            let decode = (e2e - ttft).max(0.0);
            self.decode.record(decode);
            self.fine.decode.record(decode);
            if generated > 1 {
                self.tpot.record(decode / (generated - 1) as f64);
                self.fine.tpot.record(decode / (generated - 1) as f64);
            }
        }
    }
}

/// What a request of `prompt` tokens that generated `generated` computes alone: one prefill
/// step over the prompt, then one step per further token, each over the context so far
/// (nothing before its first token).
fn alone(prompt: u64, generated: u64) -> crate::sim::engine::Work {
    if generated == 0 {
        return crate::sim::engine::Work::default();
    }
    let decodes = generated - 1;
    // Σ (prompt + i) for i in 1..=decodes.
    let decode_context = decodes * prompt + decodes * (decodes + 1) / 2;
    crate::sim::engine::Work {
        steps: generated,
        tokens: prompt + decodes,
        token_context: u128::from(prompt) * u128::from(prompt) + u128::from(decode_context),
        context: prompt + decode_context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let mut h = FixedHistogram::new(&[1.0, 2.0, 4.0]);
        assert_eq!(h.quantile(0.5), 0.0);
        h.record_n(1.5, 10);
        h.record_n(3.0, 10);
        assert_eq!(h.quantile(0.5), 2.0);
        assert_eq!(h.quantile(0.25), 1.5);
        assert_eq!(h.quantile(1.0), 4.0);
        assert_eq!(h.mean(), 2.25);
        h.record_n(100.0, 20);
        assert_eq!(h.quantile(0.99), 4.0, "+Inf counts as the last bound");
    }

    #[test]
    fn one_two_five_matches_vllm() {
        assert_eq!(one_two_five(100), [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(
            one_two_five(8192),
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 8192.0]
        );
    }

    #[test]
    fn histograms_bucket_like_prometheus() {
        let mut h = FixedHistogram::new(&[0.1, 1.0]);
        h.record(0.1);
        h.record(0.5);
        h.record_n(7.0, 2);
        assert_eq!(h.cumulative().collect::<Vec<_>>(), [1, 2, 4], "le is inclusive; +Inf last");
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 14.6).abs() < 1e-9);
    }

    #[test]
    fn attribution_is_bounded_and_merges() {
        let mut a = ModelStats::new(100);
        for i in 0..MAX_USERS + 5 {
            a.attribute(0, Some(&format!("u{i}")), 7_200 + i as u64);
        }
        assert_eq!(a.users.len(), MAX_USERS + 1, "the rest share 'other'");
        assert_eq!(a.users.last().unwrap(), &("other".to_owned(), 5));
        let mut b = ModelStats::new(100);
        b.attribute(1, Some("u0"), 3_600);
        b.attribute(1, None, 3_700);
        let mut sum = ModelStats::new(100);
        sum.merge(&a);
        sum.merge(&b);
        assert_eq!((sum.endpoints[0], sum.endpoints[1]), (MAX_USERS as u64 + 5, 2));
        assert_eq!(sum.users[0], ("u0".to_owned(), 2));
        assert_eq!(sum.hours, [(3_600, 2), (7_200, MAX_USERS as u64 + 5)], "by hour, oldest first");
        assert_eq!(sum.first_last, (3_600, 7_200 + MAX_USERS as u64 + 4));
        for h in 0..HOURS_KEPT as u64 + 3 {
            b.attribute(1, None, h * 3_600 + 10 * 3_600);
        }
        assert_eq!(b.hours.len(), HOURS_KEPT, "old hours are dropped");
    }

    #[test]
    fn a_lone_request_computes_its_prompt_then_one_token_a_step() {
        let w = alone(100, 4);
        let want = crate::sim::engine::Work {
            steps: 4,
            tokens: 103,
            token_context: 100 * 100 + 101 + 102 + 103,
            context: 100 + 101 + 102 + 103,
        };
        assert_eq!(w, want);
        assert_eq!(alone(100, 0), crate::sim::engine::Work::default(), "nothing before a first token");
    }

    #[test]
    fn a_request_lifecycle_balances_the_gauges() {
        let mut m = ModelStats::new(8192);
        m.admit(100, Some(10));
        m.tokens(1, None);
        m.first_token(0.05);
        for _ in 0..9 {
            m.tokens(1, Some(0.01));
        }
        assert_eq!((m.running, m.kv_tokens), (1, 110));
        m.finish(Finish::Length, 100, 10, Some(0.05), 0.14);
        assert_eq!((m.running, m.kv_tokens), (0, 0));
        assert_eq!(m.finished, [0, 1, 0]);
        assert_eq!((m.prompt_tokens, m.generation_tokens), (100, 10));
        assert_eq!(m.itl.count(), 9);
        assert_eq!(m.tpot.count(), 1);
        assert!((m.tpot.sum() - 0.01).abs() < 1e-9);
        m.tokens(3, Some(0.02));
        assert_eq!(m.itl.count(), 12, "a batch of 3: one real gap, two 0 s gaps");
        let mut total = ModelStats::new(8192);
        total.merge(&m);
        total.merge(&m);
        assert_eq!(total.generation_tokens, 26);
        assert_eq!(total.ttft.count(), 2);
    }
}
