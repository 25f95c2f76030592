//! The generation pipeline every dialect shares: a parsed request becomes a plan (tokens and
//! schedule), answered as a stream or, once due, as one body.

use super::{Ctx, Full, Outcome, Reply, Request};
use crate::{
    app::App,
    error::Error,
    generation::{Choice, Plan},
    openai::{
        chunks::Flavor,
        logprobs::Logprobs,
        request::GenRequest,
        response::{ChoiceText, completion_json, responses_json},
        responses,
        stores::Generated,
    },
    sse::TokenStream,
    tokens::Encoding,
};

/// Refuses a body that says it is not JSON.
pub fn require_json(req: &Request<'_>) -> Result<(), Error> {
    match req.head.content_type().filter(|ct| !ct.to_ascii_lowercase().contains("json")) {
        Some(ct) => Err(Error::bad_request(format!("Invalid Content-Type {ct:?}: the body must be application/json."))),
        None => Ok(()),
    }
}

/// Plans and answers a parsed generation request of `flavor` (`body`: the request as sent, kept
/// with a stored object).
pub fn generate(app: &App, ctx: &mut Ctx<'_>, mut req: GenRequest, flavor: Flavor, body: &[u8]) -> Outcome {
    app.vllm.check_awake()?;
    let inherited = app.stores.inherited_tokens(&req)?;
    req.prompt_tokens += inherited;
    let model = crate::openai::fine_tuned::resolve(app, &req.model)?;
    check_context_length(&req, model.context_window, flavor)?;
    let mut plan = app.sim.get().plan(flavor, &req, &model, ctx.rng, ctx.unix_now.0);
    crate::openai::prefix::admit(app, &req, inherited, &mut plan)?;
    let stores = app.stores.keeps(flavor, &req);
    // The whole object is built once: for the reply when not streaming, for the store when kept.
    let full = (stores || !req.stream).then(|| full_body(app, &plan));
    if let Some(full) = full.as_ref().filter(|_| stores) {
        let generated = Generated {
            flavor,
            id: &plan.meta.id,
            context_tokens: plan.usage.prompt_tokens + plan.usage.completion_tokens,
            done_at: unix_micros(ctx) + plan.duration().as_micros() as u64,
            params: plan.responses.as_deref(),
            request: body,
            full,
        };
        app.stores.keep(generated, app.encoding);
    }
    if let Some(queued) = responses::stored::queued(plan.responses.as_deref(), req.stream, full.as_deref()) {
        // Its webhook event comes when it ends, unless it is cancelled first.
        let incomplete =
            full.as_deref().is_some_and(|b| memchr::memmem::find(b, br#""status":"incomplete""#).is_some());
        let kind = if incomplete { "response.incomplete" } else { "response.completed" };
        let done = std::time::Instant::now() + plan.duration();
        let id = &plan.meta.id;
        app.state.webhooks.emit_at(kind, id, done, crate::state::webhooks::Guard::ResponseRan(id.to_string()));
        return Ok(Full::value(&queued).into());
    }
    match full.filter(|_| !req.stream) {
        Some(body) => Ok(non_streaming(app, plan, body)),
        None => Ok(Reply::Stream(Box::new(TokenStream::new(plan)))),
    }
}

/// Each model's context window, by name, for counting a prompt only as far as it can matter
/// (`u64::MAX` for a name that resolves to no model: its 404 comes later).
pub fn window(app: &App) -> impl Fn(&str) -> u64 + '_ {
    |model| crate::openai::fine_tuned::resolve(app, model).map_or(u64::MAX, |m| m.context_window)
}

/// The wall clock in unix microseconds.
pub fn unix_micros(ctx: &Ctx<'_>) -> u64 {
    ctx.unix_now.0 * 1_000_000 + u64::from(ctx.unix_now.1)
}

/// Prompt plus requested output must fit the model's context window, checked before any byte
/// of a stream is sent (FakeAI answered such streams with an empty 200).
pub fn check_context_length(req: &GenRequest, window: u64, flavor: Flavor) -> Result<(), Error> {
    let completion = req.max_tokens.unwrap_or(0).max(req.min_tokens);
    let total = req.prompt_tokens + completion;
    if total <= window {
        return Ok(());
    }
    let (param, what) = match flavor {
        Flavor::Chat | Flavor::Messages => ("messages", "messages"),
        Flavor::Completion => ("prompt", "prompt"),
        Flavor::Tgi => ("inputs", "inputs"),
        Flavor::TokenIds(_) => ("token_ids", "prompt"),
        Flavor::Responses => ("input", "input"),
    };
    let message = format!(
        "This model's maximum context length is {window} tokens. However, you requested {total} tokens \
         ({} in the {what}, {completion} in the completion). Please reduce the length of the {what} or completion.",
        req.prompt_tokens
    );
    Err(Error::invalid_param(param, message).with_code("context_length_exceeded"))
}

/// A non-streaming reply of `body`, due when `plan`'s last token would have been generated.
pub fn non_streaming(app: &App, mut plan: Plan, body: Vec<u8>) -> Reply {
    let summary = plan.summary();
    let after = app.sim.get().whole_reply_after(plan.schedule.deadline_of(plan.longest()));
    Reply::Generated { after, full: Full::json(body), summary }
}

/// The whole response object of `plan`, in its endpoint's shape.
fn full_body(app: &App, plan: &Plan) -> Vec<u8> {
    let texts = plan.full_texts();
    let choices: Vec<ChoiceText> = texts
        .into_iter()
        .zip(&plan.choices)
        .enumerate()
        .map(|(index, ((reasoning, content), c))| ChoiceText {
            logprobs: plan.logprobs.map(|top| choice_logprobs(plan, c, top, app.encoding)),
            audio: plan.audio.as_ref().map(|a| a.message_audio(&plan.meta.id, index, plan.meta.created, &content)),
            content: match &plan.echo {
                Some(prompt) => format!("{prompt}{content}"),
                None => content,
            },
            reasoning,
            finish_reason: c.finish_reason,
            tool_calls: c.tool_calls(),
            legacy: plan.legacy_functions,
        })
        .collect();
    match &plan.responses {
        Some(params) => responses_json(&plan.meta, params, plan.done_at(), &choices[0], plan.usage),
        None => completion_json(plan.flavor, &plan.meta, &choices, plan.usage),
    }
}

/// A non-streaming choice's `logprobs` object in its endpoint's shape (echoed prompt tokens first).
fn choice_logprobs(plan: &Plan, choice: &Choice, top: u32, encoding: Encoding) -> serde_json::Value {
    let tokens = choice.answer_tokens();
    let mut source = Logprobs::new(choice.seed, top);
    if plan.flavor != Flavor::Completion {
        return source.chat_all(tokens.iter().map(String::as_str));
    }
    let prompt = plan.echo.as_deref().unwrap_or("");
    let mut start = 0;
    let prompt_tokens = encoding.token_ends(prompt).into_iter().map(|end| {
        let token = &prompt[start..end];
        start = end;
        token
    });
    source.completion_all(prompt_tokens, tokens.iter().map(String::as_str))
}
