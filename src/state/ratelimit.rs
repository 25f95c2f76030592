//! OpenAI-style rate limits: requests and tokens per minute (and per day) per key, each a GCRA
//! (generic cell rate algorithm) on one `AtomicU64`, so every core admits against the same
//! figures exactly and without a lock. Sans-IO: the caller passes the time.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Nanoseconds in a minute and a day.
const MINUTE: u64 = 60_000_000_000;
const DAY: u64 = 24 * 60 * MINUTE;

/// FakeAI's (and OpenAI's usage tiers') requests and tokens per minute.
pub const TIERS: &[(&str, u64, u64)] = &[
    ("free", 3, 200_000),
    ("tier-1", 500, 2_000_000),
    ("tier-2", 5_000, 10_000_000),
    ("tier-3", 10_000, 30_000_000),
    ("tier-4", 30_000, 150_000_000),
    ("tier-5", 30_000, 300_000_000),
];

/// RPM and TPM of a tier name (`tier-1`, `tier_1`, `TIER1`, `free`), if known.
pub fn tier(name: &str) -> Option<(u64, u64)> {
    let canon: String = name.trim().to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    TIERS.iter().find(|(n, ..)| n.replace('-', "") == canon).map(|(_, rpm, tpm)| (*rpm, *tpm))
}

/// The configured limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests per day.
    pub rpd: Option<u64>,
    /// Tokens per day.
    pub tpd: Option<u64>,
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some() || self.rpd.is_some() || self.tpd.is_some()
    }
}

/// One limit of `limit` units per `period_ns`, as a GCRA: the state is the theoretical arrival
/// time (TAT) of the next unit; a unit costs `period/limit`, and a request fits while the TAT
/// it would leave is at most one period ahead of now (so a fresh bucket holds `limit` units).
///
/// The limit changes at runtime (`PATCH /admin/config`); 0 is off. The units already taken
/// carry over (the TAT is rescaled to the new unit cost, at most one full window): a lowered
/// limit refuses until they have drained at its own rate, with an exact `retry_after`, and a
/// raised one admits at once what it has room for.
#[derive(Debug)]
pub struct Gcra {
    /// Units per period; 0 when the limit is off.
    limit: AtomicU64,
    period: u64,
    /// Theoretical arrival time, ns since the limiter's epoch.
    tat: AtomicU64,
}

/// What one limit says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Taken; the state it left.
    Taken(State),
    /// Refused: free again after `retry_after`; `remaining` units are available now.
    Refused {
        /// Time until the request would fit.
        retry_after: Duration,
        /// What the limit holds now.
        state: State,
    },
    /// Larger than the whole limit: it can never fit.
    TooLarge,
}

/// A limit as the response headers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// The limit.
    pub limit: u64,
    /// Units left now.
    pub remaining: u64,
    /// Time until the limit is whole again.
    pub reset: Duration,
}

impl Gcra {
    /// A full limit of `limit` units per `period_ns`.
    pub fn new(limit: u64, period_ns: u64) -> Gcra {
        Gcra::optional(Some(limit), period_ns)
    }

    /// A full limit of `limit` units per `period_ns`, or none.
    pub fn optional(limit: Option<u64>, period_ns: u64) -> Gcra {
        Gcra { limit: AtomicU64::new(Gcra::stored(limit)), period: period_ns, tat: AtomicU64::new(0) }
    }

    fn stored(limit: Option<u64>) -> u64 {
        limit.map_or(0, |l| l.max(1))
    }

    /// The limit, if on.
    pub fn limit(&self) -> Option<u64> {
        Some(self.limit.load(Ordering::Relaxed)).filter(|&l| l > 0)
    }

