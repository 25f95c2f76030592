//! Hugging Face TGI, as `huggingface_hub.InferenceClient(base_url=…)` and TGI's own clients use
//! it: `POST /generate`, `POST /generate_stream`, the combined `POST /` (streams when
//! `"stream": true`, else answers a one-element list), and `GET /info`.
//!
//! A stream of N tokens is N events. The last one carries `generated_text` (and `details` when
//! `parameters.details` asks); when generation ended on the end-of-sequence token, that token
//! (`special: true`) is the last event, and it counts among the N. Errors use TGI's envelope
//! `{"error","error_type"}` (the route's dialect): 422 `validation` before a non-streaming reply,
//! and an error event in a 200 stream for streaming routes, as TGI validates inside the stream.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{Ctx, Full, Outcome, Reply, generate::non_streaming},
    app::App,
    error::Error,
    generation::{Choice, Plan},
    openai::chunks::{Flavor, push_json_str, push_u64},
    sse::TokenStream,
    tokens::Encoding,
};

/// What follows the token of every streamed event until the last one is finished.
pub const EVENT_TAIL: &[u8] = b"\"generated_text\":null,\"details\":null}\n\n";
/// TGI's router version this server answers as.
const TGI_VERSION: &str = "3.3.5";
/// TGI's defaults for the router limits `/info` reports and validation enforces.
const MAX_BEST_OF: u64 = 2;
const MAX_STOP_SEQUENCES: usize = 4;
const MAX_TOP_N_TOKENS: u32 = 5;
/// The model named when a request names none (TGI serves one model).
const DEFAULT_MODEL: &str = "tgi";
/// Every generated token's log-probability.
const LOGPROB: f64 = -0.1;
/// Generated token `n` (1-based) has id `TOKEN_ID_BASE + n`, streamed or not.
const TOKEN_ID_BASE: u64 = 1000;

/// Which TGI route a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /generate`.
    Generate,
    /// `POST /generate_stream`.
    Stream,
    /// `POST /`: streams when the body says `"stream": true`.
    Compat,
}

/// A TGI request body.
#[derive(Debug, Deserialize)]
struct Body {
    inputs: String,
    parameters: Option<Parameters>,
    #[serde(default)]
    stream: bool,
    /// fakeai's extension: the model name metrics record (TGI serves one model).
    model: Option<String>,
}

/// TGI's `parameters`, plus fakeai's `ignore_eos` and `min_tokens`.
#[derive(Debug, Default, Deserialize)]
struct Parameters {
    best_of: Option<u64>,
    temperature: Option<f64>,
    repetition_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    top_k: Option<i64>,
    top_p: Option<f64>,
    typical_p: Option<f64>,
    #[serde(default)]
    do_sample: bool,
    max_new_tokens: Option<u32>,
    return_full_text: Option<bool>,
    #[serde(default)]
    stop: Vec<String>,
    truncate: Option<u64>,
    #[serde(default)]
    details: bool,
    #[serde(default)]
    decoder_input_details: bool,
    seed: Option<u64>,
    top_n_tokens: Option<u32>,
    adapter_id: Option<String>,
    ignore_eos: Option<bool>,
    min_tokens: Option<u64>,
}

/// A TGI validation error (422; the route's dialect names it `validation`).
fn validation(message: impl Into<String>) -> Error {
    Error::new(422, "invalid_request_error", message)
}

/// A streaming route's error: a 200 stream of one error event, as TGI sends it.
fn error_event(e: &Error) -> Full {
    let mut body = b"data:".to_vec();
    body.extend_from_slice(&e.to_json_in(crate::error::Dialect::Tgi));
    body.extend_from_slice(b"\n\n");
    Full { error_type: Some(e.kind), ..Full::text("text/event-stream", body) }
}

/// A validated TGI request: what the planner needs plus what the reply needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    gen_request: crate::openai::request::GenRequest,
    inputs: String,
    details: bool,
    decoder_input_details: bool,
    /// The seed reported in `details` (sampling requests only, as TGI).
    reported_seed: Option<u64>,
    full_text: bool,
    /// It samples without a seed: [`Request::seeded`] draws one.
    draws_seed: bool,
}

