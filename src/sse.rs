//! The token stream of one SSE response: a sans-IO state machine that, given the time since
//! the request arrived, appends every event already due (coalescing late ones into one
//! write) and says when the next one is due.

use std::time::Duration;

use crate::{
    generation::{Answer, Plan},
    openai::{
        chunks::{ChunkWriter, Extras, Flavor},
        logprobs::Logprobs,
        responses::{events::Answer as ResponsesAnswer, object::Status},
    },
    state::faults::{Fault, Kind},
    tokens::ScriptEvent,
};

/// Bytes of due events rendered before they are written: the rest wait for the next wake (at
/// once, being due). Without a bound, a client that never read a stream whose tokens were all due
/// (`itl=0`) held the whole rendered stream in memory until the send timeout, ~15 MB for 60,000
/// tokens; with it, a connection holds at most this plus one position's events.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// What the writer should do after an `emit_due` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Sleep until this offset from the request's arrival, then call again.
    WaitUntil(Duration),
    /// The stream is complete (finish chunk, usage, `[DONE]` appended), or ended early by a
    /// fault that still ends the HTTP response cleanly.
    Finished,
    /// A fault: close the connection now, without ending the response.
    Abort,
}

/// One streaming response in progress.
#[derive(Debug)]
pub struct TokenStream {
    plan: Plan,
    writer: ChunkWriter,
    /// Tokens to emit over all choices, and those not yet emitted.
    total: u64,
    left: u64,
    /// Deadlines passed so far (tokens emitted per choice that is still going).
    position: u64,
    longest: u64,
    /// Where emitting stops: `longest`, or the event a mid-stream fault strikes after.
    stop: u64,
    /// The mid-stream fault that strikes at `stop`.
    fault: Option<Box<Fault>>,
    finished: bool,
    /// Per choice: its logprob source and where its next token starts in its text (when the
    /// request asked for logprobs), or no source (an obfuscated stream's chunks then carry
    /// `logprobs: null` through the general encoding, which pads them).
    logprobs: Vec<(Option<Logprobs>, usize)>,
    /// Reused buffer for one chunk's logprobs JSON.
    scratch: Vec<u8>,
    /// TGI: how the last event is finished.
    tgi_end: Option<Box<crate::openai::tgi::Ending>>,
}

impl TokenStream {
    /// A stream that will emit `plan`'s tokens on `plan`'s schedule.
    pub fn new(plan: Plan) -> Self {
        let mut writer = match &plan.responses {
            Some(params) => ChunkWriter::responses(&plan.meta, params, plan.done_at()),
            None => ChunkWriter::new(plan.flavor, &plan.meta),
        };
        if let Some(seed) = plan.obfuscation {
            writer = writer.obfuscated(seed);
        }
        if plan.audio.is_some() {
            writer = writer.speaking();
        }
        let left = plan.generated();
        let longest = plan.longest();
        let echoed = plan.echo.as_ref().map_or(0, String::len);
        let logprobs = match (plan.logprobs, plan.obfuscation) {
            (Some(top), _) => plan.choices.iter().map(|c| (Some(Logprobs::new(c.seed, top)), echoed)).collect(),
            (None, Some(_)) => plan.choices.iter().map(|_| (None, echoed)).collect(),
            (None, None) => Vec::new(),
        };
        TokenStream {
            plan,
            writer,
            total: left,
            left,
            position: 0,
            longest,
            stop: longest,
            fault: None,
            finished: false,
            logprobs,
            scratch: Vec::new(),
            tgi_end: None,
        }
    }

    /// Plans a mid-stream `fault`, to strike after its share of this stream's token events.
    pub fn strike(&mut self, fault: &Fault) {
        self.stop = fault.at.resolve(self.longest);
        self.fault = Some(Box::new(*fault));
    }

    /// A latency spike: TTFT times `ttft`, every inter-token gap times `itl`.
    pub fn stretch(&mut self, ttft: f64, itl: f64) {
        self.plan.schedule.stretch(ttft, itl);
    }

    /// A TGI stream, finished by `end`.
    pub fn with_tgi_end(mut self, end: crate::openai::tgi::Ending) -> Self {
        self.tgi_end = Some(Box::new(end));
        self
    }

    /// Appends the opening (role) chunks, sent with the response head.
    pub fn open(&self, out: &mut Vec<u8>) {
        let thinking = self.plan.choices[0].reasoning > 0;
        let calls = self.calls_tools(0);
        match self.plan.flavor {
            Flavor::Messages => {
                return self.writer.messages_open(thinking, !calls, self.plan.usage, self.plan.prompt_cache, out);
            }
            Flavor::Responses => return self.writer.responses_open(thinking, calls, out),
            _ => {}
        }
        for index in 0..self.plan.choices.len() {
            self.writer.role(index, out);
            if let Some(prompt) = &self.plan.echo {
                self.writer.content(index, prompt, out);
            }
        }
    }

