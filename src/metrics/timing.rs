//! Fine-grained latency distributions for the JSON views and the dashboard: hdrhistogram in
//! nanoseconds, 1 µs to 10 min at 2 significant digits (1 % error), where the engines' fixed
//! Prometheus buckets are far too coarse to show a 5 ms inter-token latency.

use hdrhistogram::Histogram;

const LOWEST_NS: u64 = 1_000;
const HIGHEST_NS: u64 = 600_000_000_000;

/// A latency distribution in seconds, kept in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing(Histogram<u64>);

impl Default for Timing {
    fn default() -> Self {
        Timing(Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, 2).expect("valid timing bounds"))
    }
}

impl Timing {
    /// Records `n` observations of `seconds` (clamped to the range; 0 stays 0).
    pub fn record_n(&mut self, seconds: f64, n: u64) {
        let ns = (seconds.max(0.0) * 1e9) as u64;
        let ns = if ns == 0 { 0 } else { ns.clamp(LOWEST_NS, HIGHEST_NS) };
        let _ = self.0.record_n(ns, n);
    }

    /// Records one observation.
    pub fn record(&mut self, seconds: f64) {
        self.record_n(seconds, 1);
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Timing) {
        self.0.add(&other.0).expect("same bounds");
    }

    /// Replaces `self` with `other` without reallocating.
    pub fn copy_from(&mut self, other: &Timing) {
        self.0.reset();
        self.merge(other);
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile in seconds (0 when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.value_at_quantile(q) as f64 / 1e9 }
    }

    /// Mean in seconds (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.mean() / 1e9 }
    }

    /// Cumulative counts at or below each of `bounds` (ascending, seconds) — Prometheus
    /// buckets — in one pass over the recorded values.
    pub fn cumulative(&self, bounds: &[f64]) -> Vec<u64> {
        let mut counts = vec![0u64; bounds.len()];
        for v in self.0.iter_recorded() {
            let seconds = self.0.lowest_equivalent(v.value_iterated_to()) as f64 / 1e9;
            let i = bounds.partition_point(|&b| b < seconds);
            if let Some(c) = counts.get_mut(i) {
                *c += v.count_at_value();
            }
        }
        counts
            .iter()
            .scan(0, |sum, c| {
                *sum += c;
                Some(*sum)
            })
            .collect()
    }

    /// Sum of observations in seconds.
    pub fn sum(&self) -> f64 {
        self.mean() * self.count() as f64
    }

    /// Smallest observation in seconds (0 when empty).
    pub fn min(&self) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.min() as f64 / 1e9 }
    }

    /// Largest observation in seconds (0 when empty).
    pub fn max(&self) -> f64 {
        if self.0.is_empty() { 0.0 } else { self.0.max() as f64 / 1e9 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_hold_to_one_percent() {
        let mut t = Timing::default();
        assert_eq!((t.quantile(0.5), t.mean(), t.max()), (0.0, 0.0, 0.0));
        t.record_n(0.005, 90);
        t.record_n(0.020, 10);
        assert!((t.quantile(0.5) - 0.005).abs() < 0.00005, "{}", t.quantile(0.5));
        assert!((t.quantile(0.99) - 0.020).abs() < 0.0002);
        assert!((t.mean() - 0.0065).abs() < 0.0001);
        assert_eq!(t.cumulative(&[0.001, 0.005, 0.01, 0.1]), [0, 90, 90, 100]);
        let mut sum = Timing::default();
        sum.merge(&t);
        sum.merge(&t);
        assert_eq!(sum.count(), 200);
        sum.copy_from(&t);
        assert_eq!(sum.count(), 100);
        t.record(0.0);
        assert_eq!(t.min(), 0.0, "zero gaps (tokens sent together) stay zero");
    }
}
