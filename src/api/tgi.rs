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
    Route::post("/generate", generate_once).dialect(Dialect::Tgi),
    Route::post("/generate_stream", generate_stream).dialect(Dialect::Tgi),
    Route::post("/", compat).dialect(Dialect::Tgi),
    Route::get("/info", info).dialect(Dialect::Tgi).open(),
];

fn generate_once(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    tgi::generate(app, ctx, req.body, TgiRoute::Generate)
}

fn generate_stream(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    tgi::generate(app, ctx, req.body, TgiRoute::Stream)
}

fn compat(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    tgi::generate(app, ctx, req.body, TgiRoute::Compat)
}

fn info(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&tgi::info(app)).into())
}