    /// Appends every event due by `elapsed`; `on_lateness` gets each event's delay past its
    /// deadline. Choices share deadlines and interleave by index; each choice's end rides with its
    /// last token, and the closing events with the very last.
    pub fn emit_due(&mut self, elapsed: Duration, out: &mut Vec<u8>, mut on_lateness: impl FnMut(Duration)) -> Step {
        self.plan.schedule.sync(elapsed);
        while self.position < self.stop && self.plan.schedule.peek() <= elapsed && out.len() < MAX_BATCH_BYTES {
            let due = self.plan.schedule.advance();
            for index in 0..self.plan.choices.len() {
                let choice = &self.plan.choices[index];
                if self.position >= choice.length {
                    continue;
                }
                on_lateness(elapsed - due);
                if self.position < choice.reasoning {
                    let token = self.plan.choices[index].thought.next_token();
                    self.writer.reasoning(index, token, out);
                } else {
                    if self.position == choice.reasoning && choice.reasoning > 0 {
                        self.answer_starts(index, out);
                    }
                    self.answer_token(index, out);
                }
                self.left -= 1;
                if self.position + 1 == self.plan.choices[index].length {
                    self.choice_done(index, out);
                }
            }
            self.position += 1;
        }
        if self.position < self.stop {
            return Step::WaitUntil(self.plan.schedule.peek());
        }
        if let Some(fault) = self.fault.take() {
            return self.fault_strikes(&fault, out);
        }
        if !self.finished {
            self.finished = true;
            self.close(out);
        }
        Step::Finished
    }

    /// The planned fault strikes: the stream ends (with an error event, truncated, or by a
    /// closed connection), or goes on after a stall or a broken chunk.
    fn fault_strikes(&mut self, fault: &Fault, out: &mut Vec<u8>) -> Step {
        self.stop = self.longest;
        match fault.kind {
            Kind::Stall => self.plan.schedule.delay(fault.delay),
            Kind::Malformed => self.writer.malformed(out),
            kind => {
                self.finished = true;
                if kind == Kind::ErrorEvent {
                    self.writer.error_event(out);
                }
                return if kind == Kind::Close { Step::Abort } else { Step::Finished };
            }
        }
        if self.position < self.stop {
            Step::WaitUntil(self.plan.schedule.peek())
        } else {
            Step::WaitUntil(Duration::ZERO)
        }
    }

    /// The next answer token of choice `index`: text, or the next event of its script.
    fn answer_token(&mut self, index: usize, out: &mut Vec<u8>) {
        let legacy = self.plan.legacy_functions;
        let usage = self.plan.continuous_usage.then(|| {
            let done = self.total - self.left + 1;
            (self.plan.usage.prompt_tokens, done)
        });
        let Self { plan, writer, logprobs, scratch, .. } = self;
        let token = match &mut plan.choices[index].answer {
            Answer::Text(text) => text.next_token(),
            Answer::Script(script) => match script.tick() {
                None => return,
                Some(ScriptEvent::Content(token)) => token,
                Some(ScriptEvent::CallStart { call, id, name }) => {
                    return writer.tool_call_start(index, call, id, name, legacy, out);
                }
                Some(ScriptEvent::CallArgs { call, fragment }) => {
                    return writer.tool_call_args(index, call, fragment, legacy, out);
                }
            },
        };
        scratch.clear();
        if let Some((source, offset)) = logprobs.get_mut(index) {
            match (source, plan.flavor) {
                (None, _) => scratch.extend_from_slice(b"null"),
                (Some(source), Flavor::Completion) => source.completion_chunk(token, *offset, scratch),
                (Some(source), _) => source.chat_chunk(token, scratch),
            }
            *offset += token.len();
        }
        writer.content_with(index, token, Extras { logprobs: scratch, usage }, out);
    }

    /// Whether choice `index` answers with tool calls.
    fn calls_tools(&self, index: usize) -> bool {
        matches!(&self.plan.choices[index].answer, Answer::Script(s) if s.is_tool_calls())
    }

    /// A reasoning choice's answer begins: dialects with separate reasoning items switch items.
    fn answer_starts(&self, index: usize, out: &mut Vec<u8>) {
        match self.plan.flavor {
            Flavor::Messages => {
                let signature = crate::openai::anthropic::events::signature(&self.plan.meta.id);
                self.writer.messages_answer_starts(!self.calls_tools(index), &signature, out)
            }
            Flavor::Responses => self.writer.responses_answer_starts(&self.plan.choices[index].reasoning_text(), out),
            Flavor::Chat | Flavor::Completion | Flavor::Tgi | Flavor::TokenIds(_) => {}
        }
    }

