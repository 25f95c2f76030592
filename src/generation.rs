//! From a validated request to a generation plan: output length, finish reason and the
//! token schedule. Pure: the caller supplies randomness and the clock.

use std::time::Duration;

use crate::{
    audio::chat::AudioOut,
    openai::{
        anthropic::cache::CacheUsage,
        chunks::{Flavor, ResponseMeta, Usage},
        models::ModelInfo,
        request::GenRequest,
        responses::object::Params as ResponseParams,
        tools::{AutoToolCalls, Format},
    },
    rng::Rng,
    sim::{Latency, LengthDist, Schedule, profile_for},
    tokens::{Encoding, Script, TextGen, json_gen::JsonGen},
};

/// Default timing when neither the command line nor a model profile sets it (FakeAI's).
const DEFAULT_TTFT: Latency = Latency { ms: 20.0, variance_pct: 10.0 };
const DEFAULT_ITL: Latency = Latency { ms: 5.0, variance_pct: 10.0 };
/// Prompt tokens that prefill for free before `prefill_tps` starts to cost.
const FREE_PREFILL_TOKENS: u64 = 100;

/// Timing and length settings for every generation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Explicit TTFT; overrides model profiles.
    pub ttft: Option<Latency>,
    /// Explicit ITL; overrides model profiles.
    pub itl: Option<Latency>,
    /// Explicit prefill speed (prompt tokens/s, 0 = free); overrides model profiles.
    pub prefill_tps: Option<f64>,
    /// Use per-model latency presets for settings not given explicitly.
    pub latency_profiles: bool,
    /// Natural output-length distribution.
    pub output_len: LengthDist,
    /// Whether non-streaming responses wait TTFT + (n−1)·ITL.
    pub non_streaming_delay: bool,
    /// `system_fingerprint` of responses without a seed.
    pub fingerprint: String,
    /// Model-name patterns of reasoning models (see [`is_reasoning_model`]).
    pub reasoning_models: Vec<String>,
    /// The tokenizer that splits fixed output (JSON, tool calls) into tokens.
    pub encoding: Encoding,
    /// When `tool_choice: auto` calls a tool.
    pub auto_tool_calls: AutoToolCalls,
    /// Chat streams carry OpenAI's `obfuscation` padding unless the request turns it off.
    pub stream_obfuscation: bool,
}

/// Whether `model` reasons: it contains one of `patterns` (case-insensitive), or, for a pattern
/// written `^p`, the last `/`-separated part of its name starts with `p`.
pub fn is_reasoning_model(model: &str, patterns: &[String]) -> bool {
    let lower = model.to_ascii_lowercase();
    let last = lower.rsplit('/').next().unwrap_or(&lower);
    patterns.iter().any(|p| match p.strip_prefix('^') {
        Some(prefix) => last.starts_with(&prefix.to_ascii_lowercase()),
        None => lower.contains(&p.to_ascii_lowercase()),
    })
}

/// What the metrics need to know about a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSummary {
    /// Model name as requested.
    pub model: String,
    /// Token counts.
    pub usage: Usage,
    /// `max_tokens` as requested.
    pub max_tokens: Option<u64>,
    /// The model's context window (sizes token histograms).
    pub context_window: u64,
    /// `stop` or `length` (of the first choice).
    pub finish_reason: &'static str,
    /// When the first token is due, from arrival.
    pub first_token: Duration,
    /// Tokens of the longest choice.
    pub longest: u64,
    /// Tokens generated over all choices (usage may also bill rejected predictions).
    pub generated: u64,
    /// The request's `user` field.
    pub user: Option<String>,
    /// What the usage ledger bills at its end (`None`: its handler recorded it already).
    /// Boxed: the summary travels in every reply.
    pub bill: Option<Box<crate::state::usage::Bill>>,
    /// With an engine: when the whole reply is complete (it holds the sequence until dropped).
    pub engine: Option<crate::sim::engine::local::Completion>,
}

/// What a choice answers with, after any reasoning.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Free text from the vocabulary, replayable from the choice's seed.
    Text(TextGen),
    /// Fixed output: JSON content, tool calls, or predicted content.
    Script(Script),
}