    /// Changes the limit (`None`: off) at `now`, for requests from then on.
    pub fn set(&self, limit: Option<u64>, now: u64) {
        let new = Gcra::stored(limit);
        let old = self.limit.swap(new, Ordering::Relaxed);
        if old == 0 || new == 0 || old == new {
            return; // Nothing taken to carry (or nothing to carry it into).
        }
        let period = self.period;
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            let ahead = u128::from(tat.saturating_sub(now)) * u128::from(old) / u128::from(new);
            Some(now + ahead.min(u128::from(period)) as u64)
        });
    }

    /// The time `units` cost at `limit`, rounded up (so a limit never admits more than it says).
    fn cost(&self, units: u64, limit: u64) -> u64 {
        (u128::from(units) * u128::from(self.period)).div_ceil(u128::from(limit)).min(u128::from(u64::MAX)) as u64
    }

    /// What a limit of `limit` shows at `now` when its TAT is `tat`.
    fn state(&self, limit: u64, tat: u64, now: u64) -> State {
        let ahead = tat.saturating_sub(now);
        let free = self.period - ahead.min(self.period);
        let remaining = (u128::from(free) * u128::from(limit) / u128::from(self.period)) as u64;
        State { limit, remaining, reset: Duration::from_nanos(ahead) }
    }

    /// Takes `units` at `now` (ns) if they fit (always, when the limit is off).
    pub fn take(&self, units: u64, now: u64) -> Verdict {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return Verdict::Taken(State { limit: 0, remaining: 0, reset: Duration::ZERO });
        }
        if units > limit {
            return Verdict::TooLarge;
        }
        let cost = self.cost(units, limit);
        let mut old = self.tat.load(Ordering::Acquire);
        loop {
            let new = old.max(now) + cost;
            if new - now > self.period {
                let retry_after = Duration::from_nanos(new - now - self.period);
                return Verdict::Refused { retry_after, state: self.state(limit, old, now) };
            }
            match self.tat.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Verdict::Taken(self.state(limit, new, now)),
                Err(seen) => old = seen,
            }
        }
    }

    /// Gives back `units` taken at `now` (another limit refused the request).
    pub fn refund(&self, units: u64, now: u64) {
        let Some(limit) = self.limit() else { return };
        let cost = self.cost(units, limit);
        let _ =
            self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(tat.saturating_sub(cost).max(now)));
    }

    /// Takes `units` at `now` whether or not they fit (usage found larger than estimated),
    /// at most a period ahead, so the debt never outlasts one window.
    pub fn force(&self, units: u64, now: u64) {
        let Some(limit) = self.limit() else { return };
        let cost = self.cost(units, limit);
        let cap = now + self.period;
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some((tat.max(now) + cost).min(cap)));
    }

    /// What the limit shows at `now`, if it is on.
    pub fn peek(&self, now: u64) -> Option<State> {
        let limit = self.limit()?;
        Some(self.state(limit, self.tat.load(Ordering::Acquire), now))
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Requests per minute.
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Requests per day.
    Rpd,
    /// Tokens per day.
    Tpd,
}

impl Dimension {
    /// OpenAI's name in its 429 message: `requests per min (RPM)`.
    pub fn describe(self) -> &'static str {
        match self {
            Dimension::Rpm => "requests per min (RPM)",
            Dimension::Tpm => "tokens per min (TPM)",
            Dimension::Rpd => "requests per day (RPD)",
            Dimension::Tpd => "tokens per day (TPD)",
        }
    }

    /// OpenAI's `error.type` of a 429 by this limit.
    pub fn kind(self) -> &'static str {
        match self {
            Dimension::Rpm | Dimension::Rpd => "requests",
            Dimension::Tpm | Dimension::Tpd => "tokens",
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The limit that refused it.
    pub by: Dimension,
    /// The limit's size.
    pub limit: u64,
    /// What the request asked for.
    pub requested: u64,
    /// When it would fit; `None` when it never can (larger than the limit).
    pub retry_after: Option<Duration>,
    /// The minute limits as they stand, for the headers.
    pub headers: Headers,
}

/// The per-minute limits as the `x-ratelimit-*` headers show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headers {
    /// Requests per minute.
    pub requests: Option<State>,
    /// Tokens per minute.
    pub tokens: Option<State>,
}

impl Headers {
    /// The six `x-ratelimit-*` headers (those of unlimited dimensions left out).
    pub fn render(&self, out: &mut Vec<(&'static str, String)>) {
        if let Some(s) = self.requests {
            out.push(("x-ratelimit-limit-requests", s.limit.to_string()));
            out.push(("x-ratelimit-remaining-requests", s.remaining.to_string()));
            out.push(("x-ratelimit-reset-requests", openai_duration(s.reset)));
        }
        if let Some(s) = self.tokens {
            out.push(("x-ratelimit-limit-tokens", s.limit.to_string()));
            out.push(("x-ratelimit-remaining-tokens", s.remaining.to_string()));
            out.push(("x-ratelimit-reset-tokens", openai_duration(s.reset)));
        }
    }
}

/// One key's limits (each changeable at runtime; see [`Gcra`]).
#[derive(Debug)]
pub struct Limiter {
    rpm: Gcra,
    tpm: Gcra,
    rpd: Gcra,
    tpd: Gcra,
}

impl Limiter {
    /// Full limits of `limits`.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            rpm: Gcra::optional(limits.rpm, MINUTE),
            tpm: Gcra::optional(limits.tpm, MINUTE),
            rpd: Gcra::optional(limits.rpd, DAY),
            tpd: Gcra::optional(limits.tpd, DAY),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        Limits { rpm: self.rpm.limit(), tpm: self.tpm.limit(), rpd: self.rpd.limit(), tpd: self.tpd.limit() }
    }