/// A body parsed and validated on `route`: the request, or the refusal a streaming route
/// answers as an error event in a 200 stream.
#[derive(Debug)]
pub enum Parsed {
    /// A valid request.
    Valid(Box<Request>),
    /// The error event a streaming request is refused with.
    Refused(Full),
}

/// Parses `body` on `route` (off the event loop for a large body): the request, the error event
/// of a streaming route, or the 422 of a non-streaming one.
pub fn prepare(app: &App, body: &[u8], route: Route) -> Result<Parsed, Error> {
    match parse(body, route, app) {
        Ok(req) => Ok(Parsed::Valid(Box::new(req))),
        Err(e) if route == Route::Stream || stream_flag(body) => Ok(Parsed::Refused(error_event(&e))),
        Err(e) => Err(e),
    }
}

/// Serves a TGI generation request on `route`; `parsed` gives the body's [`prepare`], taken once
/// the server is known to be awake.
pub fn generate(app: &App, ctx: &mut Ctx<'_>, parsed: impl FnOnce() -> Result<Parsed, Error>, route: Route) -> Outcome {
    app.vllm.check_awake()?;
    let req = match parsed()? {
        Parsed::Valid(req) => req.seeded(ctx),
        Parsed::Refused(event) => return Ok(Reply::Now(event)),
    };
    // `parse` already resolved this name, so this cannot fail.
    let model = super::fine_tuned::resolve(app, &req.gen_request.model)?;
    let mut plan = app.sim.get().plan(Flavor::Tgi, &req.gen_request, &model, ctx.rng, ctx.unix_now.0);
    // TGI reports no usage, but its prompt takes (and may hit) KV blocks like any other.
    super::prefix::admit(app, &req.gen_request, 0, &mut plan)?;
    let end = Ending::new(&req, &plan, app.encoding);
    if req.gen_request.stream {
        return Ok(Reply::Stream(Box::new(TokenStream::new(plan).with_tgi_end(end))));
    }
    let mut body = generation_json(&req, &plan, &end, app.encoding);
    if route == Route::Compat {
        body = json!([body]);
    }
    let mut reply = non_streaming(app, plan, serde_json::to_vec(&body).expect("serializes"));
    if let Reply::Generated { full, summary, .. } = &mut reply {
        full.extra.extend([
            ("x-compute-type", "gpu+optimized".to_owned()),
            ("x-prompt-tokens", summary.usage.prompt_tokens.to_string()),
            ("x-generated-tokens", summary.generated.to_string()),
        ]);
    }
    Ok(reply)
}

/// Whether a body that failed validation still asked to stream on `POST /`.
fn stream_flag(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v["stream"] == true)
}

/// Parses and validates a request as TGI's router does, in its order and words.
fn parse(body: &[u8], route: Route, app: &App) -> Result<Request, Error> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| validation(format!("Failed to deserialize the JSON body into the target type: {e}")))?;
    let stream = match route {
        Route::Generate => false,
        Route::Stream => true,
        Route::Compat => body.stream,
    };
    // Without `parameters` TGI samples (its default parameters set `do_sample`).
    let sampling_default = body.parameters.is_none();
    let p = body.parameters.unwrap_or_default();
    let sampling = sampling_default
        || p.do_sample
        || p.temperature.is_some()
        || p.top_k.is_some()
        || p.top_p.is_some()
        || p.typical_p.is_some();
    validate_parameters(&p, sampling, stream)?;
    if body.inputs.is_empty() {
        return Err(validation("`inputs` cannot be empty"));
    }
    let model = match p.adapter_id.as_deref().filter(|a| !a.is_empty()) {
        Some(adapter) => adapter.to_owned(),
        None => body.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
    };
    let window = super::fine_tuned::resolve(app, &model)?.context_window;
    let (max_input, max_total) = (window.saturating_sub(1), window);
    if let Some(t) = p.truncate.filter(|&t| t == 0 || t > max_input) {
        return Err(validation(format!("`truncate` must be strictly positive and less than {max_input}. Given: {t}")));
    }
    let counted = app.encoding.count(&body.inputs) as u64;
    let input_length = p.truncate.map_or(counted, |t| counted.min(t));
    let max_new = p.max_new_tokens.map_or(max_total.saturating_sub(input_length), u64::from);
    if input_length + max_new > max_total {
        return Err(validation(format!(
            "`inputs` tokens + `max_new_tokens` must be <= {max_total}. Given: {input_length} `inputs` tokens and \
             {max_new} `max_new_tokens`"
        )));
    }
    if input_length > max_input {
        return Err(validation(format!("`inputs` must have less than {max_input} tokens. Given: {input_length}")));
    }
    // A sampling request without a seed gets one drawn ([`Request::seeded`]) and reports it, as
    // TGI does; the text follows the seed, so a reported seed replays its text.
    let reported_seed = p.seed.filter(|_| sampling);
    let gen_request = crate::openai::request::GenRequest {
        model,
        stream,
        prompt_tokens: input_length,
        max_tokens: Some(max_new.max(1)),
        min_tokens: p.min_tokens.unwrap_or(0),
        ignore_eos: p.ignore_eos.unwrap_or(false),
        seed: p.seed,
        stop: p.stop,
        n: p.best_of.unwrap_or(1),
        ..Default::default()
    };
    Ok(Request {
        gen_request,
        inputs: body.inputs,
        details: p.details || p.decoder_input_details,
        decoder_input_details: p.decoder_input_details,
        reported_seed,
        full_text: p.return_full_text.unwrap_or(route == Route::Compat),
        draws_seed: sampling && p.seed.is_none(),
    })
}