/// One of the `n` choices of a response.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Seed of its answer text (to replay it).
    pub seed: u64,
    /// Seed of its reasoning text.
    pub thought_seed: u64,
    /// Its answer.
    pub answer: Answer,
    /// Its reasoning's text generator.
    pub thought: TextGen,
    /// Tokens of reasoning, sent first.
    pub reasoning: u64,
    /// Its length in tokens, reasoning included.
    pub length: u64,
    /// `stop`, `length`, `tool_calls` or `function_call`.
    pub finish_reason: &'static str,
    /// The stop sequence that ended it, if one did.
    pub stop_sequence: Option<String>,
}

impl Choice {
    /// Its whole reasoning text, replayed from the seed.
    pub fn reasoning_text(&self) -> String {
        replay(self.thought_seed, self.reasoning)
    }

    /// Its whole answer text (empty for tool calls), replayed from the seed.
    pub fn answer_text(&self) -> String {
        match &self.answer {
            Answer::Text(_) => replay(self.seed, self.length - self.reasoning),
            Answer::Script(script) => script.content_text().to_owned(),
        }
    }

    /// Its answer's tokens, one string each (tool calls have none).
    pub fn answer_tokens(&self) -> Vec<String> {
        match &self.answer {
            Answer::Text(_) => {
                let mut text = TextGen::new(self.seed);
                (self.reasoning..self.length).map(|_| text.next_token().to_owned()).collect()
            }
            Answer::Script(script) => script.content_pieces().map(str::to_owned).collect(),
        }
    }

    /// Its tool calls as (id, name, arguments).
    pub fn tool_calls(&self) -> Vec<(String, String, String)> {
        match &self.answer {
            Answer::Script(s) => s.calls().map(|(i, n, a)| (i.to_owned(), n.to_owned(), a.to_owned())).collect(),
            Answer::Text(_) => Vec::new(),
        }
    }
}

fn replay(seed: u64, tokens: u64) -> String {
    let mut text = String::with_capacity(tokens as usize * 7);
    TextGen::new(seed).push_tokens(tokens as usize, &mut text);
    text
}

/// Everything needed to produce one response.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Endpoint shape.
    pub flavor: Flavor,
    /// Response identity.
    pub meta: ResponseMeta,
    /// Exact token counts; `completion_tokens` sums the choices' lengths.
    pub usage: Usage,
    /// The choices, by index; they share one token schedule (decoded in the same batch).
    pub choices: Vec<Choice>,
    /// The model reasons before answering.
    pub reasons: bool,
    /// Send the usage chunk when streaming.
    pub include_usage: bool,
    /// Token deadlines from the request's arrival.
    pub schedule: Schedule,
    /// `max_tokens` as requested.
    pub max_tokens: Option<u64>,
    /// The model's context window.
    pub context_window: u64,
    /// Tool calls take the legacy `function_call` shape.
    pub legacy_functions: bool,
    /// Log-probabilities with this many alternatives per token.
    pub logprobs: Option<u32>,
    /// Completions' `echo`: the prompt, sent first.
    pub echo: Option<String>,
    /// Running usage in every chunk.
    pub continuous_usage: bool,
    /// The request's `user` field, for per-user metrics.
    pub user: Option<String>,
    /// How the prompt met the prompt cache (Anthropic's `cache_control`).
    pub prompt_cache: CacheUsage,
    /// Responses API: what the response object echoes (a reasoning model's effort defaulted).
    pub responses: Option<Box<ResponseParams>>,
    /// Chat streams: pad each chunk with `obfuscation`, from this seed.
    pub obfuscation: Option<u64>,
    /// Chat audio output: each choice's answer is also spoken.
    pub audio: Option<AudioOut>,
    /// Who its usage is billed to (the request's payer, decided at admission).
    pub payer: std::sync::Arc<crate::state::usage::Payer>,
    /// Its KV-cache blocks (none until the prefix cache admits it).
    pub kv: crate::state::kv::Held,
}

