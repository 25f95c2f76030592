//! How long one engine step takes: `a + b·prefill_tokens + c·decode_seqs + d·context_tokens`
//! microseconds, where `context_tokens` sums the decoding sequences' KV lengths (attention reads
//! their cache every step).

use std::time::Duration;

use crate::sim::gpu::GpuKind;

/// The step-time coefficients, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTime {
    /// Fixed cost of a step (weights read once, launch overhead).
    pub a: f64,
    /// Per prompt token computed in the step (prefill is compute-bound).
    pub b: f64,
    /// Per sequence decoding one token in the step.
    pub c: f64,
    /// Per token of context the decoding sequences attend over.
    pub d: f64,
}

impl StepTime {
    /// The preset of `gpu` for an 8B-parameter model in BF16: rough figures scaled from each
    /// part's memory bandwidth (`a`, `c`, `d`) and dense BF16 compute (`b`), anchored at an
    /// H100's ~6 ms single-stream decode step and ~35 µs per prefill token.
    pub fn preset(gpu: GpuKind) -> Self {
        let (a, b, c, d) = match gpu {
            GpuKind::H100 => (6_000.0, 35.0, 50.0, 0.04),
            GpuKind::H200 => (4_500.0, 35.0, 40.0, 0.027),
            GpuKind::A100 => (9_000.0, 90.0, 80.0, 0.065),
            GpuKind::B200 => (3_500.0, 15.0, 25.0, 0.017),
            GpuKind::L40s => (18_000.0, 80.0, 120.0, 0.15),
        };
        StepTime { a, b, c, d }
    }

    /// The duration of a step computing `prefill` prompt tokens and decoding `decode` sequences
    /// whose KV holds `context` tokens in all.
    pub fn duration(&self, prefill: u64, decode: u64, context: u64) -> Duration {
        let us = self.a + self.b * prefill as f64 + self.c * decode as f64 + self.d * context as f64;
        Duration::from_nanos((us.max(1.0) * 1e3) as u64)
    }

    /// The shortest any step can take: a lower bound for deadlines not yet simulated.
    pub fn min_step(&self) -> Duration {
        self.duration(0, 0, 0)
    }
}

impl std::str::FromStr for StepTime {
    type Err = String;

    /// `a,b,c` or `a,b,c,d` in microseconds, each finite and ≥ 0.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("invalid step time {s:?}: expected a,b,c[,d] in microseconds, each >= 0"))?;
        match parts[..] {
            [a, b, c] => Ok(StepTime { a, b, c, d: 0.0 }),
            [a, b, c, d] => Ok(StepTime { a, b, c, d }),
            _ => Err(format!("invalid step time {s:?}: expected 3 or 4 numbers (a,b,c[,d])")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_and_parsing() {
        let t: StepTime = "1000, 2, 30,0.5".parse().unwrap();
        assert_eq!(t.duration(100, 4, 1000), Duration::from_micros(1000 + 200 + 120 + 500));
        assert_eq!("10,0,0".parse::<StepTime>().unwrap().min_step(), Duration::from_micros(10));
        for bad in ["", "1,2", "1,2,3,4,5", "1,-2,3", "a,b,c", "1,2,NaN"] {
            assert!(bad.parse::<StepTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn faster_parts_take_shorter_steps() {
        let step = |g: GpuKind| StepTime::preset(g).duration(512, 64, 64 * 1024);
        assert!(step(GpuKind::B200) < step(GpuKind::H200));
        assert!(step(GpuKind::H200) < step(GpuKind::H100));
        assert!(step(GpuKind::H100) < step(GpuKind::A100));
        assert!(step(GpuKind::A100) < step(GpuKind::L40s));
    }
}
