//! Hugging Face Text Generation Inference: `/generate`, `/generate_stream`, the combined `POST /`
//! and `/info` (the wire format and TGI's validation live in [`crate::openai::tgi`]).

use super::{Ctx, Dialect, Full, Outcome, Request};
use crate::{
    app::App,
    openai::tgi::{self, Route as TgiRoute},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/generate", generate_once)
        .dialect(Dialect::Tgi)
        .prepare(|app, body| Box::new(tgi::prepare(app, body, TgiRoute::Generate))),
    Route::post("/generate_stream", generate_stream)
        .dialect(Dialect::Tgi)
        .prepare(|app, body| Box::new(tgi::prepare(app, body, TgiRoute::Stream))),
    Route::post("/", compat)
        .dialect(Dialect::Tgi)
        .prepare(|app, body| Box::new(tgi::prepare(app, body, TgiRoute::Compat))),
    Route::get("/info", info).dialect(Dialect::Tgi).open(),
];

fn generate_once(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    serve(app, ctx, req, TgiRoute::Generate)
}

fn generate_stream(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    serve(app, ctx, req, TgiRoute::Stream)
}

fn compat(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    serve(app, ctx, req, TgiRoute::Compat)
}

/// Generates from the body's parse, prepared off the event loop for a large body.
fn serve(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>, route: TgiRoute) -> Outcome {
    tgi::generate(app, ctx, || req.prepared_or(|| tgi::prepare(app, req.body, route)), route)
}

fn info(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&tgi::info(app)).into())
}
