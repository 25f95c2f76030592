//! Absolute token deadlines, measured from the request's arrival, never as a chain of relative
//! sleeps (which drift by every wake-up's lateness): with `--engine off` token *i* is due at
//! TTFT + Σ ITL; with an engine, at the end of the step that samples it.

use std::time::Duration;

use super::{Latency, engine::local::EngineSchedule};
use crate::rng::Rng;

/// The deadlines of a response's tokens, as offsets from the request's arrival.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// As configured: TTFT, then an ITL draw per token.
    Fixed(Fixed),
    /// As the simulated engine runs this request's sequence.
    Engine(EngineSchedule),
}

impl Schedule {
    /// The first token is due at `ttft`; each later one an ITL draw after the previous.
    pub fn new(ttft: Duration, itl: Latency, rng: Rng) -> Self {
        Schedule::Fixed(Fixed::new(ttft, itl, rng))
    }

    /// Brings an engine schedule up to `elapsed` (a fixed one needs nothing): after this, a
    /// `peek` at or before `elapsed` is exact.
    #[inline]
    pub fn sync(&mut self, elapsed: Duration) {
        if let Schedule::Engine(e) = self {
            e.sync(elapsed);
        }
    }

    /// The deadline of the next token, without consuming it.
    #[inline]
    pub fn peek(&self) -> Duration {
        match self {
            Schedule::Fixed(f) => f.peek(),
            Schedule::Engine(e) => e.peek(),
        }
    }

    /// The deadline of the next token; moves on to the one after.
    #[inline]
    pub fn advance(&mut self) -> Duration {
        match self {
            Schedule::Fixed(f) => f.advance(),
            Schedule::Engine(e) => e.advance(),
        }
    }

    /// A latency spike (fixed schedules only: an engine's steps are what they are).
    pub fn stretch(&mut self, first: f64, gap: f64) {
        if let Schedule::Fixed(f) = self {
            f.stretch(first, gap);
        }
    }

    /// A stall: every deadline from the next on moves `by` later.
    pub fn delay(&mut self, by: Duration) {
        match self {
            Schedule::Fixed(f) => f.delay(by),
            Schedule::Engine(e) => e.delay(by),
        }
    }

    /// The deadline of the `n`-th token (1-based) from now on: when a non-streaming response
    /// of `n` tokens is complete (an engine's: a lower bound until its last step is simulated;
    /// see [`Schedule::completion`]).
    pub fn deadline_of(&mut self, n: u64) -> Duration {
        match self {
            Schedule::Fixed(f) => f.deadline_of(n),
            Schedule::Engine(e) => e.deadline_of(n),
        }
    }

    /// For an engine schedule, the handle that tells when a whole reply of `n` tokens is done.
    pub fn completion(&self, n: u64) -> Option<super::engine::local::Completion> {
        match self {
            Schedule::Fixed(_) => None,
            Schedule::Engine(e) => Some(e.completion(n)),
        }
    }
}

/// Configured deadlines: TTFT, then an ITL draw per token.
#[derive(Debug, Clone)]
pub struct Fixed {
    rng: Rng,
    itl: Latency,
    next: Duration,
}

impl Fixed {
    /// The first token is due at `ttft`; each later one an ITL draw after the previous.
    pub fn new(ttft: Duration, itl: Latency, rng: Rng) -> Self {
        Fixed { rng, itl, next: ttft }
    }

    /// The deadline of the next token, without consuming it.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// The deadline of the next token; moves on to the one after.
    pub fn advance(&mut self) -> Duration {
        let due = self.next;
        self.next += self.itl.sample(&mut self.rng);
        due
    }

    /// A latency spike: the next deadline (the TTFT, before any token is out) times `first`,
    /// every later gap times `gap`.
    pub fn stretch(&mut self, first: f64, gap: f64) {
        self.next = self.next.mul_f64(first);
        self.itl.ms *= gap;
    }

    /// A stall: every deadline from the next on moves `by` later.
    pub fn delay(&mut self, by: Duration) {
        self.next += by;
    }

    /// The deadline of the `n`-th token (1-based) from now on, consuming them: when a
    /// non-streaming response of `n` tokens is complete.
    pub fn deadline_of(&mut self, n: u64) -> Duration {
        let mut due = self.peek();
        for _ in 0..n {
            due = self.advance();
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_cumulative() {
        let mut s = Schedule::new(Duration::from_millis(20), Latency::fixed(5.0), Rng::new(1));
        let got: Vec<_> = (0..4).map(|_| s.advance().as_millis()).collect();
        assert_eq!(got, [20, 25, 30, 35]);
        let mut s = Schedule::new(Duration::from_millis(20), Latency::fixed(5.0), Rng::new(1));
        assert_eq!(s.deadline_of(100), Duration::from_millis(20 + 99 * 5));
    }

    #[test]
    fn stretch_and_delay_move_later_deadlines() {
        let mut s = Schedule::new(Duration::from_millis(20), Latency::fixed(5.0), Rng::new(1));
        s.stretch(3.0, 2.0);
        assert_eq!(s.advance(), Duration::from_millis(60));
        s.delay(Duration::from_millis(100));
        assert_eq!((s.advance().as_millis(), s.advance().as_millis()), (170, 180));
    }

    #[test]
    fn jitter_does_not_accumulate_drift() {
        let mut s = Schedule::new(Duration::ZERO, Latency { ms: 10.0, variance_pct: 50.0 }, Rng::new(9));
        let last = s.deadline_of(10_001);
        let mean_itl = last.as_secs_f64() * 1e3 / 10_000.0;
        assert!((mean_itl - 10.0).abs() < 0.1, "mean ITL {mean_itl}");
    }
}