impl Plan {
    /// The facts about this generation that metrics record.
    pub fn summary(&self) -> GenSummary {
        GenSummary {
            model: self.meta.model.clone(),
            usage: self.usage,
            max_tokens: self.max_tokens,
            context_window: self.context_window,
            finish_reason: self.choices[0].finish_reason,
            first_token: self.schedule.peek(),
            longest: self.longest(),
            generated: self.generated(),
            user: self.user.clone(),
            bill: Some(Box::new(crate::state::usage::Bill {
                payer: self.payer.clone(),
                cached_tokens: self.prompt_cache.read + self.usage.cached_tokens,
                kv: self.kv.clone(),
            })),
            engine: self.schedule.completion(self.longest()),
        }
    }

    /// When the last token is due, from the request's arrival: how long generation takes.
    pub fn duration(&self) -> Duration {
        self.schedule.clone().deadline_of(self.longest())
    }

    /// When the last token is due, in unix seconds (rounded): when generation is complete.
    pub fn done_at(&self) -> u64 {
        self.meta.created + self.duration().as_secs_f64().round() as u64
    }

    /// Tokens generated over all choices.
    pub fn generated(&self) -> u64 {
        self.choices.iter().map(|c| c.length).sum()
    }

    /// Tokens of the longest choice: how many deadlines the schedule has.
    pub fn longest(&self) -> u64 {
        self.choices.iter().map(|c| c.length).max().unwrap_or(0)
    }

    /// Each choice's whole (reasoning, answer) text, for non-streaming responses.
    pub fn full_texts(&self) -> Vec<(Option<String>, String)> {
        self.choices.iter().map(|c| (self.reasons.then(|| c.reasoning_text()), c.answer_text())).collect()
    }
}

impl SimConfig {
    /// When a whole (non-streaming) reply is sent: once its last token or result is due at
    /// `last_due`, or at once when `--non-streaming-delay` is off.
    pub fn whole_reply_after(&self, last_due: Duration) -> Duration {
        if self.non_streaming_delay { last_due } else { Duration::ZERO }
    }

