//! A stream of pre-rendered SSE events, each due at its own offset from the request's
//! arrival: for streams that are not tokens (partial images). Sans-IO like
//! [`crate::sse::TokenStream`]: the connection asks what is due and when to come back.

use std::time::Duration;

use crate::{generation::GenSummary, openai::chunks::Usage, sse::Step};

/// Events in the order they are due.
#[derive(Debug)]
pub struct TimedEvents {
    events: Vec<(Duration, Vec<u8>)>,
    next: usize,
    summary: GenSummary,
}

impl TimedEvents {
    /// No events yet; `summary` is what metrics record for the request.
    pub fn new(summary: GenSummary) -> TimedEvents {
        TimedEvents { events: Vec::new(), next: 0, summary }
    }

    /// Adds `bytes` (one or more whole SSE events) due `at` after arrival; not earlier than the
    /// event before it.
    pub fn push(&mut self, at: Duration, bytes: Vec<u8>) {
        let at = self.events.last().map_or(at, |(prev, _)| at.max(*prev));
        self.events.push((at, bytes));
    }

    /// Appends every event due by `elapsed`; says when the next is due, or that all were sent.
    pub fn emit_due(&mut self, elapsed: Duration, out: &mut Vec<u8>) -> Step {
        while let Some((at, bytes)) = self.events.get(self.next) {
            if *at > elapsed {
                return Step::WaitUntil(*at);
            }
            out.extend_from_slice(bytes);
            self.next += 1;
        }
        Step::Finished
    }

    /// Events not yet sent.
    pub fn remaining(&self) -> usize {
        self.events.len() - self.next
    }

    /// What metrics record.
    pub fn summary(&self) -> &GenSummary {
        &self.summary
    }
}

/// What metrics record for a request that makes media, not tokens: its model, its token usage
/// where the API reports one, and when the result is due. Nothing counts as generated tokens.
pub fn media_summary(model: String, context_window: u64, usage: Usage, due: Duration) -> GenSummary {
    GenSummary {
        model,
        usage,
        max_tokens: None,
        context_window,
        finish_reason: "stop",
        first_token: due,
        longest: 0,
        generated: 0,
        user: None,
        bill: None,
        engine: None,
    }
}

/// One SSE event with an `event:` name and a JSON `data:` line.
pub fn sse_event(name: &str, data: &serde_json::Value) -> Vec<u8> {
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_what_is_due_and_says_when_to_return() {
        let mut ev = TimedEvents::new(media_summary("m".into(), 1, Usage::default(), Duration::ZERO));
        ev.push(Duration::from_millis(10), b"a".to_vec());
        ev.push(Duration::from_millis(5), b"b".to_vec());
        ev.push(Duration::from_millis(30), b"c".to_vec());
        let mut out = Vec::new();
        assert_eq!(ev.emit_due(Duration::ZERO, &mut out), Step::WaitUntil(Duration::from_millis(10)));
        assert!(out.is_empty());
        assert_eq!(ev.emit_due(Duration::from_millis(12), &mut out), Step::WaitUntil(Duration::from_millis(30)));
        assert_eq!(out, b"ab", "an event is never due before the one pushed ahead of it");
        assert_eq!(ev.emit_due(Duration::from_millis(31), &mut out), Step::Finished);
        assert_eq!((out.as_slice(), ev.remaining()), (&b"abc"[..], 0));
    }
}
