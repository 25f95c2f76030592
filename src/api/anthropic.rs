//! Anthropic's Messages API.

use super::{Ctx, Dialect, Outcome, Request, generate};
use crate::{
    app::App,
    openai::{chunks::Flavor, request},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[Route::post("/v1/messages", messages).dialect(Dialect::Anthropic)];

fn messages(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_messages(req.body, app.encoding)?, Flavor::Messages)
}