    /// A choice sent its last token: OpenAI's chunk dialects send its finish chunk now.
    fn choice_done(&self, index: usize, out: &mut Vec<u8>) {
        match self.plan.flavor {
            Flavor::Chat | Flavor::Completion => {
                if let Some(audio) = &self.plan.audio {
                    let (meta, choice) = (&self.plan.meta, &self.plan.choices[index]);
                    for delta in audio.stream_deltas(&meta.id, index, meta.created, &choice.answer_text()) {
                        self.writer.audio(index, &delta, out);
                    }
                }
                self.writer.finish(index, self.plan.choices[index].finish_reason, out)
            }
            // vLLM's token stream names the reason on the chunk with the choice's last token.
            Flavor::TokenIds(_) => {
                crate::openai::vllm_generate::finish_last_chunk(self.plan.choices[index].finish_reason, out)
            }
            _ => {}
        }
    }

    /// The closing events of each dialect.
    fn close(&self, out: &mut Vec<u8>) {
        let first = &self.plan.choices[0];
        match self.plan.flavor {
            Flavor::Chat | Flavor::Completion => {
                for (index, choice) in self.plan.choices.iter().enumerate().filter(|(_, c)| c.length == 0) {
                    self.writer.finish(index, choice.finish_reason, out);
                }
                if self.plan.include_usage {
                    self.writer.usage(self.plan.usage, out);
                }
                ChunkWriter::done(out);
            }
            Flavor::Responses => {
                let reasoning = (first.reasoning > 0).then(|| first.reasoning_text());
                let (calls, text) = (first.tool_calls(), first.answer_text());
                let answer =
                    if calls.is_empty() { ResponsesAnswer::Text(&text) } else { ResponsesAnswer::Calls(&calls) };
                let status = Status::ended(first.finish_reason);
                self.writer.responses_finish(reasoning.as_deref(), &answer, status, self.plan.usage, out);
            }
            Flavor::Messages => {
                let (usage, cache) = (self.plan.usage, self.plan.prompt_cache);
                let end = (first.finish_reason, first.stop_sequence.as_deref());
                self.writer.messages_finish(end, first.length, usage, cache, out)
            }
            Flavor::TokenIds(_) => {
                let usage = self.plan.include_usage.then_some(self.plan.usage);
                crate::openai::vllm_generate::close(&self.plan.meta.id, usage, out);
            }
            Flavor::Tgi => {
                if let Some(end) = &self.tgi_end {
                    end.finish_stream(first, out);
                }
            }
        }
    }

    /// The facts about this generation that metrics record.
    pub fn summary(&self) -> crate::generation::GenSummary {
        self.plan.summary()
    }

    /// Tokens not yet emitted.
    pub fn remaining(&self) -> u64 {
        self.left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        generation::Choice,
        openai::chunks::{ResponseMeta, Usage},
        rng::Rng,
        sim::{Latency, Schedule},
        tokens::TextGen,
    };

    /// One reasoning choice of `n` tokens, half of them reasoning.
    fn stream(n: u64, include_usage: bool) -> TokenStream {
        choices(&[n], include_usage, true)
    }

    fn choices(lengths: &[u64], include_usage: bool, reasons: bool) -> TokenStream {
        let half = |l: u64| if reasons { l / 2 } else { 0 };
        let choices = lengths.iter().enumerate().map(|(i, &length)| Choice {
            seed: i as u64,
            thought_seed: 99,
            answer: Answer::Text(TextGen::new(i as u64)),
            thought: TextGen::new(99),
            reasoning: half(length),
            length,
            finish_reason: "length",
            stop_sequence: None,
        });
        TokenStream::new(Plan {
            flavor: Flavor::Chat,
            meta: ResponseMeta { id: "chatcmpl-x".into(), created: 1, model: "m".into(), fingerprint: "fp".into() },
            usage: Usage {
                prompt_tokens: 2,
                completion_tokens: lengths.iter().sum(),
                reasoning_tokens: lengths.iter().map(|&l| half(l)).sum(),
                ..Usage::default()
            },
            choices: choices.collect(),
            reasons,
            include_usage,
            schedule: Schedule::new(Duration::from_millis(10), Latency::fixed(5.0), Rng::new(1)),
            max_tokens: lengths.iter().max().copied(),
            context_window: 8192,
            legacy_functions: false,
            logprobs: None,
            echo: None,
            continuous_usage: false,
            user: None,
            prompt_cache: Default::default(),
            responses: None,
            obfuscation: None,
            audio: None,
            payer: crate::state::usage::Payer::anonymous(),
            kv: Default::default(),
        })
    }

    fn count(out: &[u8], needle: &str) -> usize {
        std::str::from_utf8(out).unwrap().matches(needle).count()
    }

