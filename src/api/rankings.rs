//! Rerankers: NIM's `POST /v1/ranking`, Cohere's and Jina's `POST /v1/rerank` and
//! `/v2/rerank`, Hugging Face TEI's `POST /rerank` (see [`crate::encoders::rerank`]).

use super::{
    Ctx, Dialect, Full, Outcome, Request,
    embeddings::{Billed, Pace, encoder_reply},
    generate,
};
use crate::{
    app::App,
    encoders::rerank::{self, RerankRequest, Scored},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/ranking", nim),
    Route::post("/v1/rerank", cohere_v1),
    Route::post("/v2/rerank", cohere_v2),
    Route::post("/rerank", tei).dialect(Dialect::Tgi),
];

/// Scores `r` and answers `body` of it after the reranker's latency.
fn answer(
    app: &App,
    ctx: &mut Ctx<'_>,
    r: &RerankRequest,
    body: impl Fn(&Scored, &mut Ctx<'_>) -> serde_json::Value,
) -> Outcome {
    let scored = rerank::score(&r.query, &r.documents, app.encoding, r.overflow)?;
    let full = Full::value(&body(&scored, ctx));
    let context_window = app.registry.resolve(&r.model).context_window;
    let billed = Billed { model: r.model.clone(), context_window, tokens: scored.tokens, user: None };
    let pace = Pace { base: app.args.ranking_latency, tokens_per_second: app.args.ranking_tps };
    Ok(encoder_reply(ctx, billed, pace, full))
}

fn nim(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let r = rerank::parse_nim(req.body)?;
    answer(app, ctx, &r, |s, _| rerank::nim_body(s))
}

fn cohere(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>, version: &str) -> Outcome {
    generate::require_json(req)?;
    let r = rerank::parse_cohere(req.body)?;
    answer(app, ctx, &r, |s, ctx| rerank::cohere_body(&r, s, &uuid(ctx), version))
}

fn cohere_v1(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    cohere(app, ctx, req, "1")
}

fn cohere_v2(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    cohere(app, ctx, req, "2")
}

fn tei(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let mut r = rerank::parse_tei(req.body)?;
    if r.model.is_empty() {
        // TEI serves one model and requests name none; metrics still want a name.
        r.model = "tei-reranker".into();
    }
    answer(app, ctx, &r, |s, _| rerank::tei_body(&r, s))
}

/// A random UUID (version 4 layout), as Cohere's response ids are.
fn uuid(ctx: &mut Ctx<'_>) -> String {
    let (a, b) = (ctx.rng.next_u64(), ctx.rng.next_u64());
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}
