//! A latency with uniform jitter, written `ms[:variance%]` as in FakeAI's `--ttft`/`--itl`.

use std::{fmt, str::FromStr, time::Duration};

use crate::rng::Rng;

/// A mean latency with uniform jitter of ±`variance_pct` percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Mean in milliseconds.
    pub ms: f64,
    /// Jitter as a percentage of the mean, 0–100.
    pub variance_pct: f64,
}

impl Latency {
    /// Exactly `ms`, no jitter.
    pub const fn fixed(ms: f64) -> Self {
        Latency { ms, variance_pct: 0.0 }
    }

    /// One draw: uniform in `[ms·(1−v), ms·(1+v)]`.
    pub fn sample(&self, rng: &mut Rng) -> Duration {
        if self.ms <= 0.0 {
            return Duration::ZERO;
        }
        let jitter = if self.variance_pct > 0.0 { rng.signed_unit() * self.variance_pct / 100.0 } else { 0.0 };
        Duration::from_nanos((self.ms * (1.0 + jitter) * 1e6).max(0.0) as u64)
    }
}

impl FromStr for Latency {
    type Err = String;

    /// A bare number means 10 % variance, as in FakeAI; `"10:0"` means no jitter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, var) = s.split_once(':').unwrap_or((s, "10"));
        let ms: f64 = ms.trim().parse().map_err(|_| format!("invalid latency {s:?}: expected ms[:variance%]"))?;
        let variance_pct: f64 =
            var.trim().trim_end_matches('%').parse().map_err(|_| format!("invalid variance in {s:?}"))?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(format!("latency must be >= 0 ms, got {s:?}"));
        }
        if !(0.0..=100.0).contains(&variance_pct) {
            return Err(format!("variance must be 0-100 %, got {s:?}"));
        }
        Ok(Latency { ms, variance_pct })
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ms, self.variance_pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fakeai_syntax() {
        assert_eq!("20".parse(), Ok(Latency { ms: 20.0, variance_pct: 10.0 }));
        assert_eq!("5:0".parse(), Ok(Latency::fixed(5.0)));
        assert_eq!("7.5:25%".parse(), Ok(Latency { ms: 7.5, variance_pct: 25.0 }));
        assert!("x".parse::<Latency>().is_err());
        assert!("-1".parse::<Latency>().is_err());
        assert!("10:101".parse::<Latency>().is_err());
    }

    #[test]
    fn samples_stay_within_the_band() {
        let mut rng = Rng::new(3);
        let l = Latency { ms: 10.0, variance_pct: 20.0 };
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let d = l.sample(&mut rng).as_secs_f64() * 1e3;
            assert!((8.0..=12.0).contains(&d));
            sum += d;
        }
        assert!((sum / 10_000.0 - 10.0).abs() < 0.1);
        assert_eq!(Latency::fixed(0.0).sample(&mut rng), Duration::ZERO);
        assert_eq!(Latency::fixed(5.0).sample(&mut rng), Duration::from_millis(5));
    }
}