    /// Changes the limits at `now`, for requests from then on; what was taken stays taken.
    pub fn set(&self, limits: Limits, now: u64) {
        self.rpm.set(limits.rpm, now);
        self.tpm.set(limits.tpm, now);
        self.rpd.set(limits.rpd, now);
        self.tpd.set(limits.tpd, now);
    }

    fn dimensions(&self, tokens: u64) -> [(Dimension, &Gcra, u64); 4] {
        [
            (Dimension::Rpm, &self.rpm, 1),
            (Dimension::Rpd, &self.rpd, 1),
            (Dimension::Tpm, &self.tpm, tokens),
            (Dimension::Tpd, &self.tpd, tokens),
        ]
    }

    /// Admits one request costing `tokens` at `now` (ns since the limiter's epoch) against
    /// every limit, or refuses it and gives back what the limits checked before took.
    pub fn admit(&self, tokens: u64, now: u64) -> Result<Headers, Refusal> {
        let dims = self.dimensions(tokens);
        for (i, (by, gcra, units)) in dims.iter().enumerate() {
            let (retry_after, limit) = match gcra.take(*units, now) {
                Verdict::Taken(_) => continue,
                Verdict::Refused { retry_after, state } => (Some(retry_after), state.limit),
                Verdict::TooLarge => (None, gcra.limit().unwrap_or(0)),
            };
            for (_, before, units) in &dims[..i] {
                before.refund(*units, now);
            }
            let headers = self.headers(now);
            return Err(Refusal { by: *by, limit, requested: *units, retry_after, headers });
        }
        Ok(self.headers(now))
    }

    /// Whether any token limit is set.
    pub fn counts_tokens(&self) -> bool {
        self.tpm.limit().is_some() || self.tpd.limit().is_some()
    }

    /// Corrects the token limits once a request admitted at an estimate of `estimated` tokens
    /// is known to use `used`: the difference is given back or taken.
    pub fn settle(&self, estimated: u64, used: u64, now: u64) {
        for gcra in [&self.tpm, &self.tpd] {
            if used < estimated {
                gcra.refund(estimated - used, now);
            } else if used > estimated {
                gcra.force(used - estimated, now);
            }
        }
    }

    /// The minute limits as they stand at `now`.
    pub fn headers(&self, now: u64) -> Headers {
        Headers { requests: self.rpm.peek(now), tokens: self.tpm.peek(now) }
    }
}

