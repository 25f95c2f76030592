//! Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`) as the
//! official `anthropic` SDK uses it: tool use, extended thinking, prompt caching, Anthropic's
//! validation and error envelope.
//!
//! `anthropic-version`, as Anthropic handles it: a request without it gets 400 `anthropic-version:
//! header is required`, and one naming no version 400 `anthropic-version: "…" is not a valid
//! version` (the SDKs and AIPerf always send it). Any version date (`YYYY-MM-DD`) is accepted,
//! since each SDK release may name a newer one (the `anthropic` 2.17 SDK sends `2026-10-21`).

pub mod body;
pub mod cache;
pub mod error;
pub mod events;
pub mod request;

use std::time::Instant;

use crate::{
    api::{Ctx, Full, Reply},
    app::App,
    error::Error,
    generation::Plan,
    openai::chunks::Flavor,
    proto::http1::RequestHead,
    rng::Rng,
    sse::TokenStream,
};

/// `POST /v1/messages`: a message, streamed or whole; errors in Anthropic's envelope.
/// `parse` parses the body (once its headers are checked): see [`parse`].
pub fn messages(app: &App, ctx: &mut Ctx<'_>, head: &RequestHead, parse: impl FnOnce() -> Parsed) -> Reply {
    let request_id = request_id(ctx.rng);
    create(app, ctx, head, parse, &request_id).unwrap_or_else(|e| Reply::Now(error::reply(&e, &request_id)))
}

/// A parsed Messages request, or why it is refused.
pub type Parsed = Result<request::MessagesRequest, Error>;

/// Parses a Messages request's `body`; `counting` is `count_tokens`, which counts the whole
/// prompt, where a message's prompt is counted only as far as its model's context window.
pub fn parse(app: &App, body: &[u8], counting: bool) -> Parsed {
    if counting {
        return request::parse(body, app.encoding, true);
    }
    let window = |model: &str| crate::openai::fine_tuned::resolve(app, model).map_or(u64::MAX, |m| m.context_window);
    request::parse_within(body, app.encoding, false, &window)
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens"}`, as `usage` would count the same request
/// (the cached part included).
pub fn count_tokens(ctx: &mut Ctx<'_>, head: &RequestHead, parse: impl FnOnce() -> Parsed) -> Full {
    let request_id = request_id(ctx.rng);
    match check_headers(head).and_then(|()| parse()) {
        Ok(req) => {
            let body = serde_json::json!({"input_tokens": req.generation.prompt_tokens});
            with_request_id(Full::json(body.to_string().into_bytes()), request_id)
        }
        Err(e) => error::reply(&e, &request_id),
    }
}

fn create(
    app: &App,
    ctx: &mut Ctx<'_>,
    head: &RequestHead,
    parse: impl FnOnce() -> Parsed,
    request_id: &str,
) -> Result<Reply, Error> {
    check_headers(head)?;
    app.vllm.check_awake()?;
    let mut req = parse()?;
    let model = crate::openai::fine_tuned::resolve(app, &req.generation.model)?;
    check_context(req.generation.prompt_tokens, req.generation.max_tokens.unwrap_or(0), model.context_window)?;
    req.generation.prompt_cache = app.prompt_cache.lookup(&req.breakpoints, Instant::now());
    let mut plan = app.sim.get().plan(Flavor::Messages, &req.generation, &model, ctx.rng, ctx.unix_now.0);
    // The prompt takes KV blocks like any other; what the client is told it read from a cache is
    // Anthropic's explicit `cache_control` cache (`prompt_cache`), not the engine's prefix hits.
    crate::openai::prefix::admit(app, &req.generation, 0, &mut plan)?;
    plan.usage.cached_tokens = 0;
    if req.generation.stream {
        return Ok(Reply::Stream(Box::new(TokenStream::new(plan))));
    }
    let full = with_request_id(Full::json(message_body(&plan)), request_id.to_owned());
    let after = app.sim.get().whole_reply_after(plan.schedule.deadline_of(plan.longest()));
    Ok(Reply::Generated { after, full, summary: plan.summary() })
}

/// The whole message of `plan`.
fn message_body(plan: &Plan) -> Vec<u8> {
    let choice = &plan.choices[0];
    let thinking = (choice.reasoning > 0).then(|| choice.reasoning_text());
    let (text, calls) = (choice.answer_text(), choice.tool_calls());
    let said = body::Said {
        thinking: thinking.as_deref(),
        text: &text,
        calls: &calls,
        finish_reason: choice.finish_reason,
        stop_sequence: choice.stop_sequence.as_deref(),
        output_tokens: choice.length,
    };
    body::message_json(&plan.meta, said, plan.usage, plan.prompt_cache)
}

/// A JSON body, and a known `anthropic-version` when one is sent.
fn check_headers(head: &RequestHead) -> Result<(), Error> {
    if let Some(ct) = head.content_type().filter(|ct| !ct.to_ascii_lowercase().contains("json")) {
        return Err(Error::bad_request(format!("Invalid Content-Type {ct:?}: the body must be application/json.")));
    }
    match head.header(crate::proto::http1::Field::AnthropicVersion) {
        Some(v) if !is_version(v.trim()) => {
            Err(Error::bad_request(format!("anthropic-version: {v:?} is not a valid version")))
        }
        Some(_) => Ok(()),
        None => Err(Error::bad_request("anthropic-version: header is required")),
    }
}

/// `YYYY-MM-DD`, as every Anthropic API version is named.
fn is_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// The prompt must fit the context window, and with `max_tokens` it must too (Anthropic's words).
fn check_context(prompt: u64, max_tokens: u64, window: u64) -> Result<(), Error> {
    if prompt > window {
        return Err(Error::bad_request(format!("prompt is too long: {prompt} tokens > {window} maximum")));
    }
    if prompt + max_tokens > window {
        return Err(Error::bad_request(format!(
            "input length and `max_tokens` exceed context limit: {prompt} + {max_tokens} > {window}, \
             decrease input length or `max_tokens` and try again"
        )));
    }
    Ok(())
}

/// `full` with Anthropic's `request-id` header.
fn with_request_id(mut full: Full, request_id: String) -> Full {
    full.extra.push(("request-id", request_id));
    full
}

/// A request id as Anthropic's: `req_011` and 21 alphanumerics.
fn request_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(28);
    id.push_str("req_011");
    id.extend((0..21).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dates_and_contexts_fit() {
        assert!(is_version("2023-06-01") && is_version("2026-10-21"));
        assert!(!is_version("2023-6-1") && !is_version("latest") && !is_version("2023-06-01, 2023-06-01"));
        assert!(check_context(100, 50, 150).is_ok());
        assert_eq!(check_context(200, 1, 150).unwrap_err().message, "prompt is too long: 200 tokens > 150 maximum");
        assert!(check_context(100, 51, 150).unwrap_err().message.starts_with("input length and `max_tokens` exceed"));
    }
}
