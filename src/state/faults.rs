//! Fault injection's control plane: what a fault is (parsed from `X-Fakeai-Fault`,
//! `X-Return-Error` or a `--fault-rate` rule), the rules that inject faults by rate, and the
//! count of every fault injected, by kind. A request's fault is decided once, at admission;
//! with no rules and no header the decision is one relaxed load.
//!
//! Rates are seeded: the n-th request that the rules see draws `hash(seed, n)`, so the same
//! seed and the same sequence of requests give the same faults.

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An HTTP error of this status answered instead of the request's reply.
    Http(u16),
    /// 429 `insufficient_quota` (FakeAI's `rate_limit_quota`): no retry helps.
    Quota,
    /// The connection is reset (RST) before any byte of the response.
    Reset,
    /// The response head is sent, then the connection closes.
    CloseAfterHeaders,
    /// The response starts `ms` late.
    SlowFirstByte,
    /// The stream ends with an `error` event, as the provider sends it.
    ErrorEvent,
    /// The stream ends cleanly at the HTTP level but without its closing events (`[DONE]`).
    Truncate,
    /// The stream stalls for `ms`, then goes on.
    Stall,
    /// One chunk of broken JSON, then the stream goes on.
    Malformed,
    /// The connection closes mid-stream, without the chunked terminator.
    Close,
    /// TTFT and ITL multiplied for this request.
    LatencySpike,
}

/// Every kind's label in `fakeai_faults_injected_total{kind}`; statuses fakeai names, then
/// `http_other`, then the other kinds.
pub const LABELS: [&str; 25] = [
    "http_400",
    "http_401",
    "http_403",
    "http_404",
    "http_408",
    "http_409",
    "http_413",
    "http_422",
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "http_529",
    "http_other",
    "insufficient_quota",
    "reset",
    "close_after_headers",
    "slow_first_byte",
    "error_event",
    "truncate",
    "stall",
    "malformed",
    "close",
    "latency_spike",
];

impl Kind {
    /// Its index in [`LABELS`].
    fn index(self) -> usize {
        let named = |label: &str| LABELS.iter().position(|l| *l == label).expect("a listed label");
        match self {
            Kind::Http(status) => {
                let label = format!("http_{status}");
                LABELS[..15].iter().position(|l| *l == label).unwrap_or(14)
            }
            Kind::Quota => named("insufficient_quota"),
            Kind::Reset => named("reset"),
            Kind::CloseAfterHeaders => named("close_after_headers"),
            Kind::SlowFirstByte => named("slow_first_byte"),
            Kind::ErrorEvent => named("error_event"),
            Kind::Truncate => named("truncate"),
            Kind::Stall => named("stall"),
            Kind::Malformed => named("malformed"),
            Kind::Close => named("close"),
            Kind::LatencySpike => named("latency_spike"),
        }
    }

    /// Whether it strikes a stream after some of its events.
    pub fn mid_stream(self) -> bool {
        matches!(self, Kind::ErrorEvent | Kind::Truncate | Kind::Stall | Kind::Malformed | Kind::Close)
    }
}

/// Where in a stream a mid-stream fault strikes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// After this many token events.
    Event(u64),
    /// After this fraction of the stream's token events.
    Fraction(f64),
}

impl At {
    /// The event index it names in a stream of `events` token events.
    pub fn resolve(self, events: u64) -> u64 {
        match self {
            At::Event(n) => n.min(events),
            At::Fraction(f) => ((events as f64 * f).floor() as u64).min(events),
        }
    }
}

/// One fault and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// What it does.
    pub kind: Kind,
    /// Mid-stream: where it strikes.
    pub at: At,
    /// Stall or slow first byte: how long.
    pub delay: Duration,
    /// 429 and 503: the `retry-after` sent, in seconds.
    pub retry_after: u64,
    /// Latency spike: the TTFT and ITL factors.
    pub ttft_factor: f64,
    /// See `ttft_factor`.
    pub itl_factor: f64,
}