    #[test]
    fn emits_on_schedule() {
        let mut s = stream(3, true);
        let mut out = Vec::new();
        s.open(&mut out);
        let ms = Duration::from_millis;
        assert_eq!(s.emit_due(ms(9), &mut out, |_| {}), Step::WaitUntil(ms(10)));
        assert_eq!(s.emit_due(ms(10), &mut out, |_| {}), Step::WaitUntil(ms(15)));
        assert_eq!(s.emit_due(ms(15), &mut out, |_| {}), Step::WaitUntil(ms(20)));
        assert_eq!(count(&out, "\"content\":\""), 2, "role chunk + 1 answer token");
        assert_eq!(count(&out, "\"reasoning_content\":\""), 1, "reasoning first");
        assert_eq!(s.emit_due(ms(20), &mut out, |_| {}), Step::Finished);
        assert_eq!(count(&out, "\"finish_reason\":\"length\""), 1);
        assert_eq!(count(&out, "\"usage\""), 1);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
        let before = out.len();
        assert_eq!(s.emit_due(ms(99), &mut out, |_| {}), Step::Finished);
        assert_eq!(out.len(), before, "nothing after the end");
    }

    #[test]
    fn choices_interleave_and_finish_separately() {
        let mut s = choices(&[1, 3, 0], true, false);
        let mut out = Vec::new();
        s.open(&mut out);
        assert_eq!(count(&out, "\"role\":\"assistant\""), 3);
        out.clear();
        assert_eq!(s.emit_due(Duration::from_millis(10), &mut out, |_| {}), Step::WaitUntil(Duration::from_millis(15)));
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.find("\"index\":0,\"delta\":{\"content\"").unwrap()
                < text.find("\"index\":1,\"delta\":{\"content\"").unwrap()
        );
        assert_eq!(count(&out, "\"finish_reason\":\"length\""), 1, "choice 0 ends with its only token");
        assert_eq!(s.emit_due(Duration::from_millis(20), &mut out, |_| {}), Step::Finished);
        assert_eq!(
            count(&out, "\"finish_reason\":\"length\""),
            3,
            "choice 1 at its last token, empty choice 2 at the end"
        );
        assert_eq!(count(&out, "\"usage\""), 1);
        assert_eq!(s.remaining(), 0);
    }

    #[test]
    fn a_planned_fault_strikes_once_at_its_event() {
        let fault = |spec: &str| spec.parse::<Fault>().unwrap();
        let late = Duration::from_secs(1);
        let mut s = choices(&[6], true, false);
        s.strike(&fault("error_event;after=2"));
        let mut out = Vec::new();
        assert_eq!(s.emit_due(late, &mut out, |_| {}), Step::Finished);
        assert_eq!(count(&out, "\"content\":\""), 2);
        assert!(out.ends_with(b"\"code\":null}}\n\n") && count(&out, "[DONE]") == 0);
        assert_eq!(s.emit_due(late, &mut out, |_| {}), Step::Finished, "nothing more");

        let mut s = choices(&[6], true, false);
        s.strike(&fault("close;at=0.5"));
        assert_eq!(s.emit_due(late, &mut Vec::new(), |_| {}), Step::Abort);
        assert_eq!(s.remaining(), 3);

        let mut s = choices(&[4], true, false);
        s.strike(&fault("stall;ms=100;after=1"));
        let mut out = Vec::new();
        let ms = Duration::from_millis;
        assert_eq!(s.emit_due(ms(10), &mut out, |_| {}), Step::WaitUntil(ms(115)), "the next token 100 ms later");
        assert_eq!(s.emit_due(ms(200), &mut out, |_| {}), Step::Finished);
        assert!(out.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn a_wake_renders_a_bounded_batch_and_the_rest_at_the_next() {
        let tokens = 20_000;
        let mut s = choices(&[tokens], false, false);
        let (mut out, mut wakes, mut largest) = (Vec::new(), 0, 0);
        let all_due = Duration::from_secs(3600);
        while s.emit_due(all_due, &mut out, |_| {}) != Step::Finished {
            largest = largest.max(out.len());
            out.clear();
            wakes += 1;
        }
        assert!((MAX_BATCH_BYTES..MAX_BATCH_BYTES + 1024).contains(&largest), "{largest}");
        assert!(wakes > 1, "{tokens} tokens of ~150 bytes take several batches");
        assert_eq!(s.remaining(), 0);
    }

    #[test]
    fn late_events_coalesce_and_report_lateness() {
        let mut s = stream(4, false);
        let mut out = Vec::new();
        let mut late = Vec::new();
        assert_eq!(s.emit_due(Duration::from_millis(40), &mut out, |d| late.push(d.as_millis())), Step::Finished);
        assert_eq!(late, [30, 25, 20, 15]);
        assert_eq!(count(&out, "data: "), 4 + 1 + 1);
        assert_eq!(count(&out, "\"usage\""), 0);
    }
}
