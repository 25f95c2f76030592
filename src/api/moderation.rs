//! `POST /v1/moderations` (see [`crate::encoders::moderation`]), answered after the encoder's
//! latency (`--embedding-latency`, `--embedding-tps`).

use serde_json::Value;

use super::{
    Ctx, Full, Outcome, Request,
    embeddings::{Billed, Pace, encoder_reply},
    generate,
};
use crate::{
    app::App,
    encoders::moderation::{self, judge, result_json},
    error::Error,
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] =
    &[Route::post("/v1/moderations", moderations).prepare(|app, body| Box::new(moderate(app, body)))];

fn moderations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let Moderated { model, results, tokens } = req.prepared_or(|| moderate(app, req.body))?;
    let id = format!("modr-{:016x}{:016x}", ctx.rng.next_u64(), ctx.rng.next_u64());
    // As `{"id","model","results"}` renders; the results were rendered with the judging.
    let body = format!(r#"{{"id":{},"model":{},"results":{results}}}"#, Value::from(id), Value::from(model.as_str()));
    let full = Full::json(body.into_bytes());
    let context_window = app.registry.resolve(&model).context_window;
    let pace = Pace { base: app.args.embedding_latency, tokens_per_second: app.args.embedding_tps };
    crate::state::usage::record_request(
        &app.state.usage,
        crate::state::usage::Kind::Moderations,
        &model,
        tokens,
        0,
        ctx.unix_now.0,
    );
    Ok(encoder_reply(ctx, Billed { model, context_window, tokens, user: None }, pace, full))
}

/// A moderation request judged: its results rendered, its tokens to bill.
struct Moderated {
    model: String,
    results: String,
    tokens: u64,
}

/// Parses, judges and counts a request's inputs (off the event loop for a large body).
fn moderate(app: &App, body: &[u8]) -> Result<Moderated, Error> {
    let r = moderation::parse(body)?;
    let results: Vec<Value> = r.inputs.iter().map(|i| result_json(i, &judge(&i.text))).collect();
    let tokens = r.inputs.iter().map(|i| app.encoding.count(&i.text) as u64).sum();
    Ok(Moderated { model: r.model, results: Value::Array(results).to_string(), tokens })
}