    /// Plans a response to `req` for `model`; `rng` supplies ids, jitter and unseeded text.
    pub fn plan(&self, flavor: Flavor, req: &GenRequest, model: &ModelInfo, rng: &mut Rng, unix_now: u64) -> Plan {
        // Without max_tokens, vLLM generates up to the rest of the context window.
        let room = model.context_window.saturating_sub(req.prompt_tokens);
        let cap = req.max_tokens.unwrap_or(model.max_output_tokens.min(room)).max(1);
        crate::metrics::engine_extra::note_n(&req.model, req.n);
        crate::metrics::engine_extra::note_media(&req.model, &req.media);
        let (text_seed, fingerprint) = match req.seed {
            Some(seed) => (seed, format!("fp_{:016x}", Rng::new(seed).next_u64())),
            None => (rng.next_u64(), self.fingerprint.clone()),
        };
        let chat_like = matches!(flavor, Flavor::Chat | Flavor::Messages | Flavor::Responses);
        let reasons =
            chat_like && req.thinking.unwrap_or_else(|| is_reasoning_model(&req.model, &self.reasoning_models));
        let budget = req.reasoning_budget.unwrap_or(u64::MAX);
        let id_prefix = if flavor == Flavor::Messages { "toolu_01" } else { "call_" };
        let share = if reasons { req.reasoning_share } else { 0.0 };
        let mut accepted = 0;
        let mut choices: Vec<Choice> = (0..req.n)
            .map(|i| {
                let seed = text_seed.wrapping_add(i);
                let natural = self.output_len.sample(rng);
                match self.script(req, seed, natural, id_prefix, rng) {
                    Some((script, predicted)) => {
                        accepted += predicted;
                        self.scripted_choice(script, cap, (share, budget), seed, natural)
                    }
                    None => self.choice(req, cap, (share, budget), seed, natural),
                }
            })
            .collect();
        if req.structure.legacy {
            choices
                .iter_mut()
                .filter(|c| c.finish_reason == "tool_calls")
                .for_each(|c| c.finish_reason = "function_call");
        }
        let generated: u64 = choices.iter().map(|c| c.length).sum();
        let reasoning_tokens = choices.iter().map(|c| c.reasoning).sum();
        let predicted = req.prediction.as_deref().map_or(0, |p| self.encoding.count(p) as u64 * req.n);
        let rejected = predicted.saturating_sub(accepted);
        // Audio answers bill the spoken transcript on top of its text tokens, as OpenAI does.
        let audio_tokens: u64 = match &req.audio {
            Some(_) => choices.iter().map(|c| AudioOut::tokens(&c.answer_text())).sum(),
            None => 0,
        };
        let (ttft, itl) = self.timing(&req.model, req.prompt_tokens, rng);
        let prefix = match flavor {
            Flavor::Chat => "chatcmpl-",
            Flavor::Completion | Flavor::Tgi => "cmpl-",
            Flavor::Messages => "msg_",
            Flavor::Responses => "resp_",
            Flavor::TokenIds(_) => "generate-tokens-",
        };
        Plan {
            flavor,
            meta: ResponseMeta {
                id: format!("{prefix}{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
                created: unix_now,
                model: req.model.clone(),
                fingerprint,
            },
            usage: Usage {
                prompt_tokens: req.prompt_tokens,
                cached_tokens: 0,
                completion_tokens: generated + rejected + audio_tokens,
                reasoning_tokens,
                prompt_audio_tokens: req.prompt_audio_tokens,
                accepted_prediction_tokens: accepted,
                rejected_prediction_tokens: rejected,
                completion_audio_tokens: audio_tokens,
            },
            choices,
            reasons,
            include_usage: req.include_usage,
            schedule: Schedule::new(ttft, itl, Rng::new(rng.next_u64())),
            max_tokens: req.max_tokens,
            context_window: model.context_window,
            legacy_functions: req.structure.legacy,
            logprobs: req.logprobs,
            echo: req.echo.clone(),
            continuous_usage: req.continuous_usage,
            user: req.user.clone(),
            prompt_cache: req.prompt_cache,
            responses: req.responses.clone().map(|mut params| {
                if reasons {
                    params.reasoning.effort.get_or_insert_with(|| "medium".to_owned());
                }
                params
            }),
            // Drawn last, and only when on, so that it changes no other random choice.
            obfuscation: (flavor == Flavor::Chat && req.stream && req.obfuscation && self.stream_obfuscation)
                .then(|| rng.next_u64()),
            audio: req.audio.clone(),
            payer: crate::state::usage::payer(),
            kv: Default::default(),
        }
    }

    /// The fixed output a choice must produce, if any, and how many predicted tokens it reuses:
    /// tool calls when the tool choice calls for them, else JSON for a `response_format`, else
    /// the predicted output (its first three quarters kept, the rest rewritten).
    fn script(
        &self,
        req: &GenRequest,
        seed: u64,
        natural: u64,
        id_prefix: &str,
        rng: &mut Rng,
    ) -> Option<(Script, u64)> {
        let structure = &req.structure;
        let calls = structure.calls(self.auto_tool_calls);
        if !calls.is_empty() {
            let calls = calls
                .iter()
                .enumerate()
                .map(|(k, &tool)| {
                    let def = &structure.tools[tool];
                    let args = JsonGen::new(&def.parameters, seed.wrapping_add(k as u64)).instance();
                    (call_id(rng, id_prefix), def.name.clone(), args.to_string())
                })
                .collect();
            return Some((Script::tool_calls(calls, self.encoding), 0));
        }
        let json = match &structure.format {
            Format::Text => None,
            Format::JsonObject => {
                let words = natural.saturating_sub(6).max(1) as usize;
                let mut text = String::new();
                TextGen::new(seed).push_tokens(words, &mut text);
                Some(serde_json::json!({ "result": text }))
            }
            Format::JsonSchema(schema) => Some(JsonGen::new(schema, seed).instance()),
        };
        if let Some(json) = json {
            return Some((Script::content(json.to_string(), self.encoding), 0));
        }
        let predicted = req.prediction.as_deref()?;
        let ends = self.encoding.token_ends(predicted);
        let kept = ends.len() * 3 / 4;
        let mut text = predicted[..kept.checked_sub(1).map_or(0, |i| ends[i])].to_owned();
        TextGen::new(seed).push_tokens(natural.saturating_sub(kept as u64).max(1) as usize, &mut text);
        Some((Script::content(text, self.encoding), kept as u64))
    }

    /// A choice that replays `script` after its reasoning (the `share` of its natural length, at
    /// most `budget`); `max_tokens` cuts it short.
    fn scripted_choice(
        &self,
        mut script: Script,
        cap: u64,
        (share, budget): (f64, u64),
        seed: u64,
        natural: u64,
    ) -> Choice {
        let reasoning = ((natural as f64 * share).round() as u64).min(cap.saturating_sub(1)).min(budget);
        let finish_reason = match (script.truncate(cap - reasoning), script.is_tool_calls()) {
            (true, _) => "length",
            (false, true) => "tool_calls",
            (false, false) => "stop",
        };
        let thought_seed = seed ^ THOUGHT_SEED;
        Choice {
            seed,
            thought_seed,
            length: reasoning + script.tokens(),
            answer: Answer::Script(script),
            thought: TextGen::new(thought_seed),
            reasoning,
            finish_reason,
            stop_sequence: None,
        }
    }

    /// One choice: its length (natural, capped, floored), the `share` of it spent reasoning (at
    /// most `budget`; at least one answer token remains when there are two), then the answer cut by a stop
    /// sequence.
    fn choice(&self, req: &GenRequest, cap: u64, (share, budget): (f64, u64), seed: u64, natural: u64) -> Choice {
        let length = if req.ignore_eos { cap } else { natural.clamp(req.min_tokens.min(cap), cap) };
        let mut finish_reason = if length == cap && (req.ignore_eos || natural >= cap) { "length" } else { "stop" };
        let reasoning = ((length as f64 * share).round() as u64).min(length.saturating_sub(1)).min(budget);
        let mut answer = length - reasoning;
        let answer_floor = req.min_tokens.saturating_sub(reasoning);
        let stop = tokens_before_stop(seed, answer, answer_floor, &req.stop);
        if let Some((cut, _)) = stop {
            answer = cut;
            finish_reason = "stop";
        }
        let thought_seed = seed ^ THOUGHT_SEED;
        Choice {
            seed,
            thought_seed,
            answer: Answer::Text(TextGen::new(seed)),
            thought: TextGen::new(thought_seed),
            reasoning,
            length: reasoning + answer,
            finish_reason,
            stop_sequence: stop.map(|(_, which)| req.stop[which].clone()),
        }
    }

    /// TTFT (drawn, plus prefill) and the ITL distribution for `model`.
    pub fn timing(&self, model: &str, prompt_tokens: u64, rng: &mut Rng) -> (Duration, Latency) {
        let profile = if self.latency_profiles { profile_for(model) } else { None };
        let ttft = self.ttft.or(profile.map(|p| p.ttft)).unwrap_or(DEFAULT_TTFT);
        let itl = self.itl.or(profile.map(|p| p.itl)).unwrap_or(DEFAULT_ITL);
        // An explicit --ttft means exactly that TTFT unless a prefill rate is also given.
        let profile_prefill = if self.ttft.is_some() { None } else { profile.map(|p| p.prefill_tps) };
        let prefill_tps = self.prefill_tps.or(profile_prefill).unwrap_or(0.0);
        let mut first = ttft.sample(rng);
        if prefill_tps > 0.0 {
            let billed = prompt_tokens.saturating_sub(FREE_PREFILL_TOKENS) as f64;
            first += Duration::from_secs_f64(billed / prefill_tps);
        }
        (first, itl)
    }

    /// When each of `tokens` output tokens of `model` is due, from arrival: TTFT (prefill
    /// included), then one ITL draw per further token (at least one deadline).
    pub fn token_deadlines(&self, model: &str, prompt_tokens: u64, tokens: u64, rng: &mut Rng) -> Vec<Duration> {
        let (first, itl) = self.timing(model, prompt_tokens, rng);
        let mut due = first;
        (0..tokens.max(1))
            .map(|i| {
                if i > 0 {
                    due += itl.sample(rng);
                }
                due
            })
            .collect()
    }
}

/// Derives a choice's reasoning seed from its answer seed.
const THOUGHT_SEED: u64 = 0x5EED_7A0B_0000_0000;

/// A tool call id: `prefix` and 24 alphanumerics (OpenAI's `call_…`, Anthropic's `toolu_01…`).
fn call_id(rng: &mut Rng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(prefix.len() + 24);
    id.push_str(prefix);
    id.extend((0..24).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char));
    id
}