impl Request {
    /// The request with its seed drawn from the core's generator when it samples without one.
    fn seeded(mut self: Box<Self>, ctx: &mut Ctx<'_>) -> Box<Self> {
        if self.draws_seed {
            let seed = ctx.rng.next_u64();
            (self.reported_seed, self.gen_request.seed) = (Some(seed), Some(seed));
        }
        self
    }
}

/// TGI's checks of the sampling parameters, in its order and words.
fn validate_parameters(p: &Parameters, sampling: bool, stream: bool) -> Result<(), Error> {
    let best_of = p.best_of.unwrap_or(1);
    let fail = |message: String| Err(validation(message));
    if best_of > 1 && !sampling {
        return fail("you must use sampling when `best_of` is > 1".into());
    }
    if p.temperature.is_some_and(|t| t <= 0.0) {
        return fail("`temperature` must be strictly positive".into());
    }
    if p.repetition_penalty.is_some_and(|r| r <= 0.0) {
        return fail("`repetition_penalty` must be strictly positive".into());
    }
    if p.frequency_penalty.is_some_and(|f| !(-2.0..=2.0).contains(&f)) {
        return fail("`frequency_penalty` must be >= -2.0 and <= 2.0".into());
    }
    if p.top_p.is_some_and(|v| v <= 0.0 || v >= 1.0) {
        return fail("`top_p` must be > 0.0 and < 1.0".into());
    }
    if p.typical_p.is_some_and(|v| v <= 0.0 || v >= 1.0) {
        return fail("`typical_p` must be > 0.0 and < 1.0".into());
    }
    if p.top_k.is_some_and(|k| k <= 0) {
        return fail("`top_k` must be strictly positive".into());
    }
    if p.max_new_tokens == Some(0) {
        return fail("`max_new_tokens` must be strictly positive".into());
    }
    if p.stop.len() > MAX_STOP_SEQUENCES {
        return fail(format!("`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {}", p.stop.len()));
    }
    if p.seed.is_some() && best_of > 1 {
        return fail("`seed` must not be set when `best_of` > 1".into());
    }
    if let Some(n) = p.top_n_tokens.filter(|&n| n > MAX_TOP_N_TOKENS) {
        return fail(format!("`top_n_tokens` must be >= 0 and <= {MAX_TOP_N_TOKENS}. Given: {n}"));
    }
    if best_of == 0 || best_of > MAX_BEST_OF {
        return fail(format!("`best_of` must be > 0 and <= {MAX_BEST_OF}. Given: {best_of}"));
    }
    if stream && best_of != 1 {
        return fail("`best_of` != 1 is not supported when streaming tokens".into());
    }
    if stream && p.decoder_input_details {
        return fail("`decoder_input_details` == true is not supported when streaming tokens".into());
    }
    Ok(())
}