impl Fault {
    /// `kind` with default parameters: halfway through a stream, 1 s delays and retry-after,
    /// ×10 latency.
    pub fn of(kind: Kind) -> Fault {
        Fault {
            kind,
            at: At::Fraction(0.5),
            delay: Duration::from_secs(1),
            retry_after: 1,
            ttft_factor: 10.0,
            itl_factor: 10.0,
        }
    }

    /// The label it is counted under.
    pub fn label(&self) -> &'static str {
        LABELS[self.kind.index()]
    }
}

/// The kind a name stands for: an HTTP status, FakeAI's error-injection type names, or one of
/// fakeai's fault names.
fn kind_named(name: &str) -> Option<Kind> {
    if let Ok(status) = name.parse::<u16>() {
        return (400..=599).contains(&status).then_some(Kind::Http(status));
    }
    Some(match name {
        "context_length_exceeded" => Kind::Http(400),
        "unauthorized" | "invalid_api_key" => Kind::Http(401),
        "forbidden" | "permission_denied" => Kind::Http(403),
        "model_not_found" => Kind::Http(404),
        "rate_limit" | "rate_limit_exceeded" => Kind::Http(429),
        "rate_limit_quota" | "insufficient_quota" => Kind::Quota,
        "internal_error" => Kind::Http(500),
        "bad_gateway" => Kind::Http(502),
        "service_unavailable" => Kind::Http(503),
        "gateway_timeout" => Kind::Http(504),
        "overloaded" => Kind::Http(529),
        "reset" => Kind::Reset,
        "close_after_headers" => Kind::CloseAfterHeaders,
        "slow_first_byte" => Kind::SlowFirstByte,
        "error_event" | "error" => Kind::ErrorEvent,
        "truncate" | "truncated" => Kind::Truncate,
        "stall" => Kind::Stall,
        "malformed" => Kind::Malformed,
        "close" | "abort" => Kind::Close,
        "latency_spike" | "spike" => Kind::LatencySpike,
        _ => return None,
    })
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `KIND[;param=value...]`: params `after` (events), `at` (fraction 0–1), `ms`,
    /// `retry_after` (s), `ttft` and `itl` (factors; one given leaves the other at 1).
    fn from_str(spec: &str) -> Result<Fault, String> {
        let mut parts = spec.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let kind = kind_named(&name).ok_or_else(|| format!("unknown fault {name:?}"))?;
        let mut fault = Fault::of(kind);
        let mut factors = (None, None);
        for param in parts.filter(|p| !p.is_empty()) {
            let (key, value) =
                param.split_once('=').ok_or_else(|| format!("fault parameter {param:?} is not key=value"))?;
            let bad = || format!("invalid fault parameter {param:?}");
            let number = |v: &str| v.trim().parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0).ok_or_else(bad);
            match key.trim() {
                "after" => fault.at = At::Event(value.trim().parse().map_err(|_| bad())?),
                "at" => fault.at = At::Fraction(Some(number(value)?).filter(|f| *f <= 1.0).ok_or_else(bad)?),
                "ms" => fault.delay = Duration::from_millis(value.trim().parse().map_err(|_| bad())?),
                "retry_after" => fault.retry_after = value.trim().parse().map_err(|_| bad())?,
                "ttft" => factors.0 = Some(number(value)?),
                "itl" => factors.1 = Some(number(value)?),
                _ => return Err(format!("unknown fault parameter {key:?}")),
            }
        }
        if factors != (None, None) {
            (fault.ttft_factor, fault.itl_factor) = (factors.0.unwrap_or(1.0), factors.1.unwrap_or(1.0));
        }
        Ok(fault)
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every keyed request.
    All,
    /// Requests to the route of this metrics label (`/v1/chat/completions`).
    Endpoint(String),
    /// Requests for this model.
    Model(String),
}

/// A fault injected into a fraction of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The fault.
    pub fault: Fault,
    /// The fraction of requests it strikes, 0–1.
    pub rate: f64,
    /// The requests it applies to.
    pub scope: Scope,
    /// The rule as written.
    pub text: String,
}

impl std::str::FromStr for Rule {
    type Err = String;

