//! A stream of pre-rendered SSE events, each due at its own offset from the request's
//! arrival: for streams that are not tokens (partial images, speech audio, assistants runs).
//! Sans-IO like [`crate::sse::TokenStream`]: the connection asks what is due and when to come
//! back. A mid-stream fault is planned once per request ([`TimedEvents::strike`]) and checked
//! once per due batch, never per token.

use std::time::Duration;

use crate::{
    generation::GenSummary,
    openai::chunks::Usage,
    sse::Step,
    state::faults::{Fault, Kind},
};

/// Events in the order they are due.
#[derive(Debug)]
pub struct TimedEvents {
    events: Vec<(Duration, Vec<u8>)>,
    next: usize,
    summary: GenSummary,
    /// A planned mid-stream fault and the event index it strikes before.
    fault: Option<(usize, Fault)>,
    /// Added to every later event's offset by a stall.
    delay: Duration,
}

impl TimedEvents {
    /// No events yet; `summary` is what metrics record for the request.
    pub fn new(summary: GenSummary) -> TimedEvents {
        TimedEvents { events: Vec::new(), next: 0, summary, fault: None, delay: Duration::ZERO }
    }

    /// Plans a mid-stream `fault` after its share of the events (`after=N` events or `at=F` of
    /// them): an `error` event and the end, the end without the closing events, a closed
    /// connection, a stall, or one broken event.
    pub fn strike(&mut self, fault: &Fault) {
        let at = fault.at.resolve(self.events.len() as u64) as usize;
        self.fault = Some((at, *fault));
    }

    /// The planned fault strikes before event `self.next`: `Some` when the stream ends.
    fn fault_strikes(&mut self, fault: &Fault, out: &mut Vec<u8>) -> Option<Step> {
        match fault.kind {
            Kind::Stall => self.delay += fault.delay,
            Kind::Malformed => out.extend_from_slice(b"data: {\"error\": \n\n"),
            Kind::ErrorEvent => {
                // OpenAI's SDK raises `APIError` on an event whose data holds `error`.
                let error = serde_json::json!({"type": "error", "error": {
                    "type": "server_error",
                    "code": "server_error",
                    "message": "The server had an error while processing your request. Sorry about that!",
                    "param": null,
                }});
                out.extend_from_slice(&sse_event("error", &error));
                return Some(Step::Finished);
            }
            Kind::Close => return Some(Step::Abort),
            _ => return Some(Step::Finished), // Truncate: the events so far, then a clean end.
        }
        None
    }

    /// Adds `bytes` (one or more whole SSE events) due `at` after arrival; not earlier than the
    /// event before it.
    pub fn push(&mut self, at: Duration, bytes: Vec<u8>) {
        let at = self.events.last().map_or(at, |(prev, _)| at.max(*prev));
        self.events.push((at, bytes));
    }

    /// Appends every event due by `elapsed`; says when the next is due, or that all were sent
    /// (or a fault ended the stream: [`Step::Abort`] when the connection must close).
    pub fn emit_due(&mut self, elapsed: Duration, out: &mut Vec<u8>) -> Step {
        loop {
            if let Some((at, fault)) = self.fault
                && at == self.next
            {
                self.fault = None;
                if let Some(end) = self.fault_strikes(&fault, out) {
                    self.next = self.events.len();
                    return end;
                }
            }
            let Some((at, bytes)) = self.events.get(self.next) else { return Step::Finished };
            let at = *at + self.delay;
            if at > elapsed {
                return Step::WaitUntil(at);
            }
            out.extend_from_slice(bytes);
            self.next += 1;
        }
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

    fn four_events(fault: &str) -> (TimedEvents, Vec<u8>) {
        let mut ev = TimedEvents::new(media_summary("m".into(), 1, Usage::default(), Duration::ZERO));
        for (i, b) in [b"a", b"b", b"c", b"d"].into_iter().enumerate() {
            ev.push(Duration::from_millis(10 * i as u64), b.to_vec());
        }
        ev.strike(&fault.parse::<Fault>().unwrap());
        (ev, Vec::new())
    }

    #[test]
    fn a_planned_fault_strikes_once_at_its_event() {
        let (mut ev, mut out) = four_events("error_event;after=2");
        assert_eq!(ev.emit_due(Duration::from_secs(1), &mut out), Step::Finished);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("abevent: error\ndata: {\"type\":\"error\",\"error\":{"), "{text}");
        assert_eq!(ev.remaining(), 0);

        let (mut ev, mut out) = four_events("truncate;at=0.75");
        assert_eq!(ev.emit_due(Duration::from_secs(1), &mut out), Step::Finished);
        assert_eq!(out, b"abc");

        let (mut ev, mut out) = four_events("close;after=1");
        assert_eq!(ev.emit_due(Duration::from_secs(1), &mut out), Step::Abort);
        assert_eq!(out, b"a");

        let (mut ev, mut out) = four_events("malformed;after=3");
        assert_eq!(ev.emit_due(Duration::from_secs(1), &mut out), Step::Finished);
        assert_eq!(out, b"abcdata: {\"error\": \n\nd", "one broken event, then the rest");

        let (mut ev, mut out) = four_events("stall;ms=100;after=2");
        let ms = Duration::from_millis;
        assert_eq!(ev.emit_due(ms(25), &mut out), Step::WaitUntil(ms(120)), "c was due at 20 ms");
        assert_eq!(ev.emit_due(ms(120), &mut out), Step::WaitUntil(ms(130)));
        assert_eq!(ev.emit_due(ms(130), &mut out), Step::Finished);
        assert_eq!(out, b"abcd");
    }
}