/// How one sequence ends, fixed when the request is planned.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// `parameters.details` (or `decoder_input_details`) was set.
    details: bool,
    /// `details.seed` of the first sequence (sequence `i` reports it plus `i`).
    seed: Option<u64>,
    /// Prompt tokens (`details.input_length`).
    input_length: u64,
    /// The prompt, when `return_full_text` prepends it.
    prefix: Option<String>,
    /// The end-of-sequence token's id and text.
    eos: (u32, &'static str),
    /// Why each choice ended: `length`, `eos_token` or `stop_sequence`.
    reasons: Vec<&'static str>,
}

impl Ending {
    fn new(req: &Request, plan: &Plan, encoding: Encoding) -> Self {
        let reasons = plan.choices.iter().map(finish_reason).collect();
        Ending {
            details: req.details,
            seed: req.reported_seed,
            input_length: plan.usage.prompt_tokens,
            prefix: req.full_text.then(|| req.inputs.clone()),
            eos: encoding.end_of_text(),
            reasons,
        }
    }

    /// Whether choice `index` ends on the end-of-sequence token (its last token is that token).
    fn on_eos(&self, index: usize) -> bool {
        self.reasons[index] == "eos_token"
    }

    /// The text pieces of choice `index`'s tokens, the end-of-sequence token excluded.
    fn texts(&self, choice: &Choice, index: usize) -> Vec<String> {
        let mut tokens = choice.answer_tokens();
        if self.on_eos(index) {
            tokens.pop();
        }
        tokens
    }

    /// `generated_text` of choice `index`: its text, after the prompt when asked.
    fn generated_text(&self, choice: &Choice, index: usize) -> String {
        let mut text = self.prefix.clone().unwrap_or_default();
        self.texts(choice, index).iter().for_each(|t| text.push_str(t));
        text
    }