    /// `KIND[;param=value...]=RATE[@/endpoint|@model]`.
    fn from_str(s: &str) -> Result<Rule, String> {
        let (rule, scope) = match s.rsplit_once('@') {
            Some((rule, at)) if at.starts_with('/') => (rule, Scope::Endpoint(at.to_owned())),
            Some((rule, model)) if !model.is_empty() => (rule, Scope::Model(model.to_owned())),
            _ => (s, Scope::All),
        };
        let (spec, rate) = rule.rsplit_once('=').ok_or_else(|| format!("fault rate {s:?}: expected KIND=RATE"))?;
        let rate: f64 = rate.trim().parse().map_err(|_| format!("fault rate {s:?}: {rate:?} is not a number"))?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("fault rate {s:?}: the rate must be 0-1"));
        }
        let fault = spec.parse().map_err(|e| format!("fault rate {s:?}: {e}"))?;
        Ok(Rule { fault, rate, scope, text: s.trim().to_owned() })
    }
}

/// FakeAI's error injection (`metrics.error_injection_*`) as rules: `rate` shared evenly by
/// `types` (FakeAI's names; its four defaults when empty).
pub fn fakeai_rules(rate: f64, types: &[String]) -> Result<Vec<Rule>, String> {
    const DEFAULT: [&str; 4] = ["internal_error", "service_unavailable", "gateway_timeout", "rate_limit_quota"];
    let names: Vec<&str> = if types.is_empty() { DEFAULT.to_vec() } else { types.iter().map(String::as_str).collect() };
    names
        .iter()
        .map(|name| {
            let fault: Fault = name.parse().map_err(|e| format!("error injection type: {e}"))?;
            let rate = rate / names.len() as f64;
            Ok(Rule { fault, rate, scope: Scope::All, text: format!("{name}={rate}") })
        })
        .collect()
}

/// The server's fault rules and counts.
#[derive(Debug)]
pub struct Faults {
    seed: u64,
    /// Requests the rules have seen.
    drawn: AtomicU64,
    any: AtomicBool,
    rules: RwLock<Arc<Vec<Rule>>>,
    counts: [AtomicU64; LABELS.len()],
}

impl Faults {
    /// `rules`, drawn from `seed`.
    pub fn new(rules: Vec<Rule>, seed: u64) -> Faults {
        Faults {
            seed,
            drawn: AtomicU64::new(0),
            any: AtomicBool::new(!rules.is_empty()),
            rules: RwLock::new(Arc::new(rules)),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<Vec<Rule>> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the rules, for requests admitted from now on.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.any.store(!rules.is_empty(), Ordering::Relaxed);
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }

    /// The fault of one request to `endpoint`: the `X-Fakeai-Fault` header's, else
    /// `X-Return-Error`'s, else one drawn by the rules (`model` is asked for only when a rule
    /// names one). A header that names no fault is an error for a 400.
    pub fn decide<'m>(
        &self,
        endpoint: &str,
        model: impl FnOnce() -> Option<&'m str>,
        fault_header: Option<&str>,
        return_error: Option<&str>,
    ) -> Result<Option<Fault>, String> {
        if let Some(spec) = fault_header {
            return spec.parse().map(Some).map_err(|e| format!("X-Fakeai-Fault: {e}"));
        }
        if let Some(status) = return_error {
            return match status.trim().parse::<u16>() {
                Ok(s) if (400..=599).contains(&s) => Ok(Some(Fault::of(Kind::Http(s)))),
                _ => Err(format!("X-Return-Error: {status:?} is not an error status (400-599)")),
            };
        }
        if !self.any.load(Ordering::Relaxed) {
            return Ok(None);
        }
        Ok(self.draw(endpoint, model))
    }

