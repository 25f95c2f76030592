//! Anthropic's Messages API: `/v1/messages` and `/v1/messages/count_tokens` (the dialect itself
//! is `crate::openai::anthropic`; its replies carry Anthropic's `request-id`).

use super::{Ctx, Dialect, Outcome, Request};
use crate::{app::App, openai::anthropic, router::Route};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/messages", messages)
        .dialect(Dialect::Anthropic)
        .prepare(|app, body| Box::new(anthropic::parse(app, body, false))),
    Route::post("/v1/messages/count_tokens", count_tokens)
        .dialect(Dialect::Anthropic)
        .prepare(|app, body| Box::new(anthropic::parse(app, body, true))),
];

fn messages(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(anthropic::messages(app, ctx, req.head, || req.prepared_or(|| anthropic::parse(app, req.body, false))))
}

fn count_tokens(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(anthropic::count_tokens(ctx, req.head, || req.prepared_or(|| anthropic::parse(app, req.body, true))).into())
}