    /// Finishes a stream whose last token event (if any) ends `out`: that event gets
    /// `generated_text` and, when asked, `details`; a sequence that ended on the
    /// end-of-sequence token has that token as its last event instead of the text token the
    /// stream wrote (so the events still number the sequence's tokens).
    pub fn finish_stream(&self, choice: &Choice, out: &mut Vec<u8>) {
        let length = choice.length;
        if self.on_eos(0) || length == 0 {
            if length > 0 {
                out.truncate(last_event_start(out));
            }
            out.extend_from_slice(b"data:{\"index\":");
            push_u64(out, length.max(1));
            out.extend_from_slice(b",\"token\":");
            push_token(out, self.eos.0.into(), self.eos.1, true);
            out.push(b',');
        } else {
            debug_assert!(out.ends_with(EVENT_TAIL), "the last token event ends the buffer");
            out.truncate(out.len() - EVENT_TAIL.len());
        }
        out.extend_from_slice(b"\"generated_text\":");
        push_json_str(out, &self.generated_text(choice, 0));
        out.extend_from_slice(b",\"details\":");
        match self.details {
            true => {
                let details = json!({
                    "finish_reason": self.reasons[0],
                    "generated_tokens": length.max(1),
                    "seed": self.seed,
                    "input_length": self.input_length,
                });
                out.extend_from_slice(details.to_string().as_bytes());
            }
            false => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// Where the last SSE event of `out` starts (events never contain a raw blank line).
fn last_event_start(out: &[u8]) -> usize {
    let body = &out[..out.len().saturating_sub(2)];
    body.windows(2).rposition(|w| w == b"\n\n").map_or(0, |i| i + 2)
}

/// `{"id":…,"text":…,"logprob":…,"special":…}`.
fn push_token(out: &mut Vec<u8>, id: u64, text: &str, special: bool) {
    out.extend_from_slice(b"{\"id\":");
    push_u64(out, id);
    out.extend_from_slice(b",\"text\":");
    push_json_str(out, text);
    out.extend_from_slice(if special {
        b",\"logprob\":-0.1,\"special\":true}"
    } else {
        b",\"logprob\":-0.1,\"special\":false}"
    });
}

/// TGI's finish reason of a choice: the length cap, a stop sequence, or the model's own end
/// (the end-of-sequence token).
fn finish_reason(choice: &Choice) -> &'static str {
    match (choice.finish_reason, &choice.stop_sequence) {
        ("length", _) => "length",
        (_, Some(_)) => "stop_sequence",
        _ => "eos_token",
    }
}

/// The non-streaming body: `generated_text`, and `details` when asked.
fn generation_json(req: &Request, plan: &Plan, end: &Ending, encoding: Encoding) -> Value {
    let main = &plan.choices[0];
    let mut body = json!({"generated_text": end.generated_text(main, 0)});
    if !req.details {
        return body;
    }
    let prefill = if req.decoder_input_details { prefill_tokens(&req.inputs, encoding) } else { Vec::new() };
    let mut details = sequence_json(end, main, 0, &prefill, false);
    if plan.choices.len() > 1 {
        let others = plan.choices.iter().enumerate().skip(1).map(|(i, c)| sequence_json(end, c, i, &prefill, true));
        details["best_of_sequences"] = others.collect();
    }
    body["details"] = details;
    body
}

/// One sequence's details in TGI's field order; `with_text` adds `generated_text` first (a
/// `BestOfSequence`).
fn sequence_json(end: &Ending, choice: &Choice, index: usize, prefill: &[Value], with_text: bool) -> Value {
    let mut tokens: Vec<Value> = end
        .texts(choice, index)
        .iter()
        .enumerate()
        .map(
            |(i, text)| json!({"id": TOKEN_ID_BASE + 1 + i as u64, "text": text, "logprob": LOGPROB, "special": false}),
        )
        .collect();
    if end.on_eos(index) || choice.length == 0 {
        tokens.push(json!({"id": end.eos.0, "text": end.eos.1, "logprob": LOGPROB, "special": true}));
    }
    let mut sequence = serde_json::Map::new();
    if with_text {
        sequence.insert("generated_text".into(), end.generated_text(choice, index).into());
    }
    sequence.insert("finish_reason".into(), end.reasons[index].into());
    sequence.insert("generated_tokens".into(), tokens.len().into());
    sequence.insert("seed".into(), end.seed.map(|s| s.wrapping_add(index as u64)).into());
    sequence.insert("prefill".into(), prefill.into());
    sequence.insert("tokens".into(), tokens.into());
    sequence.into()
}

/// The prompt's tokens as TGI's `prefill`: ids from the configured tokenizer; the first has no
/// log-probability (TGI sends `null`).
fn prefill_tokens(inputs: &str, encoding: Encoding) -> Vec<Value> {
    encoding
        .encode(inputs)
        .into_iter()
        .enumerate()
        .map(|(i, id)| {
            let text = encoding.token_bytes(id).map(String::from_utf8_lossy).unwrap_or_default();
            let logprob = if i == 0 { Value::Null } else { json!(LOGPROB) };
            json!({"id": id, "text": text, "logprob": logprob})
        })
        .collect()
}

/// `GET /info`: TGI's `Info` for the model requests name by default.
pub fn info(app: &App) -> Value {
    let window = app.registry.resolve(DEFAULT_MODEL).context_window;
    json!({
        "model_id": DEFAULT_MODEL,
        "model_sha": null,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": app.args.max_connections,
        "max_best_of": MAX_BEST_OF,
        "max_stop_sequences": MAX_STOP_SEQUENCES,
        "max_input_tokens": window.saturating_sub(1),
        "max_total_tokens": window,
        "validation_workers": 2,
        "max_client_batch_size": 4,
        "router": "text-generation-router",
        "version": TGI_VERSION,
        "sha": null,
        "docker_label": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_event_is_found_after_the_previous_blank_line() {
        assert_eq!(last_event_start(b"data:{}\n\n"), 0);
        assert_eq!(last_event_start(b"data:{\"a\":1}\n\ndata:{}\n\n"), 14);
    }

    #[test]
    fn validation_follows_tgi_order_and_words() {
        let p = Parameters { best_of: Some(2), temperature: Some(0.0), ..Default::default() };
        let e = validate_parameters(&p, false, false).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (422, "you must use sampling when `best_of` is > 1"));
        let e = validate_parameters(&p, true, false).unwrap_err();
        assert_eq!(e.message, "`temperature` must be strictly positive");
        let p = Parameters { best_of: Some(3), do_sample: true, ..Default::default() };
        assert_eq!(
            validate_parameters(&p, true, false).unwrap_err().message,
            "`best_of` must be > 0 and <= 2. Given: 3"
        );
        let p = Parameters { decoder_input_details: true, ..Default::default() };
        assert!(validate_parameters(&p, false, false).is_ok());
        assert!(validate_parameters(&p, false, true).unwrap_err().message.contains("when streaming"));
    }
}