/// A duration as OpenAI's headers write it (Go's format, to the millisecond, rounded up):
/// `120ms`, `1s`, `1.5s`, `6m0s`, `1h0m0s`, `0s`.
pub fn openai_duration(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000) as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::with_capacity(12);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    if frac > 0 {
        let digits = format!("{frac:03}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// Rounds a retry delay up to whole seconds for `retry-after`, never 0.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

/// Rounds a retry delay up to milliseconds for `retry-after-ms`.
pub fn retry_after_ms(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn durations_are_written_as_openai_does() {
        let ms = Duration::from_millis;
        assert_eq!(openai_duration(ms(0)), "0s");
        assert_eq!(openai_duration(ms(120)), "120ms");
        assert_eq!(openai_duration(Duration::from_micros(1)), "1ms", "rounded up");
        assert_eq!(openai_duration(ms(1000)), "1s");
        assert_eq!(openai_duration(ms(1500)), "1.5s");
        assert_eq!(openai_duration(ms(17_250)), "17.25s");
        assert_eq!(openai_duration(ms(360_000)), "6m0s");
        assert_eq!(openai_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(openai_duration(ms(3_723_004)), "1h2m3.004s");
    }

    #[test]
    fn tiers_by_fakeai_names() {
        assert_eq!(tier("free"), Some((3, 200_000)));
        assert_eq!(tier("tier-1"), Some((500, 2_000_000)));
        assert_eq!(tier("TIER_5"), Some((30_000, 300_000_000)));
        assert_eq!(tier("tier-9"), None);
    }

    #[test]
    fn a_fresh_limit_holds_its_whole_burst_then_refills_at_its_rate() {
        let g = Gcra::new(3, MINUTE);
        let t0 = 5 * S;
        for left in [2, 1, 0] {
            let Verdict::Taken(s) = g.take(1, t0) else { panic!("fits") };
            assert_eq!(s.remaining, left);
        }
        let Verdict::Refused { retry_after, state } = g.take(1, t0) else { panic!("full") };
        assert_eq!(retry_after, Duration::from_secs(20), "one unit refills in 60/3 s");
        assert_eq!((state.remaining, state.reset), (0, Duration::from_secs(60)));
        assert!(matches!(g.take(1, t0 + 20 * S - 1), Verdict::Refused { .. }), "not a ns early");
        assert!(matches!(g.take(1, t0 + 20 * S), Verdict::Taken(_)), "exactly on time");
        assert_eq!(g.take(4, t0), Verdict::TooLarge);
    }

    #[test]
    fn a_request_refused_by_tokens_gives_its_request_back() {
        let l = Limiter::new(Limits { rpm: Some(10), tpm: Some(100), ..Limits::default() });
        let h = l.admit(60, S).unwrap();
        assert_eq!(h.requests.unwrap().remaining, 9);
        assert_eq!(h.tokens.unwrap().remaining, 40);
        let r = l.admit(60, S).unwrap_err();
        assert_eq!((r.by, r.limit, r.requested), (Dimension::Tpm, 100, 60));
        assert_eq!(r.retry_after, Some(Duration::from_secs(12)), "20 tokens at 100/min");
        assert_eq!(r.headers.requests.unwrap().remaining, 9, "refunded");
        assert!(l.admit(60, 13 * S).is_ok(), "the retry after retry_after succeeds");
        assert_eq!(l.admit(101, 100 * S).unwrap_err().retry_after, None, "never fits");
    }

    #[test]
    fn a_changed_limit_keeps_what_was_taken_and_its_retry_stays_exact() {
        let l = Limiter::new(Limits { rpm: Some(60), ..Limits::default() });
        for _ in 0..30 {
            l.admit(0, S).unwrap();
        }
        l.set(Limits { rpm: Some(2), ..Limits::default() }, S);
        let r = l.admit(0, S).unwrap_err();
        assert_eq!((r.by, r.limit), (Dimension::Rpm, 2));
        assert_eq!(r.retry_after, Some(Duration::from_secs(30)), "30 taken fill the window; one of 2 frees in 30 s");
        assert!(l.admit(0, 31 * S - 1).is_err(), "not a ns early");
        assert!(l.admit(0, 31 * S).is_ok(), "the retry after retry_after succeeds");
        l.set(Limits { rpm: Some(1000), ..Limits::default() }, 31 * S);
        assert_eq!(l.headers(31 * S).requests.unwrap().remaining, 998, "the 2 taken stay taken");
        assert!((0..998).all(|_| l.admit(0, 31 * S).is_ok()), "a raised limit lets traffic through at once");
        assert!(l.admit(0, 31 * S).is_err());
        l.set(Limits::default(), 31 * S);
        assert!(l.admit(u64::MAX, 31 * S).is_ok() && l.headers(S).requests.is_none(), "off");
        assert!(!l.counts_tokens());
    }

    #[test]
    fn settling_gives_back_or_takes_the_difference() {
        let l = Limiter::new(Limits { tpm: Some(1000), ..Limits::default() });
        l.admit(600, S).unwrap();
        l.settle(600, 100, S);
        assert_eq!(l.headers(S).tokens.unwrap().remaining, 900);
        l.settle(0, 5000, S);
        let s = l.headers(S).tokens.unwrap();
        assert_eq!((s.remaining, s.reset), (0, Duration::from_secs(60)), "debt capped at one window");
    }

    #[test]
    fn exact_across_threads() {
        let l = std::sync::Arc::new(Limiter::new(Limits { rpm: Some(1000), ..Limits::default() }));
        let taken: u64 = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..500).filter(|_| l.admit(0, S).is_ok()).count() as u64)
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(taken, 1000);
    }

    #[test]
    fn retry_rounding_never_says_too_early() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(20_001)), 21);
        assert_eq!(retry_after_ms(Duration::from_micros(1500)), 2);
    }
}
