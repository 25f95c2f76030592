//! A planned generation meets the KV cache: its prompt's whole blocks are hashed (once per
//! request, outside the cache's lock), looked up, and held until the reply ends; the cached
//! prompt tokens go into `usage`, and with `--prefill-us-per-token` only the uncached ones
//! lengthen the time to first token. With `--engine`, the plan's tokens are then scheduled by
//! this core's engine instead (which prefills only the uncached ones).

use std::{borrow::Cow, time::Duration};

use super::{chunks::Flavor, request::GenRequest, responses::object::Params};
use crate::{
    app::App,
    config::SchedulingPolicy,
    error::Error,
    generation::Plan,
    sim::{
        Schedule,
        engine::{SeqSpec, local as engine},
        kv::{block_hashes, extra_keys},
    },
    state::kv::KvRequest,
};

/// Admits `plan` (for `req`, whose first `inherited` prompt tokens are a stored response's or
/// conversation's context) to the KV cache, and to the engine when there is one: a 503 when its
/// queue is full.
pub fn admit(app: &App, req: &GenRequest, inherited: u64, plan: &mut Plan) -> Result<(), Error> {
    let kv = &app.state.kv;
    let ids = prompt_ids(req, inherited);
    let hashes = match kv.prefix_caching() {
        true => block_hashes(&ids, kv.block_size() as usize, extra_keys(&req.model, req.cache_salt.as_deref())),
        false => Vec::new(),
    };
    let per_token_us = app.args.prefill_us_per_token.max(0.0);
    let request = KvRequest {
        model: &req.model,
        endpoint: endpoint(plan.flavor),
        hashes: &hashes,
        token_ids: &ids,
        prompt_tokens: req.prompt_tokens,
        total_tokens: req.prompt_tokens + plan.generated(),
        ttft: plan.schedule.peek(),
        prefill_per_token: Duration::from_secs_f64(per_token_us * 1e-6),
        context_window: plan.context_window,
    };
    if engine::enabled(&app.args) {
        return enter_engine(app, req, request, plan);
    }
    let (held, cached) = kv.admit(request);
    plan.usage.cached_tokens = cached;
    plan.kv = held;
    let uncached = req.prompt_tokens - cached;
    if per_token_us > 0.0 && uncached > 0 {
        plan.schedule.delay(Duration::from_secs_f64(per_token_us * 1e-6 * uncached as f64));
    }
    Ok(())
}

/// Submits `plan` to this core's engine, whose steps then say when each token is due; its
/// sequence holds its prompt's cached prefix, and takes the rest of its blocks, from the pool.
fn enter_engine(app: &App, req: &GenRequest, request: KvRequest<'_>, plan: &mut Plan) -> Result<(), Error> {
    if req.priority != 0 && app.args.scheduling_policy == SchedulingPolicy::Fcfs {
        let message = format!("Got priority {} but Priority scheduling is not enabled.", req.priority);
        return Err(Error::invalid_param("priority", message));
    }
    let spec = SeqSpec {
        prompt_tokens: req.prompt_tokens,
        cached_tokens: 0,
        output_tokens: plan.longest(),
        max_output_tokens: req.max_tokens.unwrap_or(0),
        tag: engine::tag(&req.model),
        priority: req.priority,
    };
    let (ticket, cached) = engine::submit(&app.args, &app.state.kv, request, spec).map_err(|_| {
        Error::new(503, "server_error", "The engine's waiting queue is full (max_num_queued_requests); retry later.")
    })?;
    plan.usage.cached_tokens = cached;
    plan.schedule = Schedule::Engine(engine::EngineSchedule::new(ticket));
    Ok(())
}

/// The prompt's ids: the inherited context first (stand-in ids keyed by the response or
/// conversation it comes from, so that continuations of the same one share it), then the
/// request's own.
fn prompt_ids(req: &GenRequest, inherited: u64) -> Cow<'_, [u32]> {
    if inherited == 0 {
        return Cow::Borrowed(&req.prompt_ids);
    }
    let conversation = req.responses.as_deref().and_then(Params::conversation_id);
    let source = req.previous_response_id.as_deref().or(conversation).unwrap_or_default();
    let mut ids: Vec<u32> = super::request::media_ids(inherited, source).collect();
    ids.extend_from_slice(&req.prompt_ids);
    Cow::Owned(ids)
}

/// The route a flavor is served on, for FakeAI's per-endpoint cache statistics.
fn endpoint(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Chat => "/v1/chat/completions",
        Flavor::Completion => "/v1/completions",
        Flavor::Responses => "/v1/responses",
        Flavor::Messages => "/v1/messages",
        Flavor::Tgi => "/generate",
        Flavor::TokenIds(_) => "/inference/v1/generate",
    }
}
