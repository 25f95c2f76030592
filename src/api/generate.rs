//! The generation pipeline every dialect shares: a parsed request becomes a plan (tokens and
//! schedule), answered as a stream or, once due, as one body.

use std::time::Duration;

use super::{Ctx, Full, Outcome, Reply, Request};
use crate::{
    app::App,
    error::Error,
    generation::{Choice, Plan},
    openai::{
        chunks::Flavor,
        logprobs::Logprobs,
        request::GenRequest,
        response::{ChoiceText, completion_json},
        store::Stored,
    },
    sse::TokenStream,
    tokens::Encoding,
};

/// Refuses a body that says it is not JSON.
pub fn require_json(req: &Request<'_>) -> Result<(), Error> {
    match req.head.content_type.as_deref().filter(|ct| !ct.to_ascii_lowercase().contains("json")) {
        Some(ct) => Err(Error::bad_request(format!("Invalid Content-Type {ct:?}: the body must be application/json."))),
        None => Ok(()),
    }
}

/// Plans and answers a parsed generation request of `flavor`.
pub fn generate(app: &App, ctx: &mut Ctx<'_>, mut req: GenRequest, flavor: Flavor) -> Outcome {
    if let Some(previous) = &req.previous_response_id {
        let stored = app.responses.get(previous).ok_or_else(|| {
            let message = format!("Previous response with id '{previous}' not found.");
            Error::invalid_param("previous_response_id", message).with_code("previous_response_not_found")
        })?;
        req.prompt_tokens += stored.context_tokens;
    }
    let model = app.registry.resolve(&req.model);
    check_context_length(&req, model.context_window, flavor)?;
    let plan = app.sim.plan(flavor, &req, &model, ctx.rng, ctx.unix_now.0);
    let stores = flavor == Flavor::Responses && req.store && app.responses.enabled();
    // The whole body is built once: for the reply when not streaming, for the store when kept.
    let body = (stores || !req.stream).then(|| full_body(app, &plan));
    if let Some(body) = body.as_ref().filter(|_| stores) {
        let context_tokens = plan.usage.prompt_tokens + plan.usage.completion_tokens;
        app.responses.put(plan.meta.id.clone(), Stored { context_tokens, body: body.as_slice().into() });
    }
    match body.filter(|_| !req.stream) {
        Some(body) => Ok(non_streaming(app, plan, body)),
        None => Ok(Reply::Stream(Box::new(TokenStream::new(plan)))),
    }
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
    let after = match app.sim.non_streaming_delay {
        true => plan.schedule.deadline_of(plan.longest()),
        false => Duration::ZERO,
    };
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
    completion_json(plan.flavor, &plan.meta, &choices, plan.usage)
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
