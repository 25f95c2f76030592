//! `POST /v1/moderations` (see [`crate::encoders::moderation`]), answered after the encoder's
//! latency (`--embedding-latency`, `--embedding-tps`).

use super::{
    Ctx, Full, Outcome, Request,
    embeddings::{Billed, Pace, encoder_reply},
    generate,
};
use crate::{
    app::App,
    encoders::moderation::{self, judge, result_json},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[Route::post("/v1/moderations", moderations)];

fn moderations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let r = moderation::parse(req.body)?;
    let results: Vec<serde_json::Value> = r.inputs.iter().map(|i| result_json(i, &judge(&i.text))).collect();
    let id = format!("modr-{:016x}{:016x}", ctx.rng.next_u64(), ctx.rng.next_u64());
    let full = Full::value(&serde_json::json!({"id": id, "model": r.model, "results": results}));
    let tokens = r.inputs.iter().map(|i| app.encoding.count(&i.text) as u64).sum();
    let context_window = app.registry.resolve(&r.model).context_window;
    let pace = Pace { base: app.args.embedding_latency, tokens_per_second: app.args.embedding_tps };
    crate::state::usage::record_request(
        &app.state.usage,
        crate::state::usage::Kind::Moderations,
        &r.model,
        tokens,
        0,
        ctx.unix_now.0,
    );
    Ok(encoder_reply(ctx, Billed { model: r.model, context_window, tokens, user: None }, pace, full))
}
