//! Hugging Face Text Generation Inference: `/generate` and `/generate_stream`.

use super::{Ctx, Dialect, Outcome, Request, generate};
use crate::{
    app::App,
    openai::{chunks::Flavor, request},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/generate", generate_once).dialect(Dialect::Tgi),
    Route::post("/generate_stream", generate_stream).dialect(Dialect::Tgi),
];

fn generate_once(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_tgi(req.body, app.encoding, false)?, Flavor::Tgi, req.body)
}

fn generate_stream(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_tgi(req.body, app.encoding, true)?, Flavor::Tgi, req.body)
}