    /// The rules' fault for the next request, if its draw lands in one's band.
    fn draw<'m>(&self, endpoint: &str, model: impl FnOnce() -> Option<&'m str>) -> Option<Fault> {
        let rules = self.rules();
        let n = self.drawn.fetch_add(1, Ordering::Relaxed);
        let draw = unit(splitmix(self.seed ^ splitmix(n)));
        let mut model = Some(model);
        let mut asked = None;
        let mut band = 0.0;
        for rule in rules.iter() {
            let applies = match &rule.scope {
                Scope::All => true,
                Scope::Endpoint(e) => e == endpoint,
                Scope::Model(m) => {
                    let asked = *asked.get_or_insert_with(|| model.take().and_then(|f| f()));
                    asked == Some(m.as_str())
                }
            };
            if applies {
                band += rule.rate;
                if draw < band {
                    return Some(rule.fault);
                }
            }
        }
        None
    }

    /// Counts one injected fault.
    pub fn count(&self, fault: &Fault) {
        self.counts[fault.kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Faults injected so far, by label.
    pub fn counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        LABELS.iter().zip(&self.counts).map(|(label, n)| (*label, n.load(Ordering::Relaxed)))
    }
}

/// SplitMix64's finalizer: a well-mixed 64-bit value of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `x` as a uniform draw in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_their_parameters() {
        let f: Fault = "stall; ms=250 ;after=3".parse().unwrap();
        assert_eq!((f.kind, f.delay, f.at), (Kind::Stall, Duration::from_millis(250), At::Event(3)));
        let f: Fault = "503;retry_after=7".parse().unwrap();
        assert_eq!((f.kind, f.retry_after, f.label()), (Kind::Http(503), 7, "http_503"));
        let f: Fault = "latency_spike;itl=4".parse().unwrap();
        assert_eq!((f.ttft_factor, f.itl_factor), (1.0, 4.0));
        assert_eq!("rate_limit_quota".parse::<Fault>().unwrap().label(), "insufficient_quota");
        assert_eq!("418".parse::<Fault>().unwrap().label(), "http_other");
        assert!("200".parse::<Fault>().is_err());
        assert!("nope".parse::<Fault>().is_err());
        assert!("close;at=2".parse::<Fault>().is_err());
        assert!("close;when=2".parse::<Fault>().is_err());
        assert_eq!(At::Fraction(0.5).resolve(9), 4);
        assert_eq!(At::Event(50).resolve(9), 9);
    }

    #[test]
    fn rules_parse_with_their_scope() {
        let r: Rule = "stall;ms=5=0.25@/v1/chat/completions".parse().unwrap();
        assert_eq!((r.fault.delay, r.rate), (Duration::from_millis(5), 0.25));
        assert_eq!(r.scope, Scope::Endpoint("/v1/chat/completions".into()));
        assert_eq!("503=1@gpt-4o".parse::<Rule>().unwrap().scope, Scope::Model("gpt-4o".into()));
        assert!("503=2".parse::<Rule>().is_err());
        assert!("503".parse::<Rule>().is_err());
        assert_eq!(fakeai_rules(0.4, &[]).unwrap().len(), 4);
    }

    #[test]
    fn headers_win_and_rates_are_seeded() {
        let faults = Faults::new(vec!["500=0.3".parse().unwrap()], 42);
        let header = faults.decide("/x", || None, Some("close;after=1"), Some("503")).unwrap().unwrap();
        assert_eq!(header.kind, Kind::Close);
        assert_eq!(faults.decide("/x", || None, None, Some("503")).unwrap().unwrap().kind, Kind::Http(503));
        assert!(faults.decide("/x", || None, None, Some("200")).is_err());
        let run = || {
            let f = Faults::new(vec!["500=0.3".parse().unwrap()], 42);
            (0..1000).map(|_| f.decide("/x", || None, None, None).unwrap().is_some()).collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b, "same seed, same faults");
        let hits = a.iter().filter(|x| **x).count();
        assert!((250..350).contains(&hits), "{hits}");
    }

    #[test]
    fn scopes_limit_rules() {
        let faults = Faults::new(vec!["500=1@/a".parse().unwrap(), "502=1@m".parse().unwrap()], 1);
        assert_eq!(faults.decide("/a", || None, None, None).unwrap().unwrap().kind, Kind::Http(500));
        assert_eq!(faults.decide("/b", || Some("m"), None, None).unwrap().unwrap().kind, Kind::Http(502));
        assert_eq!(faults.decide("/b", || Some("n"), None, None).unwrap(), None);
        faults.set_rules(Vec::new());
        assert_eq!(faults.decide("/a", || None, None, None).unwrap(), None);
    }
}