/// Where generation ends because of a stop sequence: the number of whole tokens of the text
/// seeded by `seed` that precede the first occurrence of any of `stop` (searched within the first
/// `length` tokens and only once `min_tokens` have been produced, as vLLM does). The stop sequence
/// and anything after it are never sent; a token it begins inside of is dropped whole, so every
/// chunk stays exactly one token. Also says which of `stop` it was.
fn tokens_before_stop(seed: u64, length: u64, min_tokens: u64, stop: &[String]) -> Option<(u64, usize)> {
    if stop.is_empty() {
        return None;
    }
    let longest = stop.iter().map(String::len).max().unwrap_or(0);
    let mut text_gen = TextGen::new(seed);
    let mut text = String::new();
    let mut ends = Vec::new();
    for produced in 1..=length {
        let searched_from = text.len().saturating_sub(longest - 1);
        text.push_str(text_gen.next_token());
        ends.push(text.len());
        if produced < min_tokens {
            continue;
        }
        let found =
            |(which, s): (usize, &String)| Some((text[searched_from..].find(s.as_str())? + searched_from, which));
        if let Some((at, which)) = stop.iter().enumerate().filter_map(found).min() {
            return Some((ends.iter().take_while(|&&end| end <= at).count() as u64, which));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::models::{Registry, UnknownModelDefaults};

    fn sim() -> SimConfig {
        SimConfig {
            ttft: Some(Latency::fixed(20.0)),
            itl: Some(Latency::fixed(5.0)),
            prefill_tps: None,
            latency_profiles: true,
            output_len: LengthDist::Fixed(50),
            non_streaming_delay: true,
            fingerprint: "fp_test".into(),
            reasoning_models: vec!["gpt-oss".into(), "^o1".into()],
            encoding: Encoding::Cl100kBase,
            auto_tool_calls: AutoToolCalls::Match,
            stream_obfuscation: false,
        }
    }

    fn req(max: Option<u64>, min: u64, ignore_eos: bool) -> GenRequest {
        GenRequest {
            model: "gpt-4".into(),
            stream: false,
            include_usage: false,
            prompt_tokens: 1000,
            max_tokens: max,
            min_tokens: min,
            ignore_eos,
            seed: None,
            stop: Vec::new(),
            n: 1,
            reasoning_share: 0.5,
            ..GenRequest::default()
        }
    }

    fn plan(s: &SimConfig, r: &GenRequest) -> Plan {
        let registry = Registry::new(UnknownModelDefaults { context_window: 8192, max_output_tokens: 4096 });
        s.plan(Flavor::Chat, r, &registry.resolve(&r.model), &mut Rng::new(1), 0)
    }

    #[test]
    fn lengths_and_finish_reasons() {
        let s = sim();
        let p = plan(&s, &req(Some(10), 0, false));
        assert_eq!((p.usage.completion_tokens, p.choices[0].finish_reason), (10, "length"));
        let p = plan(&s, &req(Some(100), 0, false));
        assert_eq!((p.usage.completion_tokens, p.choices[0].finish_reason), (50, "stop"));
        let p = plan(&s, &req(Some(100), 0, true));
        assert_eq!((p.usage.completion_tokens, p.choices[0].finish_reason), (100, "length"));
        let p = plan(&s, &req(Some(100), 80, false));
        assert_eq!((p.usage.completion_tokens, p.choices[0].finish_reason), (80, "stop"));
        let p = plan(&s, &req(None, 0, true));
        assert_eq!(p.usage.completion_tokens, 8192 - 1000, "the rest of gpt-4's window, no hidden 250-token ceiling");
    }

    #[test]
    fn explicit_timing_beats_profiles_and_profiles_add_prefill() {
        let mut p = plan(&sim(), &req(Some(3), 0, true));
        assert_eq!(p.schedule.advance(), Duration::from_millis(20));
        assert_eq!(p.schedule.advance(), Duration::from_millis(25));
        let profiled = SimConfig { ttft: None, itl: None, ..sim() };
        let first = plan(&profiled, &req(Some(3), 0, true)).schedule.peek().as_secs_f64() * 1e3;
        // gpt-4: 800 ms ± 18.75 % plus 900 billed tokens at 500 tok/s = 1800 ms.
        assert!((650.0 + 1800.0..=950.0 + 1800.0).contains(&first), "ttft {first}");
        let plain = SimConfig { latency_profiles: false, ttft: None, ..sim() };
        let first = plan(&plain, &req(Some(3), 0, true)).schedule.peek().as_secs_f64() * 1e3;
        assert!((18.0..=22.0).contains(&first));
    }

    #[test]
    fn reasoning_models_split_their_output() {
        let patterns = ["gpt-oss".to_owned(), "^o1".to_owned(), "DeepSeek-R1".to_owned()];
        assert!(is_reasoning_model("openai/gpt-oss-120b", &patterns));
        assert!(is_reasoning_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", &patterns));
        assert!(is_reasoning_model("openai/o1-mini", &patterns));
        assert!(!is_reasoning_model("llama-3.1-70b-o1", &patterns), "^ anchors to the name's start");
        assert!(!is_reasoning_model("gpt-4o", &patterns));
        let mut r = req(Some(40), 0, true);
        r.model = "gpt-oss-20b".into();
        let p = plan(&sim(), &r);
        assert!(p.reasons);
        assert_eq!((p.usage.completion_tokens, p.usage.reasoning_tokens), (40, 20));
        let (thought, answer) = p.full_texts().remove(0);
        assert!(thought.unwrap().starts_with(char::is_uppercase) && answer.starts_with(char::is_uppercase));
        r.reasoning_share = 0.75;
        assert_eq!(plan(&sim(), &r).usage.reasoning_tokens, 30);
        r.max_tokens = Some(1);
        assert_eq!(plan(&sim(), &r).usage.reasoning_tokens, 0, "one token is all answer");
        let plain = plan(&sim(), &req(Some(40), 0, true));
        assert_eq!(plain.usage.reasoning_tokens, 0);
    }

    #[test]
    fn n_choices_differ_and_sum_into_usage() {
        let mut r = req(Some(30), 0, false);
        r.n = 3;
        let s = SimConfig { output_len: LengthDist::Uniform { mean: 20.0, pct: 50.0 }, ..sim() };
        let p = plan(&s, &r);
        assert_eq!(p.choices.len(), 3);
        assert_eq!(p.usage.completion_tokens, p.choices.iter().map(|c| c.length).sum::<u64>());
        let texts = p.full_texts();
        assert!(texts[0] != texts[1] && texts[1] != texts[2]);
    }

    #[test]
    fn seeds_fix_text_and_fingerprint() {
        let s = sim();
        let mut r = req(Some(20), 0, true);
        r.seed = Some(7);
        let (a, b) = (plan(&s, &r), plan(&s, &r));
        assert_eq!(a.full_texts(), b.full_texts());
        assert_eq!(a.meta.fingerprint, b.meta.fingerprint);
        assert_ne!(a.meta.fingerprint, "fp_test");
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;

    fn text(seed: u64, n: u64) -> String {
        let mut t = String::new();
        TextGen::new(seed).push_tokens(n as usize, &mut t);
        t
    }

    #[test]
    fn cuts_before_the_first_stop_sequence() {
        let full = text(5, 400);
        let stop = vec![".".to_owned()];
        let (cut, which) = tokens_before_stop(5, 400, 0, &stop).expect("a period within 400 tokens");
        assert_eq!(which, 0);
        let kept = text(5, cut);
        assert!(!kept.contains('.') && full.starts_with(&kept));
        assert_eq!(full[kept.len()..].chars().next(), Some('.'), "cut right before the stop");
        assert_eq!(tokens_before_stop(5, 400, 0, &["no such text".to_owned()]), None);
        let (later, _) = tokens_before_stop(5, 400, cut + 5, &stop).unwrap();
        assert!(later > cut, "min_tokens defers stop sequences");
    }

    #[test]
    fn a_stop_starting_inside_a_token_drops_that_token() {
        let full = text(9, 50);
        let word = full.split(' ').nth(3).unwrap();
        let partial = &word[1..];
        let (cut, _) = tokens_before_stop(9, 50, 0, &["no such text".to_owned(), partial.to_owned()]).unwrap();
        let kept = text(9, cut);
        assert!(!kept.contains(partial) && full.starts_with(&kept));
    }
}
